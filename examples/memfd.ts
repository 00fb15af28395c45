// Anonymous shared memory for a spawned child: a memfd handed over as fd 3, mapped on both sides, with a
// counter both processes add to using Atomics. Run: npx tsx examples/memfd.ts
import { MemoryFile, spawn } from 'unipc';

if (process.argv[2] === 'child') {
  using file = MemoryFile.fromFd(3);
  using map = file.map();
  const counter = new Int32Array(map.buffer);
  for (let i = 0; i < 1_000_000; i++) Atomics.add(counter, 0, 1);
} else {
  using file = MemoryFile.create('example', { size: 4096 });
  using map = file.map();
  const counter = new Int32Array(map.buffer);
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'child'], {
    stdio: 'inherit',
    fds: [file.fd],
  });
  for (let i = 0; i < 1_000_000; i++) Atomics.add(counter, 0, 1);
  await new Promise((resolve) => child.on('exit', resolve));
  console.log(`two processes added 1,000,000 each: counter = ${Atomics.load(counter, 0)}`);
}
