// A producer process for the NATS tests: sends `count` messages of mixed sizes on a NatsChannel, each
// starting with its number and filled with bytes derived from it, then closes with the end record.
//   node --import tsx test/nats/producer.ts <server> <stream> <subject> <count>
import { NatsChannel } from '../../src/nats.js';
import { messageFor } from './messages.js';

const [server, stream, subject, count] = process.argv.slice(2);
const channel = await NatsChannel.open({ servers: server!, stream: stream!, subject: subject! });
for (let i = 0; i < Number(count); i++) await channel.send(messageFor(i));
await channel.close({ end: true });
