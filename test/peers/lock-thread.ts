// A worker thread adding to the counter at byte 64 of a shared mapping under the Mutex at byte 0.
import { workerData } from 'node:worker_threads';
import { Mapping, Mutex } from '../../src/index.js';

const mapping = Mapping.fromShared(workerData.token);
const mutex = new Mutex(mapping);
const counter = new Int32Array(mapping.buffer, 64, 1);
for (let i = 0; i < workerData.count; i++) {
  if (i % 2) mutex.withLockSync(() => (counter[0] = counter[0] + 1));
  else {
    using _ = await mutex.lock();
    counter[0] = counter[0] + 1;
  }
}
mapping.close();
