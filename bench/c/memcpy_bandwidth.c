/* memcpy bandwidth, the C reference for bench/shm-bandwidth.ts and the full benchmark (src/bench/):
 * copies `total` bytes in `chunk`-sized pieces from a private buffer into (a) a shared memfd mapping
 * and (b) ordinary heap memory, cycling through a `window`-sized destination, after one untimed pass
 * that faults every page in.
 * Usage: memcpy_bandwidth <total MiB> <chunk KiB> <window MiB>; prints one JSON line (GB/s). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static double run(unsigned char *dst, size_t window, const unsigned char *src, size_t chunk, size_t total) {
  for (size_t off = 0; off < window; off += chunk) memcpy(dst + off, src, chunk); /* warm-up */
  double start = now();
  size_t off = 0;
  for (size_t done = 0; done < total; done += chunk) {
    memcpy(dst + off, src, chunk);
    off += chunk;
    if (off >= window) off = 0;
  }
  __asm__ volatile("" ::: "memory");
  return total / (now() - start) / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  size_t total = (size_t)atol(argv[1]) << 20, chunk = (size_t)atol(argv[2]) << 10, window = (size_t)atol(argv[3]) << 20;
  unsigned char *src = malloc(chunk);
  for (size_t i = 0; i < chunk; i++) src[i] = (unsigned char)(i * 131 + 7);
  int fd = memfd_create("bench", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)window) != 0) return 1;
  unsigned char *shared = mmap(NULL, window, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  unsigned char *heap = malloc(window);
  if (shared == MAP_FAILED || heap == NULL) return 1;
  double into_shared = run(shared, window, src, chunk, total);
  double into_heap = run(heap, window, src, chunk, total);
  printf("{\"shared\":%.3f,\"heap\":%.3f}\n", into_shared, into_heap);
  return 0;
}
