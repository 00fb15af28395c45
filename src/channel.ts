// A message channel over shared memory: a ring of variable-size records in a memfd or POSIX shared memory
// object, with indices advanced by Atomics and futex wake-ups only for a side that said it sleeps.
// Layout and protocol: docs/channel.md.

import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { markAsUntransferable } from 'node:worker_threads';
import { check, E, IpcError, timeoutError } from './errors.js';
import { handOverBySpawn, readlink } from './fd.js';
import { FutexWords, Queue, remaining, type SleepResult, threadGone, threadId } from './futex.js';
import { kMarkConsistent, kRelease, kTryAcquire, Mutex, type MutexGuard } from './lock.js';
import { type Mapping, MemoryFile } from './mmap.js';
import { constants, native } from './native.js';
import { toIpcName } from './posix-name.js';
import {
  advance,
  distance,
  endsWithin,
  fits,
  isCapacity,
  longestMessage,
  MAX_CAPACITY,
  MIN_CAPACITY,
  nextLap,
  recordBytes,
  ringOffset,
  skipBefore,
  WRAP,
} from './ring.js';
import { SharedMemory } from './shm.js';
import {
  invalidArgType,
  invalidArgValue,
  invalidState,
  outOfRange,
  type TargetRange,
  toBytes,
  validateBoolean,
  validateFd,
  validateInteger,
  validateOneOf,
  validateOptions,
  validateTarget,
} from './validate.js';
import {
  AGAIN,
  abortedError,
  type Budget,
  budget,
  type RefOptions,
  receiving,
  type SyncWaitOptions,
  syncWaitOptions,
  type WaitOptions,
  waitOptions,
} from './wait.js';

/** 'UNCH' read as a little-endian u32: the first word of every channel. */
const MAGIC = 0x48434e55;
const VERSION = 1;
const HEADER_BYTES = 4096;
/** Producers a multi-producer channel takes at once (one bit each in `producerMask`). */
const MAX_PRODUCERS = 32;

// Int32 indices into the header (byte offset / 4). Head and tail sit on cache lines of their own.
const W = {
  magic: 0,
  version: 1,
  capacity: 2,
  maxMessageSize: 3,
  dataOffset: 4,
  flags: 5, // MULTI_PRODUCER
  head: 16, // byte 64: the consumer's read index (bytes, wrapping at 2^32)
  consumerCpu: 17, // byte 68: the CPU the consumer last waited on (on head's line: the consumer writes it)
  tail: 32, // byte 128: the producers' write index
  producerCpu: 33, // byte 132: the CPU the producer that last sent last waited on (on tail's line)
  consumerWaiting: 48, // byte 192: a count, +1 while the consumer sleeps (or is about to) on `tail`
  producerWaiting: 49, // byte 196: how many producers sleep (or are about to) on `head`
  consumer: 50, // byte 200: the consuming thread's id (0: none yet)
  state: 51, // byte 204: PRODUCER_ATTACHED | CONSUMER_CLOSED | PRODUCER_DIED
  producerMask: 52, // byte 208: bit i set while producer slot i is attached
  producerLock: 64, // byte 256: the Mutex producers of a multi-producer channel write under
  producerSlots: 80, // bytes 320–447: the thread id of each attached producer
} as const;
/** Per side: the index it sleeps on (the other side's), its waiting word, its CPU word, its operation. */
// `index` is the word a waiting side sleeps on; `ends` the word the other side changes when it goes (a
// producer's close clears its bit of producerMask, the consumer's sets CONSUMER_CLOSED in state), which
// the sleep also watches (futex_waitv), so that a close just before the sleep cannot go unseen.
const SIDES = {
  producer: {
    index: W.head,
    ends: W.state,
    waiting: W.producerWaiting,
    cpu: W.producerCpu,
    peerCpu: W.consumerCpu,
    syscall: 'send',
  },
  consumer: {
    index: W.tail,
    ends: W.producerMask,
    waiting: W.consumerWaiting,
    cpu: W.consumerCpu,
    peerCpu: W.producerCpu,
    syscall: 'receive',
  },
} as const;
const MULTI_PRODUCER = 1;
const PRODUCER_ATTACHED = 1;
const CONSUMER_CLOSED = 2;
const PRODUCER_DIED = 4;
/** A CPU word nobody wrote yet. */
const NO_CPU = -1;
/** The CPU this thread last waited on, as any channel end. */
let threadCpu = NO_CPU;
/**
 * The kernel's word for the CPU this thread runs on (its rseq area's cpu_id), read with a load; where there
 * is none (an older glibc, musl, a runtime that cannot lend the memory), each wait asks sched_getcpu().
 */
const cpuIdArea = native.cpuIdArea();
const cpuIdWord = cpuIdArea === undefined ? null : new Int32Array(cpuIdArea, 4, 1);
function currentCpu(): number {
  return cpuIdWord === null ? native.currentCpu() : cpuIdWord[0]!;
}
/**
 * What a side tells its peer with each message it sends or takes: the CPU it runs on, where that costs a
 * load (a peer that never waits, such as a producer that keeps up, is known to share the CPU too); else
 * the CPU it last waited on, which in a request/reply pair is as good (each side waits on one channel and
 * sends on the other).
 */
export function cpuToTell(): number {
  return cpuIdWord === null ? threadCpu : cpuIdWord[0]!;
}
/** The CPU this thread runs on as it begins a wait, noted as the one it last waited on (told above). */
export function waitingCpu(): number {
  const here = currentCpu();
  threadCpu = here;
  return here;
}
const INT32_MAX = 2 ** 31 - 1;
/** What #place() says when a record does not fit: no index (an int32, which can be negative) is this. */
const NO_ROOM = 0.5;
/** The longest poll an end may ask for: one second. */
const MAX_POLL_US = 1_000_000;

/** What #wait()'s sleep returns when there was no need to sleep after all. */
const MOVED = Symbol('moved');
/** What send() returns when the message went out at once: a settled promise, shared (nothing changes one). */
const SENT: Promise<void> = Promise.resolve();
/** Up to this many bytes a receive copies with a byte loop, which beats a native copy only that short. */
const BYTE_LOOP_MAX = 16;
/** The same for a send (copyInto()). */
const SEND_BYTE_LOOP_MAX = 8;
const DEFAULT_SPIN = spinDefault();
const DEFAULT_POLL_US = pollDefault();
/** How often a waiting side checks that its peer still lives. */
const LIVENESS_INTERVAL_MS = 100;

// UNIPC_CHANNEL_SPIN overrides the default reads a waiting side makes before it sleeps (for measuring).
function spinDefault(): number {
  const value = Number(process.env.UNIPC_CHANNEL_SPIN);
  return Number.isInteger(value) && value >= 0 && value <= 1e8 ? value : 1000;
}

// UNIPC_CHANNEL_POLL_US overrides how long a waiting Promise-form call polls before it sleeps (for measuring).
function pollDefault(): number {
  const value = Number(process.env.UNIPC_CHANNEL_POLL_US);
  return Number.isInteger(value) && value >= 0 && value <= MAX_POLL_US ? value : 50;
}

/**
 * @internal How a lent view is kept in this thread, so that release() can always cut it off:
 * - 'node': it is an external ArrayBuffer made through Node-API, which Node marks untransferable itself;
 * - 'mark': made through V8 (native.v8Views), and marked with markAsUntransferable() (up to Node 22);
 * - 'key': made through V8 with a detach key of the addon's own, where markAsUntransferable() would set
 *   a detach key nobody can detach with (from Node 24 on): asked of a buffer marked for the question.
 */
export const LENT_VIEW_GUARD: 'node' | 'mark' | 'key' = !native.v8Views
  ? 'node'
  : native.tryDetach(markedBuffer())
    ? 'mark'
    : 'key';

function markedBuffer(): ArrayBuffer {
  const buffer = new ArrayBuffer(1);
  markAsUntransferable(buffer);
  return buffer;
}

/** How Channel.create() makes a channel, and the options of the end it returns (EndOptions). */
export interface ChannelOptions extends EndOptions {
  /** A POSIX shared memory name for other processes to open(); without one, a memfd (pass its `fd`). */
  name?: string;
  /** Bytes of the ring: a power of two from 4 KiB to 1 GiB. Default 1 MiB. */
  capacity?: number;
  /** The longest message, at most capacity / 2 − 8. Default capacity / 4. */
  maxMessageSize?: number;
  /**
   * Whether several producers may send at once (up to 32, in any processes and threads; they take turns
   * under a robust mutex in the header). Default false: one producer, which sends without any lock.
   */
  multipleProducers?: boolean;
  /**
   * With `name`: make this end the name's owner: close() — which `using` calls, and spawn() when it hands
   * the channel over — also unlinks the name, if it still names this channel. Default false.
   */
  removeOnDispose?: boolean;
}

/** The options of one end of a channel: Channel.create(), Channel.open(), Channel.fromFd(). */
export interface EndOptions {
  /**
   * How many times a waiting Sync call re-reads the other side's index before it sleeps (about 15 ns a
   * read): `Infinity` never sleeps (it spins until the timeout, checking every 100 ms that the peer
   * lives), 0 sleeps at once. Promise-form calls spin at most the default. Default 1000, or
   * UNIPC_CHANNEL_SPIN. A side whose peer last waited on the same CPU does not spin, which would only
   * keep the peer from running: unless `spin` is 0 it yields the CPU to the peer once (sched_yield(2)) and
   * looks again before it sleeps.
   */
  spin?: number;
  /**
   * How many microseconds a waiting Promise-form call keeps looking, a spin at a time between turns of
   * the event loop (which meanwhile runs everything else that is due), before it sleeps on a waiter
   * thread. A reply that comes within this time is taken without a thread or the event loop having to be
   * woken, which costs tens of microseconds on an idle CPU: keeping the loop busy for about that long is
   * what makes a Promise-form round trip about as fast as a Sync one. 0 sleeps after the spin. Default 50,
   * or UNIPC_CHANNEL_POLL_US; at most 1,000,000. Not done when the peer last waited on the same CPU.
   */
  poll?: number;
  /**
   * Claim the role now rather than with the first send or receive: 'EBUSY' at once if it is taken, and a
   * producer that ends up sending nothing still ends the stream for the consumer when it closes (a
   * channel ends once a producer has attached and none is left).
   */
  role?: Role;
  /**
   * With `role: 'producer'`: this producer continues the stream of one that died, as a restarted
   * process does (`unipc bridge`). Attaching clears the mark the death left, so that the consumer sees
   * the end as null when the producers close, not 'EPIPE'. Default false.
   */
  resume?: boolean;
}

/** @inline */
type Role = 'producer' | 'consumer';
const ROLES: readonly Role[] = ['producer', 'consumer'];

/** A message being written in place: reserve() made it, commit() sends it. */
interface Reservation {
  view: Uint8Array;
  /** Where its length word goes, in the ring; the data follows. */
  position: number;
  /** Bytes skipped at the end of the ring (a wrap word is written there), or 0. */
  skip: number;
  tail: number;
  size: number;
  guard: MutexGuard | null;
}

/** A message lent out by receiveView(), until release(). */
interface Loan {
  view: Uint8Array;
  next: number;
}

/** @internal For tests that act behind a channel's back: the mapping under its header and ring. */
export let channelInternals: (channel: Channel) => { mapping: Mapping };

/**
 * @internal Sends of a message made of 32-bit words and then bytes (a Service's frames: a header and a
 * payload), written into the ring as one record with no buffer assembled first. The caller has checked
 * the size (words × 4 + bytes ≤ maxMessageSize); it may reuse both once a call returns.
 */
export let framedSends: {
  trySend(channel: Channel, head: Int32Array, bytes: Uint8Array): boolean;
  sendSync(channel: Channel, head: Int32Array, bytes: Uint8Array, timeout: number | undefined): void;
  send(channel: Channel, head: Int32Array, bytes: Uint8Array, options: WaitOptions | undefined): Promise<void>;
};

/**
 * @internal Receives of framed messages (a Service's). `attempt(channel, head)` takes the next record if
 * one is there: its first `head.length` 32-bit words into `head` (zeros for a record shorter than them),
 * the bytes after them as a new Buffer; AGAIN when there is none now, null at the end. `consume()` and
 * `consumeSync()` run a caller's attempt made of it by the channel's waiting protocol (as receive() and
 * receiveSync() run theirs): what the caller makes of a message is done within the attempt, before a
 * later receive can write `head` again, and the caller's Promise resolves with that.
 */
export let framedReceives: {
  attempt(channel: Channel, head: Uint32Array): Buffer | null | typeof AGAIN;
  consumeSync<T>(channel: Channel, timeout: number | undefined, attempt: () => T | typeof AGAIN): T;
  consume<T>(
    channel: Channel,
    options: (WaitOptions & RefOptions) | undefined,
    attempt: () => T | typeof AGAIN,
  ): Promise<T>;
};

/**
 * One end of a shared-memory channel. A channel carries messages one way: producers send, one consumer
 * receives, in the same or different processes or threads. The first send of an object makes it a
 * producer, the first receive the consumer.
 *
 * The ring lives in a memfd (hand its `fd` over) or a POSIX shared memory object (open it by name); while
 * both sides are busy, messages pass without a system call. Layout and protocol: docs/channel.md.
 *
 * @example
 * ```ts
 * import { Channel, spawn } from 'unipc';
 *
 * using channel = Channel.create({ capacity: 1 << 20 }); // a memfd; { name: '/jobs' } for POSIX shm
 * // The consumer: `for await (const job of Channel.fromFd(3)) …` until the end.
 * spawn(process.execPath, ['consumer.js'], { stdio: 'inherit', fds: [channel.fd] });
 * await channel.send('job 1'); // waits while the ring is full
 * await channel.sendValue({ id: 2, at: new Date() }); // v8.serialize on top of bytes
 * channel.close(); // the consumer drains what was sent, then sees the end
 * ```
 *
 * @see memfd_create(2), shm_open(3), mmap(2), futex(2)
 */
export class Channel implements Disposable {
  static {
    channelInternals = (channel) => ({ mapping: channel.#header.mapping });
    framedSends = {
      trySend: (channel, head, bytes) => channel.#trySend(channel.#framed(head, bytes), head),
      sendSync: (channel, head, bytes, timeout) => channel.#sendSync(channel.#framed(head, bytes), head, timeout),
      send: (channel, head, bytes, options) => channel.#sendFramed(head, bytes, options),
    };
    framedReceives = {
      attempt: (channel, head) => channel.#attemptReceiveFramed(head),
      consumeSync: (channel, timeout, attempt) =>
        channel.#consumeSync(timeout === undefined ? undefined : { timeout }, attempt),
      consume: (channel, options, attempt) => channel.#consume(options, attempt),
    };
  }

  /** The descriptor of the shared memory, to hand to a child (spawn fds) or another process. */
  readonly fd: number;
  /** The POSIX shared memory name ('/name') of a channel made or opened by name; undefined otherwise. */
  readonly name: string | undefined;
  /** Bytes of the ring, a power of two: what Channel.create() was given. */
  readonly capacity: number;
  /** The longest message the channel takes, in bytes. */
  readonly maxMessageSize: number;
  /** Whether the channel takes several producers (ChannelOptions.multipleProducers). */
  readonly multipleProducers: boolean;
  readonly #owner: MemoryFile | SharedMemory;
  /** The header's words and the futex calls on them (kept private: the mapping is this end's to close). */
  readonly #header: FutexWords;
  /** #header.words, held directly: the send and receive loops read and write them at every message. */
  readonly #words: Int32Array;
  readonly #data: Uint8Array;
  readonly #dataWords: Int32Array;
  readonly #queue = new Queue();
  readonly #lock: Mutex | null;
  #spin: number;
  #pollMs: number;
  #role: Role | undefined;
  /** The producer slot this end holds, or -1. */
  #slot = -1;
  #closed = false;
  /** The head a failed write saw: a producer waits until it moves. */
  #fullAt = 0;
  #windows: object | undefined;
  #reservation: Reservation | undefined;
  #loan: Loan | undefined;
  #recordStart = 0;
  /** The head the producer last read (single producer), and the tail the consumer last read. */
  #knownHead = 0;
  #knownTail = 0;
  /**
   * This end's own index, as it last stored it: the consumer's head, and a single producer's tail (several
   * producers move tail in turn: they read it from the ring). Each is read for every message, and the
   * other side reads the same cache line all the while: a field here saves the ring's line a trip.
   */
  #head = 0;
  #tail = 0;
  #recordLength = 0;
  #recordNext = 0;
  /** receiveMany()'s scratch: the start and length of each record it takes (grown as needed, and kept). */
  #found: Int32Array = new Int32Array(64);
  /** The waiting word a Promise-form call of this end has added 1 to while it sleeps, or -1. */
  #announced = -1;

  private constructor(
    owner: MemoryFile | SharedMemory,
    mapping: Mapping,
    name: string | undefined,
    end: { spin: number; poll: number },
  ) {
    this.#header = new FutexWords(mapping, 0, HEADER_BYTES);
    this.#words = this.#header.words;
    this.#owner = owner;
    this.fd = owner.fd;
    handOverBySpawn(this); // spawn(…, { fds: [channel] }) closes it here, as every unipc object given
    this.name = name;
    this.#spin = end.spin;
    this.#pollMs = end.poll / 1000;
    const words = this.#words;
    if (Atomics.load(words, W.magic) !== MAGIC) {
      throw new IpcError(E.EPROTO, 'mmap', {}, 'not a unipc channel (no magic number at its start)');
    }
    if (words[W.version] !== VERSION) {
      throw new IpcError(
        E.EPROTO,
        'mmap',
        {},
        `a channel of layout version ${words[W.version]}; this unipc speaks ${VERSION}`,
      );
    }
    this.capacity = words[W.capacity]!;
    this.maxMessageSize = words[W.maxMessageSize]!;
    // Another process wrote the header: numbers create() would never write are a damaged channel, not
    // arguments to compute offsets from.
    if (
      !isCapacity(this.capacity) ||
      !(this.maxMessageSize >= 1 && this.maxMessageSize <= longestMessage(this.capacity)) ||
      words[W.dataOffset] !== HEADER_BYTES
    ) {
      throw new IpcError(
        E.EPROTO,
        'mmap',
        {},
        'a damaged channel header (capacity, maxMessageSize or data offset out of range)',
      );
    }
    if (mapping.length < HEADER_BYTES + this.capacity) {
      throw new IpcError(E.EPROTO, 'mmap', {}, `the channel's memory is shorter than its capacity (${this.capacity})`);
    }
    this.multipleProducers = (words[W.flags]! & MULTI_PRODUCER) !== 0;
    this.#lock = this.multipleProducers ? new Mutex(mapping, W.producerLock * 4) : null;
    this.#data = new Uint8Array(mapping.buffer, HEADER_BYTES, this.capacity);
    this.#dataWords = new Int32Array(mapping.buffer, HEADER_BYTES, this.capacity / 4);
  }

  /**
   * Makes a channel in a memfd, or in POSIX shared memory under `name` (created exclusively, mode 0o600).
   *
   * @throws {@link IpcError} 'EEXIST' (a shared memory object has that `name`), 'EMFILE'/'ENFILE'
   *   (descriptor limits), 'ENOMEM' (no address space left), other errnos of memfd_create(2) or
   *   shm_open(3), ftruncate(2), mmap(2); argument errors.
   */
  static create(options?: ChannelOptions): Channel {
    const {
      name,
      capacity = 1 << 20,
      maxMessageSize,
      multipleProducers = false,
      spin,
      poll,
      role,
      removeOnDispose = false,
    } = validateOptions(options);
    if (name !== undefined) toIpcName(name, 'options.name');
    validateBoolean(removeOnDispose, 'options.removeOnDispose');
    if (removeOnDispose && name === undefined) {
      throw invalidArgValue('options.removeOnDispose', removeOnDispose, 'needs a name (a memfd channel has none)');
    }
    validateInteger(capacity, 'options.capacity', MIN_CAPACITY, MAX_CAPACITY);
    if ((capacity & (capacity - 1)) !== 0)
      throw invalidArgValue('options.capacity', capacity, 'must be a power of two');
    const longest = maxMessageSize === undefined ? capacity / 4 : maxMessageSize;
    validateInteger(longest, 'options.maxMessageSize', 1, longestMessage(capacity));
    validateBoolean(multipleProducers, 'options.multipleProducers');
    const end = { spin: spinOption(spin), poll: pollOption(poll) };
    if (role !== undefined) validateOneOf(role, 'options.role', ROLES);
    const size = HEADER_BYTES + capacity;
    const owner =
      name === undefined
        ? MemoryFile.create('unipc-channel', { size })
        : SharedMemory.open(name, { create: true, exclusive: true, size, removeOnDispose });
    let mapping: Mapping | undefined;
    try {
      mapping = owner.map();
      const words = new Int32Array(mapping.buffer, 0, HEADER_BYTES / 4);
      words[W.version] = VERSION;
      words[W.capacity] = capacity;
      words[W.maxMessageSize] = longest;
      words[W.dataOffset] = HEADER_BYTES;
      words[W.flags] = multipleProducers ? MULTI_PRODUCER : 0;
      words[W.consumerCpu] = NO_CPU;
      words[W.producerCpu] = NO_CPU;
      Atomics.store(words, W.magic, MAGIC); // last: an opener never sees half a header
      const channel = new Channel(owner, mapping, owner instanceof SharedMemory ? owner.name : undefined, end);
      if (role !== undefined) channel.#claim(role);
      return channel;
    } catch (error) {
      mapping?.close();
      const unlinked = owner instanceof SharedMemory && owner.removeOnDispose; // by its close()
      owner.close();
      if (owner instanceof SharedMemory && !unlinked) SharedMemory.unlink(owner.name);
      throw error;
    }
  }

  /**
   * The channel another process created under `name`.
   *
   * @throws {@link IpcError} 'ENOENT' (no such name), 'EACCES' (this user may not open it for reading and
   *   writing), 'EPROTO' (no unipc channel, one of another layout version, or a damaged header), other
   *   errnos of shm_open(3), mmap(2); argument errors.
   */
  static open(name: string, options?: EndOptions): Channel {
    const end = endOptions(options); // before the kernel sees anything
    const owner = SharedMemory.open(name);
    return Channel.#attach(owner, owner.name, end);
  }

  /**
   * The channel behind a descriptor handed over by spawn, fd passing, or inheritance: a memfd, or a named
   * channel's POSIX shared memory object (`channel.fd` either way). The Channel owns the descriptor from
   * then on, and closes it if the memory turns out to be no channel.
   *
   * @throws {@link IpcError} 'EBADF' (`fd` is not open), 'EPROTO' (no unipc channel, one of another layout
   *   version, or a damaged header), other errnos of mmap(2); argument errors (ERR_INVALID_ARG_VALUE also
   *   for a descriptor of anything else, which stays the caller's).
   */
  static fromFd(fd: number, options?: EndOptions): Channel {
    validateFd(fd);
    const end = endOptions(options);
    return Channel.#attach(adoptChannelMemory(fd), undefined, end);
  }

  static #attach(owner: MemoryFile | SharedMemory, name: string | undefined, end: CheckedEnd): Channel {
    let mapping: Mapping | undefined;
    try {
      // Mapping memory shorter than the header would fail for reasons about map() options the caller never gave.
      if (owner.size < HEADER_BYTES) {
        throw new IpcError(E.EPROTO, 'mmap', {}, `not a unipc channel (${owner.size} bytes, less than its header)`);
      }
      mapping = owner.map();
      const channel = new Channel(owner, mapping, name, end);
      mapping = undefined; // the channel's now: closing it closes both
      try {
        if (end.role !== undefined) channel.#claim(end.role, end.resume);
        // After the slot is taken: a consumer that looks in between still sees the death, not an end.
        if (end.resume) Atomics.and(channel.#words, W.state, ~PRODUCER_DIED);
      } catch (error) {
        channel.close();
        throw error;
      }
      return channel;
    } catch (error) {
      mapping?.close();
      owner.close();
      throw error;
    }
  }

  /**
   * Removes a named channel's name (processes that have it open keep using it).
   *
   * @throws {@link IpcError} 'ENOENT' (no such name), 'EACCES' (another user's); argument errors.
   */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  /** Whether this end is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether close() also unlinks the channel's name (ChannelOptions.removeOnDispose). */
  get removeOnDispose(): boolean {
    return this.#owner instanceof SharedMemory && this.#owner.removeOnDispose;
  }

  /**
   * How many producers are attached now (a producer that died counts until the consumer notices).
   *
   * @throws {@link IpcError} 'EBADF' (closed).
   */
  get producers(): number {
    this.#header.ensureOpen('producers');
    let mask = Atomics.load(this.#words, W.producerMask);
    let count = 0;
    for (; mask !== 0; mask &= mask - 1) count++;
    return count;
  }

  /**
   * The ring's read index: bytes consumed so far, modulo 2^32 (the `head` word of docs/channel.md). It
   * moves when a message is received, or when a viewed one is released. A consumer that must recognise,
   * after a restart, a message it had viewed but not released (the NATS bridge's journal) compares it.
   *
   * @throws {@link IpcError} 'EBADF' (closed).
   */
  get readIndex(): number {
    this.#header.ensureOpen('readIndex');
    return Atomics.load(this.#words, W.head) >>> 0;
  }

  /**
   * The ring's write index: bytes sent so far, modulo 2^32 (the `tail` word). A producer that was the
   * only one can tell after a restart whether a send it began completed: the index moved.
   *
   * @throws {@link IpcError} 'EBADF' (closed).
   */
  get writeIndex(): number {
    this.#header.ensureOpen('writeIndex');
    return Atomics.load(this.#words, W.tail) >>> 0;
  }

  /** The reads a waiting Sync call makes before it sleeps (EndOptions.spin); settable. */
  get spin(): number {
    return this.#spin;
  }

  /**
   * Changes the reads a waiting Sync call makes before it sleeps: a whole number, or Infinity.
   *
   * @throws argument errors.
   */
  set spin(value: number) {
    this.#spin = spinOption(value);
  }

  /** The microseconds a waiting Promise-form call polls before it sleeps (EndOptions.poll); settable. */
  get poll(): number {
    return this.#pollMs * 1000;
  }

  /**
   * Changes the microseconds a waiting Promise-form call polls before it sleeps: 0 to 1,000,000.
   *
   * @throws argument errors.
   */
  set poll(value: number) {
    this.#pollMs = pollOption(value) / 1000;
  }

  // ---- Sending ------------------------------------------------------------------------------------

  /**
   * Sends a message if there is room now: true, or false when the ring is full (or another producer is
   * writing).
   *
   * @throws {@link IpcError} 'EPIPE' (the consumer closed), 'EBUSY' (another end is the producer; 32 are,
   *   on a `multipleProducers` channel), 'EBADF' (closed); ERR_INVALID_STATE (this end is the consumer, or
   *   a reservation is pending); argument errors (ERR_OUT_OF_RANGE also for data longer than
   *   maxMessageSize).
   */
  trySend(data: string | ArrayBufferView | ArrayBuffer): boolean {
    return this.#trySend(this.#message(data), undefined);
  }

  // trySend() of `bytes`, after `head` (header words, for framedSends) when given.
  #trySend(bytes: Uint8Array, head: Int32Array | undefined): boolean {
    this.#claim('producer');
    return this.#attemptSend(bytes, null, head) !== AGAIN;
  }

  /**
   * Sends a message, blocking the calling thread while the ring is full (backpressure).
   *
   * @throws {@link IpcError} 'EPIPE' (the consumer closed, or died while this end waited), 'EBUSY' (another
   *   end is the producer; 32 are, on a `multipleProducers` channel), 'EBADF' (closed), 'ETIMEDOUT'
   *   (`timeout`); ERR_INVALID_STATE (this end is the consumer, or a reservation is pending); argument
   *   errors (ERR_OUT_OF_RANGE also for data longer than maxMessageSize).
   */
  sendSync(data: string | ArrayBufferView | ArrayBuffer, options?: SyncWaitOptions): void {
    const bytes = this.#message(data);
    const { timeout } = syncWaitOptions(options);
    this.#sendSync(bytes, undefined, timeout);
  }

  #sendSync(bytes: Uint8Array, head: Int32Array | undefined, timeout: number | undefined): void {
    this.#claim('producer');
    this.#assertNothingReserved('send');
    if (this.#attemptSend(bytes, null, head) !== AGAIN) return;
    this.#waitSync('producer', timeout, (guard) => this.#attemptSend(bytes, guard, head));
  }

  /**
   * Sends a message, waiting (on a waiter thread, never blocking the event loop) while the ring is full.
   *
   * @throws {@link IpcError} 'EPIPE' (the consumer closed, or died while this end waited), 'EBUSY' (another
   *   end is the producer; 32 are, on a `multipleProducers` channel), 'EBADF' (closed, also while waiting),
   *   'ETIMEDOUT' (`timeout`); {@link AbortError} (`signal`); ERR_INVALID_STATE (this end is the consumer,
   *   or a reservation is pending); argument errors (ERR_OUT_OF_RANGE also for data longer than
   *   maxMessageSize).
   */
  // Not an async function: a send that finds room returns a promise that is already settled, made once
  // (an async function made a promise and its frame per call: 240 B of a Promise round trip's ~1.2 KB).
  send(data: string | ArrayBufferView | ArrayBuffer, options?: WaitOptions & RefOptions): Promise<void> {
    let checked: WaitOptions & RefOptions;
    let bytes: Uint8Array;
    try {
      checked = waitOptions(options);
      if (checked.signal?.aborted) throw abortedError(checked.signal);
      bytes = this.#message(data);
      this.#claim('producer');
      if (!this.#queue.turnstile.busy && this.#attemptSend(bytes, null) !== AGAIN) return SENT;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#sendLater(bytes, undefined, checked);
  }

  // send() of a framed message (framedSends): `bytes` after the words of `head`.
  async #sendFramed(head: Int32Array, bytes: Uint8Array, options: WaitOptions | undefined): Promise<void> {
    this.#framed(head, bytes);
    const checked = waitOptions(options);
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    this.#claim('producer');
    if (!this.#queue.turnstile.busy && this.#attemptSend(bytes, null, head) !== AGAIN) return;
    await this.#sendLater(bytes, head, checked);
  }

  // A send that waits for its turn or for room: with copies of what the caller's memory held at the call,
  // which it may change (or reuse) once the call returns.
  #sendLater(bytes: Uint8Array, head: Int32Array | undefined, checked: WaitOptions & RefOptions): Promise<void> {
    const message = new Uint8Array(bytes);
    const words = head?.slice();
    return this.#wait('producer', checked, (guard) => this.#attemptSend(message, guard, words));
  }

  /**
   * Sends as many of `messages` as there is room for now, in order, made visible to the consumer together
   * (one store, at most one wake-up for all of them): how many were sent, from the first.
   *
   * @throws what trySend() throws; ERR_INVALID_ARG_TYPE (`messages` is not an array), and the argument
   *   errors of trySend() for any message, before any is sent.
   */
  trySendMany(messages: readonly (string | ArrayBufferView | ArrayBuffer)[]): number {
    const batch = this.#batch(messages);
    this.#claim('producer');
    this.#attemptSendMany(batch, null);
    return batch.sent;
  }

  /**
   * Sends all of `messages`, in order, blocking the calling thread while the ring is full; those that fit
   * are made visible to the consumer together. Should it fail partway (a timeout, the consumer gone), the
   * error's `sent` property says how many went out, from the first; the rest were not sent.
   *
   * @throws what sendSync() throws, with `sent`; the argument errors of trySendMany(), before any is sent.
   */
  sendManySync(messages: readonly (string | ArrayBufferView | ArrayBuffer)[], options?: SyncWaitOptions): void {
    const batch = this.#batch(messages);
    const { timeout } = syncWaitOptions(options);
    try {
      this.#claim('producer');
      this.#assertNothingReserved('send');
      this.#waitSync('producer', timeout, (guard) => this.#attemptSendMany(batch, guard));
    } catch (error) {
      throw withSent(error, batch.sent);
    }
  }

  /**
   * Sends all of `messages`, in order, waiting without blocking the event loop while the ring is full;
   * what fits is made visible together, and nothing this end sends later comes between them. Should it
   * fail partway (abort, timeout, the consumer gone), the error's `sent` property says how many went out,
   * from the first; the rest were not sent.
   *
   * @throws what send() rejects with, with `sent`; the argument errors of trySendMany(), before any is sent.
   */
  async sendMany(
    messages: readonly (string | ArrayBufferView | ArrayBuffer)[],
    options?: WaitOptions & RefOptions,
  ): Promise<void> {
    const checked = waitOptions(options);
    if (checked.signal?.aborted) throw withSent(abortedError(checked.signal), 0);
    const batch = this.#batch(messages);
    try {
      this.#claim('producer');
      if (!this.#queue.turnstile.busy && this.#attemptSendMany(batch, null) !== AGAIN) return;
      // What the messages not sent yet held at the call.
      for (let i = batch.sent; i < batch.messages.length; i++) batch.messages[i] = new Uint8Array(batch.messages[i]!);
      await this.#wait('producer', checked, (guard) => this.#attemptSendMany(batch, guard));
    } catch (error) {
      throw withSent(error, batch.sent);
    }
  }

  /**
   * Reserves room for a message of up to `size` bytes and lends it out to be written in place: a view
   * into the ring, or null when there is no room now. commit() sends it; until then this end sends
   * nothing else (and, on a multi-producer channel, holds the producers' lock).
   *
   * @throws {@link IpcError} 'EPIPE' (the consumer closed), 'EBUSY' (another end is the producer; 32 are,
   *   on a `multipleProducers` channel), 'EBADF' (closed); ERR_INVALID_STATE (this end is the consumer, or
   *   a reservation is pending); argument errors (ERR_OUT_OF_RANGE also for a `size` above maxMessageSize).
   */
  tryReserve(size: number): Uint8Array | null {
    this.#checkReserve(size);
    const reservation = this.#attemptReserve(size, null);
    return reservation === AGAIN ? null : reservation;
  }

  /**
   * reserve() blocking the calling thread while the ring is full.
   *
   * @throws {@link IpcError} 'EPIPE' (the consumer closed, or died while this end waited), 'EBUSY' (another
   *   end is the producer; 32 are, on a `multipleProducers` channel), 'EBADF' (closed), 'ETIMEDOUT'
   *   (`timeout`); ERR_INVALID_STATE (this end is the consumer, or a reservation is pending); argument
   *   errors (ERR_OUT_OF_RANGE also for a `size` above maxMessageSize).
   */
  reserveSync(size: number, options?: SyncWaitOptions): Uint8Array {
    this.#checkReserve(size);
    const { timeout } = syncWaitOptions(options);
    if (this.#lock === null) {
      const now = this.#attemptReserve(size, null);
      if (now !== AGAIN) return now;
    }
    return this.#waitSync('producer', timeout, (guard) => this.#attemptReserve(size, guard), true);
  }

  /**
   * Reserves room for a message of up to `size` bytes, waiting while the ring is full; see tryReserve().
   *
   * @throws {@link IpcError} 'EPIPE' (the consumer closed, or died while this end waited), 'EBUSY' (another
   *   end is the producer; 32 are, on a `multipleProducers` channel), 'EBADF' (closed, also while waiting),
   *   'ETIMEDOUT' (`timeout`); {@link AbortError} (`signal`); ERR_INVALID_STATE (this end is the consumer,
   *   or a reservation is pending); argument errors (ERR_OUT_OF_RANGE also for a `size` above
   *   maxMessageSize).
   */
  async reserve(size: number, options?: WaitOptions & RefOptions): Promise<Uint8Array> {
    const checked = waitOptions(options);
    if (checked.signal?.aborted) throw abortedError(checked.signal);
    this.#checkReserve(size);
    if (!this.#queue.turnstile.busy) {
      const now = this.#attemptReserve(size, null);
      if (now !== AGAIN) return now;
    }
    return this.#wait('producer', checked, (guard) => this.#attemptReserve(size, guard), true);
  }

  /**
   * Sends the reserved message: its first `length` bytes (default: all it reserved). The view is cut off
   * from the ring (it reads as empty from now on).
   *
   * @throws ERR_INVALID_STATE (nothing is reserved); argument errors (ERR_OUT_OF_RANGE also for a `length`
   *   above the size reserved).
   */
  commit(length?: number): void {
    const reservation = this.#reservation;
    if (reservation === undefined) throw invalidState('commit(): nothing is reserved (reserve() first)');
    const size = length ?? reservation.size;
    validateInteger(size, 'length', 0, reservation.size);
    this.#reservation = undefined;
    this.#cutOff(reservation.view);
    let position = reservation.position;
    if (reservation.skip > 0) {
      this.#dataWords[position >> 2] = WRAP;
      position = 0;
    }
    this.#dataWords[position >> 2] = size;
    this.#publish(advance(reservation.tail, reservation.skip + recordBytes(size)));
    reservation.guard?.unlock();
  }

  // ---- Receiving ----------------------------------------------------------------------------------

  /**
   * The next message (a copy), or null if there is none now — or none will come (the producers closed).
   *
   * @throws {@link IpcError} 'EPIPE' (a producer died without closing, once all it sent is received),
   *   'EBUSY' (the channel has another consumer), 'EPROTO' (a damaged record in the ring), 'EBADF'
   *   (closed); ERR_INVALID_STATE (this end is a producer, or a viewed message is still lent out).
   */
  tryReceive(): Buffer | null {
    this.#claim('consumer');
    const message = this.#attemptReceive();
    return message === AGAIN ? null : message;
  }

  /**
   * The next message, blocking the calling thread until one comes; null once every producer has closed
   * and every message sent is received.
   *
   * @throws {@link IpcError} 'EPIPE' (a producer died without closing, once all it sent is received),
   *   'EBUSY' (the channel has another consumer), 'EPROTO' (a damaged record in the ring), 'EBADF'
   *   (closed), 'ETIMEDOUT' (`timeout`); ERR_INVALID_STATE (this end is a producer, or a viewed message is
   *   still lent out); argument errors.
   */
  receiveSync(options?: SyncWaitOptions): Buffer | null {
    return this.#consumeSync(options, this.#receiveAttempt);
  }

  /**
   * The next message, waiting for one without blocking the event loop; null at the end (see receiveSync).
   *
   * @throws {@link IpcError} 'EPIPE' (a producer died without closing, once all it sent is received),
   *   'EBUSY' (the channel has another consumer), 'EPROTO' (a damaged record in the ring), 'EBADF' (closed,
   *   also while waiting), 'ETIMEDOUT' (`timeout`); {@link AbortError} (`signal`); ERR_INVALID_STATE (this
   *   end is a producer, or a viewed message is still lent out); argument errors.
   */
  receive(options?: WaitOptions & RefOptions): Promise<Buffer | null> {
    return this.#consume(options, this.#receiveAttempt);
  }

  /**
   * The next message without copying it: a view into the ring, lent until release(), after which it
   * reads as empty. Null if there is none now (or at the end). Nothing else is received meanwhile.
   *
   * @throws {@link IpcError} 'EPIPE' (a producer died without closing, once all it sent is received),
   *   'EBUSY' (the channel has another consumer), 'EPROTO' (a damaged record in the ring), 'EBADF'
   *   (closed); ERR_INVALID_STATE (this end is a producer, or a viewed message is still lent out).
   */
  tryReceiveView(): Uint8Array | null {
    this.#claim('consumer');
    const view = this.#attemptLoan();
    return view === AGAIN ? null : view;
  }

  /**
   * receiveView() blocking the calling thread until a message comes; null at the end.
   *
   * @throws {@link IpcError} 'EPIPE' (a producer died without closing, once all it sent is received),
   *   'EBUSY' (the channel has another consumer), 'EPROTO' (a damaged record in the ring), 'EBADF'
   *   (closed), 'ETIMEDOUT' (`timeout`); ERR_INVALID_STATE (this end is a producer, or a viewed message is
   *   still lent out); argument errors.
   */
  receiveViewSync(options?: SyncWaitOptions): Uint8Array | null {
    return this.#consumeSync(options, this.#loanAttempt);
  }

  /**
   * The next message as a view into the ring (see tryReceiveView()), waiting for one; null at the end.
   *
   * @throws {@link IpcError} 'EPIPE' (a producer died without closing, once all it sent is received),
   *   'EBUSY' (the channel has another consumer), 'EPROTO' (a damaged record in the ring), 'EBADF' (closed,
   *   also while waiting), 'ETIMEDOUT' (`timeout`); {@link AbortError} (`signal`); ERR_INVALID_STATE (this
   *   end is a producer, or a viewed message is still lent out); argument errors.
   */
  receiveView(options?: WaitOptions & RefOptions): Promise<Uint8Array | null> {
    return this.#consume(options, this.#loanAttempt);
  }

  /**
   * Up to `max` messages that are there now (copies, in order; an empty array when there are none), or
   * null at the end. Taking them together lets the producers move on once for all of them.
   *
   * @throws what tryReceive() throws; argument errors.
   */
  tryReceiveMany(max: number): Buffer[] | null {
    validateInteger(max, 'max', 1, INT32_MAX);
    this.#claim('consumer');
    const messages = this.#attemptReceiveMany(max);
    return messages === AGAIN ? [] : messages;
  }

  /**
   * Up to `max` messages, blocking the calling thread until at least one is there; null at the end.
   *
   * @throws what receiveSync() throws; argument errors.
   */
  receiveManySync(max: number, options?: SyncWaitOptions): Buffer[] | null {
    validateInteger(max, 'max', 1, INT32_MAX);
    return this.#consumeSync(options, () => this.#attemptReceiveMany(max));
  }

  /**
   * Up to `max` messages, waiting without blocking the event loop until at least one is there; null at
   * the end. One call (and one promise) for all that is there: the fast way through a busy channel.
   *
   * @throws what receive() rejects with; argument errors.
   */
  receiveMany(max: number, options?: WaitOptions & RefOptions): Promise<Buffer[] | null> {
    try {
      validateInteger(max, 'max', 1, INT32_MAX);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#consume(options, () => this.#attemptReceiveMany(max));
  }

  /**
   * Copies the next message into `buffer` (at `range.offset`, at most `range.length` bytes) if one is
   * there now: its length; null if there is none now, or at the end. Allocates nothing. A message longer
   * than the range stays in the channel.
   *
   * @throws {@link IpcError} 'EMSGSIZE' (the next message is longer than the range; it is not received);
   *   what tryReceive() throws; argument errors.
   */
  tryReceiveInto(buffer: ArrayBufferView, range?: TargetRange): number | null {
    const bytes = intoTarget(buffer, range);
    this.#claim('consumer');
    const length = this.#attemptReceiveInto(bytes);
    return length === AGAIN ? null : length;
  }

  /**
   * Copies the next message into `buffer` (`options.offset`, `options.length`), blocking the calling thread until one comes: its length; null
   * at the end. A loop of these allocates nothing.
   *
   * @throws {@link IpcError} 'EMSGSIZE' (the next message is longer than the range; it is not received);
   *   what receiveSync() throws; argument errors.
   */
  receiveIntoSync(buffer: ArrayBufferView, options?: SyncWaitOptions & TargetRange): number | null {
    this.#syncTarget = intoTarget(buffer, options);
    try {
      return this.#consumeSync(options, this.#receiveIntoAttempt);
    } finally {
      this.#syncTarget = undefined; // the caller's memory is not kept alive by this end
    }
  }

  /**
   * Copies the next message into `buffer` (`options.offset`, `options.length`), waiting for one without blocking the event loop: its length;
   * null at the end. The copy is made on the JavaScript thread when the promise settles.
   *
   * @throws {@link IpcError} 'EMSGSIZE' (the next message is longer than the range; it is not received);
   *   what receive() rejects with; argument errors.
   */
  receiveInto(buffer: ArrayBufferView, options?: WaitOptions & RefOptions & TargetRange): Promise<number | null> {
    let bytes: Uint8Array;
    try {
      bytes = intoTarget(buffer, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#consume(options, () => this.#attemptReceiveInto(bytes));
  }

  readonly #receiveAttempt = (): Buffer | null | typeof AGAIN => this.#attemptReceive();
  readonly #loanAttempt = (): Uint8Array | null | typeof AGAIN => this.#attemptLoan();
  // receiveIntoSync()'s target, for one attempt function made once rather than a closure per call (a Sync
  // call runs to its end before any other call on this thread can begin).
  #syncTarget: Uint8Array | undefined;
  readonly #receiveIntoAttempt = (): number | null | typeof AGAIN => this.#attemptReceiveInto(this.#syncTarget!);

  // A Sync receive (a copy or a view): at once when a message is there, else by the waiting protocol.
  #consumeSync<T>(options: SyncWaitOptions | undefined, attempt: () => T | typeof AGAIN): T {
    const { timeout } = syncWaitOptions(options);
    this.#claim('consumer');
    const now = attempt();
    if (now !== AGAIN) return now;
    return this.#waitSync('consumer', timeout, attempt);
  }

  // #consumeSync() as a Promise, queued behind this end's earlier Promise-form calls. Not an async
  // function: when it waits, the caller gets #wait()'s own promise (an async function returning it would
  // adopt it, ~150 ns more between the message and the caller, measured on Node 20).
  #consume<T>(options: (WaitOptions & RefOptions) | undefined, attempt: () => T | typeof AGAIN): Promise<T> {
    let checked: WaitOptions & RefOptions;
    try {
      checked = waitOptions(options);
      if (checked.signal?.aborted) throw abortedError(checked.signal);
      this.#claim('consumer');
      if (!this.#queue.turnstile.busy) {
        const now = attempt();
        if (now !== AGAIN) return Promise.resolve(now);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#wait('consumer', checked, attempt);
  }

  /** Gives the viewed message's room back to the producers and cuts the view off. Harmless without one. */
  release(): void {
    const loan = this.#loan;
    if (loan === undefined) return;
    this.#loan = undefined;
    this.#cutOff(loan.view);
    if (this.#header.mapping.closed) return;
    this.#advanceHead(loan.next);
  }

  // ---- Values and iteration -----------------------------------------------------------------------

  /**
   * Sends any value the structured clone algorithm can copy (v8.serialize: objects, Maps, typed arrays,
   * Dates, …) as one message; receiveValue() at the other end rebuilds it. A convenience on top of the
   * byte messages, which both ends must agree to use. Node and Deno write V8's format, Bun
   * JavaScriptCore's: values cross between Node and Deno processes, or between Bun processes, not
   * between Bun and the others (docs/runtimes.md).
   *
   * @throws what send() rejects with; v8.serialize()'s Error for a value it cannot clone.
   */
  async sendValue(value: unknown, options?: WaitOptions & RefOptions): Promise<void> {
    await this.send(v8.serialize(value), options);
  }

  /**
   * sendValue() blocking the calling thread while the ring is full.
   *
   * @throws what sendSync() throws; v8.serialize()'s Error for a value it cannot clone.
   */
  sendValueSync(value: unknown, options?: SyncWaitOptions): void {
    this.sendSync(v8.serialize(value), options);
  }

  /**
   * The next value sent with sendValue(); undefined at the end of the channel.
   *
   * @throws what receive() rejects with; v8.deserialize()'s Error for a message sendValue() did not make.
   */
  async receiveValue(options?: WaitOptions & RefOptions): Promise<unknown> {
    const bytes = await this.receive(options);
    return bytes === null ? undefined : v8.deserialize(bytes);
  }

  /**
   * receiveValue() blocking the calling thread.
   *
   * @throws what receiveSync() throws; v8.deserialize()'s Error for a message sendValue() did not make.
   */
  receiveValueSync(options?: SyncWaitOptions): unknown {
    const bytes = this.receiveSync(options);
    return bytes === null ? undefined : v8.deserialize(bytes);
  }

  /** Messages until every producer has closed (and all they sent is received). */
  [Symbol.asyncIterator](): AsyncGenerator<Buffer, undefined, undefined> {
    return receiving(() => this.receive());
  }

  /**
   * The messages in batches of up to `max` (receiveMany()), until the end: each batch is all that was
   * there, so a busy channel is drained with one promise per batch rather than per message. A loop that
   * stops early loses nothing: a batch is taken from the channel only when the loop asks for it.
   *
   * @throws what receiveMany() rejects with; argument errors (at the first step).
   */
  async *batches(max = 64): AsyncGenerator<Buffer[], void, undefined> {
    validateInteger(max, 'max', 1, INT32_MAX);
    for (let batch = await this.receiveMany(max); batch !== null; batch = await this.receiveMany(max)) yield batch;
  }

  /**
   * Closes this end. A producer's close lets the consumer drain what was sent and then, once no producer
   * is left, see the end; a consumer's close makes sends fail with 'EPIPE'. A reservation is dropped
   * unsent, a lent view cut off. Unmaps the memory; the end made with `removeOnDispose` also unlinks the
   * name, if it still names this channel. Twice is harmless.
   *
   * @throws {@link IpcError} 'ENOMEM' (rarely, as Mapping.close()); (an owner) errnos of shm_unlink(3).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const reservation = this.#reservation;
    this.#reservation = undefined;
    if (reservation) this.#cutOff(reservation.view);
    if (this.#loan) this.#cutOff(this.#loan.view);
    this.#loan = undefined;
    if (!this.#header.mapping.closed) {
      // A Promise-form call sleeping now ends with 'EBADF' once the mapping is gone: it must not be
      // counted as a sleeper forever (the peer would make a futex call for every message).
      if (this.#announced >= 0) Atomics.sub(this.#words, this.#announced, 1);
      this.#announced = -1;
      reservation?.guard?.unlock();
      if (this.#role === 'producer') this.#detachProducer();
      if (this.#role === 'consumer') {
        Atomics.or(this.#words, W.state, CONSUMER_CLOSED);
        this.#header.wake(W.head, INT32_MAX);
        this.#header.wake(W.state, INT32_MAX);
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

  #batch(messages: unknown): Batch {
    if (!Array.isArray(messages)) throw invalidArgType('messages', 'an Array', messages);
    const checked: Uint8Array[] = new Array(messages.length);
    for (let i = 0; i < messages.length; i++) checked[i] = this.#message(messages[i]);
    return { messages: checked, sent: 0 };
  }

  #message(data: unknown): Uint8Array {
    const bytes = data instanceof Uint8Array && data.length > 0 ? data : toBytes(data, 'data');
    if (bytes.length > this.maxMessageSize) {
      throw outOfRange('data.byteLength', `<= ${this.maxMessageSize} (the channel's maxMessageSize)`, bytes.length);
    }
    return bytes;
  }

  // The bytes of a framed message (framedSends), once its record is known to fit maxMessageSize.
  #framed(head: Int32Array, bytes: Uint8Array): Uint8Array {
    const size = head.length * 4 + bytes.length;
    if (size > this.maxMessageSize) {
      throw outOfRange('data.byteLength', `<= ${this.maxMessageSize} (the channel's maxMessageSize)`, size);
    }
    return bytes;
  }

  #checkReserve(size: unknown): void {
    validateInteger(size, 'size', 0, this.maxMessageSize);
    this.#claim('producer');
    this.#assertNothingReserved('reserve');
  }

  // Checked again when a waiting call's turn comes: a reservation made meanwhile owns the bytes at the
  // tail, which a send (or a second reservation) would otherwise write over, tail and all.
  #assertNothingReserved(method: 'send' | 'reserve'): void {
    if (this.#reservation !== undefined)
      throw invalidState(`${method}(): a reservation is pending (commit() it first)`);
  }

  // The first send or receive of an object makes it a producer or the consumer.
  // `resume`: this producer continues a dead one's stream, so taking its slot over records no death.
  #claim(role: Role, resume = false): void {
    if (this.#role === role && !this.#closed) return;
    this.#header.ensureOpen(role === 'producer' ? 'send' : 'receive');
    // A usage error, not a kernel's answer: no system call says EINVAL for it.
    if (this.#role !== undefined) {
      throw invalidState(`${role === 'producer' ? 'send' : 'receive'}(): this end is the channel's ${this.#role}`);
    }
    if (role === 'producer') this.#attachProducer(resume);
    else this.#attachConsumer();
    this.#role = role;
  }

  #attachConsumer(): void {
    const tid = threadId();
    this.#head = Atomics.load(this.#words, W.head);
    this.#knownTail = this.#head;
    const current = Atomics.load(this.#words, W.consumer);
    if (
      (current !== 0 && !threadGone(current)) ||
      Atomics.compareExchange(this.#words, W.consumer, current, tid) !== current
    ) {
      throw new IpcError(
        E.EBUSY,
        'receive',
        {},
        `the channel has a consumer already (thread ${current || Atomics.load(this.#words, W.consumer)}): one per channel`,
      );
    }
  }

  // Takes a free producer slot, or one whose thread is gone; sets its bit after the slot (so a set bit
  // always names a thread, live or dead) and clears it before the slot on close. Only the thread whose
  // id is in a slot changes the slot's bit (docs/channel.md, "Peer death"), so the bit this takes over
  // is the dead one's: still set, it died without closing, and unless `resume` this records the death
  // (the consumer can no longer, as the slot no longer names the dead thread).
  #attachProducer(resume: boolean): void {
    const tid = threadId();
    const slots = this.multipleProducers ? MAX_PRODUCERS : 1;
    for (const takeOver of [false, true]) {
      for (let slot = 0; slot < slots; slot++) {
        const current = Atomics.load(this.#words, W.producerSlots + slot);
        // The second pass also takes a slot freed since the first (by a close, or the consumer's reap).
        if (takeOver ? current !== 0 && !threadGone(current) : current !== 0) continue;
        if (Atomics.compareExchange(this.#words, W.producerSlots + slot, current, tid) !== current) continue;
        const bit = 1 << slot;
        const died = (Atomics.or(this.#words, W.producerMask, bit) & bit) !== 0 && current !== 0;
        Atomics.or(this.#words, W.state, PRODUCER_ATTACHED | (died && !resume ? PRODUCER_DIED : 0));
        this.#slot = slot;
        this.#knownHead = Atomics.load(this.#words, W.head);
        this.#tail = Atomics.load(this.#words, W.tail);
        return;
      }
    }
    throw new IpcError(
      E.EBUSY,
      'send',
      {},
      this.multipleProducers
        ? `the channel has ${MAX_PRODUCERS} producers already`
        : 'the channel has a producer already: one, unless created with multipleProducers',
    );
  }

  // Clears the bit before the slot: killed in between, it leaves a dead id in a slot whose bit is clear,
  // which reads as the close it was (the end, no death) and is taken over as such.
  #detachProducer(): void {
    Atomics.and(this.#words, W.producerMask, ~(1 << this.#slot));
    Atomics.compareExchange(this.#words, W.producerSlots + this.#slot, threadId(), 0);
    this.#header.wake(W.tail, 1);
    this.#header.wake(W.producerMask, 1);
  }

  // The consumer's check, after a quiet wait, for producers that died without closing. It first takes
  // the dead one's slot (compare and swap from the dead id to its own), so that it and a producer taking
  // the slot over never both act on the dead one: whoever wins the slot records the death if the bit is
  // still set (a bit found clear was a close killed before it freed its slot), then the bit is cleared
  // and the slot freed.
  #reapProducers(): void {
    const me = threadId();
    const mask = Atomics.load(this.#words, W.producerMask);
    for (let slot = 0; slot < MAX_PRODUCERS; slot++) {
      const bit = 1 << slot;
      if ((mask & bit) === 0) continue;
      const tid = Atomics.load(this.#words, W.producerSlots + slot);
      if (tid === 0 || !threadGone(tid)) continue;
      if (Atomics.compareExchange(this.#words, W.producerSlots + slot, tid, me) !== tid) continue;
      if (Atomics.load(this.#words, W.producerMask) & bit) Atomics.or(this.#words, W.state, PRODUCER_DIED);
      Atomics.and(this.#words, W.producerMask, ~bit);
      Atomics.compareExchange(this.#words, W.producerSlots + slot, me, 0);
    }
  }

  #assertConsumerAlive(): void {
    if (Atomics.load(this.#words, W.state) & CONSUMER_CLOSED) return;
    const tid = Atomics.load(this.#words, W.consumer);
    if (tid !== 0 && threadGone(tid)) {
      throw new IpcError(E.EPIPE, 'send', {}, `the consumer (thread ${tid}) died without closing the channel`);
    }
  }

  #assertReceiverThere(): void {
    if (Atomics.load(this.#words, W.state) & CONSUMER_CLOSED) {
      throw new IpcError(E.EPIPE, 'send', {}, 'the consumer closed the channel');
    }
  }

  // With the ring empty: whether no message will come any more (null), or a producer died ('EPIPE').
  // Read in the order of docs/channel.md ("End"); the death mark from a read of state after the last
  // one, as a producer opened with resume may have cleared it since the first (only a death sets it).
  #ended(): boolean {
    if ((Atomics.load(this.#words, W.state) & PRODUCER_ATTACHED) === 0) return false;
    if (Atomics.load(this.#words, W.producerMask) !== 0) return false;
    if (Atomics.load(this.#words, W.tail) !== this.#head) return false;
    if (Atomics.load(this.#words, W.state) & PRODUCER_DIED) {
      throw new IpcError(
        E.EPIPE,
        'receive',
        {},
        'a producer died without closing the channel (everything it sent was received)',
      );
    }
    return true;
  }

  #attemptSend(bytes: Uint8Array, guard: MutexGuard | null, head?: Int32Array): undefined | typeof AGAIN {
    this.#assertNothingReserved('send');
    this.#assertReceiverThere();
    if (this.#lock === null || guard !== null) return this.#write(bytes, head) ? undefined : AGAIN;
    return this.#underProducersLock(() => (this.#write(bytes, head) ? undefined : AGAIN));
  }

  // Writes what fits of `batch`, in order: AGAIN until all of it is sent (the ring is full meanwhile).
  #attemptSendMany(batch: Batch, guard: MutexGuard | null): undefined | typeof AGAIN {
    this.#assertNothingReserved('send');
    this.#assertReceiverThere();
    const write = () => {
      batch.sent += this.#writeMany(batch.messages, batch.sent);
      return batch.sent === batch.messages.length ? undefined : AGAIN;
    };
    return this.#lock === null || guard !== null ? write() : this.#underProducersLock(write);
  }

  // Runs `write` holding the producers' lock of a multi-producer channel; AGAIN if another holds it. (No
  // guard object: a send holds the lock for a few lines.)
  #underProducersLock<T>(write: () => T | typeof AGAIN): T | typeof AGAIN {
    const lock = this.#lock!;
    const taken = lock[kTryAcquire]();
    if (taken === undefined) return AGAIN;
    try {
      if (taken.ownerDied) lock[kMarkConsistent]();
      return write();
    } finally {
      lock[kRelease]();
    }
  }

  #attemptReserve(size: number, guard: MutexGuard | null): Uint8Array | typeof AGAIN {
    this.#assertNothingReserved('reserve');
    this.#assertReceiverThere();
    let held = guard;
    if (this.#lock !== null && held === null) {
      held = this.#lock.tryLock();
      if (held === null) return AGAIN;
      consistent(held);
    }
    const tail = this.#ownTail();
    const room = this.#room(tail, size);
    if (room < 0) {
      if (held !== guard) held?.unlock();
      return AGAIN;
    }
    const position = ringOffset(tail, this.capacity);
    const start = room > 0 ? 0 : position;
    const view = this.#window(HEADER_BYTES + start + 4, size);
    // A guard from the waiting loop stays held by the reservation: the loop must not unlock it.
    this.#reservation = { view, position, skip: room, tail, size, guard: held };
    return view;
  }

  // A view lent out until commit() or release() detach it. It must not move to a buffer that release()
  // cannot reach (structuredClone(), postMessage(), transfer()): see LENT_VIEW_GUARD.
  #window(offset: number, length: number): Uint8Array {
    this.#windows ??= this.#windowSource();
    const view = native.window(this.#windows, offset, length);
    if (LENT_VIEW_GUARD === 'mark') markAsUntransferable(view.buffer);
    return view;
  }

  #windowSource(): object {
    const source = native.windowSource(this.#header.region, LENT_VIEW_GUARD === 'key');
    if (typeof source === 'number') throw new IpcError(-source, 'mmap');
    return source;
  }

  // Cuts a lent view off: it reads as empty from now on.
  #cutOff(view: Uint8Array): void {
    native.detach(this.#windows!, view.buffer);
  }

  // Bytes to skip before a record of `size` bytes at `tail` (the rest of the ring when it would cross
  // the end), or -1 when there is no room for it now (remembering the head that said so).
  #room(tail: number, size: number): number {
    const need = recordBytes(size);
    const skip = skipBefore(tail, need, this.capacity);
    // A single producer re-reads head (the consumer's cache line) only when the head it saw last, which
    // can only have grown since, leaves too little room. (Other producers move tail too: they re-read.)
    if (this.#lock === null && fits(this.#knownHead, tail, skip + need, this.capacity)) return skip;
    const head = Atomics.load(this.#words, W.head);
    this.#knownHead = head;
    if (!fits(head, tail, skip + need, this.capacity)) {
      this.#fullAt = head;
      return -1;
    }
    return skip;
  }

  // Here and in #publish(), #advanceHead() and #next(), a field read more than once is read into a local:
  // V8 inlines these into the send and receive calls within a budget of bytecode, which each `this.#field`
  // read spends (the ring's functions take their share; over it, a check of every send stayed a call).
  #write(bytes: Uint8Array, head?: Int32Array): boolean {
    const next = this.#place(this.#ownTail(), bytes, head);
    if (next === NO_ROOM) return false;
    this.#publish(next);
    return true;
  }

  // Writes a record at `tail`, unpublished: the tail after it, or NO_ROOM when there is no room for it now.
  // `head`: 32-bit words the record starts with, before `bytes` (framedSends).
  #place(tail: number, bytes: Uint8Array, head?: Int32Array): number {
    const headBytes = head === undefined ? 0 : head.length * 4;
    const size = headBytes + bytes.length;
    const skip = this.#room(tail, size);
    if (skip < 0) return NO_ROOM;
    const dataWords = this.#dataWords;
    let position = ringOffset(tail, this.capacity);
    if (skip > 0) {
      dataWords[position >> 2] = WRAP;
      position = 0;
    }
    dataWords[position >> 2] = size;
    if (head !== undefined) for (let i = 0; i < head.length; i++) dataWords[(position >> 2) + 1 + i] = head[i]!;
    copyInto(this.#data, position + 4 + headBytes, bytes);
    return advance(tail, skip + recordBytes(size));
  }

  // Writes as many of `list` from `from` on as there is room for, and publishes them at once (one store
  // to tail, at most one wake): how many were written.
  #writeMany(list: readonly Uint8Array[], from: number): number {
    const capacity = this.capacity;
    const dataWords = this.#dataWords;
    const data = this.#data;
    let tail = this.#ownTail();
    // Other producers move tail too: one that reads head only when short of room could be a lap behind.
    if (this.#lock !== null) this.#knownHead = Atomics.load(this.#words, W.head);
    let i = from;
    while (i < list.length) {
      // The records that fit before the ring's end and in the room known are written without #place()'s
      // checks for each; the first that does not is left to it (it reads head again, or wraps).
      const position = ringOffset(tail, capacity);
      const room = Math.min(capacity - position, capacity - distance(this.#knownHead, tail));
      let written = 0;
      for (; i < list.length; i++) {
        const bytes = list[i]!;
        const need = recordBytes(bytes.length);
        if (written + need > room) break;
        dataWords[(position + written) >> 2] = bytes.length;
        data.set(bytes, position + written + 4);
        written += need;
      }
      tail = advance(tail, written);
      if (i === list.length) break;
      const next = this.#place(tail, list[i]!);
      if (next === NO_ROOM) break;
      tail = next;
      i++;
    }
    if (i > from) this.#publish(tail);
    return i - from;
  }

  #publish(tail: number): void {
    const words = this.#words;
    const cpu = cpuToTell();
    if (words[W.producerCpu] !== cpu) words[W.producerCpu] = cpu;
    Atomics.store(words, W.tail, tail);
    this.#tail = tail;
    if (Atomics.load(words, W.consumerWaiting) !== 0) this.#header.wake(W.tail, 1);
  }

  // Where the next record goes: the tail this end stored last, unless other producers may have moved it
  // since (this end holds the producers' lock then).
  #ownTail(): number {
    return this.#lock === null ? this.#tail : this.#words[W.tail]!;
  }

  #advanceHead(head: number): void {
    const words = this.#words;
    const cpu = cpuToTell();
    if (words[W.consumerCpu] !== cpu) words[W.consumerCpu] = cpu;
    Atomics.store(words, W.head, head);
    this.#head = head;
    this.#wakeProducers();
  }

  #wakeProducers(): void {
    if (Atomics.load(this.#words, W.producerWaiting) !== 0)
      this.#header.wake(W.head, this.#lock === null ? 1 : INT32_MAX);
  }

  // Finds the next record: true, with its bytes at #recordStart, #recordLength long, and the head after
  // it in #recordNext; or false when the ring is empty. (Fields, not an object: no garbage per message.)
  #next(first: number): boolean {
    const words = this.#words;
    // The producers' cache line is read only when the records known to be there are used up.
    if (first === this.#knownTail) {
      this.#knownTail = Atomics.load(words, W.tail);
      if (first === this.#knownTail) return false;
    }
    const tail = this.#knownTail;
    let head = first;
    let position = ringOffset(head, this.capacity);
    let length = this.#dataWords[position >> 2]!;
    if (length === WRAP) {
      head = nextLap(head, this.capacity);
      position = 0;
      length = this.#dataWords[0]!;
    }
    const next = advance(head, recordBytes(length));
    // A producer wrote the length: one outside what it may send, or a record running past what it
    // published, would have the consumer hand out stale bytes and lose its place in the ring.
    if (length < 0 || length > this.maxMessageSize || !endsWithin(first, next, tail)) {
      throw new IpcError(
        E.EPROTO,
        'receive',
        {},
        `a damaged record in the ring (length ${length >>> 0} at index ${head >>> 0})`,
      );
    }
    this.#recordStart = position + 4;
    this.#recordLength = length;
    this.#recordNext = next;
    return true;
  }

  #attemptReceive(): Buffer | null | typeof AGAIN {
    if (this.#loan !== undefined)
      throw invalidState('receive(): a viewed message is still lent out (release() it first)');
    if (!this.#next(this.#head)) return this.#ended() ? null : AGAIN;
    const message = this.#copyRecord(Buffer.allocUnsafe(this.#recordLength));
    this.#advanceHead(this.#recordNext);
    return message;
  }

  // framedReceives.attempt(): the next record's first words into `head`, a copy of the rest returned.
  #attemptReceiveFramed(head: Uint32Array): Buffer | null | typeof AGAIN {
    if (this.#loan !== undefined)
      throw invalidState('receive(): a viewed message is still lent out (release() it first)');
    if (!this.#next(this.#head)) return this.#ended() ? null : AGAIN;
    const headBytes = head.length * 4;
    let message: Buffer;
    if (this.#recordLength >= headBytes) {
      const dataWords = this.#dataWords;
      const first = this.#recordStart >> 2; // records start on a word
      for (let i = 0; i < head.length; i++) head[i] = dataWords[first + i]!;
      message = this.#copyRecord(Buffer.allocUnsafe(this.#recordLength - headBytes), headBytes);
    } else {
      head.fill(0);
      message = Buffer.allocUnsafe(0);
    }
    this.#advanceHead(this.#recordNext);
    return message;
  }

  // Copies the record #next() found, from its byte `from` on, to the start of `target`, which has room.
  #copyRecord<T extends Uint8Array>(target: T, from = 0): T {
    const start = this.#recordStart + from;
    const length = this.#recordLength - from;
    const data = this.#data;
    // Measured on Node 20 (bench/budget.ts): a byte loop is faster at 8 B, TypedArray.set() at 32 B and up.
    if (length <= BYTE_LOOP_MAX) for (let i = 0; i < length; i++) target[i] = data[start + i]!;
    else target.set(data.subarray(start, start + length));
    return target;
  }

  // Up to `max` messages that are there now, copied, with one store to head (and at most one wake) for
  // all of them; null at the end.
  #attemptReceiveMany(max: number): Buffer[] | null | typeof AGAIN {
    if (this.#loan !== undefined)
      throw invalidState('receiveMany(): a viewed message is still lent out (release() it first)');
    let head = this.#head;
    let found = this.#found;
    let count = 0;
    while (count < max && this.#next(head)) {
      if (2 * count === found.length) found = this.#found = growFound(found);
      found[2 * count] = this.#recordStart;
      found[2 * count + 1] = this.#recordLength;
      count++;
      head = this.#recordNext;
    }
    if (count === 0) return this.#ended() ? null : AGAIN;
    // Records that follow one another in the ring (all but across a wrap) are copied out with one copy
    // into one block, and handed out as Buffers over it.
    const messages: Buffer[] = new Array(count);
    const data = this.#data;
    for (let first = 0; first < count; ) {
      const runStart = found[2 * first]!;
      let runEnd = runStart + found[2 * first + 1]!;
      let after = first + 1;
      for (; after < count && found[2 * after] === ((runEnd + 3) & ~3) + 4; after++) {
        runEnd = found[2 * after]! + found[2 * after + 1]!;
      }
      const block = Buffer.allocUnsafe(runEnd - runStart);
      block.set(data.subarray(runStart, runEnd));
      const base = block.byteOffset - runStart;
      const buffer = block.buffer;
      for (let record = first; record < after; record++) {
        messages[record] = new BlockView(buffer, base + found[2 * record]!, found[2 * record + 1]!) as Buffer;
      }
      first = after;
    }
    this.#advanceHead(head);
    return messages;
  }

  // The next message copied into `target`: its length; null at the end. A message longer than `target`
  // stays in the channel.
  #attemptReceiveInto(target: Uint8Array): number | null | typeof AGAIN {
    if (this.#loan !== undefined)
      throw invalidState('receiveInto(): a viewed message is still lent out (release() it first)');
    if (!this.#next(this.#head)) return this.#ended() ? null : AGAIN;
    const length = this.#recordLength;
    if (length > target.length) {
      throw new IpcError(
        E.EMSGSIZE,
        'receive',
        {},
        `the next message is ${length} bytes, more than the ${target.length} of the buffer's range; it stays in the channel`,
      );
    }
    this.#copyRecord(target);
    this.#advanceHead(this.#recordNext);
    return length;
  }

  #attemptLoan(): Uint8Array | null | typeof AGAIN {
    if (this.#loan !== undefined)
      throw invalidState('receiveView(): a viewed message is still lent out (release() it first)');
    if (!this.#next(this.#head)) return this.#ended() ? null : AGAIN;
    const view = this.#window(HEADER_BYTES + this.#recordStart, this.#recordLength);
    this.#loan = { view, next: this.#recordNext };
    return view;
  }

  // The waiting protocol of docs/channel.md for one side, on the calling thread: attempt; while that
  // cannot proceed, spin on the other side's index, announce, sleep on it. After a sleep in which the
  // peer did nothing, check (once the next attempt has failed too) that it still lives. A producer of a
  // multi-producer channel makes each attempt under the producers' lock (and a reservation keeps it).
  #waitSync<T>(
    side: Role,
    timeout: number | undefined,
    attempt: (guard: MutexGuard | null) => T | typeof AGAIN,
    keepLock = false,
  ): T {
    const { index, ends, waiting, syscall } = SIDES[side];
    const deadline = timeout === undefined ? undefined : performance.now() + timeout;
    const lock = side === 'producer' ? this.#lock : null;
    let quiet = false;
    let nextCheck = 0;
    let yielded = false;
    for (;;) {
      const guard =
        lock === null
          ? null
          : lock.lockSync({ timeout: deadline === undefined ? undefined : Math.max(0, deadline - performance.now()) });
      let result: T | typeof AGAIN;
      try {
        if (guard !== null) consistent(guard);
        result = attempt(guard);
      } catch (error) {
        guard?.unlock();
        throw error;
      }
      if (result !== AGAIN) {
        if (!keepLock) guard?.unlock();
        return result;
      }
      guard?.unlock();
      if (quiet) this.#checkPeer(side);
      const value = this.#spinWhile(side, this.#spin);
      if (value === undefined) continue;
      if (!yielded && this.#spin !== 0 && this.#yieldedToPeer(side)) {
        yielded = true;
        continue;
      }
      yielded = false;
      if (this.#spin === Infinity) {
        const now = performance.now();
        if (deadline !== undefined && now >= deadline) throw timeoutError(syscall, timeout!);
        if (nextCheck === 0) nextCheck = now + LIVENESS_INTERVAL_MS;
        quiet = now >= nextCheck;
        if (quiet) nextCheck = now + LIVENESS_INTERVAL_MS;
        continue;
      }
      let slept: SleepResult;
      Atomics.add(this.#words, waiting, 1);
      try {
        const other = { index: ends, expected: Atomics.load(this.#words, ends) }; // read before the last look
        if (this.#moved(side, value)) continue;
        if (deadline !== undefined && performance.now() >= deadline) throw timeoutError(syscall, timeout!);
        slept = this.#header.sleepSync(index, value, remaining(deadline, LIVENESS_INTERVAL_MS), undefined, other);
      } finally {
        Atomics.sub(this.#words, waiting, 1);
      }
      quiet = slept === 'timedout';
    }
  }

  // #waitSync() as a Promise: sleeps on a waiter thread, after this object's earlier Promise-form calls.
  async #wait<T>(
    side: Role,
    options: WaitOptions & RefOptions,
    attempt: (guard: MutexGuard | null) => T | typeof AGAIN,
    keepLock = false,
  ): Promise<T> {
    // What runs for every wait is here; what only some do (taking the producers' lock, sleeping) is in
    // methods of their own: an async function's frame is as large as all of its code needs, made anew
    // for each call (38 registers here before they moved out: ~400 B of a Promise round trip's ~950).
    const { syscall } = SIDES[side];
    const allowance = budget(options);
    const lock = side === 'producer' ? this.#lock : null;
    this.#queue.join(options.ref);
    try {
      // Always a turn of the microtask queue first: the caller's own code goes on before this side spins.
      await this.#queue.turnstile.enter(allowance, syscall);
      try {
        let quiet = false;
        let pollUntil = -1;
        let yielded = false;
        for (;;) {
          this.#header.ensureOpen(syscall);
          const guard = lock === null ? null : await this.#lockProducers(lock, allowance, options.ref);
          const result = this.#attemptHolding(guard, attempt, syscall);
          if (result !== AGAIN) {
            if (!keepLock) guard?.unlock();
            return result;
          }
          guard?.unlock();
          if (quiet) this.#checkPeer(side);
          const value = this.#spinWhile(side, Math.min(this.#spin, DEFAULT_SPIN));
          if (value === undefined) continue;
          const now = performance.now();
          if (allowance.deadline !== undefined && now >= allowance.deadline) {
            throw timeoutError(syscall, allowance.timeout!);
          }
          if (pollUntil < 0) pollUntil = now + this.#pollMs;
          // Polling turns the event loop with setImmediate(), which an unref'd wait must not keep alive:
          // and an unref'd immediate does not wake a loop that blocks for other handles, so such a wait
          // could stall for as long as they keep it waiting. It sleeps on a waiter thread at once instead.
          // On the peer's CPU, polling alone would wait for nothing: this side yields the CPU and looks
          // again at once, then turns the event loop (from 64 to 19 µs a round trip on one CPU).
          if (now < pollUntil && this.#queue.keepAlive) {
            if (!yielded && this.#yieldedToPeer(side)) {
              yielded = true;
              continue;
            }
            yielded = false;
            await nextTurn(this.#queue.keepAlive);
            if (allowance.signal?.aborted) throw abortedError(allowance.signal);
            continue;
          }
          const slept = await this.#sleep(side, value, allowance);
          if (slept !== MOVED) quiet = slept === 'timedout';
        }
      } finally {
        this.#queue.turnstile.leave();
      }
    } finally {
      this.#queue.leave(options.ref);
    }
  }

  // #wait()'s turn of the producers' lock of a multi-producer channel, within what is left of its time.
  #lockProducers(lock: Mutex, allowance: Budget, ref: boolean | undefined): Promise<MutexGuard> {
    const left = allowance.deadline === undefined ? undefined : Math.max(0, allowance.deadline - performance.now());
    return lock.lock({ signal: allowance.signal, timeout: left, ref });
  }

  // One attempt of #wait(), holding `guard` (the producers' lock) if given, which it lets go if it throws.
  #attemptHolding<T>(
    guard: MutexGuard | null,
    attempt: (guard: MutexGuard | null) => T | typeof AGAIN,
    syscall: string,
  ): T | typeof AGAIN {
    try {
      if (guard !== null) consistent(guard);
      this.#header.ensureOpen(syscall);
      return attempt(guard);
    } catch (error) {
      if (guard !== null && !this.#header.mapping.closed) guard.unlock();
      throw error;
    }
  }

  // #wait()'s sleep on the other side's index while it still holds `value`, announced in this side's
  // waiting count: how it ended, or MOVED when the index (or the channel's end) moved before it began.
  async #sleep(side: Role, value: number, allowance: Budget): Promise<SleepResult | typeof MOVED> {
    const { index, ends, waiting } = SIDES[side];
    Atomics.add(this.#words, waiting, 1);
    this.#announced = waiting;
    try {
      const other = { index: ends, expected: Atomics.load(this.#words, ends) }; // read before the last look
      if (this.#moved(side, value)) return MOVED;
      const slice = remaining(allowance.deadline, LIVENESS_INTERVAL_MS);
      return await this.#header.sleep(index, value, slice, { signal: allowance.signal, queue: this.#queue, other });
    } finally {
      // close() takes the 1 back itself, while the memory is still mapped.
      if (this.#announced >= 0 && !this.#header.mapping.closed) Atomics.sub(this.#words, waiting, 1);
      this.#announced = -1;
    }
  }

  // Whether the peer last waited on the CPU this thread last waited on (#spinWhile() records it).
  #peerHere(side: Role): boolean {
    return this.#words[SIDES[side].peerCpu] === threadCpu;
  }

  // Yields the CPU when the peer last waited on it: the peer can answer only once this thread lets go of
  // the CPU, and a yield that lets it run is cheaper than a sleep and the wake it would then have to make.
  #yieldedToPeer(side: Role): boolean {
    if (!this.#peerHere(side)) return false;
    native.yieldCpu();
    return true;
  }

  #checkPeer(side: Role): void {
    if (side === 'producer') this.#assertConsumerAlive();
    else this.#reapProducers();
  }

  // Whether, after announcing that it sleeps, this side has anything to do after all.
  #moved(side: Role, value: number): boolean {
    return Atomics.load(this.#words, SIDES[side].index) !== value || (side === 'consumer' && this.#ended());
  }

  // Spins while the other side's index still holds the value that made this side wait (for the consumer
  // its own head: the ring is empty while tail equals it; for a producer the head its full ring saw).
  // Returns that value, to sleep on, or undefined when the index moved meanwhile (try again at once).
  // Spinning is skipped when the peer last waited on this CPU: it could not run while this side spins.
  #spinWhile(side: Role, limit: number): number | undefined {
    const { index, cpu, peerCpu } = SIDES[side];
    const waitingFor = side === 'producer' ? this.#fullAt : this.#head;
    if (limit !== Infinity) {
      const here = waitingCpu();
      if (this.#words[cpu] !== here) this.#words[cpu] = here;
      if (limit === 0 || this.#words[peerCpu] === here)
        return Atomics.load(this.#words, index) === waitingFor ? waitingFor : undefined;
    }
    // Spinning for good goes round the caller's loop now and then, for its deadline and liveness checks.
    const reads = limit === Infinity ? 100_000 : limit;
    for (let spin = 0; spin < reads; spin++) {
      if (Atomics.load(this.#words, index) !== waitingFor) return undefined;
    }
    return waitingFor;
  }
}

// Copies `bytes` into `target` at `offset`: a byte loop for the shortest, as #copyRecord() does (up to 8 B
// here: a caller's bytes may be any Uint8Array, and at 16 B set() was as fast; measured on Node 20).
function copyInto(target: Uint8Array, offset: number, bytes: Uint8Array): void {
  const length = bytes.length;
  if (length <= SEND_BYTE_LOOP_MAX) for (let i = 0; i < length; i++) target[offset + i] = bytes[i]!;
  else target.set(bytes, offset);
}

// receiveMany()'s scratch, twice as long, with what it held.
function growFound(found: Int32Array): Int32Array {
  const grown = new Int32Array(found.length * 2);
  grown.set(found);
  return grown;
}

// A Buffer over part of a larger block. Buffer.prototype.subarray() and Buffer.from(arrayBuffer, …) go
// through argument checks and the species lookup; a plain subclass constructor costs a third of that
// (measured on Node 20: 15 ns against 35–55 ns per view), which is most of receiveMany()'s time per message.
// Instances are Buffers in every respect (instanceof, Buffer.isBuffer(), methods); as Node's own
// FastBuffer, the class is not exported.
// (Made by a function, so that no tool gives the class a `name` property after the fact: tsx, which
// bench/budget.ts and bench/run.ts run through, does for every named class, and V8 then constructs it 10
// times slower.)
const BlockView = (() => class extends Uint8Array {})();
Object.setPrototypeOf(BlockView.prototype, Buffer.prototype);

/** The messages of one sendMany() call, and how many of them (from the first) are sent. */
interface Batch {
  messages: Uint8Array[];
  sent: number;
}

// The error of a send-many call that failed partway, saying how many of its messages went out.
function withSent(error: unknown, sent: number): unknown {
  if (error instanceof Error)
    Object.defineProperty(error, 'sent', { value: sent, enumerable: true, configurable: true });
  return error;
}

// receiveInto()'s buffer and range, checked as every …Into receive checks them (validateTarget()), as
// the bytes to copy into.
function intoTarget(buffer: unknown, range: TargetRange | undefined): Uint8Array {
  if (range === undefined && buffer instanceof Uint8Array && buffer.length > 0) return buffer;
  const checked: TargetRange = range === undefined ? {} : { ...validateOptions(range) };
  const length = validateTarget(buffer, checked);
  const view = buffer as ArrayBufferView;
  return new Uint8Array(view.buffer, view.byteOffset + (checked.offset ?? 0), length);
}

// Resolves in the check phase of the event loop's next turn, after the I/O that was due.
export function nextTurn(keepAlive: boolean): Promise<void> {
  return new Promise((resolve) => {
    const immediate = setImmediate(resolve);
    if (!keepAlive) immediate.unref();
  });
}

// The memory behind a channel's descriptor: a memfd, or a named channel's object in /dev/shm.
export function adoptChannelMemory(fd: number): MemoryFile | SharedMemory {
  let target: string;
  try {
    target = readlink(`/proc/self/fd/${fd}`, { fd }).replace(/ \(deleted\)$/, '');
  } catch {
    return MemoryFile.fromFd(fd); // which reports the descriptor that is not open
  }
  if (target.startsWith('/memfd:')) return MemoryFile.fromFd(fd);
  const named = /^\/dev\/shm\/([^/]+)$/.exec(target);
  if (!named) {
    throw invalidArgValue('fd', fd, `must be a channel's memfd or POSIX shared memory descriptor; it is ${target}`);
  }
  const access = check(native.fcntl(fd, constants.F_GETFL, 0), 'fcntl', { fd }) & constants.O_ACCMODE;
  check(native.fcntl(fd, constants.F_SETFD, constants.FD_CLOEXEC), 'fcntl', { fd });
  return new SharedMemory(fd, `/${named[1]}`, access === constants.O_RDONLY);
}

interface CheckedEnd {
  spin: number;
  poll: number;
  role: Role | undefined;
  resume: boolean;
}

function endOptions(options: EndOptions | undefined): CheckedEnd {
  const { spin, poll, role, resume = false } = validateOptions(options);
  if (role !== undefined) validateOneOf(role, 'options.role', ROLES);
  validateBoolean(resume, 'options.resume');
  if (resume && role !== 'producer') throw invalidArgValue('options.resume', resume, "needs role: 'producer'");
  return { spin: spinOption(spin), poll: pollOption(poll), role, resume };
}

// An end's poll option: whole microseconds up to MAX_POLL_US; the default when not given.
export function pollOption(value: unknown): number {
  if (value === undefined) return DEFAULT_POLL_US;
  validateInteger(value, 'options.poll', 0, MAX_POLL_US);
  return value;
}

// An end's spin option: a whole number of reads, or Infinity; the default when not given.
export function spinOption(value: unknown): number {
  if (value === undefined) return DEFAULT_SPIN;
  if (value === Infinity) return Infinity;
  validateInteger(value, 'options.spin', 0, 2 ** 31 - 1);
  return value;
}

// A producer that takes the lock over from one that died mid-send finds the ring consistent: nothing
// becomes visible before the store to `tail`, the last step of a send.
function consistent(guard: MutexGuard): void {
  if (guard.ownerDied) guard.markConsistent();
}
