// Connects to a listening socket and sends one message naming itself:  connect.ts <path> <type>
import { connect, type SocketType } from '../../src/index.js';

const [path, type] = process.argv.slice(2);
const socket = await connect(path, { type: type as SocketType, timeout: 30_000 });
await socket.send(`hi from ${process.pid}`);
const reply = await socket.receive({ timeout: 30_000 });
console.log(JSON.stringify({ reply: reply?.data.toString() }));
socket.close();
