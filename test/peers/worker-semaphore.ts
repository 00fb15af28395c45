// Runs inside a worker thread: opens the named semaphore workerData.name twice, leaves one handle open
// and a wait pending on the other, never closing either, then reports "waiting".
import { parentPort, workerData } from 'node:worker_threads';
import { NamedSemaphore } from '../../src/index.js';

const kept = NamedSemaphore.open(workerData.name as string);
NamedSemaphore.open(workerData.name as string)
  .wait()
  .catch(() => {});
(globalThis as { kept?: unknown }).kept = kept;
parentPort!.postMessage('waiting');
