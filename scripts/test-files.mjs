// The suite's test files, and the subsets some runs leave out, with the reason each file may be left out.
// scripts/test.mjs runs every file; scripts/test-busy.mjs every file but NAMESPACE_FREE;
// scripts/test-node-matrix.mjs every file but MAJOR_INDEPENDENT. Both lists are exceptions: a new test
// file is in every run until it is listed here, so nothing new goes untested by default.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every *.test.ts under test/ (not under a peers/ directory), relative to the root, sorted. */
export function listTests(dir = path.join(root, 'test')) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return entry.name === 'peers' ? [] : listTests(full);
      return entry.name.endsWith('.test.ts') ? [path.relative(root, full)] : [];
    })
    .sort();
}

// Files that touch no global IPC namespace: no System V key or id (not even IPC_PRIVATE ones, whose ids
// are the machine's), no POSIX shared memory, semaphore or queue name, no named Channel, no `unipc ls`/
// `rm`/tour (which list or make such objects), in the file or in the peers it starts. They use pipes,
// FIFOs and sockets at paths in their own directory, socketpairs, abstract sockets (the network
// namespace's, which the busy run's other program does not touch), memfds, anonymous mappings, or no IPC
// at all. Another program creating IPC objects cannot reach what they test, so test:busy gains nothing
// by running them again. A file listed here that comes to mention such an object runs anyway (below).
export const NAMESPACE_FREE = new Map([
  // The benchmark's CI cases (pipes, anonymous shared memory, memfd Channels, socketpairs, process.send);
  // with UNIPC_BENCH_ALL=1 it runs System V and POSIX cases too, and is not namespace-free (below).
  ['test/bench.test.ts', 'benchmark harness: pipe, memfd/anonymous memory, socketpair cases only'],
  ['test/api-examples.test.ts', 'type-checks the @example blocks; runs nothing'],
  ['test/channel-adversarial.test.ts', 'memfd Channels only (Channel.create without a name)'],
  ['test/fault/streams.test.ts', 'pipes, FIFOs in its own directory, socketpairs'],
  ['test/fd.test.ts', 'descriptors of pipes and FIFOs'],
  ['test/helpers.test.ts', 'the test helpers on child processes'],
  ['test/lock.property.test.ts', 'lock argument validation on anonymous mappings and memfds'],
  ['test/package.test.ts', 'the built entry points through the exports map'],
  ['test/pipe.test.ts', 'pipes and FIFOs in its own directory'],
  ['test/ring.test.ts', 'ring arithmetic in ordinary memory'],
  ['test/socket-peer-gone.test.ts', 'a socketpair'],
  ['test/socket.test.ts', 'socketpairs, sockets at paths in its own directory, an abstract socket'],
  ['test/validation.property.test.ts', 'argument validation of pipes, FIFOs and sockets'],
]);

// What a global IPC object looks like in a test or a peer: the classes and calls that make or open one,
// the helpers that name or key one (testKey, ftok, uniqueIpcName, RUN: every POSIX name and System V key
// a test makes goes through them, for the leak check; an abstract socket name, '\0…', aside), a
// Channel opened or unlinked by name, and the unipc commands that list or make such objects.
const GLOBAL_IPC =
  /\b(?:IPC_PRIVATE|ftok\w*|testKey|RUN|uniqueIpcName|SharedMemory|SysvSharedMemory|NamedSemaphore|SemaphoreSet|MessageQueue|PosixQueue|shm_open|sem_open|mq_open|shmget|semget|msgget|Channel\.open|Channel\.unlink)\b|['"](?:ls|rm|tour)['"]/;

/**
 * What in `file` (and in the peers it starts by name: spawnPeer('x'), compilePeer('x'), test/peers/x*)
 * touches a global IPC namespace, or undefined if nothing does.
 */
export function globalIpcUse(file) {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const sources = [[file, text]];
  const peers = path.join(root, 'test', 'peers');
  for (const [, name] of text.matchAll(/(?:spawnPeer|compilePeer)\(\s*'([\w-]+)'/g)) {
    for (const peer of fs.readdirSync(peers).filter((entry) => entry.startsWith(name))) {
      sources.push([`test/peers/${peer}`, fs.readFileSync(path.join(peers, peer), 'utf8')]);
    }
  }
  for (const [where, source] of sources) {
    // Imports aside (whatever is imported and used shows in the code), and abstract socket names.
    const code = source
      .replace(/^import\b[^;]*?\bfrom\s*'[^']*';/gm, '')
      .replaceAll('\\0${uniqueIpcName(', '\\0${abstractName(');
    const match = GLOBAL_IPC.exec(code);
    if (match) return `${where}: ${match[0]}`;
  }
  if (file === 'test/bench.test.ts' && process.env.UNIPC_BENCH_ALL === '1') return 'UNIPC_BENCH_ALL=1';
  return undefined;
}

// Files whose result cannot depend on the Node major: they neither exercise the addon nor Node's own
// APIs beyond reading files. The Node matrix leaves them to the machine's own Node (npm test). Native
// code, buffers, workers, streams and child processes DO depend on the major: every file that exercises
// them (through src/index.ts, the CLI, the docs' programs or the examples) stays in the matrix.
export const MAJOR_INDEPENDENT = new Map([
  // The TypeScript compiler checking the API reference's examples against src/: its result is the same
  // on every Node (it loads test/helpers.ts, and so the addon, but only for the repository's path).
  ['test/api-examples.test.ts', 'type-checks the @example blocks with tsc; runs none of them'],
  // Pure arithmetic of src/ring.ts (no imports) on numbers and ordinary Uint8Arrays.
  ['test/ring.test.ts', "the ring's arithmetic in plain TypeScript"],
  // The benchmark harness (plan, report, result files: ~45 s a major). The mechanisms it drives are each
  // tested on every major by their own suites; `npm run bench` is the place to compare majors' speed.
  ['test/bench.test.ts', "the benchmark harness's plan and reports; its mechanisms have suites of their own"],
]);
