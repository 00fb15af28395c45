// Echoes everything that arrives on its inherited socket (fd 3) back to the sender: byte streams through
// the Duplex stream, messages one by one (a 'dgram' pair has no end, so "bye" ends it).
import { UnixSocket } from '../../src/index.js';

const socket = UnixSocket.fromFd(3);
if (socket.type === 'stream') {
  socket.stream.pipe(socket.stream);
} else {
  for await (const message of socket) {
    if (socket.type === 'dgram' && message.data.toString() === 'bye') break;
    await socket.send(message.data);
  }
  socket.close();
}
