/* C reference for bench/locks.ts: a process-shared pthread mutex (plain and robust) and unipc's own
 * protocol (include/unipc/lock.h) in POSIX shared memory. Page layout: 0 the lock (pthread_mutex_t
 * or unipc_mutex), 64 counter, 68 last owner, 72 start flag, 76 ready count.
 *   mutex_bench init <pthread|robust|unipc> <shm>         initialise the lock in the object
 *   mutex_bench uncontended <pthread|robust|unipc> <n>    ns per lock+unlock, alone
 *   mutex_bench contend <pthread|robust|unipc> <shm> <n> <id>   n locked increments against others
 *   mutex_bench alternate <pthread|robust|unipc> <shm> <n> <id> n turns, strictly alternating with id 3 - id
 * Page layout continued: 80 whose turn it is (1 or 2). A contender that is not started within 30 s
 * gives up, so none can outlive an interrupted benchmark. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unipc/lock.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void init_pthread(void *at, int robust) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (robust) pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init((pthread_mutex_t *)at, &attr);
}

static void lock(const char *kind, void *at) {
  if (kind[0] == 'u') {
    if (unipc_mutex_lock(at) == EOWNERDEAD) unipc_mutex_consistent(at);
  } else if (pthread_mutex_lock(at) == EOWNERDEAD) {
    pthread_mutex_consistent(at);
  }
}

static void unlock(const char *kind, void *at) {
  if (kind[0] == 'u') unipc_mutex_unlock(at);
  else pthread_mutex_unlock(at);
}

static unsigned char *map_object(const char *name) {
  int fd = shm_open(name, O_RDWR, 0);
  if (fd < 0) { perror("shm_open"); exit(1); }
  unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (page == MAP_FAILED) { perror("mmap"); exit(1); }
  return page;
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  const char *command = argv[1], *kind = argv[2];
  if (strcmp(command, "init") == 0) {
    unsigned char *page = map_object(argv[3]);
    if (kind[0] != 'u') init_pthread(page, kind[0] == 'r');
    return 0;
  }
  if (strcmp(command, "uncontended") == 0) {
    long n = strtol(argv[3], NULL, 10);
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (kind[0] != 'u') init_pthread(page, kind[0] == 'r');
    for (long i = 0; i < n / 10; i++) { lock(kind, page); unlock(kind, page); }
    double start = now();
    for (long i = 0; i < n; i++) { lock(kind, page); unlock(kind, page); }
    printf("{\"ns\":%.2f}\n", (now() - start) * 1e9 / n);
    return 0;
  }
  if ((strcmp(command, "contend") == 0 || strcmp(command, "alternate") == 0) && argc >= 6) {
    unsigned char *page = map_object(argv[3]);
    long n = strtol(argv[4], NULL, 10);
    int32_t id = (int32_t)strtol(argv[5], NULL, 10);
    volatile int32_t *counter = (volatile int32_t *)(page + 64), *last = (volatile int32_t *)(page + 68);
    int32_t *start_flag = (int32_t *)(page + 72), *ready = (int32_t *)(page + 76), *turn = (int32_t *)(page + 80);
    __atomic_fetch_add(ready, 1, __ATOMIC_SEQ_CST);
    double give_up = now() + 30;
    while (__atomic_load_n(start_flag, __ATOMIC_SEQ_CST) == 0) {
      if (now() > give_up) return fprintf(stderr, "never started\n"), 1;
    }
    long handoffs = 0;
    double start = now();
    if (command[0] == 'a') {
      /* Every useful acquisition is a handoff: the lock goes to the other process between two turns. */
      while (handoffs < n) {
        lock(kind, page);
        if (__atomic_load_n(turn, __ATOMIC_SEQ_CST) == id) {
          *counter = *counter + 1;
          __atomic_store_n(turn, 3 - id, __ATOMIC_SEQ_CST);
          handoffs++;
        }
        unlock(kind, page);
      }
      printf("{\"seconds\":%.6f,\"handoffs\":%ld}\n", now() - start, handoffs);
      return 0;
    }
    for (long i = 0; i < n; i++) {
      lock(kind, page);
      *counter = *counter + 1;
      if (*last != id) { handoffs++; *last = id; }
      unlock(kind, page);
    }
    printf("{\"seconds\":%.6f,\"handoffs\":%ld}\n", now() - start, handoffs);
    return 0;
  }
  return 2;
}
