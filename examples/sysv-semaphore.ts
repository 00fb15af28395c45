// A System V semaphore set as a mutex between two processes, and SEM_UNDO giving back what a process
// held when it exited. Run: npx tsx examples/sysv-semaphore.ts   (while it runs, `ipcs -s` lists the set)
import { IPC_PRIVATE, SemaphoreSet, SysvSharedMemory, spawn } from 'unipc';

const ROUNDS = 1000;

// Adds 1 to a plain (non-atomic) counter ROUNDS times; the semaphore is what keeps updates from being lost.
async function count(set: SemaphoreSet, counter: Int32Array): Promise<void> {
  for (let i = 0; i < ROUNDS; i++) {
    await set.wait(0, { undo: true }); // P; with undo, the kernel releases it if this process dies
    counter[0] = counter[0]! + 1;
    set.post(0, { undo: true }); // V
  }
}

const [role, setId, segmentId] = process.argv.slice(2);
if (role === 'child') {
  const set = SemaphoreSet.fromId(Number(setId));
  using map = SysvSharedMemory.fromId(Number(segmentId)).attach();
  await count(set, new Int32Array(map.buffer));
  set.waitSync(0, { undo: true }); // taken and never given back: the kernel does it at exit
  console.log(`child ${process.pid} exits holding the semaphore`);
} else {
  const set = SemaphoreSet.get(IPC_PRIVATE, { count: 1, create: true }); // mode 0o600
  const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: 4096, create: true });
  try {
    set.set(0, 1); // one holder at a time
    using map = segment.attach();
    const child = spawn(
      process.execPath,
      [...process.execArgv, process.argv[1]!, 'child', String(set.id), String(segment.id)],
      { stdio: 'inherit' },
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await count(set, new Int32Array(map.buffer));
    await exited;
    console.log(`two processes added ${ROUNDS} each under the semaphore: counter = ${new Int32Array(map.buffer)[0]}`);
    console.log(
      `after the child's exit the semaphore is ${set.get(0)} again (SEM_UNDO), last changed by ${set.lastPid(0)}`,
    );
  } finally {
    segment.remove();
    set.remove(); // IPC_RMID
  }
}
