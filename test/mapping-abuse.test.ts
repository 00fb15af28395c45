// Abuse of mappings: views kept after close(), closing while asynchronous operations use the memory,
// closing twice and from several threads at once. Every scenario ends in a documented outcome (views
// that read as empty, IpcError 'EBADF', ERR_INVALID_ARG_VALUE for data that is gone, a message sent as
// it was at the call), never a crash. (test/mmap.test.ts and test/peers/mapping-hazards.ts cover Node's
// own jobs — thread-pool work, byte streams — over closed mappings.)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Channel } from '../src/channel.js';
import {
  IPC_PRIVATE,
  type Mapping,
  MemoryFile,
  MessageQueue,
  Mutex,
  mapAnonymous,
  mmap,
  PAGE_SIZE,
  PosixQueue,
  pipe,
  Semaphore,
  SharedMemory,
  SysvSharedMemory,
  socketpair,
} from '../src/index.js';
import { dup, tempDir, uniqueIpcName } from './helpers.js';

const SIZE = 2 * PAGE_SIZE;

// Lines of /proc/self/maps that map `path`.
function mapsOf(path: string): number {
  return fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((line) => line.includes(path)).length;
}

/** A mapping of every kind unipc makes, and how to let go of what it was made from. */
function everyKind(dir: ReturnType<typeof tempDir>): Array<[string, () => { mapping: Mapping; done(): void }]> {
  return [
    ['anonymous, private', () => ({ mapping: mapAnonymous(SIZE), done() {} })],
    ['anonymous, shared', () => ({ mapping: mapAnonymous(SIZE, { shared: true }), done() {} })],
    [
      'memfd',
      () => {
        const file = MemoryFile.create('abuse', { size: SIZE });
        return { mapping: file.map(), done: () => file.close() };
      },
    ],
    [
      'file, rw',
      () => {
        fs.writeFileSync(dir.file('rw'), Buffer.alloc(SIZE, 1));
        return { mapping: mmap(dir.file('rw'), { prot: 'rw' }), done() {} };
      },
    ],
    [
      'file, read-only',
      () => {
        fs.writeFileSync(dir.file('ro'), Buffer.alloc(SIZE, 1));
        return { mapping: mmap(dir.file('ro')), done() {} };
      },
    ],
    [
      'POSIX shared memory',
      () => {
        const name = uniqueIpcName('abuse');
        const memory = SharedMemory.open(name, { create: true, exclusive: true, size: SIZE });
        SharedMemory.unlink(name);
        return { mapping: memory.map(), done: () => memory.close() };
      },
    ],
    [
      'System V attachment',
      () => {
        const segment = SysvSharedMemory.get(IPC_PRIVATE, { create: true, size: SIZE });
        const mapping = segment.attach();
        segment.remove(); // gone once detached
        return { mapping, done() {} };
      },
    ],
  ];
}

describe('views kept after close()', () => {
  test('every kind of view reads as empty; writes go nowhere; what needs the memory is a TypeError, never a crash', () => {
    using dir = tempDir();
    for (const [kind, make] of everyKind(dir)) {
      const { mapping, done } = make();
      const bytes = new Uint8Array(mapping.buffer);
      const words = new Int32Array(mapping.buffer, PAGE_SIZE, 4);
      const doubles = new Float64Array(mapping.buffer);
      const buffer = Buffer.from(mapping.buffer, 8, 100);
      const part = bytes.subarray(10, 20);
      const data = new DataView(mapping.buffer, 4);
      if (mapping.writable) bytes[0] = 42;
      mapping.close();
      done();
      for (const view of [bytes, words, doubles, buffer, part]) {
        assert.equal(view.length, 0, `${kind}: a ${view.constructor.name} still reaches the pages`);
        assert.equal(view.byteLength, 0);
        assert.equal(view[0], undefined);
        view[0] = 7; // goes nowhere (a detached buffer has no elements)
        assert.equal(view[0], undefined);
      }
      assert.equal(buffer.toString(), '');
      assert.throws(() => data.getInt32(0), TypeError, `${kind}: DataView`);
      assert.throws(() => Atomics.load(words, 0), TypeError, `${kind}: Atomics`);
      assert.throws(() => bytes.fill(1), TypeError);
      assert.throws(() => new Uint8Array(mapping.buffer), TypeError);
      assert.throws(() => mapping.buffer.slice(0), TypeError);
      assert.throws(() => structuredClone(bytes), { name: 'DataCloneError' });
    }
    assert.equal(fs.readFileSync(dir.file('rw'))[0], 42, 'the write before close() reached the file');
    assert.equal(fs.readFileSync(dir.file('ro'))[0], 1, 'the write through a read-only mapping stayed private');
    fs.rmSync(dir.file('rw'));
    fs.rmSync(dir.file('ro'));
  });

  test('a view of a closed mapping given as data is ERR_INVALID_ARG_VALUE, not a silent empty message', async () => {
    const mapping = mapAnonymous(SIZE);
    const views: unknown[] = [
      new Uint8Array(mapping.buffer),
      Buffer.from(mapping.buffer),
      new DataView(mapping.buffer),
      new Float32Array(mapping.buffer, 8, 2),
    ];
    mapping.close();
    views.push(mapping.buffer); // the detached buffer itself
    using p = pipe();
    const [a, b] = socketpair('seqpacket');
    using channel = Channel.create({ capacity: 4096 });
    const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
    const name = `/${uniqueIpcName('abuse')}`;
    const posix = PosixQueue.open(name, { create: true, exclusive: true, maxMessages: 1, messageSize: 64 });
    try {
      const refused = {
        name: 'TypeError',
        code: 'ERR_INVALID_ARG_VALUE',
        message: /^The argument 'data' must not be detached/,
      };
      for (const view of views) {
        assert.throws(() => p.writer.writeSync(view as never), refused);
        await assert.rejects(p.writer.write(view as never), refused);
        assert.throws(() => a.sendSync(view as never), refused);
        await assert.rejects(a.send(view as never), refused);
        assert.throws(() => channel.trySend(view as never), refused);
        await assert.rejects(channel.send(view as never), refused);
        assert.throws(() => queue.sendSync(1, view as never), refused);
        await assert.rejects(queue.send(1, view as never), refused);
        assert.throws(() => posix.sendSync(view as never), refused);
        await assert.rejects(posix.send(view as never), refused);
      }
      // Nothing went anywhere.
      assert.throws(() => p.reader.readSync({ timeout: 0 }), { code: 'ETIMEDOUT' });
      assert.throws(() => b.receiveSync({ timeout: 0 }), { code: 'ETIMEDOUT' });
      assert.equal(queue.stat().messages, 0);
      assert.equal(posix.attributes().currentMessages, 0);
      // (control) empty data that was never a mapping's is an empty message
      a.sendSync(new Uint8Array(0));
      assert.equal(b.receiveSync({ timeout: 0 })!.data.length, 0);
    } finally {
      a.close();
      b.close();
      queue.remove();
      posix.close();
      PosixQueue.unlink(name);
    }
  });
});

describe('closing a mapping while asynchronous operations use it', () => {
  test('sync() in flight: the write-back completes on the pages it was given, and the promise resolves', async () => {
    using dir = tempDir();
    fs.writeFileSync(dir.file('f'), Buffer.alloc(4 << 20));
    const mapping = mmap(dir.file('f'), { prot: 'rw' });
    new Uint8Array(mapping.buffer).fill(7);
    const syncs = [mapping.sync(), mapping.sync({ offset: PAGE_SIZE, length: PAGE_SIZE })];
    mapping.close();
    await assert.rejects(mapping.sync(), { code: 'EBADF' });
    assert.deepEqual(await Promise.all(syncs), [undefined, undefined]);
    assert.equal(mapsOf(dir.file('f')), 0, 'the file is still mapped');
    const contents = fs.readFileSync(dir.file('f'));
    assert.equal(contents[0], 7);
    assert.equal(contents[contents.length - 1], 7);
    fs.rmSync(dir.file('f'));
  });

  // Each sender below must wait for room; the mapping holding its data is closed while it waits.
  const data = () => {
    const mapping = mapAnonymous(PAGE_SIZE);
    const bytes = new Uint8Array(mapping.buffer, 0, 48);
    bytes.set(randomBytes(48));
    return { mapping, bytes, copy: Buffer.from(bytes) };
  };

  test("a socket send() waiting for room: rejects with 'EBADF' (the data is gone), and sends nothing", async () => {
    const [a, b] = socketpair('seqpacket');
    try {
      let filled = 0;
      for (;;) {
        try {
          a.sendSync(Buffer.alloc(4096, 1), { timeout: 0 });
          filled++;
        } catch (error) {
          assert.equal((error as { code: string }).code, 'ETIMEDOUT');
          break;
        }
      }
      const { mapping, bytes } = data();
      const sending = a.send(bytes);
      mapping.close();
      b.receiveSync(); // room for the waiting send, which now finds its data detached
      await assert.rejects(sending, { code: 'EBADF', syscall: 'sendmsg', message: /detached/ });
      let received = 1;
      for (;;) {
        try {
          assert.equal(b.receiveSync({ timeout: 0 })!.data.length, 4096, 'the detached data was sent');
          received++;
        } catch (error) {
          assert.equal((error as { code: string }).code, 'ETIMEDOUT');
          break;
        }
      }
      assert.equal(received, filled);
    } finally {
      a.close();
      b.close();
    }
  });

  test('message queue and channel sends waiting for room: the message goes as it was at the call', async () => {
    // System V: a queue of 64 bytes, full.
    const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
    const name = `/${uniqueIpcName('abuse')}`;
    const posix = PosixQueue.open(name, { create: true, exclusive: true, maxMessages: 1, messageSize: 64 });
    using channel = Channel.create({ capacity: 4096, maxMessageSize: 64 });
    const consumer = Channel.fromFd(dup(channel));
    try {
      queue.set({ maxBytes: 64 });
      queue.sendSync(1, Buffer.alloc(64));
      posix.sendSync(Buffer.alloc(64));
      assert.equal(consumer.tryReceive(), null); // claims the consumer side
      let filled = 0;
      while (channel.trySend(Buffer.alloc(64))) filled++;

      const sysv = data();
      const viaSysv = queue.send(2, sysv.bytes);
      const mq = data();
      const viaPosix = posix.send(mq.bytes);
      const ring = data();
      const viaChannel = channel.send(ring.bytes);
      for (const { mapping } of [sysv, mq, ring]) mapping.close();

      assert.equal(queue.receiveSync({ type: 1 }).data.length, 64);
      await viaSysv;
      assert.deepEqual(queue.receiveSync({ type: 2 }).data, sysv.copy);
      assert.equal(posix.receiveSync().data.length, 64);
      await viaPosix;
      assert.deepEqual(posix.receiveSync().data, mq.copy);
      for (let i = 0; i < filled; i++) assert.equal(consumer.receiveSync()!.length, 64);
      await viaChannel;
      assert.deepEqual(consumer.receiveSync(), ring.copy);
    } finally {
      consumer.close();
      queue.remove();
      posix.close();
      PosixQueue.unlink(name);
    }
  });
});

describe('closing twice, and from several threads at once', () => {
  test('close(), detach(), dispose and the owner closing, in any order and from two async paths: one close, no error', async () => {
    for (const order of [0, 1, 2]) {
      const file = MemoryFile.create('abuse', { size: SIZE });
      const mapping = file.map();
      const mutex = new Mutex(mapping, 0);
      const guard = mutex.lockSync();
      const pending = new Mutex(mapping, 0).lock().then(
        () => 'locked',
        (error: { code: string }) => error.code,
      );
      if (order === 1) file.close(); // the owner first: the mapping lives on
      const closer = async (how: 'close' | 'detach' | 'dispose') => {
        await null;
        if (how === 'close') mapping.close();
        else if (how === 'detach') mapping.detach();
        else mapping[Symbol.dispose]();
      };
      await Promise.all([closer('close'), closer('detach'), closer('dispose'), closer('close')]);
      assert.equal(await pending, 'EBADF', 'a lock() pending on a closed mapping');
      assert.equal(mapping.closed, true);
      assert.throws(() => mutex.lockSync(), { code: 'EBADF' });
      // The lock word went with the mapping (README: release held locks before closing their mapping).
      assert.throws(() => guard.unlock(), { name: 'IpcError', code: 'EBADF', syscall: 'unlock' });
      if (order !== 1) file.close();
      file.close();
    }
  });

  test('the views of four threads and the main one closed at the same moment, with futex waits and msyncs pending in each', async () => {
    using dir = tempDir();
    const path = dir.file('shared');
    fs.writeFileSync(path, Buffer.alloc(1 << 20));
    const mapping = mmap(path, { prot: 'rw' });
    const guard = new Mutex(mapping, 0).lockSync(); // every worker's lock() waits
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const workers = Array.from(
      { length: 4 },
      () =>
        new Worker(new URL('./peers/worker-bootstrap.mjs', import.meta.url), {
          workerData: {
            script: new URL('./peers/mapping-closer.ts', import.meta.url).href,
            token: mapping.share(),
            gate,
          },
        }),
    );
    const reports = workers.map(
      (worker) =>
        new Promise((resolve, reject) => {
          worker.on('message', (message) => message !== 'ready' && resolve(message));
          worker.once('error', reject);
        }),
    );
    await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('message', resolve))));
    const mine = [new Semaphore(mapping, 8).wait().catch((error: { code: string }) => error.code), mapping.sync()];
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    mapping.close();
    mapping.close();
    assert.throws(() => guard.unlock(), { code: 'EBADF' });
    const expected = { locked: 'EBADF', waited: 'EBADF', synced: 'resolved', afterClose: 'EBADF', length: 0 };
    assert.deepEqual(await Promise.all(reports), [expected, expected, expected, expected]);
    assert.deepEqual(await Promise.all(mine), ['EBADF', undefined]);
    await Promise.all(workers.map((worker) => worker.terminate()));
    assert.equal(mapsOf(path), 0, 'the file is still mapped after every view was closed');
    fs.rmSync(path);
  });
});
