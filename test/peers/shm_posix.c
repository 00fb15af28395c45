/* A C peer for POSIX shared memory, written the textbook way (shm_open + ftruncate + mmap; on glibc
 * 2.34 and later shm_open is in libc, so no -lrt is needed).
 *   shm_posix create NAME SIZE     creates NAME (O_CREAT|O_EXCL, mode 0600), sizes it, copies stdin into it
 *   shm_posix read NAME            prints {"size":…,"mode":…,"hex":"…"}: the whole object, mapped read-only
 *   shm_posix write NAME OFFSET    copies stdin into the object at OFFSET through a shared mapping
 * Exit codes: 0 ok, 2 usage, 3 the object exists (create), 4 it does not exist, 1 any other failure. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "peer_io.h"

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *command = argv[1], *name = argv[2];

  if (strcmp(command, "create") == 0 && argc == 4) {
    size_t size = strtoul(argv[3], NULL, 10);
    size_t length = read_stdin();
    if (length > size) return 2;
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) return fail("shm_open");
    if (ftruncate(fd, (off_t)size) != 0) return fail("ftruncate");
    unsigned char *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (memory == MAP_FAILED) return fail("mmap");
    close(fd);
    memcpy(memory, input, length);
    munmap(memory, size);
    printf("{\"size\":%zu}\n", size);
    return 0;
  }

  if (strcmp(command, "read") == 0 && argc == 3) {
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0) return fail("shm_open");
    struct stat st;
    if (fstat(fd, &st) != 0) return fail("fstat");
    size_t size = (size_t)st.st_size;
    unsigned char *memory = NULL;
    if (size > 0) {
      memory = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
      if (memory == MAP_FAILED) return fail("mmap");
    }
    close(fd);
    printf("{\"size\":%zu,\"mode\":%u,\"hex\":\"", size, (unsigned)(st.st_mode & 07777));
    for (size_t i = 0; i < size; i++) printf("%02x", memory[i]);
    printf("\"}\n");
    if (memory != NULL) munmap(memory, size);
    return 0;
  }

  if (strcmp(command, "write") == 0 && argc == 4) {
    size_t offset = strtoul(argv[3], NULL, 10);
    size_t length = read_stdin();
    int fd = shm_open(name, O_RDWR, 0);
    if (fd < 0) return fail("shm_open");
    struct stat st;
    if (fstat(fd, &st) != 0) return fail("fstat");
    size_t size = (size_t)st.st_size;
    if (offset + length > size) return 2;
    unsigned char *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (memory == MAP_FAILED) return fail("mmap");
    close(fd);
    memcpy(memory + offset, input, length);
    munmap(memory, size);
    return 0;
  }

  return 2;
}
