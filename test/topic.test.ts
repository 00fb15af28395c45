// Topic (src/topic.ts): one publisher, up to 64 subscribers, each at its own pace. In-process cases for the
// API's contract, then real processes: fan-out to several subscribers, late joiners, an 'overwrite' topic
// lapping a slow subscriber (every message whole, every loss counted), and ends killed with SIGKILL.
import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, test } from 'node:test';
import { Channel } from '../src/channel.js';
import { IpcError, spawn } from '../src/index.js';
import { MAX_SUBSCRIBERS, Topic } from '../src/topic.js';
import { cpuPeer, dup, finished, lineFrom, peerCommand, spawnPeer, uniqueIpcName } from './helpers.js';
import { message } from './peers/channel-messages.js';

interface Report {
  count: number;
  first: number;
  last: number;
  whole: boolean;
  rising: boolean;
  gaps: number;
  missed: number;
  ending: string;
}

function subscriber(topic: Topic, mode: 'sync' | 'async' | 'slow') {
  const child = peer(['subscribe', mode, '-'], topic);
  return { child, joined: lineFrom(child, 'joined'), done: finished(child) };
}

// spawn() of unipc hands a Topic over as fd 3 (handOverBySpawn), as it does a Channel.
function peer(args: string[], topic: Topic) {
  const [command, runArguments] = peerCommand('test/peers/topic-peer.ts');
  const child = spawn(command, [...runArguments, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    fds: [topic.fd],
  });
  return child;
}

function report(stdout: string): Report {
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Report;
}

function drain(topic: Topic): Buffer[] {
  const got: Buffer[] = [];
  for (let m = topic.tryReceive(); m !== null; m = topic.tryReceive()) got.push(m);
  return got;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Topic in one process', () => {
  test('every subscriber gets every message sent after it joined, in order; history gives the last N first', () => {
    using topic = Topic.create({ capacity: 1 << 14, history: 3 });
    using early = topic.subscribe();
    for (let i = 0; i < 5; i++) topic.sendSync(message(i));
    using late = topic.subscribe();
    topic.sendSync(message(5));
    assert.deepEqual(drain(early), [0, 1, 2, 3, 4, 5].map(message));
    assert.deepEqual(drain(late), [2, 3, 4, 5].map(message));
    assert.equal(topic.subscribers, 2);
    assert.equal(early.missed + late.missed, 0);
    using none = Topic.create({ capacity: 1 << 14 }); // history 0: a joiner starts with the next message
    none.sendSync('before');
    using joiner = none.subscribe();
    none.sendSync('after');
    assert.deepEqual(drain(joiner).map(String), ['after']);
  });

  test("a joiner's count is exact whatever the ring holds: stale bytes at the tail never look like a record", () => {
    using topic = Topic.create({ capacity: 4096, maxMessageSize: 100 });
    topic.sendSync(Buffer.alloc(0)); // the word after the tail is 0: record 0's number
    using first = topic.subscribe();
    topic.sendSync('a');
    assert.deepEqual(drain(first).map(String), ['a']);
    assert.equal(first.missed, 0);
    // Payload words equal to the next number, everywhere the tail may come to rest.
    const words = Buffer.alloc(64);
    for (let i = 0; i < 200; i++) {
      for (let j = 0; j < 64; j += 4) words.writeUInt32LE(202 + i, j);
      topic.sendSync(words);
      drain(first);
    }
    using second = topic.subscribe();
    topic.sendSync('b');
    assert.deepEqual(drain(second).map(String), ['b']);
    assert.equal(second.missed, 0);
  });

  test('history larger than what was sent gives what there is; empty messages and the longest one pass', () => {
    using topic = Topic.create({ capacity: 4096, history: 100 });
    topic.sendSync(Buffer.alloc(0));
    topic.sendSync(Buffer.alloc(topic.maxMessageSize, 7));
    using late = topic.subscribe();
    const got = drain(late);
    assert.deepEqual(got, [Buffer.alloc(0), Buffer.alloc(topic.maxMessageSize, 7)]);
  });

  test("'block': the publisher waits for the slowest subscriber (trySend false, sendSync ETIMEDOUT, send() aborted)", async () => {
    using topic = Topic.create({ capacity: 4096, maxMessageSize: 200 });
    using fast = topic.subscribe();
    using slow = topic.subscribe();
    let sent = 0;
    while (topic.trySend(message(sent))) {
      sent++;
      drain(fast);
    }
    assert.ok(sent > 10 && sent < 4096 / 8, `sent ${sent}`);
    assert.throws(() => topic.sendSync(message(sent), { timeout: 20 }), { code: 'ETIMEDOUT' });
    const controller = new AbortController();
    const pending = topic.send(message(sent), { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(pending, { name: 'AbortError' });
    const waiting = topic.send(message(sent)); // room comes when the slow one reads
    await delay(10);
    assert.equal(drain(slow).length, sent);
    await waiting;
    assert.deepEqual(drain(slow), [message(sent)]);
    assert.equal(slow.missed, 0);
  });

  test("'block' with no subscriber never waits; a subscriber that closes stops holding the publisher back", async () => {
    using topic = Topic.create({ capacity: 4096, maxMessageSize: 200 });
    for (let i = 0; i < 1000; i++) topic.sendSync(message(i % 150));
    const stuck = topic.subscribe();
    while (topic.trySend(message(0)));
    const waiting = topic.send(message(1));
    await delay(10);
    stuck.close();
    await waiting;
    assert.equal(topic.subscribers, 0);
  });

  test("'overwrite': the publisher never waits; a lapped subscriber gets whole messages and counts every one it lost", () => {
    using topic = Topic.create({ capacity: 4096, maxMessageSize: 300, policy: 'overwrite' });
    using reader = topic.subscribe();
    const total = 5000;
    let received = 0;
    let last = -1;
    for (let i = 0; i < total; i++) {
      assert.equal(topic.trySend(message(i)), true);
      if (i % 97 === 0) {
        for (const m of drain(reader)) {
          const n = m.readUInt32LE(0);
          assert.deepEqual(m, message(n));
          assert.ok(n > last);
          last = n;
          received++;
        }
      }
    }
    received += drain(reader).length;
    assert.ok(reader.missed > 0);
    assert.equal(received + reader.missed, total);
  });

  test('zero-copy: reserve/commit writes in place, receiveView lends the bytes until release()', async () => {
    using topic = Topic.create({ capacity: 4096, maxMessageSize: 500 });
    using reader = topic.subscribe();
    const room = topic.reserveSync(100);
    assert.equal(room.byteLength, 100);
    assert.throws(() => topic.trySend('x'), { code: 'ERR_INVALID_STATE' });
    room.fill(7, 0, 10);
    topic.commit(10);
    assert.equal(room.byteLength, 0); // cut off
    assert.throws(() => topic.commit(), { code: 'ERR_INVALID_STATE' });
    const view = reader.receiveViewSync({ timeout: 1000 })!;
    assert.deepEqual(Buffer.from(view), Buffer.alloc(10, 7));
    assert.throws(() => reader.tryReceive(), { code: 'ERR_INVALID_STATE' });
    // While the view is lent, its record holds the publisher back ('block').
    let sent = 0;
    while (topic.trySend(message(sent % 150))) sent++;
    assert.ok(sent > 0);
    assert.equal(reader.release(), true);
    assert.equal(view.byteLength, 0);
    assert.equal(topic.trySend('after'), true);
    for (let i = 0; i < sent; i++) assert.deepEqual(reader.tryReceive(), message(i % 150));
    const lent = reader.receiveView();
    const more = await topic.reserve(3);
    more.set([1, 2, 3]);
    topic.commit();
    assert.equal(Buffer.from((await lent)!).toString(), 'after');
    reader.release();
    assert.deepEqual([...(await reader.receiveView())!], [1, 2, 3]);
    assert.equal(reader.release(), true);
  });

  test("zero-copy under 'overwrite': release() says whether the publisher wrote over the lent message", () => {
    using topic = Topic.create({ capacity: 4096, maxMessageSize: 500, policy: 'overwrite' });
    using reader = topic.subscribe();
    topic.sendSync('first');
    const view = reader.tryReceiveView()!;
    assert.equal(Buffer.from(view).toString(), 'first');
    assert.equal(reader.release(), true);
    topic.sendSync('second');
    reader.tryReceiveView();
    for (let i = 0; i < 100; i++) topic.sendSync(message(i));
    assert.equal(reader.release(), false);
    let received = 0;
    for (let m = reader.tryReceive(); m !== null; m = reader.tryReceive()) {
      assert.deepEqual(m, message(m.readUInt32LE(0)));
      received++;
    }
    assert.equal(received + reader.missed, 101); // 'second', torn while lent, counts as missed
  });

  test('the end: null once the publisher closed and all is read; for await ends; no publisher after the close', async () => {
    const topic = Topic.create({ capacity: 1 << 14 });
    using reader = topic.subscribe();
    topic.sendSync('a');
    const later = reader.receive({ timeout: 5000 });
    assert.equal(String(await later), 'a');
    const next = reader.receive();
    setTimeout(() => topic.sendSync('b'), 10);
    assert.equal(String(await next), 'b');
    setTimeout(() => topic.close(), 10);
    assert.equal(await reader.receive(), null);
    assert.equal(reader.receiveSync(), null);
    const again = Topic.fromFd(Number(dup(reader)), { spin: 0 });
    assert.throws(() => again.sendSync('c'), { code: 'EPIPE' });
    again.close();
    const items: string[] = [];
    for await (const m of reader) items.push(String(m));
    assert.deepEqual(items, []);
  });

  test('Promise and Sync receives wait: timeout, AbortSignal, and a wake from another thread of work', async () => {
    using topic = Topic.create({ capacity: 1 << 14 });
    using reader = topic.subscribe({ spin: 0, poll: 0 });
    assert.throws(() => reader.receiveSync({ timeout: 10 }), { code: 'ETIMEDOUT' });
    await assert.rejects(reader.receive({ timeout: 10 }), { code: 'ETIMEDOUT' });
    await assert.rejects(reader.receive({ signal: AbortSignal.timeout(10) }), { name: 'AbortError' });
    const pending = reader.receive();
    setTimeout(() => topic.sendSync('woken'), 20);
    assert.equal(String(await pending), 'woken');
  });

  test('roles and limits: one live publisher, 64 subscribers, one role per end', () => {
    using topic = Topic.create({ capacity: 4096, role: 'publisher' });
    const ends = Array.from({ length: MAX_SUBSCRIBERS }, () => topic.subscribe());
    try {
      assert.equal(topic.subscribers, MAX_SUBSCRIBERS);
      assert.throws(
        () => topic.subscribe(),
        (error: unknown) => error instanceof IpcError && error.code === 'EBUSY',
      );
      ends.pop()!.close();
      ends.push(topic.subscribe()); // the freed slot
      using second = Topic.fromFd(dup(topic));
      assert.throws(() => second.sendSync('x'), { code: 'EBUSY' });
      assert.throws(() => topic.tryReceive(), { code: 'ERR_INVALID_STATE' });
      assert.throws(() => ends[0]!.trySend('x'), { code: 'ERR_INVALID_STATE' });
    } finally {
      for (const end of ends) end.close();
    }
  });

  test('bad input is refused before anything is made or sent', () => {
    assert.throws(() => Topic.create({ capacity: 5000 }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => Topic.create({ capacity: 4096, maxMessageSize: 4096 / 2 - 11 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => Topic.create({ policy: 'drop' as never }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => Topic.create({ history: 4097 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => Topic.create({ removeOnDispose: true }), { code: 'ERR_INVALID_ARG_VALUE' });
    using topic = Topic.create({ capacity: 4096, maxMessageSize: 100 });
    assert.throws(() => topic.trySend(Buffer.alloc(101)), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => topic.trySend(42 as never), { code: 'ERR_INVALID_ARG_TYPE' });
    using channel = Channel.create({ capacity: 4096 });
    assert.throws(() => Topic.fromFd(dup(channel)), { code: 'EPROTO' });
  });
});

describe('Topic between processes', () => {
  test('the publisher and a subscriber tell the CPU they run on with each message, even if they never waited', async (t) => {
    // A waiting side that finds its peer on its own CPU yields to it rather than spinning (docs/channel.md,
    // "CPU hints"): a fresh peer that never waits, pinned to CPU 0 and then moved to CPU 1, writes
    // CPU + 1 where it reads the kernel's rseq word, and 0 (not told) where it has none.
    if (os.availableParallelism() < 2) return t.skip('needs two CPUs');
    const peer = await cpuPeer<{ publisher: number; subscriber: number }>(['topic']);
    const { first } = peer;
    assert.equal(first.cpu, 0);
    const tells = (cpu: number) => {
      const told = first.word === null ? 0 : cpu + 1;
      return { publisher: told, subscriber: told };
    };
    assert.deepEqual(first.told, tells(0));
    const second = await peer.moved();
    assert.equal(second.cpu, 1);
    assert.deepEqual(second.told, tells(1));
    assert.equal(await peer.end(), 0);
  });

  test('fan-out: 10,000 messages to four subscribers (Sync and Promise), every one whole and in order, then the end', async () => {
    using topic = Topic.create({ capacity: 1 << 15 });
    const subs = (['sync', 'async', 'sync', 'async'] as const).map((mode) => subscriber(topic, mode));
    await Promise.all(subs.map((s) => s.joined));
    const total = 10_000;
    for (let i = 0; i < total; i++) {
      if (i % 2 === 0) topic.sendSync(message(i));
      else await topic.send(message(i));
    }
    topic.close();
    for (const s of subs) {
      const { code, stdout } = await s.done;
      assert.equal(code, 0);
      assert.deepEqual(report(stdout), {
        count: total,
        first: 0,
        last: total - 1,
        whole: true,
        rising: true,
        gaps: 0,
        missed: 0,
        ending: 'null',
      });
    }
  });

  test('late joiners in the middle of a stream get consecutive messages from where they joined to the end', async () => {
    using topic = Topic.create({ capacity: 1 << 14, history: 8 });
    const total = 15_000;
    const joiners: ReturnType<typeof subscriber>[] = [];
    for (let i = 0; i < total; i++) {
      await topic.send(message(i));
      if (i === 2000 || i === 6000 || i === 11000) {
        const s = subscriber(topic, 'async');
        await s.joined;
        joiners.push(s);
      }
    }
    topic.close();
    for (const s of joiners) {
      const r = report((await s.done).stdout);
      assert.equal(r.whole && r.rising, true);
      assert.equal(r.gaps, 0);
      assert.equal(r.missed, 0);
      assert.equal(r.last, total - 1);
      assert.equal(r.count, total - r.first);
    }
  });

  test("'overwrite' between processes: a slow subscriber is lapped, loses whole messages only, and counts them exactly", async () => {
    using topic = Topic.create({ capacity: 1 << 13, maxMessageSize: 300, policy: 'overwrite' });
    const slow = subscriber(topic, 'slow');
    const fast = subscriber(topic, 'async');
    await Promise.all([slow.joined, fast.joined]);
    const total = 30_000;
    for (let i = 0; i < total; i++) topic.sendSync(message(i));
    topic.close();
    for (const s of [slow, fast]) {
      const r = report((await s.done).stdout);
      assert.equal(r.whole, true);
      assert.equal(r.rising, true);
      assert.equal(r.gaps + r.first, r.missed); // a first message after 0 was lost too
      assert.equal(r.count + r.missed, total);
    }
    assert.ok(report((await slow.done).stdout).missed > 0, 'the slow subscriber was lapped');
  });

  test('a subscriber killed with SIGKILL stops holding a blocked publisher back; its slot is taken again', async () => {
    using topic = Topic.create({ capacity: 4096, maxMessageSize: 200 });
    const hung = peer(['subscribe-and-hang', '-', '-'], topic);
    const hungDone = finished(hung);
    await lineFrom(hung, 'joined');
    using live = topic.subscribe();
    while (topic.trySend(message(1))) drain(live);
    const blocked = topic.send(message(2), { timeout: 30_000 });
    hung.kill('SIGKILL');
    await hungDone;
    await blocked; // after the publisher's check finds the subscriber gone
    assert.equal(topic.subscribers, 1);
    assert.equal(drain(live).length > 0, true);
    const again = subscriber(topic, 'sync');
    await again.joined;
    assert.equal(topic.subscribers, 2);
    topic.close();
    assert.equal(report((await again.done).stdout).ending, 'null');
  });

  test('a publisher killed with SIGKILL: subscribers get all it sent, then EPIPE; a new publisher goes on', async () => {
    using topic = Topic.create({ capacity: 1 << 14, role: 'subscriber' });
    const first = peer(['publish', 'hang', '3000'], topic);
    const firstDone = finished(first);
    const received: number[] = [];
    let ending = '';
    const killed = lineFrom(first, 'sent').then(() => first.kill('SIGKILL'));
    try {
      for (let m = await topic.receive(); m !== null; m = await topic.receive()) received.push(m.readUInt32LE(0));
    } catch (error) {
      ending = (error as IpcError).code;
    }
    await killed;
    await firstDone;
    assert.equal(ending, 'EPIPE');
    assert.deepEqual(
      received,
      Array.from({ length: 3000 }, (_, i) => i),
    );
    const second = peer(['publish', 'async', '500'], topic);
    const secondDone = finished(second);
    await lineFrom(second, 'attached'); // until then the dead one is the publisher: receive() says EPIPE
    const after: number[] = [];
    for (let m = await topic.receive(); m !== null; m = await topic.receive()) after.push(m.readUInt32LE(0));
    assert.equal((await secondDone).code, 0);
    assert.deepEqual(
      after,
      Array.from({ length: 500 }, (_, i) => i),
    );
    assert.equal(topic.missed, 0);
  });

  test('joiners with history while a publisher in another process runs flat out: none counts a loss it did not have', async () => {
    using topic = Topic.create({ capacity: 1 << 22, maxMessageSize: 300, policy: 'overwrite', history: 8 });
    const publisher = peer(['publish', 'sync', '300000'], topic);
    const done = finished(publisher);
    await lineFrom(publisher, 'attached');
    let joiners = 0;
    let exited = false;
    void done.then(() => (exited = true));
    while (!exited || joiners === 0) {
      using joiner = topic.subscribe();
      const first = joiner.receiveSync({ timeout: 10_000 });
      if (first === null) break;
      const second = joiner.receiveSync({ timeout: 10_000 });
      assert.deepEqual(first, message(first.readUInt32LE(0)));
      // A joiner descheduled between its two receives (a loaded machine) can be lapped: then it counts
      // exactly the messages between the two, no more.
      const skipped = second === null ? 0 : second.readUInt32LE(0) - first.readUInt32LE(0) - 1;
      assert.ok(skipped >= 0, `second ${second?.readUInt32LE(0)} after ${first.readUInt32LE(0)}`);
      assert.equal(joiner.missed, skipped, `joiner ${joiners} started at message ${first.readUInt32LE(0)}`);
      joiners++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal((await done).code, 0);
    assert.ok(joiners > 0);
  });

  test('a publisher killed after one message, and its successor: numbers go on, nothing counted lost', async () => {
    using topic = Topic.create({ capacity: 1 << 14, role: 'subscriber' });
    const first = peer(['publish', 'hang', '1'], topic);
    const firstDone = finished(first);
    await lineFrom(first, 'sent');
    first.kill('SIGKILL');
    await firstDone;
    assert.deepEqual(await topic.receive(), message(0));
    await assert.rejects(topic.receive(), { code: 'EPIPE' });
    const second = peer(['publish', 'sync', '3'], topic);
    const secondDone = finished(second);
    await lineFrom(second, 'attached');
    const after: Buffer[] = [];
    for (let m = await topic.receive(); m !== null; m = await topic.receive()) after.push(m);
    assert.deepEqual(after, [0, 1, 2].map(message));
    assert.equal(topic.missed, 0);
    await secondDone;
  });

  test("a successor publisher under 'block' waits for what subscribers have not read of its predecessor's", async () => {
    using topic = Topic.create({ capacity: 4096, maxMessageSize: 200, role: 'subscriber' });
    const first = peer(['publish', 'hang', '60'], topic);
    const firstDone = finished(first);
    await lineFrom(first, 'sent');
    first.kill('SIGKILL');
    await firstDone;
    const second = peer(['publish', 'sync', '40'], topic);
    const secondDone = finished(second);
    await lineFrom(second, 'attached');
    await delay(50); // it sends what fits, then waits
    const got: Buffer[] = [];
    for (let m = await topic.receive(); m !== null; m = await topic.receive()) got.push(m);
    const numbers = (n: number) => Array.from({ length: n }, (_, i) => i);
    assert.deepEqual(got, [...numbers(60), ...numbers(40)].map(message));
    assert.equal(topic.missed, 0);
    assert.equal((await secondDone).code, 0);
  });

  test('a named topic, opened by name in another process; removeOnDispose unlinks it', async () => {
    const name = uniqueIpcName('topic');
    {
      using topic = Topic.create({ name, capacity: 1 << 14, removeOnDispose: true });
      const child = spawnPeer('topic-peer', ['subscribe', 'sync', '-', name]);
      const done = finished(child);
      await lineFrom(child, 'joined');
      for (let i = 0; i < 1000; i++) topic.sendSync(message(i));
      topic.close();
      const r = report((await done).stdout);
      assert.deepEqual([r.count, r.whole, r.rising, r.ending], [1000, true, true, 'null']);
    }
    assert.throws(() => Topic.open(name), { code: 'ENOENT' });
  });
});
