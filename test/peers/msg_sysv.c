/* A C peer for System V message queues, written the textbook way (msgget, msgsnd, msgrcv, msgctl with
 * a `struct { long mtype; char mtext[]; }`). A KEY is "private" or a number (decimal or 0x…, the
 * unsigned value ipcs shows). A TYPE is a C long in decimal.
 *   msg_sysv create KEY MODE           msgget(IPC_CREAT|IPC_EXCL|MODE); prints {"id":…}
 *   msg_sysv send ID TYPE:LENGTH...    msgsnd of each message in order (blocking); the texts, one after
 *                                      the other, come on stdin
 *   msg_sysv recv ID COUNT MSGTYP FLAGS MAXSIZE
 *                                      COUNT msgrcv(MSGTYP) calls; FLAGS is "-" or a comma list of
 *                                      except, noerror, nowait; prints one {"type":"…","hex":"…"} line
 *                                      each, or {"errno":"ENOMSG"|"E2BIG"|…} and stops at a failure
 *   msg_sysv stat ID                   prints the msqid_ds fields as JSON
 *   msg_sysv flood ID N SIZE           sends N messages of SIZE bytes (>= 8): type i % 3 + 1, text the
 *                                      sequence number i (8 bytes, little-endian) then filler
 *   msg_sysv drain ID N                receives N messages (type 0) and checks the flood's sequence and
 *                                      types; prints {"received":N,"outOfOrder":…,"wrongType":…}
 * Exit codes: 0 ok, 2 usage, 3 EEXIST, 4 ENOENT, 5 EINVAL or EIDRM, 1 any other failure. */
#define _GNU_SOURCE /* MSG_EXCEPT */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include "peer_io.h"

struct message {
  long mtype;
  char mtext[65536];
};

static struct message buffer;

static key_t parse_key(const char *text) {
  if (strcmp(text, "private") == 0) return IPC_PRIVATE;
  return (key_t)(unsigned)strtoul(text, NULL, 0);
}

static const char *errno_name(int err) {
  switch (err) {
    case ENOMSG: return "ENOMSG";
    case E2BIG: return "E2BIG";
    case EAGAIN: return "EAGAIN";
    case EIDRM: return "EIDRM";
    case EINVAL: return "EINVAL";
    case EACCES: return "EACCES";
    default: return "other";
  }
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *command = argv[1];

  if (strcmp(command, "create") == 0 && argc == 4) {
    int id = msgget(parse_key(argv[2]), IPC_CREAT | IPC_EXCL | (int)strtol(argv[3], NULL, 8));
    if (id < 0) return fail("msgget");
    printf("{\"id\":%d}\n", id);
    return 0;
  }

  int id = atoi(argv[2]);

  if (strcmp(command, "send") == 0) {
    size_t available = read_stdin(), offset = 0;
    for (int i = 3; i < argc; i++) {
      char *colon;
      buffer.mtype = strtol(argv[i], &colon, 10);
      if (*colon != ':') return 2;
      size_t length = strtoul(colon + 1, NULL, 10);
      if (length > sizeof(buffer.mtext) || offset + length > available) return 2;
      memcpy(buffer.mtext, input + offset, length);
      offset += length;
      if (msgsnd(id, &buffer, length, 0) != 0) return fail("msgsnd");
    }
    return 0;
  }

  if (strcmp(command, "recv") == 0 && argc == 7) {
    int count = atoi(argv[3]);
    long type = strtol(argv[4], NULL, 10);
    int flags = 0;
    if (strstr(argv[5], "except")) flags |= MSG_EXCEPT;
    if (strstr(argv[5], "noerror")) flags |= MSG_NOERROR;
    if (strstr(argv[5], "nowait")) flags |= IPC_NOWAIT;
    size_t max = strtoul(argv[6], NULL, 10);
    if (max > sizeof(buffer.mtext)) return 2;
    for (int i = 0; i < count; i++) {
      ssize_t n = msgrcv(id, &buffer, max, type, flags);
      if (n < 0) {
        printf("{\"errno\":\"%s\"}\n", errno_name(errno));
        return 0;
      }
      printf("{\"type\":\"%ld\",\"hex\":\"", buffer.mtype);
      for (ssize_t k = 0; k < n; k++) printf("%02x", (unsigned char)buffer.mtext[k]);
      printf("\"}\n");
    }
    return 0;
  }

  if (strcmp(command, "stat") == 0 && argc == 3) {
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) != 0) return fail("msgctl");
    printf("{\"key\":%u,\"mode\":%u,\"uid\":%u,\"cbytes\":%lu,\"qnum\":%lu,\"qbytes\":%lu,\"lspid\":%d,\"lrpid\":%d,"
           "\"stime\":%ld,\"rtime\":%ld,\"ctime\":%ld}\n",
           (unsigned)ds.msg_perm.__key, (unsigned)(ds.msg_perm.mode & 0777), (unsigned)ds.msg_perm.uid,
           (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qnum, (unsigned long)ds.msg_qbytes,
           (int)ds.msg_lspid, (int)ds.msg_lrpid, (long)ds.msg_stime, (long)ds.msg_rtime, (long)ds.msg_ctime);
    return 0;
  }

  if (strcmp(command, "flood") == 0 && argc == 5) {
    long n = atol(argv[3]);
    size_t size = strtoul(argv[4], NULL, 10);
    if (size < 8 || size > sizeof(buffer.mtext)) return 2;
    memset(buffer.mtext, 0x5a, size);
    for (long i = 0; i < n; i++) {
      buffer.mtype = i % 3 + 1;
      uint64_t seq = (uint64_t)i;
      for (int b = 0; b < 8; b++) buffer.mtext[b] = (char)(seq >> (8 * b));
      while (msgsnd(id, &buffer, size, 0) != 0) {
        if (errno != EINTR) return fail("msgsnd");
      }
    }
    return 0;
  }

  if (strcmp(command, "drain") == 0 && argc == 4) {
    long n = atol(argv[3]);
    long out_of_order = 0, wrong_type = 0;
    for (long i = 0; i < n; i++) {
      ssize_t got;
      while ((got = msgrcv(id, &buffer, sizeof(buffer.mtext), 0, 0)) < 0) {
        if (errno != EINTR) return fail("msgrcv");
      }
      uint64_t seq = 0;
      for (int b = 0; b < 8 && b < got; b++) seq |= (uint64_t)(unsigned char)buffer.mtext[b] << (8 * b);
      if (seq != (uint64_t)i) out_of_order++;
      if (buffer.mtype != i % 3 + 1) wrong_type++;
    }
    printf("{\"received\":%ld,\"outOfOrder\":%ld,\"wrongType\":%ld}\n", n, out_of_order, wrong_type);
    return 0;
  }

  return 2;
}
