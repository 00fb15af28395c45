// A worker thread of portable-views.ts: a channel of its own, zero-copy messages through it, then a close
// with a reservation and a view still lent, and process.exit() at once, so that the thread's teardown
// (not the event loop) runs the finalizers of the last windows.
import { workerData } from 'node:worker_threads';
import { Channel } from '../../src/channel.js';
import { constants, native } from '../../src/native.js';

const producer = Channel.create({ capacity: (workerData as { ring: number }).ring });
const consumer = Channel.fromFd(native.fcntl(producer.fd, constants.F_DUPFD_CLOEXEC, 0));
for (let i = 0; i < 100; i++) {
  producer.reserveSync(1000).fill(i);
  producer.commit();
  consumer.receiveViewSync();
  consumer.release();
}
producer.trySend('x');
consumer.tryReceiveView();
producer.reserveSync(10);
producer.close();
consumer.close();
process.exit(0);
