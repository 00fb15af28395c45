// System V message queue rate: 64-byte messages between two processes through unipc's MessageQueue
// (sendSync → receiveSync, send() → receive()) next to the same loop in C (bench/c/msg_rate.c, compiled
// in this run: msgsnd → msgrcv), unpinned and pinned same-CPU and cross-CPU with taskset. The receiver
// times from its first message to its last; the table gives the median of the runs.
//   node --import tsx bench/msg-rate.ts [messages per run, default 200000] [runs, default 5]
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { IPC_PRIVATE, MessageQueue } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const sink = path.join(here, 'peers', 'msg-sink.ts');
const n = Number(process.argv[2] ?? 200_000);
const runs = Number(process.argv[3] ?? 5);
const SIZE = 64;
const payload = Buffer.alloc(SIZE, 0x5a);

type Placement = { name: string; sender?: string; receiver?: string };
const placements: Placement[] = [
  { name: 'unpinned' },
  { name: 'same CPU (0/0)', sender: '0', receiver: '0' },
  { name: 'cross CPU (0/1)', sender: '0', receiver: '1' },
];

function compileReference(): string {
  const output = path.join(here, '..', 'build', 'bench', 'msg-rate'); // build/ is git-ignored
  fs.mkdirSync(path.dirname(output), { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', output, path.join(here, 'c', 'msg_rate.c')], { stdio: 'inherit' });
  return output;
}

function pinSelf(cpu: string | undefined): void {
  execFileSync('taskset', ['-pc', cpu ?? `0-${os.availableParallelism() - 1}`, String(process.pid)], { stdio: 'ignore' });
}

function pinned(cpu: string | undefined, command: string, args: string[]): ChildProcess {
  const [file, argv] = cpu === undefined ? [command, args] : ['taskset', ['-c', cpu, command, ...args]];
  return spawn(file, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
}

/** The child's stdout lines, in order. */
function lines(child: ChildProcess): AsyncIterator<string> {
  return readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
}

async function rateOf(out: AsyncIterator<string>): Promise<number> {
  for (let line = await out.next(); !line.done; line = await out.next()) {
    if (line.value.startsWith('{')) return JSON.parse(line.value).rate;
  }
  throw new Error('the receiver ended without a rate');
}

async function c(binary: string, queue: MessageQueue, placement: Placement): Promise<number> {
  const receiver = pinned(placement.receiver, binary, ['recv', String(queue.id), String(n)]);
  const sender = pinned(placement.sender, binary, ['send', String(queue.id), String(n), String(SIZE)]);
  const sent = new Promise((resolve) => sender.once('close', resolve));
  const rate = await rateOf(lines(receiver));
  await sent;
  return rate;
}

async function unipc(mode: 'sync' | 'async', queue: MessageQueue, placement: Placement): Promise<number> {
  pinSelf(placement.sender);
  const receiver = pinned(placement.receiver, process.execPath, ['--import', 'tsx', sink, mode, String(queue.id), String(n)]);
  const out = lines(receiver);
  await out.next(); // 'ready'
  // With a timeout, a stuck receiver cannot hold this thread (and its Ctrl-C handler) forever.
  if (mode === 'sync') for (let i = 0; i < n; i++) queue.sendSync(1, payload, { timeout: 30_000 });
  else for (let i = 0; i < n; i++) await queue.send(1, payload);
  const rate = await rateOf(out);
  pinSelf(undefined);
  return rate;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const binary = compileReference();
const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
// A queue outlives the process: interrupted, remove it all the same.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    queue.remove();
    process.exit(130);
  });
}
try {
  const variants: Array<[string, (p: Placement) => Promise<number>]> = [
    ['C msgsnd → msgrcv', (p) => c(binary, queue, p)],
    ['unipc sendSync() → receiveSync()', (p) => unipc('sync', queue, p)],
    ['unipc send() → receive()', (p) => unipc('async', queue, p)],
  ];
  console.log(`System V queue, ${n} messages of ${SIZE} bytes between two processes, median of ${runs} runs,`);
  console.log(`messages per second (ratio to C); queue capacity ${queue.stat().maxBytes} bytes\n`);
  console.log(['', ...placements.map((p) => p.name)].map((h, i) => (i === 0 ? h.padEnd(36) : h.padStart(22))).join(''));
  const reference: number[] = [];
  for (const [name, run] of variants) {
    const cells: string[] = [];
    for (const [i, placement] of placements.entries()) {
      const rates: number[] = [];
      for (let r = 0; r < runs; r++) rates.push(await run(placement));
      const rate = median(rates);
      if (name.startsWith('C')) reference[i] = rate;
      cells.push(`${Math.round(rate).toLocaleString('en-US')} (${(rate / reference[i]!).toFixed(2)}×)`.padStart(22));
    }
    console.log(name.padEnd(36) + cells.join(''));
  }
} finally {
  queue.remove();
  pinSelf(undefined);
}
