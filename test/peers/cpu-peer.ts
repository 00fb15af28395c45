// Prints the CPU this process's main thread runs on, as the rseq word gives it and as sched_getcpu() does,
// and the CPU words a fresh channel's (or, with the argument "topic", a fresh topic's) two sides write as
// one message goes through (this process never waits), once at the start and again for each line read on
// stdin: {"word": n | null, "cpu": n, "told": {…}} (word null where the runtime has no rseq area to lend,
// native.cpuIdArea()).
import { createInterface } from 'node:readline';
import { Channel, channelInternals } from '../../src/channel.js';
import { mmap } from '../../src/index.js';
import { native } from '../../src/native.js';
import { Topic } from '../../src/topic.js';
import { dup, uniqueIpcName } from '../helpers.js';

const area = native.cpuIdArea();
const word = area === undefined ? null : new Int32Array(area, 4, 1);
// Byte offsets of the CPU words (docs/channel.md): a channel's producerCpu and consumerCpu, a topic's
// publisherCpu and word 2 of its first subscriber slot.
const PRODUCER_CPU = 132;
const CONSUMER_CPU = 68;
const PUBLISHER_CPU = 76;
const FIRST_SLOT_CPU = 4096 + 8;

function channelTold(): { producer: number; consumer: number } {
  using producer = Channel.create({ capacity: 4096 });
  using consumer = Channel.fromFd(dup(producer));
  const words = new Int32Array(channelInternals(producer).mapping.buffer, 0, 64);
  if (!producer.trySend(Buffer.from('x'))) throw new Error('an empty channel refused a message');
  if (String(consumer.tryReceive()) !== 'x') throw new Error('the message did not come through');
  return { producer: words[PRODUCER_CPU / 4]!, consumer: words[CONSUMER_CPU / 4]! };
}

function topicTold(): { publisher: number; subscriber: number } {
  const name = `/${uniqueIpcName('topic')}`;
  using publisher = Topic.create({ name, capacity: 4096, removeOnDispose: true });
  using subscriber = publisher.subscribe();
  if (subscriber.tryReceive() !== null) throw new Error('a fresh topic had a message');
  publisher.sendSync(Buffer.from('x'));
  if (String(subscriber.tryReceive()) !== 'x') throw new Error('the message did not come through');
  using mapping = mmap(`/dev/shm${name}`);
  const words = new Int32Array(mapping.buffer, 0, 8192 / 4);
  return { publisher: words[PUBLISHER_CPU / 4]!, subscriber: words[FIRST_SLOT_CPU / 4]! };
}

const told = process.argv[2] === 'topic' ? topicTold : channelTold;
const report = () =>
  console.log(JSON.stringify({ word: word === null ? null : word[0], cpu: native.currentCpu(), told: told() }));
report();
for await (const _ of createInterface({ input: process.stdin })) report();
