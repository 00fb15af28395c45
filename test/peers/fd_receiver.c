/* A C peer for descriptor passing: receives one message on fd 3 (a Unix socket), then writes a greeting
 * into every descriptor that came with it, and prints the message text and the count. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
  char text[256];
  char control[CMSG_SPACE(sizeof(int) * 16)];
  struct iovec iov = {text, sizeof(text) - 1};
  struct msghdr message = {0};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
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
  printf("{\"text\":\"%s\",\"fds\":%d}\n", text, count);
  return 0;
}
