// The shared-memory locks (src/lock.ts) between real processes and threads: nothing lost under
// contention, robust recovery after kill -9, cancellation that leaves the words as they were, and the
// C header (include/unipc/lock.h) taking the same locks.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  Condition,
  IPC_PRIVATE,
  IpcError,
  type Mapping,
  MemoryFile,
  Mutex,
  MutexGuard,
  mapAnonymous,
  mmap,
  Semaphore,
  SharedMemory,
  SysvSharedMemory,
  waiterStats,
} from '../src/index.js';
import { runtime } from '../src/native.js';
import { callingThreadId, compilePeer, finished, lineFrom, spawnPeer, tempDir, uniqueIpcName } from './helpers.js';

const OWNER_DIED = 0x40000000;

interface Shared {
  name: string;
  mapping: Mapping;
  counter: Int32Array;
  mutex: Mutex;
  semaphore: Semaphore;
  condition: Condition;
  flag: Int32Array;
  word(offset: number): number;
  [Symbol.dispose](): void;
}

/** A fresh POSIX shared memory page laid out as test/peers/locker.ts and lock_peer.c expect. */
function shared(): Shared {
  const name = `/${uniqueIpcName('lock')}`;
  const memory = SharedMemory.open(name, { create: true, exclusive: true, size: 4096 });
  const mapping = memory.map();
  memory.close();
  return {
    name,
    mapping,
    counter: new Int32Array(mapping.buffer, 64, 1),
    mutex: new Mutex(mapping, 0),
    semaphore: new Semaphore(mapping, 128),
    condition: new Condition(mapping, 192),
    flag: new Int32Array(mapping.buffer, 256, 1),
    word: (offset) => new Int32Array(mapping.buffer, offset, 1)[0],
    [Symbol.dispose]() {
      SharedMemory.unlink(name); // first: the name must not outlive a test whatever close() does
      mapping.close();
    },
  };
}

async function runAll(children: ReturnType<typeof spawnPeer>[]): Promise<void> {
  const results = await Promise.all(children.map(finished));
  for (const result of results) assert.equal(result.code, 0, `peer failed: ${result.stdout}`);
}

const cPeer = () => compilePeer('lock_peer');

describe('Mutex', () => {
  test('is 4 bytes at a 4-aligned offset of a writable mapping', () => {
    using mapping = mapAnonymous(4096, { shared: true });
    assert.equal(Mutex.SIZE, 4);
    assert.throws(() => new Mutex({} as Mapping), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new Mutex(mapping, 2), { code: 'ERR_INVALID_ARG_VALUE', message: /multiple of 4/ });
    assert.throws(() => new Mutex(mapping, 4096), { code: 'ERR_INVALID_ARG_VALUE', message: /no room for 4 bytes/ });
    assert.throws(() => new Mutex(mapping, -4), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => new Mutex(mapping, 1.5), { code: 'ERR_OUT_OF_RANGE' });
    using dir = tempDir();
    const file = dir.file('f');
    fs.writeFileSync(file, Buffer.alloc(4096));
    using readOnly = mmap(file);
    assert.throws(() => new Mutex(readOnly), { code: 'ERR_INVALID_ARG_VALUE', message: /writable/ });
    const closed = mapAnonymous(4096);
    closed.close();
    assert.throws(() => new Mutex(closed), { code: 'EBADF' });
  });

  test('takes and releases without waiting; the owner is the calling thread; unlock twice is harmless', async () => {
    using mapping = mapAnonymous(4096, { shared: true });
    const mutex = new Mutex(mapping, 8);
    const word = new Int32Array(mapping.buffer, 8, 1);
    const guard = mutex.tryLock();
    assert.ok(guard instanceof MutexGuard);
    assert.equal(guard.ownerDied, false);
    assert.equal(mutex.owner, callingThreadId());
    assert.equal(word[0], callingThreadId());
    if (runtime === 'node') assert.equal(mutex.owner, process.pid); // the main thread's id is the pid
    assert.equal(mutex.tryLock(), null);
    guard.unlock();
    guard.unlock();
    assert.equal(guard.held, false);
    assert.equal(word[0], 0);
    {
      using held = await mutex.lock();
      assert.equal(held.held, true);
      assert.equal(mutex.owner, callingThreadId());
    }
    assert.equal(mutex.owner, 0);
    assert.equal(
      mutex.withLockSync(() => 42),
      42,
    );
    assert.equal(await mutex.withLock(async () => 43), 43);
    await assert.rejects(
      mutex.withLock(() => {
        throw new Error('inside');
      }),
      /inside/,
    );
    assert.equal(word[0], 0, 'released after the function threw');
  });

  test("lockSync on a mutex this thread holds is 'EDEADLK'; lock() waits for the thread's own guard", async () => {
    using mapping = mapAnonymous(4096, { shared: true });
    const mutex = new Mutex(mapping);
    const first = mutex.lockSync();
    assert.throws(
      () => mutex.lockSync(),
      (e: unknown) => e instanceof IpcError && e.code === 'EDEADLK',
    );
    let second: MutexGuard | undefined;
    const pending = mutex.lock().then((g) => (second = g));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(second, undefined);
    first.unlock();
    await pending;
    assert.equal(second!.held, true);
    second!.unlock();
    assert.equal(new Int32Array(mapping.buffer)[0], 0);
  });

  test('unlocking a guard whose mapping was closed, or markConsistent after unlock, is a clear error', () => {
    const mapping = mapAnonymous(4096, { shared: true });
    const mutex = new Mutex(mapping);
    const guard = mutex.lockSync();
    mapping.close();
    assert.throws(() => guard.unlock(), { code: 'EBADF', message: /mapping is closed/ });
    assert.throws(() => mutex.tryLock(), { code: 'EBADF' });
    using other = mapAnonymous(4096, { shared: true });
    const g = new Mutex(other).lockSync();
    g.unlock();
    assert.throws(() => g.markConsistent(), { code: 'ERR_INVALID_STATE', message: /no longer holds/ });
  });

  for (const mode of ['sync', 'async'] as const) {
    test(`3 processes × 20,000 increments under the mutex (${mode}) lose nothing`, async () => {
      using s = shared();
      await runAll([0, 1, 2].map(() => spawnPeer('locker', [s.name, `mutex-${mode}`, '20000'])));
      assert.equal(s.counter[0], 60_000);
      assert.equal(s.word(0), 0);
    });
  }

  test('works in every kind of shared mapping: System V segment, file, memfd (2 processes each)', async () => {
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: 4096, create: true });
    using dir = tempDir();
    const file = dir.file('locks.bin');
    fs.writeFileSync(file, Buffer.alloc(4096));
    try {
      for (const target of [`sysv:${segment.id}`, `file:${file}`]) {
        using mapping = target.startsWith('sysv:') ? segment.attach() : mmap(file, { prot: 'rw' });
        await runAll([0, 1].map(() => spawnPeer('locker', [target, 'mutex-sync', '10000'])));
        assert.equal(new Int32Array(mapping.buffer, 64, 1)[0], 20_000, target);
      }
    } finally {
      segment.remove();
    }
  });

  test('Node (sync and async) and a C program using include/unipc/lock.h share the mutex', async () => {
    using s = shared();
    const c = cPeer();
    const cChild = spawn(c, [s.name, 'count', '50000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await runAll([
      cChild,
      spawnPeer('locker', [s.name, 'mutex-sync', '20000']),
      spawnPeer('locker', [s.name, 'mutex-async', '20000']),
    ]);
    assert.equal(s.counter[0], 90_000);
  });

  test('a holder killed with SIGKILL: the next locker gets ownerDied, repairs, and the mutex works on', async () => {
    using s = shared();
    const holder = spawnPeer('locker', [s.name, 'hold']);
    const tid = Number((await lineFrom(holder, 'held')).split(' ')[1]);
    assert.equal(s.mutex.owner, tid);
    holder.kill('SIGKILL');
    await finished(holder);
    const guard = await s.mutex.lock({ timeout: 10_000 });
    assert.equal(guard.ownerDied, true);
    assert.ok(s.word(0) & OWNER_DIED);
    guard.markConsistent();
    assert.equal(guard.ownerDied, false);
    guard.unlock();
    assert.equal(s.word(0), 0);
    const again = s.mutex.lockSync();
    assert.equal(again.ownerDied, false);
    again.unlock();
  });

  test("released without markConsistent, the mutex is 'ENOTRECOVERABLE' until reset()", async () => {
    using s = shared();
    const holder = spawnPeer('locker', [s.name, 'hold']);
    await lineFrom(holder, 'held');
    holder.kill('SIGKILL');
    await finished(holder);
    const guard = s.mutex.lockSync({ timeout: 10_000 });
    assert.equal(guard.ownerDied, true);
    guard.unlock();
    assert.throws(() => s.mutex.tryLock(), { code: 'ENOTRECOVERABLE' });
    assert.throws(() => s.mutex.lockSync(), { code: 'ENOTRECOVERABLE' });
    await assert.rejects(s.mutex.lock(), { code: 'ENOTRECOVERABLE' });
    // A C locker is told the same.
    const c = await finished(spawn(cPeer(), [s.name, 'lock'], { stdio: ['ignore', 'pipe', 'inherit'] }));
    assert.match(c.stdout, /ENOTRECOVERABLE/);
    s.mutex.reset();
    s.mutex.lockSync().unlock();
  });

  test('a C holder killed with SIGKILL is found dead by Node, and a Node holder by C', async () => {
    using s = shared();
    const cHolder = spawn(cPeer(), [s.name, 'hold'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await lineFrom(cHolder, 'held');
    cHolder.kill('SIGKILL');
    await finished(cHolder);
    const guard = s.mutex.lockSync({ timeout: 10_000 });
    assert.equal(guard.ownerDied, true);
    guard.markConsistent();
    guard.unlock();

    const nodeHolder = spawnPeer('locker', [s.name, 'hold']);
    await lineFrom(nodeHolder, 'held');
    nodeHolder.kill('SIGKILL');
    await finished(nodeHolder);
    const c = await finished(spawn(cPeer(), [s.name, 'lock'], { stdio: ['ignore', 'pipe', 'inherit'] }));
    assert.match(c.stdout, /^EOWNERDEAD$/m);
    assert.equal(s.word(0), 0);
  });

  test("C's unipc_mutex_timedlock: ETIMEDOUT while a live thread holds the mutex, the mutex once free or its owner dead", async () => {
    using s = shared();
    const timedLock = async (ms: number) =>
      (await finished(spawn(cPeer(), [s.name, 'timedlock', String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] })))
        .stdout;
    const guard = s.mutex.lockSync();
    const started = performance.now();
    assert.match(await timedLock(150), /^ETIMEDOUT$/m);
    assert.ok(performance.now() - started >= 150, 'it waited out its deadline');
    guard.unlock();
    assert.match(await timedLock(150), /^ok$/m);
    const holder = spawnPeer('locker', [s.name, 'hold']);
    await lineFrom(holder, 'held');
    holder.kill('SIGKILL');
    await finished(holder);
    assert.match(await timedLock(10_000), /^EOWNERDEAD$/m);
    assert.equal(s.word(0), 0);
  });

  test('a worker thread that ends holding the mutex is found dead too', async () => {
    using s = shared();
    const child = spawnPeer('locker', [s.name, 'worker-hold']);
    const line = await lineFrom(child, 'gone');
    const workerTid = Number(line.split(' ')[1]);
    assert.notEqual(workerTid, child.pid);
    // The worker's process lives on; only the worker's thread is gone.
    const guard = await s.mutex.lock({ timeout: 10_000 });
    assert.equal(guard.ownerDied, true);
    guard.markConsistent();
    guard.unlock();
    child.kill('SIGKILL');
    await finished(child);
  });

  test('timeout and abort leave the mutex as it was; closing the mapping ends a pending lock()', async () => {
    using s = shared();
    const holder = spawnPeer('locker', [s.name, 'hold']);
    const tid = Number((await lineFrom(holder, 'held')).split(' ')[1]);
    await assert.rejects(
      s.mutex.lock({ timeout: 30 }),
      (e: unknown) => e instanceof IpcError && e.code === 'ETIMEDOUT' && /30 ms/.test(e.message),
    );
    assert.throws(() => s.mutex.lockSync({ timeout: 30 }), { code: 'ETIMEDOUT' });
    const controller = new AbortController();
    const aborted = s.mutex.lock({ signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stop')), 20);
    await assert.rejects(aborted, { name: 'AbortError' });
    assert.equal(s.mutex.owner, tid, 'still held by the same owner');
    assert.equal(s.mutex.tryLock(), null);

    const memory = SharedMemory.open(s.name);
    const second = memory.map();
    memory.close();
    const pending = new Mutex(second).lock();
    setTimeout(() => second.close(), 20);
    await assert.rejects(pending, { code: 'EBADF' });
    holder.kill('SIGKILL');
    await finished(holder);
  });

  test('a lock() by the owner thread itself still finds a later owner dead (it never sleeps unbounded)', async () => {
    using s = shared();
    const first = s.mutex.lockSync();
    const cHolder = spawn(cPeer(), [s.name, 'hold'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const cHeld = lineFrom(cHolder, 'held');
    const cDone = finished(cHolder);
    // The C locker sleeps once it has set the waiters bit; only then does this thread queue its own.
    while ((s.word(0) & 0x80000000) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const pending = s.mutex.lock({ timeout: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    first.unlock(); // wakes the C locker first: it sleeps longest
    const raced = await Promise.race([cHeld.then(() => 'c'), pending.then(() => 'node')]);
    if (raced === 'c') {
      cHolder.kill('SIGKILL');
      const guard = await pending;
      assert.equal(guard.ownerDied, true);
      guard.markConsistent();
      guard.unlock();
    } else {
      (await pending).unlock();
      await cHeld;
      cHolder.kill('SIGKILL');
    }
    await cDone;
  });

  test('queued lock() calls keep the process alive if any asked to, even when the sleeping one did not', async () => {
    const child = spawnPeer('lock-ref');
    const result = await finished(child);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /first\nsecond/);
  });

  test('worker threads of one process share a mutex through share()', async () => {
    using mapping = mapAnonymous(4096, { shared: false });
    const counter = new Int32Array(mapping.buffer, 64, 1);
    const script = new URL('./peers/lock-thread.ts', import.meta.url).href;
    const workers = [0, 1, 2].map(
      () =>
        new Worker(new URL('./peers/worker-bootstrap.mjs', import.meta.url), {
          workerData: { script, token: mapping.share(), count: 10_000 },
        }),
    );
    // Listened for now: a worker may finish its share before this thread finishes its own.
    const exited = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)));
    const mutex = new Mutex(mapping);
    for (let i = 0; i < 10_000; i++) {
      using _ = await mutex.lock();
      counter[0] = counter[0] + 1;
    }
    await Promise.all(exited);
    assert.equal(counter[0], 40_000);
  });
});

describe('Semaphore', () => {
  test('counts, never below 0 nor past MAX_VALUE', async () => {
    using mapping = mapAnonymous(4096, { shared: true });
    const semaphore = new Semaphore(mapping, 16);
    assert.equal(semaphore.value, 0);
    assert.equal(semaphore.tryWait(), false);
    semaphore.post();
    semaphore.post(2);
    assert.equal(semaphore.value, 3);
    assert.equal(semaphore.tryWait(), true);
    semaphore.waitSync();
    await semaphore.wait();
    assert.equal(semaphore.value, 0);
    semaphore.reset(Semaphore.MAX_VALUE);
    assert.throws(() => semaphore.post(), { code: 'EOVERFLOW' });
    assert.equal(semaphore.value, Semaphore.MAX_VALUE);
    assert.throws(() => semaphore.post(0), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => semaphore.reset(-1), { code: 'ERR_OUT_OF_RANGE' });
  });

  test('timeout and abort take nothing and leave no waiter counted', async () => {
    using mapping = mapAnonymous(4096, { shared: true });
    const semaphore = new Semaphore(mapping);
    const words = new Int32Array(mapping.buffer, 0, 2);
    await assert.rejects(semaphore.wait({ timeout: 20 }), { code: 'ETIMEDOUT' });
    assert.throws(() => semaphore.waitSync({ timeout: 20 }), { code: 'ETIMEDOUT' });
    const controller = new AbortController();
    const pending = semaphore.wait({ signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(pending, { name: 'AbortError' });
    assert.deepEqual([...words], [0, 0]);
    const late = semaphore.wait();
    setTimeout(() => semaphore.post(), 20);
    await late;
    assert.deepEqual([...words], [0, 0]);
  });

  test('closing the mapping ends a pending wait with EBADF and leaves no sleeper counted', async () => {
    using file = MemoryFile.create('sem-close', { size: 4096 });
    using observer = file.map();
    const words = new Int32Array(observer.buffer, 0, 2);
    const mapping = file.map();
    const pending = new Semaphore(mapping).wait();
    while (words[1] === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    mapping.close();
    await assert.rejects(pending, { code: 'EBADF' });
    assert.deepEqual([...words], [0, 0]);
  });

  test('a Sync wait on a thread whose Promise-form wait holds the wake still gets the unit', async () => {
    using s = shared();
    const pending = s.semaphore.wait();
    while (s.word(132) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const poster = spawn(cPeer(), [s.name, 'sem-post', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    s.semaphore.waitSync({ timeout: 20_000 }); // the post wakes the Promise form's thread, which cannot run
    await finished(poster);
    s.semaphore.post();
    await pending;
    assert.equal(s.semaphore.value, 0);
  });

  for (const mode of ['sync', 'async'] as const) {
    test(`as a lock: 3 processes × 10,000 increments (${mode}) lose nothing`, async () => {
      using s = shared();
      s.semaphore.reset(1);
      await runAll([0, 1, 2].map(() => spawnPeer('locker', [s.name, `sem-${mode}`, '10000'])));
      assert.equal(s.counter[0], 30_000);
      assert.equal(s.semaphore.value, 1);
    });
  }

  test('a C program posts what Node waits for, and the reverse', async () => {
    using s = shared();
    const poster = spawn(cPeer(), [s.name, 'sem-post', '1000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    for (let i = 0; i < 1000; i++) await s.semaphore.wait({ timeout: 10_000 });
    assert.equal((await finished(poster)).code, 0);
    const waiter = spawn(cPeer(), [s.name, 'sem-wait', '1000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const done = finished(waiter);
    for (let i = 0; i < 1000; i++) s.semaphore.post();
    assert.equal((await done).code, 0);
    assert.equal(s.semaphore.value, 0);
  });
});

describe('Condition', () => {
  test('wait() releases the mutex, wakes on notify from another process, and holds the mutex again', async () => {
    using s = shared();
    const guard = await s.mutex.lock();
    const setter = spawnPeer('locker', [s.name, 'set-flag', '7']);
    while (s.flag[0] === 0) await s.condition.wait(guard, { timeout: 10_000 });
    assert.equal(guard.held, true);
    assert.equal(s.mutex.owner, callingThreadId());
    assert.equal(s.flag[0], 7);
    guard.unlock();
    assert.equal((await finished(setter)).code, 0);
  });

  test('a C waiter is woken by Node, under the same mutex', async () => {
    using s = shared();
    const waiter = spawn(cPeer(), [s.name, 'cond-wait'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await lineFrom(waiter, 'waiting');
    // Once the C waiter counts itself a sleeper, notify must wake it through the futex (not the recheck).
    while (s.word(196) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const woken = s.mutex.withLockSync(() => {
      s.flag[0] = 9;
      return s.condition.notifyAll();
    });
    assert.equal(woken, 1);
    const result = await finished(waiter);
    assert.match(result.stdout, /flag 9/);
  });

  test('a wait that times out or is aborted still holds the mutex again; the sleeper count returns to 0', async () => {
    using mapping = mapAnonymous(4096, { shared: true });
    const mutex = new Mutex(mapping, 0);
    const condition = new Condition(mapping, 8);
    const guard = mutex.lockSync();
    await assert.rejects(condition.wait(guard, { timeout: 20 }), { code: 'ETIMEDOUT' });
    assert.equal(guard.held, true);
    assert.throws(() => condition.waitSync(guard, { timeout: 20 }), { code: 'ETIMEDOUT' });
    assert.equal(guard.held, true);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(condition.wait(guard, { signal: controller.signal }), { name: 'AbortError' });
    assert.equal(guard.held, true);
    assert.equal(new Int32Array(mapping.buffer, 12, 1)[0], 0);
    guard.unlock();
    await assert.rejects(condition.wait(guard), { code: 'ERR_INVALID_ARG_VALUE', message: /must hold its mutex/ });
    assert.equal(condition.notify(), 0);
  });

  test('closing the mapping during wait() rejects with EBADF', async () => {
    const mapping = mapAnonymous(4096, { shared: true });
    const guard = new Mutex(mapping, 0).lockSync();
    const pending = new Condition(mapping, 8).wait(guard);
    await new Promise((resolve) => setTimeout(resolve, 20));
    mapping.close();
    await assert.rejects(pending, { code: 'EBADF' });
    assert.equal(guard.held, false);
  });
});

describe('waiting', () => {
  test('1,000 pending lock waits (semaphores, mutexes, conditions) leave fs responsive, and all complete', async () => {
    using mapping = mapAnonymous(16384, { shared: true });
    const semaphores = Array.from({ length: 400 }, (_, i) => new Semaphore(mapping, i * 8));
    const mutexes = Array.from({ length: 300 }, (_, i) => new Mutex(mapping, 4096 + i * 4));
    const guards = mutexes.map((m) => m.lockSync());
    // Each Mutex object queues its own Promise-form lockers: 300 objects, 300 sleeping lockers.
    const others = mutexes.map((m) => new Mutex(mapping, m.offset));
    const conditionMutex = new Mutex(mapping, 8192);
    const conditions = Array.from({ length: 300 }, (_, i) => new Condition(mapping, 8200 + i * 8));
    const semaphoreWaits = semaphores.map((s) => s.wait());
    const mutexWaits = others.map((m) => m.lock());
    // A notify reaches the waits that began before it: wait() reads the sequence and lets the mutex go
    // before it returns. Counting the waits begun, not only the pending ones: 299 condition waits and the
    // last waiter's lock() also make 300 pending, and that waiter's notify would be lost.
    let conditionsWaiting = 0;
    const conditionWaits = conditions.map(async (c) => {
      const guard = await conditionMutex.lock();
      const notified = c.wait(guard);
      conditionsWaiting++;
      await notified;
      guard.unlock();
    });
    while (waiterStats().pending < 1000 || conditionsWaiting < conditions.length) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    const content = await fs.promises.readFile(new URL('../package.json', import.meta.url), 'utf8');
    assert.match(content, /"name": "unipc"/);

    for (const s of semaphores) s.post();
    for (const g of guards) g.unlock();
    for (const c of conditions) c.notify();
    await Promise.all(semaphoreWaits);
    for (const g of await Promise.all(mutexWaits)) g.unlock();
    await Promise.all(conditionWaits);
    assert.equal(waiterStats().pending, 0);
    assert.ok(semaphores.every((s) => s.value === 0));
    assert.ok(mutexes.every((m) => m.owner === 0));
  });
});
