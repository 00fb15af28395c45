// Publish/subscribe over shared memory: one publisher writes records into a ring in a memfd or POSIX
// shared memory object, and up to 64 subscribers each read them at a position of their own. Layout and
// protocol: docs/channel.md, "Topic".

import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { markAsUntransferable } from 'node:worker_threads';
import {
  adoptChannelMemory,
  cpuToTell,
  LENT_VIEW_GUARD,
  nextTurn,
  pollOption,
  spinOption,
  waitingCpu,
} from './channel.js';
import { E, IpcError, timeoutError } from './errors.js';
import { handOverBySpawn } from './fd.js';
import { FutexWords, Queue, remaining, type SleepResult, threadGone, threadId } from './futex.js';
import { type Mapping, MemoryFile } from './mmap.js';
import { constants, native } from './native.js';
import { toIpcName } from './posix-name.js';
import { advance, endsWithin, isCapacity, MAX_CAPACITY, MIN_CAPACITY, nextLap, WRAP } from './ring.js';
import { SharedMemory } from './shm.js';
import {
  invalidArgValue,
  invalidState,
  outOfRange,
  toBytes,
  validateBoolean,
  validateFd,
  validateInteger,
  validateOneOf,
  validateOptions,
} from './validate.js';
import {
  AGAIN,
  abortedError,
  budget,
  type RefOptions,
  receiving,
  type SyncWaitOptions,
  syncWaitOptions,
  type WaitOptions,
  waitOptions,
} from './wait.js';

/** 'UNTP' read as a little-endian u32: the first word of every topic. */
const MAGIC = 0x50544e55;
const VERSION = 1;
/** The control page, then one 64-byte line per subscriber slot: the history table starts here. */
const SLOTS_OFFSET = 4096;
const SLOT_BYTES = 64;
const HISTORY_OFFSET = 8192;
const PAGE = 4096;
/** Subscribers a topic takes at once (one bit each in the two mask words). */
export const MAX_SUBSCRIBERS = 64;
/** The most messages a topic keeps for subscribers that join late. */
export const MAX_HISTORY = 4096;
/** A record's header: its length word, then its sequence number. */
const RECORD_HEADER = 8;

// Int32 indices into the header (byte offset / 4).
const W = {
  magic: 0,
  version: 1,
  capacity: 2,
  maxMessageSize: 3,
  dataOffset: 4,
  flags: 5, // OVERWRITE
  history: 6, // messages a joiner gets first; the table has history + 2 entries
  tail: 16, // byte 64: the publisher's write index (bytes, wrapping at 2^32)
  oldest: 17, // byte 68: the index of the oldest record not (being) overwritten
  nextSeq: 18, // byte 72: the sequence number the next record gets
  publisherCpu: 19, // byte 76: a hint, the CPU the publisher runs on + 1 (0: not told)
  subscriberWaiting: 32, // byte 128: how many subscribers sleep (or are about to) on `tail`
  publisherWaiting: 33, // byte 132: 1 while the publisher sleeps (or is about to) on `released`
  released: 34, // byte 136: a counter subscribers move on when the publisher waits for room
  publisher: 48, // byte 192: the publishing thread's id (0: none yet)
  state: 49, // byte 196: PUBLISHER_ATTACHED | PUBLISHER_CLOSED
  maskLow: 50, // byte 200: bit i set while subscriber slot i (0–31) is attached
  maskHigh: 51, // byte 204: the same for slots 32–63
} as const;
/** In a subscriber's slot (64 bytes from byte 4096 + 64·i): its thread id, its read index, its CPU + 1. */
const SLOT_TID = 0;
const SLOT_POSITION = 1;
const SLOT_CPU = 2;

const OVERWRITE = 1;
const PUBLISHER_ATTACHED = 1;
const PUBLISHER_CLOSED = 2;
const INT32_MAX = 2 ** 31 - 1;
const LIVENESS_INTERVAL_MS = 100;
/**
 * Whether a subscriber reads `oldest` after a copy with a read-modify-write rather than a load. On x86
 * loads are not reordered with earlier loads, so a load is enough to prove the copied bytes were not
 * being overwritten; elsewhere (arm64) only a release operation keeps the copy's reads before it.
 */
const CHECK_BY_RMW = process.arch !== 'x64' && process.arch !== 'ia32';

/** What the publisher does when a subscriber lags a whole ring behind. */
export type TopicPolicy = 'block' | 'overwrite';
const POLICIES: readonly TopicPolicy[] = ['block', 'overwrite'];
/** @inline */
type TopicRole = 'publisher' | 'subscriber';
const ROLES: readonly TopicRole[] = ['publisher', 'subscriber'];

/** The options of one end of a topic: Topic.create(), Topic.open(), Topic.fromFd(), subscribe(). */
export interface TopicEndOptions {
  /**
   * How many times a waiting Sync call re-reads the other side's index before it sleeps: as Channel's
   * `spin`. Default 1000. As in a channel, a side whose peer (for a subscriber the publisher, for the
   * publisher any subscriber) runs on its CPU does not spin: unless `spin` is 0 it yields the CPU once
   * (sched_yield(2)) and looks again before it sleeps, and a Promise-form call does so while it polls.
   */
  spin?: number;
  /** How many microseconds a waiting Promise-form call polls before it sleeps: as Channel's `poll`. Default 50. */
  poll?: number;
  /** Claim the role now rather than with the first send or receive ('EBUSY' at once if it is taken). */
  role?: TopicRole;
}

/** How Topic.create() makes a topic, and the options of the end it returns. */
export interface TopicOptions extends TopicEndOptions {
  /** A POSIX shared memory name for other processes to open(); without one, a memfd (pass its `fd`). */
  name?: string;
  /** Bytes of the ring: a power of two from 4 KiB to 1 GiB. Default 1 MiB. */
  capacity?: number;
  /** The longest message, at most capacity / 2 − 12. Default capacity / 4. */
  maxMessageSize?: number;
  /**
   * 'block' (the default): the publisher waits for the slowest subscriber, as a Channel's producer waits
   * for its consumer. 'overwrite': the publisher never waits; a subscriber a whole ring behind loses the
   * oldest messages, and learns how many (`missed`), never reading a message that was being overwritten.
   */
  policy?: TopicPolicy;
  /**
   * How many of the latest messages a subscriber that joins gets first (those still in the ring), up to
   * 4096. Default 0: a subscriber starts with the next message published.
   */
  history?: number;
  /** With `name`: close() of this end also unlinks the name, if it still names this topic. Default false. */
  removeOnDispose?: boolean;
}

interface CheckedEnd {
  spin: number;
  poll: number;
  role: TopicRole | undefined;
}

/**
 * One end of a shared-memory topic: one publisher sends, every subscriber receives every message sent
 * after it joined (and, with `history`, the last few sent before), each at its own pace. The first send
 * of an object makes it the publisher, the first receive a subscriber; up to 64 subscribers, in any
 * processes and threads, join and leave at any time. A subscriber that dies frees its slot: the
 * publisher stops waiting for it after about 100 ms.
 *
 * The ring lives in a memfd (hand its `fd` over) or a POSIX shared memory object (open it by name).
 * Layout and protocol: docs/channel.md, "Topic".
 *
 * @example
 * ```ts
 * import { Topic } from 'unipc';
 *
 * using topic = Topic.create({ name: '/prices', policy: 'overwrite', history: 16, removeOnDispose: true });
 * // Elsewhere: `for await (const tick of Topic.open('/prices')) …`, as many subscribers as needed.
 * using subscriber = topic.subscribe(); // a subscriber in this process, for the example
 * topic.sendSync('EURUSD 1.0842');
 * console.log(String(subscriber.receiveSync())); // 'EURUSD 1.0842'
 * ```
 *
 * @see memfd_create(2), shm_open(3), mmap(2), futex(2)
 */
export class Topic implements Disposable {
  /** The descriptor of the shared memory, to hand to a child (spawn fds) or another process. */
  readonly fd: number;
  /** The POSIX shared memory name ('/name') of a topic made or opened by name; undefined otherwise. */
  readonly name: string | undefined;
  /** Bytes of the ring, a power of two. */
  readonly capacity: number;
  /** The longest message the topic takes, in bytes. */
  readonly maxMessageSize: number;
  /** What the publisher does about a subscriber a whole ring behind (TopicOptions.policy). */
  readonly policy: TopicPolicy;
  /** How many of the latest messages a joining subscriber gets first (TopicOptions.history). */
  readonly history: number;
  readonly #owner: MemoryFile | SharedMemory;
  readonly #header: FutexWords;
  readonly #words: Int32Array;
  readonly #slots: Int32Array;
  /** Where each of the last history + 2 records starts, at its sequence number mod history + 2. */
  readonly #table: Int32Array;
  readonly #data: Uint8Array;
  readonly #dataWords: Int32Array;
  readonly #queue = new Queue();
  readonly #spin: number;
  readonly #pollMs: number;
  #role: TopicRole | undefined;
  #closed = false;
  /** A subscriber's slot, or -1. */
  #slot = -1;
  /** A subscriber's read index, the tail it last read, and the sequence number it expects next. */
  #position = 0;
  #knownTail = 0;
  #expected = 0;
  #expecting = false;
  #missed = 0;
  /** A subscriber that joined with history and has not read yet: its first record must be the one named. */
  #joined = false;
  /** The publisher's own copies of `tail`, `oldest` and the next sequence number (it is their only writer). */
  #tail = 0;
  #oldest = 0;
  #seq = 0;
  /** The lowest subscriber position the publisher last found (block policy), and the `released` it saw. */
  #knownLowest = 0;
  #knownMaskLow = 0;
  #knownMaskHigh = 0;
  #releasedAt = 0;
  /** The waiting word a Promise-form call of this end has added 1 to while it sleeps, or -1. */
  #announced = -1;
  /** The CPU this end's thread last waited on + 1, as written in its CPU word (0: none yet). */
  #waitCpu = 0;
  readonly #dataOffset: number;
  #windows: object | undefined;
  /** The publisher's reservation: its view, the bytes skipped before it, its size. */
  #reservation: { view: Uint8Array; skip: number; size: number } | undefined;
  /** A subscriber's lent view, and the index of its record. */
  #loan: { view: Uint8Array; first: number } | undefined;
  /** What #find() found: the record's bytes in the ring, its length, the index after it, and a copy. */
  #recordStart = 0;
  #recordLength = 0;
  #recordNext = 0;
  #copied: Buffer | undefined;

  private constructor(owner: MemoryFile | SharedMemory, mapping: Mapping, name: string | undefined, end: CheckedEnd) {
    const words = new Int32Array(mapping.buffer, 0, Math.min(mapping.length, HISTORY_OFFSET) / 4);
    if (mapping.length < HISTORY_OFFSET || Atomics.load(words, W.magic) !== MAGIC) {
      throw new IpcError(E.EPROTO, 'mmap', {}, 'not a unipc topic (no magic number at its start)');
    }
    if (words[W.version] !== VERSION) {
      throw new IpcError(
        E.EPROTO,
        'mmap',
        {},
        `a topic of layout version ${words[W.version]}; this unipc speaks ${VERSION}`,
      );
    }
    this.capacity = words[W.capacity]!;
    this.maxMessageSize = words[W.maxMessageSize]!;
    this.history = words[W.history]!;
    const dataOffset = words[W.dataOffset]!;
    if (
      !isCapacity(this.capacity) ||
      !(this.maxMessageSize >= 1 && this.maxMessageSize <= longestTopicMessage(this.capacity)) ||
      !(this.history >= 0 && this.history <= MAX_HISTORY) ||
      dataOffset !== dataOffsetFor(this.history)
    ) {
      throw new IpcError(
        E.EPROTO,
        'mmap',
        {},
        'a damaged topic header (capacity, maxMessageSize, history or data offset out of range)',
      );
    }
    if (mapping.length < dataOffset + this.capacity) {
      throw new IpcError(E.EPROTO, 'mmap', {}, `the topic's memory is shorter than its capacity (${this.capacity})`);
    }
    this.#header = new FutexWords(mapping, 0, HISTORY_OFFSET);
    this.#words = this.#header.words;
    this.#slots = new Int32Array(mapping.buffer, SLOTS_OFFSET, (MAX_SUBSCRIBERS * SLOT_BYTES) / 4);
    this.#table = new Int32Array(mapping.buffer, HISTORY_OFFSET, this.history + 2);
    this.#dataOffset = dataOffset;
    this.#data = new Uint8Array(mapping.buffer, dataOffset, this.capacity);
    this.#dataWords = new Int32Array(mapping.buffer, dataOffset, this.capacity / 4);
    this.policy = (words[W.flags]! & OVERWRITE) !== 0 ? 'overwrite' : 'block';
    this.#owner = owner;
    this.fd = owner.fd;
    handOverBySpawn(this);
    this.name = name;
    this.#spin = end.spin;
    this.#pollMs = end.poll / 1000;
  }

  /**
   * Makes a topic in a memfd, or in POSIX shared memory under `name` (created exclusively, mode 0o600).
   *
   * @throws {@link IpcError} 'EEXIST' (a shared memory object has that `name`), 'EMFILE'/'ENFILE'
   *   (descriptor limits), other errnos of memfd_create(2) or shm_open(3), ftruncate(2), mmap(2);
   *   argument errors.
   */
  static create(options?: TopicOptions): Topic {
    const {
      name,
      capacity = 1 << 20,
      maxMessageSize,
      policy = 'block',
      history = 0,
      removeOnDispose = false,
      spin,
      poll,
      role,
    } = validateOptions(options);
    if (name !== undefined) toIpcName(name, 'options.name');
    validateBoolean(removeOnDispose, 'options.removeOnDispose');
    if (removeOnDispose && name === undefined) {
      throw invalidArgValue('options.removeOnDispose', removeOnDispose, 'needs a name (a memfd topic has none)');
    }
    validateInteger(capacity, 'options.capacity', MIN_CAPACITY, MAX_CAPACITY);
    if ((capacity & (capacity - 1)) !== 0)
      throw invalidArgValue('options.capacity', capacity, 'must be a power of two');
    const longest = maxMessageSize === undefined ? capacity / 4 : maxMessageSize;
    validateInteger(longest, 'options.maxMessageSize', 1, longestTopicMessage(capacity));
    validateOneOf(policy, 'options.policy', POLICIES);
    validateInteger(history, 'options.history', 0, MAX_HISTORY);
    const end = endOptions({ spin, poll, role });
    const dataOffset = dataOffsetFor(history);
    const size = dataOffset + capacity;
    const owner =
      name === undefined
        ? MemoryFile.create('unipc-topic', { size })
        : SharedMemory.open(name, { create: true, exclusive: true, size, removeOnDispose });
    let mapping: Mapping | undefined;
    try {
      mapping = owner.map();
      const words = new Int32Array(mapping.buffer, 0, PAGE / 4);
      words[W.version] = VERSION;
      words[W.capacity] = capacity;
      words[W.maxMessageSize] = longest;
      words[W.dataOffset] = dataOffset;
      words[W.flags] = policy === 'overwrite' ? OVERWRITE : 0;
      words[W.history] = history;
      Atomics.store(words, W.magic, MAGIC); // last: an opener never sees half a header
      const topic = new Topic(owner, mapping, owner instanceof SharedMemory ? owner.name : undefined, end);
      if (end.role !== undefined) topic.#claim(end.role);
      return topic;
    } catch (error) {
      mapping?.close();
      const unlinked = owner instanceof SharedMemory && owner.removeOnDispose;
      owner.close();
      if (owner instanceof SharedMemory && !unlinked) SharedMemory.unlink(owner.name);
      throw error;
    }
  }

  /**
   * The topic another process created under `name`.
   *
   * @throws {@link IpcError} 'ENOENT' (no such name), 'EACCES', 'EPROTO' (no unipc topic, another layout
   *   version, or a damaged header), other errnos of shm_open(3), mmap(2); argument errors.
   */
  static open(name: string, options?: TopicEndOptions): Topic {
    const end = endOptions(options);
    const owner = SharedMemory.open(name);
    return Topic.#attach(owner, owner.name, end);
  }

  /**
   * The topic behind a descriptor handed over by spawn, fd passing or inheritance (`topic.fd`). The Topic
   * owns the descriptor from then on.
   *
   * @throws {@link IpcError} 'EBADF' (`fd` is not open), 'EPROTO' (no unipc topic, another layout version,
   *   or a damaged header), other errnos of mmap(2); argument errors.
   */
  static fromFd(fd: number, options?: TopicEndOptions): Topic {
    validateFd(fd);
    const end = endOptions(options);
    return Topic.#attach(adoptChannelMemory(fd), undefined, end);
  }

  static #attach(owner: MemoryFile | SharedMemory, name: string | undefined, end: CheckedEnd): Topic {
    let mapping: Mapping | undefined;
    try {
      if (owner.size < HISTORY_OFFSET) {
        throw new IpcError(E.EPROTO, 'mmap', {}, `not a unipc topic (${owner.size} bytes, less than its header)`);
      }
      mapping = owner.map();
      const topic = new Topic(owner, mapping, name, end);
      mapping = undefined;
      try {
        if (end.role !== undefined) topic.#claim(end.role);
      } catch (error) {
        topic.close();
        throw error;
      }
      return topic;
    } catch (error) {
      mapping?.close();
      owner.close();
      throw error;
    }
  }

  /**
   * Removes a named topic's name (processes that have it open keep using it).
   *
   * @throws {@link IpcError} 'ENOENT' (no such name), 'EACCES' (another user's); argument errors.
   */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  /**
   * A new subscriber of this topic, in this process: another end over the same memory (its own
   * descriptor and mapping), whose role is claimed at once.
   *
   * @throws {@link IpcError} 'EBUSY' (64 subscribers already), 'EBADF' (closed), errnos of fcntl(2) and
   *   mmap(2); argument errors.
   */
  subscribe(options?: Omit<TopicEndOptions, 'role'>): Topic {
    this.#header.ensureOpen('subscribe');
    const end = endOptions({ ...validateOptions(options), role: 'subscriber' });
    const fd = native.fcntl(this.fd, constants.F_DUPFD_CLOEXEC, 0);
    if (fd < 0) throw new IpcError(-fd, 'fcntl', { fd: this.fd });
    return Topic.#attach(adoptChannelMemory(fd), this.name, end);
  }

  /** Whether this end is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** How many subscribers are attached now (a moment's count: they come and go). */
  get subscribers(): number {
    if (this.#header.mapping.closed) return 0;
    return popcount(Atomics.load(this.#words, W.maskLow)) + popcount(Atomics.load(this.#words, W.maskHigh));
  }

  /**
   * How many messages this subscriber lost in all, lapped by an 'overwrite' publisher (or, joining with
   * history, overwritten before it could read them). Messages are lost whole and counted, never torn.
   */
  get missed(): number {
    return this.#missed;
  }

  // ---- Publishing ---------------------------------------------------------------------------------

  /**
   * Sends one message if there is room now ('overwrite': always); false if the slowest subscriber has yet
   * to make room ('block').
   *
   * @throws {@link IpcError} 'EBUSY' (the topic has another live publisher), 'EPIPE' (its publisher
   *   closed it), 'EBADF' (closed); ERR_INVALID_STATE (this end is a subscriber); argument errors.
   */
  trySend(data: string | ArrayBufferView | ArrayBuffer): boolean {
    const bytes = this.#message(data);
    this.#claim('publisher');
    return this.#attemptSend(bytes) !== AGAIN;
  }

  /**
   * Sends one message, blocking the calling thread while the slowest subscriber has yet to make room
   * ('block'; 'overwrite' never waits). A subscriber that died stops holding it back after about 100 ms.
   *
   * @throws {@link IpcError} 'ETIMEDOUT' (`timeout`), and what trySend() throws.
   */
  sendSync(data: string | ArrayBufferView | ArrayBuffer, options?: SyncWaitOptions): void {
    const { timeout } = syncWaitOptions(options);
    const bytes = this.#message(data);
    this.#claim('publisher');
    if (this.#attemptSend(bytes) === AGAIN) this.#waitSync('publisher', timeout, () => this.#attemptSend(bytes));
  }

  /**
   * Sends one message, waiting without blocking the event loop while there is no room (see sendSync()).
   *
   * @throws {@link IpcError} 'ETIMEDOUT' (`timeout`), 'EBADF' (closed, also while waiting), and what
   *   trySend() throws; {@link AbortError} (`signal`).
   */
  async send(data: string | ArrayBufferView | ArrayBuffer, options?: WaitOptions & RefOptions): Promise<void> {
    const checked = waitOptions(options);
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    const bytes = this.#message(data);
    this.#claim('publisher');
    if (!this.#queue.turnstile.busy && this.#attemptSend(bytes) !== AGAIN) return;
    await this.#wait('publisher', checked, () => this.#attemptSend(bytes));
  }

  /**
   * Sends any value the structured clone algorithm can copy (v8.serialize), for receiveValue().
   *
   * @throws what send() rejects with; v8.serialize()'s Error for a value it cannot clone.
   */
  async sendValue(value: unknown, options?: WaitOptions & RefOptions): Promise<void> {
    await this.send(v8.serialize(value), options);
  }

  /**
   * Room for a message of up to `size` bytes, lent as a view into the ring to write the message in
   * place; commit() sends it. Null if there is no room now ('block').
   *
   * @throws what trySend() throws; ERR_INVALID_STATE (a reservation is pending); argument errors.
   */
  tryReserve(size: number): Uint8Array | null {
    this.#checkReserve(size);
    const view = this.#attemptReserve(size);
    return view === AGAIN ? null : view;
  }

  /**
   * reserve(), blocking the calling thread while there is no room.
   *
   * @throws what sendSync() throws; ERR_INVALID_STATE (a reservation is pending); argument errors.
   */
  reserveSync(size: number, options?: SyncWaitOptions): Uint8Array {
    const { timeout } = syncWaitOptions(options);
    this.#checkReserve(size);
    const now = this.#attemptReserve(size);
    return now !== AGAIN ? now : this.#waitSync('publisher', timeout, () => this.#attemptReserve(size));
  }

  /**
   * Room for a message of up to `size` bytes (see tryReserve()), waiting without blocking the event loop
   * while there is none.
   *
   * @throws what send() rejects with; ERR_INVALID_STATE (a reservation is pending); argument errors.
   */
  async reserve(size: number, options?: WaitOptions & RefOptions): Promise<Uint8Array> {
    const checked = waitOptions(options);
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    this.#checkReserve(size);
    if (!this.#queue.turnstile.busy) {
      const now = this.#attemptReserve(size);
      if (now !== AGAIN) return now;
    }
    return this.#wait('publisher', checked, () => this.#attemptReserve(size));
  }

  /**
   * Sends the reserved message: its first `length` bytes (default: all it reserved). The view is cut off
   * (it reads as empty from now on).
   *
   * @throws ERR_INVALID_STATE (nothing is reserved); argument errors (ERR_OUT_OF_RANGE also for a
   *   `length` above the size reserved).
   */
  commit(length?: number): void {
    const reservation = this.#reservation;
    if (reservation === undefined) throw invalidState('commit(): nothing is reserved (reserve() first)');
    const size = length ?? reservation.size;
    validateInteger(size, 'length', 0, reservation.size);
    this.#reservation = undefined;
    this.#cutOff(reservation.view);
    this.#publish(reservation.skip, size);
  }

  // ---- Subscribing --------------------------------------------------------------------------------

  /**
   * The next message (a copy), or null if there is none now — or none will come (the publisher closed).
   *
   * @throws {@link IpcError} 'EBUSY' (64 subscribers already), 'EPROTO' (a damaged record), 'EBADF'
   *   (closed); ERR_INVALID_STATE (this end is the publisher).
   */
  tryReceive(): Buffer | null {
    this.#claim('subscriber');
    const message = this.#attemptReceive();
    return message === AGAIN ? null : message;
  }

  /**
   * The next message, blocking the calling thread until one comes; null once the publisher has closed
   * and everything it sent is received.
   *
   * @throws {@link IpcError} 'EPIPE' (the publisher died without closing, once all it sent is received),
   *   'ETIMEDOUT' (`timeout`), and what tryReceive() throws.
   */
  receiveSync(options?: SyncWaitOptions): Buffer | null {
    const { timeout } = syncWaitOptions(options);
    this.#claim('subscriber');
    const now = this.#attemptReceive();
    if (now !== AGAIN) return now;
    return this.#waitSync('subscriber', timeout, this.#receiveAttempt);
  }

  /**
   * The next message, waiting for one without blocking the event loop; null at the end (see receiveSync).
   *
   * @throws {@link IpcError} 'EPIPE' (the publisher died without closing), 'ETIMEDOUT' (`timeout`),
   *   'EBADF' (closed, also while waiting), and what tryReceive() throws; {@link AbortError} (`signal`).
   */
  receive(options?: WaitOptions & RefOptions): Promise<Buffer | null> {
    return this.#consume(options, this.#receiveAttempt);
  }

  // A Promise-form receive: at once when a message is there, else by the waiting protocol, after this
  // end's earlier Promise-form calls. Not an async function: when it waits, the caller gets #wait()'s own
  // promise (an async function returning it would adopt it, ~150 ns more a message, measured on Node 20).
  #consume<T>(options: (WaitOptions & RefOptions) | undefined, attempt: () => T | typeof AGAIN): Promise<T> {
    let checked: WaitOptions & RefOptions;
    try {
      checked = waitOptions(options);
      if (checked.signal?.aborted) throw abortedError(checked.signal);
      this.#claim('subscriber');
      if (!this.#queue.turnstile.busy) {
        const now = attempt();
        if (now !== AGAIN) return Promise.resolve(now);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#wait('subscriber', checked, attempt);
  }

  /**
   * The next message without copying it: a view into the ring, lent until release(), after which it
   * reads as empty. Null if there is none now (or at the end). In 'block' the message stays whole while
   * lent (the publisher waits); in 'overwrite' the publisher may write over it, and release() says so.
   *
   * @throws what tryReceive() throws; ERR_INVALID_STATE (a viewed message is still lent out).
   */
  tryReceiveView(): Uint8Array | null {
    this.#claim('subscriber');
    const view = this.#attemptLoan();
    return view === AGAIN ? null : view;
  }

  /**
   * receiveView() blocking the calling thread until a message comes; null at the end.
   *
   * @throws what receiveSync() throws; ERR_INVALID_STATE (a viewed message is still lent out).
   */
  receiveViewSync(options?: SyncWaitOptions): Uint8Array | null {
    const { timeout } = syncWaitOptions(options);
    this.#claim('subscriber');
    const now = this.#attemptLoan();
    return now !== AGAIN ? now : this.#waitSync('subscriber', timeout, this.#loanAttempt);
  }

  /**
   * The next message as a view into the ring (see tryReceiveView()), waiting for one; null at the end.
   *
   * @throws what receive() rejects with; ERR_INVALID_STATE (a viewed message is still lent out).
   */
  receiveView(options?: WaitOptions & RefOptions): Promise<Uint8Array | null> {
    return this.#consume(options, this.#loanAttempt);
  }

  /**
   * Gives the viewed message back and cuts the view off. Returns whether its bytes stayed whole while
   * lent: false when the publisher began to write over it meanwhile (what was read from the view may be
   * torn: drop it; `missed` counts it). In 'overwrite' that happens to a subscriber a ring behind; in
   * 'block' only in a narrow race of a subscriber's first messages after it joined, before the publisher
   * saw it (docs/channel.md, "Topic"). True without a view.
   */
  release(): boolean {
    const loan = this.#loan;
    if (loan === undefined) return true;
    this.#loan = undefined;
    this.#cutOff(loan.view);
    if (this.#header.mapping.closed) return false;
    const whole = !this.#overwritten(loan.first);
    if (!whole) this.#missed++; // whatever was read from it may be torn: it counts as lost
    this.#advance();
    return whole;
  }

  /**
   * The next value sent with sendValue(); undefined at the end.
   *
   * @throws what receive() rejects with; v8.deserialize()'s Error for a message sendValue() did not make.
   */
  async receiveValue(options?: WaitOptions & RefOptions): Promise<unknown> {
    const bytes = await this.receive(options);
    return bytes === null ? undefined : v8.deserialize(bytes);
  }

  /** Messages until the publisher closes (and all it sent is received). */
  [Symbol.asyncIterator](): AsyncGenerator<Buffer, undefined, undefined> {
    return receiving(() => this.receive());
  }

  /**
   * Closes this end. The publisher's close ends the topic: subscribers receive what was sent, then null,
   * and no publisher may attach again. A subscriber's close frees its slot (and stops holding the
   * publisher back). Unmaps the memory; the end made with `removeOnDispose` also unlinks the name. Twice
   * is harmless.
   *
   * @throws {@link IpcError} 'ENOMEM' (rarely, as Mapping.close()); (an owner) errnos of shm_unlink(3).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#reservation !== undefined) this.#cutOff(this.#reservation.view);
    if (this.#loan !== undefined) this.#cutOff(this.#loan.view);
    this.#reservation = undefined;
    this.#loan = undefined;
    if (!this.#header.mapping.closed) {
      if (this.#announced >= 0) Atomics.sub(this.#words, this.#announced, 1);
      this.#announced = -1;
      if (this.#role === 'publisher') {
        Atomics.or(this.#words, W.state, PUBLISHER_CLOSED);
        Atomics.compareExchange(this.#words, W.publisher, threadId(), 0);
        this.#header.wake(W.tail, INT32_MAX);
        this.#header.wake(W.state, INT32_MAX);
      } else if (this.#role === 'subscriber') {
        this.#leave(this.#slot, threadId());
      }
    }
    this.#header.mapping.close();
    this.#owner.close();
  }

  /**
   * close(), for `using`.
   *
   * @throws as close().
   */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---- Internals ----------------------------------------------------------------------------------

  #checkReserve(size: unknown): void {
    validateInteger(size, 'size', 0, this.maxMessageSize);
    this.#claim('publisher');
    this.#assertNothingReserved('reserve');
  }

  #message(data: unknown): Uint8Array {
    const bytes = data instanceof Uint8Array && data.length > 0 ? data : toBytes(data, 'data');
    if (bytes.length > this.maxMessageSize) {
      throw outOfRange('data.byteLength', `<= ${this.maxMessageSize} (the topic's maxMessageSize)`, bytes.length);
    }
    return bytes;
  }

  #claim(role: TopicRole): void {
    if (this.#role === role && !this.#closed) return;
    this.#header.ensureOpen(role === 'publisher' ? 'send' : 'receive');
    if (this.#role !== undefined) {
      throw invalidState(`${role === 'publisher' ? 'send' : 'receive'}(): this end is the topic's ${this.#role}`);
    }
    if (role === 'publisher') this.#attachPublisher();
    else this.#attachSubscriber();
    this.#role = role;
  }

  // The publisher's claim: compare and swap `publisher` from 0 or from a thread that is gone. A new
  // publisher goes on from where the last one stopped: the ring's records are all whole (nothing is
  // visible before the store to `tail`, a send's last step).
  #attachPublisher(): void {
    const words = this.#words;
    if (Atomics.load(words, W.state) & PUBLISHER_CLOSED) {
      throw new IpcError(E.EPIPE, 'send', {}, 'the topic was closed by its publisher');
    }
    const tid = threadId();
    const current = Atomics.load(words, W.publisher);
    if (
      (current !== 0 && !threadGone(current)) ||
      Atomics.compareExchange(words, W.publisher, current, tid) !== current
    ) {
      throw new IpcError(
        E.EBUSY,
        'send',
        {},
        `the topic has a publisher already (thread ${current || Atomics.load(words, W.publisher)}): one per topic`,
      );
    }
    Atomics.or(words, W.state, PUBLISHER_ATTACHED);
    // A close that came between the first look and the swap: it cleared `publisher`, which let this in.
    if (Atomics.load(words, W.state) & PUBLISHER_CLOSED) {
      Atomics.compareExchange(words, W.publisher, tid, 0);
      throw new IpcError(E.EPIPE, 'send', {}, 'the topic was closed by its publisher');
    }
    this.#tail = Atomics.load(words, W.tail);
    this.#oldest = Atomics.load(words, W.oldest);
    // A publisher that died between its stores of nextSeq and tail numbered a record nobody can see.
    const next = Atomics.load(words, W.nextSeq);
    const entry = Atomics.load(this.#table, ((next - 1) >>> 0) % this.#table.length);
    this.#seq = this.#numberAt(this.#tail, next, entry);
    // Subscribers may not have read what the predecessor sent: 'block' holds for them from the start.
    this.#knownLowest = (this.#tail - this.#lowestBehind(this.#tail)) | 0;
  }

  // A subscriber's claim: a free slot (compare and swap 0 → its thread id), else the slot of a thread that
  // is gone; its start (the next record, or with history the record `history` back), stored in the slot
  // before its bit is set, so that the publisher never counts a position the subscriber has not written.
  #attachSubscriber(): void {
    const tid = threadId();
    const slots = this.#slots;
    for (const takeOver of [false, true]) {
      for (let slot = 0; slot < MAX_SUBSCRIBERS; slot++) {
        const at = slot * (SLOT_BYTES / 4);
        const current = Atomics.load(slots, at + SLOT_TID);
        if (takeOver ? current === 0 || !threadGone(current) : current !== 0) continue;
        if (Atomics.compareExchange(slots, at + SLOT_TID, current, tid) !== current) continue;
        this.#start();
        Atomics.store(slots, at + SLOT_POSITION, this.#position);
        Atomics.or(this.#words, slot < 32 ? W.maskLow : W.maskHigh, 1 << (slot & 31));
        this.#slot = slot;
        return;
      }
    }
    throw new IpcError(E.EBUSY, 'receive', {}, `the topic has ${MAX_SUBSCRIBERS} subscribers already`);
  }

  // Where a joining subscriber starts, and the sequence number it expects there: the record `history`
  // messages back, or the tail. Each read is checked against the publisher's progress meanwhile
  // (docs/channel.md, "Topic", "Joining"). A start overwritten before the first read is found behind
  // `oldest` then, and what was lost counted.
  #start(): void {
    const words = this.#words;
    const entries = this.#table.length;
    for (;;) {
      const next = Atomics.load(words, W.nextSeq);
      const back = Math.min(this.history, next >>> 0);
      if (back === 0) break;
      const first = (next - back) | 0;
      const start = Atomics.load(this.#table, (first >>> 0) % entries);
      // The entry is first's until the publisher numbers record first + entries, which it can only have
      // begun if nextSeq has reached that since.
      if ((Atomics.load(words, W.nextSeq) - first) >>> 0 >= entries) continue;
      this.#position = start;
      this.#expected = first;
      this.#expecting = true;
      this.#joined = true;
      this.#knownTail = start;
      return;
    }
    let tail: number;
    let next: number;
    let entry: number;
    do {
      tail = Atomics.load(words, W.tail);
      next = Atomics.load(words, W.nextSeq);
      entry = Atomics.load(this.#table, ((next - 1) >>> 0) % entries);
    } while (Atomics.load(words, W.tail) !== tail);
    this.#position = tail;
    this.#expected = this.#numberAt(tail, next, entry);
    this.#expecting = true;
    this.#knownTail = tail;
  }

  // The sequence number of the record at `tail` (published or not), given nextSeq and the table entry of
  // record nextSeq − 1, all read while tail held still: the publisher numbers and files a record, stores
  // nextSeq and then tail, so nextSeq is its number unless record nextSeq − 1 is filed at `tail` (written,
  // tail not yet stored). A fresh topic has no record −1.
  #numberAt(tail: number, next: number, entry: number): number {
    if (next === 0 && tail === 0) return 0;
    return entry === tail ? (next - 1) | 0 : next;
  }

  // Frees a subscriber's slot: its bit first, so that the publisher stops counting its position, then the
  // slot (compare and swap from the id that held it); then the publisher, if it waits, looks again.
  #leave(slot: number, tid: number): boolean {
    const bit = 1 << (slot & 31);
    const mask = slot < 32 ? W.maskLow : W.maskHigh;
    Atomics.and(this.#words, mask, ~bit);
    const freed = Atomics.compareExchange(this.#slots, slot * (SLOT_BYTES / 4) + SLOT_TID, tid, 0) === tid;
    if (!freed) Atomics.or(this.#words, mask, bit); // taken over meanwhile by a live subscriber
    this.#wakePublisher();
    return freed;
  }

  #wakePublisher(): void {
    if (Atomics.load(this.#words, W.publisherWaiting) !== 0) {
      Atomics.add(this.#words, W.released, 1);
      this.#header.wake(W.released, 1);
    }
  }

  // The publisher's check after a quiet wait: subscribers whose threads are gone are let go.
  #reapSubscribers(): void {
    for (let slot = 0; slot < MAX_SUBSCRIBERS; slot++) {
      const mask = Atomics.load(this.#words, slot < 32 ? W.maskLow : W.maskHigh);
      if ((mask & (1 << (slot & 31))) === 0) continue;
      const tid = Atomics.load(this.#slots, slot * (SLOT_BYTES / 4) + SLOT_TID);
      if (tid !== 0 && threadGone(tid)) this.#leave(slot, tid);
    }
  }

  // The lowest position of the attached subscribers, as a distance back from `tail` (0 with none).
  #lowestBehind(tail: number): number {
    let behind = 0;
    for (let half = 0; half < 2; half++) {
      let mask = Atomics.load(this.#words, half === 0 ? W.maskLow : W.maskHigh);
      while (mask !== 0) {
        const bit = 31 - Math.clz32(mask & -mask);
        mask &= mask - 1;
        const position = Atomics.load(this.#slots, (half * 32 + bit) * (SLOT_BYTES / 4) + SLOT_POSITION);
        const distance = (tail - position) >>> 0;
        if (distance <= this.capacity && distance > behind) behind = distance;
      }
    }
    return behind;
  }

  #attemptSend(bytes: Uint8Array): undefined | typeof AGAIN {
    this.#assertNothingReserved('send');
    const size = bytes.length;
    const skip = this.#room(size);
    if (skip < 0) return AGAIN;
    const start = skip > 0 ? 0 : this.#tail & (this.capacity - 1);
    if (size > 0) this.#data.set(bytes, start + RECORD_HEADER);
    this.#publish(skip, size);
    return undefined;
  }

  #attemptReserve(size: number): Uint8Array | typeof AGAIN {
    this.#assertNothingReserved('reserve');
    const skip = this.#room(size);
    if (skip < 0) return AGAIN;
    const start = skip > 0 ? 0 : this.#tail & (this.capacity - 1);
    const view = this.#window(this.#dataOffset + start + RECORD_HEADER, size);
    this.#reservation = { view, skip, size };
    return view;
  }

  // Makes room for a record of `size` bytes at the tail: -1 when the slowest subscriber has yet to make
  // it ('block'), else the bytes to skip before it (a wrap word goes there), after moving `oldest` past
  // every record the new one will overwrite.
  #room(size: number): number {
    this.#header.ensureOpen('send');
    const words = this.#words;
    const capacity = this.capacity;
    const tail = this.#tail;
    const need = RECORD_HEADER + ((size + 3) & ~3);
    const position = tail & (capacity - 1);
    const skip = position + need > capacity ? capacity - position : 0;
    const end = advance(tail, skip + need);
    if (this.policy === 'block') {
      // The lowest position found last holds while no subscriber joined: a joiner may start below it.
      const low = Atomics.load(words, W.maskLow);
      const high = Atomics.load(words, W.maskHigh);
      if (low !== this.#knownMaskLow || high !== this.#knownMaskHigh) {
        this.#knownMaskLow = low;
        this.#knownMaskHigh = high;
        this.#knownLowest = (tail - this.#lowestBehind(tail)) | 0;
      }
      if ((end - this.#knownLowest) >>> 0 > capacity) {
        this.#releasedAt = Atomics.load(words, W.released);
        const lowest = (tail - this.#lowestBehind(tail)) | 0;
        this.#knownLowest = lowest;
        if ((end - lowest) >>> 0 > capacity) return -1;
      }
    }
    // Records that start before end − capacity are about to be overwritten: move `oldest` past them first.
    let oldest = this.#oldest;
    const limit = (end - capacity) | 0;
    if (((limit - oldest) | 0) > 0) {
      do {
        const length = this.#dataWords[(oldest & (capacity - 1)) >> 2]!;
        if (length !== WRAP && !(length >= 0 && length <= this.maxMessageSize)) {
          throw new IpcError(
            E.EPROTO,
            'send',
            {},
            `a damaged record in the ring (length ${length >>> 0} at index ${oldest >>> 0})`,
          );
        }
        oldest = length === WRAP ? nextLap(oldest, capacity) : advance(oldest, RECORD_HEADER + ((length + 3) & ~3));
      } while (((limit - oldest) | 0) > 0);
      this.#oldest = oldest;
      // A read-modify-write: the bytes written next cannot be seen before it (docs/channel.md, "Topic").
      Atomics.exchange(words, W.oldest, oldest);
    }
    return skip;
  }

  // Publishes the record whose bytes are in place after `skip` bytes from the tail: its wrap, length and
  // sequence words, its history entry, then nextSeq, then tail.
  #publish(skip: number, size: number): void {
    const words = this.#words;
    const data = this.#dataWords;
    const tail = this.#tail;
    // First: nothing between the stores of nextSeq and tail, which share the line a subscriber spins on
    // (a read of it in between can take the line back and cost the store to tail another trip).
    const cpu = cpuToTell() + 1;
    if (words[W.publisherCpu] !== cpu) words[W.publisherCpu] = cpu;
    let position = tail & (this.capacity - 1);
    if (skip > 0) {
      data[position >> 2] = WRAP;
      position = 0;
    }
    const seq = this.#seq;
    data[position >> 2] = size;
    data[(position >> 2) + 1] = seq;
    Atomics.store(this.#table, (seq >>> 0) % this.#table.length, tail);
    this.#seq = (seq + 1) | 0;
    Atomics.store(words, W.nextSeq, this.#seq);
    const end = advance(tail, skip + RECORD_HEADER + ((size + 3) & ~3));
    this.#tail = end;
    Atomics.store(words, W.tail, end);
    if (Atomics.load(words, W.subscriberWaiting) !== 0) this.#header.wake(W.tail, INT32_MAX);
  }

  #assertNothingReserved(method: 'send' | 'reserve'): void {
    if (this.#reservation !== undefined)
      throw invalidState(`${method}(): a reservation is pending (commit() it first)`);
  }

  #window(offset: number, length: number): Uint8Array {
    this.#windows ??= windowSource(this.#header.region);
    const view = native.window(this.#windows, offset, length);
    if (LENT_VIEW_GUARD === 'mark') markAsUntransferable(view.buffer);
    return view;
  }

  #cutOff(view: Uint8Array): void {
    native.detach(this.#windows!, view.buffer);
  }

  readonly #receiveAttempt = (): Buffer | null | typeof AGAIN => this.#attemptReceive();
  readonly #loanAttempt = (): Uint8Array | null | typeof AGAIN => this.#attemptLoan();

  #attemptReceive(): Buffer | null | typeof AGAIN {
    this.#assertNothingLent('receive');
    const found = this.#find(true);
    if (found !== true) return found;
    const message = this.#copied!;
    this.#copied = undefined;
    this.#advance();
    return message;
  }

  // A view lent out until release() detaches it. In 'block' the record stays whole meanwhile (this
  // subscriber's position holds the publisher back); in 'overwrite' release() says whether it did.
  #attemptLoan(): Uint8Array | null | typeof AGAIN {
    this.#assertNothingLent('receiveView');
    const found = this.#find(false);
    if (found !== true) return found;
    const view = this.#window(this.#dataOffset + this.#recordStart, this.#recordLength);
    this.#loan = { view, first: this.#position };
    return view;
  }

  #assertNothingLent(method: string): void {
    if (this.#loan !== undefined)
      throw invalidState(`${method}(): a viewed message is still lent out (release() it first)`);
  }

  // Finds the next record from this subscriber's position (true, with it in #recordStart/Length/Next, and
  // with `copy` its bytes in #copied), checked against `oldest` after the copy: a record the publisher
  // started to overwrite meanwhile is dropped, and the subscriber goes on from the oldest record left,
  // counting the messages it lost by their sequence numbers. null at the end, AGAIN when there is none.
  #find(copy: boolean): true | null | typeof AGAIN {
    const words = this.#words;
    const capacity = this.capacity;
    for (;;) {
      const first = this.#position;
      if (first === this.#knownTail) {
        this.#knownTail = Atomics.load(words, W.tail);
        if (first === this.#knownTail) return this.#ended() ? null : AGAIN;
      }
      const tail = this.#knownTail;
      if ((tail - first) >>> 0 > capacity) {
        this.#relocate();
        continue;
      }
      let start = first;
      let offset = start & (capacity - 1);
      let length = this.#dataWords[offset >> 2]!;
      if (length === WRAP) {
        start = nextLap(start, capacity);
        offset = 0;
        length = this.#dataWords[0]!;
      }
      const seq = this.#dataWords[(offset >> 2) + 1]!;
      const next = advance(start, RECORD_HEADER + ((length + 3) & ~3));
      // A record must end within what was published and within the ring (a wrap word precedes one that
      // would not): a damaged length could otherwise have the copy clamped, and unread bytes handed out.
      const sound =
        length >= 0 &&
        length <= this.maxMessageSize &&
        offset + RECORD_HEADER + length <= capacity &&
        endsWithin(first, next, tail);
      if (sound && copy) {
        const message = Buffer.allocUnsafe(length);
        if (length > 0) message.set(this.#data.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + length));
        this.#copied = message;
      }
      if (this.#overwritten(first)) {
        this.#copied = undefined;
        this.#relocate();
        continue;
      }
      if (!sound) {
        throw new IpcError(
          E.EPROTO,
          'receive',
          {},
          `a damaged record in the ring (length ${length >>> 0} at index ${start >>> 0})`,
        );
      }
      // A history start more than 2^32 bytes back can land anywhere in the ring, even on a record:
      // the first record read must be the one the table named.
      if (this.#joined && seq !== this.#expected) {
        this.#copied = undefined;
        this.#relocate();
        continue;
      }
      this.#joined = false;
      if (this.#expecting && seq !== this.#expected) {
        const lost = (seq - this.#expected) | 0;
        if (lost < 0) {
          this.#copied = undefined;
          throw new IpcError(
            E.EPROTO,
            'receive',
            {},
            `a damaged record in the ring (message ${seq >>> 0} after ${(this.#expected - 1) >>> 0})`,
          );
        }
        this.#missed += lost;
      }
      this.#expected = (seq + 1) | 0;
      this.#expecting = true;
      this.#recordStart = offset + RECORD_HEADER;
      this.#recordLength = length;
      this.#recordNext = next;
      return true;
    }
  }

  // Whether the publisher has begun to overwrite the record at index `first` (read after the bytes were).
  #overwritten(first: number): boolean {
    const oldest = CHECK_BY_RMW ? Atomics.add(this.#words, W.oldest, 0) : Atomics.load(this.#words, W.oldest);
    // The second test catches a publisher 2^31 bytes or more ahead, where the signed difference wraps.
    return ((first - oldest) | 0) < 0 || (Atomics.load(this.#words, W.tail) - first) >>> 0 > this.capacity;
  }

  // On past the record #find() found: the slot's position, and in 'block' a wake for a waiting publisher.
  #advance(): void {
    const next = this.#recordNext;
    this.#position = next;
    const slot = this.#slot * (SLOT_BYTES / 4);
    const cpu = cpuToTell() + 1;
    if (this.#slots[slot + SLOT_CPU] !== cpu) this.#slots[slot + SLOT_CPU] = cpu;
    Atomics.store(this.#slots, slot + SLOT_POSITION, next);
    if (this.policy === 'block') this.#wakePublisher();
  }

  // Lapped: on from the oldest record still whole; its sequence number will say how many were lost.
  #relocate(): void {
    const oldest = Atomics.load(this.#words, W.oldest);
    this.#position = oldest;
    this.#knownTail = oldest;
    this.#joined = false;
    Atomics.store(this.#slots, this.#slot * (SLOT_BYTES / 4) + SLOT_POSITION, oldest);
    if (this.policy === 'block') this.#wakePublisher(); // a publisher may be waiting for this position
  }

  // With nothing to read: whether the publisher closed and nothing more is there.
  #ended(): boolean {
    if ((Atomics.load(this.#words, W.state) & PUBLISHER_CLOSED) === 0) return false;
    return Atomics.load(this.#words, W.tail) === this.#position;
  }

  #checkPeer(role: TopicRole): void {
    if (role === 'publisher') {
      this.#reapSubscribers();
      return;
    }
    const tid = Atomics.load(this.#words, W.publisher);
    if (tid !== 0 && threadGone(tid) && Atomics.load(this.#words, W.tail) === this.#position) {
      throw new IpcError(E.EPIPE, 'receive', {}, `the publisher (thread ${tid}) died without closing the topic`);
    }
  }

  // The value to sleep on while this side cannot go on (a subscriber: the tail, while it equals its
  // position; the publisher: `released`, as read before its last look), or undefined when things moved.
  // Each side first writes the CPU it waits on, and does not spin when its peer (for the publisher, any
  // subscriber) runs there: the peer could not move while it spins.
  #spinWhile(role: TopicRole, limit: number): number | undefined {
    const words = this.#words;
    const alone = limit === Infinity;
    if (!alone) {
      const cpu = waitingCpu() + 1;
      this.#waitCpu = cpu;
      if (role === 'publisher') {
        if (words[W.publisherCpu] !== cpu) words[W.publisherCpu] = cpu;
      } else if (this.#slot >= 0) {
        const at = this.#slot * (SLOT_BYTES / 4) + SLOT_CPU;
        if (this.#slots[at] !== cpu) this.#slots[at] = cpu;
      }
      if (limit === 0 || this.#peerHere(role)) limit = 1;
    }
    if (role === 'subscriber') {
      const position = this.#position;
      const reads = alone ? 100_000 : limit;
      for (let spin = 0; spin < reads; spin++) if (Atomics.load(words, W.tail) !== position) return undefined;
      return position;
    }
    // A subscriber moves `released` only while the publisher says it sleeps: spinning rescans the positions.
    const tail = this.#tail;
    const reads = alone ? 1000 : Math.max(1, limit >> 4);
    for (let spin = 0; spin < reads; spin++)
      if (((tail - this.#lowestBehind(tail)) | 0) !== this.#knownLowest) return undefined;
    return this.#releasedAt;
  }

  // Whether the peer last said it runs on the CPU this thread last waited on (#spinWhile() notes it): for a
  // subscriber the publisher, for the publisher any attached subscriber.
  #peerHere(role: TopicRole): boolean {
    const cpu = this.#waitCpu;
    if (cpu === 0) return false;
    if (role === 'subscriber') return this.#words[W.publisherCpu] === cpu;
    for (let half = 0; half < 2; half++) {
      let mask = Atomics.load(this.#words, half === 0 ? W.maskLow : W.maskHigh);
      while (mask !== 0) {
        const bit = 31 - Math.clz32(mask & -mask);
        mask &= mask - 1;
        if (this.#slots[(half * 32 + bit) * (SLOT_BYTES / 4) + SLOT_CPU] === cpu) return true;
      }
    }
    return false;
  }

  // Yields the CPU when the peer runs on it: it can move only once this thread lets go of the CPU, and a
  // yield that lets it run is cheaper than a sleep and the wake it would then have to make.
  #yieldedToPeer(role: TopicRole): boolean {
    if (!this.#peerHere(role)) return false;
    native.yieldCpu();
    return true;
  }

  // Whether, after announcing that it sleeps, this side has anything to do after all.
  #moved(role: TopicRole, value: number): boolean {
    if (role === 'subscriber') return Atomics.load(this.#words, W.tail) !== value || this.#ended();
    const tail = this.#tail;
    const lowest = (tail - this.#lowestBehind(tail)) | 0;
    return lowest !== this.#knownLowest || Atomics.load(this.#words, W.released) !== value;
  }

  // A subscriber also watches `state`, which the publisher's close changes (read before the last look).
  #otherWord(role: TopicRole): { index: number; expected: number } | undefined {
    return role === 'subscriber' ? { index: W.state, expected: Atomics.load(this.#words, W.state) } : undefined;
  }

  // The waiting protocol (docs/channel.md, "Topic"): attempt; while that cannot go on, spin, announce,
  // look once more, sleep for at most 100 ms; after a quiet sleep, check the peers.
  #waitSync<T>(role: TopicRole, timeout: number | undefined, attempt: () => T | typeof AGAIN): T {
    const index = role === 'subscriber' ? W.tail : W.released;
    const waiting = role === 'subscriber' ? W.subscriberWaiting : W.publisherWaiting;
    const syscall = role === 'subscriber' ? 'receive' : 'send';
    const deadline = timeout === undefined ? undefined : performance.now() + timeout;
    let quiet = false;
    let yielded = false;
    for (;;) {
      const result = attempt();
      if (result !== AGAIN) return result;
      if (quiet) this.#checkPeer(role);
      const value = this.#spinWhile(role, this.#spin);
      if (value === undefined) continue;
      if (!yielded && this.#spin !== 0 && this.#yieldedToPeer(role)) {
        yielded = true;
        continue;
      }
      yielded = false;
      if (deadline !== undefined && performance.now() >= deadline) throw timeoutError(syscall, timeout!);
      let slept: SleepResult;
      Atomics.add(this.#words, waiting, 1);
      try {
        const other = this.#otherWord(role);
        if (this.#moved(role, value)) continue;
        slept = this.#header.sleepSync(index, value, remaining(deadline, LIVENESS_INTERVAL_MS), undefined, other);
      } finally {
        Atomics.sub(this.#words, waiting, 1);
      }
      quiet = slept === 'timedout';
    }
  }

  // #waitSync() as a Promise: polls for a while between turns of the event loop, then sleeps on a waiter
  // thread, after this end's earlier Promise-form calls.
  async #wait<T>(role: TopicRole, options: WaitOptions & RefOptions, attempt: () => T | typeof AGAIN): Promise<T> {
    const index = role === 'subscriber' ? W.tail : W.released;
    const waiting = role === 'subscriber' ? W.subscriberWaiting : W.publisherWaiting;
    const syscall = role === 'subscriber' ? 'receive' : 'send';
    const allowance = budget(options);
    this.#queue.join(options.ref);
    try {
      await this.#queue.turnstile.enter(allowance, syscall);
      try {
        let quiet = false;
        let pollUntil = -1;
        let yielded = false;
        for (;;) {
          this.#header.ensureOpen(syscall);
          const result = attempt();
          if (result !== AGAIN) return result;
          if (quiet) this.#checkPeer(role);
          const value = this.#spinWhile(role, Math.min(this.#spin, 1000));
          if (value === undefined) continue;
          const now = performance.now();
          if (allowance.deadline !== undefined && now >= allowance.deadline)
            throw timeoutError(syscall, allowance.timeout!);
          if (pollUntil < 0) pollUntil = now + this.#pollMs;
          // Only a ref'd wait polls (Channel's #wait() says why); on the peer's CPU it yields to the peer
          // and looks again before each turn of the event loop.
          if (now < pollUntil && this.#queue.keepAlive) {
            if (!yielded && this.#yieldedToPeer(role)) {
              yielded = true;
              continue;
            }
            yielded = false;
            await nextTurn(this.#queue.keepAlive);
            if (allowance.signal?.aborted) throw abortedError(allowance.signal);
            continue;
          }
          Atomics.add(this.#words, waiting, 1);
          this.#announced = waiting;
          let slept: SleepResult;
          try {
            const other = this.#otherWord(role);
            if (this.#moved(role, value)) continue;
            slept = await this.#header.sleep(index, value, remaining(allowance.deadline, LIVENESS_INTERVAL_MS), {
              signal: allowance.signal,
              queue: this.#queue,
              other,
            });
          } finally {
            if (this.#announced >= 0 && !this.#header.mapping.closed) Atomics.sub(this.#words, waiting, 1);
            this.#announced = -1;
          }
          quiet = slept === 'timedout';
        }
      } finally {
        this.#queue.turnstile.leave();
      }
    } finally {
      this.#queue.leave(options.ref);
    }
  }
}

/** The longest message a topic ring of `capacity` bytes takes: its record (8 bytes of header) and a skip fit. */
function longestTopicMessage(capacity: number): number {
  return capacity / 2 - 12;
}

/** Where the ring starts: after the control page, the subscriber slots and the history table (whole pages). */
function dataOffsetFor(history: number): number {
  return HISTORY_OFFSET + Math.ceil(((history + 2) * 4) / PAGE) * PAGE;
}

// The source lent views of a mapping are made from (native/mmap.cc), as a channel's are.
function windowSource(region: number): object {
  const source = native.windowSource(region, LENT_VIEW_GUARD === 'key');
  if (typeof source === 'number') throw new IpcError(-source, 'mmap');
  return source;
}

function popcount(value: number): number {
  let v = value - ((value >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 63;
}

function endOptions(options: TopicEndOptions | undefined): CheckedEnd {
  const { spin, poll, role } = validateOptions(options);
  if (role !== undefined) validateOneOf(role, 'options.role', ROLES);
  return { spin: spinOption(spin), poll: pollOption(poll), role };
}
