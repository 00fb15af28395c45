/*
 * The shared-memory publish/subscribe topic of unipc (src/topic.ts) for C and C++ programs: the same bytes
 * and the same protocol, so a C program can be the publisher or a subscriber of a topic whose other ends
 * are Node processes (or other C programs). Layout and protocol: docs/channel.md, "Topic", which this
 * header follows word for word; it reuses the futex, clock and thread helpers of unipc/channel.h and
 * unipc/lock.h. Header-only; Linux, GCC or Clang (uses __atomic builtins); C99 or later, or C++.
 *
 *   unipc_topic t;
 *   int r = unipc_topic_map(&t, 3);                  // a memfd handed over as fd 3 (or unipc_topic_open)
 *   char buffer[65536];                              // at least t.max_message_size bytes
 *   for (;;) {
 *     ssize_t n = unipc_topic_receive(&t, buffer, sizeof buffer, -1);  // the first receive subscribes
 *     if (n == UNIPC_TOPIC_END) break;               // the publisher closed and all it sent is here
 *     if (n < 0) { errno = (int)-n; perror("receive"); break; } // -EPIPE: the publisher died
 *     use(buffer, (size_t)n);                        // unipc_topic_missed(&t): messages lost ('overwrite')
 *   }
 *   unipc_topic_close(&t);
 *
 * Every function returns 0 (or a length) on success and a negative errno on failure; none sets errno.
 * An end (unipc_topic) is used by one thread at a time, and its role is held by the thread that claimed it
 * (the first send or receive, or unipc_topic_claim): that thread's id is what the other ends check for
 * liveness (/proc/<tid>/stat, kill(2)), so the thread must live as long as the end does, and every end must
 * be in one PID namespace. On glibc before 2.34, unipc_topic_open and unipc_topic_create_named need -lrt
 * (shm_open(3)).
 *
 * Not here (yet): the Promise forms' polling, and spin "Infinity" (never sleeping). The CPU hints
 * (docs/channel.md, "CPU hints") tell the CPU a thread last started waiting on, as unipc/channel.h's do;
 * a waiter whose peer names its CPU does not spin (it does not yield either, as src/topic.ts does).
 */
#ifndef UNIPC_TOPIC_H
#define UNIPC_TOPIC_H

#include "channel.h"

#define UNIPC_TOPIC_MAGIC 0x50544e55u /* 'UNTP' in memory */
#define UNIPC_TOPIC_VERSION 1u
#define UNIPC_TOPIC_SLOTS_OFFSET 4096u   /* subscriber slot i: 64 bytes at 4096 + 64 i */
#define UNIPC_TOPIC_HISTORY_OFFSET 8192u /* the table, and the least memory a topic has */
#define UNIPC_TOPIC_MIN_CAPACITY 4096u
#define UNIPC_TOPIC_MAX_CAPACITY 0x40000000u
#define UNIPC_TOPIC_MAX_SUBSCRIBERS 64
#define UNIPC_TOPIC_MAX_HISTORY 4096u
#define UNIPC_TOPIC_RECORD_HEADER 8u /* a record's length word, then its sequence number */
#define UNIPC_TOPIC_WRAP 0xffffffffu /* a length word: the next record starts at offset 0 */

/* flags (byte 20) */
#define UNIPC_TOPIC_OVERWRITE 1u
/* state (byte 196) */
#define UNIPC_TOPIC_PUBLISHER_ATTACHED 1u
#define UNIPC_TOPIC_PUBLISHER_CLOSED 2u

/* Roles, for unipc_topic_claim. */
#define UNIPC_TOPIC_PUBLISHER 1
#define UNIPC_TOPIC_SUBSCRIBER 2

/* What unipc_topic_receive returns at the end of the topic: not an errno (those are 1 to 4095). */
#define UNIPC_TOPIC_END ((ssize_t)-65536)

#ifndef UNIPC_TOPIC_SPIN
#define UNIPC_TOPIC_SPIN 1000 /* reads of tail (a publisher: spin / 16 scans) before sleeping; -D to change */
#endif

/* The header's words: byte offset / 4 (docs/channel.md, "Topic", "Layout"). */
#define UNIPC_TOPIC_W_MAGIC 0
#define UNIPC_TOPIC_W_VERSION 1
#define UNIPC_TOPIC_W_CAPACITY 2
#define UNIPC_TOPIC_W_MAX_MESSAGE_SIZE 3
#define UNIPC_TOPIC_W_DATA_OFFSET 4
#define UNIPC_TOPIC_W_FLAGS 5
#define UNIPC_TOPIC_W_HISTORY 6
#define UNIPC_TOPIC_W_TAIL 16                                  /* byte 64 */
#define UNIPC_TOPIC_W_OLDEST 17                                /* byte 68 */
#define UNIPC_TOPIC_W_NEXT_SEQ 18                              /* byte 72 */
#define UNIPC_TOPIC_W_PUBLISHER_CPU 19                         /* byte 76: a hint, CPU + 1 */
#define UNIPC_TOPIC_W_SUBSCRIBER_WAITING 32                    /* byte 128 */
#define UNIPC_TOPIC_W_PUBLISHER_WAITING 33                     /* byte 132 */
#define UNIPC_TOPIC_W_RELEASED 34                              /* byte 136 */
#define UNIPC_TOPIC_W_PUBLISHER 48                             /* byte 192 */
#define UNIPC_TOPIC_W_STATE 49                                 /* byte 196 */
#define UNIPC_TOPIC_W_MASK_LOW 50                              /* byte 200 */
#define UNIPC_TOPIC_W_MASK_HIGH 51                             /* byte 204 */
#define UNIPC_TOPIC_W_SLOT_TID(slot) (1024 + 16 * (slot))      /* word 0 of slot i */
#define UNIPC_TOPIC_W_SLOT_POSITION(slot) (1025 + 16 * (slot)) /* word 1 of slot i */
#define UNIPC_TOPIC_W_SLOT_CPU(slot) (1026 + 16 * (slot))      /* word 2 of slot i: a hint, CPU + 1 */

#define UNIPC_TOPIC_AGAIN_ (-EAGAIN) /* an attempt that cannot proceed now */

/* One end of a topic. Fields other than `spin` are read-only to the caller. */
typedef struct {
  uint32_t* words;     /* the control page and the subscriber slots (2048 words) */
  uint32_t* table;     /* history + 2 words at byte 8192: where each of the last records starts */
  unsigned char* ring; /* capacity bytes at byte data_offset */
  size_t length;       /* bytes mapped at words */
  uint32_t capacity;   /* bytes of the ring, a power of two */
  uint32_t max_message_size;
  uint32_t history; /* how many of the latest messages a joiner gets first */
  uint32_t data_offset;
  int overwrite; /* the 'overwrite' policy (0: 'block') */
  uint32_t spin; /* reads before sleeping (UNIPC_TOPIC_SPIN); 0 sleeps at once; settable */
  int role;      /* 0 until claimed, UNIPC_TOPIC_PUBLISHER or UNIPC_TOPIC_SUBSCRIBER */
  int slot;      /* a subscriber's slot, or -1 */
  uint32_t tid;  /* the thread that claimed the role */
  int closed;
  int mapped; /* unipc_topic_map/open/create_named mapped it: close unmaps it */
  /* A subscriber's read index, the tail it last read, the sequence number it expects next, and how many
   * messages it lost in all. */
  uint32_t position;
  uint32_t known_tail;
  uint32_t expected;
  uint64_t missed;
  /* The publisher's own copies of tail, oldest and the next sequence number (it is their only writer),
   * the lowest subscriber position it last found ('block') and the `released` it saw then. */
  uint32_t tail;
  uint32_t oldest;
  uint32_t seq;
  uint32_t known_lowest;
  uint32_t released_at;
  uint32_t known_mask_low; /* the subscriber masks when known_lowest was found: a joiner may start below */
  uint32_t known_mask_high;
  int joined; /* joined with history and read nothing yet: the first record must be the one named */
} unipc_topic;

static inline uint32_t unipc_topic_load_(const unipc_topic* t, int word) {
  return __atomic_load_n(&t->words[word], __ATOMIC_SEQ_CST);
}
static inline void unipc_topic_store_(unipc_topic* t, int word, uint32_t value) {
  __atomic_store_n(&t->words[word], value, __ATOMIC_SEQ_CST);
}
/* A CPU hint (the CPU + 1, 0: not told): no ordering needed, and stored only when it changes. */
static inline void unipc_topic_tell_cpu_(unipc_topic* t, int word, uint32_t cpu) {
  if (__atomic_load_n(&t->words[word], __ATOMIC_RELAXED) != cpu)
    __atomic_store_n(&t->words[word], cpu, __ATOMIC_RELAXED);
}
/* What this thread tells as it publishes or moves its position: the CPU it last started waiting on, + 1. */
static inline uint32_t unipc_topic_thread_cpu_(void) {
  return unipc_channel_thread_cpu_ < 0 ? 0 : (uint32_t)unipc_channel_thread_cpu_ + 1;
}
/* A word of the ring: the record bytes, which the stores of tail and oldest order (plain accesses, made
 * atomic all the same since the other side may write them meanwhile). */
static inline uint32_t unipc_topic_ring_load_(const unipc_topic* t, uint32_t offset) {
  return __atomic_load_n((const uint32_t*)(const void*)(t->ring + offset), __ATOMIC_RELAXED);
}
static inline void unipc_topic_ring_store_(unipc_topic* t, uint32_t offset, uint32_t value) {
  __atomic_store_n((uint32_t*)(void*)(t->ring + offset), value, __ATOMIC_RELAXED);
}
/* The bytes a record of n bytes takes: its header, then n padded to a multiple of 4. */
static inline uint32_t unipc_topic_record_bytes_(uint32_t n) { return UNIPC_TOPIC_RECORD_HEADER + ((n + 3) & ~3u); }
/* The index where the lap after `index`'s starts (where a wrap word sends a reader). */
static inline uint32_t unipc_topic_next_lap_(const unipc_topic* t, uint32_t index) {
  return index + t->capacity - (index & (t->capacity - 1));
}

/*
 * Bytes of memory a topic with this capacity and history needs: dataOffset (8192 + 4 * (history + 2)
 * rounded up to 4096) + capacity. What unipc_topic_init wants, and what a creator gives its memfd or
 * shared memory object (ftruncate(2)). 0 for a history above 4096.
 */
static inline size_t unipc_topic_size(uint32_t capacity, uint32_t history) {
  if (history > UNIPC_TOPIC_MAX_HISTORY) return 0;
  return (size_t)UNIPC_TOPIC_HISTORY_OFFSET + (((size_t)history + 2) * 4 + 4095) / 4096 * 4096 + capacity;
}

/*
 * Opens an existing topic in `length` bytes mapped at `base` (readable and writable, MAP_SHARED; the caller
 * keeps the mapping, which must outlive the end). Checks the header as src/topic.ts does before writing
 * anything: -EPROTO for memory shorter than 8192 bytes, no magic number (not a topic, or one not made
 * yet: no retry), another layout version, or a damaged header (a capacity that is no power of two from
 * 4 KiB to 1 GiB, a maxMessageSize outside 1 to capacity / 2 - 12, a history above 4096, a data offset
 * other than the history gives, memory shorter than the data offset + capacity); -EINVAL for a `base`
 * that is NULL or not 4-aligned. Claims no role.
 */
static inline int unipc_topic_attach(unipc_topic* t, void* base, size_t length) {
  memset(t, 0, sizeof *t);
  t->slot = -1;
  t->spin = UNIPC_TOPIC_SPIN;
  if (base == NULL || ((uintptr_t)base & 3) != 0) return -EINVAL;
  if (length < UNIPC_TOPIC_HISTORY_OFFSET) return -EPROTO;
  uint32_t* words = (uint32_t*)base;
  if (__atomic_load_n(&words[UNIPC_TOPIC_W_MAGIC], __ATOMIC_SEQ_CST) != UNIPC_TOPIC_MAGIC) return -EPROTO;
  if (__atomic_load_n(&words[UNIPC_TOPIC_W_VERSION], __ATOMIC_RELAXED) != UNIPC_TOPIC_VERSION) return -EPROTO;
  uint32_t capacity = __atomic_load_n(&words[UNIPC_TOPIC_W_CAPACITY], __ATOMIC_RELAXED);
  uint32_t longest = __atomic_load_n(&words[UNIPC_TOPIC_W_MAX_MESSAGE_SIZE], __ATOMIC_RELAXED);
  uint32_t data = __atomic_load_n(&words[UNIPC_TOPIC_W_DATA_OFFSET], __ATOMIC_RELAXED);
  uint32_t history = __atomic_load_n(&words[UNIPC_TOPIC_W_HISTORY], __ATOMIC_RELAXED);
  if (capacity < UNIPC_TOPIC_MIN_CAPACITY || capacity > UNIPC_TOPIC_MAX_CAPACITY || (capacity & (capacity - 1)) != 0 ||
      longest < 1 || longest > capacity / 2 - 12 || history > UNIPC_TOPIC_MAX_HISTORY ||
      data != unipc_topic_size(0, history)) {
    return -EPROTO;
  }
  if (length - data < capacity) return -EPROTO;
  t->words = words;
  t->table = words + UNIPC_TOPIC_HISTORY_OFFSET / 4;
  t->ring = (unsigned char*)base + data;
  t->length = length;
  t->capacity = capacity;
  t->max_message_size = longest;
  t->history = history;
  t->data_offset = data;
  /* Undefined bits of flags are ignored. */
  t->overwrite = (__atomic_load_n(&words[UNIPC_TOPIC_W_FLAGS], __ATOMIC_RELAXED) & UNIPC_TOPIC_OVERWRITE) != 0;
  return 0;
}

/*
 * Makes a topic in `length` zero-filled bytes at `base` (a fresh memfd or POSIX shared memory object of
 * unipc_topic_size(capacity, history) bytes, mapped MAP_SHARED: ftruncate(2) zero-fills) and opens it, as
 * Topic.create() does: writes version, capacity, maxMessageSize (0: capacity / 4), dataOffset, flags
 * (UNIPC_TOPIC_OVERWRITE when `overwrite` is not 0) and history, and the magic number last. -EINVAL for a
 * capacity that is no power of two from 4 KiB to 1 GiB, a max_message_size above capacity / 2 - 12, a
 * history above 4096, memory shorter than unipc_topic_size(), or a `base` that is NULL or not 4-aligned;
 * -EEXIST when the memory has a magic number already (a topic, or memory that is not zero-filled).
 */
static inline int unipc_topic_init(unipc_topic* t, void* base, size_t length, uint32_t capacity,
                                   uint32_t max_message_size, int overwrite, uint32_t history) {
  if (base == NULL || ((uintptr_t)base & 3) != 0) return -EINVAL;
  if (capacity < UNIPC_TOPIC_MIN_CAPACITY || capacity > UNIPC_TOPIC_MAX_CAPACITY || (capacity & (capacity - 1)) != 0)
    return -EINVAL;
  if (max_message_size == 0) max_message_size = capacity / 4;
  if (max_message_size > capacity / 2 - 12) return -EINVAL;
  if (history > UNIPC_TOPIC_MAX_HISTORY) return -EINVAL;
  if (length < unipc_topic_size(capacity, history)) return -EINVAL;
  uint32_t* words = (uint32_t*)base;
  if (__atomic_load_n(&words[UNIPC_TOPIC_W_MAGIC], __ATOMIC_SEQ_CST) != 0) return -EEXIST;
  __atomic_store_n(&words[UNIPC_TOPIC_W_VERSION], UNIPC_TOPIC_VERSION, __ATOMIC_RELAXED);
  __atomic_store_n(&words[UNIPC_TOPIC_W_CAPACITY], capacity, __ATOMIC_RELAXED);
  __atomic_store_n(&words[UNIPC_TOPIC_W_MAX_MESSAGE_SIZE], max_message_size, __ATOMIC_RELAXED);
  __atomic_store_n(&words[UNIPC_TOPIC_W_DATA_OFFSET], (uint32_t)unipc_topic_size(0, history), __ATOMIC_RELAXED);
  __atomic_store_n(&words[UNIPC_TOPIC_W_FLAGS], overwrite ? UNIPC_TOPIC_OVERWRITE : 0u, __ATOMIC_RELAXED);
  __atomic_store_n(&words[UNIPC_TOPIC_W_HISTORY], history, __ATOMIC_RELAXED);
  __atomic_store_n(&words[UNIPC_TOPIC_W_MAGIC], UNIPC_TOPIC_MAGIC, __ATOMIC_SEQ_CST); /* last */
  return unipc_topic_attach(t, base, length);
}

/*
 * Maps the topic behind descriptor `fd` (a memfd handed over, or a POSIX shared memory object) and opens
 * it: unipc_topic_attach over the whole object; unipc_topic_close unmaps it. The descriptor stays the
 * caller's (it may be closed at once). -EPROTO as unipc_topic_attach (also for an object shorter than 8192
 * bytes); -errno of fstat(2) or mmap(2) (EBADF, EACCES for a read-only descriptor, ENOMEM).
 */
static inline int unipc_topic_map(unipc_topic* t, int fd) {
  memset(t, 0, sizeof *t);
  t->slot = -1;
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  if (st.st_size < (off_t)UNIPC_TOPIC_HISTORY_OFFSET) return -EPROTO;
  size_t length = (size_t)st.st_size;
  void* base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return -errno;
  int r = unipc_topic_attach(t, base, length);
  if (r != 0) {
    munmap(base, length);
    return r;
  }
  t->mapped = 1;
  return 0;
}

/*
 * Opens the named topic another process made (Topic.create({ name }) or unipc_topic_create_named):
 * shm_open(3) of `name` ('/name') for reading and writing, then unipc_topic_map. -ENOENT (no such name),
 * -EACCES, other -errno of shm_open(3); what unipc_topic_map returns.
 */
static inline int unipc_topic_open(unipc_topic* t, const char* name) {
  memset(t, 0, sizeof *t);
  t->slot = -1;
  int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int r = unipc_topic_map(t, fd);
  close(fd);
  return r;
}

/*
 * Makes a named topic, as Topic.create({ name }) does: shm_open(3) of `name` with O_CREAT | O_EXCL and mode
 * 0600, ftruncate(2) to unipc_topic_size(capacity, history) bytes, mmap(2), unipc_topic_init. The name stays
 * until someone unlinks it (shm_unlink(3), Topic.unlink()); on failure it is unlinked again. -EEXIST (the
 * name is taken), -EINVAL as unipc_topic_init, other -errno of the calls.
 */
static inline int unipc_topic_create_named(unipc_topic* t, const char* name, uint32_t capacity,
                                           uint32_t max_message_size, int overwrite, uint32_t history) {
  memset(t, 0, sizeof *t);
  t->slot = -1;
  if (capacity < UNIPC_TOPIC_MIN_CAPACITY || capacity > UNIPC_TOPIC_MAX_CAPACITY || (capacity & (capacity - 1)) != 0 ||
      history > UNIPC_TOPIC_MAX_HISTORY)
    return -EINVAL;
  int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  size_t length = unipc_topic_size(capacity, history);
  int r = 0;
  void* base = MAP_FAILED;
  if (ftruncate(fd, (off_t)length) != 0) r = -errno;
  if (r == 0) {
    base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) r = -errno;
  }
  if (r == 0) r = unipc_topic_init(t, base, length, capacity, max_message_size, overwrite, history);
  close(fd);
  if (r != 0) {
    if (base != MAP_FAILED) munmap(base, length);
    shm_unlink(name);
    return r;
  }
  t->mapped = 1;
  return 0;
}

/* How many subscribers are attached now (a moment's count: they come and go; a dead one counts until a
 * waiting publisher notices, or a joiner takes its slot over). */
static inline int unipc_topic_subscribers(const unipc_topic* t) {
  return __builtin_popcount(unipc_topic_load_(t, UNIPC_TOPIC_W_MASK_LOW)) +
         __builtin_popcount(unipc_topic_load_(t, UNIPC_TOPIC_W_MASK_HIGH));
}

/* How many messages this subscriber lost in all: lapped by an 'overwrite' publisher, or, joining with
 * history, overwritten before it could read them. Messages are lost whole and counted, never torn. */
static inline uint64_t unipc_topic_missed(const unipc_topic* t) { return t->missed; }

/* Entries of the table: the last history + 2 records' indices, at their sequence numbers mod history + 2. */
static inline uint32_t unipc_topic_entries_(const unipc_topic* t) { return t->history + 2; }

/* The sequence number of the record at `tail` (published or not), given nextSeq and the table entry of
 * record nextSeq - 1, all read while tail held still (or by a publisher taking over): the publisher files
 * a record, stores nextSeq, then tail, so nextSeq is its number unless record nextSeq - 1 is filed at
 * `tail`. A fresh topic has no record -1. docs/channel.md, "Joining" and "Roles". */
static inline uint32_t unipc_topic_number_at_(uint32_t tail, uint32_t next, uint32_t entry) {
  if (next == 0 && tail == 0) return 0;
  return entry == tail ? next - 1 : next;
}

static inline uint32_t unipc_topic_entry_(const unipc_topic* t, uint32_t seq) {
  return __atomic_load_n(&t->table[seq % unipc_topic_entries_(t)], __ATOMIC_SEQ_CST);
}

/* The publisher's claim: compare and swap `publisher` from 0 or from a thread that is gone, then
 * PUBLISHER_ATTACHED in state; it goes on from tail, oldest and nextSeq as they are. */
static inline uint32_t unipc_topic_lowest_behind_(const unipc_topic* t, uint32_t tail);

static inline int unipc_topic_attach_publisher_(unipc_topic* t) {
  if (unipc_topic_load_(t, UNIPC_TOPIC_W_STATE) & UNIPC_TOPIC_PUBLISHER_CLOSED) return -EPIPE;
  uint32_t tid = unipc_gettid_();
  uint32_t current = unipc_topic_load_(t, UNIPC_TOPIC_W_PUBLISHER);
  if (current != 0 && !unipc_thread_gone_(current)) return -EBUSY;
  if (!unipc_cas_(&t->words[UNIPC_TOPIC_W_PUBLISHER], current, tid)) return -EBUSY;
  __atomic_fetch_or(&t->words[UNIPC_TOPIC_W_STATE], UNIPC_TOPIC_PUBLISHER_ATTACHED, __ATOMIC_SEQ_CST);
  /* A close that came between the first look and the swap cleared `publisher`, which let this one in. */
  if (unipc_topic_load_(t, UNIPC_TOPIC_W_STATE) & UNIPC_TOPIC_PUBLISHER_CLOSED) {
    unipc_cas_(&t->words[UNIPC_TOPIC_W_PUBLISHER], tid, 0);
    return -EPIPE;
  }
  t->tid = tid;
  t->tail = unipc_topic_load_(t, UNIPC_TOPIC_W_TAIL);
  t->oldest = unipc_topic_load_(t, UNIPC_TOPIC_W_OLDEST);
  /* A publisher that died between its stores of nextSeq and tail numbered a record nobody can see. */
  uint32_t next = unipc_topic_load_(t, UNIPC_TOPIC_W_NEXT_SEQ);
  t->seq = unipc_topic_number_at_(t->tail, next, unipc_topic_entry_(t, next - 1));
  /* Subscribers may not have read what the predecessor sent: 'block' holds for them from the start. */
  t->known_lowest = t->tail - unipc_topic_lowest_behind_(t, t->tail);
  return 0;
}

/* Where a joining subscriber starts: with history h and something sent, the record min(h, nextSeq) back,
 * from the table, read again should nextSeq have moved far enough for the entry to be reused meanwhile;
 * else the tail, read with nextSeq and the entry of record nextSeq - 1 between two reads of it that agree. */
static inline void unipc_topic_start_(unipc_topic* t) {
  for (;;) {
    uint32_t next = unipc_topic_load_(t, UNIPC_TOPIC_W_NEXT_SEQ);
    uint32_t back = t->history < next ? t->history : next;
    if (back == 0) break;
    uint32_t first = next - back;
    uint32_t start = unipc_topic_entry_(t, first);
    if (unipc_topic_load_(t, UNIPC_TOPIC_W_NEXT_SEQ) - first >= unipc_topic_entries_(t)) continue;
    t->position = start;
    t->expected = first;
    t->known_tail = start;
    t->joined = 1;
    return;
  }
  uint32_t tail, next, entry;
  do {
    tail = unipc_topic_load_(t, UNIPC_TOPIC_W_TAIL);
    next = unipc_topic_load_(t, UNIPC_TOPIC_W_NEXT_SEQ);
    entry = unipc_topic_entry_(t, next - 1);
  } while (unipc_topic_load_(t, UNIPC_TOPIC_W_TAIL) != tail);
  t->position = tail;
  t->expected = unipc_topic_number_at_(tail, next, entry);
  t->known_tail = tail;
}

/* A subscriber's claim: a free slot (compare and swap 0 -> tid), else the slot of a thread that is gone;
 * its start, stored in the slot before its mask bit is set, so the publisher never counts a position the
 * subscriber did not write. */
static inline int unipc_topic_attach_subscriber_(unipc_topic* t) {
  uint32_t tid = unipc_gettid_();
  for (int take_over = 0; take_over < 2; take_over++) {
    for (int slot = 0; slot < UNIPC_TOPIC_MAX_SUBSCRIBERS; slot++) {
      uint32_t* word = &t->words[UNIPC_TOPIC_W_SLOT_TID(slot)];
      uint32_t current = __atomic_load_n(word, __ATOMIC_SEQ_CST);
      if (take_over ? current == 0 || !unipc_thread_gone_(current) : current != 0) continue;
      if (!unipc_cas_(word, current, tid)) continue;
      unipc_topic_start_(t);
      unipc_topic_store_(t, UNIPC_TOPIC_W_SLOT_POSITION(slot), t->position);
      __atomic_fetch_or(&t->words[slot < 32 ? UNIPC_TOPIC_W_MASK_LOW : UNIPC_TOPIC_W_MASK_HIGH], 1u << (slot & 31),
                        __ATOMIC_SEQ_CST);
      t->slot = slot;
      t->tid = tid;
      return 0;
    }
  }
  return -EBUSY;
}

/*
 * Makes this end the topic's publisher or a subscriber now, rather than at the first send or receive
 * (Topic's `role` option): a subscriber then receives every message sent from now on (with history, the
 * last few before too). `role` is UNIPC_TOPIC_PUBLISHER or UNIPC_TOPIC_SUBSCRIBER. The calling thread
 * holds the role. 0 (also when this end holds the role already); -EBUSY (a live publisher exists; 64
 * subscribers are attached); -EPIPE (a publisher: the topic's publisher closed it, for good); -EINVAL
 * (another role, or an unknown one); -EBADF (closed).
 */
static inline int unipc_topic_claim(unipc_topic* t, int role) {
  if (t->closed || t->words == NULL) return -EBADF;
  if (role != UNIPC_TOPIC_PUBLISHER && role != UNIPC_TOPIC_SUBSCRIBER) return -EINVAL;
  if (t->role != 0) return t->role == role ? 0 : -EINVAL;
  int r = role == UNIPC_TOPIC_PUBLISHER ? unipc_topic_attach_publisher_(t) : unipc_topic_attach_subscriber_(t);
  if (r != 0) return r;
  t->role = role;
  return 0;
}

/* After a subscriber made room (or left): the publisher, if it said it sleeps, looks again. */
static inline void unipc_topic_release_(unipc_topic* t) {
  if (unipc_topic_load_(t, UNIPC_TOPIC_W_PUBLISHER_WAITING) != 0) {
    __atomic_fetch_add(&t->words[UNIPC_TOPIC_W_RELEASED], 1, __ATOMIC_SEQ_CST);
    unipc_futex_wake_(&t->words[UNIPC_TOPIC_W_RELEASED], 1);
  }
}

/* Frees a subscriber's slot: its bit first, so the publisher stops counting its position, then the slot
 * (compare and swap from the id that held it; the bit goes back if a live subscriber took the slot over
 * meanwhile); then the publisher, if it waits, looks again. */
static inline void unipc_topic_leave_(unipc_topic* t, int slot, uint32_t tid) {
  uint32_t bit = 1u << (slot & 31);
  uint32_t* mask = &t->words[slot < 32 ? UNIPC_TOPIC_W_MASK_LOW : UNIPC_TOPIC_W_MASK_HIGH];
  __atomic_fetch_and(mask, ~bit, __ATOMIC_SEQ_CST);
  if (!unipc_cas_(&t->words[UNIPC_TOPIC_W_SLOT_TID(slot)], tid, 0)) __atomic_fetch_or(mask, bit, __ATOMIC_SEQ_CST);
  unipc_topic_release_(t);
}

/* The publisher's check after a quiet wait: subscribers whose threads are gone are let go. */
static inline void unipc_topic_reap_(unipc_topic* t) {
  for (int slot = 0; slot < UNIPC_TOPIC_MAX_SUBSCRIBERS; slot++) {
    uint32_t mask = unipc_topic_load_(t, slot < 32 ? UNIPC_TOPIC_W_MASK_LOW : UNIPC_TOPIC_W_MASK_HIGH);
    if ((mask & (1u << (slot & 31))) == 0) continue;
    uint32_t tid = unipc_topic_load_(t, UNIPC_TOPIC_W_SLOT_TID(slot));
    if (tid != 0 && unipc_thread_gone_(tid)) unipc_topic_leave_(t, slot, tid);
  }
}

/* The lowest position of the attached subscribers, as a distance back from `tail` (0 with none); a
 * position more than capacity behind (a subscriber lapped while it joined) is ignored. */
static inline uint32_t unipc_topic_lowest_behind_(const unipc_topic* t, uint32_t tail) {
  uint32_t behind = 0;
  for (int half = 0; half < 2; half++) {
    uint32_t mask = unipc_topic_load_(t, half == 0 ? UNIPC_TOPIC_W_MASK_LOW : UNIPC_TOPIC_W_MASK_HIGH);
    while (mask != 0) {
      int bit = __builtin_ctz(mask);
      mask &= mask - 1;
      uint32_t distance = tail - unipc_topic_load_(t, UNIPC_TOPIC_W_SLOT_POSITION(half * 32 + bit));
      if (distance <= t->capacity && distance > behind) behind = distance;
    }
  }
  return behind;
}

/* One send (docs/channel.md, "Publishing"): 0, UNIPC_TOPIC_AGAIN_ (no room now, 'block'), or -EPROTO (a
 * damaged record where oldest stands). */
static inline int unipc_topic_send_attempt_(unipc_topic* t, const void* data, uint32_t size) {
  uint32_t capacity = t->capacity;
  uint32_t tail = t->tail;
  uint32_t need = unipc_topic_record_bytes_(size);
  uint32_t position = tail & (capacity - 1);
  uint32_t skip = position + need > capacity ? capacity - position : 0;
  uint32_t end = tail + skip + need;
  /* 1. Room ('block'): the lowest position found last is looked for again only when it leaves too little. */
  if (!t->overwrite) {
    uint32_t low = unipc_topic_load_(t, UNIPC_TOPIC_W_MASK_LOW);
    uint32_t high = unipc_topic_load_(t, UNIPC_TOPIC_W_MASK_HIGH);
    if (low != t->known_mask_low || high != t->known_mask_high) {
      t->known_mask_low = low;
      t->known_mask_high = high;
      t->known_lowest = tail - unipc_topic_lowest_behind_(t, tail);
    }
  }
  if (!t->overwrite && end - t->known_lowest > capacity) {
    t->released_at = unipc_topic_load_(t, UNIPC_TOPIC_W_RELEASED);
    uint32_t lowest = tail - unipc_topic_lowest_behind_(t, tail);
    t->known_lowest = lowest;
    if (end - lowest > capacity) return UNIPC_TOPIC_AGAIN_;
  }
  /* 2. Oldest: records that start before end - capacity are about to be overwritten; move past them and
   * store oldest by a read-modify-write before any byte of the record is written. */
  uint32_t oldest = t->oldest;
  uint32_t limit = end - capacity;
  if ((int32_t)(limit - oldest) > 0) {
    do {
      uint32_t length = unipc_topic_ring_load_(t, oldest & (capacity - 1));
      if (length != UNIPC_TOPIC_WRAP && length > t->max_message_size) return -EPROTO;
      oldest =
          length == UNIPC_TOPIC_WRAP ? unipc_topic_next_lap_(t, oldest) : oldest + unipc_topic_record_bytes_(length);
    } while ((int32_t)(limit - oldest) > 0);
    t->oldest = oldest;
    __atomic_exchange_n(&t->words[UNIPC_TOPIC_W_OLDEST], oldest, __ATOMIC_SEQ_CST);
    /* The exchange orders what comes before it; this fence keeps the record's bytes, written next, from
     * being seen before it, for the C11 model (a compiler barrier on x86; dmb on arm64). A subscriber that
     * reads any of them and then, after its acquire fence, oldest, sees the new oldest. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
  }
  /* The hint first: nothing comes between the stores of nextSeq and tail, a line subscribers spin on. */
  unipc_topic_tell_cpu_(t, UNIPC_TOPIC_W_PUBLISHER_CPU, unipc_topic_thread_cpu_());
  /* 3. Write: the wrap word, the length, the sequence number, the bytes; the record's index in the table. */
  if (skip > 0) {
    unipc_topic_ring_store_(t, position, UNIPC_TOPIC_WRAP);
    position = 0;
  }
  uint32_t seq = t->seq;
  unipc_topic_ring_store_(t, position, size);
  unipc_topic_ring_store_(t, position + 4, seq);
  if (size > 0) memcpy(t->ring + position + UNIPC_TOPIC_RECORD_HEADER, data, size);
  __atomic_store_n(&t->table[seq % unipc_topic_entries_(t)], tail, __ATOMIC_SEQ_CST);
  /* 4. Publish: nextSeq, then tail; wake every sleeping subscriber. */
  t->seq = seq + 1;
  unipc_topic_store_(t, UNIPC_TOPIC_W_NEXT_SEQ, t->seq);
  t->tail = end;
  unipc_topic_store_(t, UNIPC_TOPIC_W_TAIL, end);
  if (unipc_topic_load_(t, UNIPC_TOPIC_W_SUBSCRIBER_WAITING) != 0)
    unipc_futex_wake_(&t->words[UNIPC_TOPIC_W_TAIL], INT_MAX);
  return 0;
}

/* Lapped: on from the oldest record still whole; its sequence number will say how many were lost. */
static inline void unipc_topic_relocate_(unipc_topic* t) {
  uint32_t oldest = unipc_topic_load_(t, UNIPC_TOPIC_W_OLDEST);
  t->position = oldest;
  t->known_tail = oldest;
  t->joined = 0;
  unipc_topic_store_(t, UNIPC_TOPIC_W_SLOT_POSITION(t->slot), oldest);
  if (!t->overwrite) unipc_topic_release_(t); /* a publisher may be waiting for this position */
}

/* With nothing to read: whether the publisher closed and nothing more is there (state, then tail again). */
static inline int unipc_topic_ended_(const unipc_topic* t) {
  if ((unipc_topic_load_(t, UNIPC_TOPIC_W_STATE) & UNIPC_TOPIC_PUBLISHER_CLOSED) == 0) return 0;
  return unipc_topic_load_(t, UNIPC_TOPIC_W_TAIL) == t->position;
}

/*
 * One receive into buffer (docs/channel.md, "Receiving"): the length, UNIPC_TOPIC_END, -EMSGSIZE, -EPROTO,
 * or UNIPC_TOPIC_AGAIN_. The record is copied, then checked against oldest: one the publisher began to
 * overwrite meanwhile is dropped, and the subscriber goes on from oldest, counting what it lost.
 */
static inline ssize_t unipc_topic_receive_attempt_(unipc_topic* t, void* buffer, size_t size) {
  uint32_t capacity = t->capacity;
  for (;;) {
    uint32_t first = t->position;
    if (first == t->known_tail) {
      t->known_tail = unipc_topic_load_(t, UNIPC_TOPIC_W_TAIL);
      if (first == t->known_tail) return unipc_topic_ended_(t) ? UNIPC_TOPIC_END : UNIPC_TOPIC_AGAIN_;
    }
    uint32_t tail = t->known_tail;
    if (tail - first > capacity) {
      unipc_topic_relocate_(t);
      continue;
    }
    uint32_t start = first;
    uint32_t offset = start & (capacity - 1);
    uint32_t length = unipc_topic_ring_load_(t, offset);
    if (length == UNIPC_TOPIC_WRAP) {
      start = unipc_topic_next_lap_(t, start);
      offset = 0;
      length = unipc_topic_ring_load_(t, 0);
    }
    /* Not trusted for the copy's bounds until checked: the bytes may be being overwritten. (A word at the
     * ring's last 4 bytes that is no wrap word is such a case: its number would lie past the ring.) */
    int sound = length <= t->max_message_size && offset + UNIPC_TOPIC_RECORD_HEADER + length <= t->capacity;
    uint32_t seq = sound ? unipc_topic_ring_load_(t, offset + 4) : 0;
    uint32_t next = sound ? start + unipc_topic_record_bytes_(length) : start;
    sound = sound && next - first <= tail - first;
    if (sound && length <= size && length > 0) memcpy(buffer, t->ring + offset + UNIPC_TOPIC_RECORD_HEADER, length);
    /* The copy's reads before the read of oldest: an acquire fence, then a load (docs/channel.md). */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint32_t oldest = unipc_topic_load_(t, UNIPC_TOPIC_W_OLDEST);
    if ((int32_t)(first - oldest) < 0) {
      unipc_topic_relocate_(t);
      continue;
    }
    if (!sound) return -EPROTO;
    /* A history start more than 2^32 bytes back can land anywhere, even on a record: the first record read
     * must be the one the table named. */
    if (t->joined && seq != t->expected) {
      unipc_topic_relocate_(t);
      continue;
    }
    if (length > size) return -EMSGSIZE;
    t->joined = 0;
    if (seq != t->expected) {
      int32_t lost = (int32_t)(seq - t->expected);
      if (lost < 0) return -EPROTO;
      t->missed += (uint64_t)lost;
    }
    t->expected = seq + 1;
    t->position = next;
    unipc_topic_tell_cpu_(t, UNIPC_TOPIC_W_SLOT_CPU(t->slot), unipc_topic_thread_cpu_());
    unipc_topic_store_(t, UNIPC_TOPIC_W_SLOT_POSITION(t->slot), next);
    if (!t->overwrite) unipc_topic_release_(t);
    return (ssize_t)length;
  }
}

/* The peer check after a quiet wait: the publisher lets dead subscribers go; a subscriber with nothing to
 * read fails with -EPIPE when the publisher's thread is gone (a publisher of 0 is not checked: nobody sent
 * yet, or it closed). */
static inline int unipc_topic_check_peer_(unipc_topic* t, int publisher) {
  if (publisher) {
    unipc_topic_reap_(t);
    return 0;
  }
  uint32_t tid = unipc_topic_load_(t, UNIPC_TOPIC_W_PUBLISHER);
  if (tid != 0 && unipc_thread_gone_(tid) && unipc_topic_load_(t, UNIPC_TOPIC_W_TAIL) == t->position) return -EPIPE;
  return 0;
}

/* Whether the peer last told `cpu` (the CPU + 1): for a subscriber the publisher, for the publisher any
 * attached subscriber. */
static inline int unipc_topic_peer_here_(const unipc_topic* t, int publisher, uint32_t cpu) {
  if (!publisher) return __atomic_load_n(&t->words[UNIPC_TOPIC_W_PUBLISHER_CPU], __ATOMIC_RELAXED) == cpu;
  for (int half = 0; half < 2; half++) {
    uint32_t mask = unipc_topic_load_(t, half == 0 ? UNIPC_TOPIC_W_MASK_LOW : UNIPC_TOPIC_W_MASK_HIGH);
    for (; mask != 0; mask &= mask - 1) {
      int slot = half * 32 + __builtin_ctz(mask);
      if (__atomic_load_n(&t->words[UNIPC_TOPIC_W_SLOT_CPU(slot)], __ATOMIC_RELAXED) == cpu) return 1;
    }
  }
  return 0;
}

/* Spins while this side cannot go on: a subscriber re-reads tail up to spin times while it equals its
 * position; the publisher rescans the positions up to spin / 16 times while the lowest stays. 1 with *value
 * set, to sleep on (the position; the `released` noted before the publisher's last look); 0 when things
 * moved. Tells this thread's CPU first, and does not spin when the peer runs on it (it could not move). */
static inline int unipc_topic_spin_(unipc_topic* t, int publisher, uint32_t* value) {
  int32_t here = unipc_channel_cpu_();
  unipc_channel_thread_cpu_ = here;
  uint32_t cpu = here < 0 ? 0 : (uint32_t)here + 1;
  if (publisher)
    unipc_topic_tell_cpu_(t, UNIPC_TOPIC_W_PUBLISHER_CPU, cpu);
  else if (t->slot >= 0)
    unipc_topic_tell_cpu_(t, UNIPC_TOPIC_W_SLOT_CPU(t->slot), cpu);
  uint32_t limit = cpu != 0 && unipc_topic_peer_here_(t, publisher, cpu) ? 0 : t->spin;
  if (!publisher) {
    uint32_t position = t->position;
    uint32_t reads = limit > 0 ? limit : 1;
    for (uint32_t spin = 0; spin < reads; spin++)
      if (unipc_topic_load_(t, UNIPC_TOPIC_W_TAIL) != position) return 0;
    *value = position;
    return 1;
  }
  uint32_t tail = t->tail;
  uint32_t reads = limit >> 4 > 0 ? limit >> 4 : 1;
  for (uint32_t spin = 0; spin < reads; spin++)
    if (tail - unipc_topic_lowest_behind_(t, tail) != t->known_lowest) return 0;
  *value = t->released_at;
  return 1;
}

/* Whether, after announcing that it sleeps, this side has something to do after all. */
static inline int unipc_topic_moved_(unipc_topic* t, int publisher, uint32_t value) {
  if (!publisher) return unipc_topic_load_(t, UNIPC_TOPIC_W_TAIL) != value || unipc_topic_ended_(t);
  uint32_t tail = t->tail;
  return tail - unipc_topic_lowest_behind_(t, tail) != t->known_lowest ||
         unipc_topic_load_(t, UNIPC_TOPIC_W_RELEASED) != value;
}

/* Sleeps on `word` alone while it holds `expected`, until woken or the absolute CLOCK_MONOTONIC deadline
 * (FUTEX_WAIT_BITSET, shared). EINTR restarts. 0, -EAGAIN, -ETIMEDOUT, or another -errno of futex(2). */
static inline int unipc_topic_sleep_one_(uint32_t* word, uint32_t expected, const struct timespec* deadline) {
  for (;;) {
    long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, deadline, NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == 0) return 0;
    if (errno == EINTR) continue;
    return -errno;
  }
}

/*
 * The waiting protocol of docs/channel.md ("Topic", "Waiting") around one side's attempts: attempt; while
 * that cannot proceed, spin, add 1 to this side's waiting count, (a subscriber) read state, look once
 * more, sleep for at most 100 ms (a subscriber on tail and state, the publisher on released), subtract 1.
 * After a sleep that timed out, and one more failed attempt, check the peers. timeout_ms < 0 waits for
 * good, 0 makes one attempt (-EAGAIN if it cannot proceed).
 */
static inline ssize_t unipc_topic_wait_(unipc_topic* t, int publisher, int timeout_ms, const void* data, void* buffer,
                                        size_t size) {
  struct timespec deadline = {0, 0};
  if (timeout_ms > 0) deadline = unipc_channel_after_((long long)timeout_ms * 1000000LL);
  int index = publisher ? UNIPC_TOPIC_W_RELEASED : UNIPC_TOPIC_W_TAIL;
  int waiting = publisher ? UNIPC_TOPIC_W_PUBLISHER_WAITING : UNIPC_TOPIC_W_SUBSCRIBER_WAITING;
  int quiet = 0;
  for (;;) {
    ssize_t result =
        publisher ? unipc_topic_send_attempt_(t, data, (uint32_t)size) : unipc_topic_receive_attempt_(t, buffer, size);
    if (result != UNIPC_TOPIC_AGAIN_ || timeout_ms == 0) return result;
    if (quiet) {
      int r = unipc_topic_check_peer_(t, publisher);
      if (r != 0) return r;
    }
    uint32_t value;
    if (!unipc_topic_spin_(t, publisher, &value)) continue;
    __atomic_fetch_add(&t->words[waiting], 1, __ATOMIC_SEQ_CST);
    uint32_t state = unipc_topic_load_(t, UNIPC_TOPIC_W_STATE); /* read before the last look */
    if (unipc_topic_moved_(t, publisher, value)) {
      __atomic_fetch_sub(&t->words[waiting], 1, __ATOMIC_SEQ_CST);
      continue;
    }
    struct timespec slice = unipc_channel_after_(UNIPC_CHANNEL_SLICE_NS);
    if (timeout_ms > 0) {
      struct timespec now = unipc_channel_after_(0);
      if (!unipc_channel_before_(&now, &deadline)) {
        __atomic_fetch_sub(&t->words[waiting], 1, __ATOMIC_SEQ_CST);
        return -ETIMEDOUT;
      }
      if (unipc_channel_before_(&deadline, &slice)) slice = deadline;
    }
    int slept = publisher
                    ? unipc_topic_sleep_one_(&t->words[index], value, &slice)
                    : unipc_channel_sleep_(&t->words[index], value, &t->words[UNIPC_TOPIC_W_STATE], state, &slice);
    __atomic_fetch_sub(&t->words[waiting], 1, __ATOMIC_SEQ_CST);
    if (slept != 0 && slept != -EAGAIN && slept != -ETIMEDOUT) return slept;
    quiet = slept == -ETIMEDOUT;
  }
}

/*
 * Publishes the `n` bytes at `data` as one message (n may be 0) to every attached subscriber. Under 'block'
 * it waits while the slowest subscriber is a whole ring behind: for good when timeout_ms < 0, at most
 * timeout_ms milliseconds otherwise, not at all when it is 0; a subscriber that died stops holding it back
 * after 100 to 200 ms. Under 'overwrite' it never waits. The first send makes this end the publisher
 * (unipc_topic_claim). 0; -EAGAIN (timeout_ms 0 and no room now); -ETIMEDOUT; -EMSGSIZE (n above
 * max_message_size); -EBUSY (another live publisher); -EPIPE (the topic's publisher closed it); -EINVAL
 * (this end is a subscriber); -EBADF (closed); -EPROTO (a damaged record in the ring); other -errno of
 * futex(2).
 */
static inline int unipc_topic_send(unipc_topic* t, const void* data, size_t n, int timeout_ms) {
  if (t->closed || t->words == NULL) return -EBADF;
  if (n > t->max_message_size) return -EMSGSIZE;
  if (t->role != UNIPC_TOPIC_PUBLISHER) {
    int r = unipc_topic_claim(t, UNIPC_TOPIC_PUBLISHER);
    if (r != 0) return r;
  }
  return (int)unipc_topic_wait_(t, 1, timeout_ms, data, NULL, n);
}

/*
 * Receives the next message into `buffer` (`size` bytes; max_message_size always suffice), waiting for one
 * as unipc_topic_send waits for room (timeout_ms: < 0 for good, 0 not at all). The first receive makes
 * this end a subscriber (unipc_topic_claim), which starts with the next message sent (with history, the
 * last few before). Returns the message's length (0 for an empty message); UNIPC_TOPIC_END once the
 * publisher closed and everything it sent is received; -EPIPE when the publisher died without closing and
 * everything it published is received (a waiting subscriber checks every 100 ms of quiet; a try,
 * timeout_ms 0, never does; not final: receives go on once a new publisher attaches); -EMSGSIZE (the
 * message is longer than `size`: it stays); -EAGAIN (timeout_ms 0 and none there now); -ETIMEDOUT;
 * -EPROTO (a damaged record); -EBUSY (64 subscribers already); -EINVAL (this end is the publisher); -EBADF
 * (closed); other -errno of futex(2) and futex_waitv(2). Messages lost to an 'overwrite' publisher are
 * counted in unipc_topic_missed(). The bytes of `buffer` past a returned length, or after an error, are
 * unspecified.
 */
static inline ssize_t unipc_topic_receive(unipc_topic* t, void* buffer, size_t size, int timeout_ms) {
  if (t->closed || t->words == NULL) return -EBADF;
  if (t->role != UNIPC_TOPIC_SUBSCRIBER) {
    int r = unipc_topic_claim(t, UNIPC_TOPIC_SUBSCRIBER);
    if (r != 0) return r;
  }
  return unipc_topic_wait_(t, 0, timeout_ms, NULL, buffer, size);
}

/*
 * Closes this end. The publisher sets PUBLISHER_CLOSED in state (for good: the topic has ended, and no
 * publisher may attach again), compares and swaps `publisher` from its own id to 0, and wakes every sleeper
 * on tail and state: subscribers receive what was sent, then UNIPC_TOPIC_END. A subscriber clears its mask
 * bit, then its slot, and wakes the publisher if it waits: it no longer holds the publisher back. An end
 * that claimed no role writes nothing. Unmaps the memory if unipc_topic_map, _open or _create_named mapped
 * it (munmap(2)); twice is harmless. Always 0.
 */
static inline int unipc_topic_close(unipc_topic* t) {
  if (t->closed || t->words == NULL) return 0;
  t->closed = 1;
  if (t->role == UNIPC_TOPIC_PUBLISHER) {
    __atomic_fetch_or(&t->words[UNIPC_TOPIC_W_STATE], UNIPC_TOPIC_PUBLISHER_CLOSED, __ATOMIC_SEQ_CST);
    unipc_cas_(&t->words[UNIPC_TOPIC_W_PUBLISHER], t->tid, 0);
    unipc_futex_wake_(&t->words[UNIPC_TOPIC_W_TAIL], INT_MAX);
    unipc_futex_wake_(&t->words[UNIPC_TOPIC_W_STATE], INT_MAX);
  } else if (t->role == UNIPC_TOPIC_SUBSCRIBER) {
    unipc_topic_leave_(t, t->slot, t->tid);
  }
  if (t->mapped) munmap(t->words, t->length);
  return 0;
}

#endif /* UNIPC_TOPIC_H */
