// A Node producer and a Python consumer (examples/python/channel_consumer.py, on the package's python/unipc
// module: the standard library and libatomic) on one Channel, handed over as descriptor 3.
// Run: npx tsx examples/channel-python.ts   (needs python3)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Channel, spawn } from 'unipc';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
using channel = Channel.create({ capacity: 1 << 16 });
const child = spawn('python3', [path.join(root, 'examples/python/channel_consumer.py')], {
  stdio: ['ignore', 'inherit', 'inherit'],
  fds: [channel.fd],
  env: { ...process.env, PYTHONPATH: path.join(root, 'python') },
});
for (let i = 1; i <= 3; i++) await channel.send(`job ${i}`);
channel.close(); // the Python loop ends once it has all three
await new Promise((resolve) => child.on('exit', resolve));
