// The shared-memory channel (src/channel.ts) between real processes and threads: order and content over
// many messages of changing sizes (so the ring wraps), backpressure, the end after a producer's close, a
// consumer's close and a dead peer ('EPIPE'), and a clear error for memory that is no channel.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Channel, channelInternals } from '../src/channel.js';
import { IpcError, MemoryFile, spawn } from '../src/index.js';
import { native, runtime } from '../src/native.js';
import { cpuPeer, dup, finished, lineFrom, peerCommand, peerRuntime, root, tempDir, uniqueIpcName } from './helpers.js';
import { message, tagged } from './peers/channel-messages.js';

const peer = path.join(root, 'test', 'peers', 'channel-peer.ts');

function spawnWith(channel: Channel, args: string[]) {
  const [command, runArguments] = peerCommand(peer);
  return spawn(command, [...runArguments, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    fds: [channel.fd],
  });
}

describe('Channel', () => {
  test("an unref'd Promise receive is woken by another process while a ref'd handle keeps the loop waiting", async () => {
    using channel = Channel.create({ capacity: 64 * 1024 });
    const keeper = setTimeout(() => {}, 120_000); // blocks the loop's poll for two minutes
    try {
      const received = channel.receive({ ref: false });
      const producer = spawnWith(channel, ['produce', 'sync', '1']);
      const stalled = new Promise((_, reject) => {
        const timer = setTimeout(() => reject(new Error("the receive waited for the ref'd timer")), 60_000);
        void received.finally(() => clearTimeout(timer));
      });
      assert.deepEqual(await Promise.race([received, stalled]), message(0));
      await finished(producer);
    } finally {
      clearTimeout(keeper);
    }
  });

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

  for (const mode of ['many', 'many-sync', 'into', 'into-sync'] as const) {
    test(`100,000 messages sent in batches (sendMany), received by ${mode.startsWith('many') ? 'receiveMany' : 'receiveInto'} (${mode.endsWith('sync') ? 'sync' : 'async'}) in another process: all, in order, intact`, async () => {
      using channel = Channel.create({ capacity: 64 * 1024 });
      const consumer = spawnWith(channel, ['consume', mode]);
      const done = finished(consumer);
      const hash = createHash('sha256');
      for (let i = 0; i < 100_000; ) {
        const batch = Array.from({ length: Math.min(1 + (i % 41), 100_000 - i) }, (_, k) => message(i + k));
        for (const bytes of batch) hash.update(bytes);
        if (mode.endsWith('sync')) channel.sendManySync(batch);
        else await channel.sendMany(batch);
        i += batch.length;
      }
      channel.close();
      const result = await done;
      assert.equal(result.code, 0);
      assert.deepEqual(JSON.parse(result.stdout), { n: 100_000, ordered: true, sha256: hash.digest('hex') });
    });
  }

  for (const mode of ['many', 'many-sync'] as const) {
    test(`a producer in another process sends in batches (${mode}); batches() drains it: all, in order`, async () => {
      using channel = Channel.create({ capacity: 4096 });
      const producer = spawnWith(channel, ['produce', mode, '20000']);
      const done = finished(producer);
      let n = 0;
      for await (const batch of channel.batches(100)) {
        assert.ok(batch.length >= 1 && batch.length <= 100, `a batch of ${batch.length}`);
        for (const received of batch) {
          assert.ok(received.equals(message(n)), `message ${n}`);
          n++;
        }
      }
      assert.equal(n, 20_000);
      assert.equal((await done).code, 0);
    });
  }

  test('sendMany: what fits goes out together; a timeout or abort partway says how many were sent, and nothing is lost or doubled', async () => {
    using producer = Channel.create({ capacity: 4096, maxMessageSize: 1000 });
    using consumer = Channel.fromFd(dup(producer));
    const batch = Array.from({ length: 10 }, (_, i) => Buffer.alloc(1000, i));
    // The ring holds 4 records of 1004 bytes: trySendMany sends those, in order.
    assert.equal(producer.trySendMany(batch), 4);
    assert.equal(producer.trySendMany(batch), 0);
    assert.throws(() => producer.sendManySync(batch.slice(4), { timeout: 20 }), { code: 'ETIMEDOUT', sent: 0 });
    // The consumer takes two: two more fit, then the wait times out with the rest unsent.
    assert.equal(consumer.tryReceiveMany(2)!.length, 2);
    await assert.rejects(producer.sendMany(batch.slice(4), { timeout: 50 }), { code: 'ETIMEDOUT', sent: 2 });
    const controller = new AbortController();
    const aborted = producer.sendMany(batch.slice(6), { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(
      consumer.tryReceiveMany(1)!.map((m) => m[0]),
      [2],
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    // Message 6 went out if the waiting sendMany() got to it before the abort (on a loaded machine it may
    // not have): either way `sent` says which, and the ring holds exactly that.
    const error = await aborted.then(
      () => assert.fail('resolved'),
      (e: Error & { sent?: number }) => e,
    );
    assert.equal(error.name, 'AbortError');
    assert.ok(error.sent === 0 || error.sent === 1, `sent ${error.sent}`);
    assert.deepEqual(
      consumer.tryReceiveMany(100)!.map((m) => m[0]),
      error.sent === 1 ? [3, 4, 5, 6] : [3, 4, 5],
      'each message once, in the order sent',
    );
    assert.deepEqual(consumer.tryReceiveMany(100), [], 'none now');
    // Arguments are checked before anything is sent.
    assert.throws(() => producer.trySendMany('x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => producer.trySendMany(['ok', Buffer.alloc(1001)]), { code: 'ERR_OUT_OF_RANGE' });
    assert.equal(consumer.tryReceive(), null, 'the valid message before the bad one was not sent');
    for (const max of [0, -1, 1.5, '3']) {
      assert.throws(() => consumer.tryReceiveMany(max as number), { code: /ERR_OUT_OF_RANGE|ERR_INVALID_ARG_TYPE/ });
    }
    producer.close();
    assert.equal(await consumer.receiveMany(5), null, 'null at the end');
  });

  test('sendMany and receiveMany: batches of hundreds of records, across the end of the ring: whole and in order', () => {
    using producer = Channel.create({ capacity: 4096 });
    using consumer = Channel.fromFd(dup(producer));
    const batch = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => Buffer.from(`m${String(from + i).padStart(5, '0')}`)); // 12-byte records
    // 150 records (1,800 bytes) then 150 more: the second batch reaches the end of the ring (tail 3,600 of
    // 4,096) and goes on from its start, and receiveMany() takes more records than its first scratch holds.
    for (const from of [0, 150, 300]) {
      assert.equal(producer.trySendMany(batch(from, 150)), 150);
      const received = consumer.tryReceiveMany(1000)!;
      assert.deepEqual(received.map(String), batch(from, 150).map(String));
    }
    // A batch bigger than the room: what fits goes, from the first, and the rest after the consumer takes.
    const big = batch(450, 400); // 4,800 bytes
    const sent = producer.trySendMany(big);
    assert.ok(sent > 300 && sent < 400, `sent ${sent}`);
    assert.equal(producer.trySendMany(big.slice(sent)), 0, 'no room until the consumer takes');
    const first = consumer.tryReceiveMany(1000)!;
    assert.equal(producer.trySendMany(big.slice(sent)), 400 - sent);
    assert.deepEqual([...first, ...consumer.tryReceiveMany(1000)!].map(String), big.map(String));
  });
  test('sendMany/sendManySync failing at their first attempt say so with sent: 0', async () => {
    using producer = Channel.create({ capacity: 4096 });
    const consumer = Channel.fromFd(dup(producer));
    assert.equal(consumer.tryReceive(), null); // the consumer is there
    consumer.close();
    await assert.rejects(producer.sendMany(['a', 'b']), { code: 'EPIPE', sent: 0 });
    assert.throws(() => producer.sendManySync(['a', 'b']), { code: 'EPIPE', sent: 0 });
    assert.throws(() => consumer.sendManySync(['a']), { code: 'EBADF', sent: 0 });
  });

  test("receiveInto: the length, into the caller's memory; a message too long for it stays; null at the end", async () => {
    using producer = Channel.create({ capacity: 4096 });
    using consumer = Channel.fromFd(dup(producer));
    const target = new Uint8Array(new SharedArrayBuffer(16));
    producer.sendSync('hello');
    producer.sendSync('x'.repeat(17));
    producer.sendSync('x'.repeat(17));
    producer.sendSync('');
    assert.equal(consumer.receiveIntoSync(target), 5);
    assert.equal(Buffer.from(target.subarray(0, 5)).toString(), 'hello');
    assert.throws(() => consumer.tryReceiveInto(target), { code: 'EMSGSIZE', message: /17 bytes.*16.*stays/ });
    assert.throws(() => consumer.receiveIntoSync(target), { code: 'EMSGSIZE' });
    const next = Buffer.alloc(17);
    assert.equal(consumer.receiveIntoSync(next, { timeout: 0 }), 17, 'each Sync call copies into its own target');
    assert.equal(next.toString(), 'x'.repeat(17));
    const wide = new DataView(new ArrayBuffer(40), 8, 32);
    assert.equal(await consumer.receiveInto(wide), 17, 'the message that did not fit, received once there is room');
    assert.equal(Buffer.from(wide.buffer, 8, 17).toString(), 'x'.repeat(17));
    assert.equal(consumer.tryReceiveInto(target), 0, 'an empty message');
    assert.equal(consumer.tryReceiveInto(target), null, 'none now');
    const waiting = consumer.receiveInto(target, { timeout: 10_000 });
    producer.sendSync('later');
    assert.equal(await waiting, 5);
    // A range of the buffer, checked as every …Into receive checks it.
    producer.sendSync('ranged');
    const wider = Buffer.alloc(20, 0x2e);
    assert.equal(consumer.receiveIntoSync(wider, { offset: 4, length: 6 }), 6);
    assert.equal(wider.toString(), '....ranged..........');
    assert.throws(() => consumer.tryReceiveInto('x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => consumer.tryReceiveInto(wider, { offset: 21 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => consumer.tryReceiveInto(wider, { offset: 4, length: 17 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => consumer.tryReceiveInto(Buffer.alloc(0)), { code: 'ERR_INVALID_ARG_VALUE' });
    producer.close();
    assert.equal(await consumer.receiveInto(target), null);
  });

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

  test('the async iterator: next() calls made together come in order, a loop left early takes nothing more', async () => {
    using producer = Channel.create({ capacity: 4096 });
    using consumer = Channel.fromFd(dup(producer));
    const iterator = consumer[Symbol.asyncIterator]();
    assert.equal(iterator[Symbol.asyncIterator](), iterator);
    const early = [iterator.next(), iterator.next(), iterator.next()]; // before anything is sent
    for (let n = 0; n < 6; n++) producer.sendSync(`m${n}`);
    assert.deepEqual(
      (await Promise.all(early)).map((item) => String(item.value)),
      ['m0', 'm1', 'm2'],
    );
    for await (const received of consumer) {
      assert.equal(String(received), 'm3');
      break;
    }
    assert.deepEqual(await iterator.return(undefined), { done: true, value: undefined });
    assert.deepEqual(await iterator.next(), { done: true, value: undefined }); // returned: finished
    assert.equal(String(consumer.tryReceive()), 'm4'); // the loop left it there
    producer.close();
    const rest = [];
    for await (const received of consumer) rest.push(String(received));
    assert.deepEqual(rest, ['m5']);
    consumer.close();
    const closed = consumer[Symbol.asyncIterator]();
    await assert.rejects(closed.next(), { code: 'EBADF' });
    assert.deepEqual(await closed.next(), { done: true, value: undefined }); // an error finished it
  });

  test('Promise round trips between two processes on one CPU: in order, none lost', async () => {
    // On one CPU a waiting Promise-form call yields the CPU to its peer and looks again before it turns
    // the event loop (a peer on the same CPU cannot answer while this side polls).
    using there = Channel.create({ capacity: 4096 });
    using back = Channel.create({ capacity: 4096 });
    const onOneCpu = (args: string[]) => {
      const [command, runArguments] = peerCommand(peer);
      return spawn('taskset', ['-c', '0', command, ...runArguments, ...args], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
        fds: [there.fd, back.fd],
      });
    };
    const echo = finished(onOneCpu(['echo']));
    const ping = finished(onOneCpu(['ping', '-', '3000']));
    const pinged = await ping;
    assert.equal(pinged.code, 0);
    assert.deepEqual(JSON.parse(pinged.stdout), { equal: 3000, end: null });
    assert.equal((await echo).code, 0);
  });

  test("a side reads its CPU from the kernel's rseq word, which follows the thread to another CPU, and tells it with each message, even if it never waited", async (t) => {
    // Whether to spin hangs on the CPU (a peer on the same one cannot answer meanwhile): the word must be
    // the kernel's own, rewritten when the thread moves, not a copy taken once. A side that never waits,
    // such as a producer that keeps up, tells it too, so that a consumer on its CPU does not spin for it;
    // without the word a side tells the CPU it last waited on, none (-1) in a peer that never waited.
    if (os.availableParallelism() < 2) return t.skip('needs two CPUs');
    const peer = await cpuPeer<{ producer: number; consumer: number }>();
    const { first } = peer;
    assert.equal(first.cpu, 0);
    const tells = (cpu: number) =>
      first.word === null ? { producer: -1, consumer: -1 } : { producer: cpu, consumer: cpu };
    assert.deepEqual(first.told, tells(0));
    // glibc registers one per thread from 2.35 on; Node's peers must then use it.
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    const glibc = report?.header?.glibcVersionRuntime;
    const [major = 0, minor = 0] = (glibc ?? '0.0').split('.').map(Number);
    const registers = major > 2 || (major === 2 && minor >= 35);
    if (first.word === null) {
      assert.ok(!registers || peerRuntime !== 'node', `glibc ${glibc} registers an rseq area, and Node lends it`);
      t.diagnostic(`no rseq word on ${peerRuntime} (glibc ${glibc}): each wait asks sched_getcpu()`);
    } else {
      assert.equal(first.word, 0);
    }
    assert.deepEqual(await peer.moved(), { word: first.word === null ? null : 1, cpu: 1, told: tells(1) });
    assert.equal(await peer.end(), 0);
  });

  test('worker threads: a named channel opened in a worker; values through sendValue/receiveValue', async () => {
    const name = `/${uniqueIpcName('channel')}`;
    using channel = Channel.create({ name, capacity: 4096 });
    try {
      const worker = new Worker(new URL('./peers/worker-bootstrap.mjs', import.meta.url), {
        workerData: {
          script: new URL('./peers/channel-peer.ts', import.meta.url).href,
          args: ['produce', 'sync', '3000', name],
        },
      });
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      let n = 0;
      for (
        let received = channel.receiveSync({ timeout: 10_000 });
        received !== null;
        received = await channel.receive({ timeout: 10_000 })
      ) {
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
    if ((peerRuntime === 'bun') !== (runtime === 'bun')) {
      // Bun's v8.serialize() writes JavaScriptCore's format, which V8's v8.deserialize() (Node's, Deno's)
      // does not read, nor Bun V8's: values cross only between two V8 runtimes or two Bun processes.
      await assert.rejects(values.receiveValue(), /deserialize/);
      for (let i = 1; i < 100; i++) assert.notEqual(await values.receive(), null, 'the other 99 arrive as bytes');
    } else {
      for (let i = 0; i < 100; i++)
        assert.deepEqual(await values.receiveValue(), { i, at: new Date(i), tags: new Set([`t${i}`]) });
    }
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
    assert.throws(
      () => producer.trySend('x'),
      (e: unknown) => e instanceof IpcError && e.code === 'EPIPE',
    );
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
    await assert.rejects(
      channel.receive({ timeout: 10_000 }),
      (e: unknown) => e instanceof IpcError && e.code === 'EPIPE' && /died/.test(e.message),
    );
    assert.throws(() => channel.receiveSync({ timeout: 10_000 }), { code: 'EPIPE' });
    // A producer that resumes the dead one's stream: what it sends arrives, and its close is the end.
    using resumed = Channel.fromFd(dup(channel), { role: 'producer', resume: true });
    resumed.sendSync('two');
    assert.equal((await channel.receive())!.toString(), 'two');
    resumed.close();
    assert.equal(await channel.receive({ timeout: 10_000 }), null, 'the end, not EPIPE');
    assert.throws(() => Channel.fromFd(channel.fd, { resume: true }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => Channel.fromFd(channel.fd, { role: 'producer', resume: 1 as never }), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
  });

  for (const resume of [false, true]) {
    test(`a producer killed with SIGKILL whose slot a new producer${resume ? ' opened with resume' : ''} takes over before the consumer looks: its messages, then ${resume ? 'null (no EPIPE)' : 'EPIPE (the taker records the death)'}`, async () => {
      using channel = Channel.create({ capacity: 4096 });
      const producer = spawnWith(channel, ['produce-and-hang']);
      const done = finished(producer);
      await lineFrom(producer, 'sent');
      producer.kill('SIGKILL');
      assert.equal((await done).signal, 'SIGKILL');
      assert.equal(channel.producers, 1, 'nobody has reaped the dead producer');
      // The only slot still names the dead thread: this producer takes it over from that id, not from 0.
      using taker = Channel.fromFd(dup(channel), { role: 'producer', resume });
      taker.sendSync('two');
      taker.close();
      assert.equal(channel.receiveSync()!.toString(), 'one');
      assert.equal(channel.receiveSync()!.toString(), 'two');
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
  }

  test('a producer killed inside close(), after it cleared its bit and before it freed its slot: no death, and a producer that takes its slot over records none', async () => {
    using channel = Channel.create({ capacity: 4096 });
    const producer = spawnWith(channel, ['produce-and-hang']);
    const done = finished(producer);
    await lineFrom(producer, 'sent');
    producer.kill('SIGKILL');
    await done;
    // What such a close leaves: the bit of slot 0 clear (producerMask, byte 208), the dead id in the slot.
    Atomics.and(new Int32Array(channelInternals(channel).mapping.buffer, 0, 1024), 208 / 4, ~1);
    assert.equal(channel.producers, 0);
    assert.equal(channel.receiveSync()!.toString(), 'one');
    assert.equal(await channel.receive({ timeout: 10_000 }), null, 'the end of a stream that was closed');
    using taker = Channel.fromFd(dup(channel), { role: 'producer' });
    taker.sendSync('two');
    taker.close();
    assert.equal(channel.receiveSync()!.toString(), 'two');
    assert.equal(await channel.receive({ timeout: 10_000 }), null, 'the end, not EPIPE');
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
    assert.throws(() => channel.tryReceive(), { code: 'ERR_INVALID_STATE', message: /producer/ });
    assert.equal(other.tryReceive()!.toString(), 'a');
    assert.throws(() => other.trySend('b'), { code: 'ERR_INVALID_STATE', message: /consumer/ });
  });

  // Bun and Deno make each lent view through Node-API, a few times slower: a fifth of the messages there
  // keeps npm run test:runtimes within CI's time.
  const inPlace = runtime === 'node' && peerRuntime === 'node' ? 1_000_000 : 200_000;
  test(`${inPlace.toLocaleString('en')} messages written in place in another process, received as views: all, in order, intact`, async () => {
    using channel = Channel.create({ capacity: 1 << 16 });
    const producer = spawnWith(channel, ['produce-in-place', '-', String(inPlace)]);
    const done = finished(producer);
    const expected = createHash('sha256');
    const received = createHash('sha256');
    let n = 0;
    let ordered = true;
    for (
      let view = channel.receiveViewSync({ timeout: 30_000 });
      view !== null;
      view = channel.receiveViewSync({ timeout: 30_000 })
    ) {
      if (view.length < 4 || new DataView(view.buffer, view.byteOffset, 4).getUint32(0, true) !== n) ordered = false;
      received.update(view);
      expected.update(message(n));
      channel.release();
      n++;
    }
    assert.equal((await done).code, 0);
    assert.equal(n, inPlace);
    assert.ok(ordered, 'sequence numbers in order');
    assert.equal(received.digest('hex'), expected.digest('hex'));
  });

  test('zero-copy: a view lives until release() or commit(), then reads as empty; one at a time', async () => {
    using producer = Channel.create({ capacity: 4096, maxMessageSize: 1000 });
    using consumer = Channel.fromFd(dup(producer));
    const slot = producer.tryReserve(100)!;
    assert.equal(slot.length, 100);
    assert.throws(() => producer.tryReserve(1), { code: 'ERR_INVALID_STATE' });
    assert.equal(consumer.tryReceiveView(), null, 'nothing is visible before commit()');
    slot.set(Buffer.from('written in place'));
    producer.commit(16);
    assert.equal(slot.length, 0, 'the reservation is cut off at commit()');
    slot[0] = 1; // writes to a cut-off view go nowhere
    assert.throws(() => producer.commit(), { code: 'ERR_INVALID_STATE' });
    assert.throws(() => producer.tryReserve(1001), { code: 'ERR_OUT_OF_RANGE' });

    const view = consumer.tryReceiveView()!;
    assert.equal(Buffer.from(view).toString(), 'written in place');
    assert.throws(() => consumer.tryReceive(), { code: 'ERR_INVALID_STATE' });
    assert.throws(() => consumer.tryReceiveView(), { code: 'ERR_INVALID_STATE' });
    consumer.release();
    consumer.release(); // harmless
    assert.equal(view.length, 0);
    assert.equal(view[0], undefined);
    assert.throws(() => view.subarray(0, 1).fill(1).at(0) ?? view.slice(0, 1).reduce(() => 0), TypeError);

    // Views across the end of the ring, many laps over the same bytes: each shows its own message.
    for (let i = 0; i < 200; i++) {
      const bytes = message(i * 37);
      const place = i % 2 ? await producer.reserve(bytes.length) : producer.reserveSync(bytes.length);
      place.set(bytes);
      producer.commit();
      const got = i % 3 ? await consumer.receiveView() : consumer.receiveViewSync();
      assert.ok(Buffer.from(got!).equals(bytes), `message ${i}`);
      consumer.release();
      assert.equal(got!.length, 0);
    }
    // A full ring: tryReserve says null, reserveSync times out, reserve waits for room.
    while (producer.trySend(Buffer.alloc(1000))) {}
    assert.equal(producer.tryReserve(1000), null);
    assert.throws(() => producer.reserveSync(1000, { timeout: 20 }), { code: 'ETIMEDOUT' });
    const later = producer.reserve(1000, { timeout: 10_000 });
    assert.ok(consumer.tryReceive());
    (await later).fill(9);
    producer.commit(0);
    // Closing cuts off what is lent out.
    const lent = consumer.tryReceiveView()!;
    const pending = producer.tryReserve(0)!;
    consumer.close();
    producer.close();
    assert.equal(lent.length, 0);
    assert.equal(pending.length, 0);
  });

  test('readIndex and writeIndex: bytes consumed and sent; a viewed message moves readIndex only when released', () => {
    using producer = Channel.create({ capacity: 4096 });
    using consumer = Channel.fromFd(dup(producer));
    assert.equal(producer.writeIndex, 0);
    assert.equal(consumer.readIndex, 0);
    producer.sendSync('12345678');
    producer.sendSync('abc');
    const afterTwo = producer.writeIndex;
    assert.ok(afterTwo >= 8 + 3, 'each record takes its bytes and a header');
    assert.equal(consumer.writeIndex, afterTwo, 'both ends see the same ring');
    const view = consumer.receiveViewSync({ timeout: 1000 })!;
    assert.equal(Buffer.from(view).toString(), '12345678');
    assert.equal(consumer.readIndex, 0, 'a view holds its room');
    consumer.release();
    const afterFirst = consumer.readIndex;
    assert.ok(afterFirst > 0 && afterFirst < afterTwo);
    assert.equal(consumer.receiveSync({ timeout: 1000 })!.toString(), 'abc');
    assert.equal(consumer.readIndex, afterTwo, 'all consumed');
    consumer.close();
    assert.throws(() => consumer.readIndex, { code: 'EBADF' });
    assert.throws(() => consumer.writeIndex, { code: 'EBADF' });
  });

  test('views outlive nothing: a view kept after its channel and mapping are closed reads as empty', () => {
    const producer = Channel.create({ capacity: 4096 });
    const consumer = Channel.fromFd(dup(producer));
    producer.trySend('x'.repeat(64));
    const view = consumer.tryReceiveView()!;
    channelInternals(consumer).mapping.close(); // behind the channel's back
    assert.ok(view.length === 0 || view.every((byte) => byte === 0), 'no crash, and no bytes of the ring');
    consumer.close();
    producer.close();
  });

  for (const kill of [false, true]) {
    test(`multiple producers${kill ? ', one killed holding the lock' : ''}: each producer's messages arrive whole and in its order`, async () => {
      using channel = Channel.create({ capacity: 1 << 14, multipleProducers: true });
      const modes = ['sync', 'async', 'in-place', 'many'];
      const perProducer = 20_000;
      const hanging = kill ? spawnWith(channel, ['reserve-and-hang']) : undefined;
      if (hanging) await lineFrom(hanging, 'reserved');
      const producers = modes.map((mode, id) =>
        spawnWith(channel, ['produce-tagged', mode, String(perProducer), String(id)]),
      );
      const done = producers.map((child) => finished(child));
      // Consumed only once all have attached: the ring holds far fewer than a producer sends, so none can
      // finish before, while one that attached first could otherwise finish (and the channel end for the
      // consumer) before the others started.
      while (channel.producers < modes.length + (hanging ? 1 : 0))
        await new Promise((resolve) => setTimeout(resolve, 10));
      // Once all have attached (and wait for the lock it holds), it dies: they take the lock over.
      hanging?.kill('SIGKILL');
      const next = modes.map(() => 0);
      let before = 0;
      const consume = async () => {
        for (;;) {
          const received = await channel.receive({ timeout: 30_000 });
          if (received === null) return;
          if (received.toString() === 'before') {
            before++;
            continue;
          }
          const id = received.readUInt32LE(0);
          const seq = received.readUInt32LE(4);
          assert.equal(seq, next[id], `producer ${id}: message ${next[id]} expected, ${seq} came`);
          assert.ok(received.equals(tagged(id, seq)), `producer ${id} message ${seq} intact`);
          next[id]++;
        }
      };
      try {
        if (kill) await assert.rejects(consume(), { code: 'EPIPE', message: /producer died/ });
        else await consume();
      } catch (error) {
        for (const child of [...producers, hanging]) child?.kill('SIGKILL'); // none may outlive a failure
        throw error;
      }
      hanging?.kill('SIGKILL');
      assert.deepEqual(
        next,
        modes.map(() => perProducer),
      );
      assert.equal(before, kill ? 1 : 0);
      for (const result of await Promise.all(done)) assert.equal(result.code, 0);
    });
  }

  test('producers: one per channel unless multipleProducers, then up to 32; a closed slot is free again', () => {
    using single = Channel.create({ capacity: 4096 });
    single.trySend('a');
    using second = Channel.fromFd(dup(single));
    assert.throws(() => second.trySend('b'), { code: 'EBUSY', message: /multipleProducers/ });
    using multi = Channel.create({ capacity: 4096, multipleProducers: true });
    const ends = Array.from({ length: 32 }, () => Channel.fromFd(dup(multi)));
    try {
      for (const end of ends) assert.ok(end.trySend('m'));
      using extra = Channel.fromFd(dup(multi));
      assert.throws(() => extra.trySend('m'), { code: 'EBUSY', message: /32 producers/ });
      ends.pop()!.close();
      assert.ok(extra.trySend('m'));
    } finally {
      for (const end of ends) end.close();
    }
    using consumer = Channel.fromFd(dup(multi));
    let n = 0;
    while (consumer.tryReceive() !== null) n++;
    assert.equal(n, 33);
  });

  test('spin: Infinity never sleeps but still times out and sees the end; the option is checked', () => {
    using producer = Channel.create({ capacity: 4096, spin: 0 });
    using consumer = Channel.fromFd(dup(producer), { spin: Infinity });
    assert.equal(consumer.spin, Infinity);
    assert.throws(() => consumer.receiveSync({ timeout: 30 }), { code: 'ETIMEDOUT' });
    producer.sendSync('spun');
    assert.equal(consumer.receiveSync({ timeout: 10_000 })!.toString(), 'spun');
    producer.close();
    assert.equal(consumer.receiveSync({ timeout: 10_000 }), null);
    for (const spin of [-1, 1.5, NaN, '10']) {
      assert.throws(() => Channel.create({ spin: spin as number }), { code: /ERR_OUT_OF_RANGE|ERR_INVALID_ARG_TYPE/ });
      assert.throws(() => (consumer.spin = spin as number), { code: /ERR_OUT_OF_RANGE|ERR_INVALID_ARG_TYPE/ });
    }
    assert.throws(() => Channel.create({ multipleProducers: 1 as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  });

  test('poll: a Promise-form wait looks between turns of the event loop before it sleeps, and can be stopped meanwhile', async () => {
    using producer = Channel.create({ capacity: 4096 });
    using consumer = Channel.fromFd(dup(producer), { poll: 1_000_000 });
    assert.equal(consumer.poll, 1_000_000);
    assert.equal(producer.poll, 50, 'the default');
    const turns = () => new Promise((resolve) => setTimeout(resolve, 5));
    // Polling: no waiter thread is asked to sleep, and the event loop runs its timers meanwhile.
    const receiving = consumer.receive({ timeout: 10_000 });
    await turns();
    assert.equal(native.waiterStats().pending, 0, 'polling, not sleeping on a waiter thread');
    producer.sendSync('polled');
    assert.equal((await receiving)!.toString(), 'polled');
    // A timeout, an abort and a close end a polling wait as they end a sleeping one.
    await assert.rejects(consumer.receive({ timeout: 20 }), { code: 'ETIMEDOUT' });
    const controller = new AbortController();
    const aborted = consumer.receive({ signal: controller.signal });
    await turns();
    controller.abort();
    await assert.rejects(aborted, { name: 'AbortError' });
    // poll 0: straight to a waiter thread after the spin.
    consumer.poll = 0;
    const sleeping = consumer.receive({ timeout: 10_000 });
    await turns();
    assert.equal(native.waiterStats().pending, 1, 'sleeping on a waiter thread');
    producer.sendSync('woken');
    assert.equal((await sleeping)!.toString(), 'woken');
    consumer.poll = 1_000_000;
    const closing = consumer.receive();
    await turns();
    consumer.close();
    await assert.rejects(closing, { code: 'EBADF' });
    for (const poll of [-1, 1.5, NaN, '10', 1_000_001]) {
      assert.throws(() => Channel.create({ poll: poll as number }), { code: /ERR_OUT_OF_RANGE|ERR_INVALID_ARG_TYPE/ });
      assert.throws(() => (producer.poll = poll as number), { code: /ERR_OUT_OF_RANGE|ERR_INVALID_ARG_TYPE/ });
    }
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

  test('spawn(…, { fds: [channel] }) hands the channel over, as every unipc object: closed here, the child has it', async () => {
    const handed = Channel.create({ capacity: 4096 });
    using consumer = Channel.fromFd(dup(handed), { role: 'consumer' });
    const child = spawn(...peerCommand(path.join(root, 'test', 'peers', 'channel-fd3.ts')), { fds: [handed] });
    assert.equal(handed.closed, true, 'closed in the parent once the child has it');
    assert.equal((await consumer.receive({ timeout: 30_000 }))?.toString(), 'from the child');
    assert.equal(await consumer.receive({ timeout: 30_000 }), null);
    assert.equal((await finished(child)).code, 0);
    assert.throws(() => spawn('true', [], { fds: [handed] }), { code: 'EBADF', syscall: 'spawn' });
  });

  test('role: claimed at open, a producer that sends nothing still ends the stream when it closes; the role is held', async () => {
    using consumer = Channel.create({ capacity: 4096, role: 'consumer' });
    const producer = Channel.fromFd(dup(consumer), { role: 'producer' });
    assert.equal(consumer.producers, 1);
    const waiting = consumer.receive({ timeout: 10_000 });
    producer.close();
    assert.equal(await waiting, null, 'the end, not a wait forever');
    assert.throws(() => consumer.trySend('x'), { code: 'ERR_INVALID_STATE', message: /consumer/ });
    assert.throws(() => Channel.fromFd(dup(consumer), { role: 'consumer' }), { code: 'EBUSY' });
    const fd = dup(consumer);
    assert.throws(() => Channel.fromFd(fd, { role: 'reader' as never }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.equal(native.close(fd), 0); // an argument error leaves the descriptor the caller's
  });

  test("fromFd() takes a named channel's descriptor as well as a memfd, and refuses other files, which stay the caller's", () => {
    const name = `/${uniqueIpcName('channel-fd')}`;
    using named = Channel.create({ name, capacity: 4096 });
    try {
      using consumer = Channel.fromFd(dup(named));
      named.trySend('through the name');
      assert.equal(consumer.tryReceive()?.toString(), 'through the name');
    } finally {
      Channel.unlink(name);
    }
    using dir = tempDir();
    fs.writeFileSync(dir.file('plain'), Buffer.alloc(8192));
    const plain = fs.openSync(dir.file('plain'), 'r+');
    assert.throws(() => Channel.fromFd(plain), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /must be a channel's memfd or POSIX shared memory descriptor/,
    });
    fs.fstatSync(plain); // still open
    fs.closeSync(plain);
  });
});
