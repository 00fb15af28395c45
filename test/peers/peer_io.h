/* Shared by the C peers: read all of stdin, and map errno to the exit codes the tests expect
 * (0 ok, 2 usage, 3 exists, 4 does not exist, 5 removed or invalid, 1 any other failure). Inline, so a
 * peer that needs only one of them compiles without an unused-function warning. */
#ifndef UNIPC_PEER_IO_H
#define UNIPC_PEER_IO_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static unsigned char input[1 << 20] __attribute__((unused));

static inline size_t read_stdin(void) {
  size_t total = 0;
  for (;;) {
    ssize_t n = read(0, input + total, sizeof(input) - total);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("read");
      exit(1);
    }
    if (n == 0) break;
    total += (size_t)n;
    if (total == sizeof(input)) {
      fprintf(stderr, "input too large\n");
      exit(1);
    }
  }
  return total;
}

static inline int fail(const char *what) {
  int code = errno == EEXIST ? 3 : errno == ENOENT ? 4 : (errno == EINVAL || errno == EIDRM) ? 5 : 1;
  perror(what);
  return code;
}

#endif
