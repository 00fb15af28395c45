// Adversarial cases for the shared-memory channel (src/channel.ts): a send made while a reservation is
// out, reservations handed out twice, records a peer wrote wrongly, the waiting words after a close,
// lent views that escape by transfer or reach beyond their message, and the ring's arithmetic at the
// 2^32 wrap of its indices, at maxMessageSize and for empty messages.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MessageChannel, Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { Channel, LENT_VIEW_GUARD } from '../src/channel.js';
import { MemoryFile } from '../src/index.js';
import { runtime } from '../src/native.js';
import { dup, finished, NODE_MAJOR, spawnPeer, until } from './helpers.js';

// Int32 indices of header words (docs/channel.md: byte offset / 4).
const HEAD = 16;
const TAIL = 32;
const CONSUMER_WAITING = 48;
const PRODUCER_WAITING = 49;
const RING = 4096;

/** The channel's memory, mapped once more: what a C peer sees. */
function rawWords(channel: Channel): { words: Int32Array; bytes: Uint8Array; [Symbol.dispose](): void } {
  const file = MemoryFile.fromFd(dup(channel));
  const mapping = file.map();
  return {
    words: new Int32Array(mapping.buffer),
    bytes: new Uint8Array(mapping.buffer),
    [Symbol.dispose]() {
      mapping.close();
      file.close();
    },
  };
}

describe('Channel (adversarial)', () => {
  test('a send while this end has a reservation out is refused: it neither lands on the reserved bytes nor is lost', async () => {
    using producer = Channel.create({ capacity: 4096 });
    using consumer = Channel.fromFd(dup(producer));
    const slot = producer.tryReserve(100)!;
    assert.throws(() => producer.trySend('xy'), { code: 'ERR_INVALID_STATE' });
    assert.throws(() => producer.sendSync('xy'), { code: 'ERR_INVALID_STATE' });
    await assert.rejects(producer.send('xy'), { code: 'ERR_INVALID_STATE' });
    slot.fill(65);
    producer.commit();
    producer.sendSync('after');
    assert.deepEqual(
      [consumer.tryReceive()?.toString(), consumer.tryReceive()?.toString(), consumer.tryReceive()],
      ['A'.repeat(100), 'after', null],
    );
  });

  test('multiple producers: a send while this end has a reservation out is refused the same way (no EDEADLK, no false)', () => {
    using producer = Channel.create({ capacity: 4096, multipleProducers: true });
    producer.tryReserve(8)!.fill(1);
    assert.throws(() => producer.trySend('x'), { code: 'ERR_INVALID_STATE' });
    assert.throws(() => producer.sendSync('x', { timeout: 10_000 }), { code: 'ERR_INVALID_STATE' });
    producer.commit();
    assert.ok(producer.trySend('x'));
  });

  test('a waiting send() or reserve() whose turn comes while a reservation is out does not write over it', async () => {
    using producer = Channel.create({ capacity: 4096, maxMessageSize: 1000 });
    using consumer = Channel.fromFd(dup(producer));
    using raw = rawWords(producer);
    const filler = Buffer.alloc(1000, 1);
    while (producer.trySend(filler)) {}
    // Both wait for room (on a waiter thread each in turn); then the consumer makes room and, before the
    // waiters run, this end reserves it.
    const sending = producer.send(Buffer.alloc(500, 2), { timeout: 10_000 });
    const reserving = producer.reserve(500, { timeout: 10_000 });
    await until(() => Atomics.load(raw.words, PRODUCER_WAITING) > 0, { pause: 0 });
    assert.ok(consumer.tryReceive()!.equals(filler));
    assert.ok(consumer.tryReceive()!.equals(filler));
    const mine = producer.tryReserve(600)!;
    const outcomes = await Promise.allSettled([sending, reserving]);
    mine.fill(3);
    producer.commit();
    for (const outcome of outcomes) assert.equal(outcome.status, 'rejected');
    const received: Buffer[] = [];
    for (let message = consumer.tryReceive(); message !== null; message = consumer.tryReceive()) received.push(message);
    assert.deepEqual(
      received.map((m) => [m.length, m[0]]),
      [
        [1000, 1],
        [1000, 1],
        [600, 3],
      ],
    );
    assert.equal(
      Atomics.load(raw.words, TAIL),
      Atomics.load(raw.words, HEAD),
      'the ring is empty, the tail where the last record ends',
    );
  });

  test('two reserve() calls queued for room: the second never gets the same bytes as the first', async () => {
    using producer = Channel.create({ capacity: 4096, maxMessageSize: 1000 });
    using consumer = Channel.fromFd(dup(producer));
    while (producer.trySend(Buffer.alloc(1000, 1))) {}
    const first = producer.reserve(100, { timeout: 10_000 });
    const second = producer.reserve(100, { timeout: 10_000 });
    consumer.tryReceive();
    const [a, b] = await Promise.allSettled([first, second]);
    assert.equal(a.status, 'fulfilled');
    assert.equal(b.status, 'rejected');
    (a as PromiseFulfilledResult<Uint8Array>).value.fill(7);
    producer.commit();
  });

  for (const bad of [
    { what: 'longer than maxMessageSize', length: 3000, tail: 3004 },
    { what: 'running past the tail', length: 100, tail: 8 },
    { what: 'negative', length: -2, tail: 8 },
  ]) {
    test(`a record a peer wrote wrongly (length ${bad.what}) is EPROTO, not a message of stale or uninitialised bytes`, () => {
      using producer = Channel.create({ capacity: 4096, maxMessageSize: 1000 });
      using consumer = Channel.fromFd(dup(producer));
      using raw = rawWords(producer);
      raw.bytes.fill(0x5a, RING, RING + 4096);
      raw.words[RING / 4] = bad.length;
      Atomics.store(raw.words, TAIL, bad.tail);
      assert.throws(() => consumer.tryReceive(), { code: 'EPROTO' });
      assert.throws(() => consumer.tryReceiveView(), { code: 'EPROTO' });
    });
  }

  test('waiting words go back to 0 when an end is closed under its waiting Promise-form call', async () => {
    using producer = Channel.create({ capacity: 4096, maxMessageSize: 1000, multipleProducers: true });
    using raw = rawWords(producer);
    // A producer closed while its send() waits for room.
    while (producer.trySend(Buffer.alloc(1000))) {}
    const other = Channel.fromFd(dup(producer));
    const blocked = other.send(Buffer.alloc(1000));
    await until(() => Atomics.load(raw.words, PRODUCER_WAITING) > 0, { pause: 0 });
    other.close();
    await assert.rejects(blocked, { code: 'EBADF' });
    assert.equal(
      Atomics.load(raw.words, PRODUCER_WAITING),
      0,
      'no producer sleeps (or every receive makes a futex call)',
    );
    // A consumer closed while its receive() waits for a message.
    const consumer = Channel.fromFd(dup(producer));
    while (consumer.tryReceive() !== null) {}
    const waiting = consumer.receive();
    await until(() => Atomics.load(raw.words, CONSUMER_WAITING) > 0, { pause: 0 });
    consumer.close();
    await assert.rejects(waiting, { code: 'EBADF' });
    assert.equal(Atomics.load(raw.words, CONSUMER_WAITING), 0, 'no consumer sleeps (or every send makes a futex call)');
  });

  test("a lent view is never moved out of release()'s reach by structuredClone() or postMessage(): copied or refused", async () => {
    using producer = Channel.create({ capacity: 4096, maxMessageSize: 1000 });
    using consumer = Channel.fromFd(dup(producer));
    producer.trySend(Buffer.alloc(100, 0x41));
    producer.trySend(Buffer.alloc(100, 0x41));
    // Refused with DataCloneError (Node marks it, from Node 22 on), or with a TypeError (the addon's
    // detach key, where Node 24's markAsUntransferable() would make it undetachable); copied on Node 20.
    const refused = (error: unknown) =>
      error instanceof Error && (error.name === 'DataCloneError' || /ArrayBufferDetachKey/.test(error.message));
    const escaped: Uint8Array[] = [];
    const first = consumer.tryReceiveView()!;
    if (runtime === 'deno') {
      // Deno moves external buffers (docs/runtimes.md): the moved view keeps seeing the ring's bytes, a
      // later message's once the ring laps, until the channel is closed; never freed memory.
      const moved = structuredClone(first, { transfer: [first.buffer as ArrayBuffer] });
      assert.equal(first.length, 0, 'moved, not lent here any more');
      consumer.release();
      for (let i = 0; i < 20; i++) {
        producer.trySend(Buffer.alloc(700, 0x42));
        consumer.tryReceive();
      }
      assert.ok(moved.includes(0x42), 'the moved view sees a later lap');
      return;
    }
    try {
      escaped.push(structuredClone(first, { transfer: [first.buffer as ArrayBuffer] }));
      assert.equal(NODE_MAJOR, 20, 'copied only where Node copies untransferable buffers');
    } catch (error) {
      assert.ok(refused(error), String(error));
    }
    assert.equal(first.length, 100, 'still lent here');
    consumer.release();
    const second = consumer.tryReceiveView()!;
    const { port1, port2 } = new MessageChannel();
    const posted = new Promise<Uint8Array>((resolve) => port2.once('message', resolve));
    try {
      port1.postMessage(second, [second.buffer as ArrayBuffer]);
      escaped.push(await posted);
    } catch (error) {
      assert.ok(refused(error), String(error));
    }
    port1.close();
    assert.equal(second.length, 100, 'still lent here');
    consumer.release();
    // Lap the ring several times with other bytes over the same place.
    for (let i = 0; i < 20; i++) {
      producer.trySend(Buffer.alloc(700, 0x42));
      consumer.tryReceive();
    }
    for (const copy of escaped)
      assert.ok(copy.length === 100 && !copy.includes(0x42), 'a copy, holding no bytes of a later lap');
  });

  test('ArrayBuffer.prototype.transfer() of a lent view: refused where lent views carry a detach key (Node 24 on)', {
    skip: typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer !== 'function',
  }, () => {
    using producer = Channel.create({ capacity: 4096 });
    using consumer = Channel.fromFd(dup(producer));
    producer.trySend(Buffer.alloc(100, 0x41));
    const view = consumer.tryReceiveView()!;
    const transfer = () => (view.buffer as ArrayBuffer & { transfer(): ArrayBuffer }).transfer();
    if (LENT_VIEW_GUARD === 'key') {
      assert.throws(transfer, TypeError);
      assert.equal(view.length, 100);
    } else {
      // Moved out of release()'s reach (docs/design.md says so): within this process, never to freed memory.
      const moved = new Uint8Array(transfer());
      assert.equal(moved[0], 0x41);
    }
    consumer.release();
    assert.equal(view.length, 0);
  });

  test("a lent view's ArrayBuffer holds its message only, not the header and the other messages", () => {
    using producer = Channel.create({ capacity: 4096 });
    using consumer = Channel.fromFd(dup(producer));
    producer.trySend('first');
    producer.trySend('second');
    const view = consumer.tryReceiveView()!;
    assert.equal(Buffer.from(view.buffer).toString(), 'first');
    consumer.release();
    const place = producer.tryReserve(10)!;
    assert.equal(place.buffer.byteLength, 10);
    producer.commit(0);
  });

  test('indices that wrap at 2^32: messages of every size and position across the wrap, copied and lent, arrive intact', () => {
    using producer = Channel.create({ capacity: 4096, maxMessageSize: 2040 });
    using consumer = Channel.fromFd(dup(producer));
    using raw = rawWords(producer);
    // A channel that has carried nearly 4 GiB: both indices 1000 bytes short of 2^32.
    Atomics.store(raw.words, HEAD, -1000);
    Atomics.store(raw.words, TAIL, -1000);
    let wrapped = false;
    for (let i = 0; i < 3000; i++) {
      const size = (i * 61) % 2041;
      const bytes = Buffer.alloc(size, i & 255);
      if (i % 2) {
        const place = producer.tryReserve(size)!;
        place.set(bytes);
        producer.commit();
      } else assert.ok(producer.trySend(bytes), `message ${i} fits an empty ring`);
      if (i % 3) {
        const view = consumer.tryReceiveView()!;
        assert.ok(Buffer.from(view).equals(bytes), `message ${i}`);
        consumer.release();
      } else assert.ok(consumer.tryReceive()!.equals(bytes), `message ${i}`);
      if (Atomics.load(raw.words, TAIL) >= 0) wrapped = true;
    }
    assert.ok(wrapped);
    assert.equal(consumer.tryReceive(), null);
  });

  test('maxMessageSize messages fit an empty ring wherever it stands; full and half-full rings wait, then take them', () => {
    using producer = Channel.create({ capacity: 4096, maxMessageSize: 4096 / 2 - 8 });
    using consumer = Channel.fromFd(dup(producer));
    const big = Buffer.alloc(producer.maxMessageSize, 9);
    for (let shift = 0; shift < 4096; shift += 4) {
      assert.ok(producer.trySend(Buffer.alloc(shift % 2000)));
      assert.equal(consumer.tryReceive()!.length, shift % 2000);
      assert.ok(producer.trySend(big), `after ${shift}`);
      assert.ok(producer.trySend(Buffer.alloc(0)));
      assert.ok(consumer.tryReceive()!.equals(big));
      assert.equal(consumer.tryReceive()!.length, 0);
    }
  });

  test('empty messages: sent, reserved and lent, they are empty Buffers and views, never the end', () => {
    using producer = Channel.create({ capacity: 4096 });
    using consumer = Channel.fromFd(dup(producer));
    assert.ok(producer.trySend(''));
    assert.ok(producer.trySend(new Uint8Array(0)));
    assert.equal(producer.tryReserve(0)!.length, 0);
    producer.commit();
    producer.close();
    assert.deepEqual(consumer.tryReceive(), Buffer.alloc(0));
    const view = consumer.tryReceiveView()!;
    assert.equal(view.length, 0);
    consumer.release();
    assert.deepEqual(consumer.receiveSync({ timeout: 10_000 }), Buffer.alloc(0));
    assert.equal(consumer.receiveSync({ timeout: 10_000 }), null);
  });
});

describe('Channel windows and threads (adversarial)', () => {
  for (const portable of [true, false]) {
    test(`lent views made ${portable ? 'through Node-API (UNIPC_PORTABLE_VIEWS=1)' : "the runtime's own way"} are cut off, and threads ending with their finalizers pending give their regions back`, async () => {
      const env = { ...process.env, UNIPC_PORTABLE_VIEWS: portable ? '1' : '0' };
      const child = spawnPeer('portable-views', [], { env });
      const { code, stdout } = await finished(child);
      assert.equal(code, 0);
      const report = JSON.parse(stdout);
      if (portable) assert.deepEqual([report.v8Views, report.guard], [false, 'node']);
      else assert.equal(report.guard, LENT_VIEW_GUARD);
      assert.deepEqual(report.cutOff, { committed: 0, released: 0, seen: [7, 7, 7, 7, 7, 7, 7, 7] });
      if (runtime === 'node') assert.equal(report.regionsLeft, 0, 'every region the threads mapped is unmapped');
      else {
        // Bun and Deno never finalize an ended worker's buffers, which may have moved to another thread:
        // the rings' address ranges stay reserved, inert (no memory, no memfd held), never unmapped.
        assert.equal(report.liveRegionsLeft, 0, 'every region the threads mapped is retired');
        assert.ok(report.regionsLeft <= 24, `${report.regionsLeft} ranges of 12 workers' two ends`);
      }
    });
  }

  test('producers in worker threads that end holding a reservation: their windows go with the threads, the consumer gets every commit, then EPIPE', async () => {
    using channel = Channel.create({ capacity: 4096, multipleProducers: true });
    const count = 2000;
    const workers = [0, 1, 2].map(
      () =>
        new Worker(new URL('./peers/worker-bootstrap.mjs', import.meta.url), {
          workerData: {
            script: new URL('./peers/channel-window-worker.ts', import.meta.url).href,
            fd: dup(channel),
            count,
          },
        }),
    );
    const exited = workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve)));
    // All attach before any can finish (the ring holds far fewer than `count` messages).
    await until(() => channel.producers === workers.length, { pause: 0 });
    let kept: Uint8Array | undefined;
    for (let i = 0; i < workers.length * count; i++) {
      const view = await channel.receiveView({ timeout: 30_000 });
      // Message j of a worker: 1 + j % 64 bytes of j & 255.
      assert.ok(
        view !== null && view.length >= 1 && view.every((byte) => byte === view[0] && byte % 64 === view.length - 1),
        `message ${i}`,
      );
      kept = view;
      channel.release();
    }
    assert.deepEqual(await Promise.all(exited), [0, 0, 0]);
    assert.equal(kept!.length, 0);
    await assert.rejects(channel.receive({ timeout: 30_000 }), { code: 'EPIPE' });
  });
});

describe('Channel batches (model)', () => {
  // Any mix of single and batched sends and receives, from any starting index (across the 2^32 wrap too),
  // behaves as one FIFO queue: each message received once, intact, in the order sent; a batch send takes
  // a prefix of its list; a too-small receiveInto() target leaves the message where it was.
  test('trySend/trySendMany/tryReceive/tryReceiveMany/tryReceiveInto interleaved: one FIFO, nothing lost or doubled', () => {
    const size = fc.integer({ min: 0, max: 1000 });
    const operation = fc.oneof(
      fc.record({ op: fc.constant('send' as const), size }),
      fc.record({ op: fc.constant('sendMany' as const), sizes: fc.array(size, { maxLength: 8 }) }),
      fc.record({ op: fc.constant('receive' as const) }),
      fc.record({ op: fc.constant('receiveMany' as const), max: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ op: fc.constant('receiveInto' as const), room: fc.integer({ min: 1, max: 1000 }) }),
    );
    const start = fc.oneof(fc.constant(0), fc.integer({ min: -5000, max: -1 }), fc.integer());
    fc.assert(
      fc.property(start, fc.array(operation, { maxLength: 60 }), (index, operations) => {
        using producer = Channel.create({ capacity: 4096, maxMessageSize: 1000 });
        using consumer = Channel.fromFd(dup(producer));
        using raw = rawWords(producer);
        // Indices are multiples of 4 (records are padded to 4 bytes).
        Atomics.store(raw.words, HEAD, index & ~3);
        Atomics.store(raw.words, TAIL, index & ~3);
        const queue: Buffer[] = [];
        let serial = 0;
        const next = (n: number) => Buffer.alloc(n, ++serial & 255);
        for (const step of operations) {
          if (step.op === 'send') {
            const message = next(step.size);
            if (producer.trySend(message)) queue.push(message);
          } else if (step.op === 'sendMany') {
            const list = step.sizes.map(next);
            const sent = producer.trySendMany(list);
            assert.ok(sent >= 0 && sent <= list.length);
            queue.push(...list.slice(0, sent));
          } else if (step.op === 'receive') {
            const received = consumer.tryReceive();
            if (queue.length === 0) assert.equal(received, null);
            else assert.ok(received!.equals(queue.shift()!));
          } else if (step.op === 'receiveMany') {
            const received = consumer.tryReceiveMany(step.max)!;
            assert.equal(received.length, Math.min(step.max, queue.length));
            for (const message of received) {
              assert.ok(Buffer.isBuffer(message));
              assert.ok(message.equals(queue.shift()!));
            }
          } else {
            const target = Buffer.alloc(step.room, 0xee);
            if (queue.length > 0 && queue[0]!.length > step.room) {
              assert.throws(() => consumer.tryReceiveInto(target), { code: 'EMSGSIZE' });
              continue;
            }
            const length = consumer.tryReceiveInto(target);
            if (queue.length === 0) assert.equal(length, null);
            else assert.ok(target.subarray(0, length!).equals(queue.shift()!));
          }
        }
        const rest = consumer.tryReceiveMany(1000)!;
        assert.equal(rest.length, queue.length);
        for (const [i, message] of rest.entries()) assert.ok(message.equals(queue[i]!));
      }),
      { numRuns: 300 },
    );
  });
});
