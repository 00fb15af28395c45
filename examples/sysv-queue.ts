// System V message queue: a parent sends typed messages, a child picks them by type.
// Run: npx tsx examples/sysv-queue.ts   (while it runs, `ipcs -q` lists the queue)
import { IPC_PRIVATE, MessageQueue, spawn } from 'unipc';

const [role, id] = process.argv.slice(2);
if (role === 'child') {
  const queue = MessageQueue.fromId(Number(id));
  const urgent = await queue.receive({ type: 1 }); // the first message of type 1
  const lowest = await queue.receive({ type: -3 }); // the lowest type <= 3
  const other = await queue.receive({ type: 2, except: true }); // the first of any type but 2
  for (const { type, data } of [urgent, lowest, other]) console.log(`child ${process.pid} got type ${type}: ${data}`);
  await queue.send(9, `thanks from ${process.pid}`);
} else {
  const queue = MessageQueue.get(IPC_PRIVATE, { create: true }); // mode 0o600
  try {
    await queue.send(3, 'report');
    await queue.send(2, 'routine');
    await queue.send(1, 'urgent');
    await queue.send(5, 'later');
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'child', String(queue.id)], {
      stdio: 'inherit',
    });
    const exited = new Promise((resolve) => child.on('exit', resolve)); // now: it may exit before the reply is read
    const reply = await queue.receive({ type: 9, timeout: 30_000 });
    await exited;
    const { messages, bytes, lastSendPid } = queue.stat();
    console.log(`parent got type ${reply.type}: ${reply.data}`);
    console.log(`queue ${queue.id}: ${messages} message left (${bytes} bytes), last sent by ${lastSendPid}`);
  } finally {
    queue.remove(); // IPC_RMID
  }
}
