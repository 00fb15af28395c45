/* Shared by the C references of the benchmark (src/bench/): every program forks itself into a client
 * (the parent) and a server (the child), pins each to the CPU it is given, runs one measurement and
 * prints one JSON line. The command line is the same for all of them:
 *   <program> <mechanism> rtt  <client cpu> <server cpu> <size> <round trips> <warm-up> [extra]
 *   <program> <mechanism> tput <client cpu> <server cpu> <size> <messages> <warm-up> [extra]
 * rtt: the client times every round trip of a `size`-byte message (the server sends it back) with one
 * clock read per sample, and prints {"median":µs,"p99":µs,"p999":µs,"max":µs,"samples":n}.
 * tput: the client sends `messages` messages of `size` bytes, the server receives them all and answers
 * with one acknowledgement; the client times from its first send to that acknowledgement and prints
 * {"seconds":s,"messages":n,"bytes":n}. A warm-up run of the same kind, untimed, comes first.
 * A cpu of -1 leaves that process unpinned. Both processes die by SIGALRM if the run outlasts
 * UNIPC_BENCH_TIMEOUT seconds (default 120), so none can outlive an interrupted benchmark. */
#ifndef UNIPC_BENCH_H
#define UNIPC_BENCH_H

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct run {
  const char *mechanism;
  int rtt; /* 1: round trips; 0: one-way throughput */
  int client_cpu, server_cpu;
  size_t size;
  long count, warmup;
  const char *extra;
};

static inline double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static inline void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  exit(1);
}

static inline void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

static inline void watchdog(void) {
  const char *text = getenv("UNIPC_BENCH_TIMEOUT");
  alarm(text != NULL ? (unsigned)atoi(text) : 120); /* not inherited across fork: each side sets its own */
}

static inline int parse_run(int argc, char **argv, struct run *run) {
  if (argc < 8) {
    fprintf(stderr, "usage: %s <mechanism> rtt|tput <client cpu> <server cpu> <size> <count> <warm-up> [extra]\n", argv[0]);
    return 0;
  }
  run->mechanism = argv[1];
  run->rtt = strcmp(argv[2], "rtt") == 0;
  if (!run->rtt && strcmp(argv[2], "tput") != 0) return 0;
  run->client_cpu = atoi(argv[3]);
  run->server_cpu = atoi(argv[4]);
  run->size = strtoul(argv[5], NULL, 10);
  run->count = atol(argv[6]);
  run->warmup = atol(argv[7]);
  run->extra = argc > 8 ? argv[8] : NULL;
  return run->size > 0 && run->count > 0 && run->warmup >= 0;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* samples[i] is the time of round trip i in µs. */
static inline void report_rtt(double *samples, long n) {
  qsort(samples, (size_t)n, sizeof *samples, compare_doubles);
  printf("{\"median\":%.4f,\"p99\":%.4f,\"p999\":%.4f,\"max\":%.4f,\"samples\":%ld}\n", samples[n / 2],
         samples[(long)(n * 0.99)], samples[(long)(n * 0.999)], samples[n - 1], n);
}

static inline void report_tput(double seconds, long messages, size_t size) {
  printf("{\"seconds\":%.6f,\"messages\":%ld,\"bytes\":%.0f}\n", seconds, messages, (double)messages * (double)size);
}

/* Forks; the child pins itself and runs `server`, the parent pins itself and runs `client`, then
 * reaps the child and fails if it did. */
static inline int run_pair(const struct run *run, void (*server)(const struct run *), void (*client)(const struct run *)) {
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    pin(run->server_cpu);
    watchdog();
    server(run);
    _exit(0);
  }
  pin(run->client_cpu);
  watchdog();
  client(run);
  int status;
  if (waitpid(child, &status, 0) < 0) die("waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "%s: the server process failed (status %d)\n", run->mechanism, status);
    return 1;
  }
  return 0;
}

#endif
