// A unipc receiver in a process of its own, for the System V queue tests.
//   msg-receive ID            prints "waiting", then the error code its receive() fails with (EIDRM)
//   msg-receive ID unref      a receive with ref: false; prints "exited while waiting" as the process ends
//   msg-receive ID access KEY as another user: get(KEY), a nowait receive and send by id; prints each
//                             result (the text received, 'ok', or the error code) as JSON
//   msg-receive ID write-only as a user who may only write: fromId, and a send to the full queue
import { IpcError, MessageQueue } from '../../src/index.js';

const [id, mode, key] = process.argv.slice(2);
const queue = new MessageQueue(Number(id), 0);

function outcome(call: () => unknown): string {
  try {
    const value = call();
    return value === undefined || value instanceof MessageQueue ? 'ok' : String((value as { data: Buffer }).data);
  } catch (error) {
    return error instanceof IpcError ? error.code : String(error);
  }
}

if (mode === 'write-only') {
  // As a user who may write but not read the (full) queue: fromId, then a send that must wait, not fail.
  const byId = outcome(() => MessageQueue.fromId(Number(id)));
  const send = outcome(() => queue.sendSync(1, 'x', { timeout: 200 }));
  console.log(JSON.stringify({ byId, send }));
} else if (mode === 'access') {
  const get = outcome(() => MessageQueue.get(Number(key)));
  const receive = outcome(() => queue.receiveSync({ nowait: true }));
  const send = outcome(() => queue.sendSync(1, 'x', { nowait: true }));
  console.log(JSON.stringify({ get, receive, send }));
} else if (mode === 'unref') {
  process.on('exit', () => console.log('exited while waiting'));
  queue.receive({ ref: false }).then(() => console.log('received?'));
} else {
  const pending = queue.receive();
  console.log('waiting');
  pending.then(
    () => console.log('received?'),
    (error: IpcError) => console.log(error.code),
  );
}
