// Lock costs, unipc's futex Mutex next to C in one run (bench/c/mutex_bench.c, compiled here):
// - uncontended lock+unlock, ns: Mutex lockSync()+unlock(), tryLock()+unlock(), await lock()+unlock();
//   C: process-shared pthread_mutex (plain and robust) and include/unipc/lock.h;
// - two processes contending: each does `n` locked increments of a shared counter; reported are
//   lock acquisitions per second for both together and handoffs (the lock changing process) per
//   second — same CPU (taskset -c 0 for both), across CPUs (-c 0 / -c 1) and unpinned, median of runs.
//   node --import tsx bench/locks.ts [contended n, default 200000] [runs, default 5]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Mutex, mapAnonymous, SharedMemory } from '../src/index.js';

const [n = 200_000, runs = 5, turns = 20_000] = process.argv.slice(2).map(Number);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');

function compileReference(): string {
  const output = path.join(here, '..', 'build', 'bench', 'mutex-bench'); // build/ is git-ignored
  fs.mkdirSync(path.dirname(output), { recursive: true });
  const source = path.join(here, 'c', 'mutex_bench.c');
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-I', path.join(root, 'include'), '-o', output, source], {
    stdio: 'inherit',
  });
  return output;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function nodeUncontended(): Record<string, number> {
  using mapping = mapAnonymous(4096, { shared: true });
  const mutex = new Mutex(mapping);
  const count = 5_000_000;
  const time = (body: () => void, iterations = count) => {
    for (let i = 0; i < iterations / 10; i++) body();
    const start = performance.now();
    for (let i = 0; i < iterations; i++) body();
    return ((performance.now() - start) * 1e6) / iterations;
  };
  return {
    'lockSync()+unlock()': median([0, 1, 2].map(() => time(() => mutex.lockSync().unlock()))),
    'tryLock()+unlock()': median([0, 1, 2].map(() => time(() => mutex.tryLock()!.unlock()))),
  };
}

async function nodeUncontendedAsync(): Promise<number> {
  using mapping = mapAnonymous(4096, { shared: true });
  const mutex = new Mutex(mapping);
  const count = 1_000_000;
  const samples: number[] = [];
  for (let run = 0; run < 3; run++) {
    const start = performance.now();
    for (let i = 0; i < count; i++) (await mutex.lock()).unlock();
    samples.push(((performance.now() - start) * 1e6) / count);
  }
  return median(samples);
}

type Contender =
  | { kind: 'c'; lock: string; alternate?: boolean }
  | { kind: 'node'; mode: 'sync' | 'async' | 'alternate' | 'hold' };
/** Increments per turn in the contenders' `hold` mode (bench/peers/lock-contender.ts). */
const HOLD = 50;
type Placement = 'same CPU' | 'cross CPU' | 'unpinned';

async function contend(
  binary: string,
  contender: Contender,
  placement: Placement,
  env: NodeJS.ProcessEnv = process.env,
  rounds = n,
): Promise<{ ops: number; handoffs: number }> {
  const name = `/unipc-bench-${randomBytes(6).toString('hex')}`;
  const memory = SharedMemory.open(name, { create: true, exclusive: true, size: 4096 });
  const mapping = memory.map();
  try {
    if (contender.kind === 'c') execFileSync(binary, ['init', contender.lock, name]);
    const words = new Int32Array(mapping.buffer, 64, 5);
    const alternate = contender.kind === 'c' ? contender.alternate === true : contender.mode === 'alternate';
    const count = alternate ? turns : rounds;
    words[4] = 1;
    const children = [0, 1].map((id) => {
      const command =
        contender.kind === 'c'
          ? [binary, contender.alternate ? 'alternate' : 'contend', contender.lock, name, String(count), String(id + 1)]
          : [
              process.execPath,
              '--import',
              'tsx',
              path.join(here, 'peers', 'lock-contender.ts'),
              name,
              contender.mode,
              String(count),
              String(id + 1),
            ];
      const pinned =
        placement === 'unpinned' ? command : ['taskset', '-c', placement === 'same CPU' ? '0' : String(id), ...command];
      const child = spawn(pinned[0], pinned.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], cwd: root, env });
      let out = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      return new Promise<{ seconds: number; handoffs: number }>((resolve, reject) =>
        // 'close', not 'exit': only then has all of stdout arrived.
        child.on('close', (code) => {
          try {
            if (code !== 0) throw new Error(`contender exited ${code}`);
            resolve(JSON.parse(out));
          } catch (error) {
            reject(error);
          }
        }),
      );
    });
    while (Atomics.load(words, 3) < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    Atomics.store(words, 2, 1);
    const results = await Promise.all(children);
    const expected = 2 * count * (contender.kind === 'node' && contender.mode === 'hold' ? HOLD : 1);
    if (words[0] !== expected) throw new Error(`lost updates: ${words[0]} of ${expected}`);
    const seconds = Math.max(...results.map((r) => r.seconds));
    return { ops: (2 * count) / seconds, handoffs: results.reduce((sum, r) => sum + r.handoffs, 0) / seconds };
  } finally {
    mapping.close();
    memory.close();
    SharedMemory.unlink(name);
  }
}

const binary = compileReference();
console.log(`uncontended lock+unlock, ns (median of 3)`);
const cFigures = Object.fromEntries(
  ['pthread', 'robust', 'unipc'].map((lock) => [
    lock,
    median(
      [0, 1, 2].map(() => JSON.parse(execFileSync(binary, ['uncontended', lock, '20000000'], { encoding: 'utf8' })).ns),
    ),
  ]),
);
const rows: Array<[string, number]> = [
  ['C pthread_mutex (process-shared)', cFigures.pthread],
  ['C pthread_mutex (process-shared, robust)', cFigures.robust],
  ['C include/unipc/lock.h', cFigures.unipc],
  ...Object.entries(nodeUncontended()).map(([name, ns]) => [`unipc Mutex ${name}`, ns] as [string, number]),
  ['unipc Mutex (await lock()).unlock()', await nodeUncontendedAsync()],
];
for (const [name, ns] of rows)
  console.log(
    `  ${name.padEnd(44)}${ns.toFixed(1).padStart(8)}  (${(ns / cFigures.robust).toFixed(2)}× robust pthread)`,
  );

console.log(`\ntwo processes × ${n} locked increments: acquisitions/s and handoffs/s, median of ${runs} runs`);
const contenders: Array<[string, Contender]> = [
  ['C pthread_mutex (process-shared)', { kind: 'c', lock: 'pthread' }],
  ['C pthread_mutex (robust)', { kind: 'c', lock: 'robust' }],
  ['C include/unipc/lock.h', { kind: 'c', lock: 'unipc' }],
  ['unipc Mutex lockSync()', { kind: 'node', mode: 'sync' }],
  ['unipc Mutex await lock()', { kind: 'node', mode: 'async' }],
];
const placements: Placement[] = ['same CPU', 'cross CPU', 'unpinned'];
console.log(`  ${''.padEnd(36)}${placements.map((p) => p.padStart(24)).join('')}`);
const format = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(0)}k`);
for (const [name, contender] of contenders) {
  const cells: string[] = [];
  for (const placement of placements) {
    const samples = [];
    for (let run = 0; run < runs; run++) samples.push(await contend(binary, contender, placement));
    cells.push(
      `${format(median(samples.map((s) => s.ops)))} / ${format(median(samples.map((s) => s.handoffs)))}`.padStart(24),
    );
  }
  console.log(`  ${name.padEnd(36)}${cells.join('')}`);
}

console.log(`\nhandoffs: two processes take ${turns} turns each, strictly alternating (every turn passes the lock`);
console.log(`to the other process), handoffs/s, median of ${runs} runs. Not on one CPU: there a turn waits for the`);
console.log(`scheduler to preempt the other process, whatever the lock`);
const apart: Placement[] = ['cross CPU', 'unpinned'];
console.log(`  ${''.padEnd(36)}${apart.map((p) => p.padStart(24)).join('')}`);
const alternating: Array<[string, Contender]> = [
  ['C pthread_mutex (process-shared)', { kind: 'c', lock: 'pthread', alternate: true }],
  ['C pthread_mutex (robust)', { kind: 'c', lock: 'robust', alternate: true }],
  ['C include/unipc/lock.h', { kind: 'c', lock: 'unipc', alternate: true }],
  ['unipc Mutex lockSync()', { kind: 'node', mode: 'alternate' }],
];
for (const [name, contender] of alternating) {
  const cells: string[] = [];
  for (const placement of apart) {
    const samples = [];
    for (let run = 0; run < runs; run++) samples.push(await contend(binary, contender, placement));
    cells.push(format(median(samples.map((s) => s.handoffs))).padStart(24));
  }
  console.log(`  ${name.padEnd(36)}${cells.join('')}`);
}

console.log(
  `\nspin before sleeping (UNIPC_SPIN_LIMIT): unipc Mutex lockSync() held for ${HOLD} increments, then as many`,
);
console.log(`outside, by two processes × ${n / 4} rounds: acquisitions/s / handoffs/s, median of ${runs} runs`);
console.log(`  ${'spins'.padEnd(36)}${(['cross CPU', 'unpinned'] as Placement[]).map((p) => p.padStart(24)).join('')}`);
for (const spins of [0, 50, 200, 1000, 5000]) {
  const cells: string[] = [];
  for (const placement of ['cross CPU', 'unpinned'] as Placement[]) {
    const samples = [];
    const env = { ...process.env, UNIPC_SPIN_LIMIT: String(spins) };
    for (let run = 0; run < runs; run++)
      samples.push(await contend(binary, { kind: 'node', mode: 'hold' }, placement, env, n / 4));
    cells.push(
      `${format(median(samples.map((s) => s.ops)))} / ${format(median(samples.map((s) => s.handoffs)))}`.padStart(24),
    );
  }
  console.log(`  ${String(spins).padEnd(36)}${cells.join('')}`);
}
