// A producer in a worker thread that ends without closing: it sends `count` messages written in place,
// then reserves one more and leaves it, and its views, for the thread's teardown to release.
import { workerData } from 'node:worker_threads';
import { Channel } from '../../src/channel.js';

const { fd, count } = workerData as { fd: number; count: number };
const channel = Channel.fromFd(fd);
for (let i = 0; i < count; i++) {
  const place = channel.reserveSync(64, { timeout: 30_000 });
  place.fill(i & 255);
  channel.commit(1 + (i % 64));
}
channel.reserveSync(32, { timeout: 30_000 }).fill(0xee);
