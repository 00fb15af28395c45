// Receiving into the caller's memory: PipeReader.readInto, UnixSocket.receiveInto, MessageQueue.receiveInto
// and PosixQueue.receiveInto (and their Sync forms), between real processes. For each: a loop of
// receives into one reused buffer from a child, offset/length, call order with concurrent receives,
// cancellation that loses nothing (the next call gets the message), what a too-small buffer does (nothing
// lost where the kernel allows), argument errors, and views of a SharedArrayBuffer and of a Mapping. Every
// queue is IPC_PRIVATE or randomly named, and removed.
import assert from 'node:assert/strict';
import { spawn as spawnRaw, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  IPC_PRIVATE,
  type IpcError,
  MessageQueue,
  mapAnonymous,
  PosixQueue,
  type PosixReceiveInfo,
  pipe,
  type QueueReceiveInfo,
  socketpair,
} from '../src/index.js';
import { native } from '../src/native.js';
import {
  compilePeer,
  finished,
  lineFrom,
  openFdCount,
  posixQueuesUnavailable,
  quietly,
  spawnPeer,
  uniqueIpcName,
} from './helpers.js';

/** Views of every kind over fresh memory of `size` bytes: what a …Into call must accept. */
function views(size: number): Array<[string, ArrayBufferView]> {
  return [
    ['Buffer', Buffer.alloc(size)],
    ['Uint8Array', new Uint8Array(size)],
    ['DataView', new DataView(new ArrayBuffer(size))],
    ['Float64Array', new Float64Array(Math.ceil(size / 8))],
    ['SharedArrayBuffer', new Uint8Array(new SharedArrayBuffer(size))],
  ];
}

function bytesOf(view: ArrayBufferView, offset = 0, length = view.byteLength - offset): Buffer {
  return Buffer.from(view.buffer, view.byteOffset + offset, length);
}

/** Asserts the argument errors every …Into form gives (thrown, or the promise rejects), before any system call. */
async function assertArgumentErrors(call: (buffer: unknown, options?: object) => unknown): Promise<void> {
  const refused = (buffer: unknown, options: object | undefined, code: string, what?: string | RegExp) =>
    assert.rejects(
      async () => call(buffer, options),
      typeof what === 'object' ? { code, message: what } : { code },
      typeof what === 'string' ? what : undefined,
    );
  for (const bad of [undefined, null, 'text', 42, new ArrayBuffer(8), [1, 2]]) {
    await refused(bad, undefined, 'ERR_INVALID_ARG_TYPE', String(bad));
  }
  await refused(Buffer.alloc(0), undefined, 'ERR_INVALID_ARG_VALUE', 'an empty buffer');
  await refused(Buffer.alloc(8), { offset: 8 }, 'ERR_INVALID_ARG_VALUE', 'no room at offset');
  await refused(Buffer.alloc(8), { offset: 9 }, 'ERR_OUT_OF_RANGE');
  await refused(Buffer.alloc(8), { offset: -1 }, 'ERR_OUT_OF_RANGE');
  await refused(Buffer.alloc(8), { offset: 1.5 }, 'ERR_OUT_OF_RANGE');
  await refused(Buffer.alloc(8), { offset: '1' }, 'ERR_INVALID_ARG_TYPE');
  await refused(Buffer.alloc(8), { length: 0 }, 'ERR_OUT_OF_RANGE', '0 would mean the end');
  await refused(Buffer.alloc(8), { offset: 4, length: 5 }, 'ERR_OUT_OF_RANGE');
  await refused(Buffer.alloc(8), { length: 2 ** 53 }, 'ERR_OUT_OF_RANGE');
  const closed = mapAnonymous(4096);
  const view = new Uint8Array(closed.buffer);
  closed.close();
  await refused(view, undefined, 'ERR_INVALID_ARG_VALUE', /detached/);
}

describe('PipeReader.readInto', () => {
  test('a child writes 1 MiB; every byte arrives through one reused buffer, then 0 at the end', async () => {
    const { reader, writer } = pipe();
    const size = 1024 * 1024;
    const child = spawnPeer('pipe-writer', [String(size)], { fds: [writer] });
    const done = finished(child);
    const buffer = Buffer.alloc(10_000);
    let total = 0;
    let patternOk = true;
    for (let n = await reader.readInto(buffer, { timeout: 30_000 }); n > 0; ) {
      for (let i = 0; i < n; i++) patternOk &&= buffer[i] === 'abcdefgh'.charCodeAt((total + i) % 8);
      total += n;
      n = await reader.readInto(buffer, { timeout: 30_000 });
    }
    assert.equal(total, size);
    assert.ok(patternOk, 'the bytes are the pattern, in order');
    assert.equal(reader.readIntoSync(buffer), 0, 'the end stays the end');
    assert.equal((await done).code, 0);
    reader.close();
  });

  test('offset and length, every kind of view; readIntoSync writes only its range', () => {
    using p = pipe();
    for (const [kind, view] of views(64)) {
      p.writer.writeSync('0123456789');
      assert.equal(p.reader.readIntoSync(view, { offset: 5, length: 4 }), 4, kind);
      assert.equal(bytesOf(view, 5, 4).toString(), '0123', kind);
      assert.ok(bytesOf(view, 0, 5).equals(Buffer.alloc(5)) && bytesOf(view, 9, 8).equals(Buffer.alloc(8)), kind);
      assert.equal(p.reader.readIntoSync(view), 6, kind);
      assert.equal(bytesOf(view, 0, 6).toString(), '456789', kind);
    }
    using map = mapAnonymous(4096, { shared: true });
    p.writer.writeSync('into a mapping');
    assert.equal(p.reader.readIntoSync(new DataView(map.buffer), { offset: 100 }), 14);
    assert.equal(Buffer.from(map.buffer, 100, 14).toString(), 'into a mapping');
  });

  test('concurrent readInto() calls are served in call order; abort and timeout lose nothing', async () => {
    using p = pipe();
    const buffers = [Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8)];
    const reads = buffers.map((buffer) => p.reader.readInto(buffer));
    for (const [i, word] of ['one', 'two', 'three'].entries()) {
      p.writer.writeSync(word);
      assert.equal(await reads[i], word.length);
      assert.equal(buffers[i]!.toString('utf8', 0, word.length), word);
    }
    const buffer = Buffer.alloc(16, '.');
    await assert.rejects(p.reader.readInto(buffer, { timeout: 20 }), { code: 'ETIMEDOUT', syscall: 'read' });
    const controller = new AbortController();
    const aborted = p.reader.readInto(buffer, { signal: controller.signal });
    controller.abort();
    await assert.rejects(aborted, { name: 'AbortError' });
    await assert.rejects(p.reader.readInto(buffer, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(buffer.toString(), '.'.repeat(16), 'a cancelled read wrote nothing');
    p.writer.writeSync('kept');
    assert.equal(p.reader.readIntoSync(buffer, { timeout: 1000 }), 4, 'the next read gets the data');
    assert.throws(() => p.reader.readIntoSync(buffer, { timeout: 10 }), { code: 'ETIMEDOUT' });
  });

  test('a Mapping closed while a readInto() waits: EBADF, and the data stays in the pipe', async () => {
    using p = pipe();
    const map = mapAnonymous(4096);
    const pending = p.reader.readInto(new Uint8Array(map.buffer), { timeout: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 10));
    map.close();
    p.writer.writeSync('not lost');
    await assert.rejects(pending, { code: 'EBADF', message: /detached.*nothing was received/ });
    assert.equal(p.reader.readSync()?.toString(), 'not lost');
  });

  test('argument errors, before anything is read', async () => {
    using p = pipe();
    p.writer.writeSync('untouched');
    await assertArgumentErrors((buffer, options) => p.reader.readIntoSync(buffer as never, options));
    await assertArgumentErrors((buffer, options) => p.reader.readInto(buffer as never, options));
    assert.equal(p.reader.readSync()?.toString(), 'untouched');
  });

  test('property: any offset and length get exactly min(length, available) bytes, and nothing outside', () => {
    using p = pipe();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 256 }),
        fc.nat({ max: 255 }),
        fc.nat({ max: 255 }),
        fc.integer({ min: 1, max: 300 }),
        (size, rawOffset, rawLength, available) => {
          const offset = rawOffset % size;
          const length = 1 + (rawLength % (size - offset));
          const data = randomBytes(available);
          p.writer.writeSync(data);
          const target = Buffer.alloc(size, 0xee);
          let got = 0;
          const n = p.reader.readIntoSync(target, { offset, length });
          got += n;
          assert.equal(n, Math.min(length, available));
          assert.ok(target.subarray(offset, offset + n).equals(data.subarray(0, n)));
          assert.ok(target.subarray(0, offset).every((b) => b === 0xee));
          assert.ok(target.subarray(offset + n).every((b) => b === 0xee));
          while (got < available) got += p.reader.readIntoSync(Buffer.alloc(available)); // drain the rest
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('UnixSocket.receiveInto', () => {
  test('seqpacket: 2,000 messages from a child into one reused buffer; null at the end', async () => {
    const [mine, theirs] = socketpair('seqpacket');
    const count = 2000;
    const child = spawnPeer('socket-sender', [String(count)], { fds: [theirs] });
    const done = finished(child);
    // Listened for now: finished() reads stdout as it comes, so a line printed before a later
    // lineFrom() would be missed, and the test would wait forever.
    const sent = lineFrom(child, 'sent');
    const buffer = new Uint8Array(64);
    for (let i = 0; i < count; i++) {
      const n = i % 2 === 0 ? await mine.receiveInto(buffer, { timeout: 30_000 }) : mine.receiveIntoSync(buffer);
      assert.equal(bytesOf(buffer, 0, n!).toString(), `message ${i}`);
    }
    await sent;
    child.kill();
    await done;
    assert.equal(await mine.receiveInto(buffer, { timeout: 30_000 }), null, 'the peer is gone');
    mine.close();
  });

  for (const type of ['seqpacket', 'dgram'] as const) {
    test(`${type}: a message longer than the range stays queued (EMSGSIZE naming both sizes); empty messages`, async () => {
      const [a, b] = socketpair(type);
      try {
        a.sendSync('0123456789');
        a.sendSync('');
        const small = Buffer.alloc(16, '.');
        assert.throws(() => b.receiveIntoSync(small, { length: 9 }), {
          code: 'EMSGSIZE',
          message: /\(10 bytes\) is longer than the 9 bytes .* stays queued/,
        });
        await assert.rejects(b.receiveInto(small, { offset: 8 }), { code: 'EMSGSIZE' });
        assert.equal(small.toString(), '.'.repeat(16), 'nothing was written');
        assert.equal(await b.receiveInto(small, { offset: 6 }), 10, 'exactly its size fits');
        assert.equal(small.toString('utf8', 6), '0123456789');
        assert.equal(b.receiveIntoSync(small), 0, 'an empty message is 0, not the end');
      } finally {
        a.close();
        b.close();
      }
    });
  }

  test('a message with descriptors stays queued (EPROTO) and receive() gets it; none leaks', async () => {
    const [a, b] = socketpair('seqpacket');
    try {
      const before = openFdCount();
      a.sendSync('with a descriptor', { fds: [0] });
      const buffer = Buffer.alloc(64);
      assert.throws(() => b.receiveIntoSync(buffer), { code: 'EPROTO', message: /stays queued/ });
      await assert.rejects(b.receiveInto(buffer), { code: 'EPROTO' });
      assert.equal(openFdCount(), before, 'peeked copies closed');
      const message = b.receiveSync();
      assert.equal(message?.data.toString(), 'with a descriptor');
      assert.equal(message?.fds.length, 1);
      assert.equal(native.close(message!.fds[0]!), 0);
    } finally {
      a.close();
      b.close();
    }
  });

  test('stream: bytes into the range; descriptors that come with them are closed and reported', async () => {
    const [a, b] = socketpair('stream');
    try {
      const before = openFdCount();
      a.sendSync('abcdef');
      const buffer = Buffer.alloc(8, '.');
      assert.equal(b.receiveIntoSync(buffer, { offset: 2, length: 4 }), 4);
      assert.equal(buffer.toString(), '..abcd..');
      assert.equal(await b.receiveInto(buffer), 2);
      a.sendSync('x', { fds: [0] });
      assert.throws(() => b.receiveIntoSync(buffer), { code: 'EPROTO', message: /1 bytes .* closed/ });
      assert.equal(openFdCount(), before, 'the descriptor was closed');
      a.shutdown('write');
      assert.equal(await b.receiveInto(buffer), null);
    } finally {
      a.close();
      b.close();
    }
  });

  test('concurrent receiveInto() calls in call order; abort and timeout lose nothing; close() rejects with EBADF', async () => {
    const [a, b] = socketpair('seqpacket');
    try {
      const buffers = [Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8)];
      const receives = buffers.map((buffer) => b.receiveInto(buffer));
      for (const [i, word] of ['one', 'two', 'three'].entries()) {
        a.sendSync(word);
        assert.equal(await receives[i], word.length);
        assert.equal(buffers[i]!.toString('utf8', 0, word.length), word);
      }
      const buffer = Buffer.alloc(8);
      await assert.rejects(b.receiveInto(buffer, { timeout: 20 }), { code: 'ETIMEDOUT', syscall: 'recvmsg' });
      const controller = new AbortController();
      const aborted = b.receiveInto(buffer, { signal: controller.signal });
      controller.abort();
      await assert.rejects(aborted, { name: 'AbortError' });
      a.sendSync('kept');
      assert.equal(await b.receiveInto(buffer), 4);
      assert.equal(buffer.toString('utf8', 0, 4), 'kept');
      const pending = b.receiveInto(buffer);
      b.close();
      await assert.rejects(pending, { code: 'EBADF' });
    } finally {
      a.close();
      b.close();
    }
  });

  test('argument errors, before anything is received', async () => {
    const [a, b] = socketpair('dgram');
    try {
      a.sendSync('untouched');
      await assertArgumentErrors((buffer, options) => b.receiveIntoSync(buffer as never, options));
      await assertArgumentErrors((buffer, options) => b.receiveInto(buffer as never, options));
      assert.equal(b.receiveSync()?.data.toString(), 'untouched');
    } finally {
      a.close();
      b.close();
    }
  });
});

// ---- System V ----------------------------------------------------------------------------------------

async function withSysvQueue<T>(body: (queue: MessageQueue) => T | Promise<T>): Promise<T> {
  const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
  try {
    return await body(queue);
  } finally {
    quietly(() => queue.remove());
  }
}

function cSendSysv(queue: MessageQueue, messages: Array<[number | bigint, string]>): void {
  const result = spawnSync(
    compilePeer('msg_sysv'),
    ['send', String(queue.id), ...messages.map(([type, text]) => `${type}:${Buffer.byteLength(text)}`)],
    { input: messages.map(([, text]) => text).join('') },
  );
  assert.equal(result.status, 0, String(result.stderr));
}

describe('MessageQueue.receiveInto', () => {
  test('20,000 messages a C process floods arrive in one buffer, types in the info object, in order', () =>
    withSysvQueue(async (queue) => {
      const count = 20_000;
      const flood = spawnRaw(compilePeer('msg_sysv'), ['flood', String(queue.id), String(count), '40'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const done = finished(flood);
      const buffer = Buffer.alloc(64);
      const info: QueueReceiveInfo = { length: 0, type: 0 };
      for (let i = 0; i < count; i++) {
        const n =
          i % 2 === 0
            ? await queue.receiveInto(buffer, { info, timeout: 30_000 })
            : queue.receiveIntoSync(buffer, { info, timeout: 30_000 });
        assert.equal(n, 40);
        assert.equal(info.length, 40);
        assert.equal(info.type, (i % 3) + 1);
        assert.equal(buffer.readBigUInt64LE(0), BigInt(i));
      }
      assert.equal((await done).code, 0);
    }));

  test('type selection (type, negative, except), offset/length, bigint types, every kind of view', () =>
    withSysvQueue(async (queue) => {
      cSendSysv(queue, [
        [3, 'c'],
        [1, 'a'],
        [2n ** 62n, 'huge'],
        [2, 'b'],
      ]);
      const info: QueueReceiveInfo = { length: 0, type: 0 };
      const [, view] = views(32)[2]!; // a DataView
      assert.equal(queue.receiveIntoSync(view, { type: 2, info, offset: 3, length: 5 }), 1);
      assert.deepEqual(info, { length: 1, type: 2 });
      assert.equal(bytesOf(view, 3, 1).toString(), 'b');
      assert.equal(await queue.receiveInto(new Uint8Array(new SharedArrayBuffer(8)), { type: -2, info }), 1);
      assert.equal(info.type, 1);
      assert.equal(queue.receiveIntoSync(new Float64Array(2), { type: 3, except: true, info }), 4);
      assert.equal(info.type, 2n ** 62n);
      using map = mapAnonymous(4096);
      assert.equal(queue.receiveIntoSync(new Uint8Array(map.buffer), { info, nowait: true }), 1);
      assert.equal(Buffer.from(map.buffer, 0, 1).toString(), 'c');
      assert.throws(() => queue.receiveIntoSync(Buffer.alloc(4), { nowait: true }), { code: 'ENOMSG' });
    }));

  test('ranges of one buffer, one after another: each message lands in its own range, nothing outside it', () =>
    withSysvQueue(async (queue) => {
      const msgmax = Number(readFileSync('/proc/sys/kernel/msgmax', 'utf8'));
      const memory = new ArrayBuffer(2 * msgmax + 64);
      const expected = Buffer.alloc(memory.byteLength, 0xee);
      Buffer.from(memory).fill(0xee);
      const into = async (view: ArrayBufferView, offset: number, length: number, text: string, wait = false) => {
        const receiving = wait ? queue.receiveInto(view, { offset, length, timeout: 30_000 }) : undefined;
        queue.sendSync(1, text);
        const n = receiving === undefined ? queue.receiveIntoSync(view, { offset, length }) : await receiving;
        assert.equal(n, Buffer.byteLength(text));
        expected.write(text, view.byteOffset + offset);
        assert.ok(Buffer.from(memory).equals(expected), `${text} at ${view.byteOffset} + ${offset}`);
      };
      const whole = new Uint8Array(memory);
      const later = new Uint8Array(memory, 8, 64);
      await into(whole, 0, 8, 'first');
      await into(whole, 8, 8, 'second');
      await into(whole, 8, 8, 'again'); // the same range twice
      await into(later, 0, 8, 'same'); // the same bytes through another view
      await into(later, 8, 8, 'next'); // another range of that view
      await into(whole, 16, 4, 'abcd');
      await into(later, 32, 8, 'waited', true); // on a waiter thread
      // Longer than msgmax: at most msgmax bytes are asked for, at the start of the range each time.
      await into(whole, 0, memory.byteLength, 'x'.repeat(msgmax));
      await into(whole, 40, memory.byteLength - 40, 'y'.repeat(msgmax));
      await into(whole, 40, memory.byteLength - 40, 'short', true);
    }));

  test('a message longer than the range stays queued (E2BIG), noError truncates it', () =>
    withSysvQueue(async (queue) => {
      queue.sendSync(1, 'a long message');
      const small = Buffer.alloc(4, '.');
      assert.throws(() => queue.receiveIntoSync(small), {
        code: 'E2BIG',
        message: /longer than the 4 bytes .* stays queued/,
      });
      await assert.rejects(queue.receiveInto(small, { timeout: 1000 }), { code: 'E2BIG' });
      assert.equal(small.toString(), '....');
      // Waiting first: the message comes to a receive already on a waiter thread.
      const waiting = queue.receiveInto(Buffer.alloc(4), { type: 2, timeout: 30_000 });
      queue.sendSync(2, 'also too long');
      await assert.rejects(waiting, { code: 'E2BIG' });
      assert.equal(queue.receiveSync({ type: 2 }).data.toString(), 'also too long', 'still queued');
      assert.equal(queue.receiveIntoSync(small, { noError: true }), 4);
      assert.equal(small.toString(), 'a lo');
      assert.equal(queue.stat().messages, 0, 'the truncated message was taken');
    }));

  test('concurrent receiveInto() calls each get a message into their own buffer; waiting is on a thread', () =>
    withSysvQueue(async (queue) => {
      const buffers = [Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8)];
      const infos = buffers.map((): QueueReceiveInfo => ({ length: 0, type: 0 }));
      const receives = buffers.map((buffer, i) => queue.receiveInto(buffer, { type: i + 1, info: infos[i] }));
      cSendSysv(queue, [
        [3, 'three'],
        [1, 'one'],
        [2, 'two'],
      ]);
      assert.deepEqual(await Promise.all(receives), [3, 3, 5]);
      assert.deepEqual(
        buffers.map((b, i) => b.toString('utf8', 0, infos[i]!.length)),
        ['one', 'two', 'three'],
      );
      assert.deepEqual(
        infos.map((info) => info.type),
        [1, 2, 3],
      );
    }));

  test('cancellation loses nothing: 200 receives aborted or timed out around a send, every message arrives once', () =>
    withSysvQueue(async (queue) => {
      const rounds = 200;
      const buffer = Buffer.alloc(16);
      const got: string[] = [];
      for (let i = 0; i < rounds; i++) {
        const controller = new AbortController();
        const pending = queue.receiveInto(buffer, i % 2 ? { signal: controller.signal } : { timeout: i % 7 });
        const sent = new Promise<void>((resolve) =>
          setImmediate(() => {
            queue.sendSync(1, `m${i}`);
            resolve();
          }),
        );
        if (i % 2) setImmediate(() => controller.abort());
        try {
          const n = await pending;
          got.push(buffer.toString('utf8', 0, n));
        } catch (error) {
          assert.ok((error as Error).name === 'AbortError' || (error as IpcError).code === 'ETIMEDOUT', String(error));
        }
        await sent;
      }
      for (;;) {
        try {
          got.push(buffer.toString('utf8', 0, queue.receiveIntoSync(buffer, { nowait: true })));
        } catch (error) {
          assert.equal((error as IpcError).code, 'ENOMSG');
          break;
        }
      }
      assert.deepEqual(
        got,
        Array.from({ length: rounds }, (_, i) => `m${i}`),
      );
    }));

  test('a Mapping closed while a receiveInto() waits: the message taken is reported lost (EBADF)', () =>
    withSysvQueue(async (queue) => {
      const map = mapAnonymous(4096);
      const pending = queue.receiveInto(new Uint8Array(map.buffer), { timeout: 30_000 });
      map.close();
      queue.sendSync(1, 'gone');
      await assert.rejects(pending, { code: 'EBADF', message: /message taken is lost/ });
    }));

  test('argument errors, before anything is received', () =>
    withSysvQueue(async (queue) => {
      queue.sendSync(1, 'untouched');
      await assertArgumentErrors((buffer, options) => queue.receiveIntoSync(buffer as never, options));
      await assertArgumentErrors((buffer, options) => queue.receiveInto(buffer as never, options));
      assert.throws(() => queue.receiveIntoSync(Buffer.alloc(8), { info: 'x' as never }), {
        code: 'ERR_INVALID_ARG_TYPE',
      });
      assert.throws(() => queue.receiveIntoSync(Buffer.alloc(8), { except: true }), {
        code: 'ERR_INVALID_ARG_VALUE',
      });
      assert.throws(() => queue.receiveIntoSync(Buffer.alloc(8), { type: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
      assert.equal(queue.receiveSync().data.toString(), 'untouched');
    }));
});

// ---- POSIX -------------------------------------------------------------------------------------------

const mqUnavailable = posixQueuesUnavailable();

async function withPosixQueue(messageSize: number, body: (queue: PosixQueue, name: string) => unknown) {
  const name = `/${uniqueIpcName('mq')}`;
  const queue = PosixQueue.open(name, { create: true, exclusive: true, maxMessages: 8, messageSize });
  try {
    await body(queue, name);
  } finally {
    queue.close();
    quietly(() => PosixQueue.unlink(name), ['ENOENT']);
  }
}

describe('PosixQueue.receiveInto', { skip: mqUnavailable }, () => {
  test('5,000 messages a C process sends arrive in one buffer, priorities in the info object', () =>
    withPosixQueue(32, async (queue, name) => {
      const count = 5000;
      const texts = Array.from({ length: count }, (_, i) => `n${i}`);
      const sender = spawnRaw(
        compilePeer('mq_posix'),
        ['send', name, ...texts.map((text, i) => `${i % 5}:${text.length}`)],
        { stdio: ['pipe', 'ignore', 'inherit'] },
      );
      sender.stdin!.end(texts.join(''));
      const done = finished(sender);
      const buffer = Buffer.alloc(40);
      const info: PosixReceiveInfo = { length: 0, priority: 0 };
      const seen: string[] = [];
      for (let i = 0; i < count; i++) {
        const n =
          i % 2 === 0
            ? await queue.receiveInto(buffer, { info, offset: 8, timeout: 30_000 })
            : queue.receiveIntoSync(buffer, { info, offset: 8, timeout: 30_000 });
        assert.equal(info.length, n);
        const text = buffer.toString('utf8', 8, 8 + n);
        assert.equal(info.priority, Number(text.slice(1)) % 5, text);
        seen.push(text);
      }
      assert.deepEqual(seen.sort(), texts.sort(), 'each message once');
      assert.equal((await done).code, 0);
    }));

  test('a range shorter than messageSize is refused (EMSGSIZE) before anything is received', () =>
    withPosixQueue(16, async (queue) => {
      queue.sendSync('short');
      assert.throws(() => queue.receiveIntoSync(Buffer.alloc(15)), {
        code: 'EMSGSIZE',
        message: /15 bytes .* fewer than the queue's messageSize \(16\).*nothing was received/,
      });
      await assert.rejects(queue.receiveInto(Buffer.alloc(64), { offset: 50 }), { code: 'EMSGSIZE' });
      assert.equal(queue.attributes().currentMessages, 1);
      assert.equal(queue.receiveIntoSync(Buffer.alloc(16), { nowait: true }), 5, 'exactly messageSize will do');
      for (const [kind, view] of views(16)) {
        const text = kind.slice(0, 12);
        queue.sendSync(text, { priority: 2 });
        const info = { length: 0, priority: 0 };
        assert.equal(queue.receiveIntoSync(view, { info, nowait: true }), text.length, kind);
        assert.equal(bytesOf(view, 0, info.length).toString(), text);
        assert.equal(info.priority, 2);
      }
      using map = mapAnonymous(4096);
      queue.sendSync('mapped');
      assert.equal(queue.receiveIntoSync(new Uint8Array(map.buffer), { offset: 4000, nowait: true }), 6);
    }));

  test('concurrent receiveInto() calls in call order; abort, timeout and nowait lose nothing', () =>
    withPosixQueue(16, async (queue) => {
      const buffers = [Buffer.alloc(16), Buffer.alloc(16), Buffer.alloc(16)];
      const receives = buffers.map((buffer) => queue.receiveInto(buffer));
      assert.throws(() => queue.receiveIntoSync(Buffer.alloc(16), { nowait: true }), {
        code: 'EAGAIN',
        message: /earlier receives/,
      });
      for (const [i, word] of ['one', 'two', 'three'].entries()) {
        queue.sendSync(word);
        assert.equal(await receives[i], word.length);
        assert.equal(buffers[i]!.toString('utf8', 0, word.length), word);
      }
      const buffer = Buffer.alloc(16);
      await assert.rejects(queue.receiveInto(buffer, { timeout: 20 }), { code: 'ETIMEDOUT' });
      const controller = new AbortController();
      const aborted = queue.receiveInto(buffer, { signal: controller.signal });
      controller.abort();
      await assert.rejects(aborted, { name: 'AbortError' });
      assert.throws(() => queue.receiveIntoSync(buffer, { nowait: true }), { code: 'EAGAIN' });
      queue.sendSync('kept');
      assert.equal(await queue.receiveInto(buffer), 4);
    }));

  test('argument errors, before anything is received', () =>
    withPosixQueue(8, async (queue) => {
      queue.sendSync('intact');
      await assertArgumentErrors((buffer, options) => queue.receiveIntoSync(buffer as never, options));
      await assertArgumentErrors((buffer, options) => queue.receiveInto(buffer as never, options));
      assert.throws(() => queue.receiveIntoSync(Buffer.alloc(8), { info: 1 as never }), {
        code: 'ERR_INVALID_ARG_TYPE',
      });
      assert.equal(queue.receiveSync().data.toString(), 'intact');
    }));
});
