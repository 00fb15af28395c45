// The other end of a Service (src/service.ts).
//   service-peer.ts serve <name>            make the service, print "serving", answer until closed: a
//                                           request "slow <ms>" after that many ms, "die" by SIGKILL of
//                                           this process, anything else with its bytes reversed
//   service-peer.ts serve-sync <name>       the same with receiveSync()/respondSync() ("fail": fail()), until
//                                           a request "stop", answered "stopped"
//   service-peer.ts client <name> N ID      connect, make N requests (sizes 0 to maxRequestSize, bytes
//                                           from ID and the request's number), 8 at a time, check each
//                                           response; print a JSON line: ok, count
//   service-peer.ts client-and-hang <name>  connect, print "connected", wait to be killed
import { Service } from '../../src/service.js';

const [command, name, count, id] = process.argv.slice(2);

export function requestBytes(client: number, i: number, longest: number): Buffer {
  const size = i % 50 === 0 ? longest : (i * 7919 + client * 104729) % Math.min(longest + 1, 4000);
  return Buffer.alloc(size, (client * 31 + i) & 255).fill(i & 255, 0, Math.min(size, 4));
}

if (command === 'serve') {
  const service = Service.create({ name: name!, capacity: 1 << 16, removeOnDispose: true });
  console.log('serving');
  process.on('SIGTERM', () => service.close());
  for await (const request of service) {
    const text = request.data.subarray(0, 10).toString();
    if (text.startsWith('slow ')) {
      const ms = Number(text.slice(5));
      setTimeout(() => void request.respond('slept'), ms);
    } else if (text === 'die') {
      process.kill(process.pid, 'SIGKILL');
    } else {
      await request.respond(Buffer.from(request.data).reverse());
    }
  }
} else if (command === 'serve-sync') {
  const service = Service.create({ name: name!, capacity: 1 << 16, removeOnDispose: true });
  console.log('serving');
  for (;;) {
    const request = service.receiveSync()!;
    const text = request.data.toString();
    if (text === 'stop') {
      request.respondSync('stopped');
      break;
    }
    if (text === 'fail') await request.fail('asked to fail');
    else request.respondSync(Buffer.from(request.data).reverse());
  }
  service.close();
} else if (command === 'client') {
  const client = await Service.connect(name!, { timeout: 10_000 });
  const total = Number(count);
  let ok = true;
  for (let i = 0; i < total; i += 8) {
    const batch = [];
    for (let j = i; j < Math.min(total, i + 8); j++) {
      const bytes = requestBytes(Number(id), j, client.maxRequestSize);
      batch.push(client.request(bytes).then((answer) => answer.equals(Buffer.from(bytes).reverse())));
    }
    for (const good of await Promise.all(batch)) if (!good) ok = false;
  }
  console.log(JSON.stringify({ ok, count: total }));
  client.close();
} else if (command === 'client-and-hang') {
  await Service.connect(name!, { timeout: 10_000 });
  console.log('connected');
  setInterval(() => {}, 1 << 30);
}
