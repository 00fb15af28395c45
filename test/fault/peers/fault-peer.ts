// The peer of the fault tests: works one mechanism until it is killed with SIGKILL, telling how far it
// got in the report page (fd 3, a memfd; see protocol.ts). Each call picks the Sync or the Promise form
// at random (seeded), so kills land in both.
//   fault-peer <mechanism> <role> <seed> [target]
//   pipe | socket | channel        send | receive    the object is fd 4
//   fifo                           send | receive    target: the FIFO's path
//   sysv-queue | posix-queue       send | receive    target: the queue's id | name
//   memory                         write | read      target: 'fd' (a memfd as fd 4), '/name', 'sysv:<id>', 'file:<path>'
//   sysv-sem | named-sem           hold              target: the set's id (value 1 = free) | the name
//   mutex | futex-sem              hold              the memory is fd 4
// Senders send message 0, 1, 2, … and count each whose send returned; receivers check each message
// against the number due and count it; holders take, hold a moment, give back, and count rounds.
// With a last argument `limit`, a sender sends that many and closes its end, and a receiver takes that
// many (or until the end) and finishes with the sha256 of all it received as its result.
import { createHash } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Channel } from '../../../src/channel.js';
import {
  MemoryFile,
  MessageQueue,
  Mutex,
  mmap,
  NamedSemaphore,
  openFifo,
  openFifoSync,
  PipeReader,
  PipeWriter,
  PosixQueue,
  Semaphore,
  SemaphoreSet,
  SharedMemory,
  SysvSharedMemory,
  UnixSocket,
} from '../../../src/index.js';
import {
  Deframer,
  frame,
  MEMORY_BYTES,
  message,
  messageError,
  Phase,
  Random,
  Report,
  record,
  SLOT_BYTES,
  SLOTS,
  slotOf,
} from './protocol.js';

const [mechanism, role, seedText, target, limitText] = process.argv.slice(2) as [
  string,
  string,
  string,
  string | undefined,
  string | undefined,
];
const limit = limitText === undefined ? Infinity : Number(limitText);
const report = new Report(MemoryFile.fromFd(3).map().buffer);
const random = new Random(Number(seedText), 'peer');
const sync = () => random.chance(0.5);

// A test process that dies (a timeout, a crash) cannot kill its peers: they end themselves when they
// see they have been handed to another parent.
const parent = process.ppid;
let calls = 0;
function orphaned(): void {
  if (++calls % 256 === 0 && process.ppid !== parent) process.exit(2);
}

/** Busy for up to `maxMicroseconds`: a hold or a gap long enough for a kill to land inside it. */
function busy(maxMicroseconds: number): void {
  const until = performance.now() + random.int(0, maxMicroseconds) / 1000;
  while (performance.now() < until);
}

function check(received: Uint8Array): void {
  const error = messageError(received, report.progress);
  if (error !== undefined) fail(error);
  report.progress = report.progress + 1;
}

function fail(text: string): never {
  report.fail(text);
  process.stderr.write(`fault-peer ${mechanism} ${role}: ${text}\n`);
  process.exit(1);
}

/** Sends `limit` messages (forever by default), then `end()`s. */
async function sendAll(send: (bytes: Buffer) => void | Promise<void>, end: () => void, framed = false): Promise<void> {
  report.phase = Phase.ready;
  for (let i = 0; i < limit; i++) {
    orphaned();
    await send(framed ? frame(i) : message(i));
    report.progress = i + 1;
  }
  end();
  report.finish();
}

/** Receives until `receive` gives null (the end), checking each message. */
async function receiveAll(
  receive: () => Uint8Array | null | Promise<Uint8Array | null>,
  framed = false,
): Promise<void> {
  report.phase = Phase.ready;
  const deframer = new Deframer();
  const hash = limit === Infinity ? undefined : createHash('sha256');
  while (report.progress < limit) {
    orphaned();
    const received = await receive();
    if (received === null) break;
    for (const one of framed ? deframer.push(received) : [received]) {
      check(one);
      hash?.update(one);
    }
  }
  if (deframer.pending > 0) fail(`the stream ended inside a message (${deframer.pending} bytes of it)`);
  report.finish(hash?.digest('hex'));
}

async function pipeEnd(fdOrPath: number | string, access: 'r' | 'w'): Promise<PipeReader | PipeWriter> {
  if (typeof fdOrPath === 'number') return access === 'r' ? PipeReader.fromFd(fdOrPath) : PipeWriter.fromFd(fdOrPath);
  return sync() ? openFifoSync(fdOrPath, access) : openFifo(fdOrPath, access);
}

async function streams(source: number | string): Promise<void> {
  if (role === 'send') {
    const writer = (await pipeEnd(source, 'w')) as PipeWriter;
    await sendAll(
      (bytes) => (sync() ? writer.writeSync(bytes) : writer.write(bytes)),
      () => writer.close(),
      true,
    );
  } else {
    const reader = (await pipeEnd(source, 'r')) as PipeReader;
    await receiveAll(() => (sync() ? reader.readSync() : reader.read()), true);
  }
}

async function socket(): Promise<void> {
  const end = UnixSocket.fromFd(4);
  const stream = end.type === 'stream';
  if (role === 'send') {
    await sendAll(
      (bytes) => (sync() ? end.sendSync(bytes) : end.send(bytes)),
      () => end.close(),
      stream,
    );
  } else {
    const data = (m: { data: Buffer } | null) => (m === null ? null : m.data);
    await receiveAll(() => (sync() ? data(end.receiveSync()) : end.receive().then(data)), stream);
  }
}

async function queue(): Promise<void> {
  if (mechanism === 'sysv-queue') {
    const q = MessageQueue.fromId(Number(target));
    if (role === 'send')
      await sendAll(
        (bytes) => (sync() ? q.sendSync(1, bytes) : q.send(1, bytes)),
        () => {},
      );
    else await receiveAll(() => (sync() ? q.receiveSync().data : q.receive().then((m) => m.data)));
  } else {
    const q = PosixQueue.open(target!);
    if (role === 'send')
      await sendAll(
        (bytes) => (sync() ? q.sendSync(bytes) : q.send(bytes)),
        () => q.close(),
      );
    else await receiveAll(() => (sync() ? q.receiveSync().data : q.receive().then((m) => m.data)));
  }
}

async function channel(): Promise<void> {
  const end = Channel.fromFd(4);
  if (role === 'send')
    await sendAll(
      (bytes) => (sync() ? end.sendSync(bytes) : end.send(bytes)),
      () => end.close(),
    );
  else await receiveAll(() => (sync() ? end.receiveSync() : end.receive()));
}

function memory(): void {
  const mapping =
    target === 'fd'
      ? MemoryFile.fromFd(4).map()
      : target!.startsWith('/')
        ? SharedMemory.open(target!).map()
        : target!.startsWith('sysv:')
          ? SysvSharedMemory.fromId(Number(target!.slice(5))).attach()
          : mmap(target!.slice(5), { prot: 'rw' });
  if (mapping.length < MEMORY_BYTES) fail(`the memory has ${mapping.length} bytes`);
  const count = new Int32Array(mapping.buffer, 0, 1);
  const bytes = new Uint8Array(mapping.buffer);
  report.phase = Phase.ready;
  if (role === 'write') {
    for (let i = 0; ; i++) {
      orphaned();
      bytes.set(record(i), slotOf(i));
      Atomics.store(count, 0, i + 1);
      report.progress = i + 1;
      busy(5);
    }
  }
  // The reader checks the published records still in their slots (the one being written may be torn).
  for (;;) {
    orphaned();
    const published = Atomics.load(count, 0);
    for (let i = Math.max(0, published - SLOTS + 1); i < published; i++) {
      const at = slotOf(i);
      if (!record(i).equals(bytes.subarray(at, at + SLOT_BYTES)) && Atomics.load(count, 0) - i < SLOTS - 1) {
        fail(`record ${i} of ${published} published is not intact`);
      }
    }
    report.progress = report.progress + 1;
    busy(50);
  }
}

/** Take, hold a moment, give back, count: forever. */
async function hold(take: () => void | Promise<void>, give: () => void): Promise<void> {
  report.phase = Phase.ready;
  for (;;) {
    orphaned();
    await take();
    report.holding = true;
    busy(200);
    if (random.chance(0.1)) await yieldToLoop();
    report.holding = false;
    give();
    report.progress = report.progress + 1;
    busy(100);
  }
}

async function holder(): Promise<void> {
  if (mechanism === 'sysv-sem') {
    const set = SemaphoreSet.fromId(Number(target));
    await hold(
      () => (sync() ? set.waitSync(0, { undo: true }) : set.wait(0, { undo: true })),
      () => set.post(0, { undo: true }),
    );
  } else if (mechanism === 'named-sem') {
    const semaphore = NamedSemaphore.open(target!);
    await hold(
      () => (sync() ? semaphore.waitSync() : semaphore.wait()),
      () => semaphore.post(),
    );
  } else {
    const mapping = MemoryFile.fromFd(4).map();
    if (mechanism === 'futex-sem') {
      const semaphore = new Semaphore(mapping, 0);
      await hold(
        () => (sync() ? semaphore.waitSync() : semaphore.wait()),
        () => semaphore.post(),
      );
    } else {
      // Under the mutex, a and b are equal; the update makes them unequal for a moment.
      const mutex = new Mutex(mapping, 0);
      const pair = new Int32Array(mapping.buffer, 64, 2);
      let guard: { unlock(): void; ownerDied: boolean; markConsistent(): void } | undefined;
      await hold(
        async () => {
          guard = sync() ? mutex.lockSync() : await mutex.lock();
          if (guard.ownerDied) {
            pair[1] = pair[0]!;
            guard.markConsistent();
          }
          if (pair[0] !== pair[1]) fail(`the mutex was free with a = ${pair[0]}, b = ${pair[1]}`);
          pair[0] = pair[0]! + 1;
        },
        () => {
          pair[1] = pair[1]! + 1;
          guard!.unlock();
        },
      );
    }
  }
}

switch (mechanism) {
  case 'pipe':
    await streams(4);
    break;
  case 'fifo':
    await streams(target!);
    break;
  case 'socket':
    await socket();
    break;
  case 'sysv-queue':
  case 'posix-queue':
    await queue();
    break;
  case 'channel':
    await channel();
    break;
  case 'memory':
    memory();
    break;
  case 'sysv-sem':
  case 'named-sem':
  case 'mutex':
  case 'futex-sem':
    await holder();
    break;
  default:
    fail(`unknown mechanism ${mechanism}`);
}
