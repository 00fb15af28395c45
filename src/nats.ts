// unipc/nats: the channel's message interface carried by NATS JetStream, for producers and consumers on
// different hosts. The NATS client is an optional peer dependency, loaded when a channel is opened, so
// that the core package has no network dependency. Contract and differences from the local Channel:
// docs/nats.md.

import { randomBytes } from 'node:crypto';
import type { Consumer, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { invalidArgValue, invalidState, outOfRange, toBytes, validateOptions } from './validate.js';
import { budget, type WaitOptions, waitOptions, withinBudget } from './wait.js';

/** The packages unipc/nats needs besides unipc (the error of a missing one names them all). */
export const NATS_PACKAGES = ['@nats-io/transport-node', '@nats-io/jetstream'] as const;
/** The code of the error open() throws when the NATS client packages are not installed. */
export const NO_NATS_CLIENT = 'ERR_UNIPC_NO_NATS_CLIENT';

/**
 * The id prefix of the record a producer's close({ end: true }) publishes, the end of the messages: an
 * empty message whose Nats-Msg-Id (kept with it by JetStream) starts so. Ids of send() may not.
 */
const END_ID = 'unipc-end:';

/** A connection of the NATS client. */
export type NatsConnection = Awaited<ReturnType<typeof import('@nats-io/transport-node').connect>>;
/** How long one pull waits on the server before it is renewed (the client's minimum is 1 s). */
const PULL_MS = 5_000;
/** How many messages receiveAfter()'s reader asks the server for ahead of the calls. */
const READ_AHEAD = 256;

/**
 * What a local `Channel` and a `NatsChannel` have in common: code written against it runs on either.
 */
export interface MessageEndpoint {
  send(data: string | ArrayBufferView | ArrayBuffer, options?: WaitOptions): Promise<void>;
  /** The next message, or null at the end. */
  receive(options?: WaitOptions): Promise<Buffer | null>;
  [Symbol.asyncIterator](): AsyncIterator<Buffer>;
}

/** Where a NatsChannel's messages live, and how it reaches the server. */
export interface NatsChannelOptions {
  /** Server addresses (`host:port`), default '127.0.0.1:4222'. Ignored with `connection`. */
  servers?: string | string[];
  /** A connection of the caller's, used instead of opening one (close() leaves it open). */
  connection?: NatsConnection;
  /** The JetStream stream (created, with `subject` as its only subject, if it does not exist). */
  stream: string;
  /** The subject the messages are published to and consumed from. */
  subject: string;
  /**
   * The durable consumer the receiving side reads through (created if it does not exist); default
   * `<stream>-unipc`. Two NatsChannels with the same consumer share its messages, each once.
   */
  consumer?: string;
  /**
   * How many servers of a cluster keep a copy of the stream, when open() creates it (default 1; at most
   * 5, and no more than the cluster has). With 3, the stream lives on while any one server is down.
   */
  replicas?: number;
}

/** The options of send() beyond the wait: the message's id, for JetStream's deduplication. */
export interface NatsSendOptions extends WaitOptions {
  /**
   * The message's id (Nats-Msg-Id): a second message with the same id within the stream's duplicate
   * window is dropped by the server. Default: this channel's random id and a sequence number, so a
   * retried send() is never stored twice. A bridge that restarts passes ids that survive it.
   */
  id?: string;
  /**
   * The id the stream's last message must have (Nats-Expected-Last-Msg-Id), or the server refuses this
   * one: a sender with several messages in flight gives each its predecessor's id, so that none is stored
   * ahead of one that was lost. Refused, send() rejects with a JetStream error (api code 10070).
   */
  after?: string;
}

/** The options of close(). */
export interface NatsCloseOptions {
  /** Publish the end record first (default false). */
  end?: boolean;
  /**
   * The end record's id (default: this channel's random id): a bridge that restarts passes one that
   * survives it, so that an end published twice is stored once.
   */
  id?: string;
}

/** A message receiveMessage() took from JetStream and the server keeps until it is acknowledged. */
export interface NatsMessage {
  readonly data: Buffer;
  /** Its number in the stream: a message delivered again has the same one. */
  readonly sequence: number;
  /** How many times the server has delivered it, 1 the first time. */
  readonly deliveries: number;
  /** Whether this is the end record (empty): a producer's close({ end: true }). */
  readonly end: boolean;
  /** Its id (Nats-Msg-Id), if it has one. */
  readonly id: string | undefined;
  /** Tells the server the message is handled; resolves once the server has confirmed it. */
  acknowledge(): Promise<void>;
}

interface NatsModules {
  connect: typeof import('@nats-io/transport-node').connect;
  jetstream: typeof import('@nats-io/jetstream').jetstream;
  jetstreamManager: typeof import('@nats-io/jetstream').jetstreamManager;
  AckPolicy: typeof import('@nats-io/jetstream').AckPolicy;
  DeliverPolicy: typeof import('@nats-io/jetstream').DeliverPolicy;
}

let modules: Promise<NatsModules> | undefined;

// The NATS client, loaded on first use: a clear error naming what to install when it is missing.
function loadNats(): Promise<NatsModules> {
  modules ??= (async () => {
    try {
      const core = await import('@nats-io/transport-node');
      const js = await import('@nats-io/jetstream');
      return {
        connect: core.connect,
        jetstream: js.jetstream,
        jetstreamManager: js.jetstreamManager,
        AckPolicy: js.AckPolicy,
        DeliverPolicy: js.DeliverPolicy,
      };
    } catch (error) {
      modules = undefined;
      const code = (error as { code?: string }).code;
      if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
      const missing = new Error(
        `unipc/nats needs the NATS client, which is not installed: npm install ${NATS_PACKAGES.join(' ')}`,
        { cause: error },
      );
      Object.defineProperty(missing, 'code', { value: NO_NATS_CLIENT, enumerable: true });
      throw missing;
    }
  })();
  return modules;
}

/**
 * A channel whose messages are carried by NATS JetStream: `send()` resolves once the server has stored
 * the message, `receive()` hands out each stored message once to the consumers sharing its durable
 * consumer, in the order stored. The calls a program uses on a local `Channel` work the same here
 * (MessageEndpoint); the differences are in docs/nats.md.
 *
 * @example
 * ```ts
 * import { NatsChannel } from 'unipc/nats';
 *
 * const jobs = await NatsChannel.open({ servers: 'nats.internal:4222', stream: 'JOBS', subject: 'jobs' });
 * await jobs.send('resize 42');
 * for await (const job of jobs) console.log(job.toString());
 * ```
 */
export class NatsChannel implements MessageEndpoint {
  /** The stream and subject this channel uses. */
  readonly stream: string;
  readonly subject: string;
  /** The durable consumer receive() reads through. */
  readonly consumer: string;
  /** The largest message the server takes (its max_payload). */
  readonly maxMessageSize: number;

  readonly #nats: NatsModules;
  readonly #connection: NatsConnection;
  readonly #ownsConnection: boolean;
  readonly #js: JetStreamClient;
  /** This end's id, the prefix of the ids of the messages it sends. */
  readonly #id = randomBytes(8).toString('hex');
  #sequence = 0;
  /** The durable consumer, made sure of on the first receive(). */
  #consumerReady: Promise<Consumer> | undefined;
  /** The pull in progress: a receive() that gave up leaves it to the next one, so nothing is skipped. */
  #pull: Promise<JsMsg | null> | undefined;
  /** Settles when the last receive() called so far is done. */
  #receiving: Promise<void> = Promise.resolve();
  #ended = false;
  #closed = false;
  /** receiveAfter()'s ordered consumer's messages, the sequence they are past, and the next in progress. */
  #reader:
    | {
        messages: ConsumerMessages;
        iterator: AsyncIterator<JsMsg>;
        after: number;
        next: Promise<IteratorResult<JsMsg>> | undefined;
      }
    | undefined;
  #manager: Promise<JetStreamManager> | undefined;

  private constructor(nats: NatsModules, connection: NatsConnection, owns: boolean, options: NatsChannelOptions) {
    this.#nats = nats;
    this.#connection = connection;
    this.#ownsConnection = owns;
    this.#js = nats.jetstream(connection);
    this.stream = options.stream;
    this.subject = options.subject;
    this.consumer = options.consumer ?? `${options.stream}-unipc`;
    this.maxMessageSize = connection.info?.max_payload ?? 1024 * 1024;
  }

  /**
   * Connects (or uses `connection`) and makes sure the stream exists.
   *
   * @throws an Error with code 'ERR_UNIPC_NO_NATS_CLIENT' when the NATS client packages are not
   *   installed; the NATS client's errors (no server, no JetStream, a stream of that name on other
   *   subjects); argument errors.
   */
  static async open(options: NatsChannelOptions): Promise<NatsChannel> {
    const checked = validateOptions(options);
    for (const name of ['stream', 'subject'] as const) {
      if (typeof checked[name] !== 'string' || checked[name] === '')
        throw invalidArgValue(`options.${name}`, checked[name], 'must be a non-empty string');
    }
    if (checked.consumer !== undefined && (typeof checked.consumer !== 'string' || checked.consumer === ''))
      throw invalidArgValue('options.consumer', checked.consumer, 'must be a non-empty string');
    const replicas = checked.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5)
      throw outOfRange('options.replicas', 'a whole number from 1 to 5', replicas);
    const nats = await loadNats();
    // A channel outlives a server's restart or a cut link: the client reconnects for as long as it takes
    // (to any server of the cluster it has learnt), and the calls in between fail by their own timeouts.
    const connection =
      checked.connection ??
      (await nats.connect({
        servers: checked.servers ?? '127.0.0.1:4222',
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
      }));
    try {
      const manager = await nats.jetstreamManager(connection);
      try {
        await manager.streams.info(checked.stream);
      } catch {
        await manager.streams.add({ name: checked.stream, subjects: [checked.subject], num_replicas: replicas });
      }
      return new NatsChannel(nats, connection, checked.connection === undefined, checked);
    } catch (error) {
      if (checked.connection === undefined) await connection.close();
      throw error;
    }
  }

  /**
   * Publishes `data` and resolves once JetStream has stored it (the acknowledgement is the
   * backpressure). Retried after an abort or timeout with the same `id`, it is stored once.
   *
   * @throws ETIMEDOUT (`timeout`), AbortError (`signal`), ERR_OUT_OF_RANGE (longer than
   *   maxMessageSize), ERR_INVALID_STATE (closed); the NATS client's errors.
   */
  async send(data: string | ArrayBufferView | ArrayBuffer, options?: NatsSendOptions): Promise<void> {
    const checked = waitOptions(options);
    if (
      checked.id !== undefined &&
      (typeof checked.id !== 'string' || checked.id === '' || checked.id.startsWith(END_ID))
    )
      throw invalidArgValue('options.id', checked.id, `must be a non-empty string not starting with '${END_ID}'`);
    if (checked.after !== undefined && (typeof checked.after !== 'string' || checked.after === ''))
      throw invalidArgValue('options.after', checked.after, 'must be a message id (a non-empty string)');
    const bytes = toBytes(data, 'data');
    if (bytes.byteLength > this.maxMessageSize)
      throw outOfRange('data.byteLength', `<= ${this.maxMessageSize} (the server's max_payload)`, bytes.byteLength);
    this.#assertOpen('send');
    const id = checked.id ?? `${this.#id}-${++this.#sequence}`;
    const expect = checked.after === undefined ? undefined : { lastMsgID: checked.after };
    await withinBudget(this.#js.publish(this.subject, bytes, { msgID: id, expect }), budget(checked), 'send');
  }

  /**
   * The next message, once; null after a producer's close() ended the messages. Acknowledged to
   * JetStream before it is returned: a process that dies after that has it; one that dies before gets
   * it again from the server (or another consumer does).
   *
   * @throws ETIMEDOUT (`timeout`), AbortError (`signal`); ERR_INVALID_STATE (closed); the NATS client's
   *   errors. A call that gives up takes nothing: the pull in progress goes on for the next call.
   */
  async receive(options?: WaitOptions): Promise<Buffer | null> {
    const message = await this.receiveMessage(options);
    if (message === null) return null;
    await message.acknowledge();
    return message.end ? null : message.data;
  }

  /**
   * The next message without acknowledging it: the server delivers it again (to this consumer or
   * another sharing it) unless acknowledge() is called within the consumer's ack wait (30 s by default),
   * or when this process dies first. For a program that must finish with a message before the server
   * forgets it, such as a bridge that hands it on. The end record comes as a message with `end` set; once
   * it is acknowledged, receive() and receiveMessage() return null.
   *
   * @throws as receive().
   */
  async receiveMessage(options?: WaitOptions): Promise<NatsMessage | null> {
    const checked = waitOptions(options);
    this.#assertOpen('receive');
    const allowance = budget(checked);
    // One receive() at a time, in the order called: two would otherwise both take the pull in progress.
    const previous = this.#receiving;
    let finished!: () => void;
    this.#receiving = new Promise<void>((resolve) => {
      finished = resolve;
    });
    try {
      await withinBudget(previous, allowance, 'receive');
      for (;;) {
        if (this.#ended) return null;
        if (this.#pull === undefined) {
          const pull = this.#nextMessage();
          this.#pull = pull;
          pull.catch(() => {
            if (this.#pull === pull) this.#pull = undefined; // a failed pull is not handed to the next call
          });
        }
        const message = await withinBudget(this.#pull, allowance, 'receive');
        this.#pull = undefined;
        if (message === null) continue; // the pull expired empty: another one, within the same deadline
        return natsMessage(message, async (end) => {
          await message.ackAck();
          if (end) this.#ended = true;
        });
      }
    } finally {
      // The next call's turn comes once this one and all before it are done.
      void previous.then(finished);
    }
  }

  /**
   * The first message on this channel's subject stored after stream sequence `after` (0: from the
   * start), read in stream order through an ordered consumer of this end's own: nothing is acknowledged,
   * and the durable consumer that receive() shares is not involved. For a reader that keeps its own
   * position, as the bridge does in its journal: a reader that dies and starts again after the last
   * sequence it handled gets each message once, in order, with no wait for a redelivery. The end record
   * comes as a message with `end` set. Calls that follow one another (each after the sequence the last
   * returned) reuse one consumer.
   *
   * @throws ETIMEDOUT (`timeout`), AbortError (`signal`); ERR_INVALID_STATE (closed); the NATS client's
   *   errors; argument errors.
   */
  async receiveAfter(after: number, options?: WaitOptions): Promise<NatsMessage> {
    if (!Number.isSafeInteger(after) || after < 0)
      throw invalidArgValue('after', after, 'must be a stream sequence number (a whole number, 0 or more)');
    const checked = waitOptions(options);
    this.#assertOpen('receiveAfter');
    const allowance = budget(checked);
    let reader = this.#reader;
    if (reader === undefined || reader.after !== after) {
      this.#stopReader();
      const consumer = await withinBudget(
        this.#js.consumers.get(this.stream, {
          filter_subjects: this.subject,
          deliver_policy: this.#nats.DeliverPolicy.StartSequence,
          opt_start_seq: after + 1,
        }),
        allowance,
        'receive',
      );
      const consuming = consumer.consume({ max_messages: READ_AHEAD });
      const messages = await withinBudget(consuming, allowance, 'receive').catch((error: unknown) => {
        // Given up on (timeout, abort): the reader it makes is not left pulling.
        consuming.then(
          (late) => late.stop(),
          () => {},
        );
        throw error;
      });
      reader = { messages, iterator: messages[Symbol.asyncIterator](), after, next: undefined };
      this.#reader = reader;
    }
    const current = reader;
    if (current.next === undefined) {
      current.next = current.iterator.next();
      // A reader that failed is not used again: the next call starts another after its position.
      current.next.then(
        (result) => result.done && this.#reader === current && this.#stopReader(),
        () => this.#reader === current && this.#stopReader(),
      );
    }
    const result = await withinBudget(current.next, allowance, 'receive');
    current.next = undefined;
    if (result.done) throw invalidState('receiveAfter(): the server ended the reader; call again to start another');
    current.after = result.value.info.streamSequence;
    return natsMessage(result.value, async () => {}); // an ordered consumer takes no acknowledgements
  }

  #stopReader(): void {
    const reader = this.#reader;
    this.#reader = undefined;
    if (reader !== undefined) reader.messages.stop();
  }

  /** The messages until the end: `for await (const message of channel)`. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    for (let message = await this.receive(); message !== null; message = await this.receive()) yield message;
  }

  /**
   * The sequence number of the last message the stream stored (on any of its subjects; 0 when empty).
   *
   * @throws the NATS client's errors.
   */
  async lastSequence(): Promise<number> {
    const manager = await this.#jsm();
    return (await manager.streams.info(this.stream)).state.last_seq;
  }

  /**
   * How many servers keep a copy of the stream (its num_replicas).
   *
   * @throws the NATS client's errors.
   */
  async replicas(): Promise<number> {
    const manager = await this.#jsm();
    return (await manager.streams.info(this.stream)).config.num_replicas;
  }

  /**
   * The id (Nats-Msg-Id) of the last message stored on this channel's subject, or undefined when there is
   * none or it has no id. Read from the stream's leader, so a send() that resolved before is seen.
   *
   * @throws the NATS client's errors.
   */
  async lastMessageId(): Promise<string | undefined> {
    const manager = await this.#jsm();
    const message = await manager.streams.getMessage(this.stream, { last_by_subj: this.subject });
    return message?.header?.get('Nats-Msg-Id') || undefined;
  }

  #jsm(): Promise<JetStreamManager> {
    this.#manager ??= this.#nats.jetstreamManager(this.#connection).catch((error: unknown) => {
      this.#manager = undefined;
      throw error;
    });
    return this.#manager;
  }

  /**
   * Closes this end. With `end` (default false) it first publishes the end record, after which the
   * consumers' receive() gives null: the close() of a producer that is the last one. The connection is
   * drained and closed unless it was given to open().
   */
  async close(options?: NatsCloseOptions): Promise<void> {
    if (this.#closed) return;
    const { end, id } = validateOptions(options);
    if (id !== undefined && (typeof id !== 'string' || id === ''))
      throw invalidArgValue('options.id', id, 'must be a non-empty string');
    if (end === true) {
      await this.#js.publish(this.subject, new Uint8Array(0), { msgID: `${END_ID}${id ?? this.#id}` });
    }
    this.#closed = true;
    this.#stopReader();
    if (this.#ownsConnection) await this.#connection.drain();
  }

  // One message from the durable consumer, or null when a pull expired empty.
  async #nextMessage(): Promise<JsMsg | null> {
    this.#consumerReady ??= this.#openConsumer();
    const consumer = await this.#consumerReady.catch((error: unknown) => {
      this.#consumerReady = undefined;
      throw error;
    });
    return consumer.next({ expires: PULL_MS });
  }

  async #openConsumer(): Promise<Consumer> {
    const manager = await this.#jsm();
    try {
      await manager.consumers.info(this.stream, this.consumer);
    } catch {
      await manager.consumers.add(this.stream, {
        durable_name: this.consumer,
        ack_policy: this.#nats.AckPolicy.Explicit,
        deliver_policy: this.#nats.DeliverPolicy.All,
        filter_subject: this.subject,
      });
    }
    return this.#js.consumers.get(this.stream, this.consumer);
  }

  #assertOpen(method: string): void {
    if (this.#closed) throw invalidState(`${method}(): the NatsChannel is closed`);
  }
}

// A message as receiveMessage() and receiveAfter() hand it out; `acknowledge` is told whether it is the end.
function natsMessage(message: JsMsg, acknowledge: (end: boolean) => Promise<void>): NatsMessage {
  const id = message.headers?.get('Nats-Msg-Id') || undefined;
  const end = id?.startsWith(END_ID) === true;
  return {
    id,
    data: Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength),
    sequence: message.info.streamSequence,
    deliveries: message.info.deliveryCount,
    end,
    acknowledge: () => acknowledge(end),
  };
}

export {
  BRIDGE_GAP,
  type Bridge,
  type BridgeEnd,
  type BridgeLag,
  type BridgeOptions,
  type BridgeStats,
  bridge,
  type SystemVQueueEnd,
} from './nats-bridge.js';
