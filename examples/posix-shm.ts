// POSIX shared memory by name, as C's shm_open or Python's multiprocessing.shared_memory use it.
// Run: npx tsx examples/posix-shm.ts
import { SharedMemory, spawn } from 'unipc';

const [role, name] = process.argv.slice(2);
if (role === 'child') {
  using shm = SharedMemory.open(name);
  using map = shm.map();
  console.log(
    `child ${process.pid} read from ${name}: ${Buffer.from(map.buffer).toString('utf8', 0, 64).replace(/\0+$/, '')}`,
  );
} else {
  const shmName = `/unipc-example-${process.pid}`;
  using shm = SharedMemory.open(shmName, { create: true, exclusive: true, size: 4096 }); // /dev/shm, mode 0o600
  using map = shm.map();
  Buffer.from(map.buffer).write(`written by ${process.pid}`);
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'child', shmName], { stdio: 'inherit' });
  await new Promise((resolve) => child.on('exit', resolve));
  SharedMemory.unlink(shmName);
}
