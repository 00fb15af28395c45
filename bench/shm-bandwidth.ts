// Bandwidth of copying into shared memory from TypeScript — Buffer.copy, TypedArray.set — next to C's
// memcpy (bench/c/memcpy_bandwidth.c, compiled in this run), into a shared memfd mapping and into
// ordinary memory, in one run. Both sides copy `total` bytes in `chunk` pieces, cycling through a
// window of the destination after one untimed pass that faults its pages in: a 1 MiB window stays in
// the caches (the figure machine-notes.md quotes), a 64 MiB one goes to DRAM.
//   node --import tsx bench/shm-bandwidth.ts [total MiB, default 1024] [chunk KiB, default 1024]
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryFile } from '../src/index.js';

const [totalMiB = 1024, chunkKiB = 1024] = process.argv.slice(2).map(Number);
const total = totalMiB * 2 ** 20;
const chunk = chunkKiB * 2 ** 10;
const here = path.dirname(fileURLToPath(import.meta.url));

function compileReference(): string {
  const output = path.join(here, '..', 'build', 'bench', 'memcpy'); // build/ is git-ignored
  fs.mkdirSync(path.dirname(output), { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', output, path.join(here, 'c', 'memcpy_bandwidth.c')], {
    stdio: 'inherit',
  });
  return output;
}

// GB/s of `copy(offset)` repeated until `total` bytes are copied.
function measure(window: number, copy: (offset: number) => void): number {
  for (let offset = 0; offset < window; offset += chunk) copy(offset);
  const start = performance.now();
  let offset = 0;
  for (let done = 0; done < total; done += chunk) {
    copy(offset);
    offset += chunk;
    if (offset >= window) offset = 0;
  }
  return total / ((performance.now() - start) / 1000) / 1e9;
}

const source = randomFillSync(Buffer.allocUnsafe(chunk));
const binary = compileReference();
console.log(`copying ${totalMiB} MiB in ${chunkKiB} KiB pieces, GB/s (ratio to C memcpy into the same kind of memory)`);
for (const windowMiB of [1, 64]) {
  const window = Math.max(windowMiB * 2 ** 20, chunk);
  const file = MemoryFile.create('bench', { size: window });
  const mapping = file.map();
  const shared = Buffer.from(mapping.buffer);
  const heap = Buffer.alloc(window);
  const args = [String(totalMiB), String(chunkKiB), String(window / 2 ** 20)];
  const reference = JSON.parse(execFileSync(binary, args, { encoding: 'utf8' }));
  const rows: Array<[string, number, number]> = [
    ['C memcpy', reference.shared, reference.heap],
    [
      'Buffer.copy (source.copy(target, offset))',
      measure(window, (o) => source.copy(shared, o)),
      measure(window, (o) => source.copy(heap, o)),
    ],
    [
      'TypedArray.set (target.set(source, offset))',
      measure(window, (o) => shared.set(source, o)),
      measure(window, (o) => heap.set(source, o)),
    ],
  ];
  mapping.close();
  file.close();
  console.log(
    `\ninto a ${windowMiB} MiB window${''.padEnd(22)}${'shared memfd mapping'.padStart(24)}${'ordinary memory'.padStart(22)}`,
  );
  for (const [name, intoShared, intoHeap] of rows) {
    const cell = (value: number, base: number) => `${value.toFixed(2)} (${(value / base).toFixed(2)}×)`;
    console.log(
      `${name.padEnd(46)}${cell(intoShared, reference.shared).padStart(24)}${cell(intoHeap, reference.heap).padStart(22)}`,
    );
  }
}
fs.rmSync(binary);
