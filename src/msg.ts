// System V message queues (msgget/msgsnd/msgrcv/msgctl, `ipcs -q`): typed messages between any
// processes, byte-compatible with C's `struct msgbuf { long mtype; char mtext[]; }`.
//
// Waiting: msgsnd/msgrcv have no descriptor to poll. Every Promise-form call first tries IPC_NOWAIT on
// the JavaScript thread — no thread when a message is there or there is room — and only on E.EAGAIN/E.ENOMSG
// blocks on a waiter thread (waitOnThread), where abort and timeout interrupt it without sending or
// taking anything. Sync forms block the calling thread (with a timeout: on a waiter thread, RunSync).

import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { check, E, IpcError, type IpcErrorContext, timeoutError } from './errors.js';
import { assertTargetIntact, type Bytes, readSmallFile } from './fd.js';
import { constants, native } from './native.js';
import {
  IPC_PRIVATE,
  permissionFields,
  permissionsToSet,
  removeUnlessGone,
  type SysvObjectStat,
  type SysvPermissions,
  secondsToDate,
  statOfId,
  statUnlessDenied,
  toKey,
} from './sysv.js';
import {
  invalidArgType,
  invalidArgValue,
  outOfRange,
  type TargetRange,
  toBytes,
  validateBoolean,
  validateInteger,
  validateMaxSize,
  validateObject,
  validateOptions,
  validateTarget,
} from './validate.js';
import {
  abortedError,
  type Budget,
  budget,
  type RefOptions,
  type SyncWaitOptions,
  syncWaitOptions,
  Turnstile,
  type WaitOptions,
  waitOnThread,
  waitOptions,
} from './wait.js';

/**
 * A message type: a positive C long. Numbers are exact up to Number.MAX_SAFE_INTEGER; larger types
 * (up to 2**63 - 1 on 64-bit Linux) are given and received as bigints.
 */
export type MessageType = number | bigint;

/** A message received from a System V queue. */
export interface QueueMessage {
  /** The sender's mtype: a number, or a bigint when it is above Number.MAX_SAFE_INTEGER. */
  type: MessageType;
  /** The message text (mtext), copied out of the kernel. */
  data: Buffer;
}

/** How MessageQueue.get() opens a key's queue, or makes one. */
export interface MessageQueueOptions {
  /** Create the queue if the key has none (IPC_CREAT). Default false; IPC_PRIVATE needs true. */
  create?: boolean;
  /** With create: fail with 'EEXIST' if the key has one (IPC_EXCL). Default false. */
  exclusive?: boolean;
  /** Permission bits of a new queue. Default 0o600. */
  mode?: number;
  /**
   * Make this handle the queue's owner: disposing it (`using`, or [Symbol.dispose]()) removes the queue
   * (IPC_RMID) by its id. Default false.
   */
  removeOnDispose?: boolean;
}

interface NoWait {
  /**
   * Fail at once instead of waiting (IPC_NOWAIT): a full queue is IpcError 'EAGAIN', no matching message
   * 'ENOMSG' — the errors C gets.
   */
  nowait?: boolean;
}

/** Options of MessageQueue.send(). */
export interface QueueSendOptions extends WaitOptions, RefOptions, NoWait {}
/** Options of MessageQueue.sendSync(). */
export interface QueueSendSyncOptions extends SyncWaitOptions, NoWait {}

interface Selection extends NoWait {
  /**
   * Which message (msgtyp): 0 (default) the first in the queue; > 0 the first of that type (with
   * `except`, the first of any other type); < 0 the first of the lowest type <= |type|.
   */
  type?: MessageType;
  /** With a positive type: the first message of any type but that one (MSG_EXCEPT). */
  except?: boolean;
  /** Truncate a message longer than maxSize (MSG_NOERROR) instead of failing with 'E2BIG'. */
  noError?: boolean;
  /** The longest message text to accept. Default: the system's msgmax, so any message fits. */
  maxSize?: number;
}

/** Options of MessageQueue.receive() and messages(): which message, and how to wait for it. */
export interface QueueReceiveOptions extends WaitOptions, RefOptions, Selection {}
/** Options of MessageQueue.receiveSync(): which message, and how long to wait for it. */
export interface QueueReceiveSyncOptions extends SyncWaitOptions, Selection {}

/**
 * What MessageQueue.receiveInto() tells besides the length it returns: an object of the caller's, filled
 * in by each successful call that is given it (`{ info }`). An object rather than, say, an Int32Array,
 * because a type is a C long, which only a number-or-bigint field holds exactly; and one the caller reuses,
 * so that a receive loop allocates nothing (a type above Number.MAX_SAFE_INTEGER is the one exception:
 * a new bigint).
 */
export interface QueueReceiveInfo {
  /** The message text's length in bytes (what the call returned). */
  length: number;
  /** The sender's mtype: a number, or a bigint when it is above Number.MAX_SAFE_INTEGER. */
  type: MessageType;
}

interface IntoSelection extends Omit<Selection, 'maxSize' | 'noError'>, TargetRange {
  /** Truncate a message longer than the range (MSG_NOERROR) instead of failing with 'E2BIG'. */
  noError?: boolean;
  /**
   * An object to fill in with the message's length and type when the call succeeds; reuse one for a
   * whole loop. (Concurrent calls given the same object: each fills it in as it settles.)
   */
  info?: QueueReceiveInfo;
}

/** Options of MessageQueue.receiveInto(): which message, where it goes, and how to wait for it. */
export interface QueueReceiveIntoOptions extends WaitOptions, RefOptions, IntoSelection {}
/** Options of MessageQueue.receiveIntoSync(): which message, where it goes, and how long to wait for it. */
export interface QueueReceiveIntoSyncOptions extends SyncWaitOptions, IntoSelection {}

/** Every field of msqid_ds, by name. Times are null when the event never happened. */
export interface MessageQueueStat extends SysvObjectStat {
  /** msg_stime */
  lastSend: Date | null;
  /** msg_rtime */
  lastReceive: Date | null;
  /** msg_ctime: creation or last IPC_SET. */
  lastChange: Date;
  /** Bytes of text in the queue now (msg_cbytes). */
  bytes: number;
  /** Messages in the queue now (msg_qnum). */
  messages: number;
  /** The most bytes of text the queue holds (msg_qbytes); a send waits while a message would exceed it. */
  maxBytes: number;
  /** msg_lspid */
  lastSendPid: number;
  /** msg_lrpid */
  lastReceivePid: number;
}

// After the ipc_perm fields (permissionFields()).
const STAT = { stime: 7, rtime: 8, ctime: 9, cbytes: 10, qnum: 11, qbytes: 12, lspid: 13, lrpid: 14 } as const;

const LONG_BITS = BigInt(constants.SIZEOF_LONG * 8);
const LONG_MAX = 2n ** (LONG_BITS - 1n) - 1n;
const LONG_MIN = -(2n ** (LONG_BITS - 1n));
const NUMBER_MAX = Math.min(Number.MAX_SAFE_INTEGER, Number(LONG_MAX));
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** A message type (positive) or receive selector (any sign) as a C long; numbers must be exact. */
function toMessageType(value: unknown, name: string, positive: boolean): MessageType {
  if (typeof value === 'number') {
    const min = positive ? 1 : -NUMBER_MAX;
    if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
    if (value < min || value > NUMBER_MAX) {
      throw outOfRange(
        name,
        `>= ${min} && <= ${NUMBER_MAX} (larger magnitudes as a bigint, up to ${LONG_MAX}n)`,
        value,
      );
    }
    return value;
  }
  if (typeof value === 'bigint') {
    const min = positive ? 1n : LONG_MIN;
    if (value < min || value > LONG_MAX) throw outOfRange(name, `>= ${min}n && <= ${LONG_MAX}n (a C long)`, value);
    return value;
  }
  throw invalidArgType(name, 'of type number or bigint', value);
}

// The kernel's msgmax as last read. Read again only when a value in hand may be out of date and that
// matters: before a send is refused as too long, after msgsnd fails with EINVAL, after msgrcv fails with
// E2BIG (receives size their buffer by it: one sized by a lower msgmax gets E2BIG and tries again). A
// stale higher value only makes a buffer larger. (It was re-read once a second: a clock read per call.)
let msgmaxCache: number | undefined;
const MSGMAX_FILE = '/proc/sys/kernel/msgmax';

/** The system's largest message text (msgmax), from /proc/sys/kernel/msgmax; `fresh`: read it again. */
function msgmax(fresh = false): number {
  if (fresh || msgmaxCache === undefined) {
    let value = 8192; // MSGMAX, the kernel's default, should /proc be unreadable
    try {
      const read = Number.parseInt(readSmallFile(MSGMAX_FILE), 10);
      if (read > 0) value = read;
    } catch {
      // keep the default
    }
    msgmaxCache = value;
  }
  return msgmaxCache;
}

// The limit an EPERM from IPC_SET may be about, for its message; undefined when /proc cannot tell, so
// that the caller reports the kernel's EPERM rather than an error of reading the file.
function readMsgmnb(): string | undefined {
  try {
    return readSmallFile('/proc/sys/kernel/msgmnb').trim();
  } catch {
    return undefined;
  }
}

function tooLong(length: number, limit: number): RangeError {
  return outOfRange('data.byteLength', `<= ${limit} (the system's msgmax, ${MSGMAX_FILE})`, length);
}

// One receive buffer for the process's non-blocking and …Sync receives (JavaScript runs one at a time).
// An ArrayBuffer of its own, so mtype at its start is aligned as a long.
let receiveBuffer = new ArrayBuffer(0);

function bufferFor(size: number): ArrayBuffer {
  if (receiveBuffer.byteLength < constants.SIZEOF_LONG + size)
    receiveBuffer = new ArrayBuffer(constants.SIZEOF_LONG + size);
  return receiveBuffer;
}

/** The message in a msgbuf of `length` text bytes: mtype from its start, a copy of the text. */
function messageIn(buffer: ArrayBuffer, length: number): QueueMessage {
  return { type: typeIn(buffer), data: Buffer.from(new Uint8Array(buffer, constants.SIZEOF_LONG, length)) };
}

// The mtype at the start of a msgbuf: a number, or a bigint beyond Number.MAX_SAFE_INTEGER (read as two
// 32-bit halves first, since BigInt arithmetic on every message costs more than the rest of a receive).
function typeIn(buffer: ArrayBuffer): MessageType {
  const words = new Int32Array(buffer, 0, 2);
  if (constants.SIZEOF_LONG !== 8) return words[0]!;
  const low = words[0]! >>> 0;
  const high = words[1]!;
  if (high >= 0 && high < 0x200000) return high * 2 ** 32 + low; // below 2^53: exact as a number
  const raw = new BigInt64Array(buffer, 0, 1)[0]!;
  return raw <= SAFE_MAX ? Number(raw) : raw;
}

// Where msgrcvInto puts a received mtype (the C long's bytes), read by receivedType(): one pair of views for
// the process, read right after each call, so that a receive allocates nothing for the type.
const typeWords = new Int32Array(2);
const typeLong = new BigInt64Array(typeWords.buffer);

/** The mtype the last msgrcvInto wrote into typeWords, as typeIn() reads one. */
function receivedType(): MessageType {
  if (constants.SIZEOF_LONG !== 8) return typeWords[0]!;
  const low = typeWords[0]! >>> 0;
  const high = typeWords[1]!;
  if (high >= 0 && high < 0x200000) return high * 2 ** 32 + low;
  const raw = typeLong[0]!;
  return raw <= SAFE_MAX ? Number(raw) : raw;
}

/** Validates the selection options of a receiveInto; returns its msgrcv flags (without IPC_NOWAIT). */
function intoFlags(options: IntoSelection, selector: MessageType): number {
  const { except = false, noError = false, nowait = false, info } = options;
  validateBoolean(except, 'options.except');
  validateBoolean(noError, 'options.noError');
  validateBoolean(nowait, 'options.nowait');
  if (info !== undefined) validateObject(info, 'options.info');
  if (except && !(selector > 0)) {
    throw invalidArgValue(
      'options.except',
      except,
      'needs a positive options.type (MSG_EXCEPT selects by excluding that type)',
    );
  }
  return (except ? constants.MSG_EXCEPT : 0) | (noError ? constants.MSG_NOERROR : 0);
}

interface ReceivePlan {
  selector: MessageType;
  flags: number;
  size: number;
  nowait: boolean;
  /** The maxSize asked for, if any. */
  maxSize?: number;
}

function receivePlan(options: Selection): ReceivePlan {
  const { type = 0, except = false, noError = false, nowait = false } = options;
  const selector = toMessageType(type, 'options.type', false);
  validateBoolean(except, 'options.except');
  validateBoolean(noError, 'options.noError');
  validateBoolean(nowait, 'options.nowait');
  if (except && !(selector > 0)) {
    throw invalidArgValue(
      'options.except',
      except,
      'needs a positive options.type (MSG_EXCEPT selects by excluding that type)',
    );
  }
  const maxSize = options.maxSize === undefined ? undefined : validateMaxSize(options, 0);
  // A message can never be longer than msgmax, so a larger maxSize needs no larger buffer.
  const size = maxSize === undefined ? msgmax() : Math.min(maxSize, msgmax());
  return {
    selector,
    flags: (except ? constants.MSG_EXCEPT : 0) | (noError ? constants.MSG_NOERROR : 0),
    size,
    nowait,
    maxSize,
  };
}

/**
 * A System V message queue (msgget), named by a key and listed by `ipcs -q`. It outlives every process
 * until remove() (or `ipcrm -q`, or the disposal of a handle opened with `removeOnDispose`). Nothing to
 * close: the object is just the id.
 *
 * Order: the sends of one object leave in call order (a send never overtakes one that is waiting for
 * room). Receives are not queued behind each other: each has its own selector, and a receiver waiting for
 * type 1 must not hold up one for type 2. Among receivers that are waiting, the kernel serves the one
 * that started waiting first, whichever process it is in.
 *
 * @example
 * ```ts
 * import { ftok, MessageQueue } from 'unipc';
 *
 * const queue = MessageQueue.get(ftok('/etc/myapp.conf', 2), { create: true }); // mode 0o600
 * await queue.send(2, 'a job'); // a C peer's msgrcv() gets mtype 2 and these bytes
 * const { type, data } = await queue.receive({ type: -3, timeout: 1000 }); // the lowest type <= 3
 * console.log(type, String(data));
 * queue.remove(); // IPC_RMID: gone for every process, waiters get 'EIDRM'
 * ```
 *
 * @see sysvipc(7), msgget(2), msgsnd(2), msgrcv(2), msgctl(2)
 */
export class MessageQueue implements Disposable {
  /** The queue's identifier, as `ipcs -q` lists it. */
  readonly id: number;
  /**
   * The key it was opened by (IPC_PRIVATE for a private one); fromId() gives the queue's own key, or
   * IPC_PRIVATE when this user may not read the queue.
   */
  readonly key: number;
  readonly #sendTurnstile = new Turnstile();
  #removeOnDispose = false;
  // The queue's maxBytes as this object last read it (Infinity: it may not read it); -1 before that.
  #knownMaxBytes = -1;

  /** @internal Use MessageQueue.get() or MessageQueue.fromId(). */
  constructor(id: number, key: number) {
    this.id = id;
    this.key = key;
  }

  /**
   * msgget(key): opens the key's queue, or creates it with `create` (IPC_PRIVATE: always a new one).
   *
   * @throws {@link IpcError} 'ENOENT' (the key has no queue, without `create`), 'EEXIST' (`create` and
   *   `exclusive`, and the key has one), 'EACCES' (`create`, and the existing queue does not grant this
   *   user `mode`), 'ENOSPC' (the system's limit on queues, MSGMNI), other errnos of msgget(2); argument
   *   errors.
   */
  static get(key: number, options?: MessageQueueOptions): MessageQueue {
    const k = toKey(key);
    const { create = false, exclusive = false, mode = 0o600, removeOnDispose = false } = validateOptions(options);
    validateBoolean(create, 'options.create');
    validateBoolean(exclusive, 'options.exclusive');
    validateBoolean(removeOnDispose, 'options.removeOnDispose');
    validateInteger(mode, 'options.mode', 0, 0o777); // higher bits are msgget() flags (IPC_CREAT, …)
    if (k === IPC_PRIVATE && !create) {
      throw invalidArgValue('options.create', create, 'must be true with IPC_PRIVATE, which always makes a new queue');
    }
    const flags = (create ? constants.IPC_CREAT | mode : 0) | (create && exclusive ? constants.IPC_EXCL : 0);
    const id = check(native.msgget(k, flags), 'msgget', { key: k >>> 0 });
    const queue = new MessageQueue(id, k >>> 0);
    queue.#removeOnDispose = removeOnDispose;
    return queue;
  }

  /**
   * A queue by its id, as `ipcs -q` lists it.
   *
   * @throws {@link IpcError} 'EINVAL' (no queue has that id); argument errors.
   */
  static fromId(id: number): MessageQueue {
    validateInteger(id, 'id', 0, 2 ** 31 - 1);
    const probe = new MessageQueue(id, IPC_PRIVATE);
    // Reading the key needs read permission, which sending does not: such a queue opens keyless.
    const stat = statOfId('queue', 'msgctl', id, () => probe.stat());
    return stat ? new MessageQueue(id, stat.key) : probe;
  }

  /**
   * Sends a message of `type` (> 0), waiting while the queue is full — unless `nowait`. Aborted or timed
   * out, the message was not sent.
   *
   * @throws {@link IpcError} 'EAGAIN' (`nowait`, and the queue is full or earlier sends of this object
   *   wait), 'EMSGSIZE' (longer than the queue's maxBytes, to a user who may read the queue), 'EIDRM' (the
   *   queue was removed while waiting), 'EINVAL' (the queue is gone), 'EACCES' (this user may not write to
   *   the queue), 'ETIMEDOUT' (`timeout`), other errnos of msgsnd(2); {@link AbortError} (`signal`);
   *   argument errors (ERR_OUT_OF_RANGE also for data longer than msgmax).
   */
  async send(type: MessageType, data: Bytes, options?: QueueSendOptions): Promise<void> {
    const mtype = toMessageType(type, 'type', true);
    const bytes = toBytes(data, 'data');
    const checked = waitOptions(options);
    const { nowait = false } = checked;
    validateBoolean(nowait, 'options.nowait');
    checkLength(bytes.length);
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    if (!this.#sendTurnstile.busy && this.#trySend(mtype, bytes, nowait)) return;
    // Sends leave in call order: one that may not wait cannot go ahead of those waiting.
    if (nowait)
      throw new IpcError(E.EAGAIN, 'msgsnd', this.#context(), 'earlier sends of this object are waiting for room');
    // The message is what `data` held at the call: later changes to it (or its transfer) do not count.
    const message = new Uint8Array(bytes);
    const { signal, timeout, ref } = checked;
    const allowance: Budget = budget(checked);
    await this.#sendTurnstile.enter(allowance, 'msgsnd', this.#context());
    try {
      if (this.#trySend(mtype, message, false)) return;
      this.#assertFits(message.length);
      const remaining =
        allowance.deadline === undefined ? undefined : Math.max(0, allowance.deadline - performance.now());
      await retimed(
        waitOnThread(
          (callback) => native.msgsndAsync(this.id, mtype, message, 0, callback),
          { signal, timeout: remaining, ref },
          'msgsnd',
          this.#context(),
        ),
        timeout,
        this.#context(),
      );
    } finally {
      this.#sendTurnstile.leave();
    }
  }

  /**
   * Sends a message, blocking while the queue is full (up to `timeout`; not at all with `nowait`).
   *
   * @throws {@link IpcError} 'EAGAIN' (`nowait`, and the queue is full), 'EMSGSIZE' (longer than the
   *   queue's maxBytes, to a user who may read the queue), 'EIDRM' (the queue was removed while waiting),
   *   'EINVAL' (the queue is gone), 'EACCES' (this user may not write to the queue), 'ETIMEDOUT'
   *   (`timeout`), other errnos of msgsnd(2); argument errors (ERR_OUT_OF_RANGE also for data longer than
   *   msgmax).
   */
  sendSync(type: MessageType, data: Bytes, options?: QueueSendSyncOptions): void {
    const mtype = toMessageType(type, 'type', true);
    const bytes = toBytes(data, 'data');
    const { nowait = false, timeout } = syncWaitOptions(options);
    validateBoolean(nowait, 'options.nowait');
    checkLength(bytes.length);
    if (this.#trySend(mtype, bytes, nowait)) return; // a look first, for the reason receiveSync() gives
    this.#assertFits(bytes.length);
    const result = native.msgsnd(this.id, mtype, bytes, 0, timeout ?? -1);
    if (result === -E.ETIMEDOUT && timeout !== undefined) throw timeoutError('msgsnd', timeout, this.#context());
    this.#checkSend(result, bytes.length);
  }

  /**
   * Receives the message `type` selects (see QueueReceiveOptions.type), waiting for one — unless `nowait`.
   * A message longer than maxSize stays queued, or is truncated with `noError`. Aborted or timed out,
   * nothing was taken from the queue.
   *
   * @throws {@link IpcError} 'ENOMSG' (`nowait`, and no message matches), 'E2BIG' (the message is longer
   *   than `maxSize`, without `noError`), 'EIDRM' (the queue was removed while waiting), 'EINVAL' (the
   *   queue is gone), 'EACCES' (this user may not read the queue), 'ETIMEDOUT' (`timeout`), other errnos of
   *   msgrcv(2); {@link AbortError} (`signal`); argument errors.
   */
  async receive(options?: QueueReceiveOptions): Promise<QueueMessage> {
    const checked = waitOptions(options);
    const plan = receivePlan(checked);
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    const now = this.#receiveNow(plan);
    if (now !== undefined) return now;
    for (;;) {
      let buffer: ArrayBuffer | undefined;
      try {
        const length = await waitOnThread(
          (callback) => {
            const started = native.msgrcvAsync(this.id, plan.size, plan.selector, plan.flags, callback);
            if (typeof started === 'number') return started;
            buffer = started.buffer;
            return started.wait;
          },
          checked,
          'msgrcv',
          this.#context(),
        );
        // This buffer is the message's own: its text is viewed, not copied.
        return { type: typeIn(buffer!), data: Buffer.from(buffer!, constants.SIZEOF_LONG, length) };
      } catch (error) {
        if (!(error instanceof IpcError && error.errno === E.E2BIG)) throw error;
        if (!this.#grown(plan)) throw this.#tooBig(plan);
      }
    }
  }

  /**
   * Receives the selected message, blocking until one comes (up to `timeout`; not at all with `nowait`).
   *
   * @throws {@link IpcError} 'ENOMSG' (`nowait`, and no message matches), 'E2BIG' (the message is longer
   *   than `maxSize`, without `noError`), 'EIDRM' (the queue was removed while waiting), 'EINVAL' (the
   *   queue is gone), 'EACCES' (this user may not read the queue), 'ETIMEDOUT' (`timeout`), other errnos of
   *   msgrcv(2); argument errors.
   */
  receiveSync(options?: QueueReceiveSyncOptions): QueueMessage {
    const checked = syncWaitOptions(options);
    const plan = receivePlan(checked);
    // A look without waiting first, even untimed: a message that comes meanwhile is then often there when
    // the blocking call is made, which does not sleep (a receiver that slept at once for each message of a
    // stream slept for one in four, and its sender, which wakes it, sent 20% fewer messages per second).
    const now = this.#receiveNow(plan);
    if (now !== undefined) return now;
    const { timeout } = checked;
    for (;;) {
      const buffer = bufferFor(plan.size);
      const result = native.msgrcv(this.id, buffer, plan.size, plan.selector, plan.flags, timeout ?? -1);
      if (result === -E.ETIMEDOUT && timeout !== undefined) throw timeoutError('msgrcv', timeout, this.#context());
      if (result === -E.E2BIG && this.#grown(plan)) continue;
      if (result === -E.E2BIG) throw this.#tooBig(plan);
      check(result, 'msgrcv', this.#context());
      return messageIn(buffer, result);
    }
  }

  /**
   * Receives the message `type` selects into `buffer` (at `offset`, at most `length` bytes of text),
   * waiting for one — unless `nowait`; resolves the text's length, and fills in `options.info` (an object
   * of the caller's) with it and the message's type. Nothing is allocated per message: reuse one buffer
   * and one info object for a whole loop. A message longer than the range stays queued (E2BIG), or is
   * truncated with `noError`. Aborted or timed out, nothing was taken from the queue.
   *
   * When the call has to wait, the message is received on a waiter thread into memory of the call's own
   * and copied into `buffer` on this thread when the promise settles: `buffer` is never written after the
   * call failed or was cancelled, but its range must not be used for anything else until then. If its
   * memory is gone by then (the Mapping under it closed), the message was taken and is lost: 'EBADF'.
   *
   * @throws {@link IpcError} 'E2BIG' (the message is longer than the range, without `noError`: it stays
   *   queued), 'ENOMSG' (`nowait`, and no message matches), 'EIDRM' (the queue was removed while waiting),
   *   'EINVAL' (the queue is gone), 'EACCES' (this user may not read the queue), 'EBADF' (the Mapping
   *   under `buffer` was closed while waiting), 'ETIMEDOUT' (`timeout`), other errnos of msgrcv(2);
   *   {@link AbortError} (`signal`); argument errors (ERR_INVALID_ARG_VALUE for a buffer with no room
   *   from `offset`; ERR_OUT_OF_RANGE for `offset` or `length` outside it).
   *
   * @example
   * ```ts
   * import { ftok, MessageQueue, type QueueReceiveInfo } from 'unipc';
   *
   * const queue = MessageQueue.get(ftok('/etc/myapp.conf', 2));
   * const buffer = Buffer.allocUnsafe(8192); // msgmax, by default: any message fits
   * const info: QueueReceiveInfo = { length: 0, type: 0 }; // filled in by each receive
   * for (;;) {
   *   const n = await queue.receiveInto(buffer, { type: -3, info, timeout: 10_000 }); // the lowest type <= 3
   *   console.log(`type ${info.type}: ${buffer.toString('utf8', 0, n)}`);
   * }
   * ```
   *
   * @see msgrcv(2)
   */
  async receiveInto(buffer: ArrayBufferView, options?: QueueReceiveIntoOptions): Promise<number> {
    const checked = waitOptions(options);
    const length = validateTarget(buffer, checked);
    const selector = toMessageType(checked.type ?? 0, 'options.type', false);
    const flags = intoFlags(checked, selector);
    const { offset = 0, info, nowait = false } = checked;
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    const now = this.#receiveNowInto(buffer, offset, length, selector, flags, nowait, info);
    if (now !== undefined) return now;
    for (;;) {
      assertTargetIntact(buffer, offset + length, 'msgrcv'); // a retry after E2BIG follows an await
      const size = Math.min(length, msgmax());
      const target = this.#target(buffer, offset, size);
      let result: number;
      try {
        result = await waitOnThread(
          (callback) =>
            native.msgrcvIntoAsync(this.id, target, selector, flags, typeWords, (received) => {
              // typeWords is the process's: read now, before another receive's result overwrites it.
              if (received >= 0 && info !== undefined) {
                info.length = received;
                info.type = receivedType();
              }
              callback(received);
            }),
          checked,
          'msgrcv',
          this.#context(),
        );
      } catch (error) {
        if (!(error instanceof IpcError)) throw error;
        if (error.errno === E.EBADF) throw this.#lostInto();
        if (error.errno !== E.E2BIG) throw error;
        if (this.#intoGrown(size, length)) continue;
        throw this.#tooBigInto(size);
      }
      return result;
    }
  }

  /**
   * Receives the selected message into `buffer`, blocking until one comes (up to `timeout`; not at all
   * with `nowait`); returns the text's length, and fills in `options.info` with it and the type.
   *
   * @throws {@link IpcError} 'E2BIG' (the message is longer than the range, without `noError`: it stays
   *   queued), 'ENOMSG' (`nowait`, and no message matches), 'EIDRM' (the queue was removed while waiting),
   *   'EINVAL' (the queue is gone), 'EACCES' (this user may not read the queue), 'ETIMEDOUT' (`timeout`),
   *   other errnos of msgrcv(2); argument errors.
   *
   * @example
   * ```ts
   * import { IPC_PRIVATE, MessageQueue } from 'unipc';
   *
   * using queue = MessageQueue.get(IPC_PRIVATE, { create: true, removeOnDispose: true });
   * queue.sendSync(7, 'seven');
   * const buffer = new Uint8Array(64);
   * const info = { length: 0, type: 0 as number | bigint };
   * const n = queue.receiveIntoSync(buffer, { info, nowait: true });
   * console.log(n, info.type, Buffer.from(buffer.buffer, 0, n).toString()); // prints: 5 7 seven
   * ```
   *
   * @see msgrcv(2)
   */
  receiveIntoSync(buffer: ArrayBufferView, options?: QueueReceiveIntoSyncOptions): number {
    const checked = syncWaitOptions(options);
    const length = validateTarget(buffer, checked);
    const selector = toMessageType(checked.type ?? 0, 'options.type', false);
    const flags = intoFlags(checked, selector);
    const { offset = 0, info, nowait = false, timeout } = checked;
    const now = this.#receiveNowInto(buffer, offset, length, selector, flags, nowait, info); // as receiveSync()
    if (now !== undefined) return now;
    for (;;) {
      const size = Math.min(length, msgmax());
      const target = this.#target(buffer, offset, size);
      const result = native.msgrcvInto(this.id, target, selector, flags, typeWords, timeout ?? -1);
      if (result === -E.ETIMEDOUT && timeout !== undefined) throw timeoutError('msgrcv', timeout, this.#context());
      const n = this.#intoResult(result, size, length, info);
      if (n !== undefined) return n;
    }
  }

  /**
   * The selected messages as they come: `for await (const { type, data } of queue.messages({ type: 2 }))`.
   * Ends when the queue is removed.
   *
   * @throws what receive() rejects with, from the iteration (removal of the queue ends it instead).
   */
  async *messages(
    options?: Omit<QueueReceiveOptions, 'timeout' | 'nowait'>,
  ): AsyncGenerator<QueueMessage, void, undefined> {
    const checked = validateOptions(options);
    for (;;) {
      let message: QueueMessage;
      try {
        message = await this.receive(checked);
      } catch (error) {
        if (this.#removed(error)) return;
        throw error;
      }
      yield message;
    }
  }

  /**
   * messages() of every type, for `for await (const { type, data } of queue)`.
   *
   * @throws as messages().
   */
  [Symbol.asyncIterator](): AsyncGenerator<QueueMessage, void, undefined> {
    return this.messages();
  }

  /**
   * msgctl(IPC_STAT): every field of the queue's msqid_ds.
   *
   * @throws {@link IpcError} 'EACCES' (this user may not read the queue), 'EINVAL' (the queue is gone).
   */
  stat(): MessageQueueStat {
    const out = new Float64Array(constants.MSGCTL_STAT_FIELDS);
    check(native.msgctlStat(this.id, out), 'msgctl', this.#context());
    return {
      ...permissionFields(out, this.id),
      lastSend: secondsToDate(out[STAT.stime]!),
      lastReceive: secondsToDate(out[STAT.rtime]!),
      lastChange: new Date(out[STAT.ctime]! * 1000),
      bytes: out[STAT.cbytes]!,
      messages: out[STAT.qnum]!,
      maxBytes: out[STAT.qbytes]!,
      lastSendPid: out[STAT.lspid]!,
      lastReceivePid: out[STAT.lrpid]!,
    };
  }

  /**
   * msgctl(IPC_SET): change the capacity, owner and permission bits; unspecified ones keep their values.
   * Raising maxBytes above the system's msgmnb (/proc/sys/kernel/msgmnb) needs CAP_SYS_RESOURCE.
   *
   * @throws {@link IpcError} 'EPERM' (neither the owner's nor the creator's uid, nor CAP_SYS_ADMIN; or
   *   `maxBytes` above msgmnb without CAP_SYS_RESOURCE), 'EACCES' (some of `mode`, `uid`, `gid`, `maxBytes`
   *   left out, and the queue may not be read for them), 'EINVAL' (the queue is gone); argument errors.
   */
  set(changes: SysvPermissions & { maxBytes?: number }): void {
    validateObject(changes, 'changes');
    const { maxBytes } = changes;
    if (maxBytes !== undefined) validateInteger(maxBytes, 'changes.maxBytes', 0, 2 ** 31 - 1);
    let current: MessageQueueStat | undefined;
    const { mode, uid, gid } = permissionsToSet(changes, () => (current ??= this.stat()));
    const result = native.msgctlSet(this.id, uid, gid, mode, maxBytes ?? (current ?? this.stat()).maxBytes);
    const msgmnb = result === -E.EPERM && maxBytes !== undefined ? readMsgmnb() : undefined;
    if (msgmnb !== undefined) {
      throw new IpcError(
        -result,
        'msgctl',
        this.#context(),
        `raising maxBytes above msgmnb (${msgmnb}) needs CAP_SYS_RESOURCE, or the owner's or creator's uid`,
      );
    }
    check(result, 'msgctl', this.#context());
    this.#knownMaxBytes = -1;
  }

  /**
   * msgctl(IPC_RMID): the queue and its messages are gone at once; waiting senders and receivers, in
   * every process, fail with 'EIDRM'.
   *
   * @throws {@link IpcError} 'EPERM' (neither the owner's nor the creator's uid, nor CAP_SYS_ADMIN),
   *   'EINVAL' (the queue is gone).
   */
  remove(): void {
    check(native.msgctlRemove(this.id), 'msgctl', this.#context());
  }

  /** Whether disposing this handle removes the queue (MessageQueueOptions.removeOnDispose). */
  get removeOnDispose(): boolean {
    return this.#removeOnDispose;
  }

  /**
   * For `using`: an owner (removeOnDispose) removes the queue, unless it is gone already; other handles
   * hold nothing to let go of.
   *
   * @throws {@link IpcError} (an owner) 'EPERM' (neither the owner's nor the creator's uid).
   */
  [Symbol.dispose](): void {
    if (!this.#removeOnDispose) return;
    this.#removeOnDispose = false;
    removeUnlessGone(() => this.remove());
  }

  // A send without waiting; true when sent, false when the queue is full (and waiting is allowed).
  #trySend(type: MessageType, bytes: Uint8Array, nowait: boolean): boolean {
    const result = native.msgsnd(this.id, type, bytes, constants.IPC_NOWAIT, -1);
    if (result === -E.EAGAIN) {
      if (nowait) throw new IpcError(E.EAGAIN, 'msgsnd', this.#context(), 'queue is full');
      return false;
    }
    this.#checkSend(result, bytes.length);
    return true;
  }

  #checkSend(result: number, length: number): void {
    // msgmax may have been lowered since it was last read.
    if (result === -E.EINVAL && length > msgmax(true)) throw tooLong(length, msgmax());
    check(result, 'msgsnd', this.#context());
  }

  // A message longer than the queue's capacity would wait forever: say so instead. (Only a user who may
  // read the queue can tell; one who may only write waits as C's msgsnd would.) The capacity is read
  // again only for a message longer than the one last read: a send that has to wait costs no IPC_STAT.
  // (Lowered by another process since, a message that no longer fits waits, as it would in C.)
  #assertFits(length: number): void {
    if (length <= this.#knownMaxBytes) return;
    const maxBytes = statUnlessDenied(() => this.stat())?.maxBytes;
    this.#knownMaxBytes = maxBytes ?? Infinity;
    if (maxBytes !== undefined && length > maxBytes) {
      throw new IpcError(
        E.EMSGSIZE,
        'msgsnd',
        this.#context(),
        `a message of ${length} bytes can never fit in a queue of maxBytes ${maxBytes}`,
      );
    }
  }

  // A receive without waiting; undefined when no message matches (and waiting is allowed).
  #receiveNow(plan: ReceivePlan): QueueMessage | undefined {
    const buffer = bufferFor(plan.size);
    const result = native.msgrcv(this.id, buffer, plan.size, plan.selector, plan.flags | constants.IPC_NOWAIT, -1);
    if (result === -E.ENOMSG) {
      if (plan.nowait) throw new IpcError(E.ENOMSG, 'msgrcv', this.#context());
      return undefined;
    }
    if (result === -E.E2BIG && this.#grown(plan)) return this.#receiveNow(plan);
    if (result === -E.E2BIG) throw this.#tooBig(plan);
    check(result, 'msgrcv', this.#context());
    return messageIn(buffer, result);
  }

  // A receiveInto without waiting; undefined when no message matches (and waiting is allowed).
  #receiveNowInto(
    buffer: ArrayBufferView,
    offset: number,
    length: number,
    selector: MessageType,
    flags: number,
    nowait: boolean,
    info: QueueReceiveInfo | undefined,
  ): number | undefined {
    for (;;) {
      assertTargetIntact(buffer, offset + length, 'msgrcv');
      const size = Math.min(length, msgmax());
      const noWait = flags | constants.IPC_NOWAIT;
      const result = native.msgrcvInto(this.id, this.#target(buffer, offset, size), selector, noWait, typeWords, -1);
      if (result === -E.ENOMSG) {
        if (nowait) throw new IpcError(E.ENOMSG, 'msgrcv', this.#context());
        return undefined;
      }
      const n = this.#intoResult(result, size, length, info);
      if (n !== undefined) return n;
    }
  }

  // A msgrcvInto's result: the length (with `info` filled in), or undefined when msgmax grew past the
  // `size` received into (at most msgmax: a message is never longer), and the call should be made again.
  #intoResult(result: number, size: number, length: number, info: QueueReceiveInfo | undefined): number | undefined {
    if (result === -E.E2BIG) {
      if (this.#intoGrown(size, length)) return undefined;
      throw this.#tooBigInto(size);
    }
    check(result, 'msgrcv', this.#context());
    if (info !== undefined) {
      info.length = result;
      info.type = receivedType();
    }
    return result;
  }

  #intoGrown(size: number, length: number): boolean {
    return size < length && msgmax(true) > size;
  }

  #tooBigInto(size: number): IpcError {
    return new IpcError(
      E.E2BIG,
      'msgrcv',
      this.#context(),
      `the message is longer than the ${size} bytes to receive it into and stays queued; noError truncates it`,
    );
  }

  #lostInto(): IpcError {
    return new IpcError(
      E.EBADF,
      'msgrcv',
      this.#context(),
      'the buffer to receive into was detached (its mapping was closed) while waiting; the message taken is lost',
    );
  }

  // Whether msgmax was raised since the receive sized its buffer (by default msgmax bytes): if so the
  // buffer grows, and the message that did not fit is tried again.
  #grown(plan: ReceivePlan): boolean {
    if (plan.maxSize !== undefined) return false;
    const now = msgmax(true);
    if (now <= plan.size) return false;
    plan.size = now;
    return true;
  }

  #tooBig(plan: ReceivePlan): IpcError {
    const what = plan.maxSize === undefined ? `msgmax (${plan.size})` : `maxSize (${plan.maxSize})`;
    return new IpcError(
      E.E2BIG,
      'msgrcv',
      this.#context(),
      `the message is longer than ${what} and stays queued; noError truncates it`,
    );
  }

  // Whether a failed receive means the queue is gone (E.EIDRM while waiting, E.EINVAL for the stale id).
  #removed(error: unknown): boolean {
    if (!(error instanceof IpcError)) return false;
    if (error.errno === E.EIDRM) return true;
    if (error.errno !== E.EINVAL) return false;
    try {
      this.stat();
      return false;
    } catch (statError) {
      return statError instanceof IpcError && (statError.errno === E.EINVAL || statError.errno === E.EIDRM);
    }
  }

  // Made once (IpcError copies what it needs): a check() of every call's result must not allocate.
  #context(): IpcErrorContext {
    this.#errorContext ??= Object.freeze(this.key === IPC_PRIVATE ? { id: this.id } : { key: this.key, id: this.id });
    return this.#errorContext;
  }

  #errorContext: IpcErrorContext | undefined;

  // Bytes [offset, offset + size) of `buffer`, the target msgrcvInto takes: `buffer` itself when that is
  // all of it, else a view over them, kept for the next receive into the same range (a loop receiving
  // into part of its buffer, or into one longer than msgmax, makes one view, not one a call). The caller
  // checked the range against the buffer as it is now.
  #target(buffer: ArrayBufferView, offset: number, size: number): ArrayBufferView {
    if (offset === 0 && size === buffer.byteLength) return buffer;
    const last = this.#lastTarget;
    const start = buffer.byteOffset + offset;
    if (last?.buffer === buffer.buffer && last.byteOffset === start && last.byteLength === size) return last;
    this.#lastTarget = new Uint8Array(buffer.buffer, start, size);
    return this.#lastTarget;
  }

  #lastTarget: Uint8Array | undefined;
}

function checkLength(length: number): void {
  if (length > msgmax() && length > msgmax(true)) throw tooLong(length, msgmax());
}

// The wait ran on what was left of the caller's timeout; its error reports the timeout asked for.
async function retimed<T>(promise: Promise<T>, timeout: number | undefined, context: IpcErrorContext): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    if (timeout !== undefined && error instanceof IpcError && error.errno === E.ETIMEDOUT)
      throw timeoutError(error.syscall, timeout, context);
    throw error;
  }
}
