/* A C peer for POSIX message queues, written the textbook way (mq_open, mq_send, mq_receive,
 * mq_getattr). NAME is '/name'.
 *   mq_posix create NAME MAXMSG MSGSIZE   mq_open(O_CREAT|O_EXCL, 0600, attributes); prints the attributes
 *   mq_posix send NAME PRIO:LENGTH...     mq_send of each message in order (blocking); the texts, one
 *                                         after the other, come on stdin
 *   mq_posix recv NAME COUNT              COUNT blocking mq_receive calls; one {"priority":…,"hex":"…"} line each
 *   mq_posix attr NAME                    prints {"maxmsg":…,"msgsize":…,"curmsgs":…}
 * Exit codes: 0 ok, 2 usage, 3 EEXIST, 4 ENOENT, 5 EINVAL, 1 any other failure. */
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer_io.h"

static char buffer[1 << 20];

static int print_attributes(mqd_t q) {
  struct mq_attr attr;
  if (mq_getattr(q, &attr) != 0) return fail("mq_getattr");
  printf("{\"maxmsg\":%ld,\"msgsize\":%ld,\"curmsgs\":%ld}\n", (long)attr.mq_maxmsg, (long)attr.mq_msgsize,
         (long)attr.mq_curmsgs);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *command = argv[1];
  const char *name = argv[2];

  if (strcmp(command, "create") == 0 && argc == 5) {
    struct mq_attr attr = {0};
    attr.mq_maxmsg = atol(argv[3]);
    attr.mq_msgsize = atol(argv[4]);
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (q == (mqd_t)-1) return fail("mq_open");
    return print_attributes(q);
  }

  mqd_t q = mq_open(name, O_RDWR);
  if (q == (mqd_t)-1) return fail("mq_open");

  if (strcmp(command, "send") == 0) {
    size_t available = read_stdin(), offset = 0;
    for (int i = 3; i < argc; i++) {
      char *colon;
      unsigned priority = (unsigned)strtoul(argv[i], &colon, 10);
      if (*colon != ':') return 2;
      size_t length = strtoul(colon + 1, NULL, 10);
      if (offset + length > available) return 2;
      if (mq_send(q, (const char *)input + offset, length, priority) != 0) return fail("mq_send");
      offset += length;
    }
    return 0;
  }

  if (strcmp(command, "recv") == 0 && argc == 4) {
    int count = atoi(argv[3]);
    for (int i = 0; i < count; i++) {
      unsigned priority;
      ssize_t n = mq_receive(q, buffer, sizeof(buffer), &priority);
      if (n < 0) return fail("mq_receive");
      printf("{\"priority\":%u,\"hex\":\"", priority);
      for (ssize_t k = 0; k < n; k++) printf("%02x", (unsigned char)buffer[k]);
      printf("\"}\n");
    }
    return 0;
  }

  if (strcmp(command, "attr") == 0 && argc == 3) return print_attributes(q);

  return 2;
}
