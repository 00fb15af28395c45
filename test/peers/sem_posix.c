/* A C peer for POSIX named semaphores (sem_open, sem_wait, sem_post) and POSIX shared memory.
 *   sem_posix wait NAME              prints "waiting", sem_wait, prints "acquired"
 *   sem_posix post NAME              sem_post
 *   sem_posix value NAME             prints the value (sem_getvalue)
 *   sem_posix count NAME SHM M       M times: sem_wait, ++ the int at offset 0 of shared memory object SHM
 *                                    (not atomically: the semaphore is the only protection), sem_post; prints "done"
 * Exit codes: 0 ok, 2 usage, 4 ENOENT, 1 any other failure. */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "peer_io.h"

static int wait_for(sem_t *sem) {
  while (sem_wait(sem) != 0) {
    if (errno != EINTR) return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *command = argv[1];
  sem_t *sem = sem_open(argv[2], 0);
  if (sem == SEM_FAILED) return fail("sem_open");

  if (strcmp(command, "wait") == 0 && argc == 3) {
    printf("waiting\n");
    fflush(stdout);
    if (wait_for(sem) != 0) return fail("sem_wait");
    printf("acquired\n");
  } else if (strcmp(command, "post") == 0 && argc == 3) {
    if (sem_post(sem) != 0) return fail("sem_post");
  } else if (strcmp(command, "value") == 0 && argc == 3) {
    int value;
    if (sem_getvalue(sem, &value) != 0) return fail("sem_getvalue");
    printf("%d\n", value);
  } else if (strcmp(command, "count") == 0 && argc == 5) {
    int fd = shm_open(argv[3], O_RDWR, 0);
    if (fd < 0) return fail("shm_open");
    volatile int *counter = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (counter == MAP_FAILED) return fail("mmap");
    close(fd);
    long times = atol(argv[4]);
    for (long i = 0; i < times; i++) {
      if (wait_for(sem) != 0) return fail("sem_wait");
      int value = *counter;
      *counter = value + 1;
      if (sem_post(sem) != 0) return fail("sem_post");
    }
    munmap((void *)counter, sizeof(int));
    printf("done\n");
  } else {
    return 2;
  }
  sem_close(sem);
  return 0;
}
