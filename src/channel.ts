// A message channel over shared memory: a ring of variable-size records in a memfd or POSIX shared memory
// object, with indices advanced by Atomics and futex wake-ups only for a side that said it sleeps.
// Layout and protocol: docs/channel.md. This is the single-producer, single-consumer core of issue 6;
// not exported from the package yet.
import v8 from 'node:v8';
import { IpcError, errnoValue, timeoutError } from './errors.js';
import { Queue, SharedWords, remaining, threadGone, threadId } from './futex.js';
import { MemoryFile, type Mapping } from './mmap.js';
import { SharedMemory, toIpcName } from './shm.js';
import { invalidArgValue, outOfRange, toBytes, validateFd, validateInteger, validateOptions } from './validate.js';
import { AGAIN, type RefOptions, type SyncWaitOptions, type WaitOptions, abortedError, budget, syncWaitOptions, waitOptions } from './wait.js';

/** 'UNCH' read as a little-endian u32: the first word of every channel. */
const MAGIC = 0x48434e55;
const VERSION = 1;
const HEADER_BYTES = 4096;

// Int32 indices into the header (byte offset / 4). Head and tail sit on cache lines of their own.
const W = {
  magic: 0,
  version: 1,
  capacity: 2,
  maxMessageSize: 3,
  dataOffset: 4,
  head: 16, // byte 64: the consumer's read index (bytes, wrapping at 2^32)
  tail: 32, // byte 128: the producer's write index
  consumerWaiting: 48, // byte 192: 1 while the consumer sleeps (or is about to) on `tail`
  producerWaiting: 49, // byte 196: 1 while the producer sleeps on `head`
  producer: 50, // byte 200: the producing thread's id (0: none yet)
  consumer: 51, // byte 204: the consuming thread's id
  closed: 52, // byte 208: PRODUCER_CLOSED | CONSUMER_CLOSED
} as const;
/** Per side: the index it sleeps on (the other side's), its waiting flag, and its operation's name. */
const SIDES = {
  producer: { index: W.head, flag: W.producerWaiting, syscall: 'send' },
  consumer: { index: W.tail, flag: W.consumerWaiting, syscall: 'receive' },
} as const;
const PRODUCER_CLOSED = 1;
const CONSUMER_CLOSED = 2;
/** A length word that means: no record here, the next one starts at offset 0. */
const WRAP = -1;

const SPIN_LIMIT = spinLimit();
/** How often a waiting side checks that its peer still lives. */
const LIVENESS_INTERVAL_MS = 100;

// UNIPC_CHANNEL_SPIN overrides the reads a waiting side makes before it sleeps (for measuring).
function spinLimit(): number {
  const value = Number(process.env.UNIPC_CHANNEL_SPIN);
  return Number.isInteger(value) && value >= 0 && value <= 1e8 ? value : 1000;
}

const pad4 = (n: number): number => (n + 3) & ~3;

export interface ChannelOptions {
  /** A POSIX shared memory name for other processes to open(); without one, a memfd (pass its `fd`). */
  name?: string;
  /** Bytes of the ring: a power of two from 4 KiB to 1 GiB. Default 1 MiB. */
  capacity?: number;
  /** The longest message, at most capacity / 2 − 8. Default capacity / 4. */
  maxMessageSize?: number;
}

type Role = 'producer' | 'consumer';

/**
 * One end of a shared-memory channel. A channel carries messages one way: one object sends (the
 * producer), one object receives (the consumer), in the same or different processes or threads; the
 * first send() or receive() of an object claims its role.
 */
export class Channel extends SharedWords implements Disposable {
  /** The descriptor of the shared memory, to hand to a child (spawn fds) or another process. */
  readonly fd: number;
  readonly name: string | undefined;
  readonly capacity: number;
  readonly maxMessageSize: number;
  readonly #owner: MemoryFile | SharedMemory;
  readonly #data: Uint8Array;
  readonly #dataWords: Int32Array;
  readonly #mask: number;
  readonly #queue = new Queue();
  #role: Role | undefined;
  #closed = false;
  /** The head a failed #write() saw: the producer waits until it moves. */
  #fullAt = 0;

  private constructor(owner: MemoryFile | SharedMemory, mapping: Mapping, name: string | undefined) {
    super(mapping, 0, HEADER_BYTES);
    this.#owner = owner;
    this.fd = owner.fd;
    this.name = name;
    const words = this.words;
    if (Atomics.load(words, W.magic) !== MAGIC) {
      throw new IpcError(errnoValue('EPROTO'), 'mmap', {}, 'not a unipc channel (no magic number at its start)');
    }
    if (words[W.version] !== VERSION) {
      throw new IpcError(errnoValue('EPROTO'), 'mmap', {}, `a channel of layout version ${words[W.version]}; this unipc speaks ${VERSION}`);
    }
    this.capacity = words[W.capacity]!;
    this.maxMessageSize = words[W.maxMessageSize]!;
    // Another process wrote the header: numbers create() would never write are a damaged channel, not
    // arguments to compute offsets from.
    const capacityValid = this.capacity >= 4096 && this.capacity <= 2 ** 30 && (this.capacity & (this.capacity - 1)) === 0;
    if (!capacityValid || !(this.maxMessageSize >= 1 && this.maxMessageSize <= this.capacity / 2 - 8) || words[W.dataOffset] !== HEADER_BYTES) {
      throw new IpcError(errnoValue('EPROTO'), 'mmap', {}, 'a damaged channel header (capacity, maxMessageSize or data offset out of range)');
    }
    if (mapping.length < HEADER_BYTES + this.capacity) {
      throw new IpcError(errnoValue('EPROTO'), 'mmap', {}, `the channel's memory is shorter than its capacity (${this.capacity})`);
    }
    this.#data = new Uint8Array(mapping.buffer, HEADER_BYTES, this.capacity);
    this.#dataWords = new Int32Array(mapping.buffer, HEADER_BYTES, this.capacity / 4);
    this.#mask = this.capacity - 1;
  }

  /** Makes a channel in a memfd, or in POSIX shared memory under `name` (created exclusively, mode 0o600). */
  static create(options?: ChannelOptions): Channel {
    const { name, capacity = 1 << 20, maxMessageSize } = validateOptions(options);
    if (name !== undefined) toIpcName(name, 'options.name');
    validateInteger(capacity, 'options.capacity', 4096, 2 ** 30);
    if ((capacity & (capacity - 1)) !== 0) throw invalidArgValue('options.capacity', capacity, 'must be a power of two');
    const longest = maxMessageSize === undefined ? capacity / 4 : maxMessageSize;
    validateInteger(longest, 'options.maxMessageSize', 1, capacity / 2 - 8);
    const size = HEADER_BYTES + capacity;
    const owner = name === undefined ? MemoryFile.create('unipc-channel', { size }) : SharedMemory.open(name, { create: true, exclusive: true, size });
    let mapping: Mapping | undefined;
    try {
      mapping = owner.map();
      const words = new Int32Array(mapping.buffer, 0, HEADER_BYTES / 4);
      words[W.version] = VERSION;
      words[W.capacity] = capacity;
      words[W.maxMessageSize] = longest;
      words[W.dataOffset] = HEADER_BYTES;
      Atomics.store(words, W.magic, MAGIC); // last: an opener never sees half a header
      return new Channel(owner, mapping, owner instanceof SharedMemory ? owner.name : undefined);
    } catch (error) {
      mapping?.close();
      owner.close();
      if (owner instanceof SharedMemory) SharedMemory.unlink(owner.name);
      throw error;
    }
  }

  /** The channel another process created under `name`. */
  static open(name: string): Channel {
    const owner = SharedMemory.open(name);
    return Channel.#attach(owner, owner.name);
  }

  /** The channel behind a descriptor (a memfd handed over by spawn, fd passing, or inheritance). */
  static fromFd(fd: number): Channel {
    validateFd(fd);
    return Channel.#attach(MemoryFile.fromFd(fd), undefined);
  }

  static #attach(owner: MemoryFile | SharedMemory, name: string | undefined): Channel {
    let mapping: Mapping | undefined;
    try {
      // Mapping memory shorter than the header would fail for reasons about map() options the caller never gave.
      if (owner.size < HEADER_BYTES) {
        throw new IpcError(errnoValue('EPROTO'), 'mmap', {}, `not a unipc channel (${owner.size} bytes, less than its header)`);
      }
      mapping = owner.map();
      return new Channel(owner, mapping, name);
    } catch (error) {
      mapping?.close();
      owner.close();
      throw error;
    }
  }

  /** Removes a named channel's name (processes that have it open keep using it). */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  /** Whether this end is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a message if there is room now: true, or false when the ring is full. */
  trySend(data: string | ArrayBufferView | ArrayBuffer): boolean {
    const bytes = this.#message(data);
    this.#claim('producer');
    this.#assertReceiverThere();
    return this.#write(bytes);
  }

  /** Sends a message, blocking the calling thread while the ring is full (backpressure). */
  sendSync(data: string | ArrayBufferView | ArrayBuffer, options?: SyncWaitOptions): void {
    const bytes = this.#message(data);
    const { timeout } = syncWaitOptions(options);
    this.#claim('producer');
    this.#waitSync('producer', timeout, () => this.#attemptSend(bytes));
  }

  /** Sends a message, waiting (on a waiter thread, never blocking the event loop) while the ring is full. */
  async send(data: string | ArrayBufferView | ArrayBuffer, options?: WaitOptions & RefOptions): Promise<void> {
    const checked = waitOptions(options);
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    const bytes = this.#message(data);
    this.#claim('producer');
    if (!this.#queue.turnstile.busy && this.#attemptSend(bytes) !== AGAIN) return;
    const message = new Uint8Array(bytes); // what `data` held at the call
    await this.#wait('producer', checked, () => this.#attemptSend(message));
  }

  /** The next message (a copy), or null if there is none now — or none will come (the producer closed). */
  tryReceive(): Buffer | null {
    this.#claim('consumer');
    return this.#read();
  }

  /**
   * The next message, blocking the calling thread until one comes; null once the producer has closed and
   * every message it sent has been received.
   */
  receiveSync(options?: SyncWaitOptions): Buffer | null {
    const { timeout } = syncWaitOptions(options);
    this.#claim('consumer');
    return this.#waitSync('consumer', timeout, () => this.#attemptReceive());
  }

  /** The next message, waiting for one without blocking the event loop; null at the end (see receiveSync). */
  async receive(options?: WaitOptions & RefOptions): Promise<Buffer | null> {
    const checked = waitOptions(options);
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    this.#claim('consumer');
    if (!this.#queue.turnstile.busy) {
      const now = this.#attemptReceive();
      if (now !== AGAIN) return now;
    }
    return this.#wait('consumer', checked, () => this.#attemptReceive());
  }

  #attemptSend(bytes: Uint8Array): undefined | typeof AGAIN {
    this.#assertReceiverThere();
    return this.#write(bytes) ? undefined : AGAIN;
  }

  #attemptReceive(): Buffer | null | typeof AGAIN {
    const message = this.#read();
    return message !== null || this.#producerDone() ? message : AGAIN;
  }

  // The waiting protocol of docs/channel.md for one side, on the calling thread: attempt; while that
  // cannot proceed, spin on the other side's index, announce, sleep on it. After a sleep in which the
  // peer did nothing, check (once the next attempt has failed too) that it still lives.
  #waitSync<T>(side: Role, timeout: number | undefined, attempt: () => T | typeof AGAIN): T {
    const { index, flag, syscall } = SIDES[side];
    const deadline = timeout === undefined ? undefined : performance.now() + timeout;
    let quiet = false;
    for (;;) {
      const result = attempt();
      if (result !== AGAIN) return result;
      if (quiet) this.#assertPeerAlive(side === 'producer' ? 'consumer' : 'producer');
      const value = this.#spinWhile(side);
      if (value === undefined) continue;
      Atomics.store(this.words, flag, 1);
      let slept;
      try {
        if (this.#moved(side, value)) continue;
        if (deadline !== undefined && performance.now() >= deadline) throw timeoutError(syscall, timeout!);
        slept = this.sleepSync(index, value, remaining(deadline, LIVENESS_INTERVAL_MS));
      } finally {
        Atomics.store(this.words, flag, 0);
      }
      quiet = slept === 'timedout';
    }
  }

  // #waitSync() as a Promise: sleeps on a waiter thread, after this object's earlier Promise-form calls.
  async #wait<T>(side: Role, options: WaitOptions & RefOptions, attempt: () => T | typeof AGAIN): Promise<T> {
    const { index, flag, syscall } = SIDES[side];
    const allowance = budget(options);
    this.#queue.join(options.ref);
    try {
      const leave = await this.#queue.turnstile.enter(allowance, syscall);
      try {
        let quiet = false;
        for (;;) {
          this.ensureOpen(syscall);
          const result = attempt();
          if (result !== AGAIN) return result;
          if (quiet) this.#assertPeerAlive(side === 'producer' ? 'consumer' : 'producer');
          const value = this.#spinWhile(side);
          if (value === undefined) continue;
          if (allowance.deadline !== undefined && performance.now() >= allowance.deadline) {
            throw timeoutError(syscall, allowance.timeout!);
          }
          Atomics.store(this.words, flag, 1);
          let slept;
          try {
            if (this.#moved(side, value)) continue;
            const slice = remaining(allowance.deadline, LIVENESS_INTERVAL_MS);
            slept = await this.sleep(index, value, slice, { signal: allowance.signal, queue: this.#queue });
          } finally {
            if (!this.mapping.closed) Atomics.store(this.words, flag, 0);
          }
          quiet = slept === 'timedout';
        }
      } finally {
        leave();
      }
    } finally {
      this.#queue.leave(options.ref);
    }
  }

  // Whether, after announcing that it sleeps, this side has anything to do after all.
  #moved(side: Role, value: number): boolean {
    return Atomics.load(this.words, SIDES[side].index) !== value || (side === 'consumer' && this.#producerDone());
  }

  /**
   * Sends any value the structured clone algorithm can copy (v8.serialize: objects, Maps, typed arrays,
   * Dates, …) as one message; receiveValue() at the other end rebuilds it. A convenience on top of the
   * byte messages, which both ends must agree to use.
   */
  async sendValue(value: unknown, options?: WaitOptions & RefOptions): Promise<void> {
    await this.send(v8.serialize(value), options);
  }

  /** sendValue() blocking the calling thread while the ring is full. */
  sendValueSync(value: unknown, options?: SyncWaitOptions): void {
    this.sendSync(v8.serialize(value), options);
  }

  /** The next value sent with sendValue(); undefined at the end of the channel. */
  async receiveValue(options?: WaitOptions & RefOptions): Promise<unknown> {
    const bytes = await this.receive(options);
    return bytes === null ? undefined : v8.deserialize(bytes);
  }

  /** receiveValue() blocking the calling thread. */
  receiveValueSync(options?: SyncWaitOptions): unknown {
    const bytes = this.receiveSync(options);
    return bytes === null ? undefined : v8.deserialize(bytes);
  }

  /** Messages until the producer closes (and all it sent is received). */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    for (let message = await this.receive(); message !== null; message = await this.receive()) yield message;
  }

  /**
   * Closes this end: a producer's close lets the consumer drain what was sent and then see the end; a
   * consumer's close makes the producer's sends fail with 'EPIPE'. Unmaps the memory. Twice is harmless.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#role !== undefined && !this.mapping.closed) {
      Atomics.or(this.words, W.closed, this.#role === 'producer' ? PRODUCER_CLOSED : CONSUMER_CLOSED);
      this.wake(W.tail, 1);
      this.wake(W.head, 1);
    }
    this.mapping.close();
    this.#owner.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #message(data: unknown): Uint8Array {
    const bytes = toBytes(data, 'data');
    if (bytes.byteLength > this.maxMessageSize) {
      throw outOfRange('data.byteLength', `<= ${this.maxMessageSize} (the channel's maxMessageSize)`, bytes.byteLength);
    }
    return bytes;
  }

  // The first send or receive of an object makes it the channel's producer or consumer.
  #claim(role: Role): void {
    this.ensureOpen(role === 'producer' ? 'send' : 'receive');
    if (this.#role === role) return;
    if (this.#role !== undefined) {
      throw new IpcError(errnoValue('EINVAL'), role === 'producer' ? 'send' : 'receive', {}, `this end is the channel's ${this.#role}`);
    }
    const index = role === 'producer' ? W.producer : W.consumer;
    const tid = threadId();
    const current = Atomics.load(this.words, index);
    if (current !== 0 && current !== tid && !threadGone(current)) {
      throw new IpcError(errnoValue('EBUSY'), role === 'producer' ? 'send' : 'receive', {}, `the channel has a ${role} already (thread ${current}): one of each`);
    }
    Atomics.compareExchange(this.words, index, current, tid);
    this.#role = role;
  }

  #assertReceiverThere(): void {
    if (Atomics.load(this.words, W.closed) & CONSUMER_CLOSED) {
      throw new IpcError(errnoValue('EPIPE'), 'send', {}, 'the consumer closed the channel');
    }
  }

  // Closed by the producer, and nothing left to read.
  #producerDone(): boolean {
    return (Atomics.load(this.words, W.closed) & PRODUCER_CLOSED) !== 0 && Atomics.load(this.words, W.tail) === this.words[W.head];
  }

  #assertPeerAlive(peer: Role): void {
    if (Atomics.load(this.words, W.closed) & (peer === 'producer' ? PRODUCER_CLOSED : CONSUMER_CLOSED)) return;
    const tid = Atomics.load(this.words, peer === 'producer' ? W.producer : W.consumer);
    if (tid !== 0 && threadGone(tid)) {
      throw new IpcError(errnoValue('EPIPE'), peer === 'producer' ? 'receive' : 'send', {}, `the ${peer} (thread ${tid}) died without closing the channel`);
    }
  }

  // Spins while the other side's index still holds the value that made this side wait (for the consumer
  // its own head: the ring is empty while tail equals it; for the producer the head its full ring saw).
  // Returns that value, to sleep on, or undefined when the index moved meanwhile (try again at once).
  #spinWhile(side: Role): number | undefined {
    const index = side === 'producer' ? W.head : W.tail;
    const waitingFor = side === 'producer' ? this.#fullAt : this.words[W.head]!;
    for (let spin = 0; spin < SPIN_LIMIT; spin++) {
      if (Atomics.load(this.words, index) !== waitingFor) return undefined;
    }
    return waitingFor;
  }

  #write(bytes: Uint8Array): boolean {
    const words = this.words;
    const head = Atomics.load(words, W.head);
    const tail = words[W.tail]!;
    const free = this.capacity - ((tail - head) >>> 0);
    let position = tail & this.#mask;
    const need = 4 + pad4(bytes.byteLength);
    const skip = position + need > this.capacity ? this.capacity - position : 0;
    if (free < skip + need) {
      this.#fullAt = head;
      return false;
    }
    if (skip > 0) {
      this.#dataWords[position >> 2] = WRAP;
      position = 0;
    }
    this.#dataWords[position >> 2] = bytes.byteLength;
    this.#data.set(bytes, position + 4);
    Atomics.store(words, W.tail, (tail + skip + need) | 0);
    if (Atomics.load(words, W.consumerWaiting) !== 0) this.wake(W.tail, 1);
    return true;
  }

  #read(): Buffer | null {
    const words = this.words;
    const tail = Atomics.load(words, W.tail);
    let head = words[W.head]!;
    if (head === tail) return null;
    let position = head & this.#mask;
    let length = this.#dataWords[position >> 2]!;
    if (length === WRAP) {
      head = (head + this.capacity - position) | 0;
      position = 0;
      length = this.#dataWords[0]!;
    }
    const message = Buffer.from(this.#data.subarray(position + 4, position + 4 + length));
    Atomics.store(words, W.head, (head + 4 + pad4(length)) | 0);
    if (Atomics.load(words, W.producerWaiting) !== 0) this.wake(W.head, 1);
    return message;
  }
}
