// Where the time of one message goes, piece by piece, in one process on one CPU (no peer, no waiting):
// the JavaScript of the channel's ring, a Node-API call, a futex wake with nobody asleep, the system
// calls of a pipe and a System V queue, an allocation, a promise and an event-loop turn. The per-message
// budgets in docs/performance.md are sums of these.
//
//   node --import tsx bench/budget.ts                  each figure the median of 5 timed runs of a loop
//   node --import tsx bench/budget.ts --instructions   user-space instructions per operation, counted by
//                                                      valgrind's callgrind (the same on a busy machine)
//   … --only <text>                                    only the operations whose name contains <text>
//
// Instructions are counted over three runs of 30,000 operations after a warm-up of as many, in one
// process; the median run is reported. V8 runs in its --predictable mode there (no background compiler or
// collector threads, no time-based heuristics): under valgrind a background compiler would not finish in
// time, and the loops would be counted in the baseline tier. The kernel's side of a system call is not
// counted: a syscall's cost shows in the timed mode only.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Channel } from '../src/channel.js';
import { FutexWords } from '../src/futex.js';
import { IPC_PRIVATE, MessageQueue, mapAnonymous, pipe } from '../src/index.js';
import { constants, native } from '../src/native.js';

/** One operation: `run(n)` does it n × `unit` times (`unit` messages per iteration of a batch). */
interface Operation {
  name: string;
  /** Iterations of a timed run. */
  count: number;
  unit?: number;
  /** Sets up, returns the loop and what to release after it. */
  setup(): { loop: (n: number) => void | Promise<void>; dispose(): void };
}

const N = 1_000_000;
const message = Buffer.alloc(64, 7);
const into = Buffer.alloc(64);

// A producer and a consumer end of one channel in this process.
function channelPair(): { producer: Channel; consumer: Channel; dispose(): void } {
  const producer = Channel.create({ capacity: 1 << 20 });
  const consumer = Channel.fromFd(native.fcntl(producer.fd, constants.F_DUPFD_CLOEXEC, 0));
  return {
    producer,
    consumer,
    dispose() {
      consumer.close();
      producer.close();
    },
  };
}

function channelOperation(
  name: string,
  count: number,
  body: (producer: Channel, consumer: Channel, n: number) => void | Promise<void>,
  unit = 1,
): Operation {
  return {
    name,
    count,
    unit,
    setup() {
      const { producer, consumer, dispose } = channelPair();
      return { loop: (n) => body(producer, consumer, n), dispose };
    },
  };
}

const batch = Array.from({ length: 16 }, () => message);
const big = Buffer.alloc(1 << 16, 3);
const bigInto = Buffer.alloc(1 << 16);

function pipeOperation(name: string, body: (n: number, p: ReturnType<typeof pipe>) => void): Operation {
  return {
    name,
    count: N / 10,
    setup() {
      const ends = pipe();
      return {
        loop: (n) => body(n, ends),
        dispose() {
          ends.reader.close();
          ends.writer.close();
        },
      };
    },
  };
}

function queueOperation(name: string, body: (n: number, queue: MessageQueue) => void): Operation {
  return {
    name,
    count: N / 10,
    setup() {
      const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
      return { loop: (n) => body(n, queue), dispose: () => queue.remove() };
    },
  };
}

// A Service's request and its response in one process, nothing waiting: the client's Promise form (a
// request, its reader's receive, the response matched to it) against the server's Sync forms. Against the
// compiled package (dist/, `npm run build`): under tsx, ServiceRequest, made per request, would get a
// `name` after the fact, which makes V8 construct it ten times slower (see tsx in docs/performance.md).
function serviceOperation(): Operation {
  const small = Buffer.alloc(8, 7);
  return {
    name: 'Service await request + receiveSync/respondSync, 8 B (compiled; nothing waits)',
    count: N / 10,
    setup() {
      let ends: { service: CompiledService; client: CompiledClient } | undefined;
      return {
        async loop(n) {
          ends ??= await serviceEnds();
          const { service, client } = ends;
          for (let i = 0; i < n; i++) {
            const answer = client.request(small);
            const request = service.receiveSync()!;
            request.respondSync(request.data);
            await answer;
          }
        },
        dispose() {
          ends?.client.close();
          ends?.service.close();
        },
      };
    },
  };
}

type CompiledService = import('../src/service.js').Service;
type CompiledClient = import('../src/service.js').ServiceClient;

async function serviceEnds(): Promise<{ service: CompiledService; client: CompiledClient }> {
  const compiled = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'esm', 'index.js');
  const { Service } = (await import(compiled)) as typeof import('../src/index.js');
  const name = `/unipc-budget-${process.pid}`;
  const service = Service.create({ name, capacity: 1 << 16, removeOnDispose: true });
  const first = service.receive(); // the connection's hello is answered while the service receives
  const client = await Service.connect(name, { timeout: 5000 });
  const warm = client.request('first');
  const request = (await first)!;
  await request.respond(request.data);
  await warm;
  return { service, client };
}

const OPERATIONS: Operation[] = [
  channelOperation('channel trySend + tryReceive, 64 B (a copy out)', N, (producer, consumer, n) => {
    for (let i = 0; i < n; i++) {
      producer.trySend(message);
      consumer.tryReceive();
    }
  }),
  channelOperation('channel sendSync + receiveSync, 64 B', N, (producer, consumer, n) => {
    for (let i = 0; i < n; i++) {
      producer.sendSync(message);
      consumer.receiveSync();
    }
  }),
  channelOperation('channel trySend + tryReceiveInto, 64 B (no allocation)', N, (producer, consumer, n) => {
    for (let i = 0; i < n; i++) {
      producer.trySend(message);
      consumer.tryReceiveInto(into);
    }
  }),
  channelOperation('channel sendSync + receiveIntoSync, 64 B (no allocation)', N, (producer, consumer, n) => {
    for (let i = 0; i < n; i++) {
      producer.sendSync(message);
      consumer.receiveIntoSync(into);
    }
  }),
  channelOperation(
    'channel trySendMany + tryReceiveMany, 16 × 64 B, per message',
    N / 16,
    (producer, consumer, n) => {
      for (let i = 0; i < n; i++) {
        producer.trySendMany(batch);
        consumer.tryReceiveMany(16);
      }
    },
    16,
  ),
  channelOperation('channel trySend + tryReceiveInto, 64 KiB (two copies)', N / 100, (producer, consumer, n) => {
    for (let i = 0; i < n; i++) {
      producer.trySend(big);
      consumer.tryReceiveInto(bigInto);
    }
  }),
  channelOperation(
    'channel await send + await receive, 64 B (nothing waits)',
    N / 10,
    async (producer, consumer, n) => {
      for (let i = 0; i < n; i++) {
        await producer.send(message);
        await consumer.receive();
      }
    },
  ),
  serviceOperation(),
  {
    name: 'Buffer.allocUnsafe(64)',
    count: N,
    setup: () => ({
      loop(n) {
        for (let i = 0; i < n; i++) Buffer.allocUnsafe(64);
      },
      dispose() {},
    }),
  },
  {
    name: 'a Node-API call (currentCpu: sched_getcpu in the vDSO)',
    count: N,
    setup: () => ({
      loop(n) {
        for (let i = 0; i < n; i++) native.currentCpu();
      },
      dispose() {},
    }),
  },
  {
    name: 'futex wake, nobody asleep (Node-API call + syscall)',
    count: N / 10,
    setup() {
      const mapping = mapAnonymous(4096, { shared: true });
      const words = new FutexWords(mapping, 0, 8);
      return {
        loop(n) {
          for (let i = 0; i < n; i++) words.wake(0, 1);
        },
        dispose: () => mapping.close(),
      };
    },
  },
  pipeOperation('pipe writeSync + readSync, 64 B (2 syscalls, 1 allocation)', (n, { reader, writer }) => {
    for (let i = 0; i < n; i++) {
      writer.writeSync(message);
      reader.readSync({ maxSize: 64 });
    }
  }),
  pipeOperation('pipe writeSync + readIntoSync, 64 B (2 syscalls)', (n, { reader, writer }) => {
    for (let i = 0; i < n; i++) {
      writer.writeSync(message);
      reader.readIntoSync(into);
    }
  }),
  queueOperation('System V queue sendSync + receiveSync, 64 B', (n, queue) => {
    for (let i = 0; i < n; i++) {
      queue.sendSync(1, message);
      queue.receiveSync();
    }
  }),
  queueOperation('System V queue sendSync + receiveIntoSync, 64 B', (n, queue) => {
    for (let i = 0; i < n; i++) {
      queue.sendSync(1, message);
      queue.receiveIntoSync(into);
    }
  }),
  {
    name: 'await of a resolved promise',
    count: N,
    setup: () => ({
      async loop(n) {
        for (let i = 0; i < n; i++) await (async () => {})();
      },
      dispose() {},
    }),
  },
  {
    name: 'an event-loop turn (setImmediate)',
    count: N / 10,
    setup: () => ({
      async loop(n) {
        for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
      },
      dispose() {},
    }),
  },
];

async function timed(operation: Operation): Promise<void> {
  const { loop, dispose } = operation.setup();
  try {
    await loop(Math.min(operation.count, 10_000)); // warm up
    const runs: number[] = [];
    for (let r = 0; r < 5; r++) {
      const start = process.hrtime.bigint();
      await loop(operation.count);
      runs.push(Number(process.hrtime.bigint() - start) / (operation.count * (operation.unit ?? 1)));
    }
    runs.sort((a, b) => a - b);
    const spread = (((runs[4]! - runs[0]!) / runs[2]!) * 100).toFixed(0);
    console.log(`${operation.name.padEnd(60)} ${runs[2]!.toFixed(1).padStart(8)} ns  (spread ${spread}%)`);
  } finally {
    dispose();
  }
}

const LOOP = 30_000;
const LOOPS = 3;

// Where callgrind dumps its counts: a call into the addon that no measured loop makes.
function marker(): void {
  native.fgetxattr(-1, 'user.unipc-budget-marker', new Uint8Array(1));
}

// User-space instructions per operation: this file run under callgrind with --run, which warms the loop
// up and then runs it LOOPS times, entering marker() between the runs; callgrind dumps its counts on each
// entry (--dump-before), so each run's instructions are one part of the output. The median part.
function countInstructions(index: number, unit: number): number {
  const self = fileURLToPath(import.meta.url);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-budget-'));
  try {
    const result = spawnSync(
      'valgrind',
      [
        '--tool=callgrind',
        `--callgrind-out-file=${path.join(out, 'cg.out')}`,
        '--dump-before=*Fgetxattr*',
        process.execPath,
        '--predictable',
        ...process.execArgv,
        self,
        '--run',
        String(index),
        String(Math.ceil(LOOP / unit)),
      ],
      { encoding: 'utf8' },
    );
    if (result.status !== 0)
      throw new Error(`valgrind failed (status ${result.status}): ${result.stderr.slice(-2000)}`);
    // Parts 1 … LOOPS + 1 end at the markers: part 1 is the start and the warm-up, parts 2 … are the runs.
    const parts: number[] = [];
    for (let part = 2; part <= LOOPS + 1; part++) {
      const text = fs.readFileSync(path.join(out, `cg.out.${part}`), 'utf8');
      const totals = /^(?:summary|totals): (\d+)/m.exec(text);
      if (totals === null) throw new Error(`no totals in callgrind part ${part}`);
      parts.push(Number(totals[1]));
    }
    parts.sort((a, b) => a - b);
    return parts[Math.floor(parts.length / 2)]! / (Math.ceil(LOOP / unit) * unit);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

async function main(args: string[]): Promise<void> {
  if (args[0] === '--run') {
    const operation = OPERATIONS[Number(args[1])]!;
    const { loop, dispose } = operation.setup();
    const iterations = Number(args[2]);
    await loop(iterations);
    for (let run = 0; run < LOOPS; run++) {
      marker();
      await loop(iterations);
    }
    marker();
    dispose();
    return;
  }
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.toLowerCase() : undefined;
  const chosen = OPERATIONS.map((operation, index) => ({ operation, index })).filter(
    ({ operation }) => only === undefined || operation.name.toLowerCase().includes(only),
  );
  if (!args.includes('--instructions')) {
    for (const { operation } of chosen) await timed(operation);
    return;
  }
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    console.error('--instructions needs valgrind (Debian package valgrind)');
    process.exitCode = 1;
    return;
  }
  for (const { operation, index } of chosen) {
    const perOperation = countInstructions(index, operation.unit ?? 1);
    console.log(`${operation.name.padEnd(60)} ${perOperation.toFixed(0).padStart(8)} instructions`);
  }
}

await main(process.argv.slice(2));
