/* C reference for System V message queues (see bench.h for the command line):
 *   sysv_queue queue rtt|tput <client cpu> <server cpu> <size> <count> <warm-up> <queue id>
 * The benchmark creates the queue (IPC_PRIVATE) and removes it. Requests travel as type 1, replies and
 * acknowledgements as type 2; both sides block in msgsnd/msgrcv. */
#include "bench.h"
#include <sys/msg.h>

static int queue;

struct message {
  long mtype;
  char mtext[65536];
};

static void send_message(struct message *m, long type, size_t size) {
  m->mtype = type;
  while (msgsnd(queue, m, size, 0) != 0) {
    if (errno != EINTR) die("msgsnd");
  }
}

static void receive_message(struct message *m, long type) {
  while (msgrcv(queue, m, sizeof m->mtext, type, 0) < 0) {
    if (errno != EINTR) die("msgrcv");
  }
}

static void server(const struct run *run) {
  static struct message m;
  if (run->rtt) {
    for (long i = 0; i < run->warmup + run->count; i++) {
      receive_message(&m, 1);
      send_message(&m, 2, run->size);
    }
    return;
  }
  long runs[2] = {run->warmup, run->count};
  for (int r = 0; r < 2; r++) {
    if (runs[r] == 0) continue;
    for (long i = 0; i < runs[r]; i++) receive_message(&m, 1);
    send_message(&m, 2, 1);
  }
}

static void client(const struct run *run) {
  static struct message m, reply;
  memset(m.mtext, 0x5a, run->size);
  if (run->rtt) {
    double *samples = malloc(sizeof(double) * (size_t)run->count);
    for (long i = 0; i < run->warmup; i++) {
      send_message(&m, 1, run->size);
      receive_message(&reply, 2);
    }
    double previous = now_us();
    for (long i = 0; i < run->count; i++) {
      send_message(&m, 1, run->size);
      receive_message(&reply, 2);
      double t = now_us();
      samples[i] = t - previous;
      previous = t;
    }
    report_rtt(samples, run->count);
    return;
  }
  long runs[2] = {run->warmup, run->count};
  double seconds = 0;
  for (int r = 0; r < 2; r++) {
    if (runs[r] == 0) continue;
    double start = now_us();
    for (long i = 0; i < runs[r]; i++) send_message(&m, 1, run->size);
    receive_message(&reply, 2);
    seconds = (now_us() - start) / 1e6;
  }
  report_tput(seconds, run->count, run->size);
}

int main(int argc, char **argv) {
  struct run run;
  if (!parse_run(argc, argv, &run) || run.extra == NULL || run.size > sizeof ((struct message *)0)->mtext) return 2;
  queue = atoi(run.extra);
  return run_pair(&run, server, client);
}
