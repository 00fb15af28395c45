// The shared-memory channel (src/channel.ts) between real processes and threads: order and content over
// many messages of changing sizes (so the ring wraps), backpressure, the end after a producer's close, a
// consumer's close and a dead peer ('EPIPE'), and a clear error for memory that is no channel.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Channel } from '../src/channel.js';
import { IpcError, MemoryFile, spawn } from '../src/index.js';
import { constants, native } from '../src/native.js';
import path from 'node:path';
import { finished, lineFrom, root } from './helpers.js';
import { message } from './peers/channel-messages.js';

const peer = path.join(root, 'test', 'peers', 'channel-peer.ts');

function spawnWith(channel: Channel, args: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', peer, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], fds: [channel.fd] });
}

describe('Channel', () => {
  for (const mode of ['sync', 'async'] as const) {
    test(`100,000 messages of 4–203 bytes to another process (${mode}): all, in order, intact`, async () => {
      using channel = Channel.create({ capacity: 64 * 1024 });
      const consumer = spawnWith(channel, ['consume', mode]);
      const done = finished(consumer);
      const hash = createHash('sha256');
      for (let i = 0; i < 100_000; i++) {
        const bytes = message(i);
        hash.update(bytes);
        if (mode === 'async') await channel.send(bytes);
        else channel.sendSync(bytes);
      }
      channel.close();
      const result = await done;
      assert.equal(result.code, 0);
      assert.deepEqual(JSON.parse(result.stdout), { n: 100_000, ordered: true, sha256: hash.digest('hex') });
    });
  }

  test('a producer in another process; the consumer iterates until the producer closes', async () => {
    using channel = Channel.create({ capacity: 4096 });
    const producer = spawnWith(channel, ['produce', 'async', '5000']);
    const done = finished(producer);
    let n = 0;
    for await (const received of channel) {
      assert.ok(received.equals(message(n)), `message ${n}`);
      n++;
    }
    assert.equal(n, 5000);
    assert.equal((await done).code, 0);
  });

  test('worker threads: a named channel opened in a worker; values through sendValue/receiveValue', async () => {
    const name = `/unipc-channel-${randomBytes(6).toString('hex')}`;
    using channel = Channel.create({ name, capacity: 4096 });
    try {
      const worker = new Worker(new URL('./peers/worker-bootstrap.mjs', import.meta.url), {
        workerData: { script: new URL('./peers/channel-peer.ts', import.meta.url).href, args: ['produce', 'sync', '3000', name] },
      });
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      let n = 0;
      for (let received = channel.receiveSync({ timeout: 10_000 }); received !== null; received = await channel.receive({ timeout: 10_000 })) {
        assert.ok(received.equals(message(n)), `message ${n}`);
        n++;
      }
      assert.equal(n, 3000);
      assert.equal(await exited, 0);
    } finally {
      Channel.unlink(name);
    }
    using values = Channel.create({ capacity: 4096 });
    const producer = spawnWith(values, ['produce-values', '-', '100']);
    const done = finished(producer);
    for (let i = 0; i < 100; i++) assert.deepEqual(await values.receiveValue(), { i, at: new Date(i), tags: new Set([`t${i}`]) });
    assert.equal(await values.receiveValue(), undefined);
    assert.equal((await done).code, 0);
  });

  test('backpressure: trySend is false when full, sendSync times out, send waits until the consumer reads', async () => {
    using producer = Channel.create({ capacity: 4096, maxMessageSize: 1000 });
    using consumer = Channel.fromFd(dup(producer));
    const chunk = randomBytes(1000);
    let sent = 0;
    while (producer.trySend(chunk)) sent++;
    assert.equal(sent, 4); // 4 × 1004 bytes fill 4096 − 80
    assert.throws(() => producer.sendSync(chunk, { timeout: 20 }), { code: 'ETIMEDOUT' });
    await assert.rejects(producer.send(chunk, { timeout: 20 }), { code: 'ETIMEDOUT' });
    const waiting = producer.send(chunk, { timeout: 10_000 });
    assert.ok(consumer.tryReceive()!.equals(chunk));
    await waiting;
    for (let i = 0; i < 4; i++) assert.ok(consumer.tryReceive()!.equals(chunk));
    assert.equal(consumer.tryReceive(), null);
  });

  test("a consumer's close fails the producer's sends with EPIPE", async () => {
    using producer = Channel.create({ capacity: 4096 });
    const consumer = Channel.fromFd(dup(producer));
    assert.equal(consumer.tryReceive(), null); // claims the consumer role
    consumer.close();
    consumer.close();
    assert.throws(() => producer.trySend('x'), (e: unknown) => e instanceof IpcError && e.code === 'EPIPE');
    await assert.rejects(producer.send('x'), { code: 'EPIPE' });
    assert.throws(() => consumer.tryReceive(), { code: 'EBADF' });
  });

  test('a producer killed with SIGKILL: the waiting consumer gets what was sent, then EPIPE', async () => {
    using channel = Channel.create({ capacity: 4096 });
    const producer = spawnWith(channel, ['produce-and-hang']);
    const done = finished(producer);
    await lineFrom(producer, 'sent');
    assert.equal((await channel.receive())!.toString(), 'one');
    producer.kill('SIGKILL');
    await done;
    await assert.rejects(channel.receive({ timeout: 10_000 }), (e: unknown) => e instanceof IpcError && e.code === 'EPIPE' && /died/.test(e.message));
    assert.throws(() => channel.receiveSync({ timeout: 10_000 }), { code: 'EPIPE' });
  });

  test('a timed-out or aborted receive leaves the channel as it was', async () => {
    using producer = Channel.create({ capacity: 4096 });
    using consumer = Channel.fromFd(dup(producer));
    await assert.rejects(consumer.receive({ timeout: 20 }), { code: 'ETIMEDOUT' });
    assert.throws(() => consumer.receiveSync({ timeout: 20 }), { code: 'ETIMEDOUT' });
    const controller = new AbortController();
    const aborted = consumer.receive({ signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(aborted, { name: 'AbortError' });
    producer.sendSync('after');
    assert.equal((await consumer.receive())!.toString(), 'after');
  });

  test('one producer, one consumer; a channel end keeps its role', () => {
    using channel = Channel.create({ capacity: 4096 });
    using other = Channel.fromFd(dup(channel));
    channel.trySend('a');
    assert.throws(() => channel.tryReceive(), { code: 'EINVAL', message: /producer/ });
    assert.equal(other.tryReceive()!.toString(), 'a');
    assert.throws(() => other.trySend('b'), { code: 'EINVAL', message: /consumer/ });
  });

  test('memory that is no channel, or of another layout version, is EPROTO; arguments are checked', () => {
    const file = MemoryFile.create('not-a-channel', { size: 8192 });
    try {
      assert.throws(() => Channel.fromFd(dup(file)), { code: 'EPROTO', message: /not a unipc channel/ });
      using mapping = file.map();
      new Int32Array(mapping.buffer).set([0x48434e55, 99]);
      assert.throws(() => Channel.fromFd(dup(file)), { code: 'EPROTO', message: /version 99/ });
    } finally {
      file.close();
    }
    assert.throws(() => Channel.create({ capacity: 5000 }), { code: 'ERR_INVALID_ARG_VALUE', message: /power of two/ });
    assert.throws(() => Channel.create({ capacity: 4096, maxMessageSize: 4096 }), { code: 'ERR_OUT_OF_RANGE' });
    using channel = Channel.create({ capacity: 4096 });
    assert.throws(() => channel.trySend(Buffer.alloc(channel.maxMessageSize + 1)), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => channel.trySend(42 as never), { code: 'ERR_INVALID_ARG_TYPE' });
  });
});

/** A duplicate of an object's descriptor, for a second end in this process (fromFd takes it over). */
function dup(owner: { fd: number }): number {
  const fd = native.fcntl(owner.fd, constants.F_DUPFD_CLOEXEC, 0);
  assert.ok(fd >= 0);
  return fd;
}
