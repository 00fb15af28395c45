// The other end of a shared-memory channel (src/channel.ts), handed over as fd 3 or named by argv[4].
//   channel-peer.ts consume <sync|async>          receive until the end; print the count, whether the
//                                                 sequence numbers ran in order, and a sha256 of it all
//   channel-peer.ts produce <sync|async> N        send messages 0 … N − 1 (channel-messages.ts), then close
//   channel-peer.ts produce-and-hang              send one message, print "sent", wait to be killed
// In a worker thread (workerData.args instead of argv), the channel is named, and the peer produces.
import { createHash } from 'node:crypto';
import { Channel } from '../../src/channel.js';
import { message } from './channel-messages.js';

import { isMainThread, workerData } from 'node:worker_threads';

const [command, mode, count, name] = isMainThread ? process.argv.slice(2) : (workerData.args as string[]);

const channel = name ? Channel.open(name) : Channel.fromFd(3);
if (command === 'consume') {
  const hash = createHash('sha256');
  let n = 0;
  let ordered = true;
  for (;;) {
    const received = mode === 'async' ? await channel.receive() : channel.receiveSync();
    if (received === null) break;
    if (received.readUInt32LE(0) !== n) ordered = false;
    hash.update(received);
    n++;
  }
  console.log(JSON.stringify({ n, ordered, sha256: hash.digest('hex') }));
  channel.close();
} else if (command === 'produce') {
  for (let i = 0; i < Number(count); i++) {
    if (mode === 'async') await channel.send(message(i));
    else channel.sendSync(message(i));
  }
  channel.close();
} else if (command === 'produce-values') {
  for (let i = 0; i < Number(count); i++) await channel.sendValue({ i, at: new Date(i), tags: new Set([`t${i}`]) });
  channel.close();
} else if (command === 'produce-and-hang') {
  channel.sendSync('one');
  console.log('sent');
  setInterval(() => {}, 1 << 30);
}
