// "Another program" for the suite's busy runs (scripts/test-busy.mjs, and one major of the Node matrix with
// --busy): a process that creates and removes IPC objects of every kind in a loop, one of each kind every
// few milliseconds, on the machine's namespaces, as other programs do. Its System V keys have bits 16–30
// clear (no test run's tag), its POSIX names no run token, so no run's leak check counts them; it takes
// no key someone else holds, and stops between two rounds, so that it leaves nothing behind.
import { spawn } from 'node:child_process';
import { root } from './test-files.mjs';

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
console.log(made);
`;

/**
 * Starts the other program (on this Node, with the addon dist/ loads by default). `stop()` resolves with
 * how many objects it made and removed; it rejects if the program failed, which would leave the busy run
 * quieter than it claims.
 */
export function startOtherProgram() {
  const other = spawn(process.execPath, ['--input-type=module', '-e', churn], {
    cwd: root,
    env: Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'UNIPC_PREBUILD')),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  other.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => other.once('exit', (code, signal) => resolve(code ?? signal)));
  return {
    async stop() {
      other.kill('SIGTERM');
      const status = await exited;
      if (status !== 0) throw new Error(`the other program failed (${status}) before it was stopped`);
      return Number(output.trim());
    },
  };
}
