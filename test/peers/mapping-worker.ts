// Runs in a worker thread: views the pages of a shared Mapping, adds to a counter with Atomics, and
// reports what it saw; then waits for "close" before closing its view.
import { parentPort, workerData } from 'node:worker_threads';
import { Mapping } from '../../src/index.js';

const mapping = Mapping.fromShared(workerData.token);
const counter = new Int32Array(mapping.buffer);
const seen = Atomics.load(counter, 1);
for (let i = 0; i < workerData.adds; i++) Atomics.add(counter, 0, 1);
parentPort!.postMessage({ seen, length: mapping.length });
parentPort!.once('message', () => {
  mapping.close();
  parentPort!.postMessage('closed');
});
