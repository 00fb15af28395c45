// The suite on a busy machine: scripts/test.mjs on the machine's own IPC namespace (UNIPC_TEST_NAMESPACE=0),
// while another process creates and removes IPC objects of every kind in a loop, as other programs do.
// Passes only if the suite does: nothing in it may depend on the machine holding still, and the leak
// check may not count the other program's objects.
//   node scripts/test-busy.mjs [test files...]        (npm run test:busy)
import { spawn, spawnSync } from 'node:child_process';
import { root } from './addon-build.mjs';

// The other program: one object of each kind made and removed every few milliseconds. System V keys
// have bits 16–30 clear (no test run's tag), POSIX names no run token.
const churn = `
const u = await import(${JSON.stringify(`${root}/dist/esm/index.js`)});
const { setTimeout: sleep } = await import('node:timers/promises');
let made = 0;
let stopping = false;
// A key someone else holds is left to them (exclusive), and a private object made instead.
const get = (Kind, key, options) => {
  try {
    return Kind.get(key, { ...options, create: true, exclusive: true });
  } catch (error) {
    if (error.code !== 'EEXIST') throw error;
    return Kind.get(u.IPC_PRIVATE, { ...options, create: true });
  }
};
process.on('SIGTERM', () => { stopping = true; });
// Stops between two rounds, so that it leaves nothing behind.
for (let i = 0; !stopping; i++) {
  const key = 1 + (i % 0xfffe);
  const objects = [
    get(u.MessageQueue, i % 2 ? u.IPC_PRIVATE : key, {}),
    get(u.SemaphoreSet, i % 2 ? key : u.IPC_PRIVATE, { count: 1 }),
    u.SysvSharedMemory.get(u.IPC_PRIVATE, { create: true, size: 4096 }),
  ];
  const name = '/other-program-' + process.pid + '-' + i;
  u.SharedMemory.open(name, { create: true, size: 4096 }).close();
  u.NamedSemaphore.open(name, { create: true }).close();
  u.PosixQueue.open(name, { create: true, mode: 0o600 }).close();
  await sleep(2);
  for (const object of objects) object.remove();
  u.SharedMemory.unlink(name);
  u.NamedSemaphore.unlink(name);
  u.PosixQueue.unlink(name);
  made += 6;
  await sleep(3);
}
console.error('test:busy: the other program made and removed ' + made + ' objects');
`;

const other = spawn(process.execPath, ['--input-type=module', '-e', churn], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'inherit'],
});
const suite = spawnSync(process.execPath, ['scripts/test.mjs', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, UNIPC_TEST_NAMESPACE: '0' },
});
other.kill('SIGTERM');
await new Promise((resolve) => other.once('exit', resolve));
process.exitCode = suite.status ?? 1;
