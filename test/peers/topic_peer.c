/* A C end of a unipc topic (include/unipc/topic.h), for test/topic-c.test.ts. TOPIC is a descriptor number
 * (a memfd handed over) or a POSIX shared memory name ('/name').
 *   topic_peer subscribe TOPIC SEED FIRST [slow]  subscribe (print "joined"), receive until the end; check
 *                                                each message against message(FIRST + received + missed)
 *                                                below; print {"n","missed","sum","intact","end"}. slow:
 *                                                read a line from stdin first (the test's "go"), then pause
 *                                                1 ms every 50 messages
 *   topic_peer publish TOPIC SEED N [hold H]      publish (print "attached"), send message(0 … N − 1), close;
 *                                                print {"n","sum"} (or {"sent","error"} and exit 1). hold:
 *                                                after H messages print "sent" and read a line from stdin
 *   topic_peer publish-forever TOPIC SEED         send message(0, 1, …) until killed ('block' holds it back);
 *                                                print "sending" after the first
 *   topic_peer subscribe-and-hang TOPIC           subscribe, print "joined", wait to be killed
 *   topic_peer create-publish NAME SEED N         make a named topic of 16 KiB (maxMessageSize 4096,
 *                                                'block', history 0), print "ready", wait until a
 *                                                subscriber is attached, then as publish
 * With UNIPC_PEER_NO_WAITV set, the header is made to believe that futex_waitv(2) is refused (its
 * FUTEX_WAIT_BITSET fallback).
 * message(i): i % 100 == 0 is empty, i % 100 == 1 is maxMessageSize long, others mix(i ^ SEED) %
 * (maxMessageSize + 1) bytes; byte j is (i * 131 + j * 7 + SEED) & 255 (as test/peers/channel_peer.c).
 * "sum" is FNV-1a (32-bit) over each message's length (4 bytes, little-endian) and bytes. "end" is "end",
 * or the errno's name that ended it. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unipc/topic.h>

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

static void say(const char* line) {
  printf("%s\n", line);
  fflush(stdout);
}

/* Waits for the test's line on stdin. */
static void await_go(void) {
  char line[64];
  if (fgets(line, sizeof line, stdin) == NULL) exit(1);
}

static int open_topic(unipc_topic* t, const char* which) {
  int r = which[0] == '/' ? unipc_topic_open(t, which) : unipc_topic_map(t, atoi(which));
  if (r != 0) fprintf(stderr, "topic_peer: opening %s: %s\n", which, error_name(-r));
  return r;
}

/* Receives until the end; message number i is FIRST + what was received + what was missed before it. */
static int subscribe(unipc_topic* t, uint32_t seed, uint32_t first, int slow) {
  unsigned char* buffer = malloc(t->max_message_size);
  unsigned char* expected = malloc(t->max_message_size);
  uint32_t n = 0, sum = 2166136261u;
  int intact = 1;
  ssize_t r;
  if (slow) await_go();
  for (;;) {
    r = unipc_topic_receive(t, buffer, t->max_message_size, TIMEOUT_MS);
    if (r < 0) break;
    uint32_t i = first + n + (uint32_t)unipc_topic_missed(t);
    uint32_t size = message_size(i, seed, t->max_message_size);
    message_fill(expected, i, seed, size);
    if ((uint32_t)r != size || memcmp(buffer, expected, size) != 0) intact = 0;
    sum = sum_message(sum, buffer, (uint32_t)r);
    n++;
    if (slow && n % 50 == 0) usleep(1000);
  }
  printf("{\"n\":%u,\"missed\":%llu,\"sum\":%u,\"intact\":%s,\"end\":\"%s\"}\n", n,
         (unsigned long long)unipc_topic_missed(t), sum, intact ? "true" : "false",
         r == UNIPC_TOPIC_END ? "end" : error_name(-r));
  unipc_topic_close(t);
  free(buffer);
  free(expected);
  return 0;
}

/* Sends message(0 … count − 1) and closes; after `hold` messages (if not 0) says "sent" and awaits "go". */
static int publish(unipc_topic* t, uint32_t seed, uint32_t count, uint32_t hold) {
  unsigned char* bytes = malloc(t->max_message_size);
  uint32_t sum = 2166136261u;
  for (uint32_t i = 0; i < count; i++) {
    if (hold != 0 && i == hold) {
      say("sent");
      await_go();
    }
    uint32_t size = message_size(i, seed, t->max_message_size);
    message_fill(bytes, i, seed, size);
    int r = unipc_topic_send(t, bytes, size, TIMEOUT_MS);
    if (r != 0) {
      printf("{\"sent\":%u,\"error\":\"%s\"}\n", i, error_name(-r));
      return 1;
    }
    sum = sum_message(sum, bytes, size);
  }
  unipc_topic_close(t);
  printf("{\"n\":%u,\"sum\":%u}\n", count, sum);
  free(bytes);
  return 0;
}

static int claim(unipc_topic* t, int role) {
  int r = unipc_topic_claim(t, role);
  if (r != 0) fprintf(stderr, "topic_peer: claim: %s\n", error_name(-r));
  return r;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const char* command = argv[1];
  unipc_topic t;
  if (getenv("UNIPC_PEER_NO_WAITV") != NULL) unipc_channel_waitv_works_ = 0;

  if (strcmp(command, "create-publish") == 0 && argc == 5) {
    int r = unipc_topic_create_named(&t, argv[2], 16384, 4096, 0, 0);
    if (r != 0) {
      fprintf(stderr, "topic_peer: creating %s: %s\n", argv[2], error_name(-r));
      return 1;
    }
    if (claim(&t, UNIPC_TOPIC_PUBLISHER) != 0) return 1;
    say("ready");
    while (unipc_topic_subscribers(&t) == 0) usleep(1000);
    return publish(&t, (uint32_t)strtoul(argv[3], NULL, 10), (uint32_t)strtoul(argv[4], NULL, 10), 0);
  }
  if (open_topic(&t, argv[2]) != 0) return 1;

  if (strcmp(command, "subscribe") == 0 && (argc == 5 || argc == 6)) {
    if (claim(&t, UNIPC_TOPIC_SUBSCRIBER) != 0) return 1;
    say("joined");
    return subscribe(&t, (uint32_t)strtoul(argv[3], NULL, 10), (uint32_t)strtoul(argv[4], NULL, 10),
                     argc == 6 && strcmp(argv[5], "slow") == 0);
  }

  if (strcmp(command, "publish") == 0 && (argc == 5 || (argc == 7 && strcmp(argv[5], "hold") == 0))) {
    if (claim(&t, UNIPC_TOPIC_PUBLISHER) != 0) return 1;
    say("attached");
    return publish(&t, (uint32_t)strtoul(argv[3], NULL, 10), (uint32_t)strtoul(argv[4], NULL, 10),
                   argc == 7 ? (uint32_t)strtoul(argv[6], NULL, 10) : 0);
  }

  if (strcmp(command, "publish-forever") == 0 && argc == 4) {
    uint32_t seed = (uint32_t)strtoul(argv[3], NULL, 10);
    unsigned char* bytes = malloc(t.max_message_size);
    for (uint32_t i = 0;; i++) {
      uint32_t size = message_size(i, seed, t.max_message_size);
      message_fill(bytes, i, seed, size);
      int r = unipc_topic_send(&t, bytes, size, -1);
      if (r != 0) {
        fprintf(stderr, "topic_peer: send %u: %s\n", i, error_name(-r));
        return 1;
      }
      if (i == 0) say("sending");
    }
  }

  if (strcmp(command, "subscribe-and-hang") == 0 && argc == 3) {
    if (claim(&t, UNIPC_TOPIC_SUBSCRIBER) != 0) return 1;
    say("joined");
    for (;;) pause();
  }
  return 2;
}
