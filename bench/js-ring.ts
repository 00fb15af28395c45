// Where the channel's spin round trip goes between C's floor and the channel: the same round trip, 8 B
// each way, both processes spinning and never sleeping, pinned to CPUs 0 and 1, made five ways in one
// run, in rounds (each way once per round, so a move of the vCPUs on the host shows in every column):
//   C word       bench/c/shm_pingpong.c spin: one word and a buffer per direction (the bench's c/shm-spin)
//   C ring       bench/c/ring.c: the channel's ring design, spinning (c/ring-spin)
//   JS word      the C word's protocol in JavaScript: Atomics.store, then Atomics.load until the echo
//   JS ring      the C ring's code in JavaScript over a shared memfd, nothing more (no checks, no waiting)
//   channel      two Channels, sendSync + receiveIntoSync, spin: Infinity (the bench's unipc/channel-spin)
// Each figure is the median round trip of 200,000 after 20,000 of warm-up; docs/performance.md ("The
// spin round trip: what JavaScript costs") reads it.
//   npm run bench:js-ring [-- rounds, default 5]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Channel, MemoryFile, spawn } from '../src/index.js';

const ROUND_TRIPS = 200_000;
const WARM_UP = 20_000;
const SIZE = 8;
const CAPACITY = 65_536; // the ring of each direction, for the C ring, the JS ring and the channel
const here = path.dirname(fileURLToPath(import.meta.url));
const self = fileURLToPath(import.meta.url);

// ---- The JavaScript ring: ring.c's send_message() and receive_message(), without waiting ----------
// A header page (head at word 16, tail at 32, consumerWaiting at 48, producerWaiting at 49), then the
// records: a u32 length and the bytes padded to 4; -1 sends the reader back to the start.
const HEAD = 16;
const TAIL = 32;
const CONSUMER_WAITING = 48;
const PRODUCER_WAITING = 49;
const WRAP = -1;

interface Ring {
  words: Int32Array;
  data: Uint8Array;
  dataWords: Int32Array;
  knownHead: number;
  knownTail: number;
  ownHead: number;
  ownTail: number;
}

function ringAt(buffer: ArrayBuffer, base: number): Ring {
  return {
    words: new Int32Array(buffer, base, 1024),
    data: new Uint8Array(buffer, base + 4096, CAPACITY),
    dataWords: new Int32Array(buffer, base + 4096, CAPACITY / 4),
    knownHead: 0,
    knownTail: 0,
    ownHead: 0,
    ownTail: 0,
  };
}

function ringSend(ring: Ring, message: Uint8Array): void {
  const length = message.length;
  const need = 4 + ((length + 3) & ~3);
  const tail = ring.ownTail;
  let position = tail & (CAPACITY - 1);
  const skip = position + need > CAPACITY ? CAPACITY - position : 0;
  while (CAPACITY - (tail - ring.knownHead) < skip + need) ring.knownHead = Atomics.load(ring.words, HEAD);
  if (skip > 0) {
    ring.dataWords[position >> 2] = WRAP;
    position = 0;
  }
  ring.dataWords[position >> 2] = length;
  for (let i = 0; i < length; i++) ring.data[position + 4 + i] = message[i]!;
  ring.ownTail = (tail + skip + need) | 0;
  Atomics.store(ring.words, TAIL, ring.ownTail);
  if (Atomics.load(ring.words, CONSUMER_WAITING) !== 0) throw new Error('nobody sleeps here');
}

function ringReceive(ring: Ring, into: Uint8Array): number {
  let head = ring.ownHead;
  while (head === ring.knownTail) ring.knownTail = Atomics.load(ring.words, TAIL);
  let position = head & (CAPACITY - 1);
  let length = ring.dataWords[position >> 2]!;
  if (length === WRAP) {
    head = (head + CAPACITY - position) | 0;
    position = 0;
    length = ring.dataWords[0]!;
  }
  for (let i = 0; i < length; i++) into[i] = ring.data[position + 4 + i]!;
  ring.ownHead = (head + 4 + ((length + 3) & ~3)) | 0;
  Atomics.store(ring.words, HEAD, ring.ownHead);
  if (Atomics.load(ring.words, PRODUCER_WAITING) !== 0) throw new Error('nobody sleeps here');
  return length;
}

// ---- The three JavaScript ways: a client (timing) and an echo, in two processes ----------------------
type Way = 'js-word' | 'js-ring' | 'channel';

function pin(pid: number, cpu: number): void {
  execFileSync('taskset', ['-apc', String(cpu), String(pid)], { stdio: 'ignore' });
}

function median(samples: Float64Array): number {
  const sorted = Float64Array.from(samples).sort();
  return sorted[sorted.length >> 1]!;
}

// Runs the echo end of `way` on fds 3 (and 4), in this process.
function echo(way: Way): void {
  const into = Buffer.alloc(CAPACITY);
  const total = WARM_UP + ROUND_TRIPS;
  if (way === 'channel') {
    using there = Channel.fromFd(3, { spin: Infinity });
    using back = Channel.fromFd(4, { spin: Infinity });
    for (let i = 0; i < total; i++) back.sendSync(into.subarray(0, there.receiveIntoSync(into)!));
    return;
  }
  using file = MemoryFile.fromFd(3);
  using mapping = file.map();
  if (way === 'js-word') {
    const words = new Int32Array(mapping.buffer);
    for (let i = 1; i <= total; i++) {
      while (Atomics.load(words, 0) !== i);
      Atomics.store(words, 32, i);
    }
    return;
  }
  const there = ringAt(mapping.buffer, 0);
  const back = ringAt(mapping.buffer, 4096 + CAPACITY);
  for (let i = 0; i < total; i++) {
    const length = ringReceive(there, into);
    ringSend(back, into.subarray(0, length));
  }
}

// The client end of `way`: the median round trip in µs.
async function client(way: Way): Promise<number> {
  const message = Buffer.alloc(SIZE, 0x5a);
  const into = Buffer.alloc(CAPACITY);
  const samples = new Float64Array(ROUND_TRIPS);
  let roundTrip: (i: number) => void;
  let fds: number[];
  const owned: Disposable[] = [];
  if (way === 'channel') {
    const there = Channel.create({ capacity: CAPACITY, spin: Infinity });
    const back = Channel.create({ capacity: CAPACITY, spin: Infinity });
    owned.push(there, back);
    fds = [there.fd, back.fd];
    roundTrip = () => {
      there.sendSync(message);
      back.receiveIntoSync(into);
    };
  } else {
    const file = MemoryFile.create('js-ring', { size: 2 * (4096 + CAPACITY) });
    const mapping = file.map();
    owned.push(mapping, file);
    fds = [file.fd];
    if (way === 'js-word') {
      const words = new Int32Array(mapping.buffer);
      roundTrip = (i) => {
        Atomics.store(words, 0, i + 1);
        while (Atomics.load(words, 32) !== i + 1);
      };
    } else {
      const there = ringAt(mapping.buffer, 0);
      const back = ringAt(mapping.buffer, 4096 + CAPACITY);
      roundTrip = () => {
        ringSend(there, message);
        ringReceive(back, into);
      };
    }
  }
  try {
    const child = spawn(process.execPath, [...process.execArgv, self, '--echo', way], { stdio: 'inherit', fds });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    pin(child.pid!, 1);
    pin(process.pid, 0);
    for (let i = 0; i < WARM_UP; i++) roundTrip(i);
    let previous = performance.now();
    for (let i = 0; i < ROUND_TRIPS; i++) {
      roundTrip(WARM_UP + i);
      const now = performance.now();
      samples[i] = now - previous;
      previous = now;
    }
    await exited;
    return median(samples) * 1000;
  } finally {
    for (const resource of owned) resource[Symbol.dispose]();
  }
}

// ---- The C ways, compiled in this run ------------------------------------------------------------------
function compile(directory: string, program: string): string {
  const output = path.join(directory, program);
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', output, path.join(here, 'c', `${program}.c`)], {
    stdio: 'inherit',
  });
  return output;
}

function runC(binary: string, mechanism: string, extra: string[]): number {
  const args = [mechanism, 'rtt', '0', '1', String(SIZE), String(ROUND_TRIPS), String(WARM_UP), ...extra];
  const lines = execFileSync(binary, args, { encoding: 'utf8' }).trim().split('\n');
  return (JSON.parse(lines.at(-1)!) as { median: number }).median;
}

if (process.argv[2] === '--echo') {
  echo(process.argv[3] as Way);
} else {
  const rounds = Number(process.argv[2] ?? 5);
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-js-ring-'));
  try {
    const word = compile(directory, 'shm_pingpong');
    const ring = compile(directory, 'ring');
    const columns = ['C word', 'C ring', 'JS word', 'JS ring', 'channel'];
    console.log(`spin round trip of ${SIZE} B, median µs; ratios to the C ring (pinned to CPUs 0 and 1)`);
    console.log(['round', ...columns, 'JS ring ÷ C ring', 'channel ÷ JS ring', 'channel ÷ C word'].join('\t'));
    for (let round = 1; round <= rounds; round++) {
      const cWord = runC(word, 'spin', []);
      const cRing = runC(ring, 'channel', [`${CAPACITY}:2000000000`]);
      const jsWord = await client('js-word');
      const jsRing = await client('js-ring');
      const channel = await client('channel');
      const figures = [cWord, cRing, jsWord, jsRing, channel].map((us) => us.toFixed(3));
      const ratios = [jsRing / cRing, channel / jsRing, channel / cWord].map((r) => r.toFixed(2));
      console.log([round, ...figures, ...ratios].join('\t'));
    }
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
}
