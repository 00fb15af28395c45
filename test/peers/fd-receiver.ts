// Receives descriptors over its inherited seqpacket socket (fd 3) and uses each: a regular file is read,
// a pipe's write end gets a greeting. Reports what it did as JSON.
import fs from 'node:fs';
import { fstat } from '../../src/fd.js';
import { PipeWriter, UnixSocket } from '../../src/index.js';
import { native } from '../../src/native.js';

const socket = UnixSocket.fromFd(3);
const message = await socket.receive({ timeout: 30_000 });
if (!message) throw new Error('no message');
const used = message.fds.map((fd) => {
  // Through the addon and /proc rather than fs.*(fd): Deno's node:fs takes resource ids, not descriptors.
  if (fstat(fd).isFile()) {
    const content = fs.readFileSync(`/proc/self/fd/${fd}`, 'utf8');
    native.close(fd);
    return { kind: 'file', content };
  }
  const writer = PipeWriter.fromFd(fd);
  writer.writeSync(`hello from ${process.pid}`);
  writer.close();
  return { kind: 'pipe' };
});
console.log(JSON.stringify({ text: message.data.toString(), senderPid: message.credentials?.pid, used }));
socket.close();
