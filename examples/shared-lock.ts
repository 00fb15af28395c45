// Two processes share a counter in a memfd and take turns through a Mutex that lives in the same
// memory; a Semaphore there tells the parent when the child is done. Run: npx tsx examples/shared-lock.ts
import { MemoryFile, Mutex, Semaphore, spawn } from 'unipc';

// Layout of the shared page: the mutex at 0, the semaphore at 8, the counter at 64.
const ROUNDS = 100_000;

if (process.argv[2] === 'child') {
  using file = MemoryFile.fromFd(3);
  using map = file.map();
  const mutex = new Mutex(map, 0);
  const counter = new Int32Array(map.buffer, 64, 1);
  for (let i = 0; i < ROUNDS; i++) {
    using _ = mutex.lockSync();
    counter[0] = counter[0] + 1; // read-modify-write: safe only under the lock
  }
  new Semaphore(map, 8).post();
} else {
  using file = MemoryFile.create('example', { size: 4096 });
  using map = file.map();
  const mutex = new Mutex(map, 0);
  const done = new Semaphore(map, 8);
  const counter = new Int32Array(map.buffer, 64, 1);
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'child'], {
    stdio: 'inherit',
    fds: [file.fd],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve)); // now: it may exit while this one awaits
  for (let i = 0; i < ROUNDS; i++) {
    using _ = await mutex.lock(); // waits on a waiter thread: the event loop stays free
    counter[0] = counter[0] + 1;
  }
  await done.wait({ timeout: 30_000 });
  await exited;
  console.log(`two processes added ${ROUNDS} each under one Mutex: counter = ${counter[0]}`);
}
