// The channel's Python end (python/unipc/channel.py) against Node's (src/channel.ts), in real processes:
// Python consumes what Node sends and the other way round, every size from 0 to maxMessageSize (so the
// ring wraps), several producers of both kinds into one consumer, a producer or a consumer killed with
// SIGKILL (on either side), a dead producer's slot taken over by a Python producer (which records the
// death, unless it resumes), channels made and opened by name on either side, the end, timeouts and
// refusals. The Python end is test/peers/channel_peer.py, run with the machine's python3.
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Channel } from '../src/channel.js';
import { IpcError, MemoryFile, spawn } from '../src/index.js';
import { dup, finished, lineFrom, quietly, root, spawnPeer, uniqueIpcName } from './helpers.js';
import { tagged } from './peers/channel-messages.js';
import { delay, message, SEED, withChildren } from './peers/interop.js';

const pythonPeer = path.join(root, 'test', 'peers', 'channel_peer.py');
// The interpreter: UNIPC_TEST_PYTHON, or the one `python3` names, found once (a launcher in front of it,
// such as pyenv's shims, can cost most of a second per start).
const python =
  process.env.UNIPC_TEST_PYTHON ??
  spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
const COUNT = 2000;
const TIMEOUT = 30_000;

function spawnPython(args: string[], fd?: number, { waitv = true } = {}): ChildProcess {
  return spawn(python, [pythonPeer, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    fds: fd === undefined ? [] : [fd],
    env: waitv ? process.env : { ...process.env, UNIPC_PEER_NO_WAITV: '1' },
  });
}

// The peer's "sha256": over each message's length (4 bytes, little-endian) and its bytes.
function add(hash: Hash, bytes: Uint8Array): void {
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32LE(bytes.length, 0);
  hash.update(length);
  hash.update(bytes);
}

const lastLine = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!);

describe('Channel with Python ends (python/unipc/channel.py)', () => {
  for (const waitv of [true, false]) {
    test(`a Node producer, a Python consumer${waitv ? '' : ' sleeping with FUTEX_WAIT_BITSET (no futex_waitv)'}: ${COUNT} messages of 0 to maxMessageSize bytes, intact and in order, then the end`, async () => {
      using channel = Channel.create({ capacity: 1 << 14, maxMessageSize: (1 << 13) - 8 });
      const child = spawnPython(['consume', '3', String(SEED)], channel.fd, { waitv });
      const done = finished(child);
      await withChildren([child], async () => {
        const expected = createHash('sha256');
        for (let i = 0; i < COUNT; i++) {
          const bytes = message(i, channel.maxMessageSize);
          add(expected, bytes);
          if (i % 2 === 0) await channel.send(bytes, { timeout: TIMEOUT });
          else channel.sendSync(bytes, { timeout: TIMEOUT });
        }
        channel.close();
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(JSON.parse(result.stdout), {
          n: COUNT,
          sha256: expected.digest('hex'),
          intact: true,
          end: 'end',
        });
      });
    });
  }

  for (const [mode, waitv] of [
    ['sync', true],
    ['async', true],
    ['async', false],
  ] as const) {
    test(`a Python producer${waitv ? '' : ' sleeping with FUTEX_WAIT_BITSET (no futex_waitv)'}, a Node consumer (${mode}): ${COUNT} messages of 0 to maxMessageSize bytes, intact and in order, then null`, async () => {
      using channel = Channel.create({ capacity: 1 << 14, maxMessageSize: (1 << 13) - 8 });
      const child = spawnPython(['produce', '3', String(SEED), String(COUNT)], channel.fd, { waitv });
      const done = finished(child);
      await withChildren([child], async () => {
        const received = createHash('sha256');
        let n = 0;
        for (;;) {
          const bytes =
            mode === 'sync' ? channel.receiveSync({ timeout: TIMEOUT }) : await channel.receive({ timeout: TIMEOUT });
          if (bytes === null) break;
          assert.ok(bytes.equals(message(n, channel.maxMessageSize)), `message ${n} intact`);
          add(received, bytes);
          n++;
        }
        assert.equal(n, COUNT);
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(JSON.parse(result.stdout), { n: COUNT, sha256: received.digest('hex') });
        assert.equal(channel.producers, 0);
      });
    });
  }

  test("two Python producers and a Node producer into one Node consumer: each producer's messages whole and in its order", async () => {
    using channel = Channel.create({ capacity: 1 << 14, multipleProducers: true });
    using nodeProducer = Channel.fromFd(dup(channel), { role: 'producer' });
    const perProducer = 2000;
    const children = [1, 2].map((id) =>
      spawnPython(['produce-tagged', '3', String(id), String(perProducer)], channel.fd),
    );
    const done = children.map((child) => finished(child));
    await withChildren(children, async () => {
      // Consumed only once all have attached: the first to finish must not end the channel for the others.
      while (channel.producers < 3) await delay(10);
      const sending = (async () => {
        for (let seq = 0; seq < perProducer; seq++) await nodeProducer.send(tagged(0, seq), { timeout: TIMEOUT });
        nodeProducer.close();
      })();
      const next = [0, 0, 0];
      for (;;) {
        const received = await channel.receive({ timeout: TIMEOUT });
        if (received === null) break;
        const id = received.readUInt32LE(0);
        const seq = received.readUInt32LE(4);
        assert.equal(seq, next[id], `producer ${id}: message ${next[id]} expected, ${seq} came`);
        assert.ok(received.equals(tagged(id, seq)), `producer ${id} message ${seq} intact`);
        next[id]++;
      }
      await sending;
      assert.deepEqual(next, [perProducer, perProducer, perProducer]);
      for (const result of await Promise.all(done)) {
        assert.equal(result.code, 0);
        assert.deepEqual(JSON.parse(result.stdout), { n: perProducer });
      }
    });
  });

  test("a Node producer killed holding the producers' lock: a Python producer takes the lock over and sends; the Node consumer gets it all, then EPIPE", async () => {
    using channel = Channel.create({ capacity: 1 << 14, multipleProducers: true });
    const hanging = spawnPeer('channel-peer', ['reserve-and-hang'], { fds: [channel.fd] });
    const hung = finished(hanging);
    await withChildren([hanging], async () => {
      await lineFrom(hanging, 'reserved');
      const child = spawnPython(['produce-tagged', '3', '1', '500'], channel.fd);
      const done = finished(child);
      await withChildren([child], async () => {
        while (channel.producers < 2) await delay(10);
        // Once the Python producer has attached (and waits for the lock the Node one holds), that one dies.
        hanging.kill('SIGKILL');
        assert.equal((await hung).signal, 'SIGKILL');
        assert.equal((await channel.receive({ timeout: TIMEOUT }))?.toString(), 'before');
        for (let seq = 0; seq < 500; seq++) {
          assert.ok((await channel.receive({ timeout: TIMEOUT }))!.equals(tagged(1, seq)), `message ${seq} intact`);
        }
        await assert.rejects(channel.receive({ timeout: 10_000 }), { code: 'EPIPE' });
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(JSON.parse(result.stdout), { n: 500 });
      });
    });
  });

  test('a Python producer killed with SIGKILL mid-stream: the Node consumer gets everything it published, then EPIPE', async () => {
    using channel = Channel.create({ capacity: 1 << 14 });
    const child = spawnPython(['produce-forever', '3'], channel.fd);
    const done = finished(child);
    await withChildren([child], async () => {
      await lineFrom(child, 'sending');
      let seq = 0;
      const take = (received: Buffer | null) => {
        assert.ok(received !== null, 'no end before EPIPE');
        assert.ok(received.equals(tagged(0, seq)), `message ${seq} whole and in order`);
        seq++;
      };
      for (; seq < 2000; ) take(await channel.receive({ timeout: TIMEOUT }));
      child.kill('SIGKILL');
      assert.equal((await done).signal, 'SIGKILL');
      await assert.rejects(
        (async () => {
          for (;;) take(await channel.receive({ timeout: 10_000 }));
        })(),
        (e: unknown) => e instanceof IpcError && e.code === 'EPIPE' && /died/.test(e.message),
      );
      assert.ok(seq >= 2000);
      assert.equal(channel.readIndex, channel.writeIndex, 'everything published was received');
      assert.equal(channel.producers, 0);
    });
  });

  test('a Node producer killed with SIGKILL: the Python consumer gets what it sent, then EPIPE (it reaps the dead producer)', async () => {
    using channel = Channel.create({ capacity: 1 << 14 });
    const child = spawnPython(['consume', '3', String(SEED)], channel.fd);
    const done = finished(child);
    const producer = spawnPeer('channel-peer', ['produce-and-hang'], { fds: [channel.fd] });
    const produced = finished(producer);
    await withChildren([child, producer], async () => {
      await lineFrom(producer, 'sent');
      producer.kill('SIGKILL');
      assert.equal((await produced).signal, 'SIGKILL');
      const result = await done;
      assert.equal(result.code, 0);
      const { n, end } = JSON.parse(result.stdout);
      assert.deepEqual({ n, end }, { n: 1, end: 'EPIPE' });
      assert.equal(channel.producers, 0, "the consumer cleared the dead producer's bit");
    });
  });

  // The dead producer is a Node one, then (cheaper to start) a Python one.
  for (const [dead, resume] of [
    ['Node', false],
    ['Python', true],
  ] as const) {
    test(`a ${dead} producer killed with SIGKILL whose slot a Python producer${resume ? ' (resume=True)' : ''} takes over before the Node consumer looks: all messages, then ${resume ? 'null (no EPIPE)' : 'EPIPE (the Python taker records the death)'}`, async () => {
      using channel = Channel.create({ capacity: 1 << 16, maxMessageSize: 256 });
      const producer =
        dead === 'Node'
          ? spawnPeer('channel-peer', ['produce-and-hang'], { fds: [channel.fd] })
          : spawnPython(['produce-and-hang', '3'], channel.fd);
      const produced = finished(producer);
      await withChildren([producer], async () => {
        await lineFrom(producer, 'sent');
        producer.kill('SIGKILL');
        assert.equal((await produced).signal, 'SIGKILL');
        assert.equal(channel.producers, 1, 'nobody has reaped the dead producer');
        // The only slot still names the dead thread: the Python producer takes it over from that id, not
        // from 0. 20 messages of at most 256 bytes fit the ring: it finishes before anything is received.
        const taker = spawnPython([resume ? 'produce-resume' : 'produce', '3', String(SEED), '20'], channel.fd);
        const result = await finished(taker);
        assert.equal(result.code, 0);
        assert.equal(channel.producers, 0, 'the Python producer closed');
        assert.equal(channel.receiveSync()!.toString(), 'one');
        for (let i = 0; i < 20; i++) assert.ok(channel.receiveSync()!.equals(message(i, channel.maxMessageSize)));
        if (resume) {
          assert.equal(await channel.receive({ timeout: 10_000 }), null, 'the end, not EPIPE');
        } else {
          await assert.rejects(
            channel.receive({ timeout: 10_000 }),
            (e: unknown) => e instanceof IpcError && e.code === 'EPIPE' && /died/.test(e.message),
          );
          assert.throws(() => channel.tryReceive(), { code: 'EPIPE' });
        }
      });
    });
  }

  test('a Python consumer killed with SIGKILL: a Node producer waiting on a full ring fails with EPIPE', async () => {
    using channel = Channel.create({ capacity: 4096 });
    const child = spawnPython(['hold-consumer', '3'], channel.fd);
    const done = finished(child);
    await withChildren([child], async () => {
      channel.sendSync('claims the consumer');
      await lineFrom(child, 'holding');
      const filler = Buffer.alloc(100, 1);
      while (channel.trySend(filler)) {}
      let settled = false;
      const sending = channel.send(filler, { timeout: TIMEOUT }).finally(() => {
        settled = true;
      });
      await delay(250);
      assert.equal(settled, false, 'blocked on the full ring while the consumer lives');
      child.kill('SIGKILL');
      await assert.rejects(
        sending,
        (e: unknown) => e instanceof IpcError && e.code === 'EPIPE' && /died/.test(e.message),
      );
      assert.equal((await done).signal, 'SIGKILL');
      assert.throws(() => channel.sendSync(filler, { timeout: 10_000 }), { code: 'EPIPE' });
    });
  });

  test('a named channel made by Node (Channel.create({ name })): the Python consumer opens it by name', async () => {
    const name = `/${uniqueIpcName('channel')}`;
    try {
      using channel = Channel.create({ name, capacity: 1 << 14, removeOnDispose: true });
      const child = spawnPython(['consume', name, String(SEED)]);
      const done = finished(child);
      await withChildren([child], async () => {
        const expected = createHash('sha256');
        for (let i = 0; i < 2000; i++) {
          const bytes = message(i, channel.maxMessageSize);
          add(expected, bytes);
          await channel.send(bytes, { timeout: TIMEOUT });
        }
        channel.close();
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(JSON.parse(result.stdout), {
          n: 2000,
          sha256: expected.digest('hex'),
          intact: true,
          end: 'end',
        });
      });
    } finally {
      quietly(() => Channel.unlink(name), ['ENOENT']);
    }
  });

  test('a named channel made by Python (Channel.create(name)): Node opens it with Channel.open() and produces', async () => {
    const name = `/${uniqueIpcName('channel')}`;
    try {
      const child = spawnPython(['create-consume', name, String(SEED)]);
      const done = finished(child);
      await withChildren([child], async () => {
        await lineFrom(child, 'ready');
        using channel = Channel.open(name);
        Channel.unlink(name);
        assert.equal(channel.capacity, 1 << 14);
        assert.equal(channel.maxMessageSize, 4096);
        assert.equal(channel.multipleProducers, false);
        const expected = createHash('sha256');
        for (let i = 0; i < 2000; i++) {
          const bytes = message(i, channel.maxMessageSize);
          add(expected, bytes);
          channel.sendSync(bytes, { timeout: TIMEOUT });
        }
        channel.close();
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(lastLine(result.stdout), {
          n: 2000,
          sha256: expected.digest('hex'),
          intact: true,
          end: 'end',
        });
      });
    } finally {
      quietly(() => Channel.unlink(name), ['ENOENT']);
    }
  });

  test('Python receives: a try on an empty ring (EAGAIN), a timeout (ETIMEDOUT), then messages and None at the end', async () => {
    using channel = Channel.create({ capacity: 4096 });
    const child = spawnPython(['edges', '3'], channel.fd);
    const done = finished(child);
    await withChildren([child], async () => {
      await lineFrom(child, 'waiting');
      channel.sendSync(Buffer.alloc(100, 7));
      channel.sendSync(Buffer.alloc(0));
      channel.close();
      const result = await done;
      assert.equal(result.code, 0);
      const edges = lastLine(result.stdout);
      assert.ok(edges.ms >= 49, `the 50 ms timeout took ${edges.ms} ms`);
      delete edges.ms;
      assert.deepEqual(edges, { try: 'EAGAIN', timeout: 'ETIMEDOUT', received: [100, 0], end: 'end' });
    });
  });

  test('Python sends: a message too long (EMSGSIZE), a full ring (try_send False), a timeout (ETIMEDOUT); Node then gets all', async () => {
    using channel = Channel.create({ capacity: 4096, maxMessageSize: 200 });
    assert.equal(channel.tryReceive(), null, 'claims the consumer');
    const result = await finished(spawnPython(['send-edges', '3'], channel.fd));
    assert.equal(result.code, 0);
    const edges = lastLine(result.stdout);
    assert.ok(edges.sent > 0);
    assert.deepEqual({ ...edges, sent: 0 }, { long: 'EMSGSIZE', sent: 0, full: 'EAGAIN', timeout: 'ETIMEDOUT' });
    for (let seq = 0; seq < edges.sent; seq++) {
      const received = channel.receiveSync({ timeout: TIMEOUT })!;
      assert.equal(received.length, 100);
      assert.equal(received.readUInt32LE(0), seq);
    }
    assert.equal(channel.receiveSync({ timeout: TIMEOUT }), null);
  });

  test('a Node consumer that closed: the Python producer fails with EPIPE at once', async () => {
    using channel = Channel.create({ capacity: 4096 });
    const consumer = Channel.fromFd(dup(channel), { role: 'consumer' });
    consumer.close();
    const result = await finished(spawnPython(['produce', '3', String(SEED), '10'], channel.fd));
    assert.equal(result.code, 1);
    assert.deepEqual(JSON.parse(result.stdout), { sent: 0, error: 'EPIPE' });
  });

  test('Python refuses memory that is no channel (EPROTO) and a second consumer (EBUSY)', async () => {
    using notAChannel = MemoryFile.create('not-a-channel', { size: 8192 });
    assert.deepEqual(lastLine((await finished(spawnPython(['open', '3'], notAChannel.fd))).stdout), { open: 'EPROTO' });
    using channel = Channel.create({ capacity: 4096 });
    assert.equal(channel.tryReceive(), null, 'claims the consumer');
    assert.deepEqual(lastLine((await finished(spawnPython(['open', '3'], channel.fd))).stdout), {
      open: 'ok',
      receive: 'EBUSY',
    });
    assert.equal(
      lastLine((await finished(spawnPython(['open', `/${uniqueIpcName('channel')}`]))).stdout).open,
      'ENOENT',
    );
  });
});
