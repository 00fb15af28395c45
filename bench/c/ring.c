/* C reference: a ring of the same design as unipc's channel (docs/channel.md), one per direction, in
 * shared memory (see bench.h for the command line):
 *   ring channel rtt|tput <client cpu> <server cpu> <size> <count> <warm-up> <capacity>[:<spin reads>]
 * The header is a 4 KiB page (head at byte 64, tail at 128, consumerWaiting at 192, producerWaiting
 * at 196), the ring of `capacity` bytes follows; a record is a u32 length and the bytes padded to 4,
 * a length of 0xffffffff sends the reader back to offset 0. A side that must wait re-reads the other
 * side's index `spin reads` times (default 1000, the channel's), then announces itself in its waiting
 * flag, re-reads the index, and FUTEX_WAITs on it if unchanged; a side that moves its index wakes the
 * other only when that flag is set. As in the channel, the producer re-reads head, and the consumer tail,
 * only when what it saw last is used up (cached indices), and each side keeps its own index, which only
 * it moves, rather than read it back from the header. The sender copies the message in, the receiver
 * copies it out. */
#include "bench.h"
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define WRAP 0xffffffffu

struct ring {
  unsigned char *base;
  uint32_t capacity, mask;
  /* This process's last reads of the other side's index (each process has its own copy). */
  uint32_t known_head, known_tail;
  /* Its own index as it last stored it (one producer, one consumer: nobody else moves it), so that a
   * send or receive does not read the cache line the other side is spinning on (channel.h's own_tail and
   * own_head). */
  uint32_t own_head, own_tail;
};

static long spin_reads = 1000;
static struct ring to_server, to_client;
static unsigned char *out;

static uint32_t *word(const struct ring *r, size_t offset) { return (uint32_t *)(r->base + offset); }
#define HEAD(r) word(r, 64)
#define TAIL(r) word(r, 128)
#define CONSUMER_WAITING(r) word(r, 192)
#define PRODUCER_WAITING(r) word(r, 196)
#define DATA(r) ((r)->base + 4096)

static uint32_t pad4(uint32_t n) { return (n + 3) & ~3u; }

static void wait_while(uint32_t *index, uint32_t old, uint32_t *flag) {
  for (long spins = 0; spins < spin_reads; spins++) {
    if (__atomic_load_n(index, __ATOMIC_SEQ_CST) != old) return;
  }
  __atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(index, __ATOMIC_SEQ_CST) == old) syscall(SYS_futex, index, FUTEX_WAIT, old, NULL, NULL, 0);
  __atomic_store_n(flag, 0, __ATOMIC_SEQ_CST);
}

static void send_message(struct ring *r, const unsigned char *message, uint32_t n) {
  uint32_t need = 4 + pad4(n), tail = r->own_tail, position, skip;
  for (;;) {
    position = tail & r->mask;
    skip = position + need > r->capacity ? r->capacity - position : 0;
    if (r->capacity - (tail - r->known_head) >= skip + need) break;
    uint32_t head = __atomic_load_n(HEAD(r), __ATOMIC_SEQ_CST);
    r->known_head = head;
    if (r->capacity - (tail - head) >= skip + need) break;
    wait_while(HEAD(r), head, PRODUCER_WAITING(r));
  }
  if (skip > 0) {
    *(uint32_t *)(DATA(r) + position) = WRAP;
    position = 0;
  }
  *(uint32_t *)(DATA(r) + position) = n;
  memcpy(DATA(r) + position + 4, message, n);
  r->own_tail = tail + skip + need;
  __atomic_store_n(TAIL(r), r->own_tail, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(CONSUMER_WAITING(r), __ATOMIC_SEQ_CST) != 0) syscall(SYS_futex, TAIL(r), FUTEX_WAKE, 1, NULL, NULL, 0);
}

static uint32_t receive_message(struct ring *r, unsigned char *into) {
  uint32_t head = r->own_head;
  while (head == r->known_tail) {
    r->known_tail = __atomic_load_n(TAIL(r), __ATOMIC_SEQ_CST);
    if (head == r->known_tail) wait_while(TAIL(r), head, CONSUMER_WAITING(r));
  }
  uint32_t position = head & r->mask;
  uint32_t n = *(uint32_t *)(DATA(r) + position);
  if (n == WRAP) {
    head += r->capacity - position;
    position = 0;
    n = *(uint32_t *)DATA(r);
  }
  memcpy(into, DATA(r) + position + 4, n);
  r->own_head = head + 4 + pad4(n);
  __atomic_store_n(HEAD(r), r->own_head, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(PRODUCER_WAITING(r), __ATOMIC_SEQ_CST) != 0) syscall(SYS_futex, HEAD(r), FUTEX_WAKE, 1, NULL, NULL, 0);
  return n;
}

static void server(const struct run *run) {
  if (run->rtt) {
    for (long i = 0; i < run->warmup + run->count; i++) {
      uint32_t n = receive_message(&to_server, out);
      send_message(&to_client, out, n);
    }
    return;
  }
  long runs[2] = {run->warmup, run->count};
  for (int r = 0; r < 2; r++) {
    if (runs[r] == 0) continue;
    for (long i = 0; i < runs[r]; i++) receive_message(&to_server, out);
    send_message(&to_client, out, 1);
  }
}

static void client(const struct run *run) {
  unsigned char *message = malloc(run->size);
  memset(message, 0x5a, run->size);
  unsigned char *reply = malloc(run->size);
  if (run->rtt) {
    double *samples = malloc(sizeof(double) * (size_t)run->count);
    for (long i = 0; i < run->warmup; i++) {
      send_message(&to_server, message, (uint32_t)run->size);
      receive_message(&to_client, reply);
    }
    double previous = now_us();
    for (long i = 0; i < run->count; i++) {
      send_message(&to_server, message, (uint32_t)run->size);
      receive_message(&to_client, reply);
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
    for (long i = 0; i < runs[r]; i++) send_message(&to_server, message, (uint32_t)run->size);
    receive_message(&to_client, reply);
    seconds = (now_us() - start) / 1e6;
  }
  report_tput(seconds, run->count, run->size);
}

static struct ring make_ring(uint32_t capacity) {
  unsigned char *base = mmap(NULL, 4096 + (size_t)capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) die("mmap");
  return (struct ring){base, capacity, capacity - 1, 0, 0, 0, 0};
}

int main(int argc, char **argv) {
  struct run run;
  if (!parse_run(argc, argv, &run) || strcmp(run.mechanism, "channel") != 0 || run.extra == NULL) return 2;
  char *rest;
  unsigned long capacity = strtoul(run.extra, &rest, 10);
  if (*rest == ':') spin_reads = atol(rest + 1);
  if (capacity < 4096 || (capacity & (capacity - 1)) != 0 || run.size > capacity / 2 - 8) {
    fprintf(stderr, "capacity must be a power of two >= 4096 and hold two messages of %zu bytes\n", run.size);
    return 2;
  }
  to_server = make_ring((uint32_t)capacity);
  to_client = make_ring((uint32_t)capacity);
  out = malloc(run.size);
  return run_pair(&run, server, client);
}
