// Request/response over shared memory: a server in this process, clients in two others, each with many
// requests in flight; each response finds its request by id. Killing the server would fail every
// pending request with EPIPE rather than leave it hanging.
// Run: npx tsx examples/service.ts
import { Service, spawn } from 'unipc';

const name = `/unipc-example-service-${process.pid}`;
if (process.argv[2] === 'client') {
  const client = await Service.connect(process.argv[3]!, { timeout: 5000 });
  const words = ['shared', 'memory', 'request', 'response'];
  const answers = await Promise.all(words.map((word) => client.request(word, { timeout: 1000 })));
  console.log(`client ${process.pid}:`, answers.map(String).join(' '));
  client.close();
} else {
  using service = Service.create({ name, capacity: 1 << 16, removeOnDispose: true });
  const clients = [1, 2].map(() =>
    spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'client', name], { stdio: 'inherit' }),
  );
  const done = Promise.all(clients.map((child) => new Promise((resolve) => child.on('exit', resolve))));
  void done.then(() => service.close()); // ends the loop below
  for await (const request of service) await request.respond(String(request.data).toUpperCase());
}
