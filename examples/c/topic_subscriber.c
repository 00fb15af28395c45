/*
 * A Topic subscriber in C (include/unipc/topic.h): it prints every message of the topic handed over as
 * descriptor 3, then how many an 'overwrite' publisher made it miss. examples/topic-c.ts compiles and runs it:
 *   cc -O2 -I include -o topic_subscriber examples/c/topic_subscriber.c
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unipc/topic.h>

int main(void) {
  unipc_topic topic;
  int r = unipc_topic_map(&topic, 3);
  if (r == 0) r = unipc_topic_claim(&topic, UNIPC_TOPIC_SUBSCRIBER);
  if (r != 0) {
    fprintf(stderr, "topic: %s\n", strerror(-r));
    return 1;
  }
  printf("C subscriber %d joined\n", (int)getpid());
  fflush(stdout);
  static char message[1 << 16]; /* at least the topic's maxMessageSize */
  for (;;) {
    ssize_t n = unipc_topic_receive(&topic, message, sizeof message, -1);
    if (n == UNIPC_TOPIC_END) break; /* the publisher closed, and everything it sent is here */
    if (n < 0) {
      fprintf(stderr, "receive: %s\n", strerror((int)-n)); /* EPIPE: the publisher died */
      break;
    }
    printf("C subscriber got: %.*s\n", (int)n, message);
  }
  printf("C subscriber missed %llu\n", (unsigned long long)unipc_topic_missed(&topic));
  unipc_topic_close(&topic);
  return 0;
}
