/* C reference for round trips through shared memory (see bench.h for the command line; rtt only):
 *   shm_pingpong futex rtt <client cpu> <server cpu> <size> <count> <warm-up> [spin reads]
 *   shm_pingpong spin  rtt <client cpu> <server cpu> <size> <count> <warm-up>
 * One direction = a sequence word, a waiting flag and a message buffer, each on its own cache line(s).
 * The sender copies the message in, stores the next sequence number and, if the flag says the receiver
 * sleeps, FUTEX_WAKEs it. futex: the receiver re-reads the sequence word `spin reads` times (default 0:
 * none), then announces itself in the flag, reads the word again and FUTEX_WAITs only if it is
 * unchanged — the announce-then-sleep protocol of unipc's channel (docs/channel.md). spin: the receiver
 * reads the word until it changes and never sleeps. The receiver copies the message out. */
#include "bench.h"
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>

struct direction {
  _Alignas(64) uint32_t sequence;
  _Alignas(64) uint32_t waiting;
  _Alignas(64) unsigned char data[];
};

static struct direction *to_server, *to_client;
static int sleeping;
static long spin_reads;
static unsigned char *out;

static void send_message(struct direction *d, const unsigned char *message, size_t size, uint32_t sequence) {
  memcpy(d->data, message, size);
  __atomic_store_n(&d->sequence, sequence, __ATOMIC_SEQ_CST);
  if (sleeping && __atomic_load_n(&d->waiting, __ATOMIC_SEQ_CST) != 0) {
    syscall(SYS_futex, &d->sequence, FUTEX_WAKE, 1, NULL, NULL, 0);
  }
}

/* Waits until the sequence word no longer holds `old`, then copies the message out. */
static void receive_message(struct direction *d, uint32_t old, size_t size) {
  if (!sleeping) {
    while (__atomic_load_n(&d->sequence, __ATOMIC_SEQ_CST) == old) {
    }
  } else {
    while (__atomic_load_n(&d->sequence, __ATOMIC_SEQ_CST) == old) {
      long spins = 0;
      while (spins < spin_reads && __atomic_load_n(&d->sequence, __ATOMIC_SEQ_CST) == old) spins++;
      if (spins < spin_reads) break;
      __atomic_store_n(&d->waiting, 1, __ATOMIC_SEQ_CST);
      if (__atomic_load_n(&d->sequence, __ATOMIC_SEQ_CST) == old) {
        syscall(SYS_futex, &d->sequence, FUTEX_WAIT, old, NULL, NULL, 0);
      }
      __atomic_store_n(&d->waiting, 0, __ATOMIC_SEQ_CST);
    }
  }
  memcpy(out, d->data, size);
}

static void server(const struct run *run) {
  for (uint32_t i = 1; i <= (uint32_t)(run->warmup + run->count); i++) {
    receive_message(to_server, i - 1, run->size);
    send_message(to_client, out, run->size, i);
  }
}

static void client(const struct run *run) {
  unsigned char *message = malloc(run->size);
  memset(message, 0x5a, run->size);
  double *samples = malloc(sizeof(double) * (size_t)run->count);
  uint32_t i = 1;
  for (long w = 0; w < run->warmup; w++, i++) {
    send_message(to_server, message, run->size, i);
    receive_message(to_client, i - 1, run->size);
  }
  double previous = now_us();
  for (long k = 0; k < run->count; k++, i++) {
    send_message(to_server, message, run->size, i);
    receive_message(to_client, i - 1, run->size);
    double t = now_us();
    samples[k] = t - previous;
    previous = t;
  }
  report_rtt(samples, run->count);
}

int main(int argc, char **argv) {
  struct run run;
  if (!parse_run(argc, argv, &run) || !run.rtt) return 2;
  if (strcmp(run.mechanism, "futex") == 0) {
    sleeping = 1;
    spin_reads = run.extra != NULL ? atol(run.extra) : 0;
  } else if (strcmp(run.mechanism, "spin") != 0) {
    return 2;
  }
  size_t one = (sizeof(struct direction) + run.size + 63) & ~(size_t)63;
  unsigned char *memory = mmap(NULL, 2 * one, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) die("mmap");
  to_server = (struct direction *)memory;
  to_client = (struct direction *)(memory + one);
  out = malloc(run.size);
  return run_pair(&run, server, client);
}
