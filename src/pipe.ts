// Anonymous pipes, FIFOs (named pipes), and handing descriptors to child processes.
import { Buffer } from 'node:buffer';
import child_process, { type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { check, closedError, E, IpcError, type IpcErrorContext, timeoutError } from './errors.js';
import {
  assertIntact,
  assertTargetIntact,
  assertTransferable,
  type Bytes,
  FdHandle,
  type FdLike,
  fdOf,
  fstat,
  isHandedOver,
  prepareForTransfer,
  setNonBlocking,
} from './fd.js';
import { constants, native } from './native.js';
import {
  invalidArgType,
  invalidArgValue,
  type TargetRange,
  toBytes,
  toPath,
  validateFd,
  validateInteger,
  validateMaxSize,
  validateMode,
  validateOneOf,
  validateOptions,
  validateTarget,
} from './validate.js';
import {
  AGAIN,
  attemptResult,
  type RefOptions,
  type SyncWaitOptions,
  syncWaitOptions,
  type WaitOptions,
  waitOnThread,
  waitOptions,
} from './wait.js';

const DEFAULT_READ_SIZE = 64 * 1024;

/** Options of PipeReader.read(). */
export interface ReadOptions extends WaitOptions {
  /** Most bytes to return at once. Default 65536. */
  maxSize?: number;
}

/** Options of PipeReader.readSync(). */
export interface ReadSyncOptions extends SyncWaitOptions {
  /** Most bytes to return at once. Default 65536. */
  maxSize?: number;
}

/** Options of PipeReader.readInto(): where in the buffer, and how long to wait. */
export interface ReadIntoOptions extends WaitOptions, TargetRange {}

/** Options of PipeReader.readIntoSync(): where in the buffer, and how long to block. */
export interface ReadIntoSyncOptions extends SyncWaitOptions, TargetRange {}

// Adopting a descriptor: it must be open and of a kind a pipe end can be, and it stops leaking into
// processes spawned later (inherited descriptors do not carry FD_CLOEXEC).
function adopt(fd: number, access: 'read' | 'write', kind: string): void {
  const stats = fstat(fd);
  if (!stats.isFIFO() && !stats.isSocket()) {
    throw invalidArgValue('fd', fd, `must be a pipe, FIFO or socket descriptor to be a ${kind}`);
  }
  const flags = check(native.fcntl(fd, constants.F_GETFL, 0), 'fcntl', { fd });
  const mode = flags & constants.O_ACCMODE;
  const wrongWay = access === 'read' ? mode === constants.O_WRONLY : mode === constants.O_RDONLY;
  if (wrongWay) {
    throw new IpcError(
      E.EBADF,
      'fcntl',
      { fd },
      `descriptor ${fd} is not open for ${access === 'read' ? 'reading' : 'writing'}`,
    );
  }
  check(native.fcntl(fd, constants.F_SETFD, constants.FD_CLOEXEC), 'fcntl', { fd });
}

// What the two ends of a pipe or FIFO share: the descriptor, and the FIFO's path for error messages.
abstract class PipeEnd extends FdHandle {
  readonly #path: string | undefined;

  protected constructor(fd: number, path?: string) {
    validateFd(fd);
    super(fd);
    this.#path = path;
  }

  /** The FIFO's path when opened with openFifo(). */
  get path(): string | undefined {
    return this.#path;
  }

  protected override errorContext(): IpcErrorContext {
    return this.#path === undefined ? {} : { path: this.#path };
  }
}

/**
 * The read end of a pipe or FIFO. Read it as a Node stream (`.stream`), with read()/readSync(), or
 * hand its descriptor (`.fd`) to another process; data is read once, and the end of data comes when
 * the last writer closes.
 *
 * @example
 * ```ts
 * import { PipeReader } from 'unipc';
 *
 * // In a child that was handed the read end of a pipe as fd 3 (spawn(…, { fds: [reader] })):
 * using input = PipeReader.fromFd(3);
 * for (let chunk = await input.read(); chunk !== null; chunk = await input.read()) {
 *   process.stdout.write(chunk);
 * }
 * ```
 *
 * @see pipe(7), fifo(7), read(2)
 */
export class PipeReader extends PipeEnd {
  /** @internal Use pipe(), openFifo() or PipeReader.fromFd(). */
  constructor(fd: number, path?: string) {
    super(fd, path);
  }

  /**
   * Takes ownership of an open descriptor, e.g. one inherited from a parent: `PipeReader.fromFd(3)`.
   *
   * @throws {@link IpcError} 'EBADF' (`fd` is not open, or open for writing only); argument errors
   *   (ERR_INVALID_ARG_VALUE also for a descriptor that is not a pipe, FIFO or socket).
   */
  static fromFd(fd: number): PipeReader {
    validateFd(fd);
    adopt(fd, 'read', 'PipeReader');
    return new PipeReader(fd);
  }

  /**
   * A Readable stream over this end, created on first use; from then on the stream owns the
   * descriptor and read()/readSync() are off.
   *
   * @throws {@link IpcError} 'EBADF' (closed); ERR_INVALID_STATE (a read() is pending).
   */
  get stream(): Readable {
    return this.socketStream(true, false, 'read');
  }

  /**
   * Reads what is available, up to maxSize bytes, waiting for data; null at the end of data.
   *
   * @throws {@link IpcError} 'EBADF' (closed, also while waiting), 'ETIMEDOUT' (`timeout`), other errnos of
   *   read(2); {@link AbortError} (`signal`); ERR_INVALID_STATE (`.stream` owns the descriptor); argument
   *   errors.
   */
  async read(options?: ReadOptions): Promise<Buffer | null> {
    const checked = waitOptions(options);
    const size = validateMaxSize(checked, DEFAULT_READ_SIZE);
    this.assertNotGivenAway('read()');
    const buffer = Buffer.allocUnsafe(size); // one per call, not per attempt: attempts often find nothing
    return this.ready('read', checked, 'read', () => this.#attemptRead(buffer));
  }

  /**
   * Reads what is available, up to maxSize bytes, blocking until data comes; null at the end of data.
   *
   * @throws {@link IpcError} 'EBADF' (closed), 'ETIMEDOUT' (`timeout`), other errnos of read(2);
   *   ERR_INVALID_STATE (`.stream` owns the descriptor); argument errors.
   */
  readSync(options?: ReadSyncOptions): Buffer | null {
    const checked = syncWaitOptions(options);
    const size = validateMaxSize(checked, DEFAULT_READ_SIZE);
    this.assertNotGivenAway('readSync()');
    const buffer = Buffer.allocUnsafe(size);
    return this.readySync('read', checked, 'read', () => this.#attemptRead(buffer));
  }

  /**
   * Reads what is available into `buffer` (at `offset`, at most `length` bytes), waiting for data; resolves
   * the number of bytes read, 0 at the end of data — as read(2) and fs.read() do. Nothing is allocated per
   * call for the data: reuse one buffer for a whole read loop. The buffer may be any view (Buffer,
   * TypedArray, DataView), also of a SharedArrayBuffer or a Mapping; it is written only by the attempt
   * that reads, on this thread, and must not be used for anything else until the promise settles.
   *
   * @throws {@link IpcError} 'EBADF' (closed, also while waiting; or the Mapping under `buffer` closed while
   *   waiting), 'ETIMEDOUT' (`timeout`), other errnos of read(2); {@link AbortError} (`signal`);
   *   ERR_INVALID_STATE (`.stream` owns the descriptor); argument errors (ERR_INVALID_ARG_VALUE for a
   *   buffer with no room from `offset`: 0 must mean the end of data; ERR_OUT_OF_RANGE for `offset` or
   *   `length` outside it).
   *
   * @example
   * ```ts
   * import { PipeReader } from 'unipc';
   *
   * // In a child that was handed the read end of a pipe as fd 3: count its bytes with one 64 KiB buffer.
   * using input = PipeReader.fromFd(3);
   * const buffer = Buffer.allocUnsafe(65536);
   * let total = 0;
   * for (let n = await input.readInto(buffer); n > 0; n = await input.readInto(buffer)) total += n;
   * console.log(`${total} bytes`);
   * ```
   *
   * @see read(2)
   */
  async readInto(buffer: ArrayBufferView, options?: ReadIntoOptions): Promise<number> {
    const checked = waitOptions(options);
    const length = validateTarget(buffer, checked);
    const offset = checked.offset ?? 0;
    this.assertNotGivenAway('readInto()');
    return this.ready('read', checked, 'read', () => this.#attemptReadInto(buffer, offset, length));
  }

  /**
   * Reads what is available into `buffer` (at `offset`, at most `length` bytes), blocking until data
   * comes; returns the number of bytes read, 0 at the end of data.
   *
   * @throws {@link IpcError} 'EBADF' (closed), 'ETIMEDOUT' (`timeout`), other errnos of read(2);
   *   ERR_INVALID_STATE (`.stream` owns the descriptor); argument errors (ERR_INVALID_ARG_VALUE for a
   *   buffer with no room from `offset`; ERR_OUT_OF_RANGE for `offset` or `length` outside it).
   *
   * @example
   * ```ts
   * import fs from 'node:fs';
   * import { PipeReader } from 'unipc';
   *
   * // Copy what arrives on fd 3 to a file, through one reused buffer.
   * using input = PipeReader.fromFd(3);
   * const out = fs.openSync('/tmp/received.bin', 'w');
   * const buffer = new Uint8Array(16384);
   * for (let n; (n = input.readIntoSync(buffer, { timeout: 5000 })) > 0; ) fs.writeSync(out, buffer, 0, n);
   * fs.closeSync(out);
   * ```
   *
   * @see read(2)
   */
  readIntoSync(buffer: ArrayBufferView, options?: ReadIntoSyncOptions): number {
    const checked = syncWaitOptions(options);
    const length = validateTarget(buffer, checked);
    const offset = checked.offset ?? 0;
    this.assertNotGivenAway('readIntoSync()');
    if (checked.timeout === undefined) {
      // As writeSync(): a blocking read(2) first, the general path only if the description is non-blocking.
      const n = native.read(this.openFd('read'), buffer, offset, length);
      if (n >= 0) return n;
      attemptResult(n, 'read', this.errorContext()); // throws unless EAGAIN or EINTR
    }
    return this.readySync('read', checked, 'read', () => this.#attemptReadInto(buffer, offset, length));
  }

  #attemptRead(buffer: Buffer): Buffer | null | typeof AGAIN {
    const n = this.#attemptReadInto(buffer, 0, buffer.length);
    if (n === AGAIN) return AGAIN;
    return n === 0 ? null : buffer.subarray(0, n);
  }

  // read(2) into bytes [offset, offset + length) of the view, without waiting.
  #attemptReadInto(buffer: ArrayBufferView, offset: number, length: number): number | typeof AGAIN {
    const fd = this.openFd('read');
    assertTargetIntact(buffer, offset + length, 'read');
    return attemptResult(native.read(fd, buffer, offset, length), 'read', this.errorContext());
  }
}

/**
 * The write end of a pipe or FIFO. Write through `.stream`, write()/writeSync(), or hand `.fd` to
 * another process. When every reader is gone, writing fails with IpcError 'EPIPE' (no SIGPIPE).
 *
 * @example
 * ```ts
 * import { PipeWriter } from 'unipc';
 *
 * // In a child that was handed the write end of a pipe as fd 3 (spawn(…, { fds: [writer] })):
 * using log = PipeWriter.fromFd(3);
 * await log.write(`worker ${process.pid} ready\n`); // up to PIPE_BUF (4096) bytes: never interleaved
 * ```
 *
 * @see pipe(7), fifo(7), write(2)
 */
export class PipeWriter extends PipeEnd {
  /** @internal Use pipe(), openFifo() or PipeWriter.fromFd(). */
  constructor(fd: number, path?: string) {
    super(fd, path);
  }

  /**
   * Takes ownership of an open descriptor, e.g. one inherited from a parent: `PipeWriter.fromFd(3)`.
   *
   * @throws {@link IpcError} 'EBADF' (`fd` is not open, or open for reading only); argument errors
   *   (ERR_INVALID_ARG_VALUE also for a descriptor that is not a pipe, FIFO or socket).
   */
  static fromFd(fd: number): PipeWriter {
    validateFd(fd);
    adopt(fd, 'write', 'PipeWriter');
    return new PipeWriter(fd);
  }

  /**
   * A Writable stream over this end, created on first use; from then on the stream owns the
   * descriptor, and ending the stream closes it, which readers see as the end.
   *
   * @throws {@link IpcError} 'EBADF' (closed); ERR_INVALID_STATE (a write() is pending).
   */
  get stream(): Writable {
    return this.socketStream(false, true, 'write');
  }

  /**
   * Writes all of data, waiting while the pipe is full. Writes of up to PIPE_BUF (4096) bytes are
   * atomic: they never interleave with other writers' data.
   *
   * @throws {@link IpcError} 'EPIPE' (every reader is gone), 'EBADF' (closed, also while waiting; or the
   *   Mapping under `data` closed while waiting), 'ETIMEDOUT' (`timeout`), other errnos of write(2);
   *   {@link AbortError} (`signal`); ERR_INVALID_STATE (`.stream` owns the descriptor); argument errors.
   */
  async write(data: Bytes, options?: WaitOptions): Promise<void> {
    const bytes = toBytes(data, 'data');
    const checked = waitOptions(options);
    this.assertNotGivenAway('write()');
    let offset = 0;
    const length = bytes.length;
    return this.ready('write', checked, 'write', () => {
      offset = this.#attemptWrite(bytes, offset, length);
      return offset === length ? undefined : AGAIN;
    });
  }

  /**
   * Writes all of data, blocking while the pipe is full.
   *
   * @throws {@link IpcError} 'EPIPE' (every reader is gone), 'EBADF' (closed), 'ETIMEDOUT' (`timeout`),
   *   other errnos of write(2); ERR_INVALID_STATE (`.stream` owns the descriptor); argument errors.
   */
  writeSync(data: Bytes, options?: SyncWaitOptions): void {
    const bytes = toBytes(data, 'data');
    const checked = syncWaitOptions(options);
    this.assertNotGivenAway('writeSync()');
    const length = bytes.length;
    let offset = checked.timeout === undefined ? this.#writeBlocking(bytes, length) : 0;
    if (offset === length) return;
    this.readySync('write', checked, 'write', () => {
      offset = this.#attemptWrite(bytes, offset, length);
      return offset === length ? undefined : AGAIN;
    });
  }

  // An untimed writeSync() as C writes: write(2) until all is written, blocking in it while the pipe is
  // full. Returns how far it got, short of `length` only when the description is non-blocking (set by a
  // Promise-form call, or by another process that shares it): the general path then waits with poll(2).
  // (No closure and no AGAIN symbol per call: they made up a fifth of a 64-byte writeSync + readIntoSync.)
  #writeBlocking(bytes: Uint8Array, length: number): number {
    const fd = this.openFd('write');
    let offset = 0;
    while (offset < length) {
      const n = native.write(fd, bytes, offset, length - offset);
      if (n >= 0) {
        offset += n;
        continue;
      }
      attemptResult(n, 'write', this.errorContext()); // throws unless EAGAIN or EINTR (which writes again)
      if (n === -E.EAGAIN) break;
    }
    return offset;
  }

  // Writes as much as the pipe takes now; returns the new offset.
  #attemptWrite(bytes: Uint8Array, offset: number, length: number): number {
    assertIntact(bytes, length, 'write');
    while (offset < bytes.length) {
      const fd = this.openFd('write');
      const n = attemptResult(native.write(fd, bytes, offset, bytes.length - offset), 'write', this.errorContext());
      if (n === AGAIN) break;
      offset += n;
    }
    return offset;
  }
}

/** Both ends of a new pipe; disposing it closes whichever ends are still open. */
export interface Pipe extends Disposable {
  /** The read end. */
  readonly reader: PipeReader;
  /** The write end. */
  readonly writer: PipeWriter;
  /** Closes both ends, those still open; [Symbol.dispose]() does the same. */
  close(): void;
}

/** Options of pipe(). */
export interface PipeOptions {
  /** The pipe's capacity in bytes (F_SETPIPE_SZ; rounded up by the kernel to a power of two pages). */
  size?: number;
}

/**
 * Creates an anonymous pipe (pipe2 with O_CLOEXEC): bytes written to `writer` come out of `reader`,
 * once, in order. Hand an end to a child with spawn(…, { fds: [end] }).
 *
 * @throws {@link IpcError} 'EMFILE'/'ENFILE' (descriptor limits), 'EPERM' (`size` above
 *   /proc/sys/fs/pipe-max-size, without CAP_SYS_RESOURCE); argument errors.
 *
 * @example
 * ```ts
 * import { pipe, spawn } from 'unipc';
 *
 * const { reader, writer } = pipe();
 * // The child writes to fd 3; `writer` is closed here, so the end of data comes when the child exits.
 * spawn('sh', ['-c', 'echo done >&3'], { stdio: 'inherit', fds: [writer] });
 * for (let chunk = await reader.read(); chunk !== null; chunk = await reader.read()) {
 *   process.stdout.write(chunk);
 * }
 * reader.close();
 * ```
 *
 * @see pipe(2) (pipe2), pipe(7), fcntl(2) (F_SETPIPE_SZ)
 */
export function pipe(options?: PipeOptions): Pipe {
  const { size } = validateOptions(options);
  if (size !== undefined) validateInteger(size, 'options.size', 1, 2 ** 31 - 1);
  const fds = new Int32Array(2);
  check(native.pipe2(fds, constants.O_CLOEXEC), 'pipe2');
  const reader = new PipeReader(fds[0]);
  const writer = new PipeWriter(fds[1]);
  if (size !== undefined) {
    const result = native.fcntl(fds[1], constants.F_SETPIPE_SZ, size);
    if (result < 0) {
      reader.close();
      writer.close();
      check(result, 'fcntl');
    }
  }
  const close = () => {
    reader.close();
    writer.close();
  };
  return { reader, writer, close, [Symbol.dispose]: close };
}

/** Options of mkfifo(). */
export interface MkfifoOptions {
  /** Permission bits of the new FIFO, before the umask. Default 0o600. */
  mode?: number;
}

/**
 * Creates a FIFO (named pipe) at path.
 *
 * @throws {@link IpcError} 'EEXIST' (anything is at `path`), 'ENOENT' (a directory on the way is missing),
 *   'EACCES' (the directory may not be written to, or one on the way searched), other errnos of mkfifo(3);
 *   argument errors.
 *
 * @example
 * ```ts
 * import { mkfifo, openFifo } from 'unipc';
 *
 * mkfifo('/tmp/chat'); // mode 0o600
 * using reader = await openFifo('/tmp/chat', 'r', { timeout: 5000 }); // waits for a writer
 * for await (const chunk of reader.stream) console.log(String(chunk));
 * ```
 *
 * @see mkfifo(3), fifo(7)
 */
export function mkfifo(path: string | URL, options?: MkfifoOptions): void {
  const target = toPath(path);
  const { mode = 0o600 } = validateOptions(options);
  validateMode(mode, 'options.mode');
  check(native.mkfifo(target, mode), 'mkfifo', { path: target });
}

/** Which end of a FIFO to open: 'r' (O_RDONLY) gives a PipeReader, 'w' (O_WRONLY) a PipeWriter. */
export type FifoAccess = 'r' | 'w';
const FIFO_ACCESS: readonly FifoAccess[] = ['r', 'w'];

function fifoFlags(access: FifoAccess): number {
  return (access === 'r' ? constants.O_RDONLY : constants.O_WRONLY) | constants.O_CLOEXEC | constants.O_NOCTTY;
}

// A FIFO is the only kind of file openFifo opens: anything else is refused before open() and, in case
// the path changed in between, again after it. An argument error, not an errno: open(2) would open it.
function assertFifo(path: string, fd?: number): void {
  const stats = fd === undefined ? fs.statSync(path, { throwIfNoEntry: false }) : fstat(fd, { fd, path });
  if (stats && !stats.isFIFO()) {
    if (fd !== undefined) native.close(fd);
    throw invalidArgValue('path', path, 'must name a FIFO (mkfifo), and names another kind of file');
  }
}

function fifoEnd(access: FifoAccess, fd: number, path: string): PipeReader | PipeWriter {
  assertFifo(path, fd);
  return access === 'r' ? new PipeReader(fd, path) : new PipeWriter(fd, path);
}

/** Options of openFifo(): how long to wait for the other side, and whether the wait keeps the process alive. */
export type OpenFifoOptions = WaitOptions & RefOptions;

/**
 * Opens a FIFO for reading ('r') or writing ('w'). Like open(2), this waits until the other side opens
 * it too, but on a waiter thread: the event loop runs on, and `signal`/`timeout` cancel the wait.
 *
 * @throws {@link IpcError} 'ENOENT' (nothing at `path`), 'EACCES' (the FIFO's mode forbids `access`, or a
 *   directory on the way may not be searched), 'ETIMEDOUT' (`timeout`: nobody opened the other side), other
 *   errnos of open(2); {@link AbortError} (`signal`); argument errors (ERR_INVALID_ARG_VALUE also when
 *   `path` names a file that is not a FIFO).
 *
 * @example
 * ```ts
 * import { openFifo } from 'unipc';
 *
 * // A C program writes its events to the FIFO; until it opens it, the event loop runs on.
 * using events = await openFifo('/run/myapp/events', 'r', { signal: AbortSignal.timeout(10_000) });
 * for await (const chunk of events.stream) console.log(String(chunk));
 * ```
 *
 * @see open(2), fifo(7)
 */
export function openFifo(path: string | URL, access: 'r', options?: OpenFifoOptions): Promise<PipeReader>;
export function openFifo(path: string | URL, access: 'w', options?: OpenFifoOptions): Promise<PipeWriter>;
export function openFifo(
  path: string | URL,
  access: FifoAccess,
  options?: OpenFifoOptions,
): Promise<PipeReader | PipeWriter>;
export async function openFifo(
  path: string | URL,
  access: FifoAccess,
  options?: OpenFifoOptions,
): Promise<PipeReader | PipeWriter> {
  const target = toPath(path);
  validateOneOf(access, 'access', FIFO_ACCESS);
  const checked = waitOptions(options);
  assertFifo(target);
  const fd = await waitOnThread(
    (callback) => native.openAsync(target, fifoFlags(access), 0, callback),
    checked,
    'open',
    { path: target },
  );
  return fifoEnd(access, fd, target);
}

/**
 * Opens a FIFO, blocking until the other side opens it too (or the timeout passes).
 *
 * @throws {@link IpcError} 'ENOENT' (nothing at `path`), 'EACCES' (the FIFO's mode forbids `access`, or a
 *   directory on the way may not be searched), 'ETIMEDOUT' (`timeout`: nobody opened the other side), other
 *   errnos of open(2); argument errors (ERR_INVALID_ARG_VALUE also when `path` names a file that is not a
 *   FIFO).
 *
 * @example
 * ```ts
 * import { openFifoSync } from 'unipc';
 *
 * using commands = openFifoSync('/run/myapp/commands', 'w', { timeout: 1000 }); // until a reader opens it
 * commands.writeSync('reload\n');
 * ```
 *
 * @see open(2), fifo(7)
 */
export function openFifoSync(path: string | URL, access: 'r', options?: SyncWaitOptions): PipeReader;
export function openFifoSync(path: string | URL, access: 'w', options?: SyncWaitOptions): PipeWriter;
export function openFifoSync(
  path: string | URL,
  access: FifoAccess,
  options?: SyncWaitOptions,
): PipeReader | PipeWriter;
export function openFifoSync(
  path: string | URL,
  access: FifoAccess,
  options?: SyncWaitOptions,
): PipeReader | PipeWriter {
  const target = toPath(path);
  validateOneOf(access, 'access', FIFO_ACCESS);
  const { timeout } = syncWaitOptions(options);
  assertFifo(target);
  const fd = native.open(target, fifoFlags(access), 0, timeout ?? -1);
  if (fd === -E.ETIMEDOUT) throw timeoutError('open', timeout!, { path: target });
  check(fd, 'open', { path: target });
  return fifoEnd(access, fd, target);
}

/** child_process.spawn()'s options, and `fds` and `execArgv`. */
export interface SpawnOptions extends child_process.SpawnOptions {
  /**
   * Descriptors for the child, which receives them right after the stdio entries: as 3, 4, 5, … with
   * the usual three.
   * unipc objects given here are closed in this process once the child has its copy, so each end
   * of a pipe lives in exactly one process; plain numbers are left open. The close is close()'s: an
   * owner handle (removeOnDispose) unlinks its name then, and the child keeps the object by descriptor.
   */
  fds?: FdLike[];
  /**
   * Node options for a Node child, put before `args` as child_process.fork() puts them before the module:
   * `true` for this process's own (process.execArgv — loaders such as tsx's `--import` among them — less
   * `-e`/`-p` and the code they run), or a list of its own. Default: none, `args` go as given.
   */
  execArgv?: boolean | readonly string[];
}

// Options that name code to run instead of a script: the child would run the parent's code, not its own.
const EVAL_OPTIONS = new Set(['-e', '--eval', '-p', '--print', '-pe']);

function parentExecArgv(): string[] {
  const kept: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (EVAL_OPTIONS.has(arg)) {
      i++; // and its code
      continue;
    }
    if (!/^--(eval|print)=/.test(arg)) kept.push(arg);
  }
  return kept;
}

function nodeOptionsFor(execArgv: unknown): string[] {
  if (execArgv === undefined || execArgv === false) return [];
  if (execArgv === true) return parentExecArgv();
  if (!Array.isArray(execArgv)) throw invalidArgType('options.execArgv', 'of type boolean or an array', execArgv);
  return execArgv.map((arg: unknown, i) => {
    if (typeof arg !== 'string') throw invalidArgType(`options.execArgv[${i}]`, 'of type string', arg);
    if (arg.includes('\0')) {
      throw invalidArgValue(`options.execArgv[${i}]`, arg, 'must be a string without null bytes');
    }
    return arg;
  });
}

/**
 * child_process.spawn() that also hands descriptors to the child — the spawn-era form of the
 * classic pipe()+fork(): the child gets its end, the parent closes it and keeps the other.
 *
 * @throws {@link IpcError} 'EBADF' (a unipc object in `fds` is closed); ERR_INVALID_STATE (one is in use as
 *   a stream); argument errors, Node's own among them for its options; and what child_process.spawn()
 *   throws itself (an Error with code 'EBADF' for a number in `fds` that is no open descriptor). A command
 *   that cannot be run is the child's 'error' event, as with child_process.spawn().
 *
 * @example
 * ```ts
 * import { pipe, spawn } from 'unipc';
 *
 * const { reader, writer } = pipe();
 * // The child reads its end as fd 3 (PipeReader.fromFd(3)); `execArgv: true` passes on tsx's --import.
 * const child = spawn(process.execPath, ['child.ts'], { stdio: 'inherit', fds: [reader], execArgv: true });
 * writer.writeSync('hello\n'); // `reader` is closed here: the child holds the only read end
 * writer.close(); // the child reads the end of data
 * child.on('exit', (code) => console.log(`child exited with ${code}`));
 * ```
 *
 * @see fork(2), execve(2): what child_process.spawn() does, through libuv; the child inherits `fds`.
 */
export function spawn(command: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
  validateCommand(command, args);
  validateOptions(options);
  const { fds = [], execArgv, ...spawnOptions } = options;
  if (!Array.isArray(fds)) throw invalidArgType('options.fds', 'an array', fds);
  const nodeOptions = nodeOptionsFor(execArgv);
  // Every entry is checked before any is touched: a bad one must not leave the others changed.
  const entries = [...fds];
  entries.forEach((entry, i) => {
    if (entry instanceof FdHandle) assertTransferable(entry);
    else if (isHandedOver(entry) && entry.closed) {
      throw closedError(`options.fds[${i}]`, 'spawn');
    } else fdOf(entry, `options.fds[${i}]`);
  });
  const stdio = normalizeStdio(spawnOptions.stdio);
  const given: Array<{ fd: number; owner: FdHandle | undefined; flags: number }> = [];
  let child: ChildProcess;
  try {
    for (const entry of entries) {
      if (!(entry instanceof FdHandle)) {
        given.push({ fd: fdOf(entry, 'fd'), owner: undefined, flags: -1 });
        continue;
      }
      const flags = native.fcntl(entry.fd, constants.F_GETFL, 0);
      given.push({ fd: prepareForTransfer(entry), owner: entry, flags });
    }
    child = child_process.spawn(command, [...nodeOptions, ...args], {
      ...spawnOptions,
      stdio: [...stdio, ...given.map((g) => g.fd)] as child_process.StdioOptions,
    });
  } catch (error) {
    // Node refused one of its own options (cwd, env, uid, …), or an end could not be made ready: the ends
    // stay this process's, as they were. The first error is the one to report, not a failure to restore.
    for (const { fd, owner, flags } of given) {
      if (!owner || flags < 0 || (flags & constants.O_NONBLOCK) === 0) continue;
      try {
        setNonBlocking(fd, true);
      } catch {}
    }
    throw error;
  }
  for (const { owner } of given) owner?.close();
  for (const entry of entries) {
    if (isHandedOver(entry)) entry.close();
  }
  return child;
}

// child_process.spawn() checks these too, but only after the descriptors were made ready for the child.
function validateCommand(command: unknown, args: unknown): void {
  if (typeof command !== 'string') throw invalidArgType('command', 'of type string', command);
  if (command.length === 0) throw invalidArgValue('command', command, 'cannot be empty');
  if (command.includes('\0')) throw invalidArgValue('command', command, 'must be a string without null bytes');
  if (!Array.isArray(args)) throw invalidArgType('args', 'an array', args);
  args.forEach((arg: unknown, i) => {
    if (typeof arg !== 'string') throw invalidArgType(`args[${i}]`, 'of type string', arg);
    if (arg.includes('\0')) throw invalidArgValue(`args[${i}]`, arg, 'must be a string without null bytes');
  });
}

function normalizeStdio(stdio: child_process.StdioOptions | undefined): unknown[] {
  if (stdio === undefined) return ['pipe', 'pipe', 'pipe'];
  if (typeof stdio === 'string') return [stdio, stdio, stdio];
  if (!Array.isArray(stdio)) throw invalidArgType('options.stdio', 'of type string or an array', stdio);
  const entries = [...stdio];
  while (entries.length < 3) entries.push(undefined);
  return entries;
}
