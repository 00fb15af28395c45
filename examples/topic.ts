// One publisher, several subscribers in other processes, over shared memory: each subscriber gets every
// price published after it joined (and the last 4 before, as history), at its own pace. The publisher
// never waits ('overwrite'): a subscriber that falls a whole ring behind loses the oldest messages and
// learns how many (`missed`), but never reads a torn one.
// Run: npx tsx examples/topic.ts
import { spawn, Topic } from 'unipc';

if (process.argv[2] === 'subscriber') {
  const topic = Topic.fromFd(3);
  let received = 0;
  let last = '';
  for await (const price of topic) {
    received++;
    last = String(price);
  }
  console.log(`subscriber ${process.pid}: ${received} prices, ${topic.missed} missed, last "${last}"`);
  topic.close();
} else {
  using topic = Topic.create({ capacity: 1 << 16, policy: 'overwrite', history: 4 });
  for (let i = 0; i < 10; i++) topic.sendSync(`EURUSD ${(1.08 + i / 1e4).toFixed(4)}`);
  const children = [1, 2, 3].map(() =>
    spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'subscriber'], {
      stdio: 'inherit',
      fds: [topic.fd],
    }),
  );
  while (topic.subscribers < children.length) await new Promise((resolve) => setTimeout(resolve, 5));
  for (let i = 10; i < 100_000; i++) topic.sendSync(`EURUSD ${(1.08 + (i % 1000) / 1e4).toFixed(4)}`);
  topic.close(); // the subscribers drain what is left, then their loops end
  await Promise.all(children.map((child) => new Promise((resolve) => child.on('exit', resolve))));
}
