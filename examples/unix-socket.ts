// A server on a socket path and a client that connects to it; the server learns who connected from the
// kernel (SO_PEERCRED). Run: npx tsx examples/unix-socket.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, listen, spawn } from 'unipc';

const [role, socketPath] = process.argv.slice(2);
if (role === 'client') {
  const socket = await connect(socketPath, { type: 'seqpacket', timeout: 10_000 });
  await socket.send('hello, server');
  console.log(`client ${process.pid} got: ${(await socket.receive({ timeout: 10_000 }))?.data}`);
  socket.close();
} else {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-example-'));
  const server = listen(path.join(dir, 'server.sock'), { type: 'seqpacket' }); // mode 0o600
  spawn(process.execPath, [...process.execArgv, process.argv[1], 'client', server.path], { stdio: 'inherit' });
  const connection = await server.accept({ timeout: 10_000 });
  const { pid, uid } = connection.peerCredentials();
  console.log(`server: pid ${pid} (uid ${uid}) says ${(await connection.receive())?.data}`);
  await connection.send('hello, client');
  connection.close();
  server.close(); // removes the socket file
  fs.rmSync(dir, { recursive: true });
}
