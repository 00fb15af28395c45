// POSIX message queue: the highest priority is received first, in order within a priority.
// Run: npx tsx examples/posix-queue.ts
import { PosixQueue, spawn } from 'unipc';

const [role, name] = process.argv.slice(2);
if (role === 'child') {
  using queue = PosixQueue.open(name, { readOnly: true });
  for (let i = 0; i < 4; i++) {
    const { data, priority } = await queue.receive({ timeout: 30_000 });
    console.log(`child ${process.pid} got priority ${priority}: ${data}`);
  }
} else {
  const queueName = `/unipc-example-${process.pid}`;
  using queue = PosixQueue.open(queueName, { create: true, exclusive: true, maxMessages: 8, messageSize: 256 });
  try {
    await queue.send('routine', { priority: 0 });
    await queue.send('important', { priority: 10 });
    await queue.send('routine too', { priority: 0 });
    await queue.send('critical', { priority: 31 });
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'child', queueName], {
      stdio: 'inherit',
    });
    await new Promise((resolve) => child.on('exit', resolve));
    console.log(`${queueName}: ${queue.attributes().currentMessages} messages left`);
  } finally {
    PosixQueue.unlink(queueName);
  }
}
