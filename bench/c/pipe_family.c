/* C reference for the pipe family (see bench.h for the command line):
 *   pipe_family pipe|stream|seqpacket rtt|tput <client cpu> <server cpu> <size> <count> <warm-up>
 * pipe: two pipes, one per direction; stream, seqpacket: one AF_UNIX socketpair of that type.
 * Blocking read/write, as a C program would write it; a reader takes what is there into a buffer of
 * max(size, 64 KiB), the same as unipc's default read size. */
#include "bench.h"
#include <sys/socket.h>

static int client_out, client_in, server_in, server_out;
static unsigned char *buffer;
static size_t buffer_size;

static void write_all(int fd, const unsigned char *data, size_t n) {
  while (n > 0) {
    ssize_t done = write(fd, data, n);
    if (done < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    data += done;
    n -= (size_t)done;
  }
}

/* Reads exactly n bytes (one message on a seqpacket socket, whose messages are n bytes). */
static void read_exact(int fd, unsigned char *into, size_t n) {
  while (n > 0) {
    ssize_t done = read(fd, into, n);
    if (done < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (done == 0) {
      fprintf(stderr, "unexpected end of data\n");
      exit(1);
    }
    into += done;
    n -= (size_t)done;
  }
}

/* Reads until `total` bytes have come, whatever the pieces. */
static void drain(int fd, double total) {
  double got = 0;
  while (got < total) {
    ssize_t done = read(fd, buffer, buffer_size);
    if (done < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (done == 0) {
      fprintf(stderr, "unexpected end of data\n");
      exit(1);
    }
    got += (double)done;
  }
}

static void server(const struct run *run) {
  close(client_out);
  if (client_in != client_out) close(client_in);
  if (run->rtt) {
    for (long i = 0; i < run->warmup + run->count; i++) {
      read_exact(server_in, buffer, run->size);
      write_all(server_out, buffer, run->size);
    }
    return;
  }
  const unsigned char ack = 1;
  long runs[2] = {run->warmup, run->count};
  for (int r = 0; r < 2; r++) {
    if (runs[r] == 0) continue;
    drain(server_in, (double)runs[r] * (double)run->size);
    write_all(server_out, &ack, 1);
  }
}

static void client(const struct run *run) {
  close(server_in);
  if (server_out != server_in) close(server_out);
  unsigned char *message = malloc(run->size);
  memset(message, 0x5a, run->size);
  if (run->rtt) {
    double *samples = malloc(sizeof(double) * (size_t)run->count);
    for (long i = 0; i < run->warmup; i++) {
      write_all(client_out, message, run->size);
      read_exact(client_in, buffer, run->size);
    }
    double previous = now_us();
    for (long i = 0; i < run->count; i++) {
      write_all(client_out, message, run->size);
      read_exact(client_in, buffer, run->size);
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
    for (long i = 0; i < runs[r]; i++) write_all(client_out, message, run->size);
    unsigned char ack;
    read_exact(client_in, &ack, 1);
    seconds = (now_us() - start) / 1e6;
  }
  report_tput(seconds, run->count, run->size);
}

int main(int argc, char **argv) {
  struct run run;
  if (!parse_run(argc, argv, &run)) return 2;
  buffer_size = run.size > 65536 ? run.size : 65536;
  buffer = malloc(buffer_size);
  if (strcmp(run.mechanism, "pipe") == 0) {
    int there[2], back[2];
    if (pipe(there) != 0 || pipe(back) != 0) die("pipe");
    client_out = there[1], server_in = there[0], server_out = back[1], client_in = back[0];
  } else {
    int type = strcmp(run.mechanism, "stream") == 0 ? SOCK_STREAM : strcmp(run.mechanism, "seqpacket") == 0 ? SOCK_SEQPACKET : -1;
    if (type < 0) return 2;
    int pair[2];
    if (socketpair(AF_UNIX, type, 0, pair) != 0) die("socketpair");
    client_out = client_in = pair[0];
    server_in = server_out = pair[1];
  }
  return run_pair(&run, server, client);
}
