// The producer and the consumer of the NATS cluster test, each run on its own host (network namespace):
//   node --import tsx test/nats/cluster-peer.ts produce <channel> <count>
//   node --import tsx test/nats/cluster-peer.ts consume <channel> <count>
// The producer sends `count` messages of mixed sizes on a local Channel and closes it; the consumer
// checks that each arrives once, intact and in order, until the end. Each prints one JSON line:
// { messages, bytes, sha256 } (the digest of every message in order).
import { createHash } from 'node:crypto';
import { Channel } from '../../src/index.js';
import { receiveThroughRestarts, sendThroughRestarts } from './messages.js';

const [mode, name, countText] = process.argv.slice(2);
const count = Number(countText);

/** Message i: 8 bytes to 64 KiB (most under 256, a few large), starting with i and its size. */
export function clusterMessage(i: number): Buffer {
  const pick = (Math.imul(i + 1, 2654435761) >>> 0) / 4294967296;
  const spread = (Math.imul(i + 7, 40503) >>> 0) % 65536;
  const size = pick < 0.8 ? 8 + (spread % 248) : pick < 0.99 ? 256 + (spread % 3840) : 4096 + (spread % 61440);
  const message = Buffer.alloc(size);
  message.writeUInt32LE(i, 0);
  message.writeUInt32LE(size, 4);
  for (let j = 8; j < size; j++) message[j] = (i + j * 13) & 0xff;
  return message;
}

const digest = createHash('sha256');
let bytes = 0;
if (mode === 'produce') {
  const channel = Channel.open(name!, { role: 'producer' });
  for (let i = 0; i < count; i++) {
    const message = clusterMessage(i);
    await sendThroughRestarts(channel, message);
    digest.update(message);
    bytes += message.length;
  }
  channel.close();
  process.stdout.write(`${JSON.stringify({ messages: count, bytes, sha256: digest.digest('hex') })}\n`);
} else if (mode === 'consume') {
  const channel = Channel.open(name!, { role: 'consumer' });
  let received = 0;
  for (;;) {
    const message = await receiveThroughRestarts(channel);
    if (message === null) break;
    if (!message.equals(clusterMessage(received))) {
      const got = message.length >= 4 ? message.readUInt32LE(0) : 'a short one';
      process.stdout.write(
        `${JSON.stringify({ error: `message ${received} expected, ${got} arrived`, messages: received })}\n`,
      );
      process.exit(1);
    }
    digest.update(message);
    bytes += message.length;
    received++;
  }
  channel.close();
  const result = { messages: received, bytes, sha256: digest.digest('hex') };
  if (received !== count) Object.assign(result, { error: `${count} expected, ${received} arrived before the end` });
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  process.stderr.write('usage: cluster-peer.ts produce|consume <channel> <count>\n');
  process.exit(2);
}
