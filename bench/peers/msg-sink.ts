// The receiving process of bench/msg-rate.ts: takes N messages from a System V queue with receiveSync()
// or receive(), timing from the first to the last, and prints {"rate": messages per second}.
//   msg-sink.ts <sync | async> <queue id> <N>
import { MessageQueue } from '../../src/index.js';

const [mode, id, count] = process.argv.slice(2);
const queue = MessageQueue.fromId(Number(id));
const n = Number(count);
console.log('ready');
let first = 0;
for (let i = 0; i < n; i++) {
  if (mode === 'sync') queue.receiveSync();
  else await queue.receive();
  if (i === 0) first = performance.now();
}
console.log(JSON.stringify({ rate: Math.round((n - 1) / ((performance.now() - first) / 1000)) }));
