// Takes unipc's shared-memory locks in a POSIX shared memory object, in another process (or, with
// `worker-*`, in a worker thread of this one). Layout as in test/peers/lock_peer.c:
//   0 mutex, 64 counter (updated non-atomically under the lock), 128 semaphore, 192 condition, 256 flag.
// Usage: locker.ts </shm-name | sysv:<id> | file:<path>> <command> [n]
//   mutex-sync n | mutex-async n | sem-sync n | sem-async n   n locked increments of the counter
//   hold                 take the mutex, print "held <tid>", then wait to be killed
//   worker-hold          a worker thread takes the mutex and ends without releasing it
//   set-flag n           set the flag to n under the mutex and notify the condition
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Condition, Mutex, mmap, Semaphore, SharedMemory, SysvSharedMemory } from '../../src/index.js';

const [name, command, count] = isMainThread ? process.argv.slice(2) : (workerData.args as string[]);
// The memory: a POSIX shared memory name, `sysv:<id>` for a System V segment, `file:<path>` for a file.
const memory = name.startsWith('/') ? SharedMemory.open(name) : undefined;
const mapping = memory
  ? memory.map()
  : name.startsWith('sysv:')
    ? SysvSharedMemory.fromId(Number(name.slice(5))).attach()
    : mmap(name.slice(5), { prot: 'rw' });
const mutex = new Mutex(mapping, 0);
const counter = new Int32Array(mapping.buffer, 64, 1);
const semaphore = new Semaphore(mapping, 128);
const condition = new Condition(mapping, 192);
const flag = new Int32Array(mapping.buffer, 256, 1);
const n = Number(count ?? 0);

switch (command) {
  case 'mutex-sync':
    for (let i = 0; i < n; i++) mutex.withLockSync(() => (counter[0] = counter[0] + 1));
    break;
  case 'mutex-async':
    for (let i = 0; i < n; i++) {
      using guard = await mutex.lock();
      if (guard.ownerDied) guard.markConsistent();
      counter[0] = counter[0] + 1;
    }
    break;
  case 'sem-sync':
    for (let i = 0; i < n; i++) {
      semaphore.waitSync();
      counter[0] = counter[0] + 1;
      semaphore.post();
    }
    break;
  case 'sem-async':
    for (let i = 0; i < n; i++) {
      await semaphore.wait();
      counter[0] = counter[0] + 1;
      semaphore.post();
    }
    break;
  case 'hold': {
    mutex.lockSync();
    console.log(`held ${mutex.owner}`);
    setInterval(() => {}, 1 << 30);
    break;
  }
  case 'worker-hold': {
    if (isMainThread) {
      const worker = new Worker(new URL('./worker-bootstrap.mjs', import.meta.url), {
        workerData: { script: import.meta.url, args: [name, 'worker-hold'] },
      });
      // Listened for before the message is awaited: the worker may be gone by the time it is handled.
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      const tid = await new Promise((resolve) => worker.once('message', resolve));
      await exited;
      console.log(`worker ${tid} gone`);
      setInterval(() => {}, 1 << 30);
    } else {
      mutex.lockSync();
      parentPort!.postMessage(mutex.owner);
    }
    break;
  }
  case 'set-flag':
    mutex.withLockSync(() => {
      flag[0] = n;
      condition.notifyAll();
    });
    break;
  default:
    throw new Error(`unknown command ${command}`);
}
if (isMainThread) {
  mapping.close();
  memory?.close();
  console.log('done');
}
