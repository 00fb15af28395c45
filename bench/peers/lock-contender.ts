// One side of bench/locks.ts's contended run: `n` locked increments of the counter at byte 64 through
// unipc's Mutex at byte 0 of a POSIX shared memory object, counting ownership changes (handoffs).
//   lock-contender.ts <shm-name> <sync|async|alternate> <n> <id>
// `alternate`: n turns strictly alternating with the other process (id 3 - id), as mutex_bench.c does.
// `hold`: n times, HOLD increments of the counter under the lock, then as many of a private one outside
// it: the lock is held long enough that a waiter must choose between spinning and sleeping.
import { Mutex, SharedMemory } from '../../src/index.js';

const [name, mode, count, idText] = process.argv.slice(2);
const memory = SharedMemory.open(name);
const mapping = memory.map();
const mutex = new Mutex(mapping);
const words = new Int32Array(mapping.buffer, 64, 5); // counter, last owner, start flag, ready count, turn
const n = Number(count);
const HOLD = 50;
const id = Number(idText);
Atomics.add(words, 3, 1);
const giveUp = performance.now() + 30_000; // never outlive an interrupted benchmark
while (Atomics.load(words, 2) === 0) {
  if (performance.now() > giveUp) throw new Error('never started');
}
let handoffs = 0;
const start = performance.now();
if (mode === 'hold') {
  const local = new Int32Array(1);
  for (let i = 0; i < n; i++) {
    const guard = mutex.lockSync();
    for (let k = 0; k < HOLD; k++) words[0] = words[0] + 1;
    if (words[1] !== id) {
      handoffs++;
      words[1] = id;
    }
    guard.unlock();
    for (let k = 0; k < HOLD; k++) local[0] = local[0] + 1;
  }
} else if (mode === 'alternate') {
  while (handoffs < n) {
    const guard = mutex.lockSync();
    if (Atomics.load(words, 4) === id) {
      words[0] = words[0] + 1;
      Atomics.store(words, 4, 3 - id);
      handoffs++;
    }
    guard.unlock();
  }
} else if (mode === 'sync') {
  for (let i = 0; i < n; i++) {
    const guard = mutex.lockSync();
    words[0] = words[0] + 1;
    if (words[1] !== id) {
      handoffs++;
      words[1] = id;
    }
    guard.unlock();
  }
} else {
  for (let i = 0; i < n; i++) {
    const guard = await mutex.lock();
    words[0] = words[0] + 1;
    if (words[1] !== id) {
      handoffs++;
      words[1] = id;
    }
    guard.unlock();
  }
}
console.log(JSON.stringify({ seconds: (performance.now() - start) / 1000, handoffs }));
mapping.close();
memory.close();
