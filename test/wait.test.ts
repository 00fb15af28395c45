import assert from 'node:assert/strict';
import { spawn as spawnRaw } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { Channel } from '../src/channel.js';
import { FutexWords } from '../src/futex.js';
import {
  AbortError,
  connect,
  IPC_PRIVATE,
  IpcError,
  listen,
  MessageQueue,
  Mutex,
  mapAnonymous,
  mkfifo,
  NamedSemaphore,
  openFifo,
  PosixQueue,
  pipe,
  Semaphore,
  SemaphoreSet,
  socketpair,
  waiterStats,
} from '../src/index.js';
import { runtime } from '../src/native.js';
import { scale, soakTimeout } from './fault/harness.js';
import {
  descriptors,
  dup,
  finished,
  lineFrom,
  newDescriptors,
  openFdCount,
  root,
  runTs,
  spawnPeer,
  tempDir,
  uniqueIpcName,
} from './helpers.js';

/**
 * 1,000 waits that nothing will end but an abort, 100 of each kind: FIFO opens, System V semaphore
 * waits, named semaphore waits, System V queue receives, Mutex locks, Semaphore waits and channel
 * receives (on waiter threads); socket receives, pipe reads and POSIX queue receives (polled).
 */
function pendingWaits() {
  const controller = new AbortController();
  const { signal } = controller;
  const dir = tempDir();
  const cleanups: (() => void)[] = [() => dir[Symbol.dispose]()];
  const waits: Promise<unknown>[] = [];
  const each = (start: (i: number) => Promise<unknown>) => {
    for (let i = 0; i < 100; i++) waits.push(start(i));
  };
  try {
    const fifo = dir.file('nobody-writes');
    mkfifo(fifo);
    each(() => openFifo(fifo, 'r', { signal }));

    const set = SemaphoreSet.get(IPC_PRIVATE, { count: 100, create: true });
    cleanups.push(() => set.remove());
    each((i) => set.wait(i, { signal }));

    const semName = uniqueIpcName('waits');
    const semaphore = NamedSemaphore.open(semName, { create: true, exclusive: true });
    NamedSemaphore.unlink(semName);
    cleanups.push(() => semaphore.close());
    each(() => semaphore.wait({ signal }));

    const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
    cleanups.push(() => queue.remove());
    each(() => queue.receive({ signal }));

    const memory = mapAnonymous(4096, { shared: true });
    cleanups.push(() => memory.close());
    const guards = Array.from({ length: 100 }, (_, i) => new Mutex(memory, 4 * i).lockSync());
    cleanups.unshift(() => {
      for (const guard of guards) guard.unlock();
    });
    // Another object on each held word: its lock() waits until this thread's guard is released.
    each((i) => new Mutex(memory, 4 * i).lock({ signal }));
    each((i) => new Semaphore(memory, 400 + 8 * i).wait({ signal }));

    for (let i = 0; i < 100; i++) {
      const producer = Channel.create({ capacity: 4096 });
      const consumer = Channel.fromFd(dup(producer));
      cleanups.push(
        () => consumer.close(),
        () => producer.close(),
      );
      waits.push(consumer.receive({ signal }));
    }

    for (let i = 0; i < 100; i++) {
      const [a, b] = socketpair('seqpacket');
      const { reader, writer } = pipe();
      cleanups.push(
        () => a.close(),
        () => b.close(),
        () => reader.close(),
        () => writer.close(),
      );
      waits.push(b.receive({ signal }), reader.read({ signal }));
    }

    const mqName = `/${uniqueIpcName('waits')}`;
    const mq = PosixQueue.open(mqName, { create: true, exclusive: true, maxMessages: 1, messageSize: 16 });
    PosixQueue.unlink(mqName);
    cleanups.push(() => mq.close());
    each(() => mq.receive({ signal }));
  } catch (error) {
    controller.abort();
    for (const cleanup of cleanups) cleanup();
    throw error;
  }
  let settled = 0;
  const outcomes = waits.map((wait) =>
    wait
      .then(
        (value) => value,
        (error: Error) => error,
      )
      .finally(() => settled++),
  );
  return {
    settled: () => settled,
    async abort(reason: Error): Promise<unknown[]> {
      controller.abort(reason);
      return Promise.all(outcomes);
    },
    async [Symbol.asyncDispose]() {
      controller.abort();
      await Promise.all(outcomes);
      for (const cleanup of cleanups) cleanup();
    },
  };
}

describe('the waiting model', () => {
  // Under npm run soak (UNIPC_SOAK=1) the 1,000 waits are made and aborted 20 times over.
  test(
    '1,000 pending waits across ten mechanisms (700 on waiter threads, 300 polled) leave the event loop and fs responsive',
    soakTimeout,
    async (t) => {
      const rounds = scale(1, 20);
      const fdsBefore = descriptors();
      for (let round = 0; round < rounds; round++) {
        await using waits = pendingWaits();
        await sleep(20);
        const stats = waiterStats();
        assert.ok(stats.pending >= 400 && stats.pending <= 700, `waiter-thread waits pending: ${stats.pending}`);

        // Ten reads in a row, each needing a libuv thread-pool slot, while all 1,000 waits stay pending:
        // none of the waits may sit in the pool. (No time limit: a hang is the failure.)
        const started = performance.now();
        for (let i = 0; i < 10; i++) {
          const content = await fs.promises.readFile(new URL('../package.json', import.meta.url), 'utf8');
          assert.match(content, /"name": "unipc"/);
        }
        if (round === 0)
          t.diagnostic(
            `10 readFile calls took ${(performance.now() - started).toFixed(1)} ms with 1,000 waits pending`,
          );
        assert.equal(waits.settled(), 0, 'no wait ended before the abort');

        const outcomes = await waits.abort(new Error('enough'));
        assert.equal(outcomes.length, 1000);
        for (const outcome of outcomes) {
          assert.ok(outcome instanceof AbortError, String(outcome));
          assert.equal((outcome.cause as Error).message, 'enough');
        }
        const after = waiterStats();
        assert.equal(after.pending, 0);
        assert.equal(after.cancelling, 0);
        assert.equal(after.idle, after.threads, 'no waiter thread is still busy');
      }
      // A mapping's own descriptor goes when the last futex wait on it has returned, just after.
      for (let i = 0; i < 500 && newDescriptors(fdsBefore).length > 0; i++) await sleep(10);
      assert.deepEqual(newDescriptors(fdsBefore), [], 'no descriptor leaked');
    },
  );

  test('an already-aborted signal rejects at once without starting a wait', async () => {
    using dir = tempDir();
    mkfifo(dir.file('f'));
    const reason = new Error('before we began');
    await assert.rejects(openFifo(dir.file('f'), 'r', { signal: AbortSignal.abort(reason) }), (error: AbortError) => {
      assert.equal(error.name, 'AbortError');
      assert.equal(error.code, 'ABORT_ERR');
      assert.equal(error.cause, reason);
      return true;
    });
    assert.equal(waiterStats().pending, 0);
  });

  test('timeouts reject with IpcError ETIMEDOUT naming the call', async () => {
    const [a, b] = socketpair('dgram');
    const error = await b.receive({ timeout: 25 }).catch((e: IpcError) => e);
    assert.ok(error instanceof IpcError);
    assert.equal(error.code, 'ETIMEDOUT');
    assert.equal(error.errno, 110);
    assert.equal(error.syscall, 'recvmsg');
    assert.equal(error.message, 'ETIMEDOUT: timed out after 25 ms, recvmsg');
    a.close();
    b.close();
  });

  test('a readiness watch left armed after a wait keeps no process alive, does not fire in a loop while data waits unread, and loses nothing', async () => {
    const child = spawnPeer('pending-wait', ['parked']);
    const exited = finished(child);
    const report = JSON.parse(await lineFrom(child, '{"first"'));
    // Firing on every turn of the event loop for 300 ms would take about as much CPU time.
    assert.ok(report.cpuMs < 150, `${report.cpuMs} ms of CPU while a message waited unread for 300 ms`);
    assert.deepEqual({ ...report, cpuMs: 0 }, { first: 'one', second: 'two', third: 'three', cpuMs: 0 });
    const { code } = await Promise.race([
      exited,
      sleep(20_000, undefined, { ref: false }).then(() => ({ code: 'still running after 20 s' })),
    ]);
    child.kill();
    assert.equal(code, 0, 'it exits by itself with both ends open');
  });

  for (const kind of ['fifo', 'socket'] as const) {
    test(`${kind}: a pending wait keeps the process alive unless it is unreferenced`, async () => {
      using dir = tempDir();
      const path = dir.file('f');
      if (kind === 'fifo') mkfifo(path);
      const args = (mode: string) => (kind === 'fifo' ? ['fifo', path, mode] : ['socket', mode]);

      const unref = spawnPeer('pending-wait', args('unref'));
      const unrefDone = await finished(unref);
      assert.equal(unrefDone.code, 0);
      assert.match(unrefDone.stdout, /waiting\nexiting 0/);

      const ref = spawnPeer('pending-wait', args('ref'));
      const refDone = finished(ref);
      await lineFrom(ref, 'waiting');
      await sleep(300);
      assert.equal(ref.exitCode, null, 'still waiting');
      if (kind === 'fifo') {
        const writer = await openFifo(path, 'w', { timeout: 10_000 });
        writer.close();
      } else {
        ref.kill();
      }
      const { stdout } = await refDone;
      if (kind === 'fifo') assert.match(stdout, /opened\nexiting 0/);
    });
  }

  test('idle waiter threads retire: cancelled waits leave no thread behind', async () => {
    using dir = tempDir();
    mkfifo(dir.file('f'));
    const child = spawnPeer('thread-retire', [dir.file('f')], { env: { ...process.env, UNIPC_WAITER_IDLE_MS: '100' } });
    const { code, stdout } = await finished(child);
    assert.equal(code, 0);
    const report = JSON.parse(stdout);
    assert.deepEqual(report.outcomes, ['AbortError']);
    assert.ok(
      report.during.threads >= report.before + 50,
      `50 waits ran on their own threads (${JSON.stringify(report)})`,
    );
    assert.equal(report.during.stats.pending, 50);
    assert.equal(report.stats.threads, 0, 'every waiter thread retired');
    assert.ok(
      report.after <= report.before + 1,
      `threads back to the start (the canceller may stay): ${report.before} → ${report.after}`,
    );
  });

  test('the addon stays loaded while its threads live, even when only a worker thread used it', async () => {
    using dir = tempDir();
    const child = spawnRaw(
      process.execPath,
      [new URL('./peers/worker-only.mjs', import.meta.url).pathname, dir.file('f')],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, UNIPC_WAITER_IDLE_MS: '100' },
      },
    );
    const { code, signal, stdout } = await finished(child);
    assert.equal(signal, null, 'no crash when the idle waiter thread retired');
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout), { outcome: 'ETIMEDOUT', threads: 1, mapped: true });
  });

  test('objects forgotten after Promise operations give back descriptors and poll handles', async () => {
    const child = spawnRaw(
      process.execPath,
      runTs(new URL('./peers/forgotten.ts', import.meta.url).pathname, ['--expose-gc']),
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const { code, stdout } = await finished(child);
    assert.equal(code, 0);
    const { before, during, after } = JSON.parse(stdout);
    assert.ok(during.pollers >= before.pollers + 200, `poll handles were made: ${stdout}`);
    assert.equal(after.pollers, before.pollers, `poll handles collected: ${stdout}`);
    // Deno keeps the last socketpair (test/peers/forgotten.ts).
    if (runtime === 'deno') assert.ok(after.fds <= before.fds + 2, `descriptors closed: ${stdout}`);
    else assert.equal(after.fds, before.fds, `descriptors closed: ${stdout}`);
  });

  test('terminating a worker thread during connect() leaks no descriptor', async () => {
    const name = `\0unipc-test-backlog-${process.pid}`;
    const server = listen(name, { backlog: 0 });
    const first = await connect(name); // fills the backlog: the next connect must wait
    const fdsBefore = openFdCount();
    for (let round = 0; round < 3; round++) {
      const worker = new Worker(new URL('./peers/worker-bootstrap.mjs', import.meta.url), {
        workerData: { name, script: new URL('./peers/worker-connect.ts', import.meta.url).href },
      });
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      await worker.terminate();
    }
    await sleep(50);
    if (runtime === 'node') {
      assert.equal(openFdCount(), fdsBefore);
    } else {
      // Bun's workers open and close descriptors of their own (a pipe, an eventfd) on their own schedule:
      // a leak of ours shows as more, and one of theirs closed meanwhile as fewer.
      assert.ok(openFdCount() <= fdsBefore, `${openFdCount()} descriptors, ${fdsBefore} before`);
    }
    first.close();
    server.close();
  });

  test('terminating a worker thread with waits pending cancels them cleanly', async () => {
    using dir = tempDir();
    mkfifo(dir.file('f'));
    const fdsBefore = descriptors();
    for (let round = 0; round < 3; round++) {
      const worker = new Worker(new URL('./peers/worker-bootstrap.mjs', import.meta.url), {
        workerData: { path: dir.file('f'), script: new URL('./peers/worker-wait.ts', import.meta.url).href },
      });
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      assert.equal(await worker.terminate(), 1);
    }
    await sleep(50);
    const stats = waiterStats();
    assert.equal(stats.cancelling, 0);
    assert.equal(stats.idle, stats.threads, "the workers' waiter threads were released");
    assert.deepEqual(newDescriptors(fdsBefore), []);
  });
});

describe('sleeping on two words (futex_waitv)', () => {
  // A channel side sleeps on the other side's index and also on the word the other side changes when it
  // closes: a close that lands between its last look and its sleep must end the sleep, not be seen only
  // at the next 100 ms liveness check.
  test('a sleep whose second word changed before it began ends at once; a wake on the second word ends it', async () => {
    using mapping = mapAnonymous(4096, { shared: true });
    const words = new FutexWords(mapping, 0, 8);
    Atomics.store(words.words, 1, 5);
    const stale = { index: 1, expected: 4 }; // what the sleeper read before the other side changed it
    assert.equal(words.sleepSync(0, 0, 60_000, undefined, stale), 'changed');
    assert.equal(await words.sleep(0, 0, 60_000, { other: stale }), 'changed');
    // Asleep on both: changing and waking the second word ends the sleep long before its 60 s.
    const sleeping = words.sleep(0, 0, 60_000, { other: { index: 1, expected: 5 } });
    await sleep(20);
    Atomics.store(words.words, 1, 6);
    words.wake(1, 1);
    assert.notEqual(await sleeping, 'timedout');
    // The first word still works as before.
    const first = words.sleep(0, 0, 60_000, { other: { index: 1, expected: 6 } });
    await sleep(20);
    Atomics.store(words.words, 0, 1);
    words.wake(0, 1);
    assert.notEqual(await first, 'timedout');
  });
});
