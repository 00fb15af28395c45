// Service (src/service.ts): request/response between many clients and one server over shared memory. In
// one process for the API's contract, then real processes: several clients at once, a server killed with
// SIGKILL (every pending request fails with EPIPE), a client killed with SIGKILL (the server goes on).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Channel } from '../src/channel.js';
import { IpcError } from '../src/errors.js';
import { Service, ServiceError } from '../src/service.js';
import { finished, lineFrom, openDescriptor, spawnPeer, uniqueIpcName } from './helpers.js';
import { requestBytes } from './peers/service-peer.js';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const reversed = (text: string) => [...text].reverse().join('');

// Serves `service` in this process: echo reversed; "slow" is never answered; "fail" fails.
async function serve(service: Service): Promise<void> {
  for await (const request of service) {
    const text = request.data.toString();
    if (text === 'slow') continue;
    if (text === 'fail') await request.fail('asked to fail');
    else await request.respond(Buffer.from(request.data).reverse());
  }
}

// A client in this process of a memfd service: it gets a descriptor of its own for the request channel.
function connectHere(service: Service) {
  return Service.connect(openDescriptor(`/proc/self/fd/${service.fd}`), { timeout: 5000 });
}

describe('Service in one process', () => {
  test('overlapping requests of every size get their own responses; fail() rejects with ServiceError', async () => {
    const service = Service.create({ capacity: 1 << 16 });
    const serving = serve(service);
    const client = await connectHere(service);
    try {
      assert.equal(service.clients, 1);
      const sizes = [0, 1, 5, 100, 4096, client.maxRequestSize];
      const answers = await Promise.all(
        sizes.flatMap((size, k) =>
          Array.from({ length: 20 }, (_, i) => {
            const bytes = Buffer.alloc(size, i + k).fill(k, 0, Math.min(size, 1));
            return client.request(bytes).then((answer) => answer.equals(Buffer.from(bytes).reverse()));
          }),
        ),
      );
      assert.equal(answers.length, sizes.length * 20);
      assert.ok(answers.every(Boolean));
      await assert.rejects(client.request('fail'), (error: unknown) => {
        assert.ok(error instanceof ServiceError);
        assert.equal(error.code, 'ERR_UNIPC_SERVICE_FAILED');
        assert.equal(error.message, 'asked to fail');
        return true;
      });
      assert.equal(String(await client.request('after')), 'retfa');
    } finally {
      client.close();
      service.close();
      await serving;
    }
  });

  test('a request times out or is aborted on its own; a late response goes nowhere; bad input is refused', async () => {
    const service = Service.create({ capacity: 1 << 16 });
    const serving = serve(service);
    const client = await connectHere(service);
    try {
      await assert.rejects(client.request('slow', { timeout: 30 }), { code: 'ETIMEDOUT' });
      await assert.rejects(client.request('slow', { signal: AbortSignal.timeout(30) }), { name: 'AbortError' });
      assert.equal(client.pending, 0);
      assert.equal(String(await client.request('ok')), 'ko');
      await assert.rejects(client.request(Buffer.alloc(client.maxRequestSize + 1)), { code: 'ERR_OUT_OF_RANGE' });
      await assert.rejects(client.request(42 as never), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(Service.connect(uniqueIpcName('no-service')), { code: 'ENOENT' });
    } finally {
      client.close();
      service.close();
      await serving;
    }
  });

  test('closing the service fails every pending request with EPIPE; closing the client with EBADF', async () => {
    const service = Service.create({ capacity: 1 << 16 });
    const serving = serve(service);
    const client = await connectHere(service);
    // Handled from the start: they may fail while the test awaits the server's loop.
    const pending = [client.request('slow'), client.request('slow')].map((request) =>
      assert.rejects(request, { code: 'EPIPE' }),
    );
    await delay(20);
    service.close();
    await serving;
    await Promise.all(pending);
    await assert.rejects(client.request('x'), { code: 'EPIPE' });
    client.close();
    await assert.rejects(client.request('x'), { code: 'EBADF' });
  });
});

describe('Service: answers and connections that go wrong', () => {
  test('a client closed with requests still waiting to be sent fails them all with EBADF, and nothing else', async () => {
    const service = Service.create({ capacity: 4096 });
    const first = service.receive(); // the hello, then one request, which is never answered
    const client = await connectHere(service);
    const requests = Array.from({ length: 200 }, (_, i) =>
      assert.rejects(client.request(Buffer.alloc(100, i)), { code: 'EBADF' }),
    );
    assert.ok((await first) !== null);
    await delay(20); // the ring is full now: most requests wait to be sent
    client.close();
    await Promise.all(requests);
    service.close();
  });

  test('an answer that fails (too long, bad data) leaves the request to answer again', async () => {
    const service = Service.create({ capacity: 1 << 14 });
    const served = (async () => {
      const request = (await service.receive())!;
      await assert.rejects(request.respond(Buffer.alloc(1 << 14)), { code: 'ERR_OUT_OF_RANGE' });
      await assert.rejects(request.respond(42 as never), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.equal(request.answered, false);
      await request.fail('too long');
      assert.equal(request.answered, true);
      await assert.rejects(request.respond('again'), { code: 'ERR_INVALID_STATE' });
    })();
    const client = await connectHere(service);
    await assert.rejects(client.request('x'), { name: 'ServiceError', message: 'too long' });
    await served;
    client.close();
    service.close();
  });

  test('a connect() that gave up leaves a hello behind: the next one on the same descriptor number works', async () => {
    const service = Service.create({ capacity: 1 << 14 });
    const gaveUp = Service.connect(openDescriptor(`/proc/self/fd/${service.fd}`), { timeout: 50 });
    await assert.rejects(gaveUp, { code: 'ETIMEDOUT' });
    const serving = serve(service);
    const client = await connectHere(service);
    assert.equal(String(await client.request('olleh')), 'hello');
    assert.equal(service.clients, 1);
    client.close();
    service.close();
    await serving;
  });
});

describe('Service: the Sync forms, and what the server skips', () => {
  test('receive() is aborted, receive() and receiveSync() time out; messages of no client are skipped', async () => {
    const service = Service.create({ capacity: 1 << 16 });
    const stop = new AbortController();
    const first = service.receive({ signal: stop.signal }); // takes the client's hello; no request comes
    const client = await connectHere(service);
    stop.abort();
    await assert.rejects(first, { name: 'AbortError' });
    const stranger = Channel.fromFd(openDescriptor(`/proc/self/fd/${service.fd}`), { role: 'producer' });
    try {
      assert.throws(() => service.receiveSync({ timeout: 20 }), { code: 'ETIMEDOUT', syscall: 'receive' });
      await assert.rejects(service.receive({ timeout: 20 }), { code: 'ETIMEDOUT', syscall: 'receive' });
      const words = (...values: number[]) => Buffer.from(new Uint32Array(values).buffer);
      stranger.sendSync(Buffer.from('abc')); // shorter than a header
      stranger.sendSync(Buffer.concat([words(9, 1, 2, 3), Buffer.from('unknown kind')]));
      stranger.sendSync(Buffer.concat([words(2, 1, 2, 3), Buffer.from('no such client')]));
      const answer = client.request('mine');
      const request = service.receiveSync({ timeout: 1000 })!;
      assert.equal(String(request.data), 'mine');
      request.respondSync(Buffer.from('yours'));
      assert.equal(String(await answer), 'yours');
      assert.throws(() => client.requestSync('nobody answers', { timeout: 20 }), { code: 'ETIMEDOUT' });
    } finally {
      stranger.close();
      client.close();
      service.close();
    }
    assert.equal(service.receiveSync(), null);
    assert.equal(await service.receive(), null);
  });

  test('requestSync() against a Sync server hands the responses of overlapping requests to them', async () => {
    const name = uniqueIpcName('service');
    const server = spawnPeer('service-peer', ['serve-sync', name]);
    const serverDone = finished(server);
    await lineFrom(server, 'serving');
    const client = await Service.connect(name, { timeout: 10_000 });
    try {
      for (let round = 0; round < 50; round++) {
        const overlapping = [client.request(`a${round}`), client.request('fail'), client.request(`b${round}`)];
        overlapping[1]!.catch(() => {}); // settled by requestSync() below, awaited after it
        assert.equal(String(client.requestSync(`c${round}`, { timeout: 10_000 })), reversed(`c${round}`));
        assert.equal(client.pending, 0);
        assert.equal(String(await overlapping[0]), reversed(`a${round}`));
        await assert.rejects(overlapping[1]!, (error) => error instanceof ServiceError);
        assert.equal(String(await overlapping[2]), reversed(`b${round}`));
      }
      assert.throws(() => client.requestSync(Buffer.alloc(client.maxRequestSize + 1)), { code: 'ERR_OUT_OF_RANGE' });
      assert.equal(String(client.requestSync(Buffer.alloc(0))), '');
      assert.equal(String(client.requestSync('stop')), 'stopped');
      assert.equal((await serverDone).code, 0);
    } finally {
      client.close();
      server.kill('SIGKILL'); // a server still blocked in receiveSync() after a failure
      await serverDone;
    }
  });
});

describe('Service between processes', () => {
  test('three clients in three processes, 1,000 requests each of sizes up to the limit, all answered right', async () => {
    const name = uniqueIpcName('service');
    const server = spawnPeer('service-peer', ['serve', name]);
    const serverDone = finished(server);
    await lineFrom(server, 'serving');
    try {
      const clients = [1, 2].map((id) => spawnPeer('service-peer', ['client', name, '1000', String(id)]));
      const reports = clients.map((child) => finished(child));
      const here = await Service.connect(name, { timeout: 10_000 });
      for (let i = 0; i < 1000; i++) {
        const bytes = requestBytes(3, i, here.maxRequestSize);
        assert.ok((await here.request(bytes)).equals(Buffer.from(bytes).reverse()));
      }
      here.close();
      for (const report of reports) {
        const { code, stdout } = await report;
        assert.equal(code, 0);
        assert.deepEqual(JSON.parse(stdout.trim().split('\n').at(-1)!), { ok: true, count: 1000 });
      }
    } finally {
      server.kill('SIGTERM');
      await serverDone;
    }
  });

  test('a server killed with SIGKILL: every pending request fails with EPIPE; connecting then is ECONNREFUSED', async () => {
    const name = uniqueIpcName('service');
    const server = spawnPeer('service-peer', ['serve', name]);
    const serverDone = finished(server);
    await lineFrom(server, 'serving');
    try {
      const client = await Service.connect(name, { timeout: 10_000 });
      const pending = [1, 2, 3].map(() =>
        assert.rejects(client.request('slow 60000'), (error) => error instanceof IpcError && error.code === 'EPIPE'),
      );
      assert.equal(String(await client.request('olleh')), 'hello');
      server.kill('SIGKILL');
      await serverDone;
      await Promise.all(pending);
      client.close();
      await assert.rejects(Service.connect(name, { timeout: 10_000 }), { code: 'ECONNREFUSED' });
    } finally {
      server.kill('SIGKILL');
      await serverDone;
      try {
        Service.unlink(name);
      } catch {}
    }
  });

  test('a client killed with SIGKILL: the server lets it go and serves the others', async () => {
    const name = uniqueIpcName('service');
    const server = spawnPeer('service-peer', ['serve', name]);
    const serverDone = finished(server);
    await lineFrom(server, 'serving');
    try {
      const doomed = spawnPeer('service-peer', ['client-and-hang', name]);
      const doomedDone = finished(doomed);
      await lineFrom(doomed, 'connected');
      doomed.kill('SIGKILL');
      await doomedDone;
      const client = await Service.connect(name, { timeout: 10_000 });
      assert.equal(String(await client.request('evila')), 'alive');
      client.close();
    } finally {
      server.kill('SIGTERM');
      await serverDone;
    }
  });
});
