// Where the time of one message goes, piece by piece, in one process on one CPU (no peer, no waiting):
// the JavaScript of the channel's ring, a Node-API call, a futex wake with nobody asleep, the system
// calls of a pipe and a System V queue, an allocation, a promise and an event-loop turn. The per-message
// budgets in docs/performance.md are sums of these. Each figure is the median of 5 runs of a loop.
//   node --import tsx bench/budget.ts

import { Channel } from '../src/channel.js';
import { FutexWords } from '../src/futex.js';
import { IPC_PRIVATE, MessageQueue, mapAnonymous, pipe } from '../src/index.js';
import { native } from '../src/native.js';

// `body(n)` runs n iterations of `unit` operations each; the figure is per operation.
function perOp(name: string, count: number, body: (n: number) => void, unit = 1): void {
  body(Math.min(count, 10_000)); // warm up
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const start = process.hrtime.bigint();
    body(count);
    runs.push(Number(process.hrtime.bigint() - start) / (count * unit));
  }
  runs.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(58)} ${runs[2]!.toFixed(1).padStart(8)} ns  (spread ${(((runs[4]! - runs[0]!) / runs[2]!) * 100).toFixed(0)}%)`,
  );
}

async function perAsyncOp(name: string, count: number, body: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 10_000; i++) await body();
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) await body();
    runs.push(Number(process.hrtime.bigint() - start) / count);
  }
  runs.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(58)} ${runs[2]!.toFixed(1).padStart(8)} ns  (spread ${(((runs[4]! - runs[0]!) / runs[2]!) * 100).toFixed(0)}%)`,
  );
}

const N = 1_000_000;
const message = Buffer.alloc(64, 7);
const into = Buffer.alloc(64);
{
  using producer = Channel.create({ capacity: 1 << 20 });
  using consumer = Channel.fromFd(producer.fd);
  perOp('channel trySend + tryReceive, 64 B (a copy out)', N, (n) => {
    for (let i = 0; i < n; i++) {
      producer.trySend(message);
      consumer.tryReceive();
    }
  });
  perOp('channel sendSync + receiveSync, 64 B', N, (n) => {
    for (let i = 0; i < n; i++) {
      producer.sendSync(message);
      consumer.receiveSync();
    }
  });
  perOp('channel trySend + tryReceiveInto, 64 B (no allocation)', N, (n) => {
    for (let i = 0; i < n; i++) {
      producer.trySend(message);
      consumer.tryReceiveInto(into);
    }
  });
  const batch = Array.from({ length: 16 }, () => message);
  perOp(
    'channel trySendMany + tryReceiveMany, 16 × 64 B, per message',
    N / 16,
    (n) => {
      for (let i = 0; i < n; i++) {
        producer.trySendMany(batch);
        consumer.tryReceiveMany(16);
      }
    },
    16,
  );
  const big = Buffer.alloc(1 << 16, 3);
  const bigInto = Buffer.alloc(1 << 16);
  perOp('channel trySend + tryReceiveInto, 64 KiB (two copies)', N / 100, (n) => {
    for (let i = 0; i < n; i++) {
      producer.trySend(big);
      consumer.tryReceiveInto(bigInto);
    }
  });
  await perAsyncOp('channel await send + await receive, 64 B (nothing waits)', N / 10, async () => {
    await producer.send(message);
    await consumer.receive();
  });
}
perOp('Buffer.allocUnsafe(64)', N, (n) => {
  for (let i = 0; i < n; i++) Buffer.allocUnsafe(64);
});
perOp('a Node-API call (currentCpu: sched_getcpu in the vDSO)', N, (n) => {
  for (let i = 0; i < n; i++) native.currentCpu();
});
{
  using mapping = mapAnonymous(4096, { shared: true });
  const words = new FutexWords(mapping, 0, 8);
  perOp('futex wake, nobody asleep (Node-API call + syscall)', N / 10, (n) => {
    for (let i = 0; i < n; i++) words.wake(0, 1);
  });
}
{
  const { reader, writer } = pipe();
  perOp('pipe writeSync + readSync, 64 B (2 syscalls, 1 allocation)', N / 10, (n) => {
    for (let i = 0; i < n; i++) {
      writer.writeSync(message);
      reader.readSync({ maxSize: 64 });
    }
  });
  reader.close();
  writer.close();
}
{
  const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
  try {
    perOp('System V queue sendSync + receiveSync, 64 B', N / 10, (n) => {
      for (let i = 0; i < n; i++) {
        queue.sendSync(1, message);
        queue.receiveSync();
      }
    });
  } finally {
    queue.remove();
  }
}
await perAsyncOp('await of a resolved promise', N, async () => {});
await perAsyncOp('an event-loop turn (setImmediate)', N / 10, () => new Promise((resolve) => setImmediate(resolve)));
