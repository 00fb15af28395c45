// Prints the CPU this process's main thread runs on, as the rseq word gives it and as sched_getcpu() does,
// and the CPUs a fresh channel's two sides tell as one message goes through (this process never waits
// on a channel), once at the start and again for each line read on stdin:
// {"word": n | null, "cpu": n, "told": {"producer": n, "consumer": n}} (word null where the runtime has no
// rseq area to lend, native.cpuIdArea()).
import { createInterface } from 'node:readline';
import { Channel, channelInternals } from '../../src/channel.js';
import { constants, native } from '../../src/native.js';

const area = native.cpuIdArea();
const word = area === undefined ? null : new Int32Array(area, 4, 1);
// Byte offsets of producerCpu and consumerCpu in the channel's header (docs/channel.md).
const PRODUCER_CPU = 132;
const CONSUMER_CPU = 68;

function told(): { producer: number; consumer: number } {
  using producer = Channel.create({ capacity: 4096 });
  using consumer = Channel.fromFd(native.fcntl(producer.fd, constants.F_DUPFD_CLOEXEC, 0));
  const words = new Int32Array(channelInternals(producer).mapping.buffer, 0, 64);
  if (!producer.trySend(Buffer.from('x'))) throw new Error('an empty channel refused a message');
  if (String(consumer.tryReceive()) !== 'x') throw new Error('the message did not come through');
  return { producer: words[PRODUCER_CPU / 4]!, consumer: words[CONSUMER_CPU / 4]! };
}

const report = () =>
  console.log(JSON.stringify({ word: word === null ? null : word[0], cpu: native.currentCpu(), told: told() }));
report();
for await (const _ of createInterface({ input: process.stdin })) report();
