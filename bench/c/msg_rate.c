/* System V message rate, the C reference for bench/msg-rate.ts: one process sends N messages of SIZE
 * bytes (type 1) with msgsnd, another receives them with msgrcv (type 0), both blocking.
 * Usage: msg_rate send ID N SIZE | msg_rate recv ID N
 * The receiver times from its first message to its last and prints {"rate":<messages per second>}. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <time.h>

static struct {
  long mtype;
  char mtext[8192];
} message;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  int id = atoi(argv[2]);
  long n = atol(argv[3]);
  if (strcmp(argv[1], "send") == 0 && argc == 5) {
    size_t size = strtoul(argv[4], NULL, 10);
    if (size > sizeof(message.mtext)) return fprintf(stderr, "SIZE must be at most %zu\n", sizeof(message.mtext)), 2;
    message.mtype = 1;
    memset(message.mtext, 0x5a, sizeof(message.mtext));
    for (long i = 0; i < n; i++) {
      while (msgsnd(id, &message, size, 0) != 0) {
        if (errno != EINTR) return perror("msgsnd"), 1;
      }
    }
    return 0;
  }
  if (strcmp(argv[1], "recv") == 0) {
    double first = 0;
    for (long i = 0; i < n; i++) {
      while (msgrcv(id, &message, sizeof(message.mtext), 0, 0) < 0) {
        if (errno != EINTR) return perror("msgrcv"), 1;
      }
      if (i == 0) first = now();
    }
    printf("{\"rate\":%.0f}\n", (n - 1) / (now() - first));
    return 0;
  }
  return 2;
}
