// Runs inside a worker thread: a connect() that must wait (the listener's backlog is full), then "waiting".
import { parentPort, workerData } from 'node:worker_threads';
import { connect, waiterStats } from '../../src/index.js';

connect(workerData.name as string).catch(() => {});
const poll = setInterval(() => {
  if (waiterStats().pending > 0) {
    clearInterval(poll);
    parentPort!.postMessage('waiting');
  }
}, 5);
