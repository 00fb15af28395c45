// The channel's C ends (include/unipc/channel.h) against Node's (src/channel.ts), in real processes: C
// consumes what Node sends and the other way round, every size from 0 to maxMessageSize (so the ring
// wraps), several producers of both kinds into one consumer, a producer or a consumer killed with
// SIGKILL, and channels made and opened by name on either side. The C end is test/peers/channel_peer.c.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { describe, test } from 'node:test';
import { Channel } from '../src/channel.js';
import { IpcError, spawn } from '../src/index.js';
import { compilePeer, dup, finished, lineFrom, quietly, spawnPeer, uniqueIpcName } from './helpers.js';
import { tagged } from './peers/channel-messages.js';
import { delay, FNV_OFFSET, message, SEED, sum, withChildren } from './peers/interop.js';

const cPeer = () => compilePeer('channel_peer');
const COUNT = 10_000;

function spawnC(args: string[], channel?: Channel, { waitv = true } = {}): ChildProcess {
  return spawn(cPeer(), args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    fds: channel ? [channel.fd] : [],
    env: waitv ? process.env : { ...process.env, UNIPC_PEER_NO_WAITV: '1' },
  });
}

describe('Channel with C ends (include/unipc/channel.h)', () => {
  for (const waitv of [true, false]) {
    test(`a Node producer, a C consumer${waitv ? '' : ' sleeping with FUTEX_WAIT (no futex_waitv)'}: 10,000 messages of 0 to maxMessageSize bytes, intact and in order, then the end`, async () => {
      using channel = Channel.create({ capacity: 1 << 14, maxMessageSize: (1 << 13) - 8 });
      const child = spawnC(['consume', '3', String(SEED)], channel, { waitv });
      const done = finished(child);
      await withChildren([child], async () => {
        let expected = FNV_OFFSET;
        for (let i = 0; i < COUNT; i++) {
          const bytes = message(i, channel.maxMessageSize);
          expected = sum(expected, bytes);
          if (i % 2 === 0) await channel.send(bytes, { timeout: 30_000 });
          else channel.sendSync(bytes, { timeout: 30_000 });
        }
        channel.close();
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(JSON.parse(result.stdout), { n: COUNT, sum: expected, intact: true, end: 'end' });
      });
    });
  }

  for (const [mode, waitv] of [
    ['sync', true],
    ['async', true],
    ['async', false],
  ] as const) {
    test(`a C producer${waitv ? '' : ' sleeping with FUTEX_WAIT (no futex_waitv)'}, a Node consumer (${mode}): 10,000 messages of 0 to maxMessageSize bytes, intact and in order, then null`, async () => {
      using channel = Channel.create({ capacity: 1 << 14, maxMessageSize: (1 << 13) - 8 });
      const child = spawnC(['produce', '3', String(SEED), String(COUNT)], channel, { waitv });
      const done = finished(child);
      await withChildren([child], async () => {
        let received = FNV_OFFSET;
        let n = 0;
        for (;;) {
          const bytes =
            mode === 'sync' ? channel.receiveSync({ timeout: 30_000 }) : await channel.receive({ timeout: 30_000 });
          if (bytes === null) break;
          assert.ok(bytes.equals(message(n, channel.maxMessageSize)), `message ${n} intact`);
          received = sum(received, bytes);
          n++;
        }
        assert.equal(n, COUNT);
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(JSON.parse(result.stdout), { n: COUNT, sum: received });
        assert.equal(channel.producers, 0);
      });
    });
  }

  test("two C producers and a Node producer into one Node consumer: each producer's messages whole and in its order", async () => {
    using channel = Channel.create({ capacity: 1 << 14, multipleProducers: true });
    using nodeProducer = Channel.fromFd(dup(channel), { role: 'producer' });
    const perProducer = 20_000;
    const children = [1, 2].map((id) => spawnC(['produce-tagged', '3', String(id), String(perProducer)], channel));
    const done = children.map((child) => finished(child));
    await withChildren(children, async () => {
      // Consumed only once all have attached: the first to finish must not end the channel for the others.
      while (channel.producers < 3) await delay(10);
      const sending = (async () => {
        for (let seq = 0; seq < perProducer; seq++) await nodeProducer.send(tagged(0, seq), { timeout: 30_000 });
        nodeProducer.close();
      })();
      const next = [0, 0, 0];
      for (;;) {
        const received = await channel.receive({ timeout: 30_000 });
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

  test('a C producer killed with SIGKILL mid-stream: the Node consumer gets everything it published, then EPIPE', async () => {
    using channel = Channel.create({ capacity: 1 << 14 });
    const child = spawnC(['produce-forever', '3'], channel);
    const done = finished(child);
    await withChildren([child], async () => {
      await lineFrom(child, 'sending');
      let seq = 0;
      const take = (received: Buffer | null) => {
        assert.ok(received !== null, 'no end before EPIPE');
        assert.ok(received.equals(tagged(0, seq)), `message ${seq} whole and in order`);
        seq++;
      };
      for (; seq < 5000; ) take(await channel.receive({ timeout: 30_000 }));
      child.kill('SIGKILL');
      const result = await done;
      assert.equal(result.signal, 'SIGKILL');
      await assert.rejects(
        (async () => {
          for (;;) take(await channel.receive({ timeout: 10_000 }));
        })(),
        (e: unknown) => e instanceof IpcError && e.code === 'EPIPE' && /died/.test(e.message),
      );
      assert.ok(seq >= 5000);
      assert.equal(channel.readIndex, channel.writeIndex, 'everything published was received');
      assert.throws(() => channel.receiveSync({ timeout: 10_000 }), { code: 'EPIPE' });
      // A C producer that resumes the dead one's stream: what it sends arrives, and its close is the end.
      const resumer = spawnC(['produce-resume', '3', String(SEED), '300'], channel);
      const resumed = finished(resumer);
      await withChildren([resumer], async () => {
        // Until it attaches, the channel has ended (with EPIPE); it cannot close before this side receives.
        while (channel.producers === 0) await delay(10);
        for (let i = 0; i < 300; i++) {
          assert.ok((await channel.receive({ timeout: 10_000 }))!.equals(message(i, channel.maxMessageSize)));
        }
        assert.equal(await channel.receive({ timeout: 10_000 }), null, 'the end, not EPIPE');
        assert.equal((await resumed).code, 0);
      });
    });
  });

  for (const resume of [false, true]) {
    test(`a Node producer killed with SIGKILL whose slot a C producer${resume ? ' (UNIPC_CHANNEL_RESUME)' : ''} takes over before the Node consumer looks: all messages, then ${resume ? 'null (no EPIPE)' : 'EPIPE (the C taker records the death)'}`, async () => {
      using channel = Channel.create({ capacity: 1 << 16, maxMessageSize: 256 });
      const producer = spawnPeer('channel-peer', ['produce-and-hang'], { fds: [channel.fd] });
      const produced = finished(producer);
      await withChildren([producer], async () => {
        await lineFrom(producer, 'sent');
        producer.kill('SIGKILL');
        assert.equal((await produced).signal, 'SIGKILL');
        assert.equal(channel.producers, 1, 'nobody has reaped the dead producer');
        // 20 messages of at most 256 bytes fit the ring: the C producer finishes before anything is received.
        const taker = spawnC([resume ? 'produce-resume' : 'produce', '3', String(SEED), '20'], channel);
        const result = await finished(taker);
        assert.equal(result.code, 0);
        assert.equal(channel.receiveSync()!.toString(), 'one');
        for (let i = 0; i < 20; i++) assert.ok(channel.receiveSync()!.equals(message(i, channel.maxMessageSize)));
        if (resume) {
          assert.equal(await channel.receive({ timeout: 10_000 }), null, 'the end, not EPIPE');
        } else {
          await assert.rejects(
            channel.receive({ timeout: 10_000 }),
            (e: unknown) => e instanceof IpcError && e.code === 'EPIPE' && /died/.test(e.message),
          );
        }
      });
    });
  }

  test('a Node producer killed with SIGKILL: the C consumer gets what it sent, then EPIPE (it reaps the dead producer)', async () => {
    using channel = Channel.create({ capacity: 1 << 14 });
    const child = spawnC(['consume', '3', String(SEED)], channel);
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

  test('a C consumer killed with SIGKILL: a Node producer waiting on a full ring fails with EPIPE within a few hundred ms', async (t) => {
    using channel = Channel.create({ capacity: 4096 });
    const child = spawnC(['hold-consumer', '3'], channel);
    const done = finished(child);
    await withChildren([child], async () => {
      channel.sendSync('claims the consumer');
      await lineFrom(child, 'holding');
      const filler = Buffer.alloc(100, 1);
      while (channel.trySend(filler)) {}
      let settled = false;
      const sending = channel.send(filler, { timeout: 30_000 }).finally(() => {
        settled = true;
      });
      await delay(250);
      assert.equal(settled, false, 'blocked on the full ring while the consumer lives');
      const killedAt = performance.now();
      child.kill('SIGKILL');
      await assert.rejects(
        sending,
        (e: unknown) => e instanceof IpcError && e.code === 'EPIPE' && /died/.test(e.message),
      );
      const took = performance.now() - killedAt;
      t.diagnostic(`EPIPE ${took.toFixed(0)} ms after the kill`);
      assert.ok(took < 1000, `EPIPE within a few hundred ms of the kill (${took.toFixed(0)} ms)`);
      assert.equal((await done).signal, 'SIGKILL');
      assert.throws(() => channel.sendSync(filler, { timeout: 10_000 }), { code: 'EPIPE' });
    });
  });

  test('a named channel made by Node (Channel.create({ name })): the C consumer opens it with shm_open', async () => {
    const name = `/${uniqueIpcName('channel')}`;
    try {
      using channel = Channel.create({ name, capacity: 1 << 14, removeOnDispose: true });
      const child = spawnC(['consume', name, String(SEED)]);
      const done = finished(child);
      await withChildren([child], async () => {
        let expected = FNV_OFFSET;
        for (let i = 0; i < 2000; i++) {
          const bytes = message(i, channel.maxMessageSize);
          expected = sum(expected, bytes);
          await channel.send(bytes, { timeout: 30_000 });
        }
        channel.close();
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(JSON.parse(result.stdout), { n: 2000, sum: expected, intact: true, end: 'end' });
      });
    } finally {
      quietly(() => Channel.unlink(name), ['ENOENT']);
    }
  });

  test('a named channel made by C (unipc_channel_create_named): Node opens it with Channel.open() and produces', async () => {
    const name = `/${uniqueIpcName('channel')}`;
    try {
      const child = spawnC(['create-consume', name, String(SEED)]);
      const done = finished(child);
      await withChildren([child], async () => {
        await lineFrom(child, 'ready');
        using channel = Channel.open(name);
        Channel.unlink(name);
        assert.equal(channel.capacity, 1 << 14);
        assert.equal(channel.maxMessageSize, 4096);
        assert.equal(channel.multipleProducers, false);
        let expected = FNV_OFFSET;
        for (let i = 0; i < 2000; i++) {
          const bytes = message(i, channel.maxMessageSize);
          expected = sum(expected, bytes);
          channel.sendSync(bytes, { timeout: 30_000 });
        }
        channel.close();
        const result = await done;
        assert.equal(result.code, 0);
        const last = result.stdout.trim().split('\n').at(-1)!;
        assert.deepEqual(JSON.parse(last), { n: 2000, sum: expected, intact: true, end: 'end' });
      });
    } finally {
      quietly(() => Channel.unlink(name), ['ENOENT']);
    }
  });

  test('C receives: a try on an empty ring (EAGAIN), a timeout (ETIMEDOUT), a message too long for the buffer (EMSGSIZE, and it stays)', async () => {
    using channel = Channel.create({ capacity: 4096 });
    const child = spawnC(['edges', '3'], channel);
    const done = finished(child);
    await withChildren([child], async () => {
      await lineFrom(child, 'waiting');
      channel.sendSync(Buffer.alloc(100, 7));
      channel.close();
      const result = await done;
      assert.equal(result.code, 0);
      const edges = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
      assert.ok(edges.ms >= 49 && edges.ms < 5000, `the 50 ms timeout took ${edges.ms} ms`);
      delete edges.ms;
      assert.deepEqual(edges, { try: 'EAGAIN', timeout: 'ETIMEDOUT', small: 'EMSGSIZE', length: 100, end: 'end' });
    });
  });

  test('a Node consumer that closed: the C producer fails with EPIPE at once', async () => {
    using channel = Channel.create({ capacity: 4096 });
    const consumer = Channel.fromFd(dup(channel), { role: 'consumer' });
    consumer.close();
    const result = await finished(spawnC(['produce', '3', String(SEED), '10'], channel));
    assert.equal(result.code, 1);
    assert.deepEqual(JSON.parse(result.stdout), { sent: 0, error: 'EPIPE' });
  });
});
