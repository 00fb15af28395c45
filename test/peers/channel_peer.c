/* A C end of a unipc channel (include/unipc/channel.h), for test/channel-c.test.ts. CHANNEL is a
 * descriptor number (a memfd handed over) or a POSIX shared memory name ('/name').
 *   channel_peer consume CHANNEL SEED          receive until the end; check each message against
 *                                              message(i) below; print {"n","sum","intact","end"}
 *   channel_peer produce CHANNEL SEED N        send message(0 … N − 1), close; print {"n","sum"} (or
 *                                              {"sent","error"} and exit 1 when a send fails)
 *   channel_peer produce-resume CHANNEL SEED N as produce, claiming the producer role with
 *                                              UNIPC_CHANNEL_RESUME first (it continues a dead one's stream)
 *   channel_peer produce-tagged CHANNEL ID N   send tagged(ID, 0 … N − 1) (test/peers/channel-messages.ts),
 *                                              close; print {"n"}
 *   channel_peer produce-forever CHANNEL       send tagged(0, 0, 1, …) until killed; print "sending" after
 *                                              the first
 *   channel_peer hold-consumer CHANNEL         receive one message, print "holding", wait to be killed
 *   channel_peer create-consume NAME SEED      make a named channel of 16 KiB (maxMessageSize 4096),
 *                                              print "ready", then as consume
 *   channel_peer edges CHANNEL                 a try on the empty ring, a receive that times out (50 ms),
 *                                              print "waiting", then a message too long for 10 bytes, the
 *                                              same into a larger buffer, the end; print what each gave
 * With UNIPC_PEER_NO_WAITV set, the header is made to believe that futex_waitv(2) is refused (its
 * FUTEX_WAIT fallback).
 * message(i): i % 100 == 0 is empty, i % 100 == 1 is maxMessageSize long, others mix(i ^ SEED) %
 * (maxMessageSize + 1) bytes; byte j is (i * 131 + j * 7 + SEED) & 255. "sum" is FNV-1a (32-bit) over each
 * message's length (4 bytes, little-endian) and bytes. "end" is "end", or the errno's name that ended it. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unipc/channel.h>

#define TIMEOUT_MS 30000

static uint32_t mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

static uint32_t message_size(uint32_t i, uint32_t seed, uint32_t longest) {
  if (i % 100 == 0) return 0;
  if (i % 100 == 1) return longest;
  return mix(i ^ seed) % (longest + 1);
}

static void message_fill(unsigned char* bytes, uint32_t i, uint32_t seed, uint32_t size) {
  for (uint32_t j = 0; j < size; j++) bytes[j] = (unsigned char)((i * 131u + j * 7u + seed) & 255u);
}

static uint32_t fnv(uint32_t hash, const unsigned char* bytes, size_t n) {
  for (size_t k = 0; k < n; k++) hash = (hash ^ bytes[k]) * 16777619u;
  return hash;
}

static uint32_t sum_message(uint32_t hash, const unsigned char* bytes, uint32_t size) {
  unsigned char length[4] = {(unsigned char)size, (unsigned char)(size >> 8), (unsigned char)(size >> 16),
                             (unsigned char)(size >> 24)};
  return fnv(fnv(hash, length, 4), bytes, size);
}

/* tagged(id, seq) of test/peers/channel-messages.ts: 8 + (seq * 7 + id) % 100 bytes of (id * 31 + seq) &
 * 255, then id and seq (little-endian) at 0 and 4. */
static uint32_t tagged(unsigned char* bytes, uint32_t id, uint32_t seq) {
  uint32_t size = 8 + (seq * 7 + id) % 100;
  memset(bytes, (int)((id * 31 + seq) & 255), size);
  for (int k = 0; k < 4; k++) {
    bytes[k] = (unsigned char)(id >> (8 * k));
    bytes[4 + k] = (unsigned char)(seq >> (8 * k));
  }
  return size;
}

static const char* error_name(long error) {
  switch (error) {
    case EPIPE:
      return "EPIPE";
    case ETIMEDOUT:
      return "ETIMEDOUT";
    case EMSGSIZE:
      return "EMSGSIZE";
    case EPROTO:
      return "EPROTO";
    case EBUSY:
      return "EBUSY";
    case EAGAIN:
      return "EAGAIN";
    default:
      return strerror((int)error);
  }
}

static int open_channel(unipc_channel* c, const char* which) {
  int r = which[0] == '/' ? unipc_channel_open(c, which) : unipc_channel_map(c, atoi(which));
  if (r != 0) fprintf(stderr, "channel_peer: opening %s: %s\n", which, error_name(-r));
  return r;
}

static int consume(unipc_channel* c, uint32_t seed) {
  unsigned char* buffer = malloc(c->max_message_size);
  unsigned char* expected = malloc(c->max_message_size);
  uint32_t n = 0, sum = 2166136261u;
  int intact = 1;
  ssize_t r;
  for (;;) {
    r = unipc_channel_receive(c, buffer, c->max_message_size, TIMEOUT_MS);
    if (r < 0) break;
    uint32_t size = message_size(n, seed, c->max_message_size);
    message_fill(expected, n, seed, size);
    if ((uint32_t)r != size || memcmp(buffer, expected, size) != 0) intact = 0;
    sum = sum_message(sum, buffer, (uint32_t)r);
    n++;
  }
  printf("{\"n\":%u,\"sum\":%u,\"intact\":%s,\"end\":\"%s\"}\n", n, sum, intact ? "true" : "false",
         r == UNIPC_CHANNEL_END ? "end" : error_name(-r));
  unipc_channel_close(c);
  free(buffer);
  free(expected);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const char* command = argv[1];
  unipc_channel c;
  if (getenv("UNIPC_PEER_NO_WAITV") != NULL) unipc_channel_waitv_works_ = 0;

  if (strcmp(command, "create-consume") == 0 && argc == 4) {
    int r = unipc_channel_create_named(&c, argv[2], 16384, 4096, 0);
    if (r != 0) {
      fprintf(stderr, "channel_peer: creating %s: %s\n", argv[2], error_name(-r));
      return 1;
    }
    printf("ready\n");
    fflush(stdout);
    return consume(&c, (uint32_t)strtoul(argv[3], NULL, 10));
  }
  if (open_channel(&c, argv[2]) != 0) return 1;

  if (strcmp(command, "consume") == 0 && argc == 4) return consume(&c, (uint32_t)strtoul(argv[3], NULL, 10));

  int resume = strcmp(command, "produce-resume") == 0;
  if ((strcmp(command, "produce") == 0 || resume) && argc == 5) {
    if (resume) {
      int r = unipc_channel_claim(&c, UNIPC_CHANNEL_PRODUCER | UNIPC_CHANNEL_RESUME);
      if (r != 0) {
        printf("{\"sent\":0,\"error\":\"%s\"}\n", error_name(-r));
        return 1;
      }
    }
    uint32_t seed = (uint32_t)strtoul(argv[3], NULL, 10);
    uint32_t count = (uint32_t)strtoul(argv[4], NULL, 10);
    unsigned char* bytes = malloc(c.max_message_size);
    uint32_t sum = 2166136261u;
    for (uint32_t i = 0; i < count; i++) {
      uint32_t size = message_size(i, seed, c.max_message_size);
      message_fill(bytes, i, seed, size);
      int r = unipc_channel_send(&c, bytes, size, TIMEOUT_MS);
      if (r != 0) {
        printf("{\"sent\":%u,\"error\":\"%s\"}\n", i, error_name(-r));
        return 1;
      }
      sum = sum_message(sum, bytes, size);
    }
    unipc_channel_close(&c);
    printf("{\"n\":%u,\"sum\":%u}\n", count, sum);
    free(bytes);
    return 0;
  }

  if (strcmp(command, "produce-tagged") == 0 && argc == 5) {
    uint32_t id = (uint32_t)strtoul(argv[3], NULL, 10);
    uint32_t count = (uint32_t)strtoul(argv[4], NULL, 10);
    unsigned char bytes[128];
    for (uint32_t seq = 0; seq < count; seq++) {
      int r = unipc_channel_send(&c, bytes, tagged(bytes, id, seq), TIMEOUT_MS);
      if (r != 0) {
        fprintf(stderr, "channel_peer: send %u: %s\n", seq, error_name(-r));
        return 1;
      }
    }
    unipc_channel_close(&c);
    printf("{\"n\":%u}\n", count);
    return 0;
  }

  if (strcmp(command, "produce-forever") == 0 && argc == 3) {
    unsigned char bytes[128];
    for (uint32_t seq = 0;; seq++) {
      int r = unipc_channel_send(&c, bytes, tagged(bytes, 0, seq), -1);
      if (r != 0) {
        fprintf(stderr, "channel_peer: send %u: %s\n", seq, error_name(-r));
        return 1;
      }
      if (seq == 0) {
        printf("sending\n");
        fflush(stdout);
      }
    }
  }

  if (strcmp(command, "edges") == 0 && argc == 3) {
    unsigned char buffer[4096];
    ssize_t tried = unipc_channel_receive(&c, buffer, sizeof buffer, 0);
    struct timespec before = unipc_channel_after_(0);
    ssize_t timed = unipc_channel_receive(&c, buffer, sizeof buffer, 50);
    struct timespec after = unipc_channel_after_(0);
    long ms = (long)((after.tv_sec - before.tv_sec) * 1000 + (after.tv_nsec - before.tv_nsec) / 1000000);
    printf("waiting\n");
    fflush(stdout);
    ssize_t small = unipc_channel_receive(&c, buffer, 10, TIMEOUT_MS);
    ssize_t length = unipc_channel_receive(&c, buffer, sizeof buffer, TIMEOUT_MS);
    ssize_t end = unipc_channel_receive(&c, buffer, sizeof buffer, TIMEOUT_MS);
    printf("{\"try\":\"%s\",\"timeout\":\"%s\",\"ms\":%ld,\"small\":\"%s\",\"length\":%ld,\"end\":\"%s\"}\n",
           error_name(-tried), error_name(-timed), ms, error_name(-small), (long)length,
           end == UNIPC_CHANNEL_END ? "end" : error_name(-end));
    unipc_channel_close(&c);
    return 0;
  }

  if (strcmp(command, "hold-consumer") == 0 && argc == 3) {
    unsigned char buffer[64];
    ssize_t r = unipc_channel_receive(&c, buffer, sizeof buffer, TIMEOUT_MS);
    if (r < 0) {
      fprintf(stderr, "channel_peer: receive: %s\n", error_name(-r));
      return 1;
    }
    printf("holding\n");
    fflush(stdout);
    for (;;) pause();
  }
  return 2;
}
