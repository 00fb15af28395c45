// The other process of each tour step: `unipc __peer <role> [args]`, started by the tour with the
// descriptors it needs as 3, 4, … It prints {"ready":true} once set up, waits for "go" on stdin when
// it is the one to send, and reports what arrived as one JSON line on stdout.
import { createHash } from 'node:crypto';
import readline from 'node:readline';
import { fstat, readSmallFile } from '../fd.js';
import {
  Channel,
  connect,
  type Mapping,
  MemoryFile,
  MessageQueue,
  Mutex,
  mmap,
  openFifo,
  PipeReader,
  PipeWriter,
  PosixQueue,
  SemaphoreSet,
  SharedMemory,
  SysvSharedMemory,
  UnixSocket,
} from '../index.js';
import { native } from '../native.js';

function report(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

// Made at the first go(): reading stdin from the start would keep every `unipc` command alive for as
// long as its stdin stays open (this module is loaded with the CLI).
let stdinLines: AsyncIterator<string> | undefined;

async function ready(): Promise<void> {
  report({ ready: true });
}

async function go(): Promise<void> {
  stdinLines ??= readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  await stdinLines.next();
}

export async function runPeer(role: string, args: string[]): Promise<void> {
  try {
    await run(role, args);
  } finally {
    process.stdin.destroy();
  }
}

async function run(role: string, args: string[]): Promise<void> {
  switch (role) {
    case 'pipe-read': {
      const reader = PipeReader.fromFd(3);
      await ready();
      const chunks: Buffer[] = [];
      for await (const chunk of reader.stream) chunks.push(chunk as Buffer);
      const data = Buffer.concat(chunks);
      report({ pid: process.pid, bytes: data.length, text: data.length <= 200 ? data.toString() : undefined });
      // A second line, so that hashing is not counted in the transfer's time.
      report({ sha256: createHash('sha256').update(data).digest('hex') });
      return;
    }
    case 'pipe-write': {
      const writer = PipeWriter.fromFd(3);
      await ready();
      await go();
      await writer.write(args[0]);
      writer.close();
      report({ pid: process.pid });
      return;
    }
    case 'fifo-read': {
      await ready();
      const reader = await openFifo(args[0], 'r', { timeout: 30_000 });
      const chunks: Buffer[] = [];
      for (let chunk = await reader.read(); chunk !== null; chunk = await reader.read()) chunks.push(chunk);
      reader.close();
      report({ pid: process.pid, text: Buffer.concat(chunks).toString() });
      return;
    }
    case 'fifo-write': {
      await ready();
      await go();
      const writer = await openFifo(args[0], 'w', { timeout: 30_000 });
      await writer.write(args[1]);
      writer.close();
      report({ pid: process.pid });
      return;
    }
    case 'echo': {
      const socket = UnixSocket.fromFd(3);
      await ready();
      const count = Number(args[0]);
      const sizes: number[] = [];
      for (let i = 0; i < count; i++) {
        const message = await socket.receive({ timeout: 30_000 });
        if (!message) break;
        sizes.push(message.data.length);
        await socket.send(message.data);
      }
      socket.close();
      report({ pid: process.pid, sizes });
      return;
    }
    case 'use-fds': {
      const socket = UnixSocket.fromFd(3);
      await ready();
      const message = await socket.receive({ timeout: 30_000 });
      socket.close();
      const used: string[] = [];
      for (const fd of message?.fds ?? []) {
        // Through the addon and /proc, not fs.*Sync(fd): Deno's node:fs takes resource ids, not descriptors,
        // and reads /proc/self/fd only with --allow-all.
        if (fstat(fd).isFile()) {
          used.push(readSmallFile(`/proc/self/fd/${fd}`));
          native.close(fd);
        } else {
          const writer = PipeWriter.fromFd(fd);
          writer.writeSync(`written by pid ${process.pid} through the passed descriptor`);
          writer.close();
          used.push('(wrote into the pipe)');
        }
      }
      report({ pid: process.pid, used });
      return;
    }
    case 'connect': {
      await ready();
      await go();
      const socket = await connect(args[0], { type: 'seqpacket', timeout: 30_000 });
      await socket.send(`hello from pid ${process.pid}`);
      const reply = await socket.receive({ timeout: 30_000 });
      socket.close();
      report({ pid: process.pid, reply: reply?.data.toString() });
      return;
    }
    case 'memory': {
      // Reads what the tour wrote at offset 0 of some shared memory, answers at offset 64.
      const [kind, target] = args;
      const owner = kind === 'memfd' ? MemoryFile.fromFd(3) : kind === 'posix' ? SharedMemory.open(target) : undefined;
      const mapping: Mapping =
        kind === 'file'
          ? mmap(target, { prot: 'rw' })
          : kind === 'sysv'
            ? SysvSharedMemory.fromId(Number(target)).attach()
            : owner!.map();
      await ready();
      await go();
      const bytes = Buffer.from(mapping.buffer);
      const seen = bytes.subarray(0, 64).toString().replace(/\0+$/, '');
      bytes.write(`hello from pid ${process.pid}`, 64);
      mapping.close();
      owner?.close();
      report({ pid: process.pid, seen });
      return;
    }
    case 'count': {
      // Adds 1 to the counter at offset 64 of the memfd (fd 3) `n` times, with or without the Mutex at 0.
      const [mode, n] = args;
      using file = MemoryFile.fromFd(3);
      using mapping = file.map();
      const counter = new Int32Array(mapping.buffer, 64, 1);
      const mutex = new Mutex(mapping, 0);
      const start = new Int32Array(mapping.buffer, 128, 1);
      await ready();
      // Spin rather than wait for "go" on stdin: both loops must start at the same moment to race.
      while (Atomics.load(start, 0) === 0);
      for (let i = 0, count = Number(n); i < count; i++) {
        if (mode === 'mutex') {
          using _ = mutex.lockSync();
          counter[0] = counter[0] + 1;
        } else {
          counter[0] = counter[0] + 1;
        }
      }
      report({ pid: process.pid });
      return;
    }
    case 'hold-mutex': {
      // Takes the Mutex at offset 0 of the memfd (fd 3), writes half an update, and waits to be killed.
      const file = MemoryFile.fromFd(3);
      const mapping = file.map();
      new Mutex(mapping, 0).lockSync();
      new Int32Array(mapping.buffer, 64, 1)[0] = -1;
      report({ pid: process.pid, holding: true });
      setInterval(() => {}, 1 << 30);
      await new Promise(() => {});
      return;
    }
    case 'sem-undo-hold': {
      // Takes unit 0 of a System V set with SEM_UNDO (on a waiter thread, as a Promise) and waits to be killed.
      const set = SemaphoreSet.fromId(Number(args[0]));
      await set.wait(0, { undo: true, timeout: 30_000 });
      report({ pid: process.pid, holding: true });
      setInterval(() => {}, 1 << 30);
      await new Promise(() => {});
      return;
    }
    case 'msg-receive': {
      // Receives `count` messages from a System V queue with one selection rule; reports their types.
      const [id, type, except, count] = args;
      const queue = MessageQueue.fromId(Number(id));
      await ready();
      await go();
      const types: number[] = [];
      for (let i = 0; i < Number(count); i++) {
        const message = await queue.receive({ type: Number(type), except: except === 'true', timeout: 30_000 });
        types.push(Number(message.type));
      }
      report({ pid: process.pid, types });
      return;
    }
    case 'mq-receive': {
      const [name, count] = args;
      using queue = PosixQueue.open(name, { readOnly: true });
      await ready();
      await go();
      const priorities: number[] = [];
      for (let i = 0; i < Number(count); i++) priorities.push((await queue.receive({ timeout: 30_000 })).priority);
      report({ pid: process.pid, priorities });
      return;
    }
    case 'channel-consume': {
      // Receives until the tour's end closes the channel (fd 3); reports the count, order and a digest.
      using channel = Channel.fromFd(3);
      await ready();
      await go();
      const hash = createHash('sha256');
      let n = 0;
      let ordered = true;
      for (
        let message = channel.receiveSync({ timeout: 30_000 });
        message !== null;
        message = channel.receiveSync({ timeout: 30_000 })
      ) {
        if (message.readUInt32LE(0) !== n) ordered = false;
        hash.update(message);
        n++;
      }
      report({ pid: process.pid, n, ordered, sha256: hash.digest('hex') });
      return;
    }
    default:
      throw new Error(`unknown peer role ${role}`);
  }
}
