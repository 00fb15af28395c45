// Sends COUNT messages ("message 0", "message 1", …) on its inherited socket (fd 3), prints "sent", and
// then waits, reading nothing, to be killed: whatever its peer sent it stays unread.
//   socket-sender COUNT
import { UnixSocket } from '../../src/index.js';

const socket = UnixSocket.fromFd(3);
const count = Number(process.argv[2]);
for (let i = 0; i < count; i++) socket.sendSync(`message ${i}`);
console.log('sent');
setInterval(() => {}, 1 << 30);
