// The mechanisms the benchmark runs between two Node processes, each as a client side (which creates the
// IPC objects and times) and a server side (which echoes or drains). Every process runs exactly one
// mechanism, so the loops below stay monomorphic: what is measured is the mechanism, not the harness.
//
// A mechanism's loops come from one of five shapes — Sync or Promise messages, Sync or Promise byte
// streams, Node streams ('data' events), child_process messages — fed with the mechanism's own calls
// written the way a user of that API would write them.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { Channel } from '../channel.js';
import {
  Condition,
  IPC_PRIVATE,
  type Mapping,
  MemoryFile,
  MessageQueue,
  Mutex,
  mkfifo,
  NamedSemaphore,
  openFifo,
  openFifoSync,
  PipeReader,
  PipeWriter,
  PosixQueue,
  pipe,
  Semaphore,
  SemaphoreSet,
  Service,
  type ServiceClient,
  SharedMemory,
  SysvSharedMemory,
  socketpair,
  spawn,
  Topic,
  UnixSocket,
} from '../index.js';
import { BATCH, KINDS, ringCapacity, TOPIC_RECORD_SPACE, topicRingCapacity } from './plan.js';

type MaybePromise<T> = T | Promise<T>;

/** The loops of one side. The client calls roundTrips/stream, the server echo/sink. */
export interface Endpoint {
  /** Before each phase, on both sides: the client's call comes first, while the server waits. */
  configure?(size: number, client: boolean): void;
  /** Server, before it says it has started: arm an event-driven loop for what comes. */
  prepare?(op: 'echo' | 'sink', size: number, count: number): void;
  /** Client: `warmup` untimed round trips, then `count` timed ones into `samples` (µs). */
  roundTrips(message: Buffer, warmup: number, count: number, samples: Float64Array): MaybePromise<void>;
  /** Server: sends back every byte of `count` messages of `size`. */
  echo(size: number, count: number): MaybePromise<void>;
  /** Client: sends `count` messages, then waits for the server's acknowledgement. */
  stream(message: Buffer, count: number): MaybePromise<void>;
  /** Server: receives `count` messages of `size`, then acknowledges. */
  sink(size: number, count: number): MaybePromise<void>;
  close(): MaybePromise<void>;
}

export interface ClientSetup {
  /** For the server: JSON-able facts (names, ids) and descriptors (sent along with SCM_RIGHTS). */
  info: unknown;
  fds: number[];
  /** System V objects to remove if the run is cut short. */
  owned?: Array<{ kind: 'msg' | 'sem'; id: number }>;
  /** After the descriptors went out: close this process's copies of the server's ends. */
  afterSend?(): void;
  /** Given the server's readiness, finishes setting up and returns the client's loops. */
  connect(ready: Promise<unknown>): Promise<Endpoint>;
}

export interface Mechanism {
  /**
   * The server must be the client's child (process.send, stdio): spawn `command args…` with `control`
   * among its descriptors, adding that descriptor's number in the child as the last argument.
   */
  spawnServer?(command: string, args: string[], control: UnixSocket): ChildProcess;
  client(child: ChildProcess | undefined): MaybePromise<ClientSetup>;
  // `info` is the client's ClientSetup.info after a trip through JSON: each server states the shape its
  // client sent (a method's parameters are bivariant, so a narrower type than unknown is accepted).
  server(info: unknown, fds: number[], ready: () => void): MaybePromise<Endpoint>;
  /**
   * Why this mechanism cannot run with this build of unipc (an API it needs is missing, or a known defect
   * stalls it), if it cannot.
   */
  unavailable?(): string | undefined;
}

const ACK = Buffer.from([1]);
const noop = (): void => {};

function unexpectedEnd(): never {
  throw new Error('the other side ended the data early');
}

// During the warm-up only (the timed loop stays bare): what comes back is the message that went out.
function checkReply(reply: Uint8Array, message: Uint8Array): void {
  if (
    reply.length !== message.length ||
    reply[0] !== message[0] ||
    reply[reply.length - 1] !== message[message.length - 1]
  ) {
    throw new Error(`the reply (${reply.length} bytes) is not the ${message.length}-byte message sent`);
  }
}

// A buffer reused from call to call, grown when a call needs more.
function reusedBuffer(): (size: number) => Buffer {
  let buffer = Buffer.alloc(0);
  return (size) => {
    if (buffer.length < size) buffer = Buffer.alloc(size);
    return buffer;
  };
}

// ---------------------------------------------------------------------------------------------------
// Loop shapes

interface SyncMessages {
  configure?(size: number, client: boolean): void;
  send(data: Uint8Array): void;
  receive(): Uint8Array;
  /** For views that must be handed back (zero-copy): after each received message is used. */
  release?(): void;
  close(): void;
}

function syncMessages(t: SyncMessages): Endpoint {
  const release = t.release ?? noop;
  return {
    configure: t.configure,
    roundTrips(message, warmup, count, samples) {
      for (let i = 0; i < warmup; i++) {
        t.send(message);
        checkReply(t.receive(), message);
        release();
      }
      let previous = performance.now();
      for (let i = 0; i < count; i++) {
        t.send(message);
        t.receive();
        release();
        const now = performance.now();
        samples[i] = (now - previous) * 1000;
        previous = now;
      }
    },
    echo(_size, count) {
      for (let i = 0; i < count; i++) {
        t.send(t.receive());
        release();
      }
    },
    stream(message, count) {
      for (let i = 0; i < count; i++) t.send(message);
      t.receive();
      release();
    },
    sink(_size, count) {
      for (let i = 0; i < count; i++) {
        t.receive();
        release();
      }
      t.send(ACK);
    },
    close: () => t.close(),
  };
}

interface AsyncMessages {
  configure?(size: number, client: boolean): void;
  send(data: Uint8Array): Promise<void>;
  receive(): Promise<Uint8Array>;
  close(): void;
}

function asyncMessages(t: AsyncMessages): Endpoint {
  return {
    configure: t.configure,
    async roundTrips(message, warmup, count, samples) {
      for (let i = 0; i < warmup; i++) {
        await t.send(message);
        checkReply(await t.receive(), message);
      }
      let previous = performance.now();
      for (let i = 0; i < count; i++) {
        await t.send(message);
        await t.receive();
        const now = performance.now();
        samples[i] = (now - previous) * 1000;
        previous = now;
      }
    },
    async echo(_size, count) {
      for (let i = 0; i < count; i++) await t.send(await t.receive());
    },
    async stream(message, count) {
      for (let i = 0; i < count; i++) await t.send(message);
      await t.receive();
    },
    async sink(_size, count) {
      for (let i = 0; i < count; i++) await t.receive();
      await t.send(ACK);
    },
    close: () => t.close(),
  };
}

/** What a reader of a byte stream reads at most at once: the message, or unipc's default 64 KiB. */
const readSize = (size: number): number => Math.max(size, 64 * 1024);

interface SyncBytes {
  write(data: Uint8Array): void;
  /** Up to `max` bytes, whatever is there; null at the end of data. */
  read(max: number): Uint8Array | null;
  close(): void;
}

function syncBytes(t: SyncBytes): Endpoint {
  const read = (max: number): Uint8Array => t.read(max) ?? unexpectedEnd();
  const readExact = (n: number): Uint8Array => {
    let chunk = read(n);
    if (chunk.length === n) return chunk;
    const whole = Buffer.allocUnsafe(n);
    for (let got = 0; ; chunk = read(n - got)) {
      whole.set(chunk, got);
      got += chunk.length;
      if (got === n) return whole;
    }
  };
  return {
    roundTrips(message, warmup, count, samples) {
      const n = message.length;
      for (let i = 0; i < warmup; i++) {
        t.write(message);
        readExact(n);
      }
      let previous = performance.now();
      for (let i = 0; i < count; i++) {
        t.write(message);
        readExact(n);
        const now = performance.now();
        samples[i] = (now - previous) * 1000;
        previous = now;
      }
    },
    echo(size, count) {
      for (let left = size * count; left > 0; ) {
        const chunk = read(Math.min(size, left));
        t.write(chunk);
        left -= chunk.length;
      }
    },
    stream(message, count) {
      for (let i = 0; i < count; i++) t.write(message);
      readExact(1);
    },
    sink(size, count) {
      const max = readSize(size);
      for (let left = size * count; left > 0; ) left -= read(Math.min(max, left)).length;
      t.write(ACK);
    },
    close: () => t.close(),
  };
}

interface AsyncBytes {
  write(data: Uint8Array): Promise<void>;
  read(max: number): Promise<Uint8Array | null>;
  close(): void;
}

function asyncBytes(t: AsyncBytes): Endpoint {
  const read = async (max: number): Promise<Uint8Array> => (await t.read(max)) ?? unexpectedEnd();
  const readExact = async (n: number): Promise<Uint8Array> => {
    let chunk = await read(n);
    if (chunk.length === n) return chunk;
    const whole = Buffer.allocUnsafe(n);
    for (let got = 0; ; chunk = await read(n - got)) {
      whole.set(chunk, got);
      got += chunk.length;
      if (got === n) return whole;
    }
  };
  return {
    async roundTrips(message, warmup, count, samples) {
      const n = message.length;
      for (let i = 0; i < warmup; i++) {
        await t.write(message);
        await readExact(n);
      }
      let previous = performance.now();
      for (let i = 0; i < count; i++) {
        await t.write(message);
        await readExact(n);
        const now = performance.now();
        samples[i] = (now - previous) * 1000;
        previous = now;
      }
    },
    async echo(size, count) {
      for (let left = size * count; left > 0; ) {
        const chunk = await read(Math.min(size, left));
        await t.write(chunk);
        left -= chunk.length;
      }
    },
    async stream(message, count) {
      for (let i = 0; i < count; i++) await t.write(message);
      await readExact(1);
    },
    async sink(size, count) {
      const max = readSize(size);
      for (let left = size * count; left > 0; ) left -= (await read(Math.min(max, left))).length;
      await t.write(ACK);
    },
    close: () => t.close(),
  };
}

/** Request/response: a round trip is one call; there is no one-way shape (round trips only). */
function roundTripsOnly(): never {
  throw new Error('a request/response case measures round trips only');
}

interface SyncRequests {
  request(data: Uint8Array): Uint8Array;
  close(): MaybePromise<void>;
}

function syncRequests(t: SyncRequests): Endpoint {
  return {
    roundTrips(message, warmup, count, samples) {
      for (let i = 0; i < warmup; i++) checkReply(t.request(message), message);
      let previous = performance.now();
      for (let i = 0; i < count; i++) {
        t.request(message);
        const now = performance.now();
        samples[i] = (now - previous) * 1000;
        previous = now;
      }
    },
    echo: roundTripsOnly,
    stream: roundTripsOnly,
    sink: roundTripsOnly,
    close: () => t.close(),
  };
}

interface AsyncRequests {
  request(data: Uint8Array): Promise<Uint8Array>;
  close(): MaybePromise<void>;
}

function asyncRequests(t: AsyncRequests): Endpoint {
  return {
    async roundTrips(message, warmup, count, samples) {
      for (let i = 0; i < warmup; i++) checkReply(await t.request(message), message);
      let previous = performance.now();
      for (let i = 0; i < count; i++) {
        await t.request(message);
        const now = performance.now();
        samples[i] = (now - previous) * 1000;
        previous = now;
      }
    },
    echo: roundTripsOnly,
    stream: roundTripsOnly,
    sink: roundTripsOnly,
    close: () => t.close(),
  };
}

/** Counts what arrives through events and wakes one awaiting loop when a total is reached. */
class Arrivals {
  received = 0;
  #target = Infinity;
  #resolve: (() => void) | undefined;

  add(n: number): void {
    this.received += n;
    if (this.received >= this.#target) {
      const resolve = this.#resolve!;
      this.#target = Infinity;
      this.#resolve = undefined;
      resolve();
    }
  }

  until(total: number): Promise<void> | undefined {
    if (this.received >= total) return undefined;
    this.#target = total;
    return new Promise((resolve) => (this.#resolve = resolve));
  }
}

/** Node streams, as Node programs use them: write() with 'drain', 'data' events. */
function streamEndpoint(readable: Readable, writable: Writable, close: () => MaybePromise<void>): Endpoint {
  const arrivals = new Arrivals();
  let echoing = false;
  let end = 0;
  readable.on('data', (chunk: Buffer) => {
    if (echoing) writable.write(chunk);
    arrivals.add(chunk.length);
  });
  const drained = () => new Promise<void>((resolve) => writable.once('drain', resolve));
  return {
    prepare(op, size, count) {
      echoing = op === 'echo';
      end = arrivals.received + size * count;
    },
    async roundTrips(message, warmup, count, samples) {
      let expected = arrivals.received;
      for (let i = 0; i < warmup; i++) {
        writable.write(message);
        expected += message.length;
        await arrivals.until(expected);
      }
      let previous = performance.now();
      for (let i = 0; i < count; i++) {
        writable.write(message);
        expected += message.length;
        await arrivals.until(expected);
        const now = performance.now();
        samples[i] = (now - previous) * 1000;
        previous = now;
      }
    },
    async echo() {
      await arrivals.until(end);
      echoing = false;
    },
    async stream(message, count) {
      const expected = arrivals.received + 1;
      for (let i = 0; i < count; i++) if (!writable.write(message)) await drained();
      await arrivals.until(expected);
    },
    async sink() {
      await arrivals.until(end);
      writable.write(ACK);
    },
    close,
  };
}

/** child_process messages: process.send() / 'message', as Node programs use them. */
function ipcEndpoint(
  send: (message: unknown, callback?: (error: Error | null) => void) => boolean,
  emitter: EventEmitter,
  json: boolean,
  close: () => MaybePromise<void>,
): Endpoint {
  const arrivals = new Arrivals();
  let echoing = false;
  let end = 0;
  // What a Node program sends: with 'json', a string (a Buffer would become an array of numbers); with
  // 'advanced', the Buffer itself.
  const payload = (message: Buffer): unknown => (json ? 'x'.repeat(message.length) : message);
  const ack = json ? 'a' : ACK;
  emitter.on('message', (message: unknown) => {
    if (echoing) send(message);
    arrivals.add(1);
  });
  return {
    prepare(op, _size, count) {
      echoing = op === 'echo';
      end = arrivals.received + count;
    },
    async roundTrips(message, warmup, count, samples) {
      const data = payload(message);
      let expected = arrivals.received;
      for (let i = 0; i < warmup; i++) {
        send(data);
        await arrivals.until(++expected);
      }
      let previous = performance.now();
      for (let i = 0; i < count; i++) {
        send(data);
        await arrivals.until(++expected);
        const now = performance.now();
        samples[i] = (now - previous) * 1000;
        previous = now;
      }
    },
    async echo() {
      await arrivals.until(end);
      echoing = false;
    },
    async stream(message, count) {
      const data = payload(message);
      const expected = arrivals.received + 1;
      // send() returns false once its backlog is deep; then wait until that message has gone out, as
      // a program that does not want to buffer without bound must.
      let written = 0;
      let waitingFor = -1;
      let resume: (() => void) | undefined;
      const onWritten = () => {
        if (++written === waitingFor) resume!();
      };
      for (let i = 0; i < count; i++) {
        if (!send(data, onWritten) && written < i + 1) {
          waitingFor = i + 1;
          await new Promise<void>((resolve) => (resume = resolve));
        }
      }
      await arrivals.until(expected);
    },
    async sink() {
      await arrivals.until(end);
      send(ack);
    },
    close,
  };
}

// ---------------------------------------------------------------------------------------------------
// Pipes, FIFOs, socket pairs

function pipeMechanism(api: 'sync' | 'async' | 'stream'): Mechanism {
  const endpoint = (reader: PipeReader, writer: PipeWriter): Endpoint => {
    const close = () => {
      writer.close();
      reader.close();
    };
    if (api === 'stream') {
      return streamEndpoint(reader.stream, writer.stream, () => {
        writer.stream.destroy();
        reader.stream.destroy();
      });
    }
    // The Sync form reads into one buffer, as the C reference does (readIntoSync: no allocation per read).
    const scratch = reusedBuffer();
    return api === 'sync'
      ? syncBytes({
          write: (data) => writer.writeSync(data),
          read: (max) => {
            const into = scratch(max);
            const n = reader.readIntoSync(into, { length: max });
            return n === 0 ? null : into.subarray(0, n);
          },
          close,
        })
      : asyncBytes({ write: (data) => writer.write(data), read: (max) => reader.read({ maxSize: max }), close });
  };
  return {
    client() {
      const there = pipe();
      const back = pipe();
      return {
        info: {},
        fds: [there.reader.fd, back.writer.fd],
        afterSend() {
          there.reader.close();
          back.writer.close();
        },
        connect: async (ready) => {
          await ready;
          return endpoint(back.reader, there.writer);
        },
      };
    },
    server: (_info, fds) => endpoint(PipeReader.fromFd(fds[0]!), PipeWriter.fromFd(fds[1]!)),
  };
}

const fifoMechanism: Mechanism = {
  client() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-bench-'));
    const there = path.join(dir, 'there');
    const back = path.join(dir, 'back');
    mkfifo(there);
    mkfifo(back);
    return {
      info: { there, back },
      fds: [],
      connect: async (ready) => {
        // The server opens `there` then `back`, blocking in each until this side opens it too.
        const [writer, reader] = await Promise.all([
          openFifo(there, 'w', { timeout: 30_000 }),
          openFifo(back, 'r', { timeout: 30_000 }),
        ]);
        await ready;
        fs.rmSync(dir, { recursive: true, force: true }); // both ends are open: the names can go
        return syncBytes({
          write: (data) => writer.writeSync(data),
          read: (max) => reader.readSync({ maxSize: max }),
          close: () => {
            writer.close();
            reader.close();
          },
        });
      },
    };
  },
  server(info: { there: string; back: string }) {
    const reader = openFifoSync(info.there, 'r', { timeout: 30_000 });
    const writer = openFifoSync(info.back, 'w', { timeout: 30_000 });
    return syncBytes({
      write: (data) => writer.writeSync(data),
      read: (max) => reader.readSync({ maxSize: max }),
      close: () => {
        writer.close();
        reader.close();
      },
    });
  },
};

function socketpairMechanism(type: 'stream' | 'seqpacket', api: 'sync' | 'async'): Mechanism {
  const endpoint = (socket: UnixSocket): Endpoint => {
    const close = () => socket.close();
    if (type === 'stream') {
      return syncBytes({
        write: (data) => socket.sendSync(data),
        read: (max) => socket.receiveSync({ maxSize: max })?.data ?? null,
        close,
      });
    }
    return api === 'sync'
      ? syncMessages({
          send: (data) => socket.sendSync(data),
          receive: () => (socket.receiveSync() ?? unexpectedEnd()).data,
          close,
        })
      : asyncMessages({
          send: (data) => socket.send(data),
          receive: async () => ((await socket.receive()) ?? unexpectedEnd()).data,
          close,
        });
  };
  return {
    client() {
      const [mine, theirs] = socketpair(type);
      return {
        info: {},
        fds: [theirs.fd],
        afterSend: () => theirs.close(),
        connect: async (ready) => {
          await ready;
          return endpoint(mine);
        },
      };
    },
    server: (_info, fds) => endpoint(UnixSocket.fromFd(fds[0]!)),
  };
}

// ---------------------------------------------------------------------------------------------------
// Message queues

// One System V queue: requests travel as type 1, replies and acknowledgements as type 2 (as in
// bench/c/sysv_queue.c).
function sysvQueueMechanism(api: 'sync' | 'async'): Mechanism {
  const endpoint = (queue: MessageQueue, mine: number, theirs: number, close: () => void): Endpoint => {
    const selector = { type: mine };
    // The Sync form receives into one buffer, as the C reference does (receiveIntoSync: no allocation).
    const scratch = reusedBuffer();
    return api === 'sync'
      ? syncMessages({
          send: (data) => queue.sendSync(theirs, data),
          receive: () => {
            const buffer = scratch(65536);
            return buffer.subarray(0, queue.receiveIntoSync(buffer, selector));
          },
          close,
        })
      : asyncMessages({
          send: (data) => queue.send(theirs, data),
          receive: async () => (await queue.receive(selector)).data,
          close,
        });
  };
  return {
    client() {
      const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
      return {
        info: { id: queue.id },
        fds: [],
        owned: [{ kind: 'msg', id: queue.id }],
        connect: async (ready) => {
          await ready;
          return endpoint(queue, 2, 1, () => queue.remove());
        },
      };
    },
    server: (info: { id: number }) => endpoint(MessageQueue.fromId(info.id), 1, 2, noop),
  };
}

// Two POSIX queues, one per direction (mq_receive takes no selector), with the system's default
// attributes (10 messages of 8192 bytes here).
function posixQueueMechanism(api: 'sync' | 'async'): Mechanism {
  const endpoint = (out: PosixQueue, into: PosixQueue): Endpoint => {
    const close = () => {
      out.close();
      into.close();
    };
    return api === 'sync'
      ? syncMessages({ send: (data) => out.sendSync(data), receive: () => into.receiveSync().data, close })
      : asyncMessages({ send: (data) => out.send(data), receive: async () => (await into.receive()).data, close });
  };
  return {
    client() {
      const names = ['there', 'back'].map(
        (way) => `/unipc-bench-${process.pid}-${way}-${randomBytes(4).toString('hex')}`,
      );
      const [there, back] = names.map((name) => PosixQueue.open(name, { create: true, exclusive: true }));
      return {
        info: { names },
        fds: [],
        connect: async (ready) => {
          try {
            await ready;
          } finally {
            for (const name of names) PosixQueue.unlink(name); // both sides have them open now
          }
          return endpoint(there!, back!);
        },
      };
    },
    server: (info: { names: string[] }) => endpoint(PosixQueue.open(info.names[1]!), PosixQueue.open(info.names[0]!)),
  };
}

// ---------------------------------------------------------------------------------------------------
// The channel

/** Capacities of the channel pairs, one per ring size the message sizes need. */
const CAPACITIES = [...new Set(Object.values(KINDS).map((kind) => ringCapacity(kind.size)))];

// A pair of channels (there, back) per ring size; configure() picks the pair for the phase's size. Each
// end spins `spin` reads before it sleeps (the default unless given; Infinity: never sleeps).
function channelMechanism(api: 'sync' | 'async' | 'zero-copy', spin?: number): Mechanism {
  const endpoint = (there: Channel[], back: Channel[], client: boolean): Endpoint => {
    const outs = client ? there : back;
    const ins = client ? back : there;
    let out = outs[0]!;
    let into = ins[0]!;
    const configure = (size: number) => {
      const index = CAPACITIES.indexOf(ringCapacity(size));
      out = outs[index]!;
      into = ins[index]!;
    };
    const close = () => {
      for (const channel of [...there, ...back]) channel.close();
    };
    if (api === 'async') {
      return asyncMessages({
        configure,
        send: (data) => out.send(data),
        receive: async () => (await into.receive()) ?? unexpectedEnd(),
        close,
      });
    }
    if (api === 'zero-copy') {
      // The message is written into the ring and read where it lies: the only copy is the sender's
      // filling of the reservation (an echo copies the view it received into its reservation).
      return syncMessages({
        configure,
        send(data) {
          out.reserveSync(data.length).set(data);
          out.commit();
        },
        receive: () => into.receiveViewSync() ?? unexpectedEnd(),
        release: () => into.release(),
        close,
      });
    }
    // Received into one buffer, as the C ring does (receiveIntoSync: no allocation per message, which
    // for 1 MiB messages would be a fresh mapping and its page faults every time).
    const scratch = reusedBuffer();
    return syncMessages({
      configure,
      send: (data) => out.sendSync(data),
      receive: () => {
        const buffer = scratch(into.maxMessageSize);
        const length = into.receiveIntoSync(buffer) ?? unexpectedEnd();
        return buffer.subarray(0, length);
      },
      close,
    });
  };
  return {
    client() {
      const make = () =>
        CAPACITIES.map((capacity) => Channel.create({ capacity, maxMessageSize: capacity / 2 - 8, spin }));
      const there = make();
      const back = make();
      return {
        info: { rings: CAPACITIES.length },
        fds: [...there, ...back].map((channel) => channel.fd),
        connect: async (ready) => {
          await ready;
          return endpoint(there, back, true);
        },
      };
    },
    server(info: { rings: number }, fds) {
      const channels = fds.map((fd) => Channel.fromFd(fd, { spin }));
      return endpoint(channels.slice(0, info.rings), channels.slice(info.rings), false);
    },
  };
}

// One-way 64 B throughput into a Promise-side consumer that takes what has arrived in batches: the
// sender calls sendManySync with BATCH messages at a time, the receiver awaits receiveMany(BATCH). Only
// the throughput shape is defined.
function channelBatchedMechanism(): Mechanism {
  const capacity = ringCapacity(64);
  const notRoundTrips = (): never => {
    throw new Error('the batched case measures one-way throughput only');
  };
  const endpoint = (out: Channel, into: Channel): Endpoint => ({
    roundTrips: notRoundTrips,
    echo: notRoundTrips,
    stream(message, count) {
      const batch: Buffer[] = new Array(BATCH).fill(message);
      for (let sent = 0; sent < count; sent += BATCH) {
        out.sendManySync(count - sent >= BATCH ? batch : batch.slice(0, count - sent));
      }
      into.receiveSync() ?? unexpectedEnd();
    },
    async sink(_size, count) {
      for (let received = 0; received < count; ) {
        const batch = await into.receiveMany(Math.min(BATCH, count - received));
        if (batch === null || batch.length === 0) unexpectedEnd();
        received += batch.length;
      }
      await out.send(ACK);
    },
    close() {
      out.close();
      into.close();
    },
  });
  return {
    client() {
      const there = Channel.create({ capacity, maxMessageSize: capacity / 2 - 8 });
      const back = Channel.create({ capacity, maxMessageSize: capacity / 2 - 8 });
      return {
        info: {},
        fds: [there.fd, back.fd],
        connect: async (ready) => {
          await ready;
          return endpoint(there, back);
        },
      };
    },
    server(_info, fds) {
      return endpoint(Channel.fromFd(fds[1]!), Channel.fromFd(fds[0]!));
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The topic and the service

/** Capacities of the topic pairs, one per ring size the message sizes need. */
const TOPIC_CAPACITIES = [...new Set(Object.values(KINDS).map((kind) => topicRingCapacity(kind.size)))];

// A 'block' topic each way per ring size, as the channel's pairs: the client publishes on `there` and
// subscribes to `back`, the server the other way round, one subscriber per topic. Every end claims its
// role as it is made, so that each subscriber is attached before the first message is published (a
// subscriber without history starts with the next message).
function topicMechanism(api: 'sync' | 'async'): Mechanism {
  const endpoint = (outs: Topic[], ins: Topic[]): Endpoint => {
    let out = outs[0]!;
    let into = ins[0]!;
    const configure = (size: number) => {
      const index = TOPIC_CAPACITIES.indexOf(topicRingCapacity(size));
      out = outs[index]!;
      into = ins[index]!;
    };
    const close = () => {
      for (const topic of [...outs, ...ins]) topic.close();
    };
    return api === 'async'
      ? asyncMessages({
          configure,
          send: (data) => out.send(data),
          receive: async () => (await into.receive()) ?? unexpectedEnd(),
          close,
        })
      : syncMessages({
          configure,
          send: (data) => out.sendSync(data),
          receive: () => into.receiveSync() ?? unexpectedEnd(),
          close,
        });
  };
  return {
    client() {
      const make = (role: 'publisher' | 'subscriber') =>
        TOPIC_CAPACITIES.map((capacity) =>
          Topic.create({ capacity, maxMessageSize: capacity / 2 - TOPIC_RECORD_SPACE, role }),
        );
      const there = make('publisher');
      const back = make('subscriber');
      return {
        info: { rings: TOPIC_CAPACITIES.length },
        fds: [...there, ...back].map((topic) => topic.fd),
        connect: async (ready) => {
          await ready;
          return endpoint(there, back);
        },
      };
    },
    server(info: { rings: number }, fds) {
      const there = fds.slice(0, info.rings).map((fd) => Topic.fromFd(fd, { role: 'subscriber' }));
      const back = fds.slice(info.rings).map((fd) => Topic.fromFd(fd, { role: 'publisher' }));
      return endpoint(back, there);
    },
  };
}

// A named Service, made by the server (its request channel's consumer must be the server's thread). The
// client connects by name once the server says it is ready, and removes the name once connected; its
// first request, untimed, is answered inside server(), whose receive also answers the connection's hello
// (a service answers hellos only while it receives).
function serviceMechanism(api: 'sync' | 'async'): Mechanism {
  const capacity = ringCapacity(64);
  const FIRST = Buffer.from('first');
  return {
    client() {
      const name = `/unipc-bench-${process.pid}-${randomBytes(4).toString('hex')}`;
      return {
        info: { name },
        fds: [],
        connect: async (ready) => {
          await ready;
          let client: ServiceClient;
          try {
            client = await Service.connect(name, { timeout: 30_000 });
          } finally {
            Service.unlink(name); // both sides have it open now
          }
          const close = () => client.close();
          if (api === 'async') {
            checkReply(await client.request(FIRST, { timeout: 30_000 }), FIRST);
            return asyncRequests({ request: (data) => client.request(data), close });
          }
          checkReply(client.requestSync(FIRST, { timeout: 30_000 }), FIRST);
          return syncRequests({ request: (data) => client.requestSync(data), close });
        },
      };
    },
    async server(info: { name: string }, _fds, ready) {
      const service = Service.create({ name: info.name, capacity });
      const close = () => service.close();
      ready();
      if (api === 'async') {
        const first = (await service.receive({ timeout: 30_000 })) ?? unexpectedEnd();
        await first.respond(first.data);
        return {
          // The way a server is written: a for await loop over the service, left after `count` requests
          // (break ends that loop's iterator, not the service).
          async echo(_size, count) {
            if (count === 0) return;
            let answered = 0;
            for await (const request of service) {
              await request.respond(request.data);
              if (++answered === count) break;
            }
          },
          roundTrips: roundTripsOnly,
          stream: roundTripsOnly,
          sink: roundTripsOnly,
          close,
        };
      }
      const first = service.receiveSync({ timeout: 30_000 }) ?? unexpectedEnd();
      first.respondSync(first.data);
      return {
        echo(_size, count) {
          for (let i = 0; i < count; i++) {
            const request = service.receiveSync() ?? unexpectedEnd();
            request.respondSync(request.data);
          }
        },
        roundTrips: roundTripsOnly,
        stream: roundTripsOnly,
        sink: roundTripsOnly,
        close,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Shared memory and a lock kind: a bounded buffer of fixed slots per direction

/** Bytes of slots per direction; the slot count follows from the message size (at most 1024). */
const SLOT_BYTES = 4 * 1024 * 1024;
const HEADER_BYTES = 4096;
const DIRECTION_BYTES = HEADER_BYTES + SLOT_BYTES;
// Offsets in a direction's header page.
const AT = { free: 0, full: 8, mutex: 16, notFull: 24, notEmpty: 32, count: 40 } as const;

function slotsFor(size: number): { stride: number; slots: number } {
  const stride = (4 + size + 63) & ~63;
  return { stride, slots: Math.max(1, Math.min(1024, Math.floor(SLOT_BYTES / stride))) };
}

interface Sem {
  wait(): void;
  post(): void;
  reset(value: number): void;
}

/**
 * One direction: `free` counts empty slots, `full` filled ones; a slot holds a u32 length and the bytes.
 * The sender copies into the slot, the receiver out of it into a buffer of its own.
 */
class SemaphoreSlots {
  #slots = 1;
  #stride = 64;
  #index = 0;
  #out = Buffer.alloc(0);

  constructor(
    readonly data: Buffer,
    readonly free: Sem,
    readonly full: Sem,
  ) {}

  configure(size: number, shared: boolean): void {
    ({ slots: this.#slots, stride: this.#stride } = slotsFor(size));
    this.#index = 0;
    this.#out = Buffer.alloc(size);
    if (shared) {
      this.free.reset(this.#slots);
      this.full.reset(0);
    }
  }

  send(bytes: Uint8Array): void {
    this.free.wait();
    const at = (this.#index++ % this.#slots) * this.#stride;
    this.data.writeUInt32LE(bytes.length, at);
    this.data.set(bytes, at + 4);
    this.full.post();
  }

  receive(): Buffer {
    this.full.wait();
    const at = (this.#index++ % this.#slots) * this.#stride;
    const n = this.data.readUInt32LE(at);
    this.data.copy(this.#out, 0, at + 4, at + 4 + n);
    this.free.post();
    return n === this.#out.length ? this.#out : this.#out.subarray(0, n);
  }
}

/** One direction under a Mutex: a count of filled slots, Conditions for "not full" and "not empty". */
class ConditionSlots {
  #slots = 1;
  #stride = 64;
  #index = 0;
  #out = Buffer.alloc(0);
  readonly #count: Int32Array;
  readonly #mutex: Mutex;
  readonly #notFull: Condition;
  readonly #notEmpty: Condition;

  constructor(
    readonly data: Buffer,
    mapping: Mapping,
    base: number,
  ) {
    this.#count = new Int32Array(mapping.buffer, base + AT.count, 1);
    this.#mutex = new Mutex(mapping, base + AT.mutex);
    this.#notFull = new Condition(mapping, base + AT.notFull);
    this.#notEmpty = new Condition(mapping, base + AT.notEmpty);
  }

  configure(size: number, shared: boolean): void {
    ({ slots: this.#slots, stride: this.#stride } = slotsFor(size));
    this.#index = 0;
    this.#out = Buffer.alloc(size);
    if (shared) Atomics.store(this.#count, 0, 0);
  }

  send(bytes: Uint8Array): void {
    const guard = this.#mutex.lockSync();
    while (Atomics.load(this.#count, 0) === this.#slots) this.#notFull.waitSync(guard);
    const at = (this.#index++ % this.#slots) * this.#stride;
    this.data.writeUInt32LE(bytes.length, at);
    this.data.set(bytes, at + 4);
    Atomics.add(this.#count, 0, 1);
    this.#notEmpty.notify();
    guard.unlock();
  }

  receive(): Buffer {
    const guard = this.#mutex.lockSync();
    while (Atomics.load(this.#count, 0) === 0) this.#notEmpty.waitSync(guard);
    const at = (this.#index++ % this.#slots) * this.#stride;
    const n = this.data.readUInt32LE(at);
    this.data.copy(this.#out, 0, at + 4, at + 4 + n);
    Atomics.sub(this.#count, 0, 1);
    this.#notFull.notify();
    guard.unlock();
    return n === this.#out.length ? this.#out : this.#out.subarray(0, n);
  }
}

type Slots = SemaphoreSlots | ConditionSlots;

function slotEndpoint(there: Slots, back: Slots, client: boolean, close: () => void): Endpoint {
  const out = client ? there : back;
  const into = client ? back : there;
  return syncMessages({
    configure(size, isClient) {
      there.configure(size, isClient);
      back.configure(size, isClient);
    },
    send: (data) => out.send(data),
    receive: () => into.receive(),
    close,
  });
}

const directionData = (mapping: Mapping, direction: number) =>
  Buffer.from(mapping.buffer, direction * DIRECTION_BYTES + HEADER_BYTES, SLOT_BYTES);

function futexSem(mapping: Mapping, offset: number): Sem {
  const semaphore = new Semaphore(mapping, offset);
  return { wait: () => semaphore.waitSync(), post: () => semaphore.post(), reset: (value) => semaphore.reset(value) };
}

// Both memfd kinds: the lock words in each direction's header page, the slots after it.
function memfdSlotsMechanism(kind: 'semaphore' | 'condition'): Mechanism {
  const endpoint = (file: MemoryFile, client: boolean): Endpoint => {
    const mapping = file.map();
    const [there, back] = [0, 1].map((direction) => {
      const base = direction * DIRECTION_BYTES;
      const data = directionData(mapping, direction);
      return kind === 'semaphore'
        ? new SemaphoreSlots(data, futexSem(mapping, base + AT.free), futexSem(mapping, base + AT.full))
        : new ConditionSlots(data, mapping, base);
    });
    return slotEndpoint(there!, back!, client, () => {
      mapping.close();
      file.close();
    });
  };
  return {
    client() {
      const file = MemoryFile.create('unipc-bench', { size: 2 * DIRECTION_BYTES });
      return {
        info: {},
        fds: [file.fd],
        connect: async (ready) => {
          await ready;
          return endpoint(file, true);
        },
      };
    },
    server: (_info, fds) => endpoint(MemoryFile.fromFd(fds[0]!), false),
  };
}

// A System V semaphore set (free and full per direction) and a shmget segment for the slots.
const sysvSemaphoreMechanism: Mechanism = {
  client() {
    const set = SemaphoreSet.get(IPC_PRIVATE, { count: 4, create: true });
    let segment: SysvSharedMemory;
    try {
      segment = SysvSharedMemory.get(IPC_PRIVATE, { size: 2 * DIRECTION_BYTES, create: true });
    } catch (error) {
      set.remove();
      throw error;
    }
    const mapping = segment.attach();
    return {
      info: { set: set.id, segment: segment.id },
      fds: [],
      owned: [{ kind: 'sem', id: set.id }],
      connect: async (ready) => {
        try {
          await ready;
        } finally {
          segment.remove(); // attached by both now; it goes with the last detach
        }
        return sysvEndpoint(set, mapping, true, () => {
          mapping.close();
          set.remove();
        });
      },
    };
  },
  server(info: { set: number; segment: number }) {
    const mapping = SysvSharedMemory.fromId(info.segment).attach();
    return sysvEndpoint(SemaphoreSet.fromId(info.set), mapping, false, () => mapping.close());
  },
};

function sysvEndpoint(set: SemaphoreSet, mapping: Mapping, client: boolean, close: () => void): Endpoint {
  const sem = (index: number): Sem => ({
    wait: () => set.waitSync(index),
    post: () => set.post(index),
    reset: (value) => set.set(index, value),
  });
  const [there, back] = [0, 1].map((d) => new SemaphoreSlots(directionData(mapping, d), sem(2 * d), sem(2 * d + 1)));
  return slotEndpoint(there!, back!, client, close);
}

// Named POSIX semaphores (free and full per direction) and shm_open memory for the slots.
const posixSemaphoreMechanism: Mechanism = {
  client() {
    const prefix = `/unipc-bench-${process.pid}-${randomBytes(4).toString('hex')}`;
    const names = { memory: prefix, semaphores: ['0f', '0u', '1f', '1u'].map((suffix) => `${prefix}-${suffix}`) };
    const memory = SharedMemory.open(names.memory, { create: true, exclusive: true, size: 2 * DIRECTION_BYTES });
    const semaphores = names.semaphores.map((name) => NamedSemaphore.open(name, { create: true, exclusive: true }));
    return {
      info: names,
      fds: [],
      connect: async (ready) => {
        try {
          await ready;
        } finally {
          SharedMemory.unlink(names.memory);
          for (const name of names.semaphores) NamedSemaphore.unlink(name);
        }
        return posixEndpoint(memory, semaphores, true);
      },
    };
  },
  server: (info: { memory: string; semaphores: string[] }) =>
    posixEndpoint(
      SharedMemory.open(info.memory),
      info.semaphores.map((name) => NamedSemaphore.open(name)),
      false,
    ),
};

function posixEndpoint(memory: SharedMemory, semaphores: NamedSemaphore[], client: boolean): Endpoint {
  const mapping = memory.map();
  const sem = (semaphore: NamedSemaphore): Sem => ({
    wait: () => semaphore.waitSync(),
    post: () => semaphore.post(),
    reset(value) {
      while (semaphore.tryWait());
      for (let i = 0; i < value; i++) semaphore.post();
    },
  });
  const [there, back] = [0, 1].map(
    (d) => new SemaphoreSlots(directionData(mapping, d), sem(semaphores[2 * d]!), sem(semaphores[2 * d + 1]!)),
  );
  return slotEndpoint(there!, back!, client, () => {
    mapping.close();
    memory.close();
    for (const semaphore of semaphores) semaphore.close();
  });
}

// ---------------------------------------------------------------------------------------------------
// What Node offers

function processSendMechanism(serialization: 'json' | 'advanced'): Mechanism {
  return {
    spawnServer(command, args, control) {
      return spawn(command, [...args, '4'], {
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        serialization,
        fds: [control],
      });
    },
    client(child) {
      return {
        info: {},
        fds: [],
        connect: async (ready) => {
          await ready;
          return ipcEndpoint(
            (message, callback) => child!.send(message as never, callback),
            child!,
            serialization === 'json',
            () => {
              if (child!.connected) child!.disconnect();
            },
          );
        },
      };
    },
    server: () =>
      ipcEndpoint(
        (message, callback) => process.send!(message, undefined, undefined, callback),
        process,
        serialization === 'json',
        () => {
          if (process.connected) process.disconnect!();
        },
      ),
  };
}

const stdioMechanism: Mechanism = {
  spawnServer(command, args, control) {
    return spawn(command, [...args, '3'], { stdio: ['pipe', 'pipe', 'inherit'], fds: [control] });
  },
  client(child) {
    return {
      info: {},
      fds: [],
      connect: async (ready) => {
        await ready;
        return streamEndpoint(child!.stdout!, child!.stdin!, () => {
          child!.stdin!.end();
        });
      },
    };
  },
  server: () =>
    streamEndpoint(process.stdin, process.stdout, () => {
      process.stdin.destroy();
    }),
};

// An abstract socket name: no file to leave behind.
const netMechanism: Mechanism = {
  client() {
    const address = `\0unipc-bench-${process.pid}-${randomBytes(4).toString('hex')}`;
    return {
      info: { address },
      fds: [],
      connect: async (ready) => {
        await ready;
        const socket = net.connect(address);
        await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
        return streamEndpoint(socket, socket, () => {
          socket.end();
        });
      },
    };
  },
  async server(info: { address: string }, _fds, ready) {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(info.address, resolve));
    const connected = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    ready();
    const socket = await connected;
    server.close();
    return streamEndpoint(socket, socket, () => {
      socket.destroy();
    });
  },
};

// HTTP as a Node program speaks it to a local server: http.createServer listening on a Unix socket (an
// abstract name: no file to leave behind), http.request with socketPath and a keep-alive Agent, so that
// every request after the first goes over the same connection. A POST whose body is the message; the
// response's body echoes it.
const httpMechanism: Mechanism = {
  client() {
    const socketPath = `\0unipc-bench-http-${process.pid}-${randomBytes(4).toString('hex')}`;
    return {
      info: { socketPath },
      fds: [],
      connect: async (ready) => {
        await ready;
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const request = (body: Uint8Array) =>
          new Promise<Buffer>((resolve, reject) => {
            const outgoing = http.request(
              {
                socketPath,
                agent,
                method: 'POST',
                path: '/echo',
                headers: { 'content-type': 'application/octet-stream', 'content-length': body.byteLength },
              },
              (response) => {
                const chunks: Buffer[] = [];
                response.on('data', (chunk: Buffer) => chunks.push(chunk));
                response.on('end', () => resolve(Buffer.concat(chunks)));
                response.on('error', reject);
              },
            );
            outgoing.on('error', reject);
            outgoing.end(body);
          });
        return asyncRequests({ request, close: () => agent.destroy() });
      },
    };
  },
  async server(info: { socketPath: string }, _fds, ready) {
    const arrivals = new Arrivals();
    let end = 0;
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        response.end(Buffer.concat(chunks));
        arrivals.add(1);
      });
    });
    // Idle connections are kept for 5 s by default; no pause between two figures may find it closed.
    server.keepAliveTimeout = 120_000;
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(info.socketPath, resolve));
    ready();
    return {
      prepare(_op, _size, count) {
        end = arrivals.received + count;
      },
      echo: () => arrivals.until(end),
      roundTrips: roundTripsOnly,
      stream: roundTripsOnly,
      sink: roundTripsOnly,
      close() {
        server.closeAllConnections();
        server.close();
      },
    };
  },
};

export const MECHANISMS: Record<string, Mechanism> = {
  'pipe-sync': pipeMechanism('sync'),
  'pipe-async': pipeMechanism('async'),
  'pipe-stream': pipeMechanism('stream'),
  'fifo-sync': fifoMechanism,
  'socketpair-stream-sync': socketpairMechanism('stream', 'sync'),
  'socketpair-seqpacket-sync': socketpairMechanism('seqpacket', 'sync'),
  'socketpair-seqpacket-async': socketpairMechanism('seqpacket', 'async'),
  'sysv-queue-sync': sysvQueueMechanism('sync'),
  'sysv-queue-async': sysvQueueMechanism('async'),
  'posix-queue-sync': posixQueueMechanism('sync'),
  'posix-queue-async': posixQueueMechanism('async'),
  'channel-sync': channelMechanism('sync'),
  'channel-async': channelMechanism('async'),
  'channel-spin': channelMechanism('sync', Infinity),
  'channel-zero-copy': channelMechanism('zero-copy'),
  'channel-batched': channelBatchedMechanism(),
  'topic-sync': topicMechanism('sync'),
  'topic-async': topicMechanism('async'),
  'service-async': serviceMechanism('async'),
  'service-sync': serviceMechanism('sync'),
  'mutex-condition': memfdSlotsMechanism('condition'),
  'futex-semaphore': memfdSlotsMechanism('semaphore'),
  'sysv-semaphore': sysvSemaphoreMechanism,
  'posix-semaphore': posixSemaphoreMechanism,
  'process-send-json': processSendMechanism('json'),
  'process-send-advanced': processSendMechanism('advanced'),
  'net-unix': netMechanism,
  'http-unix': httpMechanism,
  stdio: stdioMechanism,
};
