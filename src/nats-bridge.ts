// The bridge between a local object (a Channel, a System V queue, a POSIX queue) and a NatsChannel:
// messages move one at a time, and a journal file records enough that a bridge killed at any point and
// started again on the same journal neither loses nor repeats a message. Contract: docs/nats.md.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { Channel } from './channel.js';
import { PosixQueue } from './mq.js';
import { MessageQueue, type MessageType } from './msg.js';
import { NatsChannel } from './nats.js';
import { invalidArgValue, invalidState, outOfRange, validateOptions } from './validate.js';

/** A System V queue as a bridge end: the messages of one type (received from it, or sent with it). */
export interface SystemVQueueEnd {
  queue: MessageQueue;
  /**
   * Outbound, the msgrcv() type selection (default 0: any type, in order); inbound, the type the
   * messages are sent with (default 1).
   */
  type?: number;
}

/** What a bridge moves messages from or to: exactly one of the two is a NatsChannel. */
export type BridgeEnd = Channel | PosixQueue | SystemVQueueEnd | NatsChannel;

export interface BridgeOptions {
  /**
   * The bridge's journal: a file it creates, then keeps up to date with every message. A bridge started
   * again on the same journal (with the same ends) carries on where the last one stopped.
   */
  journal: string;
  /** Stops the bridge; `done` then resolves. */
  signal?: AbortSignal;
  /**
   * Outbound, how many messages may be published and not yet acknowledged (at most 1,024). Default 256
   * for a stream of one replica, 1 for a replicated one: 1 publishes one at a time, without the
   * Nats-Expected-Last-Msg-Id chain, slower, and what a replicated stream on nats-server 2.9 needs while
   * servers fail (docs/nats.md, "nats-server 2.9 and replicated streams").
   */
  window?: number;
  /**
   * Carry the end over (default true): a local Channel whose producers all closed ends the NatsChannel
   * (its end record), and the end record of the NatsChannel closes the local Channel's producer end.
   */
  end?: boolean;
}

/** What a bridge has done since it started. */
export interface BridgeStats {
  /** Messages handed to the destination (and, outbound, stored by JetStream). */
  messages: number;
  bytes: number;
  /** Messages sent again after a restart because the last bridge may have stopped before finishing. */
  resent: number;
  /**
   * Inbound: messages an outbound bridge published twice that the stream stored twice (after its
   * duplicate window), handed on once.
   */
  duplicates: number;
  /** Whether the source ended (as opposed to the bridge being stopped). */
  ended: boolean;
  /** NATS failures the bridge waited out and tried again after (a server or link down, an election). */
  retries: number;
  /** The last of those failures. */
  lastError: string | null;
}

/** How far the destination is behind the source. */
export interface BridgeLag {
  /** Messages waiting at the source (queues and JetStream know the count). */
  messages?: number;
  /** Bytes waiting in a Channel's ring. */
  bytes?: number;
}

/** A running bridge. */
export interface Bridge {
  readonly stats: Readonly<BridgeStats>;
  /** Settles when the source ends or the signal stops the bridge; rejects on a failure. */
  readonly done: Promise<BridgeStats>;
  /** Messages or bytes waiting at the source now. */
  lag(): Promise<BridgeLag>;
}

type Direction = 'outbound' | 'inbound';

/** A message taken from the source and written to the journal, not yet known to be stored by JetStream. */
interface Taken {
  sequence: number;
  data: Uint8Array;
  /** Acknowledged by JetStream in this run. */
  stored: boolean;
  /** Its publish is in flight. */
  sending: boolean;
}

interface JournalState {
  direction: Direction;
  /** Outbound, the journal's id in those of the messages it publishes (messageId()). */
  id: string;
  /** Outbound: the sequence number of the last message taken from the source (1, 2, 3, …). */
  taken: number;
  /** Outbound: every message up to this sequence number is stored by JetStream. */
  stored: number;
  /** Outbound from a Channel: the read index of the last message taken (it may still be unreleased). */
  position: number | null;
  /** Outbound: the messages taken and not known to be stored, in order, and their bytes. */
  pending: Taken[];
  pendingBytes: number;
  /** Inbound: the stream sequence of the last message handed on (or of the end record). */
  last: number;
  /** Inbound: the end record was handled (the local Channel closed). */
  ended: boolean;
  /** Inbound: the message being handed on, and a Channel's write index before it. */
  handing: { sequence: number; writeIndex: number | null } | null;
  /** Inbound: for each outbound bridge seen in the stream, the sequence number of its last message. */
  bridges: Record<string, number>;
}

const JOURNAL_VERSION = 2;

/**
 * The id (Nats-Msg-Id) of message `sequence` of the outbound bridge whose journal id is `bridge`. An
 * inbound bridge recognises these: sequence numbers of one bridge follow one another with no gap.
 */
const messageId = (bridge: string, sequence: number) => `unipc-bridge:${bridge}:${sequence}`;

function parseMessageId(id: string): { bridge: string; sequence: number } | undefined {
  const match = /^unipc-bridge:([0-9a-f]+):(\d+)$/.exec(id);
  return match === null ? undefined : { bridge: match[1]!, sequence: Number(match[2]) };
}

/** The code of the error an inbound bridge stops with when the stream lacks messages a bridge published. */
export const BRIDGE_GAP = 'ERR_UNIPC_BRIDGE_GAP';

const base64 = (data: Uint8Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
/** A journal longer than this is rewritten with only what is still needed. */
const COMPACT_BYTES = 4 * 1024 * 1024;

// The journal: a log of JSON lines, appended with each step and read back in order by a bridge that
// starts again. A process killed with -9 can leave only a line cut short at the end (write(2) fills the
// page cache in order); it has no newline, and is cut off when the journal is opened. When the log grows
// past COMPACT_BYTES it is rewritten into a new file, renamed over the old one (rename(2) is atomic).
// The records: {"m":seq,"p":position|null,"s":stored,"d":base64} a message taken (and all through
// `stored` stored); {"s":seq} all through seq stored;
// {"h":seq,"w":writeIndex|null} handing message seq on; {"l":seq} handed on; {"e":seq} the end handled.
class Journal {
  readonly state: JournalState;
  readonly #path: string;
  #fd: number;
  #size: number;
  /** Past this size the journal is compacted: COMPACT_BYTES, or twice what the last compaction left. */
  #compactAt = COMPACT_BYTES;

  private constructor(path: string, fd: number, size: number, state: JournalState) {
    this.#path = path;
    this.#fd = fd;
    this.#size = size;
    this.state = state;
  }

  static open(path: string, direction: Direction): Journal {
    const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_APPEND, 0o600);
    try {
      const text = fs.readFileSync(fd, 'utf8');
      const complete = text.slice(0, text.lastIndexOf('\n') + 1);
      const state: JournalState = {
        direction,
        id: randomBytes(8).toString('hex'),
        taken: 0,
        stored: 0,
        position: null,
        pending: [],
        pendingBytes: 0,
        last: 0,
        ended: false,
        handing: null,
        bridges: {},
      };
      const journal = new Journal(path, fd, Buffer.byteLength(complete), state);
      if (complete === '') {
        fs.ftruncateSync(fd, 0);
        journal.#append({ unipc: 'bridge-journal', version: JOURNAL_VERSION, direction, id: state.id });
        return journal;
      }
      const damaged = (why: string) => invalidState(`bridge journal '${path}' is damaged (${why})`);
      const lines = complete.split('\n');
      lines.pop();
      let header: { unipc?: string; version?: number; direction?: Direction; id?: string };
      try {
        header = JSON.parse(lines[0]!);
      } catch {
        throw damaged('not a unipc bridge journal?');
      }
      if (header.unipc !== 'bridge-journal') throw damaged('not a unipc bridge journal?');
      if (header.version !== JOURNAL_VERSION)
        throw invalidState(`bridge journal '${path}' has unknown version ${header.version}`);
      if (header.direction !== direction)
        throw invalidState(
          `bridge journal '${path}' belongs to an ${header.direction} bridge, not an ${direction} one`,
        );
      state.id = String(header.id);
      for (let i = 1; i < lines.length; i++) {
        let record: Record<string, unknown>;
        try {
          record = JSON.parse(lines[i]!);
        } catch {
          throw damaged(`line ${i + 1}`);
        }
        journal.#replay(record);
      }
      // A line cut short by a kill: gone, as if the step it began had not happened.
      if (complete.length !== text.length) fs.ftruncateSync(fd, journal.#size);
      return journal;
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  #replay(record: Record<string, unknown>): void {
    const state = this.state;
    if (typeof record.m === 'number') {
      if (typeof record.s === 'number') this.#markStored(record.s);
      state.taken = record.m;
      state.position = (record.p as number | null) ?? null;
      const data = Buffer.from(record.d as string, 'base64');
      state.pending.push({ sequence: record.m, data, stored: false, sending: false });
      state.pendingBytes += data.byteLength;
    } else if (typeof record.s === 'number') {
      this.#markStored(record.s);
      if ('p' in record) state.position = record.p as number | null;
      if (typeof record.t === 'number') state.taken = record.t;
    } else if (typeof record.h === 'number') {
      state.handing = { sequence: record.h, writeIndex: record.w as number | null };
    } else if (typeof record.l === 'number') {
      state.last = record.l;
      state.handing = null;
      if (typeof record.i === 'string') this.#seen(record.i);
      if (typeof record.b === 'object' && record.b !== null) Object.assign(state.bridges, record.b);
    } else if (typeof record.e === 'number') {
      state.last = record.e;
      state.ended = true;
    }
  }

  #markStored(through: number): void {
    const state = this.state;
    if (through <= state.stored) return;
    state.stored = through;
    let drop = 0;
    while (drop < state.pending.length && state.pending[drop]!.sequence <= through)
      state.pendingBytes -= state.pending[drop++]!.data.byteLength;
    state.pending.splice(0, drop);
  }

  /** Outbound: a message taken from the source, before it is published (and, from a Channel, released). */
  take(data: Uint8Array, position: number | null): Taken {
    const state = this.state;
    const taken: Taken = { sequence: state.taken + 1, data, stored: false, sending: false };
    state.taken = taken.sequence;
    state.position = position;
    state.pending.push(taken);
    state.pendingBytes += data.byteLength;
    this.#append({ m: taken.sequence, p: position, s: state.stored, d: base64(data) });
    return taken;
  }

  /**
   * Outbound: every message through `sequence` is stored by JetStream. Written down with the next message
   * taken, or at once when none is left pending: a mark that lags only makes a restarted bridge ask
   * the stream (Publisher) or publish again what JetStream then drops.
   */
  stored(sequence: number): void {
    if (sequence <= this.state.stored) return;
    this.#markStored(sequence);
    if (this.state.pending.length === 0) this.#append({ s: sequence });
  }

  // Each step changes the state before its record is appended: a compaction that the record sets off
  // writes the state with the step in it.

  /** Inbound: stream message `sequence` is being handed on; a Channel's write index before the send. */
  handing(sequence: number, writeIndex: number | null): void {
    this.state.handing = { sequence, writeIndex };
    this.#append({ h: sequence, w: writeIndex });
  }

  /** Inbound: stream message `sequence`, whose id is `id`, was handed on (or skipped as a duplicate). */
  handed(sequence: number, id: string | undefined): void {
    this.state.last = sequence;
    this.state.handing = null;
    if (id !== undefined) this.#seen(id);
    this.#append(id === undefined ? { l: sequence } : { l: sequence, i: id });
  }

  #seen(id: string): void {
    const published = parseMessageId(id);
    if (published !== undefined) this.state.bridges[published.bridge] = published.sequence;
  }

  /** Inbound: the end record, at `sequence`, was handled. */
  end(sequence: number): void {
    this.state.last = sequence;
    this.state.ended = true;
    this.#append({ e: sequence });
  }

  #append(record: object): void {
    const line = Buffer.from(`${JSON.stringify(record)}\n`);
    fs.writeSync(this.#fd, line);
    this.#size += line.length;
    if (this.#size > this.#compactAt) this.#compact();
  }

  // What a bridge starting again needs, and nothing else, into a new file renamed over this one.
  #compact(): void {
    const state = this.state;
    const lines = [
      { unipc: 'bridge-journal', version: JOURNAL_VERSION, direction: state.direction, id: state.id },
      state.direction === 'outbound'
        ? { s: state.stored, p: state.position, t: state.taken - state.pending.length }
        : state.ended
          ? { e: state.last }
          : { l: state.last, b: state.bridges },
      ...state.pending.map((taken, i) => ({
        m: taken.sequence,
        // The position belongs to the last message taken only.
        p: i === state.pending.length - 1 ? state.position : null,
        d: base64(taken.data),
      })),
      ...(state.handing === null ? [] : [{ h: state.handing.sequence, w: state.handing.writeIndex }]),
    ];
    const text = lines.map((line) => `${JSON.stringify(line)}\n`).join('');
    // One bridge per journal: a file a killed compaction left is written over by the next.
    const temporary = `${this.#path}.tmp`;
    fs.writeFileSync(temporary, text, { mode: 0o600 });
    fs.renameSync(temporary, this.#path);
    fs.closeSync(this.#fd);
    this.#fd = fs.openSync(this.#path, fs.constants.O_RDWR | fs.constants.O_APPEND);
    this.#size = Buffer.byteLength(text);
    this.#compactAt = Math.max(COMPACT_BYTES, 2 * this.#size);
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}

/**
 * Moves messages between a local Channel, System V queue or POSIX queue and a NatsChannel, in the
 * direction given, until the source ends or `signal` stops it.
 *
 * - Outbound (local → NATS), a message leaves the local object only once JetStream has stored it: from a
 *   Channel it is viewed, published and released after the acknowledgement; from a queue, where a received
 *   message is gone from the kernel, it is written to the journal first. Each is published with an id
 *   that the journal keeps across restarts, so a message published again after a crash is dropped by
 *   JetStream's deduplication (within the stream's duplicate window, 2 minutes by default).
 * - Inbound (NATS → local), messages are read in stream order after the stream sequence the journal
 *   keeps, that of the last one handed on (NatsChannel.receiveAfter()), so a restarted bridge takes up
 *   exactly the next one; a Channel's write index, kept from before each send, tells whether a send the
 *   last bridge began completed.
 *
 * The one window left: a bridge killed between a queue's msgrcv(2)/mq_receive(3) returning and the
 * journal write that follows (outbound) loses that message, and one killed between a queue's send and
 * the journal write after it (inbound) hands it on again; the kernel's queues give no way to take a message without
 * removing it, or to ask whether a send happened. A Channel has no such window, as long as the bridge is
 * its only producer (inbound).
 *
 * @throws ERR_INVALID_ARG_VALUE (not exactly one NatsChannel; an end of another kind);
 *   ERR_INVALID_STATE (a journal of the other direction, or damaged); the ends' own errors (by `done`).
 *
 * @example
 * ```ts
 * import { Channel } from 'unipc';
 * import { NatsChannel, bridge } from 'unipc/nats';
 *
 * const local = Channel.open('/jobs', { role: 'consumer' });
 * const remote = await NatsChannel.open({ servers: 'nats.internal:4222', stream: 'JOBS', subject: 'jobs' });
 * const running = bridge(local, remote, { journal: '/var/lib/jobs-bridge.journal' });
 * const stats = await running.done; // when every producer of /jobs has closed
 * console.log(`${stats.messages} messages moved`);
 * ```
 */
export function bridge(from: BridgeEnd, to: BridgeEnd, options: BridgeOptions): Bridge {
  const { journal: path, signal, end = true, window } = validateOptions(options);
  if (window !== undefined && (!Number.isInteger(window) || window < 1 || window > 1024))
    throw outOfRange('options.window', 'a whole number from 1 to 1024', window);
  if (typeof path !== 'string' || path === '')
    throw invalidArgValue('options.journal', path, 'must be the path of a journal file');
  const fromNats = from instanceof NatsChannel;
  const toNats = to instanceof NatsChannel;
  if (fromNats === toNats)
    throw invalidArgValue('to', to, 'exactly one end of a bridge must be a NatsChannel, the other a local object');
  const local = fromNats ? to : from;
  if (!(local instanceof Channel || local instanceof PosixQueue || isSystemVEnd(local)))
    throw invalidArgValue(
      fromNats ? 'to' : 'from',
      local,
      'must be a Channel, a PosixQueue or { queue: MessageQueue, type? }',
    );
  const journal = Journal.open(path, fromNats ? 'inbound' : 'outbound');
  const stats: BridgeStats = {
    messages: 0,
    bytes: 0,
    resent: 0,
    duplicates: 0,
    ended: false,
    retries: 0,
    lastError: null,
  };
  const context: Run = { journal, stats, signal, end, window };
  const run = fromNats ? inbound(from as NatsChannel, local, context) : outbound(local, to as NatsChannel, context);
  const done = run.then(
    () => stats,
    (error: unknown) => {
      if (signal?.aborted && (error as { name?: string }).name === 'AbortError') return stats;
      throw error;
    },
  );
  void done.finally(() => journal.close()).catch(() => {});
  return {
    stats,
    done,
    lag: () => (fromNats ? natsLag(from as NatsChannel, journal) : lagOf(local)),
  };
}

function isSystemVEnd(value: unknown): value is SystemVQueueEnd {
  return typeof value === 'object' && value !== null && (value as SystemVQueueEnd).queue instanceof MessageQueue;
}

/** What a bridge's loop works with besides its two ends. */
interface Run {
  journal: Journal;
  stats: BridgeStats;
  signal: AbortSignal | undefined;
  /** Carry the end over (BridgeOptions.end). */
  end: boolean;
  /** BridgeOptions.window; outbound, once known, the window used. */
  window: number | undefined;
}

/** At most this many messages (and bytes) taken from the source and not yet stored by JetStream. */
const DEFAULT_WINDOW = 256;
const WINDOW_BYTES = 8 * 1024 * 1024;
/** The wait before the first retry after a NATS failure, doubled up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 2_000;

async function outbound(from: Channel | PosixQueue | SystemVQueueEnd, to: NatsChannel, run: Run): Promise<void> {
  const { journal, stats, end } = run;
  const state = journal.state;
  stats.resent += state.pending.length; // taken by the last bridge, maybe published, not known stored
  run.window ??= (await retrying(run, () => to.replicas())) > 1 ? 1 : DEFAULT_WINDOW;
  const publisher = new Publisher(to, run);
  const receiving = publisher.signal;
  try {
    publisher.start();
    if (from instanceof Channel) {
      for (;;) {
        await publisher.room();
        const view = await from.receiveView({ signal: receiving });
        if (view === null) break;
        const at = from.readIndex;
        // The last bridge took this one (it is in the journal) but was killed before releasing it.
        if (state.position !== at) {
          // Left in the ring, where it is not lost: JetStream would refuse it. Those before it are stored first.
          if (view.byteLength > to.maxMessageSize) {
            await publisher.drained();
            throw outOfRange('message length', `<= ${to.maxMessageSize} (the server's max_payload)`, view.byteLength);
          }
          journal.take(Buffer.from(view), at);
        }
        from.release();
        publisher.pump();
      }
    } else {
      for (;;) {
        await publisher.room();
        const { data } =
          from instanceof PosixQueue
            ? await from.receive({ signal: receiving })
            : await from.queue.receive({ signal: receiving, type: from.type ?? 0 });
        journal.take(data, null);
        publisher.pump();
      }
    }
    await publisher.drained();
  } catch (error) {
    publisher.rethrow(error);
  } finally {
    publisher.stop();
  }
  stats.ended = true;
  if (end) await retrying(run, () => to.close({ end: true, id: state.id }));
}

/**
 * Publishes the journal's pending messages in order, up to the window at a time. A message
 * published while earlier ones are still in flight expects its predecessor to be the stream's last
 * (Nats-Expected-Last-Msg-Id): if one is lost, those after it are refused rather than stored ahead of
 * it. After a failure the publisher lets every publish in flight settle, asks the stream for its last
 * message (a message of this bridge's there means every earlier one is stored), waits, and publishes
 * again from the first message not stored. So the stored messages are always a prefix of those taken.
 */
class Publisher {
  readonly #to: NatsChannel;
  readonly #run: Run;
  /** The sequence number of the next message to publish. */
  #next = 0;
  #inFlight = 0;
  #inFlightBytes = 0;
  /** A publish failed: none are started until those in flight settle and the publisher recovers. */
  #failed = false;
  #delay = 0;
  #recovering = false;
  #stopped = false;
  /** What ends the bridge: an abort, or a failure that retrying cannot mend. */
  #fatal: unknown;
  #changed!: Promise<void>;
  #change!: () => void;

  constructor(to: NatsChannel, run: Run) {
    this.#to = to;
    this.#run = run;
    this.#renew();
    run.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  #onAbort = () => this.#fail(this.#run.signal!.reason);

  /** Publishes what the last bridge left, after asking the stream which of it is stored already. */
  start(): void {
    this.#failed = true;
    void this.#recover();
  }

  stop(): void {
    this.#stopped = true;
    this.#run.signal?.removeEventListener('abort', this.#onAbort);
  }

  /** Resolves when another message may be taken from the source. */
  async room(): Promise<void> {
    const state = this.#run.journal.state;
    while (state.pending.length >= this.#run.window! || state.pendingBytes >= WINDOW_BYTES) await this.#wait();
    this.#check();
  }

  /** Resolves when every message taken is stored. */
  async drained(): Promise<void> {
    while (this.#run.journal.state.pending.length > 0) await this.#wait();
    this.#check();
  }

  pump(): void {
    const state = this.#run.journal.state;
    if (this.#failed || this.#stopped || state.pending.length === 0) return;
    const first = state.pending[0]!.sequence;
    if (this.#next < first) this.#next = first;
    while (this.#inFlight < this.#run.window! && this.#inFlightBytes < WINDOW_BYTES) {
      const taken = state.pending[this.#next - first];
      if (taken === undefined) return;
      this.#next++;
      if (!taken.stored) this.#publish(taken);
    }
  }

  #publish(taken: Taken): void {
    const { journal, stats } = this.#run;
    const id = journal.state.id;
    const after = this.#inFlight > 0 ? messageId(id, taken.sequence - 1) : undefined;
    taken.sending = true;
    this.#inFlight++;
    this.#inFlightBytes += taken.data.byteLength;
    this.#to.send(taken.data, { id: messageId(id, taken.sequence), after }).then(
      () => {
        this.#settled(taken);
        if (this.#stopped) return;
        taken.stored = true;
        stats.messages++;
        stats.bytes += taken.data.byteLength;
        this.#storedPrefix();
        if (this.#failed) {
          // Settled after another publish failed: the last of them to settle starts the recovery.
          if (this.#inFlight === 0) void this.#recover();
        } else {
          this.#delay = 0;
          this.pump();
        }
        this.#renew();
      },
      (error: unknown) => {
        this.#settled(taken);
        if (this.#stopped) return;
        if (!transient(error)) return this.#fail(error);
        if (!this.#failed) {
          stats.retries++;
          stats.lastError = (error as Error).message ?? String(error);
        }
        this.#failed = true;
        if (this.#inFlight === 0) void this.#recover();
      },
    );
  }

  #settled(taken: Taken): void {
    taken.sending = false;
    this.#inFlight--;
    this.#inFlightBytes -= taken.data.byteLength;
  }

  #storedPrefix(): void {
    const { pending } = this.#run.journal.state;
    let through = 0;
    for (const taken of pending) {
      if (!taken.stored) break;
      through = taken.sequence;
    }
    if (through > 0) this.#run.journal.stored(through);
  }

  async #recover(): Promise<void> {
    if (this.#recovering) return;
    this.#recovering = true;
    try {
      // Again if a publish the last round started failed before the round was over.
      do await this.#ask();
      while (this.#failed && this.#fatal === undefined && !this.#stopped && this.#inFlight === 0);
    } finally {
      this.#recovering = false;
    }
  }

  async #ask(): Promise<void> {
    const { journal, stats } = this.#run;
    const state = journal.state;
    for (;;) {
      if (this.#stopped) return;
      if (this.#delay > 0) await sleep(this.#delay);
      this.#delay = Math.min(RETRY_MAX_MS, Math.max(RETRY_FIRST_MS, this.#delay * 2));
      if (this.#stopped) return;
      if (state.pending.length === 0) break;
      try {
        const last = await this.#to.lastMessageId();
        const published = last === undefined ? undefined : parseMessageId(last);
        const ours = published?.bridge === state.id ? published.sequence : 0;
        if (ours > state.stored) {
          for (const taken of state.pending) if (taken.sequence <= ours) taken.stored = true;
          this.#storedPrefix();
        }
        break;
      } catch (error) {
        if (this.#stopped) return;
        if (!transient(error)) return this.#fail(error);
        stats.retries++;
        stats.lastError = (error as Error).message ?? String(error);
      }
    }
    if (this.#fatal !== undefined) return;
    this.#failed = false;
    this.#next = 0; // from the first message not stored
    this.pump();
    this.#renew();
  }

  #fail(error: unknown): void {
    this.#fatal ??= error;
    this.#failed = true; // nothing more is published: a later message stored would hide this one's loss
    this.#stopSource.abort(error);
    this.#renew();
  }

  /** Aborted when the publisher fails for good, so that a wait for the source gives up too. */
  readonly #stopSource = new AbortController();

  /** The signal the source's receive calls take: the caller's, or the publisher failing for good. */
  get signal(): AbortSignal {
    const caller = this.#run.signal;
    return caller === undefined ? this.#stopSource.signal : AbortSignal.any([caller, this.#stopSource.signal]);
  }

  /** The failure that ended the publisher, in place of the abort it caused at the source. */
  rethrow(error: unknown): never {
    throw this.#fatal ?? error;
  }

  #check(): void {
    if (this.#fatal !== undefined) throw this.#fatal;
  }

  async #wait(): Promise<void> {
    this.#check();
    await this.#changed;
    this.#check();
  }

  #renew(): void {
    this.#change?.();
    this.#changed = new Promise((resolve) => {
      this.#change = resolve;
    });
  }
}

/** A NATS failure that passes (a server or link down, a leader election): worth trying again. */
function transient(error: unknown): boolean {
  const { name, code } = error as { name?: string; code?: unknown };
  if (name === 'AbortError') return false;
  if (typeof code === 'string' && code.startsWith('ERR_')) return false; // ours: the message itself
  return name !== 'ClosedConnectionError';
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `attempt` until it succeeds or fails for good, waiting longer after each transient failure. */
async function retrying<T>(run: Run, attempt: () => Promise<T>): Promise<T> {
  for (let delay = RETRY_FIRST_MS; ; delay = Math.min(RETRY_MAX_MS, delay * 2)) {
    try {
      return await attempt();
    } catch (error) {
      if (run.signal?.aborted || !transient(error)) throw error;
      run.stats.retries++;
      run.stats.lastError = (error as Error).message ?? String(error);
      await sleep(delay);
    }
  }
}

function bridgeGap(bridge: string, before: number, after: number, sequence: number): Error {
  const error = new Error(
    `the stream lacks messages ${before + 1} to ${after - 1} of bridge ${bridge} (stream sequence ${sequence} ` +
      `holds ${after}): JetStream lost messages it had acknowledged; stopping rather than hand on the rest ` +
      'without them',
  );
  return Object.assign(error, { code: BRIDGE_GAP });
}

async function inbound(from: NatsChannel, to: Channel | PosixQueue | SystemVQueueEnd, run: Run): Promise<void> {
  const { journal, stats, signal, end } = run;
  const state = journal.state;
  const deliver = (data: Buffer): Promise<void> =>
    to instanceof Channel
      ? to.send(data, { signal })
      : to instanceof PosixQueue
        ? to.send(data, { signal })
        : to.queue.send((to.type ?? 1) as MessageType, data, { signal });
  while (!state.ended) {
    // In stream order after the last one handed on: the journal is the position, so a restarted bridge
    // neither waits for the server to deliver again what the last one held, nor gets it out of order.
    const message = await retrying(run, () => from.receiveAfter(state.last, { signal }));
    if (message.end) {
      journal.end(message.sequence);
      break;
    }
    // A message of an outbound bridge's: its sequence number must follow the last one's of that bridge.
    const published = message.id === undefined ? undefined : parseMessageId(message.id);
    const before = published === undefined ? undefined : state.bridges[published.bridge];
    if (published !== undefined && before !== undefined && published.sequence !== before + 1) {
      if (published.sequence <= before) {
        // Stored twice (published again after the stream's duplicate window): handed on once.
        stats.duplicates++;
        journal.handed(message.sequence, undefined);
        continue;
      }
      throw bridgeGap(published.bridge, before, published.sequence, message.sequence);
    }
    const handing = state.handing;
    let delivered = false;
    if (handing !== null && handing.sequence === message.sequence) {
      // The last bridge stopped while handing this one on. A Channel whose only producer is this bridge
      // tells whether the send completed: its write index moved. Otherwise send it again.
      delivered =
        to instanceof Channel &&
        handing.writeIndex !== null &&
        to.producers <= 1 &&
        to.writeIndex !== handing.writeIndex;
      if (!delivered) stats.resent++;
    }
    if (!delivered) {
      journal.handing(message.sequence, to instanceof Channel ? to.writeIndex : null);
      await deliver(message.data);
      stats.messages++;
      stats.bytes += message.data.byteLength;
    }
    journal.handed(message.sequence, message.id);
  }
  // Also when a bridge killed after its journal said so starts again: closing twice does no harm.
  stats.ended = true;
  if (end && to instanceof Channel) to.close();
}

// At most this many: the stream's other subjects count too.
async function natsLag(source: NatsChannel, journal: Journal): Promise<BridgeLag> {
  return { messages: Math.max(0, (await source.lastSequence()) - journal.state.last) };
}

async function lagOf(source: Channel | PosixQueue | SystemVQueueEnd): Promise<BridgeLag> {
  if (source instanceof Channel) return { bytes: (source.writeIndex - source.readIndex) >>> 0 };
  if (source instanceof PosixQueue) return { messages: source.attributes().currentMessages };
  return { messages: source.queue.stat().messages };
}
