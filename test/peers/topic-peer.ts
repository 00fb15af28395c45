// The other end of a shared-memory topic (src/topic.ts), handed over as fd 3 or named by argv[4].
//   topic-peer.ts subscribe <mode> - [name]   join (print "joined"), receive until the end; print a JSON
//                                              line: count, first and last message numbers, whether every
//                                              message was whole (channel-messages.ts) and the numbers
//                                              rose, the gaps between them, `missed`, and how it ended
//                                              (null, or the error's code). mode: sync, async, slow (async,
//                                              pausing 20 ms every 500 messages)
//   topic-peer.ts publish <mode> N [name]     attach (print "attached"), send messages 0 … N − 1, then
//                                              close; mode sync or async;
//                                              "hang": send N, print "sent", wait to be killed
//   topic-peer.ts subscribe-and-hang - - [name] join, print "joined", wait to be killed
import { Topic } from '../../src/topic.js';
import { message } from './channel-messages.js';

const [command, mode, count, name] = process.argv.slice(2);
const role = command === 'publish' ? 'publisher' : 'subscriber';
const topic = name ? Topic.open(name, { role }) : Topic.fromFd(3, { role });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (command === 'subscribe') {
  console.log('joined');
  let n = 0;
  let first = -1;
  let last = -1;
  let whole = true;
  let rising = true;
  let gaps = 0;
  let ending = 'null';
  try {
    for (;;) {
      const received = mode === 'sync' ? topic.receiveSync() : await topic.receive();
      if (received === null) break;
      const i = received.readUInt32LE(0);
      if (!received.equals(message(i))) whole = false;
      if (first < 0) first = i;
      else if (i <= last) rising = false;
      else gaps += i - last - 1;
      last = i;
      n++;
      if (mode === 'slow' && n % 500 === 0) await pause(20);
    }
  } catch (error) {
    ending = (error as { code?: string }).code ?? String(error);
  }
  console.log(JSON.stringify({ count: n, first, last, whole, rising, gaps, missed: topic.missed, ending }));
  topic.close();
} else if (command === 'publish') {
  console.log('attached');
  const total = Number(count);
  for (let i = 0; i < total; i++) {
    if (mode === 'async') await topic.send(message(i));
    else topic.sendSync(message(i));
  }
  if (mode === 'hang') {
    console.log('sent');
    setInterval(() => {}, 1 << 30);
  } else {
    topic.close();
  }
} else if (command === 'subscribe-and-hang') {
  topic.tryReceive();
  console.log('joined');
  setInterval(() => {}, 1 << 30);
}
