/* A C program taking unipc's locks (include/unipc/lock.h) in a POSIX shared memory object that Node
 * processes use too. Layout of the object's first page (as test/lock.test.ts lays it out):
 *   0 mutex, 64 counter (int32, updated non-atomically under the mutex), 128 semaphore, 192 condition,
 *   256 flag (int32, guarded by the mutex, waited for through the condition).
 * Usage: lock_peer <shm-name> count <n> | hold | lock | timedlock <ms> | sem-wait <n> | sem-post <n> | cond-wait */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unipc/lock.h>

#include "peer_io.h"

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int fd = shm_open(argv[1], O_RDWR, 0);
  if (fd < 0) return fail("shm_open");
  unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (page == MAP_FAILED) return fail("mmap");
  unipc_mutex *mutex = (unipc_mutex *)page;
  volatile int32_t *counter = (volatile int32_t *)(page + 64);
  unipc_semaphore *semaphore = (unipc_semaphore *)(page + 128);
  unipc_condition *condition = (unipc_condition *)(page + 192);
  volatile int32_t *flag = (volatile int32_t *)(page + 256);
  const char *command = argv[2];
  long n = argc > 3 ? strtol(argv[3], NULL, 10) : 0;

  if (strcmp(command, "count") == 0) {
    for (long i = 0; i < n; i++) {
      int r = unipc_mutex_lock(mutex);
      if (r == EOWNERDEAD) unipc_mutex_consistent(mutex);
      else if (r != 0) return errno = r, fail("unipc_mutex_lock");
      *counter = *counter + 1;
      unipc_mutex_unlock(mutex);
    }
  } else if (strcmp(command, "hold") == 0) {
    int r = unipc_mutex_lock(mutex);
    if (r != 0) return errno = r, fail("unipc_mutex_lock");
    printf("held %u\n", unipc_gettid_());
    fflush(stdout);
    pause();
  } else if (strcmp(command, "lock") == 0) {
    int r = unipc_mutex_lock(mutex);
    printf("%s\n", r == 0 ? "ok" : r == EOWNERDEAD ? "EOWNERDEAD" : r == ENOTRECOVERABLE ? "ENOTRECOVERABLE" : "other");
    if (r == EOWNERDEAD) unipc_mutex_consistent(mutex);
    if (r == 0 || r == EOWNERDEAD) unipc_mutex_unlock(mutex);
  } else if (strcmp(command, "timedlock") == 0) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += n / 1000;
    deadline.tv_nsec += (n % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
    int r = unipc_mutex_timedlock(mutex, &deadline);
    printf("%s\n", r == 0 ? "ok" : r == EOWNERDEAD ? "EOWNERDEAD" : r == ETIMEDOUT ? "ETIMEDOUT" : "other");
    if (r == EOWNERDEAD) unipc_mutex_consistent(mutex);
    if (r == 0 || r == EOWNERDEAD) unipc_mutex_unlock(mutex);
  } else if (strcmp(command, "sem-wait") == 0) {
    for (long i = 0; i < n; i++) unipc_semaphore_wait(semaphore);
  } else if (strcmp(command, "sem-post") == 0) {
    for (long i = 0; i < n; i++) unipc_semaphore_post(semaphore);
  } else if (strcmp(command, "cond-wait") == 0) {
    unipc_mutex_lock(mutex);
    printf("waiting\n");
    fflush(stdout);
    while (*flag == 0) unipc_condition_wait(condition, mutex);
    printf("flag %d\n", *flag);
    unipc_mutex_unlock(mutex);
  } else {
    return 2;
  }
  printf("done\n");
  return 0;
}
