// Ownership of file descriptors, shared by every object of unipc that holds one.
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { check, closedError, E, IpcError, type IpcErrorContext } from './errors.js';
import { DescriptorStream } from './fd-stream.js';
import { constants, native, runtime } from './native.js';
import { invalidState, validateFd } from './validate.js';
import {
  type Attempt,
  type Direction,
  FdPoller,
  type SyncWaitOptions,
  Turnstile,
  type WaitOptions,
  whenReady,
  whenReadySync,
} from './wait.js';

// Bun's net.Socket({ fd }) never reads a pipe it is given (docs/runtimes.md), and Deno's is its own
// emulation: off Node, streams are unipc's own. UNIPC_STREAMS=own makes Node use them too (for tests).
const OWN_STREAMS = runtime !== 'node' || process.env.UNIPC_STREAMS === 'own';

// Node 20.0–20.4 predate Symbol.dispose; use the symbols later versions define, so `using` works on all.
(Symbol as { dispose?: symbol }).dispose ??= Symbol.for('nodejs.dispose');
(Symbol as { asyncDispose?: symbol }).asyncDispose ??= Symbol.for('nodejs.asyncDispose');

// What an object owns in the kernel and the addon: its descriptor and the poller watching it.
interface Resources {
  fd: number;
  poller?: FdPoller;
}

// A descriptor whose owner was garbage-collected without close() is closed here, so forgetting an
// object leaks nothing. The poll handle goes first: closing it after the descriptor number was reused
// would take the new owner's descriptor out of epoll. Objects that gave their descriptor to a stream
// unregister first.
const forgotten = new FinalizationRegistry<Resources>(({ fd, poller }) => {
  poller?.close(new IpcError(E.EBADF, 'poll', { fd }, 'descriptor was garbage-collected'));
  native.ownFd(fd, false);
  native.close(fd);
});

/** Data to write or send: a string (as UTF-8), a Buffer or other view, an ArrayBuffer or SharedArrayBuffer. */
export type Bytes = string | ArrayBufferView | ArrayBufferLike;

/**
 * Throws IpcError 'EBADF' when bytes that an operation is still sending lost their memory: the buffer
 * under them was detached (a Mapping closed) after the operation began.
 */
export function assertIntact(bytes: Uint8Array, length: number, syscall: string): void {
  if (bytes.length !== length) {
    throw new IpcError(E.EBADF, syscall, {}, 'the data was detached (its mapping was closed) before it was all sent');
  }
}

/**
 * Throws IpcError 'EBADF' when the caller's buffer that a receive writes into no longer spans `end` bytes:
 * its memory was detached (a Mapping closed) while the receive waited. Nothing was received.
 */
export function assertTargetIntact(buffer: ArrayBufferView, end: number, syscall: string): void {
  if (buffer.byteLength < end) {
    throw new IpcError(
      E.EBADF,
      syscall,
      {},
      'the buffer to receive into was detached (its mapping was closed) while waiting; nothing was received',
    );
  }
}

/** Anything that stands for an open descriptor: an object of unipc or a raw descriptor number. */
export type FdLike =
  | number
  | {
      /** The descriptor number the object holds. */
      readonly fd: number;
    };

/** The descriptor number of an FdLike, validated; a closed unipc object is IpcError 'EBADF'. */
export function fdOf(value: FdLike, name: string): number {
  if (value instanceof FdHandle && value.closed) throw closedError(value.constructor.name, 'fd');
  const fd = typeof value === 'object' && value !== null && 'fd' in value ? value.fd : value;
  validateFd(fd, name);
  return fd;
}

/**
 * Private copies (close-on-exec) of descriptors an operation will use later: whatever the caller closes
 * meanwhile, the operation still sends what it was given. Release them with closeCopies().
 */
export function copyFds(fds: Int32Array): Int32Array {
  const copies = new Int32Array(fds.length);
  for (let i = 0; i < fds.length; i++) {
    const copy = native.fcntl(fds[i], constants.F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
      closeCopies(copies.subarray(0, i));
      throw new IpcError(-copy, 'fcntl', { fd: fds[i] });
    }
    native.ownFd(copy, true);
    copies[i] = copy;
  }
  return copies;
}

export function closeCopies(copies: Int32Array): void {
  for (const copy of copies) {
    native.ownFd(copy, false);
    native.close(copy);
  }
}

/** What fstat(2) says of a descriptor: the fields unipc looks at. */
export interface FileStatus {
  readonly mode: number;
  readonly size: number;
  readonly dev: number;
  readonly ino: number;
  readonly uid: number;
  readonly gid: number;
  isFile(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
}

const statFields = new Float64Array(6);

/**
 * fstat(2) through the addon, not fs.fstatSync(): Deno's node:fs takes resource ids of its own where
 * Node's takes descriptors. Throws IpcError (fstat).
 */
export function fstat(fd: number, context: IpcErrorContext = { fd }): FileStatus {
  check(native.fstat(fd, statFields), 'fstat', context);
  const [mode, size, dev, ino, uid, gid] = statFields as unknown as number[];
  const type = mode! & fs.constants.S_IFMT;
  return {
    mode: mode!,
    size: size!,
    dev: dev!,
    ino: ino!,
    uid: uid!,
    gid: gid!,
    isFile: () => type === fs.constants.S_IFREG,
    isFIFO: () => type === fs.constants.S_IFIFO,
    isSocket: () => type === fs.constants.S_IFSOCK,
  };
}

const linkTarget = Buffer.alloc(4096); // PATH_MAX

/**
 * readlink(2) through the addon, not fs.readlinkSync(): Deno's asks for --allow-all before it reads
 * /proc/self/fd. The target as the kernel gives it (a memfd's is "/memfd:<name> (deleted)"). Throws
 * IpcError (readlink).
 */
export function readlink(path: string, context: IpcErrorContext = { path }): string {
  const length = check(native.readlink(path, linkTarget), 'readlink', context);
  return linkTarget.toString('utf8', 0, length);
}

/**
 * The first 4 KiB of a file as text, read through the addon: the kernel's limits (/proc/sys/kernel/sem,
 * msgmax, …), which Deno's node:fs reads only with --allow-all, or a file behind /proc/self/fd (from the
 * start: a description of its own). Throws IpcError (open, read).
 */
export function readSmallFile(path: string): string {
  const fd = check(native.open(path, constants.O_RDONLY | constants.O_CLOEXEC, 0, -1), 'open', { path });
  try {
    const text = Buffer.allocUnsafe(4096);
    return text.toString('utf8', 0, check(native.read(fd, text, 0, text.length), 'read', { path }));
  } finally {
    native.close(fd);
  }
}

/**
 * Sets or clears O_NONBLOCK on the open file description behind fd (shared with its duplicates). Throws
 * IpcError (fcntl) when that fails: a caller that went on would block where it meant not to, or the other
 * way round.
 */
export function setNonBlocking(fd: number, nonBlocking: boolean): void {
  const flags = check(native.fcntl(fd, constants.F_GETFL, 0), 'fcntl', { fd });
  const wanted = nonBlocking ? flags | constants.O_NONBLOCK : flags & ~constants.O_NONBLOCK;
  if (wanted !== flags) check(native.fcntl(fd, constants.F_SETFL, wanted), 'fcntl', { fd });
}

/**
 * The base of every object that owns a descriptor: close() (idempotent), `using` and `await using`,
 * ref()/unref() for pending waits, a finalizer for forgotten objects, and the readiness machinery that
 * gives its operations a Promise form (with signal and timeout) and a …Sync form.
 *
 * @example
 * ```ts
 * import { type FdHandle, pipe, socketpair } from 'unipc';
 *
 * const { reader, writer } = pipe();
 * const [mine, theirs] = socketpair('seqpacket');
 * const handles: FdHandle[] = [reader, writer, mine, theirs];
 * for (const handle of handles) handle.unref(); // their pending waits no longer keep the process alive
 * // …
 * for (const handle of handles) handle.close(); // twice is harmless; .fd is -1 and .closed true after
 * ```
 *
 * @see close(2); Promise forms wait for readiness with epoll(7) (libuv's on Node), Sync forms with poll(2).
 */
export abstract class FdHandle implements Disposable, AsyncDisposable {
  #fd: number;
  readonly #resources: Resources;
  #stream: net.Socket | DescriptorStream | undefined;
  readonly #turnstiles: Partial<Record<Direction, Turnstile>> = {};
  #keepAlive = true;
  #nonBlocking = false;
  #operations = 0;

  protected constructor(fd: number) {
    this.#fd = fd;
    this.#resources = { fd };
    forgotten.register(this, this.#resources, this);
    native.ownFd(fd, true);
  }

  /** The descriptor number, or -1 once closed (like fs.FileHandle). */
  get fd(): number {
    return this.#fd;
  }

  /** Whether close() was called (or the stream that took the descriptor over closed it). */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Closes the descriptor; pending operations reject with IpcError 'EBADF'. Closing twice does nothing. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    this.#resources.poller?.close(closedError(this.constructor.name, 'poll', this.errorContext()));
    this.#resources.poller = undefined;
    if (this.#stream) {
      this.#stream.destroy();
    } else {
      forgotten.unregister(this);
      native.ownFd(fd, false);
      native.close(fd);
    }
  }

  /**
   * close(), for `using`.
   *
   * @throws as close().
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * close(), for `await using`.
   *
   * @throws as close() (the promise rejects).
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** Pending and future waits keep the process alive (the default). */
  ref(): this {
    this.#keepAlive = true;
    this.#resources.poller?.setKeepAlive(true);
    this.#stream?.ref();
    return this;
  }

  /** Pending and future waits no longer keep the process alive. */
  unref(): this {
    this.#keepAlive = false;
    this.#resources.poller?.setKeepAlive(false);
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
   * The Node stream over this descriptor: a net.Socket, which libuv drives without threads (on Bun and
   * Deno a DescriptorStream, src/fd-stream.ts). Created on
   * first use; from then on the stream owns the descriptor (no finalizer or close() of ours) and the
   * object's own operations are refused.
   */
  protected socketStream(readable: boolean, writable: boolean, syscall: string): Duplex {
    if (!this.#stream) {
      const fd = this.openFd(syscall);
      if (this.#operations > 0) {
        throw invalidState(`${this.constructor.name} has operations pending; a stream cannot take it over now`);
      }
      // As libuv does for a net.Socket, before anything is given away: a DescriptorStream's attempts must
      // return EAGAIN rather than block, and a failure here leaves this object as it was.
      if (OWN_STREAMS) setNonBlocking(fd, true);
      // The descriptor must not be watched twice, and the stream closes it in its own time.
      this.#resources.poller?.close(closedError(this.constructor.name, 'poll', this.errorContext()));
      this.#resources.poller = undefined;
      forgotten.unregister(this);
      native.ownFd(fd, false);
      // the stream closed the descriptor: its number may belong to someone else now
      const onClose = () => {
        this.#fd = -1;
      };
      if (OWN_STREAMS) {
        const socket = readable && writable; // only a socket's stream goes both ways
        this.#stream = new DescriptorStream(fd, { readable, writable, socket, keepAlive: this.#keepAlive, onClose });
      } else {
        const stream = new net.Socket({ fd, readable, writable });
        if (!this.#keepAlive) stream.unref();
        stream.once('close', onClose);
        this.#stream = stream;
      }
    }
    return this.#stream;
  }

  /** Throws ERR_INVALID_STATE when the descriptor belongs to a stream now. */
  protected assertNotGivenAway(what: string): void {
    if (this.#stream) {
      throw invalidState(`${this.constructor.name} is in use as a stream; ${what} is not available`);
    }
  }

  /**
   * Whether the attempts of this kind of object need O_NONBLOCK on the descriptor to never block. Sockets
   * say no: they pass MSG_DONTWAIT to each call and leave the shared flag alone.
   */
  protected get needsNonBlockingFlag(): boolean {
    return true;
  }

  // The flag lives on the open file description, which is shared with copies in other processes: set
  // only when an operation with a deadline needs it, cleared again before a transfer.
  #ensureNonBlocking(fd: number): void {
    if (this.#nonBlocking || !this.needsNonBlockingFlag) return;
    setNonBlocking(fd, true);
    this.#nonBlocking = true;
  }

  /** Runs a non-blocking attempt in turn, waiting for readiness without blocking the event loop. */
  protected async ready<T>(
    direction: Direction,
    options: WaitOptions,
    syscall: string,
    attempt: Attempt<T>,
  ): Promise<T> {
    const fd = this.openFd(syscall);
    this.#ensureNonBlocking(fd);
    let poller = this.#resources.poller;
    if (!poller) {
      poller = this.#resources.poller = new FdPoller(fd);
      poller.setKeepAlive(this.#keepAlive);
    }
    this.#turnstiles[direction] ??= new Turnstile();
    const turnstile = this.#turnstiles[direction];
    this.#operations++;
    try {
      return await whenReady(poller, turnstile, direction, options, syscall, this.errorContext(), attempt);
    } finally {
      this.#operations--;
    }
  }

  /** Whether Promise-form operations in `direction` are in progress or queued on this object. */
  protected waiting(direction: Direction): boolean {
    return this.#turnstiles[direction]?.busy ?? false;
  }

  /** The …Sync counterpart of ready(). With a timeout no attempt may block, so the descriptor must not. */
  protected readySync<T>(direction: Direction, options: SyncWaitOptions, syscall: string, attempt: Attempt<T>): T {
    const fd = this.openFd(syscall);
    if (options.timeout !== undefined) this.#ensureNonBlocking(fd);
    return whenReadySync(fd, direction, options, syscall, this.errorContext(), attempt);
  }

  /** Throws unless this descriptor can go to another process (open, not owned by a stream). */
  protected assertTransferable(): number {
    const fd = this.openFd('spawn');
    this.assertNotGivenAway('handing it to another process');
    return fd;
  }

  /**
   * Before this descriptor goes to another process: blocking mode, as most programs expect — whoever
   * set O_NONBLOCK (this object, or the socket() that created it).
   */
  protected prepareForTransfer(): number {
    const fd = this.assertTransferable();
    setNonBlocking(fd, false);
    this.#nonBlocking = false;
    return fd;
  }
}

/** @internal An object other than an FdHandle that spawn() hands over (closing it in the parent). */
export interface HandedOver {
  readonly fd: number;
  readonly closed: boolean;
  close(): void;
}
const handedOver = new WeakSet<object>();

/**
 * @internal Makes spawn() hand `object` over as it does every FdHandle: objects that own a descriptor
 * together with more (the Channel, its mapping).
 */
export function handOverBySpawn(object: HandedOver): void {
  handedOver.add(object);
}

/** @internal */
export function isHandedOver(entry: unknown): entry is HandedOver {
  return typeof entry === 'object' && entry !== null && handedOver.has(entry);
}

// Internal: let spawn() check and prepare any FdHandle for transfer.
type Transferable = { assertTransferable(): number; prepareForTransfer(): number };

export function assertTransferable(handle: FdHandle): void {
  (handle as unknown as Transferable).assertTransferable();
}

export function prepareForTransfer(handle: FdHandle): number {
  return (handle as unknown as Transferable).prepareForTransfer();
}
