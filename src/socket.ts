// Unix domain sockets: socketpair(), listening and connecting on a path, whole messages on 'dgram' and
// 'seqpacket', byte streams on 'stream', descriptor passing (SCM_RIGHTS) and credentials.
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import { check, E, errnoValue, IpcError, type IpcErrorContext, timeoutError } from './errors.js';
import {
  assertIntact,
  assertTargetIntact,
  type Bytes,
  closeCopies,
  copyFds,
  FdHandle,
  type FdLike,
  fdOf,
  setNonBlocking,
} from './fd.js';
import { constants, native } from './native.js';
import {
  invalidArgType,
  invalidArgValue,
  invalidState,
  type TargetRange,
  toBytes,
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
  abortedError,
  attemptResult,
  type SyncWaitOptions,
  syncWaitOptions,
  type WaitOptions,
  waitOnThread,
  waitOptions,
} from './wait.js';

/**
 * A Unix socket's type: 'stream' (SOCK_STREAM: bytes), 'dgram' (SOCK_DGRAM: whole messages) or
 * 'seqpacket' (SOCK_SEQPACKET: whole messages, in order, with an end of connection).
 */
export type SocketType = 'stream' | 'dgram' | 'seqpacket';
const SOCKET_TYPES: readonly SocketType[] = ['stream', 'dgram', 'seqpacket'];
const CONNECTION_TYPES: readonly SocketType[] = ['stream', 'seqpacket'];

function typeFlag(type: SocketType): number {
  return type === 'stream' ? constants.SOCK_STREAM : type === 'dgram' ? constants.SOCK_DGRAM : constants.SOCK_SEQPACKET;
}

function typeOfFlag(flag: number): SocketType | undefined {
  return SOCKET_TYPES.find((type) => typeFlag(type) === flag);
}

/** A process's identity as the kernel records it. */
export interface Credentials {
  /** The process id, as this process's PID namespace sees it. */
  pid: number;
  /** The user id. */
  uid: number;
  /** The group id. */
  gid: number;
}

/** A message received from a UnixSocket. */
export interface Message {
  /** The bytes: one whole message on 'dgram'/'seqpacket', what was available on 'stream'. */
  data: Buffer;
  /** Descriptors that came with the data (SCM_RIGHTS), already close-on-exec; closing them is yours. */
  fds: number[];
  /** The sender's pid, uid and gid, filled in by the kernel ('dgram' and 'seqpacket'). */
  credentials?: Credentials;
  /** True when the kernel dropped descriptors that did not fit (e.g. RLIMIT_NOFILE was reached). */
  fdsTruncated?: boolean;
}

/** Options of UnixSocket.send(). */
export interface SendOptions extends WaitOptions {
  /** Descriptors to pass along (at most 253), as numbers or objects with an `fd`; they stay open here. */
  fds?: FdLike[];
}

/** Options of UnixSocket.sendSync(). */
export interface SendSyncOptions extends SyncWaitOptions {
  /** Descriptors to pass along (at most 253), as numbers or objects with an `fd`; they stay open here. */
  fds?: FdLike[];
}

/** Options of UnixSocket.receive(). */
export interface ReceiveOptions extends WaitOptions {
  /** On 'stream' sockets, the most bytes to return at once. Default 65536. */
  maxSize?: number;
}

/** Options of UnixSocket.receiveSync(). */
export interface ReceiveSyncOptions extends SyncWaitOptions {
  /** On 'stream' sockets, the most bytes to return at once. Default 65536. */
  maxSize?: number;
}

/** Options of UnixSocket.receiveInto(): where in the buffer, and how long to wait. */
export interface ReceiveIntoOptions extends WaitOptions, TargetRange {}

/** Options of UnixSocket.receiveIntoSync(): where in the buffer, and how long to block. */
export interface ReceiveIntoSyncOptions extends SyncWaitOptions, TargetRange {}

const DEFAULT_STREAM_READ = 64 * 1024;

// What #recvmsg returns at the end of the connection.
const END: unique symbol = Symbol('END');

// The biggest datagram a sender can queue is bounded by its send buffer, which setsockopt caps at
// twice net.core.wmem_max. One buffer of that size serves every receive of the process (JavaScript
// runs one receive at a time), and each message is copied out of it at its exact size.
function largestDatagram(): number {
  try {
    const wmemMax = Number.parseInt(fs.readFileSync('/proc/sys/net/core/wmem_max', 'utf8'), 10);
    if (wmemMax > 0) return Math.max(256 * 1024, 2 * wmemMax);
  } catch {
    // fall through
  }
  return 1024 * 1024;
}

let receiveBuffer: Buffer | undefined;
const receiveMeta = new Int32Array(constants.RECVMSG_META_FIRST_FD + constants.SCM_MAX_FD);
const META_FLAGS = 0;
const META_FD_COUNT = 1;
const META_HAS_CREDENTIALS = 2;
const META_PID = 3;
const META_UID = 4;
const META_GID = 5;

// Closes the descriptors a recvmsg just put in receiveMeta.
function closeReceived(count: number): void {
  for (let i = 0; i < count; i++) native.close(receiveMeta[constants.RECVMSG_META_FIRST_FD + i]!);
}

// receiveInto() returns bytes only: descriptors the last recvmsg() brought (or that did not fit) are
// closed, and the call fails with EPROTO saying what became of the message (of `n` bytes).
function refuseDescriptors(when: 'peeked' | 'message' | 'stream', n: number): void {
  const count = receiveMeta[META_FD_COUNT];
  if (count === 0 && (receiveMeta[META_FLAGS] & constants.MSG_CTRUNC) === 0) return;
  closeReceived(count);
  const what = {
    peeked:
      'the next message carries descriptors, which receiveInto() cannot return; it stays queued: receive() takes it',
    message:
      'a message with descriptors, which receiveInto() cannot return, came in between; it was discarded and its descriptors closed',
    stream: `descriptors came with ${n} bytes received into the buffer; receiveInto() cannot return them: they were closed`,
  }[when];
  throw new IpcError(E.EPROTO, 'recvmsg', {}, what);
}

function descriptorsToSend(fds: unknown): Int32Array | null {
  if (fds === undefined) return null;
  if (!Array.isArray(fds)) throw invalidArgType('options.fds', 'an array', fds);
  if (fds.length > constants.SCM_MAX_FD) {
    throw invalidArgValue('options.fds', fds.length, `must hold at most ${constants.SCM_MAX_FD} descriptors`);
  }
  return fds.length === 0 ? null : Int32Array.from(fds, (fd: FdLike, i) => fdOf(fd, `options.fds[${i}]`));
}

function receiveSize(type: SocketType, options: { maxSize?: number }): number {
  const size = validateMaxSize(options, DEFAULT_STREAM_READ);
  return type === 'stream' ? size : 0;
}

/**
 * One end of a Unix domain socket, from socketpair(), connect() or UnixServer.accept().
 *
 * - 'seqpacket': reliable, ordered, whole messages, with end-of-connection — the usual choice.
 * - 'dgram': whole messages; no end-of-connection (a receive on a pair whose peer is gone just waits).
 * - 'stream': a byte stream; use `.stream` for a Node Duplex, or send()/receive() for raw chunks.
 *
 * Every type carries descriptors (send(data, { fds })) and tells the peer's credentials.
 *
 * @example
 * ```ts
 * import fs from 'node:fs';
 * import { connect } from 'unipc';
 *
 * using socket = await connect('/run/myapp.sock', { type: 'seqpacket' });
 * const log = fs.openSync('/var/log/myapp.log', 'a');
 * await socket.send('here is the log', { fds: [log] }); // SCM_RIGHTS: the peer gets a descriptor of its own
 * fs.closeSync(log);
 * for await (const { data, fds, credentials } of socket) {
 *   console.log(String(data), credentials?.pid); // until the peer closes
 *   for (const fd of fds) fs.closeSync(fd); // received descriptors are yours to close
 * }
 * ```
 *
 * @see unix(7), sendmsg(2), recvmsg(2), cmsg(3), shutdown(2)
 */
export class UnixSocket extends FdHandle {
  /** The socket's type, fixed when it was made. */
  readonly type: SocketType;
  // An E.ECONNRESET taken from the kernel while messages were still queued, reported once they are received.
  #resetPending = false;

  /** @internal Use socketpair(), connect(), UnixServer.accept() or UnixSocket.fromFd(). */
  constructor(fd: number, type: SocketType) {
    validateFd(fd);
    validateOneOf(type, 'type', SOCKET_TYPES);
    super(fd);
    this.type = type;
    // Credentials on every message also tell an empty seqpacket message from the end of the connection:
    // only a real message carries them.
    if (type !== 'stream') native.setsockoptInt(fd, constants.SOL_SOCKET, constants.SO_PASSCRED, 1);
  }

  /**
   * Takes ownership of an open Unix socket descriptor, e.g. one inherited from a parent.
   *
   * @throws {@link IpcError} 'EBADF' (`fd` is not open), 'ENOTSOCK' (not a socket); argument errors
   *   (ERR_INVALID_ARG_VALUE also for a socket that is not a Unix one of a type unipc knows).
   */
  static fromFd(fd: number): UnixSocket {
    validateFd(fd);
    const domain = check(native.getsockoptInt(fd, constants.SOL_SOCKET, constants.SO_DOMAIN), 'getsockopt', { fd });
    if (domain !== constants.AF_UNIX) throw invalidArgValue('fd', fd, 'must be a Unix domain socket');
    const type = typeOfFlag(
      check(native.getsockoptInt(fd, constants.SOL_SOCKET, constants.SO_TYPE), 'getsockopt', { fd }),
    );
    if (type === undefined) throw invalidArgValue('fd', fd, "must be a 'stream', 'seqpacket' or 'dgram' socket");
    check(native.fcntl(fd, constants.F_SETFD, constants.FD_CLOEXEC), 'fcntl', { fd });
    return new UnixSocket(fd, type);
  }

  /**
   * A Node Duplex stream over a 'stream' socket (a net.Socket on the descriptor). Created on first use;
   * from then on the stream owns the descriptor and send()/receive() are off.
   *
   * @throws {@link IpcError} 'EBADF' (closed); ERR_INVALID_STATE (a send() or receive() is pending, or a
   *   'dgram' or 'seqpacket' socket).
   */
  get stream(): Duplex {
    if (this.type !== 'stream') {
      throw invalidState(`.stream of a '${this.type}' socket: only 'stream' sockets have one; use send()/receive()`);
    }
    return this.socketStream(true, true, 'stream');
  }

  /**
   * Sends data (a whole message, or all the bytes on 'stream'), waiting while the peer's queue is full.
   * `fds` travel with it.
   *
   * @throws {@link IpcError} 'EPIPE' (the peer is gone; on 'seqpacket' 'ECONNRESET' if it left data of ours
   *   unread; on 'dgram' 'ECONNREFUSED', then 'ENOTCONN'), 'EMSGSIZE' (a 'dgram' or 'seqpacket' message
   *   larger than the send buffer), 'EBADF' (closed, also while waiting; the Mapping under `data` closed
   *   while waiting; a number in `fds` that is no open descriptor), 'ETIMEDOUT' (`timeout`), other errnos
   *   of sendmsg(2); {@link AbortError} (`signal`); ERR_INVALID_STATE (`.stream` owns the descriptor);
   *   argument errors.
   */
  async send(data: Bytes, options?: SendOptions): Promise<void> {
    const bytes = toBytes(data, 'data');
    const checked = waitOptions(options);
    const fds = descriptorsToSend(checked.fds);
    this.#assertSendable(bytes, fds);
    // The message may leave later than now; it must carry the descriptors as they are now.
    const copies = fds && copyFds(fds);
    let offset = 0;
    const length = bytes.length;
    try {
      await this.ready('write', checked, 'sendmsg', () => {
        assertIntact(bytes, length, 'sendmsg');
        offset = this.#attemptSend(bytes, offset, copies);
        return offset === length ? undefined : AGAIN;
      });
    } finally {
      if (copies) closeCopies(copies);
    }
  }

  /**
   * Sends data, blocking while the peer's queue is full.
   *
   * @throws {@link IpcError} 'EPIPE' (the peer is gone; on 'seqpacket' 'ECONNRESET' if it left data of ours
   *   unread; on 'dgram' 'ECONNREFUSED', then 'ENOTCONN'), 'EMSGSIZE' (a 'dgram' or 'seqpacket' message
   *   larger than the send buffer), 'EBADF' (closed; a number in `fds` that is no open descriptor),
   *   'ETIMEDOUT' (`timeout`), other errnos of sendmsg(2); ERR_INVALID_STATE (`.stream` owns the
   *   descriptor); argument errors.
   */
  sendSync(data: Bytes, options?: SendSyncOptions): void {
    const bytes = toBytes(data, 'data');
    const checked = syncWaitOptions(options);
    const fds = descriptorsToSend(checked.fds);
    this.#assertSendable(bytes, fds);
    let offset = 0;
    this.readySync('write', checked, 'sendmsg', () => {
      offset = this.#attemptSend(bytes, offset, fds);
      return offset === bytes.length ? undefined : AGAIN;
    });
  }

  /**
   * Receives the next message (on 'stream': the bytes available, up to maxSize), waiting for one.
   * Resolves null when the peer has closed ('stream' and 'seqpacket').
   *
   * @throws {@link IpcError} 'ECONNRESET' (once, after its last message: the peer closed with data of ours
   *   unread), 'EBADF' (closed, also while waiting), 'ETIMEDOUT' (`timeout`), other errnos of recvmsg(2);
   *   {@link AbortError} (`signal`); ERR_INVALID_STATE (`.stream` owns the descriptor); argument errors.
   */
  async receive(options?: ReceiveOptions): Promise<Message | null> {
    const checked = waitOptions(options);
    const size = receiveSize(this.type, checked);
    this.assertNotGivenAway('receive()');
    return this.ready('read', checked, 'recvmsg', () => this.#attemptReceive(size));
  }

  /**
   * Receives the next message, blocking until one comes; null when the peer has closed.
   *
   * @throws {@link IpcError} 'ECONNRESET' (once, after its last message: the peer closed with data of ours
   *   unread), 'EBADF' (closed), 'ETIMEDOUT' (`timeout`), other errnos of recvmsg(2); ERR_INVALID_STATE
   *   (`.stream` owns the descriptor); argument errors.
   */
  receiveSync(options?: ReceiveSyncOptions): Message | null {
    const checked = syncWaitOptions(options);
    const size = receiveSize(this.type, checked);
    this.assertNotGivenAway('receiveSync()');
    return this.readySync('read', checked, 'recvmsg', () => this.#attemptReceive(size));
  }

  /**
   * Receives into `buffer` (at `offset`, at most `length` bytes), waiting: on 'dgram' and 'seqpacket' one
   * whole message, on 'stream' the bytes available. Resolves the number of bytes received (0 is an empty
   * message), or null when the peer has closed ('stream', 'seqpacket'), as receive() does. Nothing is
   * allocated per message: reuse one buffer for a whole loop; it must not be used for anything else until
   * the promise settles.
   *
   * - A message longer than the range stays queued: receiveInto peeks at the next message's size first
   *   (recvmsg with MSG_PEEK | MSG_TRUNC, one more system call per message) and fails with IpcError
   *   'EMSGSIZE' naming both sizes; a larger buffer, or receive(), gets it. (Only when another process
   *   takes that message in between and the next is longer still is a message cut, and the error says it
   *   was discarded.)
   * - Descriptors (SCM_RIGHTS) cannot be returned: a message carrying them stays queued and the call fails
   *   with IpcError 'EPROTO' (receive() gets it, descriptors and all). On 'stream', where bytes carry them
   *   as they come, the bytes are received, the descriptors closed, and the call fails with 'EPROTO'.
   * - Credentials are not returned: receive() has them.
   *
   * @throws {@link IpcError} 'EMSGSIZE' (the next message is longer than the range; it stays queued),
   *   'EPROTO' (descriptors came with the message, see above), 'ECONNRESET' (once, after its last message:
   *   the peer closed with data of ours unread), 'EBADF' (closed, also while waiting; or the Mapping under
   *   `buffer` closed while waiting), 'ETIMEDOUT' (`timeout`), other errnos of recvmsg(2);
   *   {@link AbortError} (`signal`); ERR_INVALID_STATE (`.stream` owns the descriptor); argument errors
   *   (ERR_INVALID_ARG_VALUE for a buffer with no room from `offset`; ERR_OUT_OF_RANGE for `offset` or
   *   `length` outside it).
   *
   * @example
   * ```ts
   * import { UnixSocket } from 'unipc';
   *
   * // A 'seqpacket' end handed over as fd 3: every message into one buffer, until the peer closes.
   * using socket = UnixSocket.fromFd(3);
   * const buffer = Buffer.allocUnsafe(4096); // the longest message the protocol allows
   * for (let n = await socket.receiveInto(buffer); n !== null; n = await socket.receiveInto(buffer)) {
   *   console.log(buffer.toString('utf8', 0, n));
   * }
   * ```
   *
   * @see recvmsg(2), unix(7)
   */
  async receiveInto(buffer: ArrayBufferView, options?: ReceiveIntoOptions): Promise<number | null> {
    const checked = waitOptions(options);
    const length = validateTarget(buffer, checked);
    const offset = checked.offset ?? 0;
    this.assertNotGivenAway('receiveInto()');
    return this.ready('read', checked, 'recvmsg', () => this.#attemptReceiveInto(buffer, offset, length));
  }

  /**
   * Receives into `buffer`, blocking until a message (or bytes, on 'stream') comes; returns the number of
   * bytes received, or null when the peer has closed. Messages too long for the range, and messages with
   * descriptors, are refused as by receiveInto().
   *
   * @throws {@link IpcError} 'EMSGSIZE' (the next message is longer than the range; it stays queued),
   *   'EPROTO' (descriptors came with the message), 'ECONNRESET' (once, after its last message: the peer
   *   closed with data of ours unread), 'EBADF' (closed), 'ETIMEDOUT' (`timeout`), other errnos of
   *   recvmsg(2); ERR_INVALID_STATE (`.stream` owns the descriptor); argument errors.
   *
   * @example
   * ```ts
   * import { socketpair } from 'unipc';
   *
   * const [a, b] = socketpair('dgram');
   * a.sendSync('ping');
   * const buffer = new Uint8Array(256);
   * const n = b.receiveIntoSync(buffer, { offset: 16, timeout: 1000 })!; // bytes 16… of the buffer
   * console.log(Buffer.from(buffer.buffer, 16, n).toString()); // prints: ping
   * a.close();
   * b.close();
   * ```
   *
   * @see recvmsg(2), unix(7)
   */
  receiveIntoSync(buffer: ArrayBufferView, options?: ReceiveIntoSyncOptions): number | null {
    const checked = syncWaitOptions(options);
    const length = validateTarget(buffer, checked);
    const offset = checked.offset ?? 0;
    this.assertNotGivenAway('receiveIntoSync()');
    return this.readySync('read', checked, 'recvmsg', () => this.#attemptReceiveInto(buffer, offset, length));
  }

  /**
   * Messages until the peer closes: `for await (const message of socket.messages({ signal }))`.
   *
   * @throws what receive() rejects with, from the iteration.
   */
  async *messages(options?: { signal?: AbortSignal; maxSize?: number }): AsyncGenerator<Message, void, undefined> {
    for (;;) {
      const message = await this.receive(options);
      if (message === null) return;
      yield message;
    }
  }

  /**
   * messages(), for `for await (const message of socket)`.
   *
   * @throws as messages().
   */
  [Symbol.asyncIterator](): AsyncGenerator<Message, void, undefined> {
    return this.messages();
  }

  /**
   * The peer's pid, uid and gid as they were when the connection was made (SO_PEERCRED). For a
   * socketpair both ends report the process that created the pair; per-message `credentials` tell
   * who actually sent each message.
   *
   * @throws {@link IpcError} 'EBADF' (closed).
   */
  peerCredentials(): Credentials {
    const out = new Int32Array(3);
    check(native.peerCredentials(this.openFd('getsockopt'), out), 'getsockopt');
    return { pid: out[0], uid: out[1] >>> 0, gid: out[2] >>> 0 };
  }

  /**
   * Ends sending ('write': the peer reads the end), receiving ('read'), or both.
   *
   * @throws {@link IpcError} 'EBADF' (closed), 'ENOTCONN' (not connected); ERR_INVALID_STATE (`.stream`
   *   owns the descriptor); argument errors.
   */
  shutdown(how: 'read' | 'write' | 'both' = 'write'): void {
    validateOneOf(how, 'how', ['read', 'write', 'both'] as const);
    const flag = how === 'read' ? constants.SHUT_RD : how === 'write' ? constants.SHUT_WR : constants.SHUT_RDWR;
    this.assertNotGivenAway('shutdown()');
    check(native.shutdown(this.openFd('shutdown'), flag), 'shutdown');
  }

  // Every call passes MSG_DONTWAIT, so the shared O_NONBLOCK flag is never needed.
  protected override get needsNonBlockingFlag(): boolean {
    return false;
  }

  // The end going to another process stops asking for credentials: a C receiver with a buffer sized for
  // its descriptors alone would otherwise find SCM_CREDENTIALS in it and lose the descriptors (MSG_CTRUNC).
  protected override prepareForTransfer(): number {
    const fd = super.prepareForTransfer();
    if (this.type !== 'stream') native.setsockoptInt(fd, constants.SOL_SOCKET, constants.SO_PASSCRED, 0);
    return fd;
  }

  #assertSendable(bytes: Uint8Array, fds: Int32Array | null): void {
    this.assertNotGivenAway('send()');
    if (this.type === 'stream' && fds && bytes.length === 0) {
      throw invalidArgValue('data', bytes, "must not be empty when descriptors are sent on a 'stream' socket");
    }
  }

  // Sends what the socket takes now; returns the new offset. Descriptors go with the first byte.
  #attemptSend(bytes: Uint8Array, offset: number, fds: Int32Array | null): number {
    const flags = constants.MSG_NOSIGNAL | constants.MSG_DONTWAIT;
    do {
      const fd = this.openFd('sendmsg');
      const n = attemptResult(
        native.sendmsg(fd, bytes, offset, bytes.length - offset, offset === 0 ? fds : null, flags),
        'sendmsg',
      );
      if (n === AGAIN) return offset;
      if (this.type !== 'stream') return bytes.length;
      offset += n;
    } while (offset < bytes.length);
    return offset;
  }

  // One recvmsg without waiting, into bytes [offset, offset + length) of buffer (receiveMeta gets the rest):
  // the count (which with MSG_TRUNC can exceed length), AGAIN, or END at the end of the connection.
  #recvmsg(
    fd: number,
    buffer: ArrayBufferView,
    offset: number,
    length: number,
    flags: number,
  ): number | typeof AGAIN | typeof END {
    let returned = native.recvmsg(fd, buffer, offset, length, flags, receiveMeta);
    if (returned === -E.ECONNRESET) {
      // The peer's end was closed with data of ours unread. On a message socket the kernel reports that
      // (once: it clears the error) ahead of the messages the peer sent before, still queued: held back
      // until they are received, as a 'stream' socket reports it only after its bytes.
      this.#resetPending = true;
      returned = native.recvmsg(fd, buffer, offset, length, flags, receiveMeta);
    }
    if (returned === -E.EAGAIN && this.#resetPending) return this.#reportReset();
    const n = attemptResult(returned, 'recvmsg');
    if (n === AGAIN) return AGAIN;
    const meta = receiveMeta;
    if (
      n === 0 &&
      meta[META_FD_COUNT] === 0 &&
      (this.type === 'stream' || (this.type === 'seqpacket' && meta[META_HAS_CREDENTIALS] !== 1))
    ) {
      return this.#resetPending ? this.#reportReset() : END;
    }
    return n;
  }

  #attemptReceive(streamSize: number): Message | null | typeof AGAIN {
    const fd = this.openFd('recvmsg');
    const message = this.type !== 'stream';
    receiveBuffer ??= Buffer.allocUnsafe(Math.max(largestDatagram(), DEFAULT_STREAM_READ));
    const buffer = receiveBuffer;
    const length = message ? buffer.length : Math.min(streamSize, buffer.length);
    const flags = constants.MSG_CMSG_CLOEXEC | constants.MSG_DONTWAIT | (message ? constants.MSG_TRUNC : 0);
    const n = this.#recvmsg(fd, buffer, 0, length, flags);
    if (n === AGAIN) return AGAIN;
    if (n === END) return null;
    const meta = receiveMeta;
    const fds = Array.from(
      meta.subarray(constants.RECVMSG_META_FIRST_FD, constants.RECVMSG_META_FIRST_FD + meta[META_FD_COUNT]),
    );
    if (n > length) {
      for (const received of fds) native.close(received);
      throw new IpcError(
        E.EMSGSIZE,
        'recvmsg',
        {},
        `message of ${n} bytes exceeds the ${length}-byte receive buffer and was discarded`,
      );
    }
    const result: Message = { data: Buffer.from(buffer.subarray(0, n)), fds };
    if (meta[META_HAS_CREDENTIALS] === 1) {
      result.credentials = { pid: meta[META_PID], uid: meta[META_UID] >>> 0, gid: meta[META_GID] >>> 0 };
    }
    if (meta[META_FLAGS] & constants.MSG_CTRUNC) result.fdsTruncated = true;
    return result;
  }

  #attemptReceiveInto(buffer: ArrayBufferView, offset: number, length: number): number | null | typeof AGAIN {
    const fd = this.openFd('recvmsg');
    assertTargetIntact(buffer, offset + length, 'recvmsg');
    const message = this.type !== 'stream';
    const flags = constants.MSG_CMSG_CLOEXEC | constants.MSG_DONTWAIT | (message ? constants.MSG_TRUNC : 0);
    if (message) {
      // The next message's size, and whether it carries descriptors, without taking it: one that cannot be
      // received here stays queued. (Peeked descriptors are copies the kernel installs; closed at once.)
      const size = this.#recvmsg(fd, buffer, offset, 0, flags | constants.MSG_PEEK);
      if (size === AGAIN) return AGAIN;
      if (size === END) return null;
      refuseDescriptors('peeked', size);
      if (size > length) {
        throw new IpcError(
          E.EMSGSIZE,
          'recvmsg',
          {},
          `the next message (${size} bytes) is longer than the ${length} bytes to receive it into; it stays queued`,
        );
      }
    }
    const n = this.#recvmsg(fd, buffer, offset, length, flags);
    if (n === AGAIN) return AGAIN;
    if (n === END) return null;
    refuseDescriptors(message ? 'message' : 'stream', n);
    if (n > length) {
      throw new IpcError(
        E.EMSGSIZE,
        'recvmsg',
        {},
        `a message of ${n} bytes, longer than the ${length} bytes to receive it into, came in between and was discarded`,
      );
    }
    return n;
  }

  #reportReset(): never {
    this.#resetPending = false;
    throw new IpcError(E.ECONNRESET, 'recvmsg');
  }
}

/**
 * Two connected sockets: a full-duplex channel, e.g. between a parent and the child it spawns.
 *
 * @throws {@link IpcError} 'EMFILE'/'ENFILE' (descriptor limits); argument errors.
 *
 * @example
 * ```ts
 * import { socketpair, spawn } from 'unipc';
 *
 * const [mine, theirs] = socketpair('seqpacket');
 * spawn('./worker', [], { stdio: 'inherit', fds: [theirs] }); // the worker's fd 3; closed here now
 * await mine.send('job 1'); // one whole message
 * const reply = await mine.receive({ timeout: 1000 }); // null once the worker has closed its end
 * if (reply) console.log(String(reply.data), 'from pid', reply.credentials?.pid);
 * mine.close();
 * ```
 *
 * @see socketpair(2), unix(7)
 */
export function socketpair(type: SocketType = 'stream'): [UnixSocket, UnixSocket] {
  validateOneOf(type, 'type', SOCKET_TYPES);
  const fds = new Int32Array(2);
  check(native.socketpair(typeFlag(type) | constants.SOCK_CLOEXEC, fds), 'socketpair');
  return [new UnixSocket(fds[0], type), new UnixSocket(fds[1], type)];
}

// A socket path: a filesystem path, or an abstract name starting with '\0' (Linux; leaves no file).
function toSocketPath(value: unknown, name = 'path'): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  const abstract = value.startsWith('\0');
  if (value.length === (abstract ? 1 : 0) || value.slice(abstract ? 1 : 0).includes('\0')) {
    throw invalidArgValue(name, value, "must be a non-empty path without null bytes, or '\\0' and an abstract name");
  }
  const room = constants.UNIX_PATH_MAX - (abstract ? 0 : 1);
  if (Buffer.byteLength(value) > room) throw invalidArgValue(name, value, `must be at most ${room} bytes long`);
  return value;
}

function isAbstract(path: string): boolean {
  return path.startsWith('\0');
}

function displayPath(path: string): string {
  return isAbstract(path) ? `@${path.slice(1)}` : path;
}

/** Options of listen(). */
export interface ListenOptions {
  /** 'stream' (default) or 'seqpacket'. */
  type?: SocketType;
  /** Pending connections the kernel queues before connect() has to wait. Default SOMAXCONN. */
  backlog?: number;
  /** Permission bits of the socket file (who may connect). Default 0o600. */
  mode?: number;
}

/**
 * A listening Unix socket; accept() gives one UnixSocket per connecting peer.
 *
 * @example
 * ```ts
 * import { listen } from 'unipc';
 *
 * using server = listen('/run/myapp.sock', { type: 'seqpacket', mode: 0o660 });
 * for await (const client of server) {
 *   const { uid } = client.peerCredentials(); // who connected (SO_PEERCRED)
 *   const request = await client.receive({ timeout: 1000 }); // one whole message, or null
 *   await client.send(`uid ${uid} asked for ${request?.data}`);
 *   client.close();
 * }
 * ```
 *
 * @see unix(7), socket(2), bind(2), listen(2), accept(2) (accept4)
 */
export class UnixServer extends FdHandle {
  /** The path it listens on, or '\0' and the abstract name. */
  readonly path: string;
  /** 'stream' or 'seqpacket': the type of the sockets accept() gives. */
  readonly type: SocketType;

  /** @internal Use listen(). */
  constructor(fd: number, path: string, type: SocketType) {
    validateFd(fd);
    validateOneOf(type, 'type', CONNECTION_TYPES);
    super(fd);
    this.path = path;
    this.type = type;
  }

  /**
   * Waits for the next connection.
   *
   * @throws {@link IpcError} 'EBADF' (closed, also while waiting), 'ETIMEDOUT' (`timeout`), other errnos of
   *   accept4(2) ('EMFILE', …); {@link AbortError} (`signal`); argument errors.
   */
  async accept(options?: WaitOptions): Promise<UnixSocket> {
    const checked = waitOptions(options);
    return this.ready('read', checked, 'accept4', () => this.#attemptAccept());
  }

  /**
   * Blocks until the next connection.
   *
   * @throws {@link IpcError} 'EBADF' (closed), 'ETIMEDOUT' (`timeout`), other errnos of accept4(2)
   *   ('EMFILE', …); argument errors.
   */
  acceptSync(options?: SyncWaitOptions): UnixSocket {
    const checked = syncWaitOptions(options);
    return this.readySync('read', checked, 'accept4', () => this.#attemptAccept());
  }

  /**
   * Connections as they come, until the server is closed or the signal aborts.
   *
   * @throws what accept() rejects with, from the iteration (closing the server ends it instead).
   */
  async *connections(options?: { signal?: AbortSignal }): AsyncGenerator<UnixSocket, void, undefined> {
    const checked = waitOptions(options); // also when closed already: bad options never pass silently
    while (!this.closed) {
      let socket: UnixSocket;
      try {
        socket = await this.accept(checked);
      } catch (error) {
        if (this.closed && (error as IpcError).code === 'EBADF') return;
        throw error;
      }
      yield socket;
    }
  }

  /**
   * connections(), for `for await (const socket of server)`.
   *
   * @throws as connections().
   */
  [Symbol.asyncIterator](): AsyncGenerator<UnixSocket, void, undefined> {
    return this.connections();
  }

  /**
   * Stops listening and removes the socket file.
   *
   * @throws Node's own error of fs.rmSync() (not an IpcError) when something else now at `path` cannot be
   *   removed, a directory for one; the server is closed all the same.
   */
  override close(): void {
    if (this.closed) return;
    super.close();
    if (!isAbstract(this.path)) fs.rmSync(this.path, { force: true });
  }

  protected override errorContext(): IpcErrorContext {
    return { path: displayPath(this.path) };
  }

  #attemptAccept(): UnixSocket | typeof AGAIN {
    const fd = attemptResult(
      native.accept4(this.openFd('accept4'), constants.SOCK_CLOEXEC),
      'accept4',
      this.errorContext(),
    );
    return fd === AGAIN ? AGAIN : new UnixSocket(fd, this.type);
  }
}

/**
 * Listens on a socket path (or an abstract name: '\0name'). The file is created with `mode` (0o600)
 * and removed by close().
 *
 * @throws {@link IpcError} 'EADDRINUSE' (anything is at `path`, or the abstract name is taken), 'ENOENT' (a
 *   directory on the way is missing), 'EACCES' (the directory may not be written to, or one on the way
 *   searched), other errnos of socket(2), bind(2), listen(2); argument errors.
 *
 * @example
 * ```ts
 * import { listen } from 'unipc';
 *
 * const server = listen('\0myapp', { type: 'seqpacket' }); // an abstract name: no file to remove
 * const client = await server.accept({ timeout: 5000 });
 * console.log(client.peerCredentials()); // { pid, uid, gid } of whoever connected
 * server.close();
 * ```
 *
 * @see socket(2), bind(2), listen(2), unix(7)
 */
export function listen(path: string, options?: ListenOptions): UnixServer {
  const target = toSocketPath(path);
  const { type = 'stream', backlog = constants.SOMAXCONN, mode = 0o600 } = validateOptions(options);
  validateOneOf(type, 'options.type', CONNECTION_TYPES);
  validateInteger(backlog, 'options.backlog', 0, 2 ** 31 - 1);
  validateMode(mode, 'options.mode');
  const context = { path: displayPath(target) };
  const fd = check(native.socket(typeFlag(type) | constants.SOCK_CLOEXEC | constants.SOCK_NONBLOCK), 'socket');
  const fail = (result: number, syscall: string, created: boolean): never => {
    native.close(fd);
    if (created) fs.rmSync(target, { force: true });
    throw new IpcError(-result, syscall, context);
  };
  // bind() gives the socket file the socket's own mode less the umask: set first, it keeps the file from
  // ever being more open than `mode`; the chmod after only restores bits the umask took.
  if (!isAbstract(target)) {
    const changed = native.fchmod(fd, mode);
    if (changed < 0) fail(changed, 'fchmod', false);
  }
  let result = native.bind(fd, target);
  if (result < 0) fail(result, 'bind', false);
  if (!isAbstract(target)) {
    try {
      fs.chmodSync(target, mode);
    } catch (error) {
      fail(-errnoValue((error as NodeJS.ErrnoException).code ?? 'EPERM'), 'chmod', true);
    }
  }
  result = native.listen(fd, backlog);
  if (result < 0) fail(result, 'listen', !isAbstract(target));
  return new UnixServer(fd, target, type);
}

/** Options of connect(). */
export interface ConnectOptions extends WaitOptions {
  /** 'stream' (default) or 'seqpacket'; must match the listener's. */
  type?: SocketType;
}

/** Options of connectSync(). */
export interface ConnectSyncOptions extends SyncWaitOptions {
  /** 'stream' (default) or 'seqpacket'; must match the listener's. */
  type?: SocketType;
}

function connectionType(type: unknown): number {
  validateOneOf(type, 'options.type', CONNECTION_TYPES);
  return typeFlag(type);
}

/**
 * Connects to a listening socket. Usually immediate; when the listener's backlog is full this waits
 * on a waiter thread (AF_UNIX cannot poll for that), cancellable by `signal` and `timeout`.
 *
 * @throws {@link IpcError} 'ENOENT' (nothing at `path`), 'ECONNREFUSED' (nobody listens there: a file that
 *   is no socket, a stale socket file, an unbound abstract name), 'EACCES' (the socket file may not be
 *   written to, or a directory on the way searched), 'EPROTOTYPE' (`type` is not the listener's),
 *   'ETIMEDOUT' (`timeout`), other errnos of connect(2); {@link AbortError} (`signal`); argument errors.
 *
 * @example
 * ```ts
 * import { connect } from 'unipc';
 *
 * using socket = await connect('/run/myapp.sock', { type: 'seqpacket', timeout: 1000 });
 * await socket.send('status');
 * const reply = await socket.receive({ timeout: 1000 });
 * console.log(reply === null ? 'the server closed' : String(reply.data));
 * ```
 *
 * @see connect(2), unix(7)
 */
export async function connect(path: string, options?: ConnectOptions): Promise<UnixSocket> {
  const target = toSocketPath(path);
  const checked = waitOptions(options);
  const { type = 'stream' } = checked;
  const flag = connectionType(type);
  const context = { path: displayPath(target) };
  if (checked.signal?.aborted) throw abortedError(checked.signal);
  const fd = check(native.socket(flag | constants.SOCK_CLOEXEC | constants.SOCK_NONBLOCK), 'socket');
  native.ownFd(fd, true); // closed at teardown should this worker be terminated while connecting
  try {
    const immediate = native.connect(fd, target, -1);
    if (immediate < 0 && -immediate !== E.EAGAIN) check(immediate, 'connect', context);
    setNonBlocking(fd, false);
    if (immediate < 0) {
      await waitOnThread((callback) => native.connectAsync(fd, target, callback), checked, 'connect', context);
    }
  } catch (error) {
    native.ownFd(fd, false);
    native.close(fd);
    throw error;
  }
  return new UnixSocket(fd, type);
}

/**
 * Connects to a listening socket, blocking while its backlog is full (up to `timeout`).
 *
 * @throws {@link IpcError} 'ENOENT' (nothing at `path`), 'ECONNREFUSED' (nobody listens there: a file that
 *   is no socket, a stale socket file, an unbound abstract name), 'EACCES' (the socket file may not be
 *   written to, or a directory on the way searched), 'EPROTOTYPE' (`type` is not the listener's),
 *   'ETIMEDOUT' (`timeout`), other errnos of connect(2); argument errors.
 *
 * @example
 * ```ts
 * import { connectSync } from 'unipc';
 *
 * using socket = connectSync('/run/myapp.sock', { timeout: 1000 }); // 'stream'
 * socket.sendSync('reload\n');
 * const reply = socket.receiveSync({ timeout: 1000 }); // the bytes available; null at the end
 * console.log(reply && String(reply.data));
 * ```
 *
 * @see connect(2), unix(7)
 */
export function connectSync(path: string, options?: ConnectSyncOptions): UnixSocket {
  const target = toSocketPath(path);
  const { type = 'stream', timeout } = syncWaitOptions(options);
  const flag = connectionType(type);
  const context = { path: displayPath(target) };
  const fd = check(native.socket(flag | constants.SOCK_CLOEXEC), 'socket');
  const result = native.connect(fd, target, timeout ?? -1);
  if (result < 0) {
    native.close(fd);
    if (result === -E.ETIMEDOUT) throw timeoutError('connect', timeout!, context);
    check(result, 'connect', context);
  }
  return new UnixSocket(fd, type);
}
