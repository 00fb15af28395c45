// Runs in a worker thread: views a shared Mapping, leaves a lock() and a Semaphore wait() pending on it
// (the main thread holds the mutex; the count is 0) and an msync in flight, then waits at a gate that
// the main thread opens at the moment it closes its own view; closes its view there, and reports how
// each pending operation ended.
import { parentPort, workerData } from 'node:worker_threads';
import { Mapping, Mutex, Semaphore } from '../../src/index.js';

const { token, gate } = workerData as { token: { region: number }; gate: Int32Array };
const mapping = Mapping.fromShared(token);
const outcome = (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (error: { code?: string }) => error.code ?? String(error),
  );
const lock = outcome(new Mutex(mapping, 0).lock());
const wait = outcome(new Semaphore(mapping, 8).wait());
const sync = outcome(mapping.sync());
parentPort!.postMessage('ready');
Atomics.wait(gate, 0, 0);
mapping.close();
mapping.close();
const [locked, waited, synced] = await Promise.all([lock, wait, sync]);
let afterClose: string;
try {
  mapping.syncSync();
  afterClose = 'no error';
} catch (error) {
  afterClose = (error as { code: string }).code;
}
parentPort!.postMessage({ locked, waited, synced, afterClose, length: mapping.length });
