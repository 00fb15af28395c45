// Full duplex with a child over socketpair('seqpacket'): whole messages both ways, the sender's pid on
// each, and the end of the conversation when one side closes. Run: npx tsx examples/socketpair.ts
import { socketpair, spawn, UnixSocket } from 'unipc';

if (process.argv[2] === 'child') {
  const socket = UnixSocket.fromFd(3);
  for await (const message of socket) await socket.send(message.data.toString().toUpperCase());
  socket.close();
} else {
  const [mine, theirs] = socketpair('seqpacket');
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'child'], {
    stdio: 'inherit',
    fds: [theirs],
  });
  for (const word of ['one', 'two', 'three']) {
    await mine.send(word);
    const reply = await mine.receive({ timeout: 10_000 });
    console.log(
      `sent ${JSON.stringify(word)}, got ${JSON.stringify(reply?.data.toString())} from pid ${reply?.credentials?.pid} (child ${child.pid})`,
    );
  }
  mine.close(); // the child's loop ends
}
