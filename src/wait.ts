// The JavaScript half of the waiting model (docs/design.md).
//
// Two kinds of wait, neither of which blocks the event loop or holds a libuv thread-pool slot:
// - readiness waits (FdPoller): a descriptor the kernel can poll (pipe, FIFO, socket) is watched, by a
//   uv_poll handle on Node or the addon's epoll thread elsewhere; the operation itself is then attempted
//   without blocking;
// - thread waits (waitOnThread): a blocking system call runs on one of the addon's waiter threads and is
//   interrupted by a signal when cancelled.
// Both take { signal, timeout }: abort rejects with AbortError, expiry with IpcError 'ETIMEDOUT'.
import { performance } from 'node:perf_hooks';
import { AbortError, E, IpcError, type IpcErrorContext, timeoutError } from './errors.js';
import { constants, type NativePoller, native, type WaitCallback } from './native.js';
import { validateAbortSignal, validateBoolean, validateOptions, validateTimeout } from './validate.js';

/** How long a Promise-form call may wait: until `signal` aborts, or `timeout` ms pass. */
export interface WaitOptions {
  /** Cancels the wait; the promise rejects with an AbortError whose `cause` is the signal's reason. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds; the promise rejects with IpcError code 'ETIMEDOUT'. */
  timeout?: number;
}

/** How long a …Sync call may block its thread. Default: until it can proceed. */
export interface SyncWaitOptions {
  /** Gives up after this many milliseconds, throwing IpcError code 'ETIMEDOUT'. */
  timeout?: number;
}

/** Whether a pending Promise-form wait keeps the process alive. */
export interface RefOptions {
  /** When false, the pending wait does not keep the process alive (like timer.unref()). Default true. */
  ref?: boolean;
}

// What waitOptions() and syncWaitOptions() return for absent options: one object, not one per call (no
// caller writes to what they return).
const NO_OPTIONS = Object.freeze({});
// The allowance of a call without options (nothing changes one).
const UNLIMITED: Budget = Object.freeze({ signal: undefined, timeout: undefined, deadline: undefined });

/**
 * Validates the options of a Promise-form call and returns a copy: each option is read exactly once,
 * so a getter cannot hand the system call a value other than the one validated.
 */
export function waitOptions<T extends WaitOptions & RefOptions>(options: T | undefined): T {
  if (options === undefined) return NO_OPTIONS as T; // the common case, kept cheap for hot paths
  // A spread copy (one read of each option) is far cheaper in V8 than destructuring with a rest element.
  const copy = { ...validateOptions(options) };
  validateAbortSignal(copy.signal, 'options.signal');
  validateTimeout(copy.timeout);
  if (copy.ref !== undefined) validateBoolean(copy.ref, 'options.ref');
  return copy;
}

/** Validates the options of a …Sync call; returns a copy, as waitOptions() does. */
export function syncWaitOptions<T extends SyncWaitOptions>(options: T | undefined): T {
  if (options === undefined) return NO_OPTIONS as T;
  const copy = { ...validateOptions(options) };
  validateTimeout(copy.timeout);
  return copy;
}

type Cancellation = { kind: 'abort'; reason: unknown } | { kind: 'timeout'; ms: number };

function cancellationError(cancellation: Cancellation, syscall: string, context?: IpcErrorContext): Error {
  return cancellation.kind === 'abort'
    ? new AbortError(undefined, { cause: cancellation.reason })
    : timeoutError(syscall, cancellation.ms, context);
}

/** The AbortError for a signal that was already aborted when the call began. */
export function abortedError(signal: AbortSignal): AbortError {
  return new AbortError(undefined, { cause: signal.reason });
}

/** One operation's allowance: its signal and the absolute deadline its timeout gives. */
export interface Budget {
  signal?: AbortSignal;
  /** The timeout the caller asked for, for the error message. */
  timeout?: number;
  /** performance.now() value after which the operation fails with ETIMEDOUT. */
  deadline?: number;
}

/** The allowance of one operation that starts now. */
export function budget(options: WaitOptions): Budget {
  if (options === NO_OPTIONS) return UNLIMITED;
  const { signal, timeout } = options;
  return { signal, timeout, deadline: timeout === undefined ? undefined : performance.now() + timeout };
}

// One 'abort' listener per signal, however many waits share it: a signal handed to a thousand waits
// must not trip Node's MaxListenersExceededWarning.
const abortSubscribers = new WeakMap<AbortSignal, Set<() => void>>();

function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let subscribers = abortSubscribers.get(signal);
  if (!subscribers) {
    const set = new Set<() => void>();
    subscribers = set;
    abortSubscribers.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        abortSubscribers.delete(signal);
        for (const subscriber of set) subscriber();
      },
      { once: true },
    );
  }
  subscribers.add(callback);
  const set = subscribers;
  return () => set.delete(callback);
}

// Calls onCancel at most once, when the signal aborts or the deadline passes; returns the disarmer.
// The timer never keeps the process alive by itself: the wait it guards decides that.
function armCancellation(allowance: Budget, onCancel: (cancellation: Cancellation) => void): () => void {
  const { signal, timeout, deadline } = allowance;
  let timer: NodeJS.Timeout | undefined;
  let fired = false;
  const fire = (cancellation: Cancellation) => {
    if (fired) return;
    fired = true;
    disarm();
    onCancel(cancellation);
  };
  const unsubscribe = signal ? onAbort(signal, () => fire({ kind: 'abort', reason: signal.reason })) : undefined;
  const disarm = () => {
    if (timer !== undefined) clearTimeout(timer);
    unsubscribe?.();
  };
  if (deadline !== undefined) {
    timer = setTimeout(() => fire({ kind: 'timeout', ms: timeout! }), Math.max(0, deadline - performance.now()));
    timer.unref();
  }
  return disarm;
}

/**
 * Runs a blocking native call on a waiter thread. `start` passes the callback to the native function and
 * returns the wait's id (or a negated errno). The promise settles only when the waiter thread is done, so
 * a call that completed just before its cancellation resolves with its result: nothing is lost.
 */
export function waitOnThread(
  start: (callback: WaitCallback) => number,
  options: WaitOptions & RefOptions,
  syscall: string,
  context?: IpcErrorContext,
): Promise<number> {
  if (options.signal?.aborted) return Promise.reject(abortedError(options.signal));
  return new Promise<number>((resolve, reject) => {
    let cancellation: Cancellation | undefined;
    let disarm = () => {};
    const id = start((result) => {
      disarm();
      if (result >= 0) resolve(result);
      else if (result === -E.ECANCELED && cancellation) reject(cancellationError(cancellation, syscall, context));
      else reject(new IpcError(-result, syscall, context));
    });
    if (id < 0) {
      reject(new IpcError(-id, syscall, context, `no waiter thread could be started (${-id})`));
      return;
    }
    if (options.ref === false) native.refWait(id, false);
    disarm = armCancellation(budget(options), (c) => {
      cancellation = c;
      native.cancelWait(id);
    });
  });
}

interface ReadinessWaiter {
  /** Ready, or `error` when the kernel reported a condition on the descriptor (POLLERR). */
  resolve(error?: IpcError): void;
  reject(error: Error): void;
}

export type Direction = 'read' | 'write';

const NO_WAITERS: readonly ReadinessWaiter[] = [];

/**
 * Watches one descriptor (a uv_poll handle on Node, the addon's epoll thread on Bun and Deno) and
 * resolves waits when it becomes readable or writable (hang-ups and errors count as both, so the next
 * attempt reports them).
 *
 * Once the last wait for reading is over, the watch stays as it is ("parked"), no longer keeping the
 * process alive, until the descriptor becomes readable with nobody waiting: a read loop's next wait then
 * finds it in place. Stopping it at once cost three epoll_ctl(2) calls a wait on Node (libuv removes the
 * descriptor from its epoll set on uv_poll_stop() and adds it back on the next start), six of the ~14
 * system calls of a pipe's Promise round trip. A watch for writing is stopped at once: a pipe or socket
 * is writable nearly always, so a parked one would fire at once for nothing.
 */
export class FdPoller {
  readonly #fd: number;
  #poller: NativePoller | undefined;
  // Arrays, replaced whole when their waiters are woken, not Sets: Set.clear() leaves the old hash table
  // linked to its successor, and once one such table reaches the old generation every later table and
  // the waiters (promises, closures) they held survive each scavenge until a full collection; the pipe
  // Promise round trip then stalled 3–15 ms at every scavenge (measured in the bench peers).
  readonly #waiters: Record<Direction, ReadinessWaiter[]> = { read: [], write: [] };
  /** What the watch is armed for (UV_*), 0 when stopped. */
  #events = 0;
  /** Armed for reading with nobody waiting (the class's comment says why). */
  #parked = false;
  #keepAlive = true;
  /** What the native poller was last told by setRef(). */
  #refd = true;
  #closedError: Error | undefined;

  constructor(fd: number) {
    this.#fd = fd;
  }

  /**
   * Resolves once the descriptor is ready in `direction` — with the poll error when the kernel flagged a
   * condition (the next attempt usually reports the real one, e.g. EPIPE) — and rejects on abort,
   * timeout or close().
   */
  wait(
    direction: Direction,
    allowance: Budget,
    syscall: string,
    context?: IpcErrorContext,
  ): Promise<IpcError | undefined> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    if (allowance.signal?.aborted) return Promise.reject(abortedError(allowance.signal));
    return new Promise<IpcError | undefined>((resolve, reject) => {
      const waiter: ReadinessWaiter = {
        resolve: (error) => {
          disarm();
          resolve(error);
        },
        reject: (error) => {
          disarm();
          reject(error);
        },
      };
      const disarm = armCancellation(allowance, (c) => {
        this.#forget(direction, waiter);
        this.#update();
        reject(cancellationError(c, syscall, context));
      });
      this.#waiters[direction].push(waiter);
      try {
        this.#update();
      } catch (error) {
        this.#forget(direction, waiter);
        waiter.reject(error as Error);
      }
    });
  }

  /** Whether pending waits keep the process alive. */
  setKeepAlive(keepAlive: boolean): void {
    this.#keepAlive = keepAlive;
    this.#ref(!this.#parked);
  }

  // Whether the watch keeps the process alive: while someone waits, and the owner asked for it.
  #ref(waiting: boolean): void {
    const ref = waiting && this.#keepAlive;
    if (ref === this.#refd || !this.#poller) return;
    this.#refd = ref;
    this.#poller.setRef(ref);
  }

  /** Rejects every pending wait with `error` and releases the uv handle; the descriptor stays open. */
  close(error: Error): void {
    if (this.#closedError) return;
    this.#closedError = error;
    this.#poller?.close();
    this.#poller = undefined;
    const waiters = [...this.#take('read'), ...this.#take('write')];
    for (const waiter of waiters) waiter.reject(error);
  }

  #take(direction: Direction): ReadinessWaiter[] {
    const waiters = this.#waiters[direction];
    if (waiters.length > 0) this.#waiters[direction] = [];
    return waiters;
  }

  #forget(direction: Direction, waiter: ReadinessWaiter): void {
    const waiters = this.#waiters[direction];
    const index = waiters.indexOf(waiter);
    if (index >= 0) waiters.splice(index, 1);
  }

  #update(): void {
    if (this.#closedError) return;
    const wanted =
      (this.#waiters.read.length > 0 ? constants.UV_READABLE | constants.UV_DISCONNECT : 0) |
      (this.#waiters.write.length > 0 ? constants.UV_WRITABLE : 0);
    if (wanted === 0) {
      if (this.#events === 0 || this.#parked) return;
      if (this.#events & constants.UV_WRITABLE) {
        this.#stop();
        return;
      }
      this.#parked = true;
      this.#ref(false);
      return;
    }
    this.#parked = false;
    this.#ref(true);
    if (wanted === this.#events) return;
    if (!this.#poller) {
      const poller = new native.Poller(this.#fd, (status, events) => this.#onPoll(status, events));
      if (poller.error !== undefined) throw new IpcError(-poller.error, 'epoll_ctl', { fd: this.#fd });
      this.#poller = poller;
      this.#refd = true; // a new poller keeps the process alive
      this.#ref(true);
    }
    const result = this.#poller.start(wanted);
    if (result < 0) throw new IpcError(-result, 'epoll_ctl', { fd: this.#fd });
    this.#events = wanted;
  }

  #stop(): void {
    this.#poller?.stop();
    this.#events = 0;
    this.#parked = false;
  }

  #onPoll(status: number, events: number): void {
    let ready: ReadinessWaiter[];
    if (status < 0) {
      // The poller has stopped itself; every waiter gets to try again and meet the actual error.
      this.#events = 0;
      this.#parked = false;
      const error = new IpcError(-status, 'poll', { fd: this.#fd });
      ready = [...this.#take('read'), ...this.#take('write')];
      for (const waiter of ready) waiter.resolve(error);
      return;
    }
    if (this.#parked) {
      // Ready with nobody waiting: a watch left armed would fire again on every turn of the event loop.
      this.#stop();
      return;
    }
    const readable = events & (constants.UV_READABLE | constants.UV_DISCONNECT) ? this.#take('read') : NO_WAITERS;
    const writable = events & constants.UV_WRITABLE ? this.#take('write') : NO_WAITERS;
    this.#update();
    for (const waiter of readable) waiter.resolve();
    for (const waiter of writable) waiter.resolve();
  }
}

/** Returned by a non-blocking attempt that would have blocked. */
export const AGAIN: unique symbol = Symbol('AGAIN');
export type Attempt<T> = () => T | typeof AGAIN;

/** Turns a native result into a value, AGAIN for E.EAGAIN/E.EINTR, or a thrown IpcError. */
export function attemptResult(result: number, syscall: string, context?: IpcErrorContext): number | typeof AGAIN {
  if (result >= 0) return result;
  if (result === -E.EAGAIN || result === -E.EINTR) return AGAIN;
  throw new IpcError(-result, syscall, context);
}

const ENTERED: Promise<void> = Promise.resolve();
const FINISHED: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * The results of `receive()` until it gives null, as a `for await` loop takes them: what an `async
 * function*` looping over receive() would be, without the generator's resumption and its extra turns of
 * the microtask queue, ~0.2 µs a message (measured on a Service's round trip). next() calls made before
 * earlier ones settled are served in call order, as receive() serves them; an error, return() or the end
 * finishes the iterator. Leaving a loop early takes nothing more from the source.
 *
 * `take` makes an item of a message: undefined skips the message (the next one is received), null ends
 * the iteration. `over` says whether an error is only the end (an object closed while it waited).
 */
export function receiving<M, T = M>(
  receive: () => Promise<M | null>,
  take?: (message: M) => T | null | undefined,
  over?: (error: unknown) => boolean,
): AsyncGenerator<T, undefined, undefined> {
  let done = false;
  const finish = (): IteratorReturnResult<undefined> => {
    done = true;
    return FINISHED;
  };
  const item = (message: M | null): IteratorResult<T, undefined> | Promise<IteratorResult<T, undefined>> => {
    if (message === null) return finish();
    const value = take === undefined ? (message as unknown as T) : take(message);
    if (value === undefined) return next();
    return value === null ? finish() : { done: false, value };
  };
  const failed = (error: unknown): IteratorReturnResult<undefined> => {
    if (over?.(error)) return finish();
    done = true;
    throw error;
  };
  const next = (): Promise<IteratorResult<T, undefined>> =>
    done ? Promise.resolve(FINISHED) : receive().then(item, failed);
  const iterator: AsyncGenerator<T, undefined, undefined> = {
    next,
    return: () => Promise.resolve(finish()),
    throw: (error: unknown) => {
      done = true;
      return Promise.reject(error);
    },
    [Symbol.asyncIterator]: () => iterator,
    [Symbol.asyncDispose]: async () => {
      done = true;
    },
  };
  return iterator;
}

/**
 * Lets operations on one descriptor through one at a time, in call order, so that concurrent receives
 * get messages in the order they were asked for. A queued operation can still be aborted or time out.
 */
export class Turnstile {
  /** Whether an operation is in progress or queued. */
  get busy(): boolean {
    return this.#busy;
  }

  readonly #queue: Array<{ admit(): void }> = [];
  #busy = false;

  /**
   * Resolves once it is this operation's turn; the operation calls leave() when done. (It resolves with
   * nothing: a promise resolved with an object, even a function, costs a lookup of its `then`.)
   */
  enter(allowance: Budget, syscall: string, context?: IpcErrorContext): Promise<void> {
    if (allowance.signal?.aborted) return Promise.reject(abortedError(allowance.signal));
    if (!this.#busy) {
      this.#busy = true;
      return ENTERED;
    }
    return new Promise((resolve, reject) => {
      const entry = {
        admit: () => {
          disarm();
          resolve();
        },
      };
      const disarm = armCancellation(allowance, (c) => {
        this.#queue.splice(this.#queue.indexOf(entry), 1);
        reject(cancellationError(c, syscall, context));
      });
      this.#queue.push(entry);
    });
  }

  /** Ends the current operation's turn: the next queued one goes on. */
  readonly leave = (): void => {
    const next = this.#queue.shift();
    if (next) next.admit();
    else this.#busy = false;
  };
}

/**
 * `work`'s outcome, unless the allowance's signal aborts or its deadline passes first: then AbortError or
 * ETIMEDOUT, and `work` goes on unobserved (for work that cannot be cancelled, such as a network request
 * whose result the caller may take up again).
 */
export function withinBudget<T>(work: Promise<T>, allowance: Budget, syscall: string): Promise<T> {
  if (allowance.signal === undefined && allowance.deadline === undefined) return work;
  if (allowance.signal?.aborted) return Promise.reject(abortedError(allowance.signal));
  return new Promise<T>((resolve, reject) => {
    const disarm = armCancellation(allowance, (c) => reject(cancellationError(c, syscall)));
    work.then(
      (value) => {
        disarm();
        resolve(value);
      },
      (error: unknown) => {
        disarm();
        reject(error);
      },
    );
  });
}

/**
 * The Promise form of a non-blocking operation: attempt it, and while it would block wait for the
 * descriptor to become ready, all within one budget and in turn with the operations queued before it.
 */
export async function whenReady<T>(
  poller: FdPoller,
  turnstile: Turnstile,
  direction: Direction,
  options: WaitOptions,
  syscall: string,
  context: IpcErrorContext | undefined,
  attempt: Attempt<T>,
): Promise<T> {
  const allowance = budget(options);
  // A turn of the microtask queue before the first attempt: the caller's code after the call runs first.
  await turnstile.enter(allowance, syscall, context);
  try {
    let pollError: IpcError | undefined;
    for (;;) {
      const result = attempt();
      if (result !== AGAIN) return result;
      if (pollError) throw pollError; // flagged, yet nothing to report: do not spin on it
      pollError = await poller.wait(direction, allowance, syscall, context);
    }
  } finally {
    turnstile.leave();
  }
}

/**
 * The …Sync form: attempt the operation, polling the descriptor while it would block. With a timeout,
 * readiness is awaited before each attempt so that even a descriptor in blocking mode cannot overrun it.
 */
export function whenReadySync<T>(
  fd: number,
  direction: Direction,
  options: SyncWaitOptions,
  syscall: string,
  context: IpcErrorContext | undefined,
  attempt: Attempt<T>,
): T {
  const { timeout } = options;
  const deadline = timeout === undefined ? undefined : performance.now() + timeout;
  for (;;) {
    if (deadline !== undefined) pollSync(fd, direction, deadline, timeout!, syscall, context);
    const result = attempt();
    if (result !== AGAIN) return result;
    if (deadline === undefined) pollSync(fd, direction, undefined, undefined, syscall, context);
  }
}

// Blocks until the descriptor is ready in `direction`; past the deadline throws ETIMEDOUT.
function pollSync(
  fd: number,
  direction: Direction,
  deadline: number | undefined,
  timeout: number | undefined,
  syscall: string,
  context?: IpcErrorContext,
): void {
  const events = direction === 'read' ? constants.POLLIN : constants.POLLOUT;
  for (;;) {
    const remaining = deadline === undefined ? -1 : Math.max(0, Math.ceil(deadline - performance.now()));
    const result = native.poll(fd, events, remaining);
    if (result > 0) return;
    if (result === 0) throw timeoutError(syscall, timeout!, context);
    if (result !== -E.EINTR) throw new IpcError(-result, 'poll', { ...context, fd });
  }
}
