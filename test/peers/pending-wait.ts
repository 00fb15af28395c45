// Leaves a wait pending and says so, to see whether it keeps the process alive:
//   pending-wait.ts fifo <path> ref|unref      a FIFO open on a waiter thread
//   pending-wait.ts socket ref|unref           a receive on a socket nobody writes to (uv_poll)
//   pending-wait.ts parked                     a receive that waited and was answered, then a message
//                                              left unread for 300 ms, then received, then one more
//                                              that waited; prints the three and the CPU time of those
//                                              300 ms, and exits by itself
import { setTimeout as sleep } from 'node:timers/promises';
import { openFifo, socketpair } from '../../src/index.js';

const [kind, ...rest] = process.argv.slice(2);
if (kind === 'fifo') {
  const [path, mode] = rest;
  openFifo(path, 'r', { ref: mode === 'ref' }).then(
    (reader) => {
      console.log('opened');
      reader.close();
    },
    (error) => console.log(`failed ${error}`),
  );
} else if (kind === 'parked') {
  // The wait leaves its watch armed (src/wait.ts, FdPoller): it may neither keep the process alive nor
  // fire in a loop while a message waits with nobody receiving.
  const [a, b] = socketpair('seqpacket');
  setTimeout(() => a.sendSync('one'), 20);
  const first = (await b.receive())!.data.toString();
  const before = process.cpuUsage();
  a.sendSync('two');
  await sleep(300);
  const used = process.cpuUsage(before);
  const second = (await b.receive())!.data.toString();
  setTimeout(() => a.sendSync('three'), 20);
  const third = (await b.receive())!.data.toString(); // its watch stays armed to the end
  console.log(JSON.stringify({ first, second, third, cpuMs: (used.user + used.system) / 1000 }));
  // Both kept reachable: a forgotten end is closed when collected, which would release the watch.
  process.on('exit', () => {
    a.close();
    b.close();
  });
} else {
  const [a, b] = socketpair('seqpacket');
  if (rest[0] === 'unref') b.unref();
  b.receive().then(
    (m) => console.log(`received ${m}`),
    (error) => console.log(`failed ${error}`),
  );
  // Kept reachable: a forgotten end is closed when collected, and its peer's receive() would end.
  process.on('exit', () => a.close());
}
process.on('exit', (code) => console.log(`exiting ${code}`));
console.log('waiting');
