// Plain Node, no unipc on the main thread: a worker thread loads the package, makes a thread wait, and
// exits. The process must outlive the waiter thread's idle retirement (run with a short
// UNIPC_WAITER_IDLE_MS): the addon may not be unloaded while its threads still run in it.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

const [fifo] = process.argv.slice(2);
const code = `
const { parentPort, workerData } = require('node:worker_threads');
import('unipc').then(async (u) => {
  u.mkfifo(workerData.fifo);
  const outcome = await u.openFifo(workerData.fifo, 'r', { timeout: 20 }).catch((e) => e.code);
  parentPort.postMessage({ outcome, threads: u.waiterStats().threads });
});`;
const worker = new Worker(code, { eval: true, workerData: { fifo } });
// Listened for before the message is awaited: the worker may be gone by the time the message is handled.
const exited = new Promise((resolve) => worker.once('exit', resolve));
const report = await new Promise((resolve) => worker.once('message', resolve));
await exited;
fs.rmSync(fifo);
await sleep(Number(process.env.UNIPC_WAITER_IDLE_MS) * 5 + 300);
const mapped = fs.readFileSync('/proc/self/maps', 'utf8').includes('unipc.node');
console.log(JSON.stringify({ ...report, mapped }));
