// Runs inside a worker thread: leaves a FIFO open and a socket receive pending, then reports "waiting".
import { parentPort, workerData } from 'node:worker_threads';
import { openFifo, socketpair } from '../../src/index.js';

const [a, b] = socketpair('seqpacket');
void a;
b.receive().catch(() => {});
openFifo(workerData.path as string, 'r').catch(() => {});
parentPort!.postMessage('waiting');
