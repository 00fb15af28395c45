// Locks that live in shared memory: a robust Mutex, a counting Semaphore and a Condition, each a few
// 32-bit words at an offset of a Mapping, usable from every process and thread that maps the same pages.
//
// The words are read and changed with Atomics, so taking a free lock or releasing one nobody waits for
// costs no system call. Waiting sleeps in the kernel on a shared futex: the Sync forms on the calling
// thread, the Promise forms on a waiter thread of the waiting model (docs/design.md). The layout and the
// protocol are documented in docs/locks.md, for C programs that want to take the same locks.
import { performance } from 'node:perf_hooks';
import { E, IpcError, timeoutError } from './errors.js';
import { Queue, remaining, SharedWords, type SleepResult, threadGone, threadId } from './futex.js';
import type { Mapping } from './mmap.js';
import { constants } from './native.js';
import { invalidArgType, invalidArgValue, invalidState, validateInteger } from './validate.js';
import {
  AGAIN,
  abortedError,
  type Budget,
  budget,
  type RefOptions,
  type SyncWaitOptions,
  syncWaitOptions,
  type WaitOptions,
  waitOptions,
} from './wait.js';

// The mutex word, as in the kernel's robust futexes: owner thread id, owner-died flag, waiters flag.
const TID_MASK = constants.FUTEX_TID_MASK;
const OWNER_DIED = constants.FUTEX_OWNER_DIED;
const WAITERS = constants.FUTEX_WAITERS | 0;
// An owner id no thread can have (pid_max is at most 2^22): a mutex whose state was never made consistent.
const NOT_RECOVERABLE = TID_MASK;
const INT32_MAX = 0x7fffffff;

/**
 * Spins before sleeping: a waiter that finds the lock taken re-reads it this many times before it pays
 * for a futex sleep. An Atomics read of mapped memory costs ~5 ns from compiled JavaScript here (1000
 * reads in 5.3–5.9 µs, Node 20), so 1000 reads are well under half of the ~35 µs it costs to wake a
 * sleeper on the other CPU. Measured with bench/locks.ts (the spin sweep): throughput barely moves
 * between 0 and 5000, but below ~1000 a releasing process mostly takes the lock straight back (few
 * handoffs), above it spinning outlasts a wake.
 */
const SPIN_LIMIT = spinLimit();

// UNIPC_SPIN_LIMIT overrides the spin count, for measuring (bench/locks.ts sweeps it).
function spinLimit(): number {
  const value = Number(process.env.UNIPC_SPIN_LIMIT);
  return Number.isInteger(value) && value >= 0 && value <= 1e7 ? value : 1000;
}

/** How often a waiter for a mutex checks that its owner still lives (a dead owner is found this fast). */
const LIVENESS_INTERVAL_MS = 100;

/**
 * The longest a Semaphore or Condition waiter sleeps before looking at the word again. A wake can be
 * used up by a waiter that then gives up (killed just after waking, or a Promise-form wait whose thread
 * is blocked in a Sync one): the others notice the change within this time instead of never.
 */
const RECHECK_INTERVAL_MS = 1000;

/** @internal Mutex's guard-free forms, for the channel's producers' lock (src/channel.ts). */
export const kRelease = Symbol('release');
/** @internal */
export const kTryAcquire = Symbol('tryAcquire');
const kAcquire = Symbol('acquire');
/** @internal */
export const kMarkConsistent = Symbol('markConsistent');

/** What taking a mutex found: whether the previous owner had died holding it. */
interface Acquired {
  ownerDied: boolean;
}
const CLEAN: Acquired = Object.freeze({ ownerDied: false });
const AFTER_DEATH: Acquired = Object.freeze({ ownerDied: true });

function notRecoverable(): IpcError {
  return new IpcError(
    E.ENOTRECOVERABLE,
    'lock',
    {},
    'a previous owner died and its successor released the mutex without markConsistent(); reset() it once the data is repaired',
  );
}

/**
 * A held mutex. unlock() (or `using`) releases it; releasing twice is harmless.
 *
 * When `ownerDied` is true, the previous owner died holding the mutex (its process was killed, its
 * thread ended): the data it protects may be half-updated. Repair it, then call markConsistent(); a
 * mutex released without that becomes unusable ('ENOTRECOVERABLE'), as with POSIX robust mutexes.
 *
 * @example
 * ```ts
 * import { Mutex, SharedMemory } from 'unipc';
 *
 * using shm = SharedMemory.open('/inventory', { create: true, size: 4096 });
 * using map = shm.map();
 * const mutex = new Mutex(map, 0);
 * const stock = new Int32Array(map.buffer, 8, 2); // [on hand, reserved]: updated together
 * {
 *   using guard = await mutex.lock({ timeout: 1000 });
 *   if (guard.ownerDied) {
 *     stock[1] = 0; // its holder died mid-update: repair what the mutex protects …
 *     guard.markConsistent(); // … and say so, or the mutex becomes 'ENOTRECOVERABLE'
 *   }
 *   stock[0] -= 1;
 *   stock[1] += 1;
 * } // unlocked here
 * ```
 *
 * @see pthread_mutex_consistent(3), pthread_mutexattr_setrobust(3): the robust-mutex semantics it follows.
 */
export class MutexGuard implements Disposable {
  /** The mutex this guard holds, or held. */
  readonly mutex: Mutex;
  #held = true;
  #ownerDied: boolean;

  /** @internal Made by Mutex. */
  constructor(mutex: Mutex, acquired: Acquired) {
    this.mutex = mutex;
    this.#ownerDied = acquired.ownerDied;
  }

  /** Whether this guard still holds the mutex. */
  get held(): boolean {
    return this.#held;
  }

  /** Whether the previous owner died holding the mutex and the state has not been marked consistent. */
  get ownerDied(): boolean {
    return this.#ownerDied;
  }

  /**
   * Declares the protected data repaired after `ownerDied`, so that unlock() leaves a usable mutex.
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed); ERR_INVALID_STATE (the guard no longer holds
   *   the mutex).
   */
  markConsistent(): void {
    if (!this.#held) throw invalidStateError('markConsistent');
    this.mutex[kMarkConsistent]();
    this.#ownerDied = false;
  }

  /**
   * Releases the mutex (waking a waiter, if any); harmless when released already.
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed: release locks before closing it), 'EPERM' (the
   *   mutex is no longer this thread's, e.g. after a reset()).
   */
  unlock(): void {
    if (!this.#held) return;
    this.#held = false;
    this.mutex[kRelease]();
  }

  /**
   * unlock(), for `using`.
   *
   * @throws as unlock().
   */
  [Symbol.dispose](): void {
    this.unlock();
  }

  /** @internal Takes the mutex again for the same holder (Condition.wait). */
  async relock(): Promise<void> {
    this.#relocked(await this.mutex[kAcquire]({}));
  }

  /** @internal */
  relockSync(): void {
    this.#relocked(this.mutex.lockSyncAcquire({}));
  }

  #relocked(acquired: Acquired): void {
    this.#held = true;
    this.#ownerDied = acquired.ownerDied;
  }
}

// A guard is unipc's own notion: its misuse is a state error, not an errno (unlocking a mutex this thread
// does not own stays EPERM, as pthread_mutex_unlock() says for a robust mutex).
function invalidStateError(method: string): Error {
  return invalidState(`${method}(): the guard no longer holds the mutex`);
}

/**
 * A mutual-exclusion lock in 4 bytes of shared memory (zero-filled memory is an unlocked mutex).
 *
 * It is robust: the owner's thread id is in the word, and a waiter that finds the owner gone (killed,
 * exited, a worker that ended) takes the mutex with `ownerDied` set instead of waiting forever. Every
 * user must see the same thread ids, i.e. live in the same PID namespace.
 *
 * A thread cannot take a mutex it holds: lockSync() throws 'EDEADLK' there, while lock() waits for the
 * thread's own guard to be released (Promise forms of one thread may queue behind each other).
 *
 * The layout and the protocol, which C programs can follow (include/unipc/lock.h), are in docs/locks.md.
 *
 * @example
 * ```ts
 * import { Mutex, SharedMemory } from 'unipc';
 *
 * using shm = SharedMemory.open('/counters', { create: true, size: 4096 });
 * using map = shm.map();
 * const mutex = new Mutex(map, 0); // 4 bytes at offset 0: zero-filled memory is unlocked
 * const total = new Float64Array(map.buffer, 8, 1); // a float64 cannot be changed atomically: lock it
 * await mutex.withLock(() => {
 *   total[0] += 0.5; // no other process or thread is in here meanwhile
 * });
 * ```
 *
 * @see futex(2), pthread_mutexattr_setrobust(3)
 */
export class Mutex extends SharedWords {
  /** Bytes the mutex occupies. */
  static readonly SIZE = 4;
  /** Alignment it needs, in bytes. */
  static readonly ALIGNMENT = 4;

  // Promise-form lockers of this object queue here, so that at most one of them sleeps on a thread.
  readonly #queue = new Queue();

  /**
   * The mutex at `offset` of `mapping` (nothing is written: zero-filled memory is unlocked).
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed); argument errors (ERR_INVALID_ARG_VALUE also
   *   for a read-only mapping, an offset that is no multiple of 4, or one too close to its end).
   */
  constructor(mapping: Mapping, offset = 0) {
    super(mapping, offset, Mutex.SIZE);
  }

  /**
   * The owner's thread id, or 0 when unlocked (or not recoverable).
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed).
   */
  get owner(): number {
    this.ensureOpen('lock');
    const owner = Atomics.load(this.words, 0) & TID_MASK;
    return owner === NOT_RECOVERABLE ? 0 : owner;
  }

  /**
   * Takes the mutex if it is free: a guard, or null. Never sleeps.
   *
   * @throws {@link IpcError} 'ENOTRECOVERABLE' (left inconsistent: reset() it), 'EBADF' (the mapping is
   *   closed).
   */
  tryLock(): MutexGuard | null {
    this.ensureOpen('lock');
    const acquired = this.#attempt(threadId(), false);
    return acquired ? new MutexGuard(this, acquired) : null;
  }

  /**
   * Takes the mutex, waiting while another thread holds it (on a waiter thread: the event loop stays
   * free).
   *
   * @throws {@link IpcError} 'ENOTRECOVERABLE' (left inconsistent: reset() it), 'EBADF' (the mapping is
   *   closed, also while waiting), 'ETIMEDOUT' (`timeout`); {@link AbortError} (`signal`); argument errors.
   */
  lock(options?: WaitOptions & RefOptions): Promise<MutexGuard> {
    try {
      const checked = waitOptions(options);
      if (checked.signal?.aborted) return Promise.reject(abortedError(checked.signal));
      this.ensureOpen('lock');
      // Free and nobody of this object queued: no promise machinery beyond the one returned.
      const acquired = this.#queue.turnstile.busy ? undefined : this.#attempt(threadId(), false);
      if (acquired) return Promise.resolve(new MutexGuard(this, acquired));
      return this[kAcquire](checked).then((slow) => new MutexGuard(this, slow));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Takes the mutex, blocking the calling thread while another holds it.
   *
   * @throws {@link IpcError} 'EDEADLK' (this thread holds it), 'ENOTRECOVERABLE' (left inconsistent:
   *   reset() it), 'EBADF' (the mapping is closed), 'ETIMEDOUT' (`timeout`); argument errors.
   */
  lockSync(options?: SyncWaitOptions): MutexGuard {
    const checked = syncWaitOptions(options);
    this.ensureOpen('lock');
    return new MutexGuard(this, this.lockSyncAcquire(checked));
  }

  /**
   * Runs `fn` holding the mutex and releases it when `fn` (or the promise it returns) settles.
   *
   * @throws what lock() rejects with; what `fn` throws or rejects with; what the guard's unlock() throws
   *   (the mapping closed meanwhile: 'EBADF'); argument errors.
   */
  async withLock<T>(fn: (guard: MutexGuard) => T | PromiseLike<T>, options?: WaitOptions & RefOptions): Promise<T> {
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    using guard = await this.lock(options);
    return await fn(guard);
  }

  /**
   * Runs `fn` holding the mutex (taken with lockSync) and releases it when `fn` returns or throws.
   *
   * @throws what lockSync() throws; what `fn` throws; what the guard's unlock() throws (the mapping closed
   *   meanwhile: 'EBADF'); argument errors.
   */
  withLockSync<T>(fn: (guard: MutexGuard) => T, options?: SyncWaitOptions): T {
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    using guard = this.lockSync(options);
    return fn(guard);
  }

  /**
   * Writes the unlocked state and wakes every waiter. For memory being reused, and to make a mutex
   * usable again after 'ENOTRECOVERABLE' — only while no one holds it.
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed).
   */
  reset(): void {
    this.ensureOpen('lock');
    Atomics.store(this.words, 0, 0);
    this.wake(0, INT32_MAX);
  }

  // One try at taking the mutex; throws if it is not recoverable. `contended`: this locker has slept,
  // so others may still sleep too and the next unlock must wake one.
  #attempt(tid: number, contended: boolean): Acquired | undefined {
    const word = Atomics.load(this.words, 0);
    const owner = word & TID_MASK;
    if (owner === NOT_RECOVERABLE) throw notRecoverable();
    if (owner !== 0) return undefined;
    // Unowned; OWNER_DIED here means a C peer's robust-list exit handler released it for a dead owner.
    const next = tid | (word & (WAITERS | OWNER_DIED)) | (contended ? WAITERS : 0);
    if (Atomics.compareExchange(this.words, 0, word, next) !== word) return undefined;
    return word & OWNER_DIED ? AFTER_DEATH : CLEAN;
  }

  // Takes over a mutex whose owner `owner` has died, if the word still names it.
  #takeOver(owner: number, tid: number): Acquired | undefined {
    const word = Atomics.load(this.words, 0);
    if ((word & TID_MASK) !== owner || !threadGone(owner)) return undefined;
    const next = tid | OWNER_DIED | WAITERS;
    return Atomics.compareExchange(this.words, 0, word, next) === word ? AFTER_DEATH : undefined;
  }

  // The rest of one round of a wait for the mutex, after a try that failed (the callers try first, in
  // line, so that taking a free mutex costs them no further call): the protocol of docs/locks.md shared
  // by lockSync() and lock(). Gives up past the deadline, spins a while, marks the word as waited for.
  // Returns the acquisition (spinning took it), or the word value to sleep on (it names the owner), or
  // AGAIN when the mutex became free meanwhile. `contended`: this locker has gone round before, so
  // others may sleep too. `blocking`: a Sync locker, which cannot wait for a guard of its own thread
  // ('EDEADLK'); a Promise-form one waits for it.
  #lockRound(
    tid: number,
    contended: boolean,
    deadline: number | undefined,
    timeout: number | undefined,
    blocking: boolean,
  ): Acquired | number | typeof AGAIN {
    if (blocking && (Atomics.load(this.words, 0) & TID_MASK) === tid) {
      throw new IpcError(E.EDEADLK, 'lock', {}, 'this thread holds the mutex already');
    }
    if (deadline !== undefined && performance.now() >= deadline) throw timeoutError('lock', timeout!);
    for (let spin = 0; spin < SPIN_LIMIT; spin++) {
      if ((Atomics.load(this.words, 0) & TID_MASK) === 0) {
        const taken = this.#attempt(tid, contended);
        if (taken) return taken;
      }
    }
    const word = Atomics.load(this.words, 0);
    const owner = word & TID_MASK;
    if (owner === 0) return AGAIN;
    if (owner === NOT_RECOVERABLE) throw notRecoverable();
    if ((word & WAITERS) === 0 && Atomics.compareExchange(this.words, 0, word, word | WAITERS) !== word) return AGAIN;
    return word | WAITERS;
  }

  // After a sleep on `word` that timed out: the mutex, taken over if the owner the word names has died.
  // (An owner that is this thread lives: a Promise-form locker waits for its own thread's guard.)
  #afterSleep(result: SleepResult, word: number, tid: number): Acquired | undefined {
    const owner = word & TID_MASK;
    return result === 'timedout' && owner !== tid ? this.#takeOver(owner, tid) : undefined;
  }

  /** @internal The blocking acquisition of lockSync() and Condition.waitSync(). */
  lockSyncAcquire(options: SyncWaitOptions): Acquired {
    this.ensureOpen('lock');
    const tid = threadId();
    const deadline = options.timeout === undefined ? undefined : performance.now() + options.timeout;
    for (let contended = false; ; contended = true) {
      const acquired = this.#attempt(tid, contended);
      if (acquired) return acquired;
      const round = this.#lockRound(tid, contended, deadline, options.timeout, true);
      if (round === AGAIN) continue;
      if (typeof round !== 'number') return round;
      const result = this.sleepSync(0, round, remaining(deadline, LIVENESS_INTERVAL_MS));
      const takenOver = this.#afterSleep(result, round, tid);
      if (takenOver) return takenOver;
    }
  }

  /** @internal The Promise-form acquisition, queued behind this object's other Promise-form lockers. */
  async [kAcquire](options: WaitOptions & RefOptions): Promise<Acquired> {
    this.ensureOpen('lock');
    const tid = threadId();
    if (!this.#queue.turnstile.busy) {
      const acquired = this.#attempt(tid, false);
      if (acquired) return acquired;
    }
    const allowance: Budget = budget(options);
    this.#queue.join(options.ref);
    try {
      await this.#queue.turnstile.enter(allowance, 'lock');
      try {
        for (let contended = false; ; contended = true) {
          this.ensureOpen('lock');
          const acquired = this.#attempt(tid, contended);
          if (acquired) return acquired;
          const round = this.#lockRound(tid, contended, allowance.deadline, allowance.timeout, false);
          if (round === AGAIN) continue;
          if (typeof round !== 'number') return round;
          // Bounded even when this thread is the owner: the owner can change while this waiter sleeps.
          const slice = remaining(allowance.deadline, LIVENESS_INTERVAL_MS);
          const result = await this.sleep(0, round, slice, { signal: allowance.signal, queue: this.#queue });
          const takenOver = this.#afterSleep(result, round, tid);
          if (takenOver) return takenOver;
        }
      } finally {
        this.#queue.turnstile.leave();
      }
    } finally {
      this.#queue.leave(options.ref);
    }
  }

  /** @internal tryLock() without a guard: a hot path holds the mutex for a few lines and releases it. */
  [kTryAcquire](): Acquired | undefined {
    this.ensureOpen('lock');
    return this.#attempt(threadId(), false);
  }

  /** @internal */
  [kRelease](): void {
    this.ensureOpen('unlock');
    const tid = threadId();
    const word = Atomics.compareExchange(this.words, 0, tid, 0);
    if (word === tid) return;
    if ((word & TID_MASK) !== tid) {
      throw new IpcError(E.EPERM, 'unlock', {}, 'this thread does not own the mutex');
    }
    if (word & OWNER_DIED) {
      Atomics.store(this.words, 0, NOT_RECOVERABLE);
      this.wake(0, INT32_MAX);
      return;
    }
    if (Atomics.exchange(this.words, 0, 0) & WAITERS) this.wake(0, 1);
  }

  /** @internal */
  [kMarkConsistent](): void {
    this.ensureOpen('lock');
    Atomics.and(this.words, 0, ~OWNER_DIED);
  }
}

/**
 * A counting semaphore in 8 bytes of shared memory: the count, then the number of sleeping waiters.
 * Zero-filled memory is a semaphore with count 0; reset(n) sets another start value. Unlike a Mutex it
 * has no owner, so nothing is given back for a process that dies after wait() — use a System V
 * semaphore with `undo` for that.
 *
 * @example
 * ```ts
 * import { MemoryFile, Semaphore, spawn } from 'unipc';
 *
 * using file = MemoryFile.create('slots', { size: 4096 });
 * using map = file.map();
 * const slots = new Semaphore(map, 0);
 * slots.reset(4); // four holders at a time, in every process
 * // The worker takes the same semaphore: new Semaphore(MemoryFile.fromFd(3).map(), 0).
 * spawn(process.execPath, ['worker.js'], { stdio: 'inherit', fds: [file] });
 * await slots.wait({ timeout: 5000 }); // take one …
 * slots.post(); // … and give it back
 * ```
 *
 * @see futex(2), sem_overview(7): it behaves as a POSIX semaphore (sem_wait(3), sem_post(3)) in shared memory.
 */
export class Semaphore extends SharedWords {
  /** Bytes the semaphore occupies: the count, then the number of sleeping waiters. */
  static readonly SIZE = 8;
  /** Alignment it needs, in bytes. */
  static readonly ALIGNMENT = 4;
  /** The largest count. */
  static readonly MAX_VALUE = INT32_MAX;

  readonly #queue = new Queue();

  /**
   * The semaphore at `offset` of `mapping` (nothing is written: zero-filled memory has count 0).
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed); argument errors (ERR_INVALID_ARG_VALUE also
   *   for a read-only mapping, an offset that is no multiple of 4, or one too close to its end).
   */
  constructor(mapping: Mapping, offset = 0) {
    super(mapping, offset, Semaphore.SIZE);
  }

  /**
   * The current count.
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed).
   */
  get value(): number {
    this.ensureOpen('sem_getvalue');
    return Atomics.load(this.words, 0);
  }

  /**
   * Sets the count (before others use the semaphore, or to reinitialise it) and wakes waiters.
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed); argument errors.
   */
  reset(value = 0): void {
    validateInteger(value, 'value', 0, INT32_MAX);
    this.ensureOpen('sem_init');
    Atomics.store(this.words, 0, value);
    if (value > 0) this.wake(0, INT32_MAX);
  }

  /**
   * Takes one if the count is positive: true, or false without waiting.
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed).
   */
  tryWait(): boolean {
    this.ensureOpen('sem_trywait');
    return this.#take();
  }

  /**
   * Takes one, waiting (on a waiter thread) while the count is 0.
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed, also while waiting), 'ETIMEDOUT' (`timeout`);
   *   {@link AbortError} (`signal`); argument errors.
   */
  async wait(options?: WaitOptions & RefOptions): Promise<void> {
    const checked = waitOptions(options);
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    this.ensureOpen('sem_wait');
    if (!this.#queue.turnstile.busy && this.#take()) return;
    const allowance = budget(checked);
    this.#queue.join(checked.ref);
    try {
      await this.#queue.turnstile.enter(allowance, 'sem_wait');
      try {
        for (;;) {
          this.ensureOpen('sem_wait');
          if (this.#waitRound(allowance.deadline, allowance.timeout)) return;
          const slice = remaining(allowance.deadline, RECHECK_INTERVAL_MS);
          await this.sleep(0, 0, slice, { signal: allowance.signal, sleepers: 1, queue: this.#queue });
        }
      } finally {
        this.#queue.turnstile.leave();
      }
    } finally {
      this.#queue.leave(checked.ref);
    }
  }

  /**
   * Takes one, blocking the calling thread while the count is 0.
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed), 'ETIMEDOUT' (`timeout`); argument errors.
   */
  waitSync(options?: SyncWaitOptions): void {
    const { timeout } = syncWaitOptions(options);
    this.ensureOpen('sem_wait');
    const deadline = timeout === undefined ? undefined : performance.now() + timeout;
    for (;;) {
      if (this.#waitRound(deadline, timeout)) return;
      this.sleepSync(0, 0, remaining(deadline, RECHECK_INTERVAL_MS), 1);
    }
  }

  /**
   * Adds `count` (default 1) and wakes as many waiters.
   *
   * @throws {@link IpcError} 'EOVERFLOW' (past MAX_VALUE), 'EBADF' (the mapping is closed); argument
   *   errors.
   */
  post(count = 1): void {
    validateInteger(count, 'count', 1, INT32_MAX);
    this.ensureOpen('sem_post');
    for (;;) {
      const value = Atomics.load(this.words, 0);
      if (value > INT32_MAX - count) {
        throw new IpcError(E.EOVERFLOW, 'sem_post', {}, `the count would exceed ${INT32_MAX}`);
      }
      if (Atomics.compareExchange(this.words, 0, value, value + count) === value) break;
    }
    if (Atomics.load(this.words, 1) > 0) this.wake(0, count);
  }

  // One round of a wait, shared by waitSync() and wait(): true once one is taken (after spinning a
  // while); false to sleep, counted in `sleepers`, on the count being 0; 'ETIMEDOUT' past the deadline.
  #waitRound(deadline: number | undefined, timeout: number | undefined): boolean {
    if (this.#spinTake()) return true;
    if (deadline !== undefined && performance.now() >= deadline) throw timeoutError('sem_wait', timeout!);
    return false;
  }

  #take(): boolean {
    for (;;) {
      const value = Atomics.load(this.words, 0);
      if (value <= 0) return false;
      if (Atomics.compareExchange(this.words, 0, value, value - 1) === value) return true;
    }
  }

  #spinTake(): boolean {
    for (let spin = 0; spin < SPIN_LIMIT; spin++) {
      if (Atomics.load(this.words, 0) > 0 && this.#take()) return true;
    }
    return false;
  }
}

/**
 * A condition variable in 8 bytes of shared memory (a sequence number, then the number of sleepers),
 * used with a Mutex: wait() releases the mutex, sleeps until notified, and takes the mutex again before
 * it returns — also when it fails (timeout, abort). Wake-ups can be spurious: wait in a loop that
 * re-checks the condition, as with pthread_cond_wait.
 *
 * @example
 * ```ts
 * import { Condition, MemoryFile, Mutex } from 'unipc';
 *
 * using file = MemoryFile.create('queue', { size: 4096 });
 * using map = file.map();
 * const mutex = new Mutex(map, 0);
 * const nonEmpty = new Condition(map, 8);
 * const queued = new Int32Array(map.buffer, 16, 1);
 * // A consumer: wait, in a loop, until there is something; the mutex is released while it waits.
 * {
 *   using guard = await mutex.lock();
 *   while (queued[0] === 0) await nonEmpty.wait(guard, { timeout: 5000 });
 *   queued[0] -= 1;
 * }
 * // A producer, in any process or thread: under the mutex, queued[0] += 1, then nonEmpty.notify().
 * ```
 *
 * @see futex(2), pthread_cond_wait(3p)
 */
export class Condition extends SharedWords {
  /** Bytes the condition variable occupies: a sequence number, then the number of sleepers. */
  static readonly SIZE = 8;
  /** Alignment it needs, in bytes. */
  static readonly ALIGNMENT = 4;

  /**
   * The condition variable at `offset` of `mapping` (nothing is written: zero-filled memory will do).
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed); argument errors (ERR_INVALID_ARG_VALUE also
   *   for a read-only mapping, an offset that is no multiple of 4, or one too close to its end).
   */
  constructor(mapping: Mapping, offset = 0) {
    super(mapping, offset, Condition.SIZE);
  }

  /**
   * Releases `guard`'s mutex, waits (on a waiter thread) to be notified, and re-takes the mutex.
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed, also while waiting), 'ETIMEDOUT' (`timeout`),
   *   'ENOTRECOVERABLE' (re-taking a mutex left inconsistent); {@link AbortError} (`signal`); argument
   *   errors (ERR_INVALID_ARG_VALUE also for a guard that no longer holds its mutex).
   */
  async wait(guard: MutexGuard, options?: WaitOptions & RefOptions): Promise<void> {
    const checked = waitOptions(options);
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    const deadline = checked.timeout === undefined ? undefined : performance.now() + checked.timeout;
    const sequence = this.#begin(guard);
    let failure: unknown;
    try {
      while (this.#waitRound(sequence, deadline, checked.timeout)) {
        const slice = remaining(deadline, RECHECK_INTERVAL_MS);
        const result = await this.sleep(0, sequence, slice, { signal: checked.signal, ref: checked.ref, sleepers: 1 });
        if (result === 'woken') break; // possibly spuriously, which callers must allow for
      }
    } catch (error) {
      failure = error;
    }
    try {
      await guard.relock();
    } catch (error) {
      throw failure ?? error;
    }
    if (failure) throw failure;
  }

  /**
   * Releases `guard`'s mutex, blocks the calling thread until notified, and re-takes the mutex.
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed), 'ETIMEDOUT' (`timeout`), 'ENOTRECOVERABLE'
   *   (re-taking a mutex left inconsistent); argument errors (ERR_INVALID_ARG_VALUE also for a guard that
   *   no longer holds its mutex).
   */
  waitSync(guard: MutexGuard, options?: SyncWaitOptions): void {
    const { timeout } = syncWaitOptions(options);
    const deadline = timeout === undefined ? undefined : performance.now() + timeout;
    const sequence = this.#begin(guard);
    let failure: unknown;
    try {
      while (this.#waitRound(sequence, deadline, timeout)) {
        if (this.sleepSync(0, sequence, remaining(deadline, RECHECK_INTERVAL_MS), 1) === 'woken') break;
      }
    } catch (error) {
      failure = error;
    }
    try {
      guard.relockSync();
    } catch (error) {
      throw failure ?? error;
    }
    if (failure) throw failure;
  }

  /**
   * Wakes up to `count` waiters (default 1); returns how many were sleeping and woke.
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed); argument errors.
   */
  notify(count = 1): number {
    validateInteger(count, 'count', 1, INT32_MAX);
    this.ensureOpen('pthread_cond_signal');
    Atomics.add(this.words, 0, 1);
    return Atomics.load(this.words, 1) > 0 ? this.wake(0, count) : 0;
  }

  /**
   * Wakes every waiter.
   *
   * @throws {@link IpcError} 'EBADF' (the mapping is closed).
   */
  notifyAll(): number {
    this.ensureOpen('pthread_cond_broadcast');
    Atomics.add(this.words, 0, 1);
    return Atomics.load(this.words, 1) > 0 ? this.wake(0, INT32_MAX) : 0;
  }

  // One round of a wait, shared by waitSync() and wait(): whether to sleep (again) on `sequence`, which
  // no notify has changed yet; 'ETIMEDOUT' past the deadline (the caller re-takes the mutex either way).
  #waitRound(sequence: number, deadline: number | undefined, timeout: number | undefined): boolean {
    if (Atomics.load(this.words, 0) !== sequence) return false;
    if (deadline !== undefined && performance.now() >= deadline) throw timeoutError('pthread_cond_wait', timeout!);
    return true;
  }

  // Releases the mutex; returns the sequence number to sleep on (read first, so that a notify after the
  // release changes it and is never missed).
  #begin(guard: unknown): number {
    if (!(guard instanceof MutexGuard)) throw invalidArgType('guard', 'an instance of MutexGuard', guard);
    if (!guard.held) throw invalidArgValue('guard', guard, 'must hold its mutex');
    this.ensureOpen('pthread_cond_wait');
    const sequence = Atomics.load(this.words, 0);
    guard.unlock();
    return sequence;
  }
}
