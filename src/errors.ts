// The error model of unipc, shared by every module.
//
// - A failing system call throws (or rejects with) IpcError: `code` ('EEXIST'), `errno` (the positive C
//   errno, as in os.constants.errno), `syscall`, and the path, key, id or name involved. The message is
//   shaped like Node's fs errors: "EEXIST: file already exists, mkfifo '/tmp/q'".
// - Bad arguments throw TypeError/RangeError with Node's codes before any system call (src/validate.ts).
// - Cancelled waits reject with AbortError (name 'AbortError', code 'ABORT_ERR', cause = signal.reason),
//   expired ones with IpcError 'ETIMEDOUT'.
import os from 'node:os';
import util from 'node:util';
import { native } from './native.js';
import { validateInteger } from './validate.js';

// Node's table, completed from <errno.h> (os.constants.errno lacks EOWNERDEAD, for one).
const errnoValues: Record<string, number> = { ...os.constants.errno, ...native.errno };
const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(errnoValues)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

// Descriptions for errnos libuv has no message for (System V IPC and robust mutexes, mostly).
const extraDescriptions: Record<string, string> = {
  EIDRM: 'identifier removed',
  ENOMSG: 'no message of desired type',
  EOWNERDEAD: 'owner died',
  ENOTRECOVERABLE: 'state not recoverable',
  ETOOMANYREFS: 'too many references',
  EDEADLK: 'resource deadlock avoided',
  ENOTSUP: 'operation not supported',
};

/**
 * The errno name for a positive errno value, e.g. 17 → 'EEXIST'. (Node's own fs errors carry the negated
 * value, which is refused here rather than named 'E-17'.) A value no name is known for is 'E' and the
 * number, e.g. 'E4095'.
 *
 * @throws argument errors (not an integer from 1 to 2³¹ − 1).
 *
 * @example
 * ```ts
 * import { errnoName, spawn } from 'unipc';
 *
 * // A C helper that exits with the errno of what failed: exit(errno).
 * const helper = spawn('./attach-segment', ['/frames'], { stdio: 'inherit' });
 * helper.on('exit', (code) => {
 *   if (code) console.error(`attach-segment failed: ${errnoName(code)}`); // e.g. 'EACCES'
 * });
 * ```
 *
 * @see errno(3): the names are those of <errno.h>, as Node's os.constants.errno has them, completed by
 *   the addon's (EOWNERDEAD, ENOTRECOVERABLE, …).
 */
export function errnoName(errno: number): string {
  validateInteger(errno, 'errno', 1, 2 ** 31 - 1);
  return nameOf(errno);
}

function nameOf(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** The positive errno value for a name, e.g. 'EEXIST' → 17. */
export function errnoValue(code: string): number {
  const value = errnoValues[code];
  if (value === undefined) throw new Error(`unknown errno name ${code}`);
  return value;
}

/**
 * The errno values unipc compares results with or raises itself, by name: one table, rather than a constant
 * per module or a bare number.
 */
export const E = Object.freeze({
  E2BIG: errnoValue('E2BIG'),
  EACCES: errnoValue('EACCES'),
  EAGAIN: errnoValue('EAGAIN'),
  EBADF: errnoValue('EBADF'),
  EBUSY: errnoValue('EBUSY'),
  ECANCELED: errnoValue('ECANCELED'),
  ECONNREFUSED: errnoValue('ECONNREFUSED'),
  ECONNRESET: errnoValue('ECONNRESET'),
  EDEADLK: errnoValue('EDEADLK'),
  EFBIG: errnoValue('EFBIG'),
  EIDRM: errnoValue('EIDRM'),
  EINTR: errnoValue('EINTR'),
  EINVAL: errnoValue('EINVAL'),
  EMFILE: errnoValue('EMFILE'),
  EMSGSIZE: errnoValue('EMSGSIZE'),
  ENOENT: errnoValue('ENOENT'),
  ENOMSG: errnoValue('ENOMSG'),
  ENOSYS: errnoValue('ENOSYS'),
  ENOTRECOVERABLE: errnoValue('ENOTRECOVERABLE'),
  EOVERFLOW: errnoValue('EOVERFLOW'),
  EPERM: errnoValue('EPERM'),
  EPIPE: errnoValue('EPIPE'),
  EPROTO: errnoValue('EPROTO'),
  ETIMEDOUT: errnoValue('ETIMEDOUT'),
});

function describe(errno: number, code: string): string {
  const known = util.getSystemErrorMap().get(-errno);
  return known?.[1] ?? extraDescriptions[code] ?? code.toLowerCase();
}

/** What a failing call was acting on; each becomes a property of the error and part of its message. */
export interface IpcErrorContext {
  /** A filesystem path: FIFO, socket, file. */
  path?: string;
  /** A second path (bind target, rename destination). */
  dest?: string;
  /** A System V IPC key. */
  key?: number;
  /** A System V IPC identifier. */
  id?: number;
  /** The name of a POSIX IPC object (shared memory, semaphore, queue). `error.name` stays 'IpcError'. */
  objectName?: string;
  /** The file descriptor involved. */
  fd?: number;
}

function formatKey(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * A system call that failed, as Node reports its own: `code` ('EEXIST'), `errno` (positive, 17), `syscall`,
 * and what it acted on (`path`, `key`, `id`, `objectName`, `fd`: only those that apply are set). The
 * message reads "EEXIST: file already exists, shm_open '/frames'". unipc throws (or rejects with) one when
 * a system call fails, and for what it finds itself that C would meet as an errno: a closed object is
 * 'EBADF', an expired timeout 'ETIMEDOUT'.
 *
 * @example
 * ```ts
 * import { IpcError, SharedMemory } from 'unipc';
 *
 * let shm: SharedMemory;
 * try {
 *   shm = SharedMemory.open('/frames', { create: true, exclusive: true, size: 65536 });
 * } catch (error) {
 *   if (!(error instanceof IpcError && error.code === 'EEXIST')) throw error;
 *   console.log(error.message); // "EEXIST: file already exists, shm_open '/frames'"
 *   shm = SharedMemory.open(error.objectName!); // someone made it first: use theirs
 * }
 * console.log(`${shm.name}: ${shm.size} bytes`);
 * ```
 *
 * @see errno(3) for the codes; each method's `@throws` says which it can meet, and the man page of its
 *   call the rest.
 */
export class IpcError extends Error {
  /** The errno name, e.g. 'EEXIST'. */
  readonly code: string;
  /** The positive errno value, e.g. 17 (Node's own fs errors use the negated value). */
  readonly errno: number;
  /** The system call that failed, e.g. 'mkfifo'. */
  readonly syscall: string;
  // Declared, not initialised: only the ones that apply become (enumerable) properties.
  /** The filesystem path involved: a FIFO, a socket, a file. */
  declare readonly path?: string;
  /** A second path, e.g. a bind target. */
  declare readonly dest?: string;
  /** The System V key involved (unsigned, as `ipcs` shows it in hex). */
  declare readonly key?: number;
  /** The System V identifier involved. */
  declare readonly id?: number;
  /** The name of the POSIX IPC object involved ('/frames'); `name` stays 'IpcError'. */
  declare readonly objectName?: string;
  /** The file descriptor involved. */
  declare readonly fd?: number;

  /**
   * The error for `errno` (positive) from `syscall`: code and description are looked up (`description`
   * replaces the latter), and `context` becomes properties and part of the message.
   */
  constructor(errno: number, syscall: string, context: IpcErrorContext = {}, description?: string) {
    const code = nameOf(errno);
    let message = `${code}: ${description ?? describe(errno, code)}, ${syscall}`;
    if (context.path !== undefined) message += ` '${context.path}'`;
    if (context.dest !== undefined) message += ` -> '${context.dest}'`;
    if (context.objectName !== undefined) message += ` '${context.objectName}'`;
    if (context.key !== undefined) message += ` key ${formatKey(context.key)}`;
    if (context.id !== undefined) message += ` id ${context.id}`;
    super(message);
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    for (const field of ['path', 'dest', 'key', 'id', 'objectName', 'fd'] as const) {
      if (context[field] !== undefined) Object.defineProperty(this, field, { value: context[field], enumerable: true });
    }
  }
}
setErrorName(IpcError, 'IpcError');

/** Throws IpcError for a negative native result; returns the result otherwise. */
export function check(result: number, syscall: string, context?: IpcErrorContext): number {
  if (result < 0) {
    const error = new IpcError(-result, syscall, context);
    Error.captureStackTrace(error, check);
    throw error;
  }
  return result;
}

/** The IpcError for a wait that ran out of time. */
export function timeoutError(syscall: string, timeoutMs: number, context?: IpcErrorContext): IpcError {
  return new IpcError(E.ETIMEDOUT, syscall, context, `timed out after ${timeoutMs} ms`);
}

/** The IpcError for using an object after close(). */
export function closedError(what: string, syscall: string, context?: IpcErrorContext): IpcError {
  return new IpcError(E.EBADF, syscall, context, `${what} is closed`);
}

/**
 * What a Promise-form call rejects with when its `signal` aborts: Node's AbortError shape, name
 * 'AbortError', code 'ABORT_ERR', the signal's reason as `cause`. The call was cancelled cleanly: a wait
 * that had already succeeded resolves instead, so nothing is taken or sent and then lost.
 *
 * @example
 * ```ts
 * import { AbortError, NamedSemaphore } from 'unipc';
 *
 * using jobs = NamedSemaphore.open('/jobs', { create: true });
 * const stop = new AbortController();
 * process.once('SIGINT', () => stop.abort('interrupted'));
 * try {
 *   for (;;) await jobs.wait({ signal: stop.signal });
 * } catch (error) {
 *   if (!(error instanceof AbortError)) throw error;
 *   console.log(`stopped: ${error.cause}`); // "stopped: interrupted"
 * }
 * ```
 */
export class AbortError extends Error {
  /** Always 'ABORT_ERR', as Node's own AbortError. */
  readonly code = 'ABORT_ERR';

  /** Node's message by default; `options.cause` is the signal's reason. */

  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
  }
}
setErrorName(AbortError, 'AbortError');

// On the prototype, like Error.prototype.name, so instances print as "IpcError: ..." without an own
// enumerable `name` property cluttering them.
function setErrorName(type: { prototype: Error }, name: string): void {
  Object.defineProperty(type.prototype, 'name', { value: name, writable: true, configurable: true });
}
