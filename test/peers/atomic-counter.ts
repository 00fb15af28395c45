// Adds 1 to the Int32 at index 0 of a shared mapping `count` times with Atomics.add, then reports.
// The memory is a MemoryFile inherited as fd 3, or a POSIX shared memory object named by argv[3].
import { MemoryFile, SharedMemory } from '../../src/index.js';

const [count, kind, name] = process.argv.slice(2);
const owner = kind === 'shm' ? SharedMemory.open(name) : MemoryFile.fromFd(3);
const mapping = owner.map();
const counter = new Int32Array(mapping.buffer);
for (let i = 0, n = Number(count); i < n; i++) Atomics.add(counter, 0, 1);
mapping.close();
owner.close();
console.log('done');
