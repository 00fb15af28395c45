// The other end of a shared-memory channel (src/channel.ts), handed over as fd 3 or named by argv[4].
//   channel-peer.ts consume <mode>                receive until the end; print the count, whether the
//                                                 sequence numbers ran in order, and a sha256 of it all;
//                                                 mode: sync, async, many, many-sync (receiveMany, up to
//                                                 50), into, into-sync (receiveInto one reused buffer)
//   channel-peer.ts produce <mode> N              send messages 0 … N − 1 (channel-messages.ts), then
//                                                 close; mode: sync, async, many, many-sync (sendMany, in
//                                                 batches of 1 to 37)
//   channel-peer.ts produce-and-hang              send one message, print "sent", wait to be killed
//   channel-peer.ts produce-in-place - N          messages 0 … N − 1 written in place (reserveSync/commit)
//   channel-peer.ts produce-tagged <mode> N ID    N messages [ID, seq, seq-derived bytes] (mode sync, async,
//                                                 in-place or many) on a multi-producer channel, then close
//   channel-peer.ts reserve-and-hang              send one message, reserve another (holding the producers'
//                                                 lock), print "reserved", wait to be killed
//   channel-peer.ts echo                          await each message of fd 3 and send it back on fd 4,
//                                                 until the end; then close fd 4's channel
//   channel-peer.ts ping - N                      await send of messages 0 … N − 1 on fd 3, each followed
//                                                 by an await of its echo on fd 4; print the count of
//                                                 echoes that came back equal, in order
// In a worker thread (workerData.args instead of argv), the channel is named, and the peer produces.
import { createHash } from 'node:crypto';
import { isMainThread, workerData } from 'node:worker_threads';
import { Channel } from '../../src/channel.js';
import { message, tagged } from './channel-messages.js';

const [command, mode, count, name] = isMainThread ? process.argv.slice(2) : (workerData.args as string[]);

const channel = name && command !== 'produce-tagged' ? Channel.open(name) : Channel.fromFd(3);
if (command === 'consume') {
  const hash = createHash('sha256');
  let n = 0;
  let ordered = true;
  const take = (received: Buffer) => {
    if (received.readUInt32LE(0) !== n) ordered = false;
    hash.update(received);
    n++;
  };
  const into = Buffer.alloc(channel.maxMessageSize);
  for (;;) {
    if (mode === 'many' || mode === 'many-sync') {
      const batch = mode === 'many' ? await channel.receiveMany(50) : channel.receiveManySync(50);
      if (batch === null) break;
      if (batch.length === 0) throw new Error('receiveMany() gave an empty batch before the end');
      batch.forEach(take);
    } else if (mode === 'into' || mode === 'into-sync') {
      const length = mode === 'into' ? await channel.receiveInto(into) : channel.receiveIntoSync(into);
      if (length === null) break;
      take(into.subarray(0, length));
    } else {
      const received = mode === 'async' ? await channel.receive() : channel.receiveSync();
      if (received === null) break;
      take(received);
    }
  }
  console.log(JSON.stringify({ n, ordered, sha256: hash.digest('hex') }));
  channel.close();
} else if (command === 'produce') {
  if (mode === 'many' || mode === 'many-sync') {
    for (let i = 0; i < Number(count); ) {
      const batch = Array.from({ length: Math.min(1 + (i % 37), Number(count) - i) }, (_, k) => message(i + k));
      if (mode === 'many') await channel.sendMany(batch);
      else channel.sendManySync(batch);
      i += batch.length;
    }
  } else {
    for (let i = 0; i < Number(count); i++) {
      if (mode === 'async') await channel.send(message(i));
      else channel.sendSync(message(i));
    }
  }
  channel.close();
} else if (command === 'produce-values') {
  for (let i = 0; i < Number(count); i++) await channel.sendValue({ i, at: new Date(i), tags: new Set([`t${i}`]) });
  channel.close();
} else if (command === 'produce-in-place') {
  for (let i = 0; i < Number(count); i++) {
    const bytes = message(i);
    channel.reserveSync(bytes.length).set(bytes);
    channel.commit();
  }
  channel.close();
} else if (command === 'produce-tagged') {
  const id = Number(name);
  for (let seq = 0; seq < Number(count); seq++) {
    const bytes = tagged(id, seq);
    if (mode === 'many') {
      const batch = Array.from({ length: Math.min(1 + (seq % 23), Number(count) - seq) }, (_, k) =>
        tagged(id, seq + k),
      );
      await channel.sendMany(batch);
      seq += batch.length - 1;
    } else if (mode === 'async') await channel.send(bytes);
    else if (mode === 'sync') channel.sendSync(bytes);
    else {
      channel.reserveSync(bytes.length + 8).set(bytes);
      channel.commit(bytes.length);
    }
  }
  channel.close();
} else if (command === 'reserve-and-hang') {
  channel.sendSync('before');
  channel.reserveSync(16).fill(7);
  console.log('reserved');
  setInterval(() => {}, 1 << 30);
} else if (command === 'echo') {
  const back = Channel.fromFd(4);
  for (let received = await channel.receive(); received !== null; received = await channel.receive())
    await back.send(received);
  back.close();
  channel.close();
} else if (command === 'ping') {
  const back = Channel.fromFd(4);
  let equal = 0;
  for (let i = 0; i < Number(count); i++) {
    await channel.send(message(i));
    if ((await back.receive())?.equals(message(i))) equal++;
  }
  channel.close();
  console.log(JSON.stringify({ equal, end: await back.receive() }));
  back.close();
} else if (command === 'produce-and-hang') {
  channel.sendSync('one');
  console.log('sent');
  setInterval(() => {}, 1 << 30);
}
