/*
 * The shared-memory channel of unipc (src/channel.ts) for C and C++ programs: the same bytes and the same
 * protocol, so a C program can be a producer or the consumer of a channel whose other ends are Node
 * processes (or other C programs). Layout and protocol: docs/channel.md, which this header follows word
 * for word; the producers' lock is the robust mutex of unipc/lock.h (docs/locks.md). Header-only; Linux,
 * GCC or Clang (uses __atomic builtins); C99 or later, or C++.
 *
 *   unipc_channel c;
 *   int r = unipc_channel_map(&c, 3);               // a memfd handed over as fd 3 (or unipc_channel_open)
 *   char buffer[65536];                              // at least c.max_message_size bytes
 *   for (;;) {
 *     ssize_t n = unipc_channel_receive(&c, buffer, sizeof buffer, -1);
 *     if (n == UNIPC_CHANNEL_END) break;             // every producer closed and all they sent is here
 *     if (n < 0) { errno = (int)-n; perror("receive"); break; } // -EPIPE: a producer died
 *     use(buffer, (size_t)n);
 *   }
 *   unipc_channel_close(&c);
 *
 * Every function returns 0 (or a length) on success and a negative errno on failure; none sets errno.
 * An end (unipc_channel) is used by one thread at a time, and its role is held by the thread that claimed
 * it (the first send or receive, or unipc_channel_claim): that thread's id is what the other ends check
 * for liveness (/proc/<tid>/stat, kill(2)), so the thread must live as long as the end does, and every end
 * must be in one PID namespace. Compile with _GNU_SOURCE for the vDSO's sched_getcpu(3) (otherwise the
 * getcpu(2) system call is made, once per wait); on glibc before 2.34, unipc_channel_open and
 * unipc_channel_create_named need -lrt (shm_open(3)).
 *
 * Not here (yet): the zero-copy forms (reserve/commit, receive views), batches, the Promise forms' polling,
 * and spin "Infinity" (never sleeping).
 */
#ifndef UNIPC_CHANNEL_H
#define UNIPC_CHANNEL_H

#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "lock.h"

#define UNIPC_CHANNEL_MAGIC 0x48434e55u /* 'UNCH' in memory */
#define UNIPC_CHANNEL_VERSION 1u
#define UNIPC_CHANNEL_HEADER_BYTES 4096u
#define UNIPC_CHANNEL_MIN_CAPACITY 4096u
#define UNIPC_CHANNEL_MAX_CAPACITY 0x40000000u
#define UNIPC_CHANNEL_MAX_PRODUCERS 32
#define UNIPC_CHANNEL_WRAP 0xffffffffu /* a length word: the next record starts at offset 0 */

/* flags (byte 20) */
#define UNIPC_CHANNEL_MULTIPLE_PRODUCERS 1u
/* state (byte 204) */
#define UNIPC_CHANNEL_PRODUCER_ATTACHED 1u
#define UNIPC_CHANNEL_CONSUMER_CLOSED 2u
#define UNIPC_CHANNEL_PRODUCER_DIED 4u

/* Roles, for unipc_channel_claim. */
#define UNIPC_CHANNEL_PRODUCER 1
#define UNIPC_CHANNEL_CONSUMER 2
#define UNIPC_CHANNEL_RESUME 4 /* with UNIPC_CHANNEL_PRODUCER: continue a dead producer's stream */

/* What unipc_channel_receive returns at the end of the channel: not an errno (those are 1 to 4095). */
#define UNIPC_CHANNEL_END ((ssize_t)-65536)

#ifndef UNIPC_CHANNEL_SPIN
#define UNIPC_CHANNEL_SPIN 1000 /* reads of the other side's index before sleeping; -D to change */
#endif

/* The header's words: byte offset / 4 (docs/channel.md, "Layout"). */
#define UNIPC_CHANNEL_W_MAGIC 0
#define UNIPC_CHANNEL_W_VERSION 1
#define UNIPC_CHANNEL_W_CAPACITY 2
#define UNIPC_CHANNEL_W_MAX_MESSAGE_SIZE 3
#define UNIPC_CHANNEL_W_DATA_OFFSET 4
#define UNIPC_CHANNEL_W_FLAGS 5
#define UNIPC_CHANNEL_W_HEAD 16             /* byte 64 */
#define UNIPC_CHANNEL_W_CONSUMER_CPU 17     /* byte 68 */
#define UNIPC_CHANNEL_W_TAIL 32             /* byte 128 */
#define UNIPC_CHANNEL_W_PRODUCER_CPU 33     /* byte 132 */
#define UNIPC_CHANNEL_W_CONSUMER_WAITING 48 /* byte 192 */
#define UNIPC_CHANNEL_W_PRODUCER_WAITING 49 /* byte 196 */
#define UNIPC_CHANNEL_W_CONSUMER 50         /* byte 200 */
#define UNIPC_CHANNEL_W_STATE 51            /* byte 204 */
#define UNIPC_CHANNEL_W_PRODUCER_MASK 52    /* byte 208 */
#define UNIPC_CHANNEL_W_PRODUCER_LOCK 64    /* byte 256 */
#define UNIPC_CHANNEL_W_PRODUCER_SLOTS 80   /* bytes 320-447 */

#define UNIPC_CHANNEL_NO_CPU 0xffffffffu  /* -1 */
#define UNIPC_CHANNEL_SLICE_NS 100000000L /* a sleep's longest slice, and the liveness interval: 100 ms */
#define UNIPC_CHANNEL_AGAIN_ (-EAGAIN)    /* an attempt that cannot proceed now */

/* One end of a channel. Fields other than `spin` are read-only to the caller. */
typedef struct {
  uint32_t* words;     /* the header (1024 words) */
  unsigned char* ring; /* capacity bytes, 4096 bytes after words */
  size_t length;       /* bytes mapped at words */
  uint32_t capacity;   /* bytes of the ring, a power of two */
  uint32_t max_message_size;
  int multiple_producers; /* the channel takes up to 32 producers, under the lock at byte 256 */
  uint32_t spin;          /* reads before sleeping (UNIPC_CHANNEL_SPIN); 0 sleeps at once; settable */
  int role;               /* 0 until claimed, UNIPC_CHANNEL_PRODUCER or UNIPC_CHANNEL_CONSUMER */
  int slot;               /* a producer's slot, or -1 */
  uint32_t tid;           /* the thread that claimed the role */
  int closed;
  int mapped;          /* unipc_channel_map/open/create_named mapped it: close unmaps it */
  uint32_t known_head; /* the head a single producer last read */
  uint32_t known_tail; /* the tail the consumer last read */
  uint32_t full_at;    /* the head a full ring showed: a producer sleeps until it moves */
  /* This end's own index as it last stored it: the consumer's head, a single producer's tail (several
   * producers move tail in turn: they read it from the header). Needed for every message, while the
   * other side reads that cache line all the while: kept here, not read back (docs/channel.md, "Own
   * index"; bench/c/ring.c's spinning 8-byte round trip went from 1.33 to 1.07-1.12 us). */
  uint32_t own_head;
  uint32_t own_tail;
} unipc_channel;

/* The CPU this thread last started waiting on, as any channel's end (-1: never): what each side tells
 * its peers as it sends or receives (docs/channel.md, "Waiting"). */
static __thread int32_t unipc_channel_thread_cpu_ = -1;
/* Whether futex_waitv(2) works here: -1 unknown, 1 yes, 0 no (ENOSYS before Linux 5.16, or EPERM). */
static int unipc_channel_waitv_works_ = -1;

static inline uint32_t unipc_channel_load_(const unipc_channel* c, int word) {
  return __atomic_load_n(&c->words[word], __ATOMIC_SEQ_CST);
}
static inline void unipc_channel_store_(unipc_channel* c, int word, uint32_t value) {
  __atomic_store_n(&c->words[word], value, __ATOMIC_SEQ_CST);
}
/* A word only this side writes, or a hint (the CPU words): no ordering needed (docs/channel.md, "Memory
 * order"), but an atomic access all the same, since other threads write it. */
static inline uint32_t unipc_channel_peek_(const unipc_channel* c, int word) {
  return __atomic_load_n(&c->words[word], __ATOMIC_RELAXED);
}
static inline void unipc_channel_poke_(unipc_channel* c, int word, uint32_t value) {
  __atomic_store_n(&c->words[word], value, __ATOMIC_RELAXED);
}
static inline uint32_t* unipc_channel_ring_word_(const unipc_channel* c, uint32_t offset) {
  return (uint32_t*)(void*)(c->ring + offset);
}

/* The CPU the calling thread runs on (sched_getcpu(3), getcpu(2)), or -1. */
static inline int32_t unipc_channel_cpu_(void) {
#ifdef _GNU_SOURCE
  return sched_getcpu();
#else
  unsigned cpu = 0;
  return syscall(SYS_getcpu, &cpu, NULL, NULL) == 0 ? (int32_t)cpu : -1;
#endif
}

/* now + ns on CLOCK_MONOTONIC (clock_gettime(2)). */
static inline struct timespec unipc_channel_after_(long long ns) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  long long total = (long long)t.tv_nsec + ns;
  t.tv_sec += (time_t)(total / 1000000000LL);
  t.tv_nsec = (long)(total % 1000000000LL);
  return t;
}

static inline int unipc_channel_before_(const struct timespec* a, const struct timespec* b) {
  return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449 /* the same on x86_64 and arm64 (Linux 5.16) */
#endif

/* struct futex_waitv of <linux/futex.h>, spelled out: the headers a build sees can predate it. */
struct unipc_channel_waitv_ {
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};

/*
 * Sleeps while *word holds `expected` and *other holds `other_expected`, until either is woken or the
 * absolute CLOCK_MONOTONIC `deadline`: futex_waitv(2) on both (shared futexes: FUTEX2_SIZE_U32 without
 * FUTEX2_PRIVATE), or, where that gives ENOSYS or EPERM, FUTEX_WAIT_BITSET on `word` alone (futex(2)).
 * EINTR restarts with the same deadline. 0 (woken, or spuriously), -EAGAIN (a word had changed),
 * -ETIMEDOUT, or another -errno of the system call.
 */
static inline int unipc_channel_sleep_(uint32_t* word, uint32_t expected, uint32_t* other, uint32_t other_expected,
                                       const struct timespec* deadline) {
  for (;;) {
    if (__atomic_load_n(&unipc_channel_waitv_works_, __ATOMIC_RELAXED) != 0) {
      struct unipc_channel_waitv_ waiters[2] = {{expected, (uint64_t)(uintptr_t)word, 0x02, 0},
                                                {other_expected, (uint64_t)(uintptr_t)other, 0x02, 0}};
      long r = syscall(SYS_futex_waitv, waiters, 2, 0, deadline, CLOCK_MONOTONIC);
      if (r >= 0) {
        __atomic_store_n(&unipc_channel_waitv_works_, 1, __ATOMIC_RELAXED);
        return 0;
      }
      int err = errno;
      if (err != ENOSYS && err != EPERM) {
        __atomic_store_n(&unipc_channel_waitv_works_, 1, __ATOMIC_RELAXED);
        if (err == EINTR) continue;
        return -err;
      }
      __atomic_store_n(&unipc_channel_waitv_works_, 0, __ATOMIC_RELAXED);
    }
    long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, deadline, NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == 0) return 0;
    if (errno == EINTR) continue;
    return -errno;
  }
}

/*
 * Opens an existing channel in `length` bytes mapped at `base` (readable and writable, MAP_SHARED; the
 * caller keeps the mapping, which must outlive the end). Checks the header as src/channel.ts does before
 * writing anything: -EPROTO for memory shorter than the header, no magic number (not a channel, or one not
 * made yet: no retry), another layout version, or a damaged header (a capacity that is no power of two
 * from 4 KiB to 1 GiB or larger than the memory, a maxMessageSize outside 1 to capacity / 2 - 8, a data
 * offset other than 4096); -EINVAL for a `base` that is NULL or not 4-aligned. Claims no role.
 */
static inline int unipc_channel_attach(unipc_channel* c, void* base, size_t length) {
  memset(c, 0, sizeof *c);
  c->slot = -1;
  c->spin = UNIPC_CHANNEL_SPIN;
  if (base == NULL || ((uintptr_t)base & 3) != 0) return -EINVAL;
  if (length < UNIPC_CHANNEL_HEADER_BYTES) return -EPROTO;
  uint32_t* words = (uint32_t*)base;
  if (__atomic_load_n(&words[UNIPC_CHANNEL_W_MAGIC], __ATOMIC_SEQ_CST) != UNIPC_CHANNEL_MAGIC) return -EPROTO;
  if (__atomic_load_n(&words[UNIPC_CHANNEL_W_VERSION], __ATOMIC_RELAXED) != UNIPC_CHANNEL_VERSION) return -EPROTO;
  uint32_t capacity = __atomic_load_n(&words[UNIPC_CHANNEL_W_CAPACITY], __ATOMIC_RELAXED);
  uint32_t longest = __atomic_load_n(&words[UNIPC_CHANNEL_W_MAX_MESSAGE_SIZE], __ATOMIC_RELAXED);
  uint32_t data = __atomic_load_n(&words[UNIPC_CHANNEL_W_DATA_OFFSET], __ATOMIC_RELAXED);
  if (capacity < UNIPC_CHANNEL_MIN_CAPACITY || capacity > UNIPC_CHANNEL_MAX_CAPACITY ||
      (capacity & (capacity - 1)) != 0 || longest < 1 || longest > capacity / 2 - 8 ||
      data != UNIPC_CHANNEL_HEADER_BYTES) {
    return -EPROTO;
  }
  if (length - UNIPC_CHANNEL_HEADER_BYTES < capacity) return -EPROTO;
  c->words = words;
  c->ring = (unsigned char*)base + UNIPC_CHANNEL_HEADER_BYTES;
  c->length = length;
  c->capacity = capacity;
  c->max_message_size = longest;
  /* Undefined bits of flags are ignored. */
  c->multiple_producers =
      (__atomic_load_n(&words[UNIPC_CHANNEL_W_FLAGS], __ATOMIC_RELAXED) & UNIPC_CHANNEL_MULTIPLE_PRODUCERS) != 0;
  return 0;
}

/*
 * Makes a channel in `length` zero-filled bytes at `base` (a fresh memfd or POSIX shared memory object of
 * 4096 + capacity bytes, mapped MAP_SHARED: ftruncate(2) zero-fills) and opens it, as Channel.create()
 * does: writes version, capacity, maxMessageSize (0: capacity / 4), dataOffset and `flags`
 * (UNIPC_CHANNEL_MULTIPLE_PRODUCERS or 0), -1 into both CPU words, and the magic number last. -EINVAL
 * for a capacity that is no power of two from 4 KiB to 1 GiB, a max_message_size above capacity / 2 - 8,
 * unknown flags, memory shorter than 4096 + capacity, or a `base` that is NULL or not 4-aligned; -EEXIST
 * when the memory has a magic number already (a channel, or memory that is not zero-filled).
 */
static inline int unipc_channel_init(unipc_channel* c, void* base, size_t length, uint32_t capacity,
                                     uint32_t max_message_size, uint32_t flags) {
  if (base == NULL || ((uintptr_t)base & 3) != 0) return -EINVAL;
  if (capacity < UNIPC_CHANNEL_MIN_CAPACITY || capacity > UNIPC_CHANNEL_MAX_CAPACITY ||
      (capacity & (capacity - 1)) != 0)
    return -EINVAL;
  if (max_message_size == 0) max_message_size = capacity / 4;
  if (max_message_size > capacity / 2 - 8) return -EINVAL;
  if ((flags & ~UNIPC_CHANNEL_MULTIPLE_PRODUCERS) != 0) return -EINVAL;
  if (length < (size_t)UNIPC_CHANNEL_HEADER_BYTES + capacity) return -EINVAL;
  uint32_t* words = (uint32_t*)base;
  if (__atomic_load_n(&words[UNIPC_CHANNEL_W_MAGIC], __ATOMIC_SEQ_CST) != 0) return -EEXIST;
  __atomic_store_n(&words[UNIPC_CHANNEL_W_VERSION], UNIPC_CHANNEL_VERSION, __ATOMIC_RELAXED);
  __atomic_store_n(&words[UNIPC_CHANNEL_W_CAPACITY], capacity, __ATOMIC_RELAXED);
  __atomic_store_n(&words[UNIPC_CHANNEL_W_MAX_MESSAGE_SIZE], max_message_size, __ATOMIC_RELAXED);
  __atomic_store_n(&words[UNIPC_CHANNEL_W_DATA_OFFSET], UNIPC_CHANNEL_HEADER_BYTES, __ATOMIC_RELAXED);
  __atomic_store_n(&words[UNIPC_CHANNEL_W_FLAGS], flags, __ATOMIC_RELAXED);
  __atomic_store_n(&words[UNIPC_CHANNEL_W_CONSUMER_CPU], UNIPC_CHANNEL_NO_CPU, __ATOMIC_RELAXED);
  __atomic_store_n(&words[UNIPC_CHANNEL_W_PRODUCER_CPU], UNIPC_CHANNEL_NO_CPU, __ATOMIC_RELAXED);
  __atomic_store_n(&words[UNIPC_CHANNEL_W_MAGIC], UNIPC_CHANNEL_MAGIC, __ATOMIC_SEQ_CST); /* last */
  return unipc_channel_attach(c, base, length);
}

/*
 * Maps the channel behind descriptor `fd` (a memfd handed over, or a POSIX shared memory object) and opens
 * it: unipc_channel_attach over the whole object; unipc_channel_close unmaps it. The descriptor stays the
 * caller's (it may be closed at once). -EPROTO as unipc_channel_attach (also for an object shorter than
 * the header); -errno of fstat(2) or mmap(2) (EBADF, EACCES for a read-only descriptor, ENOMEM).
 */
static inline int unipc_channel_map(unipc_channel* c, int fd) {
  memset(c, 0, sizeof *c);
  c->slot = -1;
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  if (st.st_size < (off_t)UNIPC_CHANNEL_HEADER_BYTES) return -EPROTO;
  size_t length = (size_t)st.st_size;
  void* base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return -errno;
  int r = unipc_channel_attach(c, base, length);
  if (r != 0) {
    munmap(base, length);
    return r;
  }
  c->mapped = 1;
  return 0;
}

/*
 * Opens the named channel another process made (Channel.create({ name }) or unipc_channel_create_named):
 * shm_open(3) of `name` ('/name') for reading and writing, then unipc_channel_map. -ENOENT (no such
 * name), -EACCES, other -errno of shm_open(3); what unipc_channel_map returns.
 */
static inline int unipc_channel_open(unipc_channel* c, const char* name) {
  memset(c, 0, sizeof *c);
  c->slot = -1;
  int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int r = unipc_channel_map(c, fd);
  close(fd);
  return r;
}

/*
 * Makes a named channel, as Channel.create({ name }) does: shm_open(3) of `name` with O_CREAT | O_EXCL and
 * mode 0600, ftruncate(2) to 4096 + capacity bytes, mmap(2), unipc_channel_init. The name stays until
 * someone unlinks it (shm_unlink(3), Channel.unlink()); on failure it is unlinked again. -EEXIST (the name
 * is taken), -EINVAL as unipc_channel_init, other -errno of the calls.
 */
static inline int unipc_channel_create_named(unipc_channel* c, const char* name, uint32_t capacity,
                                             uint32_t max_message_size, uint32_t flags) {
  memset(c, 0, sizeof *c);
  c->slot = -1;
  if (capacity < UNIPC_CHANNEL_MIN_CAPACITY || capacity > UNIPC_CHANNEL_MAX_CAPACITY ||
      (capacity & (capacity - 1)) != 0)
    return -EINVAL;
  int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  size_t length = (size_t)UNIPC_CHANNEL_HEADER_BYTES + capacity;
  int r = 0;
  void* base = MAP_FAILED;
  if (ftruncate(fd, (off_t)length) != 0) r = -errno;
  if (r == 0) {
    base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) r = -errno;
  }
  if (r == 0) r = unipc_channel_init(c, base, length, capacity, max_message_size, flags);
  close(fd);
  if (r != 0) {
    if (base != MAP_FAILED) munmap(base, length);
    shm_unlink(name);
    return r;
  }
  c->mapped = 1;
  return 0;
}

/* How many producers are attached now (the bits of producerMask; a dead one counts until the consumer
 * notices). */
static inline int unipc_channel_producers(const unipc_channel* c) {
  return __builtin_popcount(unipc_channel_load_(c, UNIPC_CHANNEL_W_PRODUCER_MASK));
}

/* The consumer's claim: compare and swap `consumer` from 0, or from the id of a thread that is gone. */
static inline int unipc_channel_attach_consumer_(unipc_channel* c) {
  uint32_t tid = unipc_gettid_();
  c->own_head = unipc_channel_load_(c, UNIPC_CHANNEL_W_HEAD);
  c->known_tail = c->own_head;
  uint32_t current = unipc_channel_load_(c, UNIPC_CHANNEL_W_CONSUMER);
  if (current != 0 && !unipc_thread_gone_(current)) return -EBUSY;
  if (!unipc_cas_(&c->words[UNIPC_CHANNEL_W_CONSUMER], current, tid)) return -EBUSY;
  c->tid = tid;
  return 0;
}

/* A producer's claim: a free slot (compare and swap 0 -> tid), else the slot of a thread that is gone;
 * then its bit in producerMask, then PRODUCER_ATTACHED in state (docs/channel.md, "Roles"). Only the
 * thread whose id is in a slot changes the slot's bit, so a bit found set on a slot taken over is the dead
 * producer's, which never closed: unless `resume`, the death is recorded (PRODUCER_DIED) here, as the
 * consumer's reap no longer can. */
static inline int unipc_channel_attach_producer_(unipc_channel* c, int resume) {
  uint32_t tid = unipc_gettid_();
  int slots = c->multiple_producers ? UNIPC_CHANNEL_MAX_PRODUCERS : 1;
  for (int take_over = 0; take_over < 2; take_over++) {
    for (int slot = 0; slot < slots; slot++) {
      uint32_t* word = &c->words[UNIPC_CHANNEL_W_PRODUCER_SLOTS + slot];
      uint32_t current = __atomic_load_n(word, __ATOMIC_SEQ_CST);
      /* The second pass also takes a slot freed since the first (by a close, or the consumer's reap). */
      if (take_over ? current != 0 && !unipc_thread_gone_(current) : current != 0) continue;
      if (!unipc_cas_(word, current, tid)) continue;
      uint32_t bit = 1u << slot;
      int died =
          (__atomic_fetch_or(&c->words[UNIPC_CHANNEL_W_PRODUCER_MASK], bit, __ATOMIC_SEQ_CST) & bit) && current != 0;
      __atomic_fetch_or(&c->words[UNIPC_CHANNEL_W_STATE],
                        UNIPC_CHANNEL_PRODUCER_ATTACHED | (died && !resume ? UNIPC_CHANNEL_PRODUCER_DIED : 0),
                        __ATOMIC_SEQ_CST);
      c->slot = slot;
      c->tid = tid;
      c->known_head = unipc_channel_load_(c, UNIPC_CHANNEL_W_HEAD);
      c->own_tail = unipc_channel_load_(c, UNIPC_CHANNEL_W_TAIL);
      return 0;
    }
  }
  return -EBUSY;
}

/*
 * Makes this end the channel's producer or its consumer now, rather than at the first send or receive
 * (Channel's `role` option): a producer that then sends nothing still ends the stream when it closes.
 * `role` is UNIPC_CHANNEL_PRODUCER (| UNIPC_CHANNEL_RESUME: this producer continues a dead one's stream,
 * and clears the PRODUCER_DIED mark once attached, as Channel's `resume` option) or UNIPC_CHANNEL_CONSUMER.
 * The calling thread holds the role. 0 (also when this end holds the role already); -EBUSY (a live
 * consumer exists; all producer slots are taken: 1, or 32 on a multi-producer channel); -EINVAL (another
 * role, or an unknown one); -EBADF (closed).
 */
static inline int unipc_channel_claim(unipc_channel* c, int role) {
  if (c->closed || c->words == NULL) return -EBADF;
  int base = role & ~UNIPC_CHANNEL_RESUME;
  if (base != UNIPC_CHANNEL_PRODUCER && base != UNIPC_CHANNEL_CONSUMER) return -EINVAL;
  if ((role & UNIPC_CHANNEL_RESUME) && base != UNIPC_CHANNEL_PRODUCER) return -EINVAL;
  if (c->role != 0 && c->role != base) return -EINVAL;
  if (c->role == 0) {
    int r = base == UNIPC_CHANNEL_PRODUCER ? unipc_channel_attach_producer_(c, role & UNIPC_CHANNEL_RESUME)
                                           : unipc_channel_attach_consumer_(c);
    if (r != 0) return r;
    c->role = base;
  }
  /* After the slot is taken: a consumer that looks in between still sees the death, not an end. */
  if (role & UNIPC_CHANNEL_RESUME)
    __atomic_fetch_and(&c->words[UNIPC_CHANNEL_W_STATE], ~UNIPC_CHANNEL_PRODUCER_DIED, __ATOMIC_SEQ_CST);
  return 0;
}

/*
 * Stores a side's index (the tail publishes the records before it, the head gives their room back),
 * after refreshing the side's CPU word, and wakes up to `wake` sleepers on it if the other side counted
 * any (the waiting count is read after the store: see docs/channel.md, "Waiting").
 */
static inline void unipc_channel_move_(unipc_channel* c, int cpu_word, int index_word, uint32_t index, int waiting_word,
                                       int wake) {
  uint32_t cpu = (uint32_t)unipc_channel_thread_cpu_;
  if (unipc_channel_peek_(c, cpu_word) != cpu) unipc_channel_poke_(c, cpu_word, cpu);
  unipc_channel_store_(c, index_word, index);
  if (unipc_channel_load_(c, waiting_word) != 0) unipc_futex_wake_(&c->words[index_word], wake);
}

static inline void unipc_channel_publish_(unipc_channel* c, uint32_t tail) {
  c->own_tail = tail;
  unipc_channel_move_(c, UNIPC_CHANNEL_W_PRODUCER_CPU, UNIPC_CHANNEL_W_TAIL, tail, UNIPC_CHANNEL_W_CONSUMER_WAITING, 1);
}

/* Whether `bytes` more fit between head and tail. */
static inline int unipc_channel_fits_(const unipc_channel* c, uint32_t head, uint32_t tail, uint32_t bytes) {
  uint32_t used = tail - head;
  return used <= c->capacity && c->capacity - used >= bytes;
}

/* One send: 0, UNIPC_CHANNEL_AGAIN_ (no room now; full_at holds the head that said so), -EPIPE. A
 * multi-producer channel's caller holds the producers' lock. */
static inline ssize_t unipc_channel_send_attempt_(unipc_channel* c, const void* data, size_t n) {
  if (unipc_channel_load_(c, UNIPC_CHANNEL_W_STATE) & UNIPC_CHANNEL_CONSUMER_CLOSED) return -EPIPE;
  uint32_t tail = c->multiple_producers ? unipc_channel_peek_(c, UNIPC_CHANNEL_W_TAIL) : c->own_tail;
  uint32_t size = (uint32_t)n;
  uint32_t need = 4 + ((size + 3) & ~3u);
  uint32_t position = tail & (c->capacity - 1);
  uint32_t skip = position + need > c->capacity ? c->capacity - position : 0;
  /* A single producer re-reads head only when the head it saw last (which can only have grown) leaves
   * too little room; with several, tail moves under it too: it re-reads. */
  if (c->multiple_producers || !unipc_channel_fits_(c, c->known_head, tail, skip + need)) {
    uint32_t head = unipc_channel_load_(c, UNIPC_CHANNEL_W_HEAD);
    c->known_head = head;
    if (!unipc_channel_fits_(c, head, tail, skip + need)) {
      c->full_at = head;
      return UNIPC_CHANNEL_AGAIN_;
    }
  }
  if (skip > 0) {
    __atomic_store_n(unipc_channel_ring_word_(c, position), UNIPC_CHANNEL_WRAP, __ATOMIC_RELAXED);
    position = 0;
  }
  __atomic_store_n(unipc_channel_ring_word_(c, position), size, __ATOMIC_RELAXED);
  if (size > 0) memcpy(c->ring + position + 4, data, size);
  unipc_channel_publish_(c, tail + skip + need);
  return 0;
}

/* The next record from index `first`: 1 with its bytes at ring offset *start, *length long, and the head
 * after it in *next; 0 when the ring is empty; -EPROTO for a damaged record (a length that is negative
 * after a wrap word, above maxMessageSize, or that would end past the tail). */
static inline int unipc_channel_next_(unipc_channel* c, uint32_t first, uint32_t* start, uint32_t* length,
                                      uint32_t* next) {
  if (first == c->known_tail) {
    c->known_tail = unipc_channel_load_(c, UNIPC_CHANNEL_W_TAIL);
    if (first == c->known_tail) return 0;
  }
  uint32_t tail = c->known_tail;
  uint32_t head = first;
  uint32_t position = head & (c->capacity - 1);
  uint32_t size = __atomic_load_n(unipc_channel_ring_word_(c, position), __ATOMIC_RELAXED);
  if (size == UNIPC_CHANNEL_WRAP) {
    head = head + c->capacity - position;
    position = 0;
    size = __atomic_load_n(unipc_channel_ring_word_(c, 0), __ATOMIC_RELAXED);
  }
  if ((int32_t)size < 0 || size > c->max_message_size) return -EPROTO;
  uint32_t after = head + 4 + ((size + 3) & ~3u);
  if (after - first > tail - first) return -EPROTO;
  *start = position + 4;
  *length = size;
  *next = after;
  return 1;
}

/* With the ring empty: UNIPC_CHANNEL_END (every producer closed), -EPIPE (a producer died), or
 * UNIPC_CHANNEL_AGAIN_. Read in the order of docs/channel.md ("End"): state, producerMask, tail again. */
static inline ssize_t unipc_channel_ended_(unipc_channel* c) {
  uint32_t state = unipc_channel_load_(c, UNIPC_CHANNEL_W_STATE);
  if (!(state & UNIPC_CHANNEL_PRODUCER_ATTACHED)) return UNIPC_CHANNEL_AGAIN_;
  if (unipc_channel_load_(c, UNIPC_CHANNEL_W_PRODUCER_MASK) != 0) return UNIPC_CHANNEL_AGAIN_;
  if (unipc_channel_load_(c, UNIPC_CHANNEL_W_TAIL) != c->own_head) return UNIPC_CHANNEL_AGAIN_;
  /* Read again: a producer opened with resume may have cleared the mark since (only a death sets it). */
  state = unipc_channel_load_(c, UNIPC_CHANNEL_W_STATE);
  return (state & UNIPC_CHANNEL_PRODUCER_DIED) ? -EPIPE : UNIPC_CHANNEL_END;
}

static inline void unipc_channel_advance_head_(unipc_channel* c, uint32_t head) {
  c->own_head = head;
  unipc_channel_move_(c, UNIPC_CHANNEL_W_CONSUMER_CPU, UNIPC_CHANNEL_W_HEAD, head, UNIPC_CHANNEL_W_PRODUCER_WAITING,
                      c->multiple_producers ? INT_MAX : 1);
}

/* One receive into buffer: the length, UNIPC_CHANNEL_END, -EPIPE, -EMSGSIZE, -EPROTO, or
 * UNIPC_CHANNEL_AGAIN_. */
static inline ssize_t unipc_channel_receive_attempt_(unipc_channel* c, void* buffer, size_t size) {
  uint32_t start, length, next;
  int found = unipc_channel_next_(c, c->own_head, &start, &length, &next);
  if (found < 0) return found;
  if (found == 0) return unipc_channel_ended_(c);
  if (length > size) return -EMSGSIZE;
  if (length > 0) memcpy(buffer, c->ring + start, length);
  unipc_channel_advance_head_(c, next);
  return (ssize_t)length;
}

/* The consumer's check, after a quiet wait, for producers that died without closing. It first takes the
 * dead one's slot (compare and swap from the dead id to its own), so that it and a producer taking the
 * slot over never both act on the dead one; having won it, it sets PRODUCER_DIED if the bit is still set
 * (clear: a close killed before it freed its slot), clears the bit, and frees the slot. */
static inline void unipc_channel_reap_(unipc_channel* c) {
  uint32_t me = unipc_gettid_();
  uint32_t mask = unipc_channel_load_(c, UNIPC_CHANNEL_W_PRODUCER_MASK);
  for (int slot = 0; slot < UNIPC_CHANNEL_MAX_PRODUCERS; slot++) {
    uint32_t bit = 1u << slot;
    if ((mask & bit) == 0) continue;
    uint32_t* word = &c->words[UNIPC_CHANNEL_W_PRODUCER_SLOTS + slot];
    uint32_t tid = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    if (tid == 0 || !unipc_thread_gone_(tid)) continue;
    if (!unipc_cas_(word, tid, me)) continue;
    if (unipc_channel_load_(c, UNIPC_CHANNEL_W_PRODUCER_MASK) & bit)
      __atomic_fetch_or(&c->words[UNIPC_CHANNEL_W_STATE], UNIPC_CHANNEL_PRODUCER_DIED, __ATOMIC_SEQ_CST);
    __atomic_fetch_and(&c->words[UNIPC_CHANNEL_W_PRODUCER_MASK], ~bit, __ATOMIC_SEQ_CST);
    unipc_cas_(word, me, 0);
  }
}

/* The peer check after a quiet wait: a producer fails with -EPIPE when the consumer's thread is gone (a
 * consumer of 0, nobody yet, is not checked); the consumer reaps dead producers. */
static inline int unipc_channel_check_peer_(unipc_channel* c, int producer) {
  if (!producer) {
    unipc_channel_reap_(c);
    return 0;
  }
  if (unipc_channel_load_(c, UNIPC_CHANNEL_W_STATE) & UNIPC_CHANNEL_CONSUMER_CLOSED) return 0;
  uint32_t tid = unipc_channel_load_(c, UNIPC_CHANNEL_W_CONSUMER);
  return tid != 0 && unipc_thread_gone_(tid) ? -EPIPE : 0;
}

/* Spins while the other side's index holds the value that made this side wait (a producer: the head its
 * full ring showed; the consumer: its own head). 1 with *value set, to sleep on; 0 when the index moved.
 * Records this thread's CPU first, and does not spin when the peer last waited on the same CPU. */
static inline int unipc_channel_spin_(unipc_channel* c, int producer, uint32_t* value) {
  int index = producer ? UNIPC_CHANNEL_W_HEAD : UNIPC_CHANNEL_W_TAIL;
  int own = producer ? UNIPC_CHANNEL_W_PRODUCER_CPU : UNIPC_CHANNEL_W_CONSUMER_CPU;
  int peer = producer ? UNIPC_CHANNEL_W_CONSUMER_CPU : UNIPC_CHANNEL_W_PRODUCER_CPU;
  uint32_t waiting_for = producer ? c->full_at : c->own_head;
  *value = waiting_for;
  int32_t here = unipc_channel_cpu_();
  unipc_channel_thread_cpu_ = here;
  if (unipc_channel_peek_(c, own) != (uint32_t)here) unipc_channel_poke_(c, own, (uint32_t)here);
  if (c->spin == 0 || (here >= 0 && unipc_channel_peek_(c, peer) == (uint32_t)here))
    return unipc_channel_load_(c, index) == waiting_for;
  for (uint32_t spin = 0; spin < c->spin; spin++) {
    if (unipc_channel_load_(c, index) != waiting_for) return 0;
  }
  return 1;
}

/* Whether, after announcing that it sleeps, this side has something to do after all. */
static inline int unipc_channel_moved_(unipc_channel* c, int producer, uint32_t value) {
  if (unipc_channel_load_(c, producer ? UNIPC_CHANNEL_W_HEAD : UNIPC_CHANNEL_W_TAIL) != value) return 1;
  return !producer && unipc_channel_ended_(c) != UNIPC_CHANNEL_AGAIN_;
}

/*
 * The waiting protocol of docs/channel.md ("Waiting") around one side's attempts: attempt (a producer of
 * a multi-producer channel under the producers' lock, released again after a failed attempt); while that
 * cannot proceed, spin, add 1 to this side's waiting count, read the other side's end word, look once
 * more, sleep on the index and the end word for at most 100 ms, subtract 1. After a sleep that timed out,
 * and one more failed attempt, check the peer. timeout_ms < 0 waits for good, 0 makes one attempt
 * (-EAGAIN if it cannot proceed; a multi-producer send then only tries the lock).
 */
static inline ssize_t unipc_channel_wait_(unipc_channel* c, int producer, int timeout_ms, const void* data,
                                          void* buffer, size_t size) {
  struct timespec deadline = {0, 0};
  if (timeout_ms > 0) deadline = unipc_channel_after_((long long)timeout_ms * 1000000LL);
  unipc_mutex* lock =
      producer && c->multiple_producers ? (unipc_mutex*)(void*)&c->words[UNIPC_CHANNEL_W_PRODUCER_LOCK] : NULL;
  int index = producer ? UNIPC_CHANNEL_W_HEAD : UNIPC_CHANNEL_W_TAIL;
  int ends = producer ? UNIPC_CHANNEL_W_STATE : UNIPC_CHANNEL_W_PRODUCER_MASK;
  int waiting = producer ? UNIPC_CHANNEL_W_PRODUCER_WAITING : UNIPC_CHANNEL_W_CONSUMER_WAITING;
  int quiet = 0;
  for (;;) {
    if (lock != NULL) {
      int r =
          timeout_ms == 0 ? unipc_mutex_trylock(lock) : unipc_mutex_timedlock(lock, timeout_ms > 0 ? &deadline : NULL);
      if (r == EOWNERDEAD) {
        /* The dead owner published nothing, or everything: the ring needs no repair. */
        unipc_mutex_consistent(lock);
      } else if (r == EBUSY) {
        return -EAGAIN;
      } else if (r != 0) {
        return -r;
      }
    }
    ssize_t result =
        producer ? unipc_channel_send_attempt_(c, data, size) : unipc_channel_receive_attempt_(c, buffer, size);
    if (lock != NULL) unipc_mutex_unlock(lock);
    if (result != UNIPC_CHANNEL_AGAIN_ || timeout_ms == 0) return result;
    if (quiet) {
      int r = unipc_channel_check_peer_(c, producer);
      if (r != 0) return r;
    }
    uint32_t value;
    if (!unipc_channel_spin_(c, producer, &value)) continue;
    __atomic_fetch_add(&c->words[waiting], 1, __ATOMIC_SEQ_CST);
    uint32_t other = unipc_channel_load_(c, ends); /* read before the last look */
    if (unipc_channel_moved_(c, producer, value)) {
      __atomic_fetch_sub(&c->words[waiting], 1, __ATOMIC_SEQ_CST);
      continue;
    }
    struct timespec slice = unipc_channel_after_(UNIPC_CHANNEL_SLICE_NS);
    if (timeout_ms > 0) {
      struct timespec now = unipc_channel_after_(0);
      if (!unipc_channel_before_(&now, &deadline)) {
        __atomic_fetch_sub(&c->words[waiting], 1, __ATOMIC_SEQ_CST);
        return -ETIMEDOUT;
      }
      if (unipc_channel_before_(&deadline, &slice)) slice = deadline;
    }
    int slept = unipc_channel_sleep_(&c->words[index], value, &c->words[ends], other, &slice);
    __atomic_fetch_sub(&c->words[waiting], 1, __ATOMIC_SEQ_CST);
    if (slept != 0 && slept != -EAGAIN && slept != -ETIMEDOUT) return slept;
    quiet = slept == -ETIMEDOUT;
  }
}

/*
 * Sends the `n` bytes at `data` as one message (n may be 0), waiting while the ring is full: for good
 * when timeout_ms < 0, at most timeout_ms milliseconds otherwise, not at all when it is 0. The first send
 * makes this end a producer (unipc_channel_claim). A waiting producer checks every 100 ms of quiet that
 * the consumer's thread lives. 0; -EAGAIN (timeout_ms 0 and no room now, or another producer holds the
 * lock); -ETIMEDOUT; -EPIPE (the consumer closed, or died while this end waited); -EMSGSIZE (n above
 * max_message_size); -EBUSY (no producer slot free); -EINVAL (this end is the consumer); -EBADF (closed);
 * -ENOTRECOVERABLE or -EDEADLK from the producers' lock (unipc_mutex_lock), and other -errno of futex(2)
 * and futex_waitv(2).
 */
static inline int unipc_channel_send(unipc_channel* c, const void* data, size_t n, int timeout_ms) {
  if (c->closed || c->words == NULL) return -EBADF;
  if (n > c->max_message_size) return -EMSGSIZE;
  if (c->role != UNIPC_CHANNEL_PRODUCER) {
    int r = unipc_channel_claim(c, UNIPC_CHANNEL_PRODUCER);
    if (r != 0) return r;
  }
  return (int)unipc_channel_wait_(c, 1, timeout_ms, data, NULL, n);
}

/*
 * Receives the next message into `buffer` (`size` bytes; max_message_size always suffice), waiting for one
 * as unipc_channel_send waits for room (timeout_ms: < 0 for good, 0 not at all). The first receive makes
 * this end the consumer. Returns the message's length (0 for an empty message); UNIPC_CHANNEL_END once
 * every producer has closed and everything sent is received (the channel ended: state says a producer
 * attached and producerMask is 0); -EPIPE when it ended because a producer died without closing (a
 * waiting consumer checks every 100 ms of quiet; a try, timeout_ms 0, never does); -EMSGSIZE (the message
 * is longer than `size`: it stays in the channel); -EAGAIN (timeout_ms 0 and none there now);
 * -ETIMEDOUT; -EPROTO (a damaged record); -EBUSY (another live consumer); -EINVAL (this end is a
 * producer); -EBADF (closed); other -errno of futex(2) and futex_waitv(2). The end is not final: a
 * producer that attaches later (a restarted one) sends to a consumer that receives again.
 */
static inline ssize_t unipc_channel_receive(unipc_channel* c, void* buffer, size_t size, int timeout_ms) {
  if (c->closed || c->words == NULL) return -EBADF;
  if (c->role != UNIPC_CHANNEL_CONSUMER) {
    int r = unipc_channel_claim(c, UNIPC_CHANNEL_CONSUMER);
    if (r != 0) return r;
  }
  return unipc_channel_wait_(c, 0, timeout_ms, NULL, buffer, size);
}

/*
 * Closes this end. A producer clears its bit in producerMask, then its slot (compare and swap from its own
 * id; killed in between, it leaves its dead id under a clear bit, which reads as the close it was), and
 * wakes one sleeper on tail and one on producerMask: the consumer drains what was sent and then, once no
 * producer is left, sees the end. The consumer sets CONSUMER_CLOSED in state (for good) and wakes
 * every sleeper on head and state: sends fail with -EPIPE from then on. An end that claimed no role writes
 * nothing. Unmaps the memory if unipc_channel_map, _open or _create_named mapped it (munmap(2)); twice is
 * harmless. Always 0.
 */
static inline int unipc_channel_close(unipc_channel* c) {
  if (c->closed || c->words == NULL) return 0;
  c->closed = 1;
  if (c->role == UNIPC_CHANNEL_PRODUCER) {
    uint32_t bit = 1u << c->slot;
    __atomic_fetch_and(&c->words[UNIPC_CHANNEL_W_PRODUCER_MASK], ~bit, __ATOMIC_SEQ_CST);
    unipc_cas_(&c->words[UNIPC_CHANNEL_W_PRODUCER_SLOTS + c->slot], c->tid, 0);
    unipc_futex_wake_(&c->words[UNIPC_CHANNEL_W_TAIL], 1);
    unipc_futex_wake_(&c->words[UNIPC_CHANNEL_W_PRODUCER_MASK], 1);
  } else if (c->role == UNIPC_CHANNEL_CONSUMER) {
    __atomic_fetch_or(&c->words[UNIPC_CHANNEL_W_STATE], UNIPC_CHANNEL_CONSUMER_CLOSED, __ATOMIC_SEQ_CST);
    unipc_futex_wake_(&c->words[UNIPC_CHANNEL_W_HEAD], INT_MAX);
    unipc_futex_wake_(&c->words[UNIPC_CHANNEL_W_STATE], INT_MAX);
  }
  if (c->mapped) munmap(c->words, c->length);
  return 0;
}

#endif /* UNIPC_CHANNEL_H */
