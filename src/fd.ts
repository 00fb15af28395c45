// Ownership of file descriptors, shared by every object of unipc that holds one.
import net from 'node:net';
import { closedError, type IpcErrorContext } from './errors.js';
import { constants, native } from './native.js';
import { invalidState, validateFd } from './validate.js';
import { type Attempt, type Direction, FdPoller, Turnstile, type WaitOptions, type SyncWaitOptions, whenReady, whenReadySync } from './wait.js';

// Node 20.0–20.4 predate Symbol.dispose; use the symbols later versions define, so `using` works on all.
(Symbol as { dispose?: symbol }).dispose ??= Symbol.for('nodejs.dispose');
(Symbol as { asyncDispose?: symbol }).asyncDispose ??= Symbol.for('nodejs.asyncDispose');

// A descriptor whose owner was garbage-collected without close() is closed here, so forgetting an
// object leaks nothing. Objects that handed their descriptor to a stream unregister first.
const forgotten = new FinalizationRegistry<number>((fd) => {
  native.ownFd(fd, false);
  native.close(fd);
});

/** Anything that stands for an open descriptor: an object of unipc or a raw descriptor number. */
export type FdLike = number | { readonly fd: number };

/** The descriptor number of an FdLike, validated. */
export function fdOf(value: FdLike, name: string): number {
  const fd = typeof value === 'object' && value !== null && 'fd' in value ? value.fd : value;
  validateFd(fd, name);
  return fd;
}

/** Sets or clears O_NONBLOCK on the open file description behind fd (shared with its duplicates). */
export function setNonBlocking(fd: number, nonBlocking: boolean): void {
  const flags = native.fcntl(fd, constants.F_GETFL, 0);
  if (flags < 0) return;
  const wanted = nonBlocking ? flags | constants.O_NONBLOCK : flags & ~constants.O_NONBLOCK;
  if (wanted !== flags) native.fcntl(fd, constants.F_SETFL, wanted);
}

/**
 * The base of every object that owns a descriptor: close() (idempotent), `using` and `await using`,
 * ref()/unref() for pending waits, a finalizer for forgotten objects, and the readiness machinery that
 * gives its operations a Promise form (with signal and timeout) and a …Sync form.
 */
export abstract class FdHandle implements Disposable, AsyncDisposable {
  #fd: number;
  #stream: net.Socket | undefined;
  #poller: FdPoller | undefined;
  readonly #turnstiles: Partial<Record<Direction, Turnstile>> = {};
  #keepAlive = true;
  #nonBlocking = false;

  protected constructor(fd: number) {
    this.#fd = fd;
    forgotten.register(this, fd, this);
    native.ownFd(fd, true);
  }

  /** The descriptor number, or -1 once closed (like fs.FileHandle). */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Closes the descriptor; pending operations reject with IpcError 'EBADF'. Closing twice does nothing. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    this.#poller?.close(closedError(this.constructor.name, 'poll', this.errorContext()));
    this.#poller = undefined;
    if (this.#stream) {
      this.#stream.destroy();
    } else {
      forgotten.unregister(this);
      native.ownFd(fd, false);
      native.close(fd);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** Pending and future waits keep the process alive (the default). */
  ref(): this {
    this.#keepAlive = true;
    this.#poller?.setKeepAlive(true);
    this.#stream?.ref();
    return this;
  }

  /** Pending and future waits no longer keep the process alive. */
  unref(): this {
    this.#keepAlive = false;
    this.#poller?.setKeepAlive(false);
    this.#stream?.unref();
    return this;
  }

  /** What errors about this object mention (a path, for instance). */
  protected errorContext(): IpcErrorContext {
    return {};
  }

  /** The open descriptor, or IpcError 'EBADF' naming the operation when closed. */
  protected openFd(syscall: string): number {
    if (this.#fd < 0) throw closedError(this.constructor.name, syscall, this.errorContext());
    return this.#fd;
  }

  /**
   * The Node stream over this descriptor: a net.Socket, which libuv drives without threads. Created on
   * first use; from then on the stream owns the descriptor (no finalizer or close() of ours) and the
   * object's own operations are refused.
   */
  protected socketStream(readable: boolean, writable: boolean, syscall: string): net.Socket {
    if (!this.#stream) {
      const fd = this.openFd(syscall);
      forgotten.unregister(this);
      native.ownFd(fd, false);
      this.#stream = new net.Socket({ fd, readable, writable });
      if (!this.#keepAlive) this.#stream.unref();
    }
    return this.#stream;
  }

  /** Throws ERR_INVALID_STATE when the descriptor belongs to a stream now. */
  protected assertNotGivenAway(what: string): void {
    if (this.#stream) {
      throw invalidState(`${this.constructor.name} is in use as a stream; ${what} is not available`);
    }
  }

  /** Runs a non-blocking attempt in turn, waiting for readiness without blocking the event loop. */
  protected ready<T>(direction: Direction, options: WaitOptions, syscall: string, attempt: Attempt<T>): Promise<T> {
    const fd = this.openFd(syscall);
    if (!this.#nonBlocking) {
      // Async operations need a descriptor that never blocks; the flag lives on the open file
      // description, which is why an end handed to another process should not also be used this way.
      setNonBlocking(fd, true);
      this.#nonBlocking = true;
    }
    if (!this.#poller) {
      this.#poller = new FdPoller(fd);
      this.#poller.setKeepAlive(this.#keepAlive);
    }
    const turnstile = (this.#turnstiles[direction] ??= new Turnstile());
    return whenReady(this.#poller, turnstile, direction, options, syscall, this.errorContext(), attempt);
  }

  /** The …Sync counterpart of ready(). */
  protected readySync<T>(direction: Direction, options: SyncWaitOptions, syscall: string, attempt: Attempt<T>): T {
    const fd = this.openFd(syscall);
    return whenReadySync(fd, direction, options, syscall, this.errorContext(), attempt);
  }

  /** Throws unless this descriptor can go to another process (open, not owned by a stream). */
  protected assertTransferable(): number {
    const fd = this.openFd('spawn');
    this.assertNotGivenAway('handing it to another process');
    return fd;
  }

  /** Before this descriptor goes to another process: blocking mode, as most programs expect. */
  protected prepareForTransfer(): number {
    const fd = this.assertTransferable();
    if (this.#nonBlocking) {
      setNonBlocking(fd, false);
      this.#nonBlocking = false;
    }
    return fd;
  }
}

// Internal: let spawn() check and prepare any FdHandle for transfer.
type Transferable = { assertTransferable(): number; prepareForTransfer(): number };

export function assertTransferable(handle: FdHandle): void {
  (handle as unknown as Transferable).assertTransferable();
}

export function prepareForTransfer(handle: FdHandle): number {
  return (handle as unknown as Transferable).prepareForTransfer();
}
