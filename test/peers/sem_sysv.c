/* A C peer for System V semaphore sets, written the textbook way (semop, semctl, shmat).
 *   sem_sysv wait ID INDEX          semop(P, -1) on semaphore INDEX; prints "acquired"
 *   sem_sysv post ID INDEX          semop(V, +1)
 *   sem_sysv getall ID              prints {"count":N,"values":[…]} (IPC_STAT, GETALL)
 *   sem_sysv count ID SHMID M       M times: P on semaphore 0, ++ the int at offset 0 of segment SHMID
 *                                   (not atomically: the semaphore is the only protection), V; prints "done"
 * Exit codes: 0 ok, 2 usage, 5 EINVAL or EIDRM (the set was removed), 1 any other failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include "peer_io.h"

union semun {
  int val;
  struct semid_ds *buf;
  unsigned short *array;
};

static int change(int id, int index, int delta) {
  struct sembuf op = {.sem_num = (unsigned short)index, .sem_op = (short)delta, .sem_flg = 0};
  while (semop(id, &op, 1) != 0) {
    if (errno != EINTR) return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *command = argv[1];
  int id = atoi(argv[2]);

  if (strcmp(command, "wait") == 0 && argc == 4) {
    if (change(id, atoi(argv[3]), -1) != 0) return fail("semop");
    printf("acquired\n");
    return 0;
  }

  if (strcmp(command, "post") == 0 && argc == 4) {
    if (change(id, atoi(argv[3]), 1) != 0) return fail("semop");
    return 0;
  }

  if (strcmp(command, "getall") == 0 && argc == 3) {
    struct semid_ds ds;
    union semun arg = {.buf = &ds};
    if (semctl(id, 0, IPC_STAT, arg) != 0) return fail("semctl IPC_STAT");
    unsigned short *values = calloc(ds.sem_nsems, sizeof *values);
    arg.array = values;
    if (semctl(id, 0, GETALL, arg) != 0) return fail("semctl GETALL");
    printf("{\"count\":%lu,\"values\":[", (unsigned long)ds.sem_nsems);
    for (unsigned long i = 0; i < ds.sem_nsems; i++) printf("%s%u", i ? "," : "", values[i]);
    printf("]}\n");
    free(values);
    return 0;
  }

  if (strcmp(command, "count") == 0 && argc == 5) {
    volatile int *counter = shmat(atoi(argv[3]), NULL, 0);
    if (counter == (void *)-1) return fail("shmat");
    long times = atol(argv[4]);
    for (long i = 0; i < times; i++) {
      if (change(id, 0, -1) != 0) return fail("semop P");
      int value = *counter;
      *counter = value + 1;
      if (change(id, 0, 1) != 0) return fail("semop V");
    }
    shmdt((const void *)counter);
    printf("done\n");
    return 0;
  }

  return 2;
}
