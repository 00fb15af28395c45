// POSIX message queues between real processes: priority order, C programs on the other side (mq_open,
// mq_send, mq_receive), waiting without threads, abort and timeout, limits. Every queue has a random
// name and is unlinked. If the kernel or container has no POSIX queues, the tests are skipped and say why.
import assert from 'node:assert/strict';
import { spawn as spawnRaw, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { PosixQueue, type PosixQueueOptions, waiterStats } from '../src/index.js';
import { compilePeer, finished, posixQueuesUnavailable, quietly, uniqueIpcName } from './helpers.js';

const uniqueName = (): string => `/${uniqueIpcName('mq')}`;

const unavailable = posixQueuesUnavailable();
if (unavailable) console.log(`# skipping the POSIX message queue tests: ${unavailable}`);

const unlinkQuietly = (name: string): void => quietly(() => PosixQueue.unlink(name));

/** Runs `body` with a new queue, closed and unlinked afterwards whatever happens. */
async function withQueue(
  options: PosixQueueOptions,
  body: (queue: PosixQueue, name: string) => unknown,
): Promise<void> {
  const name = uniqueName();
  const queue = PosixQueue.open(name, { create: true, exclusive: true, ...options });
  try {
    await body(queue, name);
  } finally {
    queue.close();
    unlinkQuietly(name);
  }
}

function runOk(command: string, args: string[], input?: Uint8Array): string {
  const result = spawnSync(command, args, { input, encoding: 'utf8' });
  assert.equal(result.status, 0, `${args.join(' ')} exited with ${result.status}: ${result.stderr}`);
  return result.stdout;
}

function cSend(name: string, messages: Array<[number, Buffer | string]>): void {
  const texts = messages.map(([, data]) => Buffer.from(data));
  runOk(
    compilePeer('mq_posix'),
    ['send', name, ...messages.map(([priority], i) => `${priority}:${texts[i]!.length}`)],
    Buffer.concat(texts),
  );
}

function cReceive(name: string, count: number): Array<{ priority: number; hex: string }> {
  return runOk(compilePeer('mq_posix'), ['recv', name, String(count)])
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

describe('POSIX message queues', { skip: unavailable }, () => {
  test('highest priority first, FIFO within a priority; attributes count the messages', () =>
    withQueue({ maxMessages: 8, messageSize: 64 }, async (queue) => {
      assert.deepEqual(queue.attributes(), { maxMessages: 8, messageSize: 64, currentMessages: 0, nonBlocking: false });
      const sent: Array<[number, string]> = [
        [0, 'low 1'],
        [5, 'mid 1'],
        [31, 'top'],
        [5, 'mid 2'],
        [0, 'low 2'],
        [32767, 'max'],
      ];
      for (const [i, [priority, text]] of sent.entries()) {
        if (i % 2 === 0) await queue.send(text, { priority });
        else queue.sendSync(text, { priority });
      }
      assert.equal(queue.attributes().currentMessages, sent.length);
      const got: string[] = [];
      for (let i = 0; i < sent.length; i++) {
        const { data, priority } = i % 2 === 0 ? await queue.receive() : queue.receiveSync();
        got.push(`${priority}:${data}`);
      }
      assert.deepEqual(got, ['32767:max', '31:top', '5:mid 1', '5:mid 2', '0:low 1', '0:low 2']);
    }));

  test('a C program receives what unipc sent, and unipc what C sent, bytes and priorities exact', () =>
    withQueue({ maxMessages: 10, messageSize: 8192 }, async (queue, name) => {
      const mine = [randomBytes(8192), Buffer.alloc(0), randomBytes(1)];
      await queue.send(mine[0]!, { priority: 1 });
      queue.sendSync(mine[1]!, { priority: 7 });
      await queue.send(mine[2]!, { priority: 1 });
      assert.deepEqual(cReceive(name, 3), [
        { priority: 7, hex: '' },
        { priority: 1, hex: mine[0]!.toString('hex') },
        { priority: 1, hex: mine[2]!.toString('hex') },
      ]);
      const theirs = randomBytes(5000);
      cSend(name, [
        [2, theirs],
        [9, 'urgent'],
      ]);
      assert.deepEqual(await queue.receive(), { data: Buffer.from('urgent'), priority: 9 });
      const last = queue.receiveSync();
      assert.equal(last.priority, 2);
      assert.ok(last.data.equals(theirs));
    }));

  test('a queue C created opens by name with its attributes; C sees unipc’s count', async () => {
    const name = uniqueName();
    try {
      assert.deepEqual(JSON.parse(runOk(compilePeer('mq_posix'), ['create', name, '3', '100'])), {
        maxmsg: 3,
        msgsize: 100,
        curmsgs: 0,
      });
      using queue = PosixQueue.open(name, { writeOnly: true });
      assert.equal(queue.maxMessages, 3);
      assert.equal(queue.messageSize, 100);
      await queue.send('one');
      assert.deepEqual(JSON.parse(runOk(compilePeer('mq_posix'), ['attr', name])), {
        maxmsg: 3,
        msgsize: 100,
        curmsgs: 1,
      });
      await assert.rejects(queue.receive({ nowait: true }), { code: 'EBADF', syscall: 'mq_receive' });
    } finally {
      unlinkQuietly(name);
    }
  });

  test('waiting takes no thread: a receive waits for a C sender, a send for a C receiver', () =>
    withQueue({ maxMessages: 1, messageSize: 16 }, async (queue, name) => {
      const threads = waiterStats().pending;
      const receiving = queue.receive({ timeout: 30_000 });
      assert.equal(waiterStats().pending, threads, 'no thread wait');
      cSend(name, [[3, 'from C']]);
      assert.deepEqual(await receiving, { data: Buffer.from('from C'), priority: 3 });

      await queue.send('first');
      const sending = queue.send('second', { timeout: 30_000 });
      const receiver = finished(
        spawnRaw(compilePeer('mq_posix'), ['recv', name, '2'], { stdio: ['ignore', 'pipe', 'inherit'] }),
      );
      await sending;
      const lines = (await receiver).stdout
        .trim()
        .split('\n')
        .map((line) => Buffer.from(JSON.parse(line).hex, 'hex').toString());
      assert.deepEqual(lines, ['first', 'second']);
    }));

  test('abort and timeout leave the queue untouched; nowait and setNonBlocking() fail with EAGAIN', () =>
    withQueue({ maxMessages: 1, messageSize: 16 }, async (queue) => {
      await assert.rejects(queue.receive({ timeout: 20 }), { code: 'ETIMEDOUT', syscall: 'mq_receive' });
      assert.throws(() => queue.receiveSync({ timeout: 20 }), { code: 'ETIMEDOUT' });
      const controller = new AbortController();
      const aborted = queue.receive({ signal: controller.signal });
      setTimeout(() => controller.abort(), 10);
      await assert.rejects(aborted, { name: 'AbortError' });
      await assert.rejects(queue.receive({ nowait: true }), { code: 'EAGAIN', message: /queue is empty/ });
      queue.sendSync('only', { priority: 4 });
      await assert.rejects(queue.send('more', { timeout: 20 }), { code: 'ETIMEDOUT', syscall: 'mq_send' });
      assert.throws(() => queue.sendSync('more', { nowait: true }), { code: 'EAGAIN', message: /queue is full/ });
      queue.setNonBlocking(true);
      assert.equal(queue.attributes().nonBlocking, true);
      await assert.rejects(queue.send('more'), { code: 'EAGAIN' });
      assert.equal(queue.attributes().currentMessages, 1);
      assert.deepEqual(queue.receiveSync(), { data: Buffer.from('only'), priority: 4 });
      assert.throws(() => queue.receiveSync(), { code: 'EAGAIN' });
      queue.setNonBlocking(false);
      const waiting = queue.receive({ timeout: 30_000 });
      queue.sendSync('again');
      assert.deepEqual(await waiting, { data: Buffer.from('again'), priority: 0 });
    }));

  test('a call that may not wait does not overtake waiting ones of its object; a send sends what data held at the call', () =>
    withQueue({ maxMessages: 1, messageSize: 16 }, async (queue) => {
      queue.sendSync('first');
      const data = new Uint8Array(Buffer.from('second'));
      const waitingSend = queue.send(data, { timeout: 30_000 });
      structuredClone(data.buffer, { transfer: [data.buffer] }); // detaches what send() was given
      assert.throws(() => queue.sendSync('third', { nowait: true }), { code: 'EAGAIN', message: /waiting/ });
      assert.deepEqual(queue.receiveSync(), { data: Buffer.from('first'), priority: 0 });
      await waitingSend;
      assert.deepEqual(queue.receiveSync(), { data: Buffer.from('second'), priority: 0 });
      const waitingReceive = queue.receive({ timeout: 30_000 });
      await assert.rejects(queue.receive({ nowait: true }), { code: 'EAGAIN', message: /waiting/ });
      queue.sendSync('fourth');
      assert.deepEqual(await waitingReceive, { data: Buffer.from('fourth'), priority: 0 });
    }));

  test('close() rejects pending receives with EBADF and ends messages(); double close is harmless', () =>
    withQueue({}, async (queue, name) => {
      cSend(name, [
        [1, 'a'],
        [2, 'b'],
      ]);
      const got: string[] = [];
      const iteration = (async () => {
        for await (const { data } of queue.messages()) got.push(String(data));
      })();
      await new Promise((resolve) => setTimeout(resolve, 20));
      queue.close();
      queue.close();
      await iteration;
      assert.deepEqual(got, ['b', 'a']);
      assert.throws(() => queue.sendSync('x'), { code: 'EBADF', message: /PosixQueue is closed/ });
      await assert.rejects(queue.receive(), { code: 'EBADF' });
      assert.throws(() => queue.attributes(), { code: 'EBADF' });
    }));

  test('limits: messageSize is enforced before sending; attributes beyond the system’s say the limits', () =>
    withQueue({ messageSize: 10 }, async (queue, name) => {
      assert.throws(() => queue.sendSync(Buffer.alloc(11)), {
        code: 'ERR_OUT_OF_RANGE',
        message: /<= 10 \(the queue's messageSize\)/,
      });
      await assert.rejects(queue.send(Buffer.alloc(11)), { code: 'ERR_OUT_OF_RANGE' });
      queue.sendSync(Buffer.alloc(10));
      const huge = uniqueName();
      try {
        assert.throws(() => PosixQueue.open(huge, { create: true, maxMessages: 1_000_000 }), {
          code: 'EINVAL',
          syscall: 'mq_open',
          message: /msg_max = \d+, msgsize_max = \d+/,
        });
      } finally {
        unlinkQuietly(huge);
      }
      assert.throws(() => PosixQueue.open(name, { create: true, exclusive: true }), {
        code: 'EEXIST',
        objectName: name,
      });
      assert.throws(() => PosixQueue.open(uniqueName()), { code: 'ENOENT', syscall: 'mq_open' });
      PosixQueue.unlink(name);
      assert.throws(() => PosixQueue.unlink(name), { code: 'ENOENT', syscall: 'mq_unlink' });
      assert.equal(queue.receiveSync().data.length, 10, 'an unlinked queue stays usable while open');
    }));
});
