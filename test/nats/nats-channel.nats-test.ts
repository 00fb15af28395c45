// unipc/nats against a real nats-server with JetStream (started here on loopback, with a temporary
// store): `npm run test:nats`. Not part of `npm test`: the core suite needs no NATS.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Channel } from '../../src/channel.js';
import { type MessageEndpoint, NatsChannel } from '../../src/nats.js';
import { dup, finished, root } from '../helpers.js';
import { messageFor } from './messages.js';
import { type NatsServer, natsServerMissing, startNatsServer } from './server.js';

const unique = (what: string) => `${what}_${randomBytes(4).toString('hex')}`;

describe('NatsChannel (a real nats-server)', { skip: natsServerMissing() }, () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    await server?.stop();
  });
  const open = (stream: string, extra: { consumer?: string } = {}) =>
    NatsChannel.open({ servers: server.url, stream, subject: `${stream}.messages`, ...extra });

  test('2,000 messages of 4 B to 64 KiB from a producer process arrive once each, in order, intact; then null', async () => {
    const stream = unique('ORDER');
    const count = 2000;
    const consumer = await open(stream);
    try {
      const producer = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(root, 'test', 'nats', 'producer.ts'),
          server.url,
          stream,
          `${stream}.messages`,
          String(count),
        ],
        { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
      );
      const done = finished(producer);
      let received = 0;
      for await (const message of consumer) {
        assert.ok(message.equals(messageFor(received)), `message ${received} intact and in order`);
        received++;
      }
      assert.equal(received, count);
      assert.equal(await consumer.receive(), null, 'null again after the end');
      await done;
      assert.equal(producer.exitCode, 0);
    } finally {
      await consumer.close();
    }
  });

  test('the same code runs on a local Channel and on a NatsChannel (MessageEndpoint)', async () => {
    // What a program written against the interface does: send some, receive them, sum them up.
    async function roundTrip(out: MessageEndpoint, into: MessageEndpoint): Promise<string[]> {
      for (const word of ['alpha', 'beta', 'gamma']) await out.send(word, { timeout: 10_000 });
      const got: string[] = [];
      for (let i = 0; i < 3; i++) got.push((await into.receive({ timeout: 10_000 }))!.toString());
      return got;
    }
    using local = Channel.create();
    using localConsumer = Channel.fromFd(dup(local));
    const expected = ['alpha', 'beta', 'gamma'];
    assert.deepEqual(await roundTrip(local, localConsumer), expected);
    const stream = unique('SAME');
    const remote = await open(stream);
    try {
      assert.deepEqual(await roundTrip(remote, remote), expected);
    } finally {
      await remote.close();
    }
  });

  test('a receive that times out or is aborted takes nothing: the next one gets the message', async () => {
    const stream = unique('CANCEL');
    const channel = await open(stream);
    try {
      await assert.rejects(channel.receive({ timeout: 50 }), { code: 'ETIMEDOUT' });
      const controller = new AbortController();
      const aborted = channel.receive({ signal: controller.signal });
      controller.abort('enough');
      await assert.rejects(aborted, { name: 'AbortError', cause: 'enough' });
      await assert.rejects(channel.receive({ signal: AbortSignal.abort() }), { name: 'AbortError' });
      await channel.send('after the cancellations');
      assert.equal((await channel.receive({ timeout: 10_000 }))?.toString(), 'after the cancellations');
      await assert.rejects(channel.receive({ timeout: 50 }), { code: 'ETIMEDOUT' }, 'and nothing else');
    } finally {
      await channel.close();
    }
  });

  test('receive() calls made together are answered in the order made, each with its own message', async () => {
    const stream = unique('TOGETHER');
    const channel = await open(stream);
    try {
      const pending = [channel.receive(), channel.receive({ timeout: 30_000 }), channel.receive()];
      for (const word of ['one', 'two', 'three']) await channel.send(word);
      assert.deepEqual(
        (await Promise.all(pending)).map((m) => m?.toString()),
        ['one', 'two', 'three'],
      );
    } finally {
      await channel.close();
    }
  });

  test('a message sent twice with the same id is stored once (a retried send is not duplicated)', async () => {
    const stream = unique('DEDUP');
    const channel = await open(stream);
    try {
      await channel.send('first', { id: 'message-1' });
      await channel.send('first again', { id: 'message-1' });
      await channel.send('second', { id: 'message-2' });
      assert.equal((await channel.receive({ timeout: 10_000 }))?.toString(), 'first');
      assert.equal((await channel.receive({ timeout: 10_000 }))?.toString(), 'second');
      await assert.rejects(channel.receive({ timeout: 50 }), { code: 'ETIMEDOUT' });
    } finally {
      await channel.close();
    }
  });

  test("send({ after }) stores a message only behind the id given; lastMessageId() is the subject's last", async () => {
    const stream = unique('CHAIN');
    const channel = await open(stream);
    try {
      assert.equal(await channel.lastMessageId(), undefined, 'an empty stream');
      assert.equal(await channel.replicas(), 1, 'one server: one copy');
      await channel.send('one', { id: 'chain-1' });
      await channel.send('two', { id: 'chain-2', after: 'chain-1' });
      // Behind the wrong message: refused, so a sender with several in flight never stores out of order.
      await assert.rejects(channel.send('three', { id: 'chain-3', after: 'chain-1' }), { code: 10070 });
      assert.equal(await channel.lastMessageId(), 'chain-2');
      // A message sent again is dropped as a duplicate before its expectation is looked at.
      await channel.send('one', { id: 'chain-1', after: 'chain-0' });
      await channel.send('three', { id: 'chain-3', after: 'chain-2' });
      assert.equal(await channel.lastMessageId(), 'chain-3');
      for (const expected of ['one', 'two', 'three'])
        assert.equal((await channel.receive({ timeout: 10_000 }))?.toString(), expected);
      await assert.rejects(channel.receive({ timeout: 50 }), { code: 'ETIMEDOUT' });
    } finally {
      await channel.close();
    }
  });

  test('two receivers on one durable consumer share the messages, each once', async () => {
    const stream = unique('SHARED');
    const producer = await open(stream);
    const first = await open(stream, { consumer: 'workers' });
    const second = await open(stream, { consumer: 'workers' });
    try {
      const count = 200;
      for (let i = 0; i < count; i++) await producer.send(String(i));
      const seen: number[] = [];
      const take = async (channel: NatsChannel) => {
        for (;;) {
          const message = await channel.receive({ timeout: 1500 }).catch((error: { code?: string }) => {
            if (error.code === 'ETIMEDOUT') return null;
            throw error;
          });
          if (message === null) return;
          seen.push(Number(message.toString()));
        }
      };
      await Promise.all([take(first), take(second)]);
      assert.deepEqual(
        seen.sort((a, b) => a - b),
        Array.from({ length: count }, (_, i) => i),
      );
    } finally {
      await Promise.all([producer.close(), first.close(), second.close()]);
    }
  });

  test('receiveMessage: unacknowledged messages with their stream sequence and the end marked; receiveAfter reads by sequence', async () => {
    const stream = unique('SEQ');
    const channel = await open(stream);
    try {
      await channel.send('a');
      await channel.send('b');
      await channel.close({ end: true });
    } catch (error) {
      await channel.close();
      throw error;
    }
    const reader = await open(stream);
    try {
      assert.equal(await reader.lastSequence(), 3);
      const b = await reader.receiveAfter(1, { timeout: 10_000 });
      assert.deepEqual([b.data.toString(), b.sequence, b.end], ['b', 2, false]);
      assert.equal((await reader.receiveAfter(0, { timeout: 10_000 })).data.toString(), 'a', 'back to the start');
      const seen: Array<[string, number, boolean]> = [];
      for (let message = await reader.receiveMessage({ timeout: 10_000 }); message !== null; ) {
        seen.push([message.data.toString(), message.sequence, message.end]);
        await message.acknowledge();
        message = await reader.receiveMessage({ timeout: 10_000 });
      }
      assert.deepEqual(seen, [
        ['a', 1, false],
        ['b', 2, false],
        ['', 3, true],
      ]);
      assert.equal(await reader.receive(), null, 'after the acknowledged end');
    } finally {
      await reader.close();
    }
  });

  test('bad arguments are refused before anything reaches the server; a closed channel says so', async () => {
    await assert.rejects(NatsChannel.open({ servers: server.url, stream: '', subject: 'x' }), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
    await assert.rejects(NatsChannel.open({ servers: server.url, stream: 'S', subject: 7 as never }), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
    for (const replicas of [0, 6, 1.5, '3' as never])
      await assert.rejects(NatsChannel.open({ servers: server.url, stream: 'S', subject: 's', replicas }), {
        code: 'ERR_OUT_OF_RANGE',
      });
    const channel = await open(unique('ARGS'));
    await assert.rejects(channel.send(42 as never), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(channel.send('x', { after: '' }), { code: 'ERR_INVALID_ARG_VALUE' });
    await assert.rejects(channel.send('x', { id: '' }), { code: 'ERR_INVALID_ARG_VALUE' });
    await assert.rejects(channel.send('x', { timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
    await assert.rejects(channel.send(Buffer.alloc(channel.maxMessageSize + 1)), { code: 'ERR_OUT_OF_RANGE' });
    await channel.close();
    await assert.rejects(channel.send('x'), { code: 'ERR_INVALID_STATE' });
    await assert.rejects(channel.receive(), { code: 'ERR_INVALID_STATE' });
  });
});

test('the server killed with -9 and started again on its store: a producer that retries with the same ids loses and doubles nothing', {
  skip: natsServerMissing(),
  timeout: 120_000,
}, async () => {
  let server = await startNatsServer();
  const address = server.url;
  const stream = unique('RESTART');
  const options = { servers: address, stream, subject: `${stream}.messages` };
  const producer = await NatsChannel.open(options);
  const consumer = await NatsChannel.open(options);
  try {
    const count = 300;
    let retries = 0;
    for (let i = 0; i < count; i++) {
      if (i === count / 2) {
        await server.kill();
        server = await startNatsServer({ address, store: server.store });
      }
      // What a producer does about a send that failed: the same message again, with the same id.
      for (;;) {
        try {
          await producer.send(messageFor(i), { id: `message-${i}`, timeout: 5_000 });
          break;
        } catch {
          retries++;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    }
    await producer.close({ end: true });
    let received = 0;
    for (let message = await consumer.receive({ timeout: 60_000 }); message !== null; ) {
      assert.ok(message.equals(messageFor(received)), `message ${received} once, in order, intact`);
      received++;
      message = await consumer.receive({ timeout: 60_000 });
    }
    assert.equal(received, count, `all ${count} (after ${retries} retried sends)`);
  } finally {
    await consumer.close();
    await server.stop();
  }
});

test('without the NATS client packages, NatsChannel.open() says what to install', () => {
  const script = `
    const { NatsChannel } = await import('unipc/nats');
    try { await NatsChannel.open({ stream: 'S', subject: 's' }); console.log('opened'); }
    catch (error) { console.log(error.code + ' ' + error.message); }`;
  const run = spawnSync(
    process.execPath,
    ['--import', path.join(root, 'test', 'nats', 'hide-nats.mjs'), '--input-type=module', '-e', script],
    { cwd: root, encoding: 'utf8' },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.match(
    run.stdout,
    /^ERR_UNIPC_NO_NATS_CLIENT unipc\/nats needs the NATS client, which is not installed: npm install @nats-io\/transport-node @nats-io\/jetstream/,
  );
});
