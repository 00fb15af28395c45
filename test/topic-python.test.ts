// The topic's Python end (python/unipc/topic.py) against Node's (src/topic.ts), in real processes: Python
// subscribers next to a Node one, every size from 0 to maxMessageSize (so the ring wraps), an 'overwrite'
// publisher lapping a Python subscriber (every message whole, every loss counted), a Python subscriber
// killed while the Node publisher waits for it, a Node publisher killed under a Python subscriber, history
// for a Python joiner, the number a Python joiner (history 0) and a Python successor publisher take from the
// table, a topic opened by name, a Python 'block' publisher making room for a Node joiner with history, and a
// Python publisher to Node subscribers. The Python end is test/peers/topic_peer.py, run with the machine's
// python3.
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Channel } from '../src/channel.js';
import { mmap, spawn } from '../src/index.js';
import { Topic } from '../src/topic.js';
import { finished, lineFrom, quietly, root, spawnPeer, uniqueIpcName, until } from './helpers.js';
import { message as numbered } from './peers/channel-messages.js';
import { delay, message, SEED, withChildren } from './peers/interop.js';

const pythonPeer = path.join(root, 'test', 'peers', 'topic_peer.py');
// The interpreter: UNIPC_TEST_PYTHON, or the one `python3` names, found once (as test/channel-python.test.ts).
const python =
  process.env.UNIPC_TEST_PYTHON ??
  spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
const TIMEOUT = 30_000;

// `cpu`: pinned there with taskset(1).
function spawnPython(args: string[], fd?: number, { waitv = true, stdin = false, cpu = -1 } = {}): ChildProcess {
  const command = cpu >= 0 ? ['taskset', '-c', String(cpu), python] : [python];
  return spawn(command[0]!, [...command.slice(1), pythonPeer, ...args], {
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'inherit'],
    fds: fd === undefined ? [] : [fd],
    env: waitv ? process.env : { ...process.env, UNIPC_PEER_NO_WAITV: '1' },
  });
}

// The peer's "sha256": over each message's length (4 bytes, little-endian) and its bytes.
function add(hash: Hash, bytes: Uint8Array): void {
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32LE(bytes.length, 0);
  hash.update(length);
  hash.update(bytes);
}

const lastLine = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!);

// What a Node subscriber receives until the end: its messages' "sha256" and whether each was message(n).
async function collect(subscriber: Topic, longest: number) {
  const hash = createHash('sha256');
  let n = 0;
  let intact = true;
  for (let m = await subscriber.receive({ timeout: TIMEOUT }); m !== null; m = await subscriber.receive()) {
    if (!m.equals(message(n, longest))) intact = false;
    add(hash, m);
    n++;
  }
  return { n, sha256: hash.digest('hex'), intact, missed: subscriber.missed };
}

describe('Topic with Python ends (python/unipc/topic.py)', () => {
  test('a Node publisher, two Python subscribers (one sleeping with FUTEX_WAIT_BITSET) and a Node one: 2000 messages of 0 to maxMessageSize bytes, intact and in order, then the end', async () => {
    using topic = Topic.create({ capacity: 1 << 14, maxMessageSize: (1 << 13) - 12, role: 'publisher' });
    using nodeSubscriber = topic.subscribe();
    const children = [true, false].map((waitv) => spawnPython(['subscribe', '3', String(SEED)], topic.fd, { waitv }));
    const done = children.map((child) => finished(child));
    await withChildren(children, async () => {
      await Promise.all(children.map((child) => lineFrom(child, 'joined')));
      assert.equal(topic.subscribers, 3);
      const received = collect(nodeSubscriber, topic.maxMessageSize);
      const expected = createHash('sha256');
      const total = 2000;
      // Promise sends only: a Sync one would block the event loop, and with it the Node subscriber that
      // must make room (its receive() is a Promise in this same thread).
      for (let i = 0; i < total; i++) {
        const bytes = message(i, topic.maxMessageSize);
        add(expected, bytes);
        await topic.send(bytes, { timeout: TIMEOUT });
      }
      topic.close();
      const digest = expected.digest('hex');
      assert.deepEqual(await received, { n: total, sha256: digest, intact: true, missed: 0 });
      for (const result of await Promise.all(done)) {
        assert.equal(result.code, 0);
        assert.deepEqual(lastLine(result.stdout), { n: total, sha256: digest, intact: true, missed: 0, end: 'end' });
      }
    });
  });

  test("'overwrite' with a slow Python subscriber: lapped at rest and while it reads, every message it gets is whole, and received + missed = sent", async () => {
    using topic = Topic.create({ capacity: 1 << 13, maxMessageSize: 300, policy: 'overwrite', role: 'publisher' });
    const child = spawnPython(['numbered', '3', 'go'], topic.fd, { stdin: true });
    const done = finished(child);
    await withChildren([child], async () => {
      await lineFrom(child, 'joined');
      const total = 30_000;
      // Ten rings' worth before it reads at all: it is lapped for certain; then more while it reads.
      for (let i = 0; i < 10_000; i++) assert.equal(topic.trySend(numbered(i)), true);
      child.stdin!.end('go\n');
      for (let i = 10_000; i < total; i++) topic.sendSync(numbered(i));
      topic.close();
      const result = await done;
      assert.equal(result.code, 0);
      const r = lastLine(result.stdout);
      assert.equal(r.whole, true);
      assert.equal(r.rising, true);
      assert.equal(r.ending, 'end');
      assert.equal(r.last, total - 1);
      assert.ok(r.first > 0 && r.missed > 0, 'lapped before its first read');
      assert.equal(r.gaps + r.first, r.missed, 'every loss counted, each once');
      assert.equal(r.count + r.missed, total);
    });
  });

  test("'block': a Python subscriber killed with SIGKILL stops holding the waiting Node publisher back; its slot is freed", async () => {
    using topic = Topic.create({ capacity: 4096, maxMessageSize: 200, role: 'publisher' });
    const child = spawnPython(['hold', '3'], topic.fd);
    const done = finished(child);
    await withChildren([child], async () => {
      await lineFrom(child, 'joined');
      using live = topic.subscribe();
      let sent = 0;
      while (topic.trySend(numbered(sent))) {
        sent++;
        while (live.tryReceive() !== null) {}
      }
      assert.ok(sent > 10, `sent ${sent} before the held subscriber's ring was full`);
      let settled = false;
      const blocked = topic.send(numbered(sent), { timeout: TIMEOUT }).finally(() => {
        settled = true;
      });
      await delay(150);
      assert.equal(settled, false, 'waits while the Python subscriber lives');
      assert.equal(topic.subscribers, 2);
      child.kill('SIGKILL');
      assert.equal((await done).signal, 'SIGKILL');
      await blocked; // once a quiet 100 ms slice has passed, the publisher finds the subscriber gone
      assert.equal(topic.subscribers, 1);
      const rest: number[] = [];
      for (let m = live.tryReceive(); m !== null; m = live.tryReceive()) rest.push(m.readUInt32LE(0));
      assert.deepEqual(rest, [sent]);
    });
  });

  test('a Node publisher killed with SIGKILL: the Python subscriber gets all it sent, then EPIPE', async () => {
    using topic = Topic.create({ capacity: 1 << 14 });
    const child = spawnPython(['numbered', '3'], topic.fd);
    const done = finished(child);
    await withChildren([child], async () => {
      await lineFrom(child, 'joined');
      const publisher = spawnPeer('topic-peer', ['publish', 'hang', '3000'], { fds: [topic.fd] });
      const published = finished(publisher);
      await withChildren([publisher], async () => {
        await lineFrom(publisher, 'sent');
        publisher.kill('SIGKILL');
        assert.equal((await published).signal, 'SIGKILL');
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(lastLine(result.stdout), {
          count: 3000,
          first: 0,
          last: 2999,
          whole: true,
          rising: true,
          gaps: 0,
          missed: 0,
          ending: 'EPIPE',
        });
      });
    });
  });

  test('history: a Python joiner gets the last N first, then the rest; one whose history was overwritten counts the loss', async () => {
    using topic = Topic.create({ capacity: 1 << 14, history: 16, role: 'publisher' });
    for (let i = 0; i < 50; i++) topic.sendSync(numbered(i));
    // 'overwrite', history 100: the ring holds fewer than 100 messages, so the joiner finds its start gone.
    using lapped = Topic.create({ capacity: 4096, maxMessageSize: 300, policy: 'overwrite', history: 100 });
    for (let i = 0; i < 1000; i++) lapped.sendSync(numbered(i));
    const children = [spawnPython(['numbered', '3'], topic.fd), spawnPython(['numbered', '3'], lapped.fd)];
    const done = children.map((child) => finished(child));
    await withChildren(children, async () => {
      await Promise.all(children.map((child) => lineFrom(child, 'joined')));
      for (let i = 50; i < 100; i++) topic.sendSync(numbered(i), { timeout: TIMEOUT });
      topic.close();
      lapped.close();
      const [joiner, late] = await Promise.all(done);
      assert.deepEqual(lastLine(joiner!.stdout), {
        count: 66,
        first: 34,
        last: 99,
        whole: true,
        rising: true,
        gaps: 0,
        missed: 0,
        ending: 'end',
      });
      const r = lastLine(late!.stdout);
      assert.deepEqual([r.whole, r.rising, r.gaps, r.last, r.ending], [true, true, 0, 999, 'end']);
      assert.ok(r.first > 900, `started at ${r.first}, past the overwritten history`);
      assert.equal(r.missed, r.first - 900, 'the history it could not get, counted');
    });
  });

  test('history 0, one message sent: a Python joiner expects the next number (the table, not stale ring bytes), so the second message comes with missed 0', async () => {
    using topic = Topic.create({ capacity: 4096, maxMessageSize: 300, role: 'publisher' });
    assert.equal(topic.history, 0);
    topic.sendSync(numbered(0));
    const child = spawnPython(['numbered', '3'], topic.fd);
    const done = finished(child);
    await withChildren([child], async () => {
      await lineFrom(child, 'joined');
      topic.sendSync(numbered(1));
      topic.close();
      const result = await done;
      assert.equal(result.code, 0);
      assert.deepEqual(lastLine(result.stdout), {
        count: 1,
        first: 1,
        last: 1,
        whole: true,
        rising: true,
        gaps: 0,
        missed: 0,
        ending: 'end',
      });
    });
  });

  test('a Node publisher killed with SIGKILL after exactly one message: a Python publisher takes over and numbers on (no EPROTO), and the Node subscriber gets every message with missed 0', async () => {
    using topic = Topic.create({ capacity: 1 << 14, role: 'subscriber' });
    const publisher = spawnPeer('topic-peer', ['publish', 'hang', '1'], { fds: [topic.fd] });
    const published = finished(publisher);
    await withChildren([publisher], async () => {
      await lineFrom(publisher, 'sent');
      publisher.kill('SIGKILL');
      assert.equal((await published).signal, 'SIGKILL');
      const child = spawnPython(['publish-numbered', '3', '1', '20'], topic.fd);
      const done = finished(child);
      await withChildren([child], async () => {
        // Received only once it has attached: before, the subscriber would find the publisher dead (EPIPE).
        await lineFrom(child, 'attached');
        const received: number[] = [];
        for (let m = await topic.receive({ timeout: TIMEOUT }); m !== null; m = await topic.receive()) {
          assert.ok(m.equals(numbered(m.readUInt32LE(0))), 'whole');
          received.push(m.readUInt32LE(0));
        }
        assert.deepEqual(
          received,
          Array.from({ length: 21 }, (_, i) => i),
        );
        assert.equal(topic.missed, 0);
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(lastLine(result.stdout), { n: 20 });
      });
    });
  });

  test('a named topic made by Node: Python opens it by name (Topic.open()); Python refuses what is no topic and a 65th subscriber', async () => {
    const name = `/${uniqueIpcName('topic')}`;
    try {
      using topic = Topic.create({ name, capacity: 1 << 14, removeOnDispose: true, role: 'publisher' });
      const child = spawnPython(['subscribe', name, String(SEED)]);
      const done = finished(child);
      await withChildren([child], async () => {
        await lineFrom(child, 'joined');
        const edges = spawnPython(['edges', name]);
        assert.deepEqual(lastLine((await finished(edges)).stdout), {
          try: 'EAGAIN',
          timeout: 'ETIMEDOUT',
          publish: 'EBUSY',
        });
        const expected = createHash('sha256');
        for (let i = 0; i < 500; i++) {
          const bytes = message(i, topic.maxMessageSize);
          add(expected, bytes);
          topic.sendSync(bytes, { timeout: TIMEOUT });
        }
        const full = Array.from({ length: 63 }, () => topic.subscribe());
        try {
          assert.deepEqual(lastLine((await finished(spawnPython(['open', name]))).stdout), {
            open: 'ok',
            join: 'EBUSY',
          });
        } finally {
          for (const end of full) end.close();
        }
        topic.close();
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(lastLine(result.stdout), {
          n: 500,
          sha256: expected.digest('hex'),
          intact: true,
          missed: 0,
          end: 'end',
        });
      });
      using channel = Channel.create({ capacity: 4096 });
      assert.deepEqual(lastLine((await finished(spawnPython(['open', '3'], channel.fd))).stdout), { open: 'EPROTO' });
      assert.equal(
        lastLine((await finished(spawnPython(['open', `/${uniqueIpcName('topic')}`]))).stdout).open,
        'ENOENT',
      );
    } finally {
      quietly(() => Topic.unlink(name), ['ENOENT']);
    }
  });

  test("a Python 'block' publisher that filled the ring with nobody attached makes room for a Node joiner with history: its history comes whole, with missed 0", async () => {
    using topic = Topic.create({ capacity: 4096, maxMessageSize: 300, history: 16 });
    const before = 120;
    const after = 100;
    const child = spawnPython(['publish-pause', '3', String(before), String(after)], topic.fd, { stdin: true });
    const done = finished(child);
    await withChildren([child], async () => {
      await lineFrom(child, 'paused'); // the ring went round several times: the publisher looked for nobody
      using subscriber = topic.subscribe(); // starts 16 back, below where the publisher last looked
      const tried = lineFrom(child, 'tried');
      child.stdin!.end('go\n');
      // Read only now: the publisher's try_send() calls must have stopped short of the joiner's first record.
      const sentAtOnce: number = JSON.parse(await tried).tried;
      const got: number[] = [];
      for (let m = await subscriber.receive({ timeout: TIMEOUT }); m !== null; m = await subscriber.receive()) {
        const i = m.length >= 4 ? m.readUInt32LE(0) : -1;
        assert.ok(m.equals(numbered(i)), `message ${i} whole`);
        got.push(i);
      }
      assert.deepEqual(
        got,
        Array.from({ length: 16 + after }, (_, k) => before - 16 + k),
      );
      assert.equal(subscriber.missed, 0);
      assert.ok(sentAtOnce < after, `${sentAtOnce} sent before the joiner read, of ${after}`);
      const result = await done;
      assert.equal(result.code, 0);
      assert.deepEqual(lastLine(result.stdout), { n: before + after });
    });
  });

  test("a Python publisher to two Node subscribers ('block'): 2000 messages of 0 to maxMessageSize bytes, intact and in order, then null; a Python subscriber killed with SIGKILL stops holding it back", async () => {
    using topic = Topic.create({ capacity: 1 << 14, maxMessageSize: (1 << 13) - 12, role: 'subscriber' });
    using second = topic.subscribe();
    // A subscriber that never reads: the publisher can send a ring's worth at most, until it lets it go.
    const held = spawnPython(['hold', '3'], topic.fd);
    const heldDone = finished(held);
    const child = spawnPython(['publish', '3', String(SEED), '2000'], topic.fd);
    const done = finished(child);
    await withChildren([held, child], async () => {
      await Promise.all([lineFrom(held, 'joined'), lineFrom(child, 'attached')]);
      // Both read as Promises, side by side: the publisher waits for the slower one at each full ring.
      const reading = Promise.all([collect(topic, topic.maxMessageSize), collect(second, topic.maxMessageSize)]);
      held.kill('SIGKILL');
      assert.equal((await heldDone).signal, 'SIGKILL');
      const [first, other] = await reading;
      assert.deepEqual({ ...first, sha256: '' }, { n: 2000, sha256: '', intact: true, missed: 0 });
      assert.deepEqual(other, first);
      const result = await done;
      assert.equal(result.code, 0);
      assert.deepEqual(lastLine(result.stdout), { n: 2000, sha256: first.sha256 });
      assert.equal(topic.subscribers, 2, "the Python publisher freed the dead subscriber's slot");
    });
  });

  test('Python ends tell the CPU they last waited on, + 1 (docs/channel.md, "CPU hints"): a subscriber in its slot\'s word 2, the publisher in publisherCpu', async (t) => {
    if (os.availableParallelism() < 2) return t.skip('needs two CPUs');
    // The topic's words as the other processes see them (an int32 index is a byte offset / 4).
    const mapTopic = (topic: Topic) => mmap(`/proc/self/fd/${topic.fd}`);
    const SUBSCRIBER_WAITING = 32;
    const PUBLISHER_WAITING = 33;
    const PUBLISHER_CPU = 19;
    const SLOT_0_CPU = 1024 + 2;
    {
      using topic = Topic.create({ capacity: 1 << 14 });
      using mapping = mapTopic(topic);
      const words = new Int32Array(mapping.buffer, 0, 2048);
      const child = spawnPython(['subscribe', '3', String(SEED)], topic.fd, { cpu: 1 });
      const done = finished(child);
      await withChildren([child], async () => {
        await lineFrom(child, 'joined');
        await until(() => Atomics.load(words, SUBSCRIBER_WAITING) > 0); // it has spun, told its CPU, and sleeps
        assert.equal(words[SLOT_0_CPU], 2, 'slot 0, word 2: CPU 1, + 1');
        for (let i = 0; i < 10; i++) topic.sendSync(message(i, topic.maxMessageSize));
        topic.close();
        const result = await done;
        assert.equal(result.code, 0);
        assert.deepEqual(
          { ...lastLine(result.stdout), sha256: '' },
          { n: 10, sha256: '', intact: true, missed: 0, end: 'end' },
        );
      });
      assert.equal(words[SLOT_0_CPU], 2, 'and with each position it stored');
    }
    {
      using topic = Topic.create({ capacity: 1 << 14, maxMessageSize: (1 << 13) - 12, role: 'subscriber' });
      using mapping = mapTopic(topic);
      const words = new Int32Array(mapping.buffer, 0, 2048);
      const child = spawnPython(['publish', '3', String(SEED), '50'], topic.fd, { cpu: 1 });
      const done = finished(child);
      await withChildren([child], async () => {
        await lineFrom(child, 'attached');
        await until(() => Atomics.load(words, PUBLISHER_WAITING) > 0); // the ring is full: it waits for this end
        assert.equal(words[PUBLISHER_CPU], 2, 'publisherCpu: CPU 1, + 1');
        const got = await collect(topic, topic.maxMessageSize);
        assert.deepEqual({ ...got, sha256: '' }, { n: 50, sha256: '', intact: true, missed: 0 });
        assert.equal((await done).code, 0);
      });
      assert.equal(words[PUBLISHER_CPU], 2, 'and with each record it published');
    }
  });
});
