// A Node peer for semaphores; prints a line when it has reached the point a test waits for.
//   semaphore.ts undo-hold ID            P on semaphore 0 with SEM_UNDO through the Promise form (a waiter
//                                        thread), prints "holding", then waits to be killed
//   semaphore.ts wait-sync ID            prints "waiting", then waitSync(0); prints "got" or the error code
//   semaphore.ts count-sysv ID SHMID M   M times: P on semaphore 0, ++ the Int32 at 0 of segment SHMID
//                                        (not atomically), V; alternates waitSync() and wait()
//   semaphore.ts count-named NAME SHM M  the same with a named semaphore and a POSIX shared memory object
//   semaphore.ts alter-only KEY          as a user who may alter but not read the set: get, fromId, post, wait
import { IpcError, NamedSemaphore, SemaphoreSet, SharedMemory, SysvSharedMemory } from '../../src/index.js';

const [role, target, memory, times] = process.argv.slice(2);

async function count(
  acquire: (sync: boolean) => Promise<void> | void,
  release: () => void,
  map: { buffer: ArrayBuffer; close(): void },
) {
  const counter = new Int32Array(map.buffer);
  for (let i = 0, n = Number(times); i < n; i++) {
    await acquire(i % 2 === 0);
    const value = counter[0]!;
    counter[0] = value + 1;
    release();
  }
  map.close();
  console.log('done');
}

if (role === 'undo-hold') {
  const set = SemaphoreSet.fromId(Number(target));
  await set.wait(0, { undo: true });
  console.log('holding');
  setInterval(() => {}, 1000);
} else if (role === 'wait-sync') {
  const set = SemaphoreSet.fromId(Number(target));
  console.log('waiting');
  try {
    set.waitSync(0);
    console.log('got');
  } catch (error) {
    console.log(error instanceof IpcError ? error.code : String(error));
  }
} else if (role === 'count-sysv') {
  const set = SemaphoreSet.fromId(Number(target));
  const map = SysvSharedMemory.fromId(Number(memory)).attach();
  await count(
    (sync) => (sync ? set.waitSync(0) : set.wait(0)),
    () => set.post(0),
    map,
  );
} else if (role === 'count-named') {
  using semaphore = NamedSemaphore.open(target!);
  using shm = SharedMemory.open(memory!);
  await count(
    (sync) => (sync ? semaphore.waitSync() : semaphore.wait()),
    () => semaphore.post(),
    shm.map(),
  );
} else if (role === 'alter-only') {
  // Run as a user that may alter but not read the set of key `target`: open it by key and by id, post.
  const set = SemaphoreSet.get(Number(target));
  const byId = SemaphoreSet.fromId(set.id);
  await set.post(0);
  await byId.wait(0);
  set.post(0);
  let read = 'ok';
  try {
    set.get(0);
  } catch (error) {
    read = error instanceof IpcError ? error.code : String(error);
  }
  console.log(JSON.stringify({ count: set.count, idCount: byId.count, read }));
} else {
  throw new Error(`unknown role ${role}`);
}
