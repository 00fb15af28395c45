/* A C peer for System V shared memory, written the textbook way (ftok, shmget, shmat, shmctl, shmdt).
 * A KEY is "private" (IPC_PRIVATE), "ftok:PROJ:PATH" (this program's own ftok), or a number (decimal or
 * 0x…, taken as the unsigned 32-bit value ipcs shows).
 *   shm_sysv create KEY SIZE MODE   shmget(IPC_CREAT|IPC_EXCL|MODE), copies stdin in, detaches; prints {"id":…,"key":…}
 *   shm_sysv read ID                attaches read-only and prints the segment: {"id","key","size","mode","nattch","hex"}
 *   shm_sysv readkey KEY            shmget(KEY, 0, 0), then the same as read
 *   shm_sysv write ID OFFSET        attaches read-write and copies stdin in at OFFSET
 *   shm_sysv ftok PATH PROJ         prints {"key":<unsigned>,"signed":<key_t>}
 * Exit codes: 0 ok, 2 usage, 3 EEXIST, 4 ENOENT, 5 EINVAL or EIDRM (no such id), 1 any other failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "peer_io.h"

static key_t parse_key(const char *text) {
  if (strcmp(text, "private") == 0) return IPC_PRIVATE;
  if (strncmp(text, "ftok:", 5) == 0) {
    char *rest;
    long project = strtol(text + 5, &rest, 10);
    if (*rest != ':') exit(2);
    key_t key = ftok(rest + 1, (int)project);
    if (key == (key_t)-1) {
      perror("ftok");
      exit(1);
    }
    return key;
  }
  return (key_t)(unsigned)strtoul(text, NULL, 0);
}

static int print_segment(int id) {
  unsigned char *memory = shmat(id, NULL, SHM_RDONLY);
  if (memory == (void *)-1) return fail("shmat");
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) != 0) return fail("shmctl");
  printf("{\"id\":%d,\"key\":%u,\"size\":%zu,\"mode\":%u,\"nattch\":%lu,\"hex\":\"", id,
         (unsigned)ds.shm_perm.__key, (size_t)ds.shm_segsz, (unsigned)(ds.shm_perm.mode & 0777),
         (unsigned long)ds.shm_nattch);
  for (size_t i = 0; i < ds.shm_segsz; i++) printf("%02x", memory[i]);
  printf("\"}\n");
  if (shmdt(memory) != 0) return fail("shmdt");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *command = argv[1];

  if (strcmp(command, "create") == 0 && argc == 5) {
    key_t key = parse_key(argv[2]);
    size_t size = strtoul(argv[3], NULL, 10);
    int mode = (int)strtol(argv[4], NULL, 8);
    size_t length = read_stdin();
    if (length > size) return 2;
    int id = shmget(key, size, IPC_CREAT | IPC_EXCL | mode);
    if (id < 0) return fail("shmget");
    unsigned char *memory = shmat(id, NULL, 0);
    if (memory == (void *)-1) return fail("shmat");
    memcpy(memory, input, length);
    if (shmdt(memory) != 0) return fail("shmdt");
    printf("{\"id\":%d,\"key\":%u}\n", id, (unsigned)key);
    return 0;
  }

  if (strcmp(command, "read") == 0 && argc == 3) return print_segment(atoi(argv[2]));

  if (strcmp(command, "readkey") == 0 && argc == 3) {
    int id = shmget(parse_key(argv[2]), 0, 0);
    if (id < 0) return fail("shmget");
    return print_segment(id);
  }

  if (strcmp(command, "write") == 0 && argc == 4) {
    int id = atoi(argv[2]);
    size_t offset = strtoul(argv[3], NULL, 10);
    size_t length = read_stdin();
    unsigned char *memory = shmat(id, NULL, 0);
    if (memory == (void *)-1) return fail("shmat");
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) != 0) return fail("shmctl");
    if (offset + length > ds.shm_segsz) return 2;
    memcpy(memory + offset, input, length);
    if (shmdt(memory) != 0) return fail("shmdt");
    return 0;
  }

  if (strcmp(command, "ftok") == 0 && argc == 4) {
    errno = 0;
    key_t key = ftok(argv[2], atoi(argv[3]));
    if (key == (key_t)-1 && errno != 0) return fail("ftok");
    printf("{\"key\":%u,\"signed\":%d}\n", (unsigned)key, (int)key);
    return 0;
  }

  return 2;
}
