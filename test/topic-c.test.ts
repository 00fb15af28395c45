// The topic's C ends (include/unipc/topic.h) against Node's (src/topic.ts), in real processes: C subscribers
// of a Node publisher and Node subscribers of a C publisher, every size from 0 to maxMessageSize (so the
// ring wraps); a slow C subscriber lapped by an 'overwrite' publisher; a publisher or a subscriber killed
// with SIGKILL; topics made by name on either side; history for late joiners. The C end is
// test/peers/topic_peer.c.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn as spawnRaw } from 'node:child_process';
import os from 'node:os';
import { describe, test } from 'node:test';
import { IpcError, mmap, spawn } from '../src/index.js';
import { Topic } from '../src/topic.js';
import { compilePeer, finished, lineFrom, quietly, uniqueIpcName, until } from './helpers.js';
import { FNV_OFFSET, message, SEED, sum, withChildren } from './peers/interop.js';

const cPeer = () => compilePeer('topic_peer');
const TIMEOUT = 30_000;

function spawnC(args: string[], topic?: Topic, { waitv = true, stdin = false } = {}): ChildProcess {
  return spawn(cPeer(), args, {
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'inherit'],
    fds: topic ? [topic.fd] : [],
    env: waitv ? process.env : { ...process.env, UNIPC_PEER_NO_WAITV: '1' },
  });
}

/** The checksum of message(first … first + count − 1). */
function sumOf(first: number, count: number, longest: number): number {
  let h = FNV_OFFSET;
  for (let i = first; i < first + count; i++) h = sum(h, message(i, longest));
  return h;
}

interface Received {
  n: number;
  sum: number;
  intact: boolean;
  end: string;
}

// Receives until the end (null) or an error, checking each message against message(first + n).
async function receiveAll(topic: Topic, mode: 'sync' | 'async', first = 0): Promise<Received> {
  let n = 0;
  let h = FNV_OFFSET;
  let intact = true;
  let end = 'end';
  try {
    for (;;) {
      const bytes =
        mode === 'sync' ? topic.receiveSync({ timeout: TIMEOUT }) : await topic.receive({ timeout: TIMEOUT });
      if (bytes === null) break;
      if (!bytes.equals(message(first + n + topic.missed, topic.maxMessageSize))) intact = false;
      h = sum(h, bytes);
      n++;
    }
  } catch (error) {
    if (!(error instanceof IpcError)) throw error;
    end = error.code;
  }
  return { n, sum: h, intact, end };
}

function report(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

describe('Topic with C ends (include/unipc/topic.h)', () => {
  test('a Node publisher, two C subscribers (one on FUTEX_WAIT_BITSET, no futex_waitv) and a Node subscriber: 4,000 messages of 0 to maxMessageSize bytes, intact and in order, then the end', async () => {
    using topic = Topic.create({ capacity: 1 << 14, maxMessageSize: (1 << 13) - 12 });
    using nodeSubscriber = topic.subscribe();
    const count = 4000;
    const children = [true, false].map((waitv) => spawnC(['subscribe', '3', String(SEED), '0'], topic, { waitv }));
    const done = children.map((child) => finished(child));
    await withChildren(children, async () => {
      await Promise.all(children.map((child) => lineFrom(child, 'joined')));
      assert.equal(topic.subscribers, 3);
      const receiving = receiveAll(nodeSubscriber, 'async');
      for (let i = 0; i < count; i++) {
        const bytes = message(i, topic.maxMessageSize);
        if (i % 3 !== 0 || !topic.trySend(bytes)) await topic.send(bytes, { timeout: TIMEOUT });
      }
      topic.close();
      const expected = sumOf(0, count, topic.maxMessageSize);
      assert.deepEqual(await receiving, { n: count, sum: expected, intact: true, end: 'end' });
      assert.equal(nodeSubscriber.missed, 0);
      for (const result of await Promise.all(done)) {
        assert.equal(result.code, 0);
        assert.deepEqual(report(result.stdout), { n: count, missed: 0, sum: expected, intact: true, end: 'end' });
      }
    });
  });

  for (const mode of ['sync', 'async'] as const) {
    test(`a C publisher, a Node subscriber (${mode}): 3,000 messages of 0 to maxMessageSize bytes, intact and in order, then null`, async () => {
      using topic = Topic.create({ capacity: 1 << 14, maxMessageSize: (1 << 13) - 12, role: 'subscriber' });
      const count = 3000;
      const child = spawnC(['publish', '3', String(SEED), String(count)], topic);
      const done = finished(child);
      await withChildren([child], async () => {
        const received = await receiveAll(topic, mode);
        const expected = sumOf(0, count, topic.maxMessageSize);
        assert.deepEqual(received, { n: count, sum: expected, intact: true, end: 'end' });
        assert.equal(topic.missed, 0);
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(report(result.stdout), { n: count, sum: expected });
      });
    });
  }

  test("'overwrite': a slow C subscriber is lapped; every message it gets is whole, and received + missed == sent", async () => {
    using topic = Topic.create({ capacity: 8192, maxMessageSize: 300, policy: 'overwrite' });
    const child = spawnC(['subscribe', '3', String(SEED), '0', 'slow'], topic, { stdin: true });
    const done = finished(child);
    await withChildren([child], async () => {
      await lineFrom(child, 'joined');
      const total = 10_000;
      // Laps the ring many times before the subscriber reads at all, then goes on while it reads slowly.
      for (let i = 0; i < total; i++) {
        if (i === 2000) child.stdin!.end('go\n');
        assert.equal(topic.trySend(message(i, topic.maxMessageSize)), true);
      }
      topic.close();
      const result = await done;
      assert.equal(result.code, 0);
      const r = report(result.stdout) as { n: number; missed: number; intact: boolean; end: string };
      assert.equal(r.intact, true, 'every message received whole, and numbered by received + missed');
      assert.equal(r.end, 'end');
      assert.equal(r.n + r.missed, total);
      assert.ok(r.missed > 0 && r.n > 0, `lapped: ${r.n} received, ${r.missed} missed`);
    });
  });

  test('a C publisher killed with SIGKILL mid-stream: the Node subscriber gets everything it published, then EPIPE', async () => {
    using topic = Topic.create({ capacity: 1 << 14, maxMessageSize: 1024, role: 'subscriber' });
    const child = spawnC(['publish-forever', '3', String(SEED)], topic);
    const done = finished(child);
    await withChildren([child], async () => {
      await lineFrom(child, 'sending');
      let n = 0;
      for (; n < 3000; n++) {
        const bytes = await topic.receive({ timeout: TIMEOUT });
        assert.ok(bytes?.equals(message(n, topic.maxMessageSize)), `message ${n} intact`);
      }
      child.kill('SIGKILL');
      assert.equal((await done).signal, 'SIGKILL');
      const rest = await receiveAll(topic, 'async', n);
      assert.deepEqual([rest.intact, rest.end], [true, 'EPIPE']);
      assert.equal(topic.missed, 0);
      assert.throws(() => topic.receiveSync({ timeout: 10_000 }), { code: 'EPIPE' });
    });
  });

  test("'block': a C subscriber killed with SIGKILL stops holding a blocked Node publisher back", async () => {
    using topic = Topic.create({ capacity: 4096, maxMessageSize: 200 });
    using live = topic.subscribe();
    const child = spawnC(['subscribe-and-hang', '3'], topic);
    const done = finished(child);
    await withChildren([child], async () => {
      await lineFrom(child, 'joined');
      let sent = 0;
      let read = 0;
      const drain = () => {
        for (let m = live.tryReceive(); m !== null; m = live.tryReceive()) {
          assert.ok(m.equals(message(read, topic.maxMessageSize)), `message ${read} intact`);
          read++;
        }
      };
      while (topic.trySend(message(sent, topic.maxMessageSize))) {
        sent++;
        drain();
      }
      drain();
      assert.equal(read, sent, 'the live subscriber is not what holds the publisher back');
      const blocked = topic.send(message(sent, topic.maxMessageSize), { timeout: TIMEOUT });
      child.kill('SIGKILL');
      assert.equal((await done).signal, 'SIGKILL');
      await blocked; // after the publisher's check finds the subscriber gone
      sent++;
      assert.equal(topic.subscribers, 1);
      for (const end = sent + 100; sent < end; sent++) {
        await topic.send(message(sent, topic.maxMessageSize), { timeout: TIMEOUT });
        drain();
      }
      drain();
      assert.equal(read, sent);
      assert.equal(live.missed, 0);
    });
  });

  test('a named topic made by C (unipc_topic_create_named): Node opens it with Topic.open() and subscribes to the C publisher', async () => {
    const name = `/${uniqueIpcName('topic')}`;
    try {
      const child = spawnC(['create-publish', name, String(SEED), '2000']);
      const done = finished(child);
      await withChildren([child], async () => {
        await lineFrom(child, 'ready');
        using topic = Topic.open(name, { role: 'subscriber' });
        Topic.unlink(name);
        assert.deepEqual(
          [topic.capacity, topic.maxMessageSize, topic.policy, topic.history],
          [16384, 4096, 'block', 0],
        );
        const received = await receiveAll(topic, 'sync');
        const expected = sumOf(0, 2000, topic.maxMessageSize);
        assert.deepEqual(received, { n: 2000, sum: expected, intact: true, end: 'end' });
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(report(result.stdout), { n: 2000, sum: expected });
      });
    } finally {
      quietly(() => Topic.unlink(name), ['ENOENT']);
    }
  });

  test('a named topic made by Node (Topic.create({ name })): a C subscriber opens it with shm_open', async () => {
    const name = `/${uniqueIpcName('topic')}`;
    try {
      using topic = Topic.create({ name, capacity: 1 << 14, policy: 'overwrite', removeOnDispose: true });
      const child = spawnC(['subscribe', name, String(SEED), '0']);
      const done = finished(child);
      await withChildren([child], async () => {
        await lineFrom(child, 'joined');
        for (let i = 0; i < 2000; i++) topic.sendSync(message(i, topic.maxMessageSize));
        topic.close();
        const result = await done;
        assert.equal(result.code, 0);
        const r = report(result.stdout) as { n: number; missed: number; intact: boolean; end: string };
        // 'overwrite' never waits for the subscriber: what it lost is counted.
        assert.deepEqual([r.n + r.missed, r.intact, r.end], [2000, true, 'end']);
      });
    } finally {
      quietly(() => Topic.unlink(name), ['ENOENT']);
    }
  });

  test('a C subscriber tells the CPU it last waited on, + 1, in its slot (docs/channel.md, "CPU hints")', async (t) => {
    if (os.availableParallelism() < 2) return t.skip('needs two CPUs');
    const name = `/${uniqueIpcName('topic')}`;
    try {
      using topic = Topic.create({ name, capacity: 1 << 14, removeOnDispose: true });
      using mapping = mmap(`/dev/shm${name}`);
      const words = new Int32Array(mapping.buffer, 0, 2048);
      const child = spawnRaw('taskset', ['-c', '1', cPeer(), 'subscribe', name, String(SEED), '0'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const done = finished(child);
      await withChildren([child], async () => {
        await lineFrom(child, 'joined');
        // subscriberWaiting (byte 128): it has spun and written its hint, and sleeps.
        await until(() => Atomics.load(words, 32) > 0);
        assert.equal(words[1024 + 2], 2, 'slot 0, word 2: CPU 1, + 1');
        for (let i = 0; i < 10; i++) topic.sendSync(message(i, topic.maxMessageSize));
        topic.close();
        const result = await done;
        assert.equal(result.code, 0);
        assert.equal((report(result.stdout) as { n: number }).n, 10);
      });
      assert.equal(words[1024 + 2], 2, 'and with each position it stored');
    } finally {
      quietly(() => Topic.unlink(name), ['ENOENT']);
    }
  });

  test('history: a C subscriber joining late gets the last 16 messages first; a Node subscriber joining a C publisher late does too', async () => {
    {
      using topic = Topic.create({ capacity: 1 << 16, maxMessageSize: 1000, history: 16 });
      for (let i = 0; i < 100; i++) topic.sendSync(message(i, topic.maxMessageSize));
      const child = spawnC(['subscribe', '3', String(SEED), '84'], topic);
      const done = finished(child);
      await withChildren([child], async () => {
        await lineFrom(child, 'joined');
        for (let i = 100; i < 200; i++) await topic.send(message(i, topic.maxMessageSize), { timeout: TIMEOUT });
        topic.close();
        const result = await done;
        assert.equal(result.code, 0);
        const expected = sumOf(84, 116, topic.maxMessageSize);
        assert.deepEqual(report(result.stdout), { n: 116, missed: 0, sum: expected, intact: true, end: 'end' });
      });
    }
    {
      using topic = Topic.create({ capacity: 1 << 16, maxMessageSize: 1000, history: 16 });
      const child = spawnC(['publish', '3', String(SEED), '200', 'hold', '100'], topic, { stdin: true });
      const done = finished(child);
      await withChildren([child], async () => {
        await lineFrom(child, 'sent');
        using late = topic.subscribe();
        child.stdin!.end('go\n');
        const received = await receiveAll(late, 'async', 84);
        assert.deepEqual(received, { n: 116, sum: sumOf(84, 116, topic.maxMessageSize), intact: true, end: 'end' });
        assert.equal(late.missed, 0);
        assert.equal((await done).code, 0);
      });
    }
  });
});
