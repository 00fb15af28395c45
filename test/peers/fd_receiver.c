/* A C peer for descriptor passing, written the textbook way: it expects argv[1] descriptors and sizes its
 * control buffer for exactly those (CMSG_SPACE(n * sizeof(int))). It receives one message on fd 3 (a Unix
 * socket), writes a greeting into every descriptor that came with it, and prints the message text, the
 * count, and whether the control data was truncated (MSG_CTRUNC). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int expected = argc > 1 ? atoi(argv[1]) : 1;
  if (expected < 1 || expected > 16) return 2;
  char text[256];
  char control[CMSG_SPACE(sizeof(int) * 16)];
  size_t control_size = CMSG_SPACE(sizeof(int) * (size_t)expected);
  struct iovec iov = {text, sizeof(text) - 1};
  struct msghdr message = {0};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = control_size;
  ssize_t n = recvmsg(3, &message, MSG_CMSG_CLOEXEC);
  if (n < 0) {
    perror("recvmsg");
    return 1;
  }
  text[n] = '\0';
  int count = 0;
  for (struct cmsghdr *h = CMSG_FIRSTHDR(&message); h != NULL; h = CMSG_NXTHDR(&message, h)) {
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
    int fds = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (int i = 0; i < fds; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
      char greeting[64];
      int len = snprintf(greeting, sizeof(greeting), "hello from C %d\n", (int)getpid());
      if (write(fd, greeting, len) != len) perror("write");
      close(fd);
      count++;
    }
  }
  printf("{\"text\":\"%s\",\"fds\":%d,\"ctrunc\":%s}\n", text, count,
         (message.msg_flags & MSG_CTRUNC) ? "true" : "false");
  return 0;
}
