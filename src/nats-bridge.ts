// The bridge between a local object (a Channel, a System V queue, a POSIX queue) and a NatsChannel:
// messages move one at a time, and a journal file records enough that a bridge killed at any point and
// started again on the same journal neither loses nor repeats a message. Contract: docs/nats.md.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { Channel } from './channel.js';
import { PosixQueue } from './mq.js';
import { MessageQueue, type MessageType } from './msg.js';
import { NatsChannel } from './nats.js';
import { invalidArgValue, invalidState, validateOptions } from './validate.js';

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
  /** Whether the source ended (as opposed to the bridge being stopped). */
  ended: boolean;
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

interface JournalState {
  version: 1;
  direction: Direction;
  /** The prefix of the ids of the messages published outbound (Nats-Msg-Id): `${id}-${sequence}`. */
  id: string;
  /** Outbound: the sequence number of the message at `position` or in `data`. */
  sequence: number;
  /** Outbound from a Channel: the read index of the message being published, until it is released. */
  position: number | null;
  /** Outbound from a queue: the message taken from the kernel and not yet stored by JetStream (base64). */
  data: string | null;
  /** Inbound: the stream sequence of the last message handed on (or of the end record). */
  last: number;
  /** Inbound: the end record was handled (the local Channel closed). */
  ended: boolean;
  /** Inbound: the message being handed on, and a Channel's write index before it. */
  pending: { sequence: number; writeIndex: number | null } | null;
}

// The journal: a small JSON file rewritten in place with each change. A rewrite is one write(2) of a
// few hundred bytes into the page cache, which a process killed with -9 cannot leave half done; a short
// record is cut at its newline, so a longer one before it leaves nothing behind that is read.
class Journal {
  readonly state: JournalState;
  readonly #fd: number;

  private constructor(fd: number, state: JournalState) {
    this.#fd = fd;
    this.state = state;
  }

  static open(path: string, direction: Direction): Journal {
    const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    try {
      const text = fs.readFileSync(fd, 'utf8');
      const line = text.slice(0, text.indexOf('\n'));
      let state: JournalState;
      if (text === '') {
        state = {
          version: 1,
          direction,
          id: randomBytes(8).toString('hex'),
          sequence: 0,
          position: null,
          data: null,
          last: 0,
          ended: false,
          pending: null,
        };
      } else {
        try {
          state = JSON.parse(line) as JournalState;
        } catch {
          throw invalidState(`bridge journal '${path}' is damaged (not a unipc bridge journal?)`);
        }
        if (state.version !== 1) throw invalidState(`bridge journal '${path}' has unknown version ${state.version}`);
        if (state.direction !== direction)
          throw invalidState(
            `bridge journal '${path}' belongs to an ${state.direction} bridge, not an ${direction} one`,
          );
      }
      const journal = new Journal(fd, state);
      journal.save();
      return journal;
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  save(): void {
    const text = Buffer.from(`${JSON.stringify(this.state)}\n`);
    fs.writeSync(this.#fd, text, 0, text.length, 0);
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
  const { journal: path, signal, end = true } = validateOptions(options);
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
  const stats: BridgeStats = { messages: 0, bytes: 0, resent: 0, ended: false };
  const context: Run = { journal, stats, signal, end };
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
}

async function outbound(
  from: Channel | PosixQueue | SystemVQueueEnd,
  to: NatsChannel,
  { journal, stats, signal, end }: Run,
): Promise<void> {
  const state = journal.state;
  const publish = async (data: Uint8Array) => {
    await to.send(data, { id: `${state.id}-${state.sequence}`, signal });
    stats.messages++;
    stats.bytes += data.byteLength;
  };
  if (from instanceof Channel) {
    for (;;) {
      const view = await from.receiveView({ signal });
      if (view === null) break;
      const at = from.readIndex;
      if (state.position === at)
        stats.resent++; // viewed, maybe published, not released: the same id
      else if (state.position !== null) state.sequence++; // the last one was released: a new message
      state.position = at;
      journal.save();
      await publish(view);
      from.release();
    }
    stats.ended = true;
    if (end) await to.close({ end: true, id: state.id });
    return;
  }
  if (state.data !== null) {
    stats.resent++;
    await publish(Buffer.from(state.data, 'base64'));
    state.data = null;
    journal.save();
  }
  for (;;) {
    const data =
      from instanceof PosixQueue
        ? (await from.receive({ signal })).data
        : (await from.queue.receive({ signal, type: from.type ?? 0 })).data;
    state.sequence++;
    state.data = data.toString('base64');
    journal.save();
    await publish(data);
    state.data = null;
    journal.save();
  }
}

async function inbound(
  from: NatsChannel,
  to: Channel | PosixQueue | SystemVQueueEnd,
  { journal, stats, signal, end }: Run,
): Promise<void> {
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
    const message = await from.receiveAfter(state.last, { signal });
    if (message.end) {
      state.last = message.sequence;
      state.ended = true;
      journal.save();
      break;
    }
    const pending = state.pending;
    let delivered = false;
    if (pending !== null && pending.sequence === message.sequence) {
      // The last bridge stopped while handing this one on. A Channel whose only producer is this bridge
      // tells whether the send completed: its write index moved. Otherwise send it again.
      delivered =
        to instanceof Channel &&
        pending.writeIndex !== null &&
        to.producers <= 1 &&
        to.writeIndex !== pending.writeIndex;
      if (!delivered) stats.resent++;
    }
    if (!delivered) {
      state.pending = { sequence: message.sequence, writeIndex: to instanceof Channel ? to.writeIndex : null };
      journal.save();
      await deliver(message.data);
      stats.messages++;
      stats.bytes += message.data.byteLength;
    }
    state.last = message.sequence;
    state.pending = null;
    journal.save();
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
