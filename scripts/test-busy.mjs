// The suite on a busy machine: scripts/test.mjs on the machine's own IPC namespace (UNIPC_TEST_NAMESPACE=0),
// while another process creates and removes IPC objects of every kind in a loop, as other programs do.
// Passes only if the suite does: nothing in it may depend on the machine holding still, and the leak
// check may not count the other program's objects.
//   node scripts/test-busy.mjs [--all | test files...]        (npm run test:busy)
// By default every test file runs but those listed in NAMESPACE_FREE (scripts/test-files.mjs): files that
// make no System V object and no POSIX name (pipes, socketpairs, memfds, the benchmark's CI cases, pure
// TypeScript), which the other program cannot reach, so running them again here only costs time (about
// a third of the suite's). A new test file runs here until it is listed there; a listed file that comes
// to use a System V object or a POSIX name runs anyway, with a notice. --all runs every file.
import { spawn, spawnSync } from 'node:child_process';
import { globalIpcUse, listTests, NAMESPACE_FREE, root } from './test-files.mjs';

const args = process.argv.slice(2);
const files = args.filter((arg) => arg !== '--all');
if (files.length === 0 && !args.includes('--all')) {
  const left = [];
  for (const file of listTests()) {
    if (!NAMESPACE_FREE.has(file)) {
      files.push(file);
      continue;
    }
    const use = globalIpcUse(file);
    if (use === undefined) {
      left.push(file);
      continue;
    }
    console.error(`test:busy: ${file} is listed as namespace-free but uses ${use}: run anyway (unlist it)`);
    files.push(file);
  }
  console.log(
    `test:busy: ${files.length} test files, those that make System V objects or POSIX names; the ${left.length} ` +
      `that make none, which no other program can reach, are not run again: ${left.join(', ')} (--all runs them)`,
  );
}

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
const suite = spawnSync(process.execPath, ['scripts/test.mjs', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, UNIPC_TEST_NAMESPACE: '0' },
});
other.kill('SIGTERM');
await new Promise((resolve) => other.once('exit', resolve));
process.exitCode = suite.status ?? 1;
