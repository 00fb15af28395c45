// One side of bench/locks.ts's contended run: `n` locked increments of the counter at byte 64 through
// unipc's Mutex at byte 0 of a POSIX shared memory object, counting ownership changes (handoffs).
//   lock-contender.ts <shm-name> <sync|async> <n> <id>
import { Mutex, SharedMemory } from '../../src/index.js';

const [name, mode, count, idText] = process.argv.slice(2);
const memory = SharedMemory.open(name);
const mapping = memory.map();
const mutex = new Mutex(mapping);
const words = new Int32Array(mapping.buffer, 64, 4); // counter, last owner, start flag, ready count
const n = Number(count);
const id = Number(idText);
Atomics.add(words, 3, 1);
while (Atomics.load(words, 2) === 0) {
  // spin until the start flag, as the C side does
}
let handoffs = 0;
const start = performance.now();
if (mode === 'sync') {
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
