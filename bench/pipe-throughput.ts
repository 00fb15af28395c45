// Pipe throughput with 64 KiB writes between two processes: unipc's pipe ends (as Node streams, with
// write()/read(), with writeSync()/readSync()) next to dd through a shell pipe and Node's own child
// stdio, all in one run, unpinned and pinned (machine-notes.md: same-CPU and cross-CPU differ).
//   node --import tsx bench/pipe-throughput.ts [MiB per run, default 512] [runs, default 3]
import { type ChildProcess, spawn as spawnRaw, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipe, spawn } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const sink = path.join(here, 'peers', 'pipe-sink.ts');
const mib = Number(process.argv[2] ?? 512);
const runs = Number(process.argv[3] ?? 3);
const total = mib * 1024 * 1024;
const CHUNK = 64 * 1024;
const chunk = Buffer.alloc(CHUNK, 0x5a);

type Placement = { name: string; writer?: string; reader?: string };
const placements: Placement[] = [
  { name: 'unpinned' },
  { name: 'same CPU (0/0)', writer: '0', reader: '0' },
  { name: 'cross CPU (0/1)', writer: '0', reader: '1' },
];

function pinSelf(cpu: string | undefined): void {
  const cpus = cpu ?? `0-${os.availableParallelism() - 1}`;
  spawnSync('taskset', ['-pc', cpus, String(process.pid)], { stdio: 'ignore' });
}

function pinned(cpu: string | undefined, command: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [command, args] : ['taskset', ['-c', cpu, command, ...args]];
}

function output(child: ChildProcess): Promise<string> {
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (text += s));
  return new Promise((resolve, reject) =>
    child.once('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`sink exited ${code}`)))),
  );
}

function waitDrain(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => stream.once('drain', resolve));
}

// Seconds to move `total` bytes; the reader starts before the clock.
async function unipc(mode: 'stream' | 'read' | 'readSync', placement: Placement): Promise<number> {
  pinSelf(placement.writer);
  const { reader, writer } = pipe();
  const [command, args] = pinned(placement.reader, process.execPath, ['--import', 'tsx', sink, mode]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], fds: [reader] });
  const done = output(child);
  await new Promise((resolve) => setTimeout(resolve, 300)); // let the reader start up
  const start = performance.now();
  if (mode === 'stream') {
    const stream = writer.stream;
    for (let sent = 0; sent < total; sent += CHUNK) if (!stream.write(chunk)) await waitDrain(stream);
    stream.end();
  } else if (mode === 'read') {
    for (let sent = 0; sent < total; sent += CHUNK) await writer.write(chunk);
    writer.close();
  } else {
    for (let sent = 0; sent < total; sent += CHUNK) writer.writeSync(chunk);
    writer.close();
  }
  const received = Number(await done);
  const seconds = (performance.now() - start) / 1000;
  if (received !== total) throw new Error(`reader got ${received} of ${total} bytes`);
  return seconds;
}

async function nodeStdio(placement: Placement): Promise<number> {
  pinSelf(placement.writer);
  const [command, args] = pinned(placement.reader, process.execPath, ['--import', 'tsx', sink, 'stdin']);
  const child = spawnRaw(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const done = output(child);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const start = performance.now();
  for (let sent = 0; sent < total; sent += CHUNK) if (!child.stdin!.write(chunk)) await waitDrain(child.stdin!);
  child.stdin!.end();
  const received = Number(await done);
  if (received !== total) throw new Error(`reader got ${received} of ${total} bytes`);
  return (performance.now() - start) / 1000;
}

function dd(placement: Placement): number {
  pinSelf(undefined);
  const writer = placement.writer === undefined ? '' : `taskset -c ${placement.writer} `;
  const reader = placement.reader === undefined ? '' : `taskset -c ${placement.reader} `;
  const script = `${writer}dd if=/dev/zero bs=64K count=${total / CHUNK} status=none | ${reader}dd of=/dev/null bs=64K status=none`;
  const start = performance.now();
  const result = spawnSync('sh', ['-c', script], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error('dd failed');
  return (performance.now() - start) / 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const variants: Array<[string, (p: Placement) => Promise<number> | number]> = [
  ['dd | dd (C, read/write 64 KiB)', dd],
  ['unipc PipeWriter.stream → .stream', (p) => unipc('stream', p)],
  ['unipc write() → read()', (p) => unipc('read', p)],
  ['unipc writeSync() → readSync()', (p) => unipc('readSync', p)],
  ["Node child stdin (socketpair)", nodeStdio],
];

console.log(`pipe throughput, ${mib} MiB in 64 KiB writes, median of ${runs} runs, GB/s (ratio to dd)\n`);
const header = ['', ...placements.map((p) => p.name)];
console.log(header.map((h, i) => (i === 0 ? h.padEnd(36) : h.padStart(22))).join(''));
const ddRates: number[] = [];
for (const [name, run] of variants) {
  const cells: string[] = [];
  for (const [i, placement] of placements.entries()) {
    const times: number[] = [];
    for (let r = 0; r < runs; r++) times.push(await run(placement));
    const rate = total / median(times) / 1e9;
    if (name.startsWith('dd')) ddRates[i] = rate;
    cells.push(`${rate.toFixed(2)} (${(rate / ddRates[i]).toFixed(2)}×)`.padStart(22));
  }
  console.log(name.padEnd(36) + cells.join(''));
}
pinSelf(undefined);
