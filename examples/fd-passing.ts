// Handing an open file to another process (SCM_RIGHTS): the child can read a file that no longer has a
// name, because it receives the descriptor itself. Run: npx tsx examples/fd-passing.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { socketpair, spawn, UnixSocket } from 'unipc';

if (process.argv[2] === 'child') {
  const socket = UnixSocket.fromFd(3);
  const message = await socket.receive({ timeout: 10_000 });
  for (const fd of message?.fds ?? []) {
    console.log(`child ${process.pid} got fd ${fd} (${message!.data}): ${JSON.stringify(fs.readFileSync(fd, 'utf8'))}`);
    fs.closeSync(fd);
  }
  socket.close();
} else {
  const file = path.join(os.tmpdir(), `unipc-example-${process.pid}.txt`);
  fs.writeFileSync(file, 'the contents of a deleted file');
  const fd = fs.openSync(file, 'r');
  fs.rmSync(file); // gone from the filesystem; only the descriptor reaches it now
  const [mine, theirs] = socketpair('seqpacket');
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'child'], {
    stdio: 'inherit',
    fds: [theirs],
  });
  await mine.send('a deleted file', { fds: [fd] });
  fs.closeSync(fd);
  mine.close();
  child.on('exit', (code) => process.exit(code ?? 1));
}
