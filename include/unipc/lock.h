/*
 * The locks of unipc (src/lock.ts) for C and C++ programs: the same bytes, the same protocol, so a C
 * program and Node processes can take the same Mutex, Semaphore and Condition in shared memory.
 * Layout and protocol: docs/locks.md. Header-only; Linux, GCC or Clang (uses __atomic builtins).
 *
 *   Mutex      4 bytes, 4-aligned: owner thread id (bits 0-29) | OWNER_DIED (bit 30) | WAITERS (bit 31)
 *   Semaphore  8 bytes, 4-aligned: count (int32), sleeping waiters (int32)
 *   Condition  8 bytes, 4-aligned: sequence (uint32), sleeping waiters (int32)
 *
 * All-zero bytes are an unlocked mutex, a semaphore with count 0 and a condition nobody waits on.
 */
#ifndef UNIPC_LOCK_H
#define UNIPC_LOCK_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__GLIBC__) && !defined(__USE_MISC)
#error \
    "unipc/lock.h needs syscall(2): compile with _GNU_SOURCE or _DEFAULT_SOURCE defined (e.g. -std=gnu11, or -D_DEFAULT_SOURCE with -std=c11)"
#endif

#define UNIPC_MUTEX_TID_MASK 0x3fffffffu
#define UNIPC_MUTEX_OWNER_DIED 0x40000000u
#define UNIPC_MUTEX_WAITERS 0x80000000u
#define UNIPC_MUTEX_NOT_RECOVERABLE UNIPC_MUTEX_TID_MASK
#ifndef UNIPC_SPIN_LIMIT
#define UNIPC_SPIN_LIMIT 1000 /* reads before sleeping; -DUNIPC_SPIN_LIMIT=n to change */
#endif
#define UNIPC_LIVENESS_INTERVAL_NS 100000000L
#define UNIPC_RECHECK_INTERVAL_NS 1000000000L

typedef struct {
  uint32_t word;
} unipc_mutex;
typedef struct {
  int32_t count;
  int32_t waiters;
} unipc_semaphore;
typedef struct {
  uint32_t sequence;
  int32_t waiters;
} unipc_condition;

static inline void unipc_forget_tid_(void);
static inline void unipc_register_atfork_(void) { pthread_atfork(NULL, NULL, unipc_forget_tid_); }

/* The calling thread's id, cached per thread (gettid is a system call); a forked child starts afresh. */
static __thread uint32_t unipc_tid_;
static inline void unipc_forget_tid_(void) { unipc_tid_ = 0; }
static inline uint32_t unipc_gettid_(void) {
  if (unipc_tid_ == 0) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, unipc_register_atfork_);
    unipc_tid_ = (uint32_t)syscall(SYS_gettid);
  }
  return unipc_tid_;
}

static inline long unipc_futex_wait_(void* word, uint32_t expected, const struct timespec* relative) {
  return syscall(SYS_futex, word, FUTEX_WAIT, expected, relative, NULL, 0);
}

static inline long unipc_futex_wake_(void* word, int count) {
  return syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
}

/* Whether a thread id names no running thread: gone (kill agrees, since /proc may hide other users'
 * processes), or a zombie. */
static inline int unipc_thread_gone_(uint32_t tid) {
  char path[64], buffer[512];
  snprintf(path, sizeof path, "/proc/%u/stat", tid);
  FILE* file = fopen(path, "r");
  if (file == NULL) return kill((pid_t)tid, 0) == -1 && errno == ESRCH;
  size_t n = fread(buffer, 1, sizeof buffer - 1, file);
  fclose(file);
  buffer[n] = '\0';
  char* paren = NULL;
  for (char* p = buffer; *p; p++)
    if (*p == ')') paren = p;
  if (paren == NULL || paren[1] == '\0') return 0;
  return paren[2] == 'Z' || paren[2] == 'X';
}

static inline int unipc_cas_(uint32_t* word, uint32_t expected, uint32_t desired) {
  return __atomic_compare_exchange_n(word, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* One try: 0 taken, EOWNERDEAD taken after a dead owner, ENOTRECOVERABLE, or EBUSY. */
static inline int unipc_mutex_attempt_(unipc_mutex* m, uint32_t tid, uint32_t extra) {
  uint32_t word = __atomic_load_n(&m->word, __ATOMIC_SEQ_CST);
  uint32_t owner = word & UNIPC_MUTEX_TID_MASK;
  if (owner == UNIPC_MUTEX_NOT_RECOVERABLE) return ENOTRECOVERABLE;
  if (owner != 0) return EBUSY;
  uint32_t next = tid | (word & (UNIPC_MUTEX_WAITERS | UNIPC_MUTEX_OWNER_DIED)) | extra;
  if (!unipc_cas_(&m->word, word, next)) return EBUSY;
  return (word & UNIPC_MUTEX_OWNER_DIED) ? EOWNERDEAD : 0;
}

/* 0, or EBUSY when held. EOWNERDEAD and ENOTRECOVERABLE as for unipc_mutex_lock. */
static inline int unipc_mutex_trylock(unipc_mutex* m) { return unipc_mutex_attempt_(m, unipc_gettid_(), 0); }

/*
 * unipc_mutex_lock with an absolute CLOCK_MONOTONIC deadline (NULL: none): also ETIMEDOUT once the
 * deadline has passed without the mutex (a dead owner is still found and taken over before it).
 */
static inline int unipc_mutex_timedlock(unipc_mutex* m, const struct timespec* deadline) {
  uint32_t tid = unipc_gettid_();
  uint32_t contended = 0;
  for (;;) {
    int r = unipc_mutex_attempt_(m, tid, contended);
    if (r != EBUSY) return r;
    uint32_t word = __atomic_load_n(&m->word, __ATOMIC_SEQ_CST);
    uint32_t owner = word & UNIPC_MUTEX_TID_MASK;
    if (owner == tid) return EDEADLK;
    int spin;
    for (spin = 0; spin < UNIPC_SPIN_LIMIT; spin++) {
      if ((__atomic_load_n(&m->word, __ATOMIC_SEQ_CST) & UNIPC_MUTEX_TID_MASK) == 0) break;
    }
    if (spin < UNIPC_SPIN_LIMIT) continue;
    word = __atomic_load_n(&m->word, __ATOMIC_SEQ_CST);
    owner = word & UNIPC_MUTEX_TID_MASK;
    if (owner == 0) continue;
    if (!(word & UNIPC_MUTEX_WAITERS) && !unipc_cas_(&m->word, word, word | UNIPC_MUTEX_WAITERS)) continue;
    struct timespec slice = {0, UNIPC_LIVENESS_INTERVAL_NS};
    if (deadline != NULL) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long long left = (long long)(deadline->tv_sec - now.tv_sec) * 1000000000LL + (deadline->tv_nsec - now.tv_nsec);
      if (left <= 0) return ETIMEDOUT;
      if (left < UNIPC_LIVENESS_INTERVAL_NS) slice.tv_nsec = (long)left;
    }
    long w = unipc_futex_wait_(&m->word, word | UNIPC_MUTEX_WAITERS, &slice);
    contended = UNIPC_MUTEX_WAITERS;
    if (w == -1 && errno == ETIMEDOUT && owner != UNIPC_MUTEX_NOT_RECOVERABLE) {
      uint32_t now = __atomic_load_n(&m->word, __ATOMIC_SEQ_CST);
      if ((now & UNIPC_MUTEX_TID_MASK) == owner && unipc_thread_gone_(owner) &&
          unipc_cas_(&m->word, now, tid | UNIPC_MUTEX_OWNER_DIED | UNIPC_MUTEX_WAITERS)) {
        return EOWNERDEAD;
      }
    }
  }
}

/*
 * 0 when taken; EOWNERDEAD when taken from an owner that died (repair the data, then
 * unipc_mutex_consistent); ENOTRECOVERABLE; EDEADLK if this thread holds it.
 */
static inline int unipc_mutex_lock(unipc_mutex* m) { return unipc_mutex_timedlock(m, NULL); }

/* After EOWNERDEAD: the data is repaired, so unlocking leaves a usable mutex. */
static inline void unipc_mutex_consistent(unipc_mutex* m) {
  __atomic_fetch_and(&m->word, ~UNIPC_MUTEX_OWNER_DIED, __ATOMIC_SEQ_CST);
}

/* 0, or EPERM if this thread does not hold it. */
static inline int unipc_mutex_unlock(unipc_mutex* m) {
  uint32_t tid = unipc_gettid_();
  if (unipc_cas_(&m->word, tid, 0)) return 0;
  uint32_t word = __atomic_load_n(&m->word, __ATOMIC_SEQ_CST);
  if ((word & UNIPC_MUTEX_TID_MASK) != tid) return EPERM;
  if (word & UNIPC_MUTEX_OWNER_DIED) {
    __atomic_store_n(&m->word, UNIPC_MUTEX_NOT_RECOVERABLE, __ATOMIC_SEQ_CST);
    unipc_futex_wake_(&m->word, INT_MAX);
    return 0;
  }
  if (__atomic_exchange_n(&m->word, 0, __ATOMIC_SEQ_CST) & UNIPC_MUTEX_WAITERS) unipc_futex_wake_(&m->word, 1);
  return 0;
}

static inline int unipc_semaphore_trywait(unipc_semaphore* s) {
  for (;;) {
    int32_t value = __atomic_load_n(&s->count, __ATOMIC_SEQ_CST);
    if (value <= 0) return EAGAIN;
    if (__atomic_compare_exchange_n(&s->count, &value, value - 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return 0;
  }
}

static inline void unipc_semaphore_wait(unipc_semaphore* s) {
  for (;;) {
    for (int spin = 0; spin < UNIPC_SPIN_LIMIT; spin++) {
      if (__atomic_load_n(&s->count, __ATOMIC_SEQ_CST) > 0 && unipc_semaphore_trywait(s) == 0) return;
    }
    /* Bounded: a wake used up by a waiter that then gave up is noticed at the next look. */
    struct timespec recheck = {UNIPC_RECHECK_INTERVAL_NS / 1000000000L, UNIPC_RECHECK_INTERVAL_NS % 1000000000L};
    __atomic_fetch_add(&s->waiters, 1, __ATOMIC_SEQ_CST);
    unipc_futex_wait_(&s->count, 0, &recheck);
    __atomic_fetch_sub(&s->waiters, 1, __ATOMIC_SEQ_CST);
  }
}

/* 0, or EOVERFLOW past INT32_MAX. */
static inline int unipc_semaphore_post(unipc_semaphore* s) {
  for (;;) {
    int32_t value = __atomic_load_n(&s->count, __ATOMIC_SEQ_CST);
    if (value == INT32_MAX) return EOVERFLOW;
    if (__atomic_compare_exchange_n(&s->count, &value, value + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) break;
  }
  if (__atomic_load_n(&s->waiters, __ATOMIC_SEQ_CST) > 0) unipc_futex_wake_(&s->count, 1);
  return 0;
}

/* Releases m, sleeps until notified (or spuriously), takes m again: unipc_mutex_lock's result. */
static inline int unipc_condition_wait(unipc_condition* c, unipc_mutex* m) {
  uint32_t sequence = __atomic_load_n(&c->sequence, __ATOMIC_SEQ_CST);
  unipc_mutex_unlock(m);
  while (__atomic_load_n(&c->sequence, __ATOMIC_SEQ_CST) == sequence) {
    struct timespec recheck = {UNIPC_RECHECK_INTERVAL_NS / 1000000000L, UNIPC_RECHECK_INTERVAL_NS % 1000000000L};
    __atomic_fetch_add(&c->waiters, 1, __ATOMIC_SEQ_CST);
    long r = unipc_futex_wait_(&c->sequence, sequence, &recheck);
    __atomic_fetch_sub(&c->waiters, 1, __ATOMIC_SEQ_CST);
    if (r == 0) break; /* woken: possibly spuriously, which callers allow for */
  }
  return unipc_mutex_lock(m);
}

static inline void unipc_condition_notify(unipc_condition* c, int count) {
  __atomic_fetch_add(&c->sequence, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&c->waiters, __ATOMIC_SEQ_CST) > 0) unipc_futex_wake_(&c->sequence, count);
}

static inline void unipc_condition_notify_all(unipc_condition* c) { unipc_condition_notify(c, INT_MAX); }

#endif /* UNIPC_LOCK_H */
