// Futex waits on words of a Mapping, from TypeScript: the base of the shared-memory locks (src/lock.ts)
// and the channel (src/channel.ts). Words are read and changed with Atomics by the callers; this module
// puts a thread to sleep on one and wakes sleepers (native/futex.cc), and tells whether a thread lives.

import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { closedError, E, IpcError } from './errors.js';
import { Mapping, mappingInternals } from './mmap.js';
import { native } from './native.js';
import { invalidArgType, invalidArgValue, validateInteger } from './validate.js';
import { Turnstile, waitOnThread } from './wait.js';

let ownThreadId = 0;
/** The id (gettid) of the calling thread: what a Mutex records as its owner. */
export function threadId(): number {
  if (ownThreadId === 0) ownThreadId = native.gettid();
  return ownThreadId;
}

/**
 * Whether a thread id no longer names a running thread: it exited, or it is a zombie nobody has reaped.
 * /proc can hide other users' processes (hidepid), so a missing entry counts only when kill(tid, 0)
 * agrees that there is no such thread.
 */
export function threadGone(tid: number): boolean {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${tid}/stat`, 'latin1');
  } catch {
    try {
      process.kill(tid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state === 'Z' || state === 'X';
}

/**
 * The Promise-form waiters queued on one lock object: only the first sleeps on a waiter thread, so that
 * one wait keeps the process alive as long as any queued waiter asked to (`ref` not false).
 */
export class Queue {
  readonly turnstile = new Turnstile();
  #refs = 0;
  #sleeping = -1;

  join(ref: boolean | undefined): void {
    if (ref !== false && this.#refs++ === 0 && this.#sleeping >= 0) native.refWait(this.#sleeping, true);
  }

  leave(ref: boolean | undefined): void {
    if (ref !== false && --this.#refs === 0 && this.#sleeping >= 0) native.refWait(this.#sleeping, false);
  }

  get keepAlive(): boolean {
    return this.#refs > 0;
  }

  /** The wait of the queue's head while it sleeps, or -1. */
  set sleeping(id: number) {
    this.#sleeping = id;
  }
}

export interface SleepOptions {
  signal?: AbortSignal;
  ref?: boolean;
  /** The word that counts sleepers, incremented for the length of the sleep. */
  sleepers?: number;
  /** The queue whose head this sleep is. */
  queue?: Queue;
  /** A second word the sleep also ends on, when it changes or is woken (futex_waitv). */
  other?: OtherWord;
}

/** A word a sleep also watches (futex_waitv(2)), and the value it must still hold for the sleep to last. */
export interface OtherWord {
  index: number;
  expected: number;
}

export type SleepResult = 'woken' | 'changed' | 'timedout';

function sleepResult(result: number, syscall: string): SleepResult {
  if (result === 0) return 'woken';
  if (result === -E.EAGAIN || result === E.EAGAIN) return 'changed';
  if (result === -E.ETIMEDOUT || result === E.ETIMEDOUT) return 'timedout';
  throw new IpcError(Math.abs(result), syscall);
}

/** Milliseconds left before a deadline (-1: none), capped at `cap` when given. */
export function remaining(deadline: number | undefined, cap?: number): number {
  const left = deadline === undefined ? -1 : Math.max(0, deadline - performance.now());
  if (cap === undefined) return left;
  return left < 0 ? cap : Math.min(left, cap);
}

/**
 * @internal Words at a 4-byte aligned offset of a writable Mapping, and the futex calls on them: what the
 * locks (through SharedWords) and the channel (privately) are built on.
 */
export class FutexWords {
  /** The mapping the words live in. */
  readonly mapping: Mapping;
  /** Byte offset of the first word in the mapping. */
  readonly offset: number;
  readonly words: Int32Array;
  /** The mapping's region in the addon's registry: what the futex calls and lent views name it by. */
  readonly region: number;
  readonly #onClose: (listener: () => void) => () => void;

  constructor(mapping: unknown, offset: unknown, size: number) {
    if (!(mapping instanceof Mapping)) throw invalidArgType('mapping', 'an instance of Mapping', mapping);
    validateInteger(offset, 'offset', 0, Number.MAX_SAFE_INTEGER);
    if (offset % 4 !== 0)
      throw invalidArgValue('offset', offset, 'must be a multiple of 4 (the words are 32-bit atomics)');
    if (mapping.closed) throw closedError('the mapping', 'futex');
    if (!mapping.writable)
      throw invalidArgValue('mapping', mapping, "must be writable ('rw'): taking a lock writes to it");
    if (offset + size > mapping.length) {
      throw invalidArgValue('offset', offset, `leaves no room for ${size} bytes in a mapping of ${mapping.length}`);
    }
    this.mapping = mapping;
    this.offset = offset;
    this.words = new Int32Array(mapping.buffer, offset, size / 4);
    const internals = mappingInternals(mapping);
    this.region = internals.region;
    this.#onClose = internals.onClose;
  }

  ensureOpen(syscall: string): void {
    if (this.mapping.closed) throw closedError('the mapping', syscall);
  }

  /** Wakes up to `count` threads sleeping on word `index`; returns how many were woken. */
  wake(index: number, count: number): number {
    const result = native.futexWake(this.region, this.offset + index * 4, count);
    if (result < 0) throw new IpcError(-result, 'futex');
    return result;
  }

  /**
   * Sleeps on word `index` while it holds `expected`, for at most timeoutMs (-1: until woken), counted
   * in word `sleepers` meanwhile if given (counted before the futex call reads the word, so that a
   * writer that changes the word and then reads the count cannot miss this sleeper).
   */
  sleepSync(index: number, expected: number, timeoutMs: number, sleepers?: number, other?: OtherWord): SleepResult {
    if (sleepers !== undefined) Atomics.add(this.words, sleepers, 1);
    try {
      const at = this.offset + index * 4;
      const result =
        other === undefined
          ? native.futexWait(this.region, at, expected, timeoutMs)
          : native.futexWaitEither(this.region, at, expected, this.offset + other.index * 4, other.expected, timeoutMs);
      return sleepResult(result, 'futex');
    } finally {
      if (sleepers !== undefined) Atomics.sub(this.words, sleepers, 1);
    }
  }

  /**
   * The Promise form of sleepSync(), on a waiter thread. Closing the mapping ends it with 'EBADF' and,
   * while the pages are still mapped, uncounts it and passes on one wake it may have used up.
   */
  async sleep(index: number, expected: number, timeoutMs: number, options: SleepOptions): Promise<SleepResult> {
    const { sleepers, queue, other } = options;
    let id = -1;
    let counted = sleepers !== undefined;
    const stopWatching = this.#onClose(() => {
      if (id >= 0) native.cancelWait(id);
      native.futexWake(this.region, this.offset + index * 4, 1);
      if (counted) Atomics.sub(this.words, sleepers!, 1);
      counted = false;
    });
    if (counted) Atomics.add(this.words, sleepers!, 1);
    try {
      const result = await waitOnThread(
        (callback) => {
          const at = this.offset + index * 4;
          const deliver = (r: number) => callback(r === -E.EAGAIN || r === -E.ETIMEDOUT ? -r : r);
          id =
            other === undefined
              ? native.futexWaitAsync(this.region, at, expected, timeoutMs, deliver)
              : native.futexWaitEitherAsync(
                  this.region,
                  at,
                  expected,
                  this.offset + other.index * 4,
                  other.expected,
                  timeoutMs,
                  deliver,
                );
          if (queue) queue.sleeping = id;
          return id;
        },
        { signal: options.signal, ref: queue ? queue.keepAlive : options.ref },
        'futex',
      );
      return sleepResult(result, 'futex');
    } catch (error) {
      if (this.mapping.closed) throw closedError('the mapping', 'futex');
      throw error;
    } finally {
      if (queue) queue.sleeping = -1;
      if (counted) Atomics.sub(this.words, sleepers!, 1);
      stopWatching();
    }
  }
}

/**
 * Words at a 4-byte aligned offset of a writable Mapping, and the futex calls on them: the base of the
 * locks, whose `mapping` and `offset` are public.
 */
export abstract class SharedWords {
  /** The mapping the words live in. */
  readonly mapping: Mapping;
  /** Byte offset of the first word in the mapping. */
  readonly offset: number;
  protected readonly words: Int32Array;
  readonly #futex: FutexWords;

  constructor(mapping: unknown, offset: unknown, size: number) {
    const futex = new FutexWords(mapping, offset, size);
    this.#futex = futex;
    this.mapping = futex.mapping;
    this.offset = futex.offset;
    this.words = futex.words;
  }

  protected ensureOpen(syscall: string): void {
    this.#futex.ensureOpen(syscall);
  }

  /** Wakes up to `count` threads sleeping on word `index`; returns how many were woken. */
  protected wake(index: number, count: number): number {
    return this.#futex.wake(index, count);
  }

  /** Sleeps on word `index` while it holds `expected`; see FutexWords.sleepSync(). */
  protected sleepSync(index: number, expected: number, timeoutMs: number, sleepers?: number): SleepResult {
    return this.#futex.sleepSync(index, expected, timeoutMs, sleepers);
  }

  /** The Promise form of sleepSync(), on a waiter thread; see FutexWords.sleep(). */
  protected sleep(index: number, expected: number, timeoutMs: number, options: SleepOptions): Promise<SleepResult> {
    return this.#futex.sleep(index, expected, timeoutMs, options);
  }
}
