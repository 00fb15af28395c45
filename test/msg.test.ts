// System V message queues between real processes: every msgrcv selection rule against messages a C
// program sent, C receiving what unipc sent (types and bytes), ordering, 100,000 messages between two
// processes, waiting (abort, timeout, EIDRM on removal), size limits, errors, stat/set and util-linux.
// Every queue is IPC_PRIVATE or made exclusively under a random key, and removed.
import assert from 'node:assert/strict';
import { spawn as spawnRaw, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { IPC_PRIVATE, IpcError, MessageQueue, type MessageType, type QueueMessage, waiterStats } from '../src/index.js';
import { cannotRunAsNobody, compilePeer, finished, lineFrom, spawnPeer, testKey } from './helpers.js';

const MSGMAX = Number(fs.readFileSync('/proc/sys/kernel/msgmax', 'utf8'));
// The largest message the tests below queue beside a few small ones: msgmax, unless a queue (msgmnb
// bytes by default) could not hold that and ~200 bytes more, as where both are tuned to the same value.
const LARGE = Math.min(MSGMAX, Number(fs.readFileSync('/proc/sys/kernel/msgmnb', 'utf8')) - 256);

function run(command: string, args: string[], input: Uint8Array = Buffer.alloc(0)) {
  const result = spawnSync(command, args, { input, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (result.error) throw result.error;
  return result;
}

function runOk(command: string, args: string[], input?: Uint8Array): string {
  const result = run(command, args, input);
  assert.equal(result.status, 0, `${command} ${args.join(' ')} exited with ${result.status}: ${result.stderr}`);
  return result.stdout;
}

/** Runs `body` with a new private queue, removed afterwards whatever happens. */
async function withQueue<T>(body: (queue: MessageQueue) => T | Promise<T>): Promise<T> {
  const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
  try {
    return await body(queue);
  } finally {
    removeQuietly(queue);
  }
}

function removeQuietly(queue: MessageQueue): void {
  try {
    queue.remove();
  } catch (error) {
    if (!(error instanceof IpcError && ['EINVAL', 'EIDRM'].includes(error.code))) throw error;
  }
}

const randomKey = (): number => testKey();

interface CMessage {
  type: string;
  hex: string;
}

/** The C peer sends these messages, in this order, with msgsnd. */
function cSend(queue: MessageQueue, messages: Array<[MessageType, Buffer | string]>): void {
  const texts = messages.map(([, data]) => Buffer.from(data));
  runOk(
    compilePeer('msg_sysv'),
    ['send', String(queue.id), ...messages.map(([type], i) => `${type}:${texts[i]!.length}`)],
    Buffer.concat(texts),
  );
}

/** The C peer's msgrcv, COUNT times: the messages, or an errno name where it stopped. */
function cReceive(
  queue: MessageQueue,
  count: number,
  type: MessageType = 0,
  flags = '-',
  maxSize = 65536,
): Array<CMessage | { errno: string }> {
  const out = runOk(compilePeer('msg_sysv'), [
    'recv',
    String(queue.id),
    String(count),
    String(type),
    flags,
    String(maxSize),
  ]);
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

/** unipc receives with `options` and nowait until ENOMSG: the order the rule picks messages in. */
function drainWith(queue: MessageQueue, options: { type?: MessageType; except?: boolean }): string[] {
  const got: string[] = [];
  for (;;) {
    try {
      const { type, data } = queue.receiveSync({ ...options, nowait: true });
      got.push(`${type}:${data}`);
    } catch (error) {
      assert.ok(error instanceof IpcError && error.code === 'ENOMSG', String(error));
      return got;
    }
  }
}

// Sent by C in this order; each text names its type and its place among its type.
const MIXED: Array<[number, string]> = [
  [3, 'c1'],
  [1, 'a1'],
  [2, 'b1'],
  [5, 'e1'],
  [1, 'a2'],
  [3, 'c2'],
  [2, 'b2'],
  [4, 'd1'],
  [1, 'a3'],
];

// Every selection rule: the order a receive loop with these options takes the messages in.
const RULES: Array<{ rule: string; type?: MessageType; except?: boolean; order: string[] }> = [
  {
    rule: 'type 0: the first message, whatever its type',
    type: 0,
    order: ['3:c1', '1:a1', '2:b1', '5:e1', '1:a2', '3:c2', '2:b2', '4:d1', '1:a3'],
  },
  { rule: 'type > 0: the first message of that type', type: 1, order: ['1:a1', '1:a2', '1:a3'] },
  { rule: 'type > 0 with no such message', type: 6, order: [] },
  {
    rule: 'type > 0 with except: the first of any other type',
    type: 1,
    except: true,
    order: ['3:c1', '2:b1', '5:e1', '3:c2', '2:b2', '4:d1'],
  },
  {
    rule: 'except with a type absent from the queue: everything in order',
    type: 7,
    except: true,
    order: ['3:c1', '1:a1', '2:b1', '5:e1', '1:a2', '3:c2', '2:b2', '4:d1', '1:a3'],
  },
  {
    rule: 'type < 0: the lowest type <= |type|, first of it first',
    type: -3,
    order: ['1:a1', '1:a2', '1:a3', '2:b1', '2:b2', '3:c1', '3:c2'],
  },
  { rule: 'type -1: only type 1', type: -1, order: ['1:a1', '1:a2', '1:a3'] },
  {
    rule: 'type < 0 beyond every type: all, by type then arrival',
    type: -100,
    order: ['1:a1', '1:a2', '1:a3', '2:b1', '2:b2', '3:c1', '3:c2', '4:d1', '5:e1'],
  },
  { rule: 'type < 0 as a bigint', type: -4n, order: ['1:a1', '1:a2', '1:a3', '2:b1', '2:b2', '3:c1', '3:c2', '4:d1'] },
];

describe('System V message selection (msgrcv rules) against messages a C program sent', () => {
  for (const { rule, type, except, order } of RULES) {
    test(rule, () =>
      withQueue((queue) => {
        cSend(queue, MIXED);
        assert.equal(queue.stat().messages, MIXED.length);
        assert.deepEqual(drainWith(queue, { type, except }), order);
        // What the rule left behind is still in arrival order, for C to read.
        const rest = MIXED.map(([t, text]) => `${t}:${text}`).filter((m) => !order.includes(m));
        const left = cReceive(queue, rest.length + 1, 0, 'nowait').map((m) =>
          'errno' in m ? m.errno : `${m.type}:${Buffer.from(m.hex, 'hex')}`,
        );
        assert.deepEqual(left, [...rest, 'ENOMSG']);
      }),
    );
  }

  test('C, receiving with each rule the same way, picks the same messages (the table is the kernel’s)', () =>
    withQueue((queue) => {
      for (const { type = 0, except, order } of RULES) {
        cSend(queue, MIXED);
        const got = cReceive(queue, order.length + 1, type, except ? 'except,nowait' : 'nowait');
        assert.deepEqual(
          got.map((m) => ('errno' in m ? m.errno : `${m.type}:${Buffer.from(m.hex, 'hex')}`)),
          [...order, 'ENOMSG'],
        );
        drainWith(queue, {});
      }
    }));

  test('the async receive() applies the same rules and waits for a matching type only', () =>
    withQueue(async (queue) => {
      cSend(queue, MIXED);
      assert.deepEqual(await queue.receive({ type: -2 }), { type: 1, data: Buffer.from('a1') });
      assert.deepEqual(await queue.receive({ type: 3, except: true }), { type: 2, data: Buffer.from('b1') });
      assert.deepEqual(await queue.receive({ type: 4 }), { type: 4, data: Buffer.from('d1') });
      // No type 9 queued: the receive waits, not taking anything else, until C sends one.
      const waiting = queue.receive({ type: 9, timeout: 30_000 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      const before = queue.stat().messages;
      cSend(queue, [
        [8, 'h1'],
        [9, 'i1'],
      ]);
      assert.deepEqual(await waiting, { type: 9, data: Buffer.from('i1') });
      assert.equal(queue.stat().messages, before + 1, 'only the type-9 message was taken');
    }));
});

describe('System V messages between unipc and C, byte for byte', () => {
  test('a C receiver gets exactly the types and bytes unipc sent, in order', () =>
    withQueue(async (queue) => {
      const sent: Array<[MessageType, Buffer]> = [
        [1, randomBytes(100)],
        [7, Buffer.alloc(0)],
        [2n ** 62n, randomBytes(1)],
        [Number.MAX_SAFE_INTEGER, randomBytes(LARGE)],
        [2n ** 63n - 1n, Buffer.from('the largest type a C long holds')],
      ];
      for (const [i, [type, data]] of sent.entries()) {
        if (i % 2 === 0) await queue.send(type, data);
        else queue.sendSync(type, data);
      }
      const got = cReceive(queue, sent.length);
      assert.deepEqual(
        got,
        sent.map(([type, data]) => ({ type: String(type), hex: data.toString('hex') })),
      );
    }));

  test('unipc receives exactly what C sent; types above 2**53 - 1 come as bigints', () =>
    withQueue(async (queue) => {
      const big = randomBytes(LARGE);
      cSend(queue, [
        [1, big],
        [9007199254740993n, 'past MAX_SAFE_INTEGER'],
        [9007199254740991, 'MAX_SAFE_INTEGER'],
        [42, ''],
      ]);
      const first = queue.receiveSync();
      assert.equal(first.type, 1);
      assert.ok(first.data.equals(big));
      assert.deepEqual(await queue.receive(), { type: 9007199254740993n, data: Buffer.from('past MAX_SAFE_INTEGER') });
      assert.deepEqual(queue.receiveSync(), { type: 9007199254740991, data: Buffer.from('MAX_SAFE_INTEGER') });
      assert.deepEqual(await queue.receive({ type: 42 }), { type: 42, data: Buffer.alloc(0) });
    }));

  test('a nowait send does not overtake a waiting one; a waiting send sends what data held at the call', () =>
    withQueue(async (queue) => {
      queue.set({ maxBytes: 16 });
      queue.sendSync(1, Buffer.alloc(16)); // full
      const data = new Uint8Array(Buffer.from('second'));
      const waiting = queue.send(2, data, { timeout: 30_000 });
      structuredClone(data.buffer, { transfer: [data.buffer] }); // detaches what send() was given
      await assert.rejects(queue.send(3, 'x', { nowait: true }), { code: 'EAGAIN', message: /waiting/ });
      queue.receiveSync({ type: 1 });
      await waiting;
      assert.deepEqual(queue.receiveSync(), { type: 2, data: Buffer.from('second') });
    }));

  test('a queue made by ipcmk -Q is used by id, listed by ipcs -q with the counts stat() gives, removed by unipc', async () => {
    const output = runOk('ipcmk', ['-Q', '-p', '0640']);
    const match = /Message queue id:\s*(\d+)/.exec(output);
    assert.ok(match, `ipcmk printed ${JSON.stringify(output)}`);
    const id = Number(match[1]);
    try {
      const queue = MessageQueue.fromId(id);
      assert.equal(queue.stat().mode, 0o640);
      if (queue.key !== IPC_PRIVATE) assert.equal(MessageQueue.get(queue.key).id, queue.id, 'found by its key too');
      await queue.send(5, 'hello');
      queue.sendSync(6, randomBytes(1000));
      const stat = queue.stat();
      assert.equal(stat.messages, 2);
      assert.equal(stat.bytes, 1005);
      assert.equal(stat.lastSendPid, process.pid);
      const row = ipcsQueue(queue.id);
      assert.deepEqual(row, { key: stat.key, perms: 0o640, usedBytes: 1005, messages: 2 });
      const c = JSON.parse(runOk(compilePeer('msg_sysv'), ['stat', String(queue.id)]));
      assert.deepEqual(
        { qnum: c.qnum, cbytes: c.cbytes, qbytes: c.qbytes, lspid: c.lspid, stime: c.stime, ctime: c.ctime },
        {
          qnum: 2,
          cbytes: 1005,
          qbytes: stat.maxBytes,
          lspid: process.pid,
          stime: stat.lastSend!.getTime() / 1000,
          ctime: stat.lastChange.getTime() / 1000,
        },
      );
      queue.remove();
      assert.equal(ipcsQueueIds().has(queue.id), false);
    } finally {
      spawnSync('ipcrm', ['-q', String(id)], { stdio: 'ignore' }); // already gone unless the test failed
    }
  });
});

/** Waits until at least `count` threads of process `pid` sleep in a kernel function starting with `wchan`. */
async function blockedIn(pid: number, wchan: string, count: number): Promise<void> {
  const giveUp = performance.now() + 20_000;
  for (;;) {
    if (performance.now() > giveUp) throw new Error(`gave up waiting for ${count} threads of ${pid} in ${wchan}`);
    let blocked = 0;
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        if (fs.readFileSync(`/proc/${pid}/task/${task}/wchan`, 'utf8').startsWith(wchan)) blocked++;
      } catch {
        // the thread ended
      }
    }
    if (blocked >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** `ipcs -q`, by queue id. */
function ipcsQueueIds(): Map<number, { key: number; perms: number; usedBytes: number; messages: number }> {
  const rows = new Map<number, { key: number; perms: number; usedBytes: number; messages: number }>();
  for (const line of runOk('ipcs', ['-q']).split('\n')) {
    const match = /^(0x[0-9a-f]+)\s+(\d+)\s+\S+\s+([0-7]+)\s+(\d+)\s+(\d+)$/.exec(line.trim());
    if (match)
      rows.set(Number(match[2]), {
        key: parseInt(match[1]!, 16),
        perms: parseInt(match[3]!, 8),
        usedBytes: Number(match[4]),
        messages: Number(match[5]),
      });
  }
  return rows;
}

function ipcsQueue(id: number) {
  const row = ipcsQueueIds().get(id);
  assert.ok(row, `ipcs -q lists queue ${id}`);
  return row;
}

describe('System V queues: ordering and volume', () => {
  test('within a type, messages keep their order whatever else is interleaved', () =>
    withQueue(async (queue) => {
      for (let i = 0; i < 300; i++) queue.sendSync((i % 3) + 1, `${i}`);
      for (const type of [2, 3, 1]) {
        const seen: number[] = [];
        for (let k = 0; k < 100; k++) seen.push(Number((await queue.receive({ type })).data.toString()));
        assert.deepEqual(
          seen,
          Array.from({ length: 100 }, (_, k) => k * 3 + type - 1),
        );
      }
    }));

  test('sends of one object leave in call order, even those that had to wait for room', () =>
    withQueue(async (queue) => {
      queue.set({ maxBytes: 64 });
      const sends = Array.from({ length: 40 }, (_, i) => queue.send(1, `${i}`.padStart(8, '0')));
      // The queue holds 8 of them; C takes all 40 as they come.
      const receiver = finished(
        spawnRaw(compilePeer('msg_sysv'), ['recv', String(queue.id), '40', '0', '-', '100'], {
          stdio: ['ignore', 'pipe', 'inherit'],
        }),
      );
      await Promise.all(sends);
      const { stdout, code } = await receiver;
      assert.equal(code, 0);
      const texts = stdout
        .trim()
        .split('\n')
        .map((line) => Buffer.from(JSON.parse(line).hex, 'hex').toString());
      assert.deepEqual(
        texts,
        Array.from({ length: 40 }, (_, i) => `${i}`.padStart(8, '0')),
      );
    }));

  test('100,000 messages from unipc to a C receiver and back, none lost or reordered', () =>
    withQueue(async (queue) => {
      const n = 100_000;
      const drain = finished(
        spawnRaw(compilePeer('msg_sysv'), ['drain', String(queue.id), String(n)], {
          stdio: ['ignore', 'pipe', 'inherit'],
        }),
      );
      const text = Buffer.alloc(16, 0x5a);
      for (let i = 0; i < n; i++) {
        text.writeBigUInt64LE(BigInt(i));
        if (i % 2 === 0) queue.sendSync((i % 3) + 1, text);
        else await queue.send((i % 3) + 1, text);
      }
      const drained = await drain;
      assert.equal(drained.code, 0);
      assert.deepEqual(JSON.parse(drained.stdout), { received: n, outOfOrder: 0, wrongType: 0 });

      const flood = finished(
        spawnRaw(compilePeer('msg_sysv'), ['flood', String(queue.id), String(n), '16'], {
          stdio: ['ignore', 'pipe', 'inherit'],
        }),
      );
      let problems = 0;
      for (let i = 0; i < n; i++) {
        const message: QueueMessage = i % 2 === 0 ? queue.receiveSync() : await queue.receive();
        if (message.data.readBigUInt64LE() !== BigInt(i) || message.type !== (i % 3) + 1 || message.data.length !== 16)
          problems++;
      }
      assert.equal((await flood).code, 0);
      assert.equal(problems, 0, 'messages lost, reordered or changed');
      assert.equal(queue.stat().messages, 0);
    }));
});

describe('System V queues: waiting, abort, timeout, removal', () => {
  test('an aborted or timed-out receive takes nothing: the message sent afterwards stays queued', () =>
    withQueue(async (queue) => {
      const controller = new AbortController();
      const aborted = queue.receive({ signal: controller.signal });
      setTimeout(() => controller.abort(new Error('changed my mind')), 10);
      await assert.rejects(
        aborted,
        (error: Error & { cause?: Error }) => error.name === 'AbortError' && error.cause?.message === 'changed my mind',
      );
      await assert.rejects(queue.receive({ timeout: 20 }), {
        code: 'ETIMEDOUT',
        syscall: 'msgrcv',
        message: /timed out after 20 ms/,
      });
      assert.throws(() => queue.receiveSync({ timeout: 20 }), { code: 'ETIMEDOUT', syscall: 'msgrcv' });
      await assert.rejects(queue.receive({ signal: AbortSignal.abort() }), { name: 'AbortError' });
      cSend(queue, [[1, 'still here']]);
      assert.equal(queue.stat().messages, 1);
      assert.deepEqual(cReceive(queue, 1), [{ type: '1', hex: Buffer.from('still here').toString('hex') }]);
      assert.equal(waiterStats().pending, 0);
    }));

  test('an aborted or timed-out send on a full queue sends nothing; nowait fails with EAGAIN', () =>
    withQueue(async (queue) => {
      queue.set({ maxBytes: 10 });
      queue.sendSync(1, '0123456789');
      await assert.rejects(queue.send(1, 'x', { nowait: true }), {
        code: 'EAGAIN',
        syscall: 'msgsnd',
        message: /queue is full/,
      });
      assert.throws(() => queue.sendSync(1, 'x', { nowait: true }), { code: 'EAGAIN' });
      await assert.rejects(queue.send(1, 'x', { timeout: 20 }), {
        code: 'ETIMEDOUT',
        syscall: 'msgsnd',
        message: /timed out after 20 ms/,
      });
      assert.throws(() => queue.sendSync(1, 'x', { timeout: 20 }), { code: 'ETIMEDOUT', syscall: 'msgsnd' });
      const controller = new AbortController();
      const aborted = queue.send(2, 'y', { signal: controller.signal });
      setTimeout(() => controller.abort(), 10);
      await assert.rejects(aborted, { name: 'AbortError' });
      assert.deepEqual({ messages: queue.stat().messages, bytes: queue.stat().bytes }, { messages: 1, bytes: 10 });
      // A waiting send goes as soon as there is room.
      const waiting = queue.send(3, 'z', { timeout: 30_000 });
      assert.deepEqual(queue.receiveSync(), { type: 1, data: Buffer.from('0123456789') });
      await waiting;
      assert.deepEqual(queue.receiveSync(), { type: 3, data: Buffer.from('z') });
    }));

  test('remove() wakes waiting receivers and senders, here and in a C process, with EIDRM', async () => {
    const full = MessageQueue.get(IPC_PRIVATE, { create: true });
    const empty = MessageQueue.get(IPC_PRIVATE, { create: true });
    try {
      full.set({ maxBytes: 1 });
      full.sendSync(1, 'x');
      const receivers = [empty.receive(), empty.receive({ type: 2 }), empty.receive({ type: -5, timeout: 30_000 })];
      const sender = full.send(1, 'y');
      const cProcess = spawnRaw(compilePeer('msg_sysv'), ['recv', String(empty.id), '1', '0', '-', '100'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const cReceiver = Object.assign(finished(cProcess), { pid: cProcess.pid! });
      const child = spawnPeer('msg-receive', [String(empty.id)]);
      const nodeReceiver = finished(child);
      await lineFrom(child, 'waiting');
      // Every waiter must be inside msgrcv/msgsnd: one that is not yet gets EINVAL for the removed id.
      await blockedIn(process.pid, 'do_msg', 4);
      await blockedIn(cReceiver.pid, 'do_msgrcv', 1);
      await blockedIn(child.pid!, 'do_msgrcv', 1);
      empty.remove();
      full.remove();
      // All observed at once: a rejection not yet awaited would count as unhandled.
      await Promise.all([
        ...receivers.map((receiver) => assert.rejects(receiver, { code: 'EIDRM', syscall: 'msgrcv' })),
        assert.rejects(sender, { code: 'EIDRM', syscall: 'msgsnd' }),
      ]);
      assert.deepEqual(JSON.parse((await cReceiver).stdout), { errno: 'EIDRM' });
      assert.match((await nodeReceiver).stdout, /^EIDRM$/m);
      assert.throws(
        () => empty.stat(),
        (error: IpcError) => ['EINVAL', 'EIDRM'].includes(error.code),
      );
    } finally {
      removeQuietly(full);
      removeQuietly(empty);
    }
  });

  test('messages() iterates by type until the queue is removed', () =>
    withQueue(async (queue) => {
      cSend(queue, MIXED);
      const got: string[] = [];
      setTimeout(() => queue.remove(), 50);
      for await (const { type, data } of queue.messages({ type: 3 })) got.push(`${type}:${data}`);
      assert.deepEqual(got, ['3:c1', '3:c2']);
    }));

  test('a pending receive does not keep the process alive with ref: false', () =>
    withQueue(async (queue) => {
      const child = await finished(spawnPeer('msg-receive', [String(queue.id), 'unref']));
      assert.equal(child.code, 0);
      assert.match(child.stdout, /exited while waiting/);
    }));
});

describe('System V queues: limits and errors', () => {
  test('fromId() of an id that names no queue says so', () => {
    const gone = MessageQueue.get(IPC_PRIVATE, { create: true });
    gone.remove();
    assert.throws(() => MessageQueue.fromId(gone.id), {
      code: 'EINVAL',
      syscall: 'msgctl',
      id: gone.id,
      message: `EINVAL: no queue has this id (removed, or never made), msgctl id ${gone.id}`,
    });
  });

  test(`a message longer than msgmax (${MSGMAX}) is a RangeError naming the limit; exactly msgmax is sent`, () =>
    withQueue(async (queue) => {
      const detail = new RegExp(
        `It must be <= ${MSGMAX} \\(the system's msgmax, /proc/sys/kernel/msgmax\\)\\. Received ${MSGMAX + 1}`,
      );
      assert.throws(() => queue.sendSync(1, Buffer.alloc(MSGMAX + 1)), {
        name: 'RangeError',
        code: 'ERR_OUT_OF_RANGE',
        message: detail,
      });
      await assert.rejects(queue.send(1, Buffer.alloc(MSGMAX + 1)), { code: 'ERR_OUT_OF_RANGE', message: detail });
      await queue.send(1, Buffer.alloc(MSGMAX, 7));
      assert.equal(queue.stat().bytes, MSGMAX);
    }));

  test('a message that could never fit the queue fails with EMSGSIZE instead of waiting forever', () =>
    withQueue(async (queue) => {
      queue.set({ maxBytes: 100 });
      assert.equal(queue.stat().maxBytes, 100);
      await assert.rejects(queue.send(1, Buffer.alloc(101)), {
        code: 'EMSGSIZE',
        message: /101 bytes can never fit in a queue of maxBytes 100/,
      });
      assert.throws(() => queue.sendSync(1, Buffer.alloc(101)), { code: 'EMSGSIZE' });
      queue.sendSync(1, Buffer.alloc(100));
      // The queue is full now: a message that fits waits; the capacity this object last read is what it
      // is checked against, read again after its own set() and for a message longer than it.
      assert.throws(() => queue.sendSync(1, Buffer.alloc(50), { timeout: 20 }), { code: 'ETIMEDOUT' });
      queue.set({ maxBytes: 40 });
      assert.throws(() => queue.sendSync(1, Buffer.alloc(50)), { code: 'EMSGSIZE', message: /maxBytes 40/ });
      MessageQueue.fromId(queue.id).set({ maxBytes: 200 }); // through another object: read again for 150 > 40
      assert.throws(() => queue.sendSync(1, Buffer.alloc(150), { timeout: 20 }), { code: 'ETIMEDOUT' });
    }));

  test('a message longer than maxSize stays queued (E2BIG) unless noError truncates it', () =>
    withQueue(async (queue) => {
      const data = randomBytes(100);
      cSend(queue, [[4, data]]);
      assert.throws(() => queue.receiveSync({ maxSize: 99 }), {
        code: 'E2BIG',
        message: /longer than maxSize \(99\) and stays queued; noError truncates it/,
      });
      await assert.rejects(queue.receive({ maxSize: 10 }), { code: 'E2BIG' });
      assert.equal(queue.stat().messages, 1);
      assert.deepEqual(await queue.receive({ maxSize: 10, noError: true }), { type: 4, data: data.subarray(0, 10) });
      assert.equal(queue.stat().messages, 0);
      // The same while waiting on a thread: the message arrives after the receive began.
      const waiting = queue.receive({ maxSize: 5 });
      setTimeout(() => cSend(queue, [[1, 'too long']]), 20);
      await assert.rejects(waiting, { code: 'E2BIG' });
      const truncating = queue.receive({ maxSize: 3, noError: true, type: 2 });
      setTimeout(() => cSend(queue, [[2, 'truncated']]), 20);
      assert.deepEqual(await truncating, { type: 2, data: Buffer.from('tru') });
      assert.deepEqual(queue.receiveSync({ maxSize: 8 }), { type: 1, data: Buffer.from('too long') });
    }));

  test('ENOENT for a key without a queue, EEXIST for an exclusive create, ENOMSG for nowait', async () => {
    const key = randomKey();
    assert.throws(() => MessageQueue.get(key), {
      code: 'ENOENT',
      syscall: 'msgget',
      key,
      message: new RegExp(`key 0x${key.toString(16).padStart(8, '0')}`),
    });
    const queue = MessageQueue.get(key, { create: true, exclusive: true, mode: 0o640 });
    try {
      assert.equal(queue.key, key);
      assert.throws(() => MessageQueue.get(key, { create: true, exclusive: true }), { code: 'EEXIST', key });
      assert.equal(MessageQueue.get(key, { create: true }).id, queue.id);
      assert.equal(MessageQueue.get(key).id, queue.id);
      assert.throws(() => queue.receiveSync({ nowait: true }), { code: 'ENOMSG', syscall: 'msgrcv', id: queue.id });
      await assert.rejects(queue.receive({ nowait: true }), { code: 'ENOMSG' });
      const stat = queue.stat();
      assert.equal(stat.key, key);
      assert.equal(stat.mode, 0o640);
      assert.equal(stat.lastSend, null);
      assert.equal(stat.lastReceive, null);
      assert.ok(stat.lastChange instanceof Date);
    } finally {
      queue.remove();
    }
    assert.throws(
      () => queue.stat(),
      (error: IpcError) => ['EINVAL', 'EIDRM'].includes(error.code),
    );
  });

  test('EACCES for a process without permission (a child running as nobody)', {
    skip: cannotRunAsNobody(),
  }, async () => {
    const key = randomKey();
    const queue = MessageQueue.get(key, { create: true, exclusive: true, mode: 0o600 });
    try {
      queue.sendSync(1, 'private');
      const child = await finished(
        spawnPeer('msg-receive', [String(queue.id), 'access', String(key)], {
          uid: 65534,
          gid: 65534,
          env: { ...process.env, HOME: '/tmp' },
        }),
      );
      assert.equal(child.code, 0, child.stdout);
      // msgget(key, 0) asks for no permission, so it succeeds, as in C; using the queue does not.
      assert.deepEqual(JSON.parse(child.stdout), { get: 'ok', receive: 'EACCES', send: 'EACCES' });
      // Opened to others: the same child can now take the message.
      queue.set({ mode: 0o666 });
      const allowed = await finished(
        spawnPeer('msg-receive', [String(queue.id), 'access', String(key)], {
          uid: 65534,
          gid: 65534,
          env: { ...process.env, HOME: '/tmp' },
        }),
      );
      assert.deepEqual(JSON.parse(allowed.stdout), { get: 'ok', receive: 'private', send: 'ok' });
      assert.equal(queue.stat().lastReceivePid > 0, true);
    } finally {
      queue.remove();
    }
  });

  test('a user who may write but not read opens the queue by id, and a send to a full queue waits (ETIMEDOUT, not EACCES)', {
    skip: cannotRunAsNobody(),
  }, async () => {
    const queue = MessageQueue.get(IPC_PRIVATE, { create: true, mode: 0o622 });
    try {
      queue.set({ maxBytes: 4 });
      queue.sendSync(1, 'full');
      const child = await finished(
        spawnPeer('msg-receive', [String(queue.id), 'write-only'], {
          uid: 65534,
          gid: 65534,
          env: { ...process.env, HOME: '/tmp' },
        }),
      );
      assert.equal(child.code, 0, child.stdout);
      assert.deepEqual(JSON.parse(child.stdout), { byId: 'ok', send: 'ETIMEDOUT' });
    } finally {
      queue.remove();
    }
  });

  test('stat() has every msqid_ds field; set() changes maxBytes and mode as C and ipcs see them', () =>
    withQueue(async (queue) => {
      cSend(queue, [[1, 'abc']]);
      await queue.receive();
      queue.sendSync(2, 'hello');
      const stat = queue.stat();
      assert.deepEqual(Object.keys(stat).sort(), [
        'bytes',
        'creatorGid',
        'creatorUid',
        'gid',
        'id',
        'key',
        'lastChange',
        'lastReceive',
        'lastReceivePid',
        'lastSend',
        'lastSendPid',
        'maxBytes',
        'messages',
        'mode',
        'sequence',
        'uid',
      ]);
      assert.equal(stat.lastReceivePid, process.pid);
      assert.equal(stat.lastSendPid, process.pid);
      assert.ok(stat.lastReceive instanceof Date && stat.lastSend instanceof Date);
      assert.equal(stat.uid, process.getuid!());
      queue.set({ maxBytes: 4000, mode: 0o604 });
      const c = JSON.parse(runOk(compilePeer('msg_sysv'), ['stat', String(queue.id)]));
      assert.deepEqual(
        { qbytes: c.qbytes, mode: c.mode, qnum: c.qnum, cbytes: c.cbytes, lrpid: c.lrpid },
        { qbytes: 4000, mode: 0o604, qnum: 1, cbytes: 5, lrpid: process.pid },
      );
      assert.deepEqual(ipcsQueue(queue.id), { key: IPC_PRIVATE, perms: 0o604, usedBytes: 5, messages: 1 });
      // Every permission field given: nothing needs reading first; maxBytes kept, or changed with them.
      const { uid, gid } = queue.stat();
      queue.set({ mode: 0o640, uid, gid });
      assert.deepEqual([queue.stat().mode, queue.stat().maxBytes], [0o640, 4000]);
      queue.set({ mode: 0o600, uid, gid, maxBytes: 3000 });
      assert.deepEqual([queue.stat().mode, queue.stat().maxBytes], [0o600, 3000]);
    }));
});
