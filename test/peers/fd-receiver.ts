// Receives descriptors over its inherited seqpacket socket (fd 3) and uses each: a regular file is read,
// a pipe's write end gets a greeting. Reports what it did as JSON.
import fs from 'node:fs';
import { PipeWriter, UnixSocket } from '../../src/index.js';

const socket = UnixSocket.fromFd(3);
const message = await socket.receive({ timeout: 30_000 });
if (!message) throw new Error('no message');
const used = message.fds.map((fd) => {
  const stats = fs.fstatSync(fd);
  if (stats.isFile()) {
    const content = fs.readFileSync(fd, 'utf8');
    fs.closeSync(fd);
    return { kind: 'file', content };
  }
  const writer = PipeWriter.fromFd(fd);
  writer.writeSync(`hello from ${process.pid}`);
  writer.close();
  return { kind: 'pipe' };
});
console.log(JSON.stringify({ text: message.data.toString(), senderPid: message.credentials?.pid, used }));
socket.close();
