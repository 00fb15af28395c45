// POSIX message queues (mq_open, mq_send, mq_receive, mq_unlink): whole messages with priorities,
// named like '/name'. On Linux a queue descriptor is a pollable file descriptor, so waiting is a
// readiness wait like a pipe's (docs/design.md). unipc opens every queue O_NONBLOCK so the event loop can never
// block on it; `nowait` (per call, or setNonBlocking() for the object) is what makes calls fail at once.
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import { check, E, IpcError, type IpcErrorContext } from './errors.js';
import { assertTargetIntact, type Bytes, FdHandle, fstat } from './fd.js';
import { constants, native } from './native.js';
import { type FileIdentity, OwnedName, toIpcName } from './posix-name.js';
import {
  invalidArgValue,
  outOfRange,
  type TargetRange,
  toBytes,
  validateBoolean,
  validateFd,
  validateInteger,
  validateMode,
  validateObject,
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
  waitOptions,
} from './wait.js';

/** How PosixQueue.open() opens a queue, or makes one. */
export interface PosixQueueOptions {
  /** Create the queue if it does not exist (O_CREAT). Default false. */
  create?: boolean;
  /** With create: fail with 'EEXIST' if it exists (O_EXCL). Default false. */
  exclusive?: boolean;
  /** Permission bits of a new queue, before the umask. Default 0o600. */
  mode?: number;
  /**
   * Capacity of a new queue in messages (mq_maxmsg). Default: /proc/sys/fs/mqueue/msg_default. Without
   * CAP_SYS_RESOURCE at most /proc/sys/fs/mqueue/msg_max.
   */
  maxMessages?: number;
  /**
   * Largest message of a new queue in bytes (mq_msgsize). Default: /proc/sys/fs/mqueue/msgsize_default.
   * Without CAP_SYS_RESOURCE at most /proc/sys/fs/mqueue/msgsize_max.
   */
  messageSize?: number;
  /** Open for receiving only (O_RDONLY). Default false. */
  readOnly?: boolean;
  /** Open for sending only (O_WRONLY). Default false. */
  writeOnly?: boolean;
  /**
   * Make this handle the queue's owner: close() — which `using` calls, and spawn() when it hands the
   * queue over — also unlinks the name, if it still names this queue. Default false.
   */
  removeOnDispose?: boolean;
}

interface NoWait {
  /** Fail with IpcError 'EAGAIN' instead of waiting. Default: as set by setNonBlocking() (false). */
  nowait?: boolean;
}

/** Options of PosixQueue.send(). */
export interface PosixSendOptions extends WaitOptions, NoWait {
  /** 0 (default) to MQ_PRIO_MAX - 1 (32767 on Linux); higher priorities are received first. */
  priority?: number;
}

/** Options of PosixQueue.sendSync(). */
export interface PosixSendSyncOptions extends SyncWaitOptions, NoWait {
  /** 0 (default) to MQ_PRIO_MAX - 1 (32767 on Linux); higher priorities are received first. */
  priority?: number;
}

/** Options of PosixQueue.receive() and messages(). */
export interface PosixReceiveOptions extends WaitOptions, NoWait {}
/** Options of PosixQueue.receiveSync(). */
export interface PosixReceiveSyncOptions extends SyncWaitOptions, NoWait {}

/**
 * What PosixQueue.receiveInto() tells besides the length it returns: an object of the caller's, filled
 * in by each successful call that is given it (`{ info }`), so that a receive loop allocates nothing.
 */
export interface PosixReceiveInfo {
  /** The message's length in bytes (what the call returned). */
  length: number;
  /** The priority it was sent with. */
  priority: number;
}

interface IntoInfo {
  /**
   * An object to fill in with the message's length and priority when the call succeeds; reuse one for a
   * whole loop. (Concurrent calls given the same object: each fills it in as it settles.)
   */
  info?: PosixReceiveInfo;
}

/** Options of PosixQueue.receiveInto(): where in the buffer, where the priority goes, how to wait. */
export interface PosixReceiveIntoOptions extends WaitOptions, NoWait, TargetRange, IntoInfo {}
/** Options of PosixQueue.receiveIntoSync(): where in the buffer, where the priority goes, how long to block. */
export interface PosixReceiveIntoSyncOptions extends SyncWaitOptions, NoWait, TargetRange, IntoInfo {}

/** A message received from a POSIX queue. */
export interface PosixMessage {
  /** The message's bytes, copied out of the kernel. */
  data: Buffer;
  /** The priority it was sent with. */
  priority: number;
}

/** What PosixQueue.attributes() reads (mq_getattr), and this object's own non-blocking setting. */
export interface PosixQueueAttributes {
  /** mq_maxmsg */
  maxMessages: number;
  /** mq_msgsize */
  messageSize: number;
  /** mq_curmsgs: messages in the queue now. */
  currentMessages: number;
  /** Whether send() and receive() fail with 'EAGAIN' rather than wait (setNonBlocking()). */
  nonBlocking: boolean;
}

const MQUEUE_DIR = '/proc/sys/fs/mqueue';

function mqueueLimit(name: string): string {
  try {
    return fs.readFileSync(`${MQUEUE_DIR}/${name}`, 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

function systemDefault(name: string, fallback: number): number {
  const value = Number.parseInt(mqueueLimit(name), 10);
  return value > 0 ? value : fallback;
}

function openError(result: number, name: string, maxMessages: number, messageSize: number): IpcError {
  const context = { objectName: name };
  if (result === -E.ENOSYS) {
    return new IpcError(
      -result,
      'mq_open',
      context,
      'POSIX message queues are not available in this kernel or container (CONFIG_POSIX_MQUEUE)',
    );
  }
  if (result === -E.EINVAL && maxMessages > 0) {
    return new IpcError(
      -result,
      'mq_open',
      context,
      `maxMessages ${maxMessages} or messageSize ${messageSize} is beyond the system's limits ` +
        `(${MQUEUE_DIR}/msg_max = ${mqueueLimit('msg_max')}, msgsize_max = ${mqueueLimit('msgsize_max')}; ` +
        'with CAP_SYS_RESOURCE up to 65536 messages and 16 MiB)',
    );
  }
  if (result === -E.EMFILE && maxMessages > 0) {
    return new IpcError(
      -result,
      'mq_open',
      context,
      'the queue would exceed RLIMIT_MSGQUEUE (bytes of queues per user), or too many open descriptors',
    );
  }
  return new IpcError(-result, 'mq_open', context);
}

// One receive buffer for the process (JavaScript runs one attempt at a time), as large as the largest
// messageSize seen; each message is copied out at its exact size.
let receiveBuffer = Buffer.alloc(0);
const receivedPriority = new Int32Array(1);

// The queue `name` names now (mq_open, then fstat). A queue this user may open in neither direction cannot
// be told apart: it is taken for the owner's own, `ours`, whose creator made it so.
function queueIdentity(name: string, ours: FileIdentity): FileIdentity | undefined {
  for (const access of [constants.O_RDONLY, constants.O_WRONLY]) {
    const fd = native.mqOpen(name, access | constants.O_NONBLOCK | constants.O_CLOEXEC, 0, 0, 0);
    if (fd === -E.ENOENT) return undefined;
    if (fd < 0) continue;
    try {
      const { dev, ino } = fstat(fd);
      return { dev, ino };
    } finally {
      native.close(fd);
    }
  }
  return ours;
}

/**
 * A POSIX message queue (mq_open): messages of up to messageSize bytes, received highest priority first
 * and in order within a priority, by any process that opens the name — C programs included. The queue
 * stays until unlinked (PosixQueue.unlink(), or the close() of a handle opened with `removeOnDispose`);
 * close() (or `using`) closes this descriptor.
 *
 * @example
 * ```ts
 * import { PosixQueue } from 'unipc';
 *
 * using queue = PosixQueue.open('/jobs', { create: true, maxMessages: 10, messageSize: 1024 });
 * await queue.send('routine');
 * await queue.send('urgent', { priority: 9 });
 * const { data, priority } = await queue.receive({ timeout: 1000 }); // the highest priority first
 * console.log(`${data} (${priority})`); // "urgent (9)"
 * PosixQueue.unlink('/jobs'); // the name goes; open descriptors keep the queue
 * ```
 *
 * @see mq_overview(7), mq_open(3), mq_send(3), mq_receive(3), mq_getattr(3), mq_unlink(3)
 */
export class PosixQueue extends FdHandle {
  /** The name, in its '/name' form. */
  readonly name: string;
  /** The queue's capacity in messages (mq_maxmsg), fixed when it was created. */
  readonly maxMessages: number;
  /** The queue's largest message in bytes (mq_msgsize), fixed when it was created. */
  readonly messageSize: number;
  /** Opened for receiving only (PosixQueueOptions.readOnly). */
  readonly readOnly: boolean;
  /** Opened for sending only (PosixQueueOptions.writeOnly). */
  readonly writeOnly: boolean;
  #nonBlocking = false;
  /** The name this handle unlinks when closed (removeOnDispose), or undefined. */
  #owned: OwnedName | undefined;

  /** @internal Use PosixQueue.open(). */
  constructor(fd: number, name: string, access: { readOnly: boolean; writeOnly: boolean }) {
    validateFd(fd);
    super(fd);
    this.name = name;
    this.readOnly = access.readOnly;
    this.writeOnly = access.writeOnly;
    const attributes = new Float64Array(4);
    check(native.mqGetattr(fd, attributes), 'mq_getattr', { objectName: name });
    this.maxMessages = attributes[1]!;
    this.messageSize = attributes[2]!;
  }

  /**
   * mq_open(name): opens the queue `name` ('/name' or 'name'), or creates it with `create`.
   *
   * @throws {@link IpcError} 'ENOENT' (no such queue, without `create`), 'EEXIST' (`create` and
   *   `exclusive`, and it exists), 'EACCES' (its mode forbids the access asked for), 'EINVAL'
   *   (`maxMessages` or `messageSize` beyond /proc/sys/fs/mqueue/msg_max or msgsize_max), 'EMFILE'
   *   (RLIMIT_MSGQUEUE, or the descriptor limit), 'ENOSPC' (the system's limit on queues, queues_max),
   *   'ENOSYS' (no POSIX queues in this kernel or container), other errnos of mq_open(3); argument errors.
   */
  static open(name: string, options?: PosixQueueOptions): PosixQueue {
    const ipcName = toIpcName(name);
    const {
      create = false,
      exclusive = false,
      mode = 0o600,
      maxMessages,
      messageSize,
      readOnly = false,
      writeOnly = false,
      removeOnDispose = false,
    } = validateOptions(options);
    validateBoolean(create, 'options.create');
    validateBoolean(removeOnDispose, 'options.removeOnDispose');
    validateBoolean(exclusive, 'options.exclusive');
    validateBoolean(readOnly, 'options.readOnly');
    validateBoolean(writeOnly, 'options.writeOnly');
    validateMode(mode, 'options.mode');
    if (maxMessages !== undefined) validateInteger(maxMessages, 'options.maxMessages', 1, 2 ** 31 - 1);
    if (messageSize !== undefined) validateInteger(messageSize, 'options.messageSize', 1, 2 ** 31 - 1);
    if (readOnly && writeOnly)
      throw invalidArgValue('options.writeOnly', writeOnly, 'cannot be combined with readOnly');
    if (!create && (maxMessages !== undefined || messageSize !== undefined)) {
      throw invalidArgValue(
        'options.create',
        create,
        'must be true when maxMessages or messageSize is given (they shape a new queue)',
      );
    }
    // mq_open takes both attributes or neither: the one not given keeps the system's default.
    const attributesGiven = maxMessages !== undefined || messageSize !== undefined;
    const messages = !attributesGiven ? 0 : (maxMessages ?? systemDefault('msg_default', 10));
    const size = !attributesGiven ? 0 : (messageSize ?? systemDefault('msgsize_default', 8192));
    const flags =
      (readOnly ? constants.O_RDONLY : writeOnly ? constants.O_WRONLY : constants.O_RDWR) |
      (create ? constants.O_CREAT : 0) |
      (create && exclusive ? constants.O_EXCL : 0) |
      constants.O_NONBLOCK;
    const fd = native.mqOpen(ipcName, flags, mode, messages, size);
    if (fd < 0) throw openError(fd, ipcName, messages, size);
    const queue = new PosixQueue(fd, ipcName, { readOnly, writeOnly });
    if (removeOnDispose) {
      const { dev, ino } = fstat(fd);
      const current = (ours: FileIdentity) => queueIdentity(ipcName, ours);
      queue.#owned = new OwnedName({ dev, ino }, ipcName, current, native.mqUnlink, 'mq_unlink');
    }
    return queue;
  }

  /** Whether close() also unlinks the name (PosixQueueOptions.removeOnDispose). */
  get removeOnDispose(): boolean {
    return this.#owned?.held ?? false;
  }

  /**
   * Closes the descriptor; an owner (removeOnDispose) then unlinks the name if it still names this queue.
   * Pending operations reject with IpcError 'EBADF'. Closing twice does nothing.
   *
   * @throws {@link IpcError} (an owner) 'EACCES' and other errnos of mq_unlink(3); the descriptor is
   *   closed either way.
   */
  override close(): void {
    if (this.closed) return;
    super.close();
    this.#owned?.release();
  }

  /**
   * Removes the name; processes that have the queue open keep using it until they close it.
   *
   * @throws {@link IpcError} 'ENOENT' (no such name), 'EACCES' (another user's queue); argument errors.
   */
  static unlink(name: string): void {
    const ipcName = toIpcName(name);
    check(native.mqUnlink(ipcName), 'mq_unlink', { objectName: ipcName });
  }

  /**
   * Sends one message, waiting (on the event loop, no thread) while the queue is full.
   *
   * @throws {@link IpcError} 'EAGAIN' (`nowait` or setNonBlocking(), and the queue is full or earlier sends
   *   of this object wait), 'EBADF' (closed, also while waiting; or opened `readOnly`), 'ETIMEDOUT'
   *   (`timeout`), other errnos of mq_send(3); {@link AbortError} (`signal`); argument errors
   *   (ERR_OUT_OF_RANGE also for data longer than messageSize).
   */
  async send(data: Bytes, options?: PosixSendOptions): Promise<void> {
    const bytes = toBytes(data, 'data');
    const checked = waitOptions(options);
    const { priority, nowait } = this.#sendPlan(bytes, checked);
    if (nowait) return this.#sendNow(bytes, priority);
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    // Room now and nobody of this object queued: done, without a copy or a poll.
    if (!this.waiting('write') && this.#attemptSend(bytes, priority) !== AGAIN) return;
    // The message is what `data` held at the call: the next attempt comes after a wait.
    const message = new Uint8Array(bytes);
    await this.ready('write', checked, 'mq_send', () => this.#attemptSend(message, priority));
  }

  /**
   * Sends one message, blocking while the queue is full (up to `timeout`; not at all with `nowait`).
   *
   * @throws {@link IpcError} 'EAGAIN' (`nowait` or setNonBlocking(), and the queue is full or earlier sends
   *   of this object wait), 'EBADF' (closed, or opened `readOnly`), 'ETIMEDOUT' (`timeout`), other errnos
   *   of mq_send(3); argument errors (ERR_OUT_OF_RANGE also for data longer than messageSize).
   */
  sendSync(data: Bytes, options?: PosixSendSyncOptions): void {
    const bytes = toBytes(data, 'data');
    const checked = syncWaitOptions(options);
    const { priority, nowait } = this.#sendPlan(bytes, checked);
    if (nowait) {
      this.#sendNow(bytes, priority);
      return;
    }
    this.readySync('write', checked, 'mq_send', () => this.#attemptSend(bytes, priority));
  }

  /**
   * Receives the oldest message of the highest priority, waiting (no thread) for one.
   *
   * @throws {@link IpcError} 'EAGAIN' (`nowait` or setNonBlocking(), and the queue is empty or earlier
   *   receives of this object wait), 'EBADF' (closed, also while waiting; or opened `writeOnly`),
   *   'ETIMEDOUT' (`timeout`), other errnos of mq_receive(3); {@link AbortError} (`signal`); argument
   *   errors.
   */
  async receive(options?: PosixReceiveOptions): Promise<PosixMessage> {
    const checked = waitOptions(options);
    if (this.#noWait(checked)) return this.#receiveNow();
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    if (!this.waiting('read')) {
      const message = this.#attemptReceive();
      if (message !== AGAIN) return message;
    }
    return this.ready('read', checked, 'mq_receive', () => this.#attemptReceive());
  }

  /**
   * Receives a message, blocking until one comes (up to `timeout`; not at all with `nowait`).
   *
   * @throws {@link IpcError} 'EAGAIN' (`nowait` or setNonBlocking(), and the queue is empty or earlier
   *   receives of this object wait), 'EBADF' (closed, or opened `writeOnly`), 'ETIMEDOUT' (`timeout`),
   *   other errnos of mq_receive(3); argument errors.
   */
  receiveSync(options?: PosixReceiveSyncOptions): PosixMessage {
    const checked = syncWaitOptions(options);
    if (this.#noWait(checked)) return this.#receiveNow();
    return this.readySync('read', checked, 'mq_receive', () => this.#attemptReceive());
  }

  /**
   * Receives the oldest message of the highest priority into `buffer` (at `offset`, in at most `length`
   * bytes), waiting (no thread) for one; resolves its length. Its priority goes to `options.info`, an
   * object of the caller's that the call fills in: nothing is allocated per message. The range must hold
   * the queue's messageSize (mq_receive refuses a shorter one, whatever the message's length): a shorter
   * one fails with IpcError 'EMSGSIZE' before anything is received. The buffer must not be used for
   * anything else until the promise settles.
   *
   * @throws {@link IpcError} 'EMSGSIZE' (the range is shorter than messageSize; nothing was received),
   *   'EAGAIN' (`nowait` or setNonBlocking(), and the queue is empty or earlier receives of this object
   *   wait), 'EBADF' (closed, also while waiting; opened `writeOnly`; or the Mapping under `buffer` closed
   *   while waiting), 'ETIMEDOUT' (`timeout`), other errnos of mq_receive(3); {@link AbortError}
   *   (`signal`); argument errors.
   *
   * @example
   * ```ts
   * import { PosixQueue, type PosixReceiveInfo } from 'unipc';
   *
   * using queue = PosixQueue.open('/jobs', { readOnly: true });
   * const buffer = Buffer.allocUnsafe(queue.messageSize); // room for the longest message
   * const info: PosixReceiveInfo = { length: 0, priority: 0 }; // filled in by each receive
   * for (;;) {
   *   const n = await queue.receiveInto(buffer, { info, timeout: 10_000 });
   *   console.log(`priority ${info.priority}: ${buffer.toString('utf8', 0, n)}`);
   * }
   * ```
   *
   * @see mq_receive(3)
   */
  async receiveInto(buffer: ArrayBufferView, options?: PosixReceiveIntoOptions): Promise<number> {
    const checked = waitOptions(options);
    const length = this.#intoLength(buffer, checked);
    const { offset = 0, info } = checked;
    if (this.#noWait(checked)) return this.#receiveNowInto(buffer, offset, length, info);
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    if (!this.waiting('read')) {
      const n = this.#attemptReceiveInto(buffer, offset, length, info);
      if (n !== AGAIN) return n;
    }
    return this.ready('read', checked, 'mq_receive', () => this.#attemptReceiveInto(buffer, offset, length, info));
  }

  /**
   * Receives a message into `buffer`, blocking until one comes (up to `timeout`; not at all with
   * `nowait`); returns its length, and fills in `options.info` with it and its priority.
   *
   * @throws {@link IpcError} 'EMSGSIZE' (the range is shorter than messageSize; nothing was received),
   *   'EAGAIN' (`nowait` or setNonBlocking(), and the queue is empty or earlier receives of this object
   *   wait), 'EBADF' (closed, or opened `writeOnly`), 'ETIMEDOUT' (`timeout`), other errnos of
   *   mq_receive(3); argument errors.
   *
   * @example
   * ```ts
   * import { PosixQueue } from 'unipc';
   *
   * using queue = PosixQueue.open('/jobs', { create: true, maxMessages: 10, messageSize: 256 });
   * queue.sendSync('urgent', { priority: 9 });
   * const buffer = new Uint8Array(256);
   * const info = { length: 0, priority: 0 };
   * queue.receiveIntoSync(buffer, { info, timeout: 1000 });
   * console.log(info); // prints: { length: 6, priority: 9 }
   * PosixQueue.unlink('/jobs');
   * ```
   *
   * @see mq_receive(3)
   */
  receiveIntoSync(buffer: ArrayBufferView, options?: PosixReceiveIntoSyncOptions): number {
    const checked = syncWaitOptions(options);
    const length = this.#intoLength(buffer, checked);
    const { offset = 0, info } = checked;
    if (this.#noWait(checked)) return this.#receiveNowInto(buffer, offset, length, info);
    return this.readySync('read', checked, 'mq_receive', () => this.#attemptReceiveInto(buffer, offset, length, info));
  }

  /**
   * Messages as they come, until the queue is closed or `signal` aborts.
   *
   * @throws what receive() rejects with, from the iteration (closing the queue ends it instead).
   */
  async *messages(options?: { signal?: AbortSignal }): AsyncGenerator<PosixMessage, void, undefined> {
    const checked = waitOptions(options); // also when closed already: bad options never pass silently
    while (!this.closed) {
      let message: PosixMessage;
      try {
        message = await this.receive(checked);
      } catch (error) {
        if (this.closed && (error as IpcError).code === 'EBADF') return;
        throw error;
      }
      yield message;
    }
  }

  /**
   * messages(), for `for await (const { data, priority } of queue)`.
   *
   * @throws as messages().
   */
  [Symbol.asyncIterator](): AsyncGenerator<PosixMessage, void, undefined> {
    return this.messages();
  }

  /**
   * mq_getattr: the queue's capacity, message size and current number of messages.
   *
   * @throws {@link IpcError} 'EBADF' (closed).
   */
  attributes(): PosixQueueAttributes {
    const out = new Float64Array(4);
    check(native.mqGetattr(this.openFd('mq_getattr'), out), 'mq_getattr', this.errorContext());
    return { maxMessages: out[1]!, messageSize: out[2]!, currentMessages: out[3]!, nonBlocking: this.#nonBlocking };
  }

  /**
   * Makes this object's send() and receive() (and their Sync forms) fail with 'EAGAIN' instead of
   * waiting, as mq_setattr(O_NONBLOCK) does in C; a call's own `nowait` still overrides it. The
   * descriptor itself is always non-blocking: that is how unipc waits without blocking the event loop.
   *
   * @throws {@link IpcError} 'EBADF' (closed); argument errors.
   */
  setNonBlocking(nonBlocking = true): void {
    validateBoolean(nonBlocking, 'nonBlocking');
    this.openFd('mq_setattr');
    this.#nonBlocking = nonBlocking;
  }

  protected override errorContext(): IpcErrorContext {
    return { objectName: this.name };
  }

  #noWait(options: NoWait): boolean {
    const { nowait } = options;
    if (nowait !== undefined) validateBoolean(nowait, 'options.nowait');
    return nowait ?? this.#nonBlocking;
  }

  #sendPlan(bytes: Uint8Array, options: PosixSendSyncOptions): { priority: number; nowait: boolean } {
    const { priority = 0 } = options;
    validateInteger(priority, 'options.priority', 0, constants.MQ_PRIO_MAX - 1);
    const nowait = this.#noWait(options);
    if (bytes.length > this.messageSize) {
      throw outOfRange('data.byteLength', `<= ${this.messageSize} (the queue's messageSize)`, bytes.length);
    }
    return { priority, nowait };
  }

  #attemptSend(bytes: Uint8Array, priority: number): undefined | typeof AGAIN {
    const fd = this.openFd('mq_send');
    const result = attemptResult(native.mqSend(fd, bytes, 0, bytes.length, priority), 'mq_send', this.errorContext());
    return result === AGAIN ? AGAIN : undefined;
  }

  // The length of a receiveInto's range, validated with its info object; a range mq_receive would refuse
  // is refused here. (A number, not an object: the receive loop allocates nothing.)
  #intoLength(buffer: unknown, options: TargetRange & IntoInfo): number {
    const length = validateTarget(buffer, options);
    if (options.info !== undefined) validateObject(options.info, 'options.info');
    if (length < this.messageSize) throw this.#tooShort(length);
    return length;
  }

  #tooShort(length: number): IpcError {
    return new IpcError(
      E.EMSGSIZE,
      'mq_receive',
      this.errorContext(),
      `the ${length} bytes to receive into are fewer than the queue's messageSize (${this.messageSize}), ` +
        'which mq_receive needs whatever the message; nothing was received',
    );
  }

  #attemptReceiveInto(
    buffer: ArrayBufferView,
    offset: number,
    length: number,
    info: PosixReceiveInfo | undefined,
  ): number | typeof AGAIN {
    const fd = this.openFd('mq_receive');
    assertTargetIntact(buffer, offset + length, 'mq_receive');
    const result = native.mqReceive(fd, buffer, offset, length, receivedPriority);
    if (result === -E.EMSGSIZE) throw this.#tooShort(length);
    const n = attemptResult(result, 'mq_receive', this.errorContext());
    if (n === AGAIN) return AGAIN;
    if (info !== undefined) {
      info.length = n;
      info.priority = receivedPriority[0]!;
    }
    return n;
  }

  #receiveNowInto(buffer: ArrayBufferView, offset: number, length: number, info: PosixReceiveInfo | undefined): number {
    if (this.waiting('read')) {
      throw new IpcError(E.EAGAIN, 'mq_receive', this.errorContext(), 'earlier receives of this object are waiting');
    }
    const n = this.#attemptReceiveInto(buffer, offset, length, info);
    if (n === AGAIN) throw new IpcError(E.EAGAIN, 'mq_receive', this.errorContext(), 'queue is empty');
    return n;
  }

  #attemptReceive(): PosixMessage | typeof AGAIN {
    const fd = this.openFd('mq_receive');
    if (receiveBuffer.length < this.messageSize) receiveBuffer = Buffer.allocUnsafe(this.messageSize);
    const n = attemptResult(
      native.mqReceive(fd, receiveBuffer, 0, this.messageSize, receivedPriority),
      'mq_receive',
      this.errorContext(),
    );
    if (n === AGAIN) return AGAIN;
    return { data: Buffer.from(receiveBuffer.subarray(0, n)), priority: receivedPriority[0]! };
  }

  // The nowait forms: one attempt, and 'EAGAIN' if it would have had to wait — or if Promise-form calls
  // of this object are waiting already, since a call that may not wait must not overtake them.
  #sendNow(bytes: Uint8Array, priority: number): void {
    if (this.waiting('write')) {
      throw new IpcError(E.EAGAIN, 'mq_send', this.errorContext(), 'earlier sends of this object are waiting');
    }
    if (this.#attemptSend(bytes, priority) === AGAIN) {
      throw new IpcError(E.EAGAIN, 'mq_send', this.errorContext(), 'queue is full');
    }
  }

  #receiveNow(): PosixMessage {
    if (this.waiting('read')) {
      throw new IpcError(E.EAGAIN, 'mq_receive', this.errorContext(), 'earlier receives of this object are waiting');
    }
    const message = this.#attemptReceive();
    if (message === AGAIN) throw new IpcError(E.EAGAIN, 'mq_receive', this.errorContext(), 'queue is empty');
    return message;
  }
}
