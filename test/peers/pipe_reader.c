/* A C peer reading its inherited pipe end (fd 3) with plain blocking read(2) until EOF: proves the end
 * arrives in blocking mode and that EOF comes when the parent's writer closes. Prints bytes and a sum. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
  unsigned char buffer[65536];
  unsigned long long total = 0, sum = 0;
  for (;;) {
    ssize_t n = read(3, buffer, sizeof(buffer));
    if (n < 0) {
      perror("read");
      return 1;
    }
    if (n == 0) break;
    for (ssize_t i = 0; i < n; i++) sum += buffer[i];
    total += (unsigned long long)n;
  }
  printf("{\"bytes\":%llu,\"sum\":%llu}\n", total, sum);
  return 0;
}
