// Leaves a wait pending and says so, to see whether it keeps the process alive:
//   pending-wait.ts fifo <path> ref|unref      a FIFO open on a waiter thread
//   pending-wait.ts socket ref|unref           a receive on a socket nobody writes to (uv_poll)
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
