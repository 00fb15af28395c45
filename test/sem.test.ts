// Semaphores between real processes: System V sets (semop, semctl, SEM_UNDO after SIGKILL, IPC_RMID
// waking waiters) and POSIX named semaphores (sem_open, close with waits pending, the finalizer).
// Every set made here is removed and every name unlinked, also when a test fails.
import assert from 'node:assert/strict';
import { spawn as spawnRaw } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import {
  AbortError,
  IPC_PRIVATE,
  IpcError,
  NamedSemaphore,
  SEMVMX,
  SemaphoreSet,
  SharedMemory,
  SysvSharedMemory,
  waiterStats,
} from '../src/index.js';
import { cannotRunAsNobody, collector, compilePeer, finished, lineFrom, spawnPeer, testKey, until } from './helpers.js';
import { removeQuietly, uniqueName, unlinkQuietly } from './sem-fixtures.js';

// ---- fixtures that never leak ----------------------------------------------------------------------

/** A new private set; removed after `body`, whatever happens. */
async function withSet(count: number, body: (set: SemaphoreSet) => Promise<void> | void): Promise<void> {
  const set = SemaphoreSet.get(IPC_PRIVATE, { count, create: true });
  try {
    await body(set);
  } finally {
    removeQuietly(set);
  }
}

/** A new named semaphore; closed and unlinked after `body`, whatever happens. */
async function withNamed(
  initial: number,
  body: (semaphore: NamedSemaphore, name: string) => Promise<void> | void,
): Promise<void> {
  const name = uniqueName();
  const semaphore = NamedSemaphore.open(name, { create: true, exclusive: true, initial });
  try {
    await body(semaphore, name);
  } finally {
    semaphore.close();
    unlinkQuietly(name);
  }
}

function isCode(code: string, syscall?: string) {
  return (error: unknown) => {
    assert.ok(error instanceof IpcError, String(error));
    assert.equal(error.code, code, error.message);
    if (syscall !== undefined) assert.equal(error.syscall, syscall);
    return true;
  };
}

/**
 * Whether this process maps the semaphore (by inode: glibc creates it under a temporary name, which is
 * what /proc/self/maps then shows).
 */
function mapsSemaphore(inode: number): boolean {
  return fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .some((line) => line.split(/\s+/)[4] === String(inode));
}

// ---- System V ------------------------------------------------------------------------------------

describe('SemaphoreSet', () => {
  test('IPC_PRIVATE makes a set of `count` zeros; stat() gives every semid_ds field', () =>
    withSet(3, (set) => {
      assert.equal(set.count, 3);
      assert.equal(set.key, IPC_PRIVATE);
      assert.deepEqual(set.getAll(), [0, 0, 0]);
      const stat = set.stat();
      assert.deepEqual(
        Object.keys(stat).sort(),
        [
          'count',
          'creatorGid',
          'creatorUid',
          'gid',
          'id',
          'key',
          'lastChange',
          'lastOp',
          'mode',
          'sequence',
          'uid',
        ].sort(),
      );
      assert.equal(stat.key, 0);
      assert.equal(stat.id, set.id);
      assert.equal(stat.count, 3);
      assert.equal(stat.mode, 0o600);
      assert.equal(stat.uid, process.getuid!());
      assert.equal(stat.creatorUid, process.getuid!());
      assert.equal(stat.gid, process.getgid!());
      assert.equal(stat.creatorGid, process.getgid!());
      assert.equal(typeof stat.sequence, 'number');
      assert.equal(stat.lastOp, null, 'no op yet');
      assert.ok(stat.lastChange instanceof Date && Math.abs(stat.lastChange.getTime() - Date.now()) < 60_000);
      set.post(1);
      assert.ok(set.stat().lastOp instanceof Date);
    }));

  test('a random key: exclusive creation, then found by key (count 0) and by id; EEXIST names the key', () => {
    const key = testKey();
    const set = SemaphoreSet.get(key, { count: 2, create: true, exclusive: true, mode: 0o640 });
    try {
      const again = SemaphoreSet.get(key);
      assert.equal(again.id, set.id);
      assert.equal(again.count, 2);
      const byId = SemaphoreSet.fromId(set.id);
      assert.equal(byId.key, key);
      assert.equal(byId.count, 2);
      assert.equal(byId.stat().mode, 0o640);
      assert.throws(
        () => SemaphoreSet.get(key, { count: 2, create: true, exclusive: true }),
        (error: IpcError) => {
          isCode('EEXIST', 'semget')(error);
          assert.equal(error.key, key);
          return true;
        },
      );
    } finally {
      removeQuietly(set);
    }
    assert.throws(() => SemaphoreSet.get(key), isCode('ENOENT', 'semget'));
  });

  test('op() applies all of its operations or none; a nowait one that cannot proceed is EAGAIN', () =>
    withSet(2, async (set) => {
      set.setAll([1, 0]);
      const blocked = [
        { index: 0, delta: -1 },
        { index: 1, delta: -1, nowait: true },
      ];
      assert.throws(() => set.opSync(blocked), isCode('EAGAIN', 'semtimedop'));
      await assert.rejects(set.op(blocked), isCode('EAGAIN', 'semop'));
      assert.deepEqual(set.getAll(), [1, 0], 'nothing applied');
      await set.op([
        { index: 0, delta: -1 },
        { index: 1, delta: 2 },
        { index: 1, delta: -1 },
      ]);
      assert.deepEqual(set.getAll(), [0, 1]);
      set.opSync([
        { index: 0, delta: 3 },
        { index: 1, delta: -1 },
      ]);
      assert.deepEqual(set.getAll(), [3, 0]);
      assert.equal(set.lastPid(0), process.pid);
    }));

  test('a new set does not need read permission on itself: mode 0o200 works without IPC_STAT', () => {
    const set = SemaphoreSet.get(IPC_PRIVATE, { count: 2, create: true, mode: 0o200 });
    try {
      assert.equal(set.count, 2);
      set.post(1);
    } finally {
      set.remove();
    }
  });

  test('post, tryWait, get, set, getAll, setAll; SEMVMX is the top', () =>
    withSet(2, (set) => {
      set.post(0);
      set.post(0);
      assert.equal(set.get(0), 2);
      assert.equal(set.tryWait(0), true);
      assert.equal(set.tryWait(0), true);
      assert.equal(set.tryWait(0), false);
      set.set(1, SEMVMX);
      assert.throws(() => set.post(1), isCode('ERANGE', 'semop'));
      assert.equal(set.get(1), SEMVMX);
      set.setAll([7, 8]);
      assert.deepEqual(set.getAll(), [7, 8]);
      assert.equal(set.lastPid(1), process.pid, 'the failed post left the last successful one');
    }));

  test('wait() on a waiter thread resolves when another post comes; the kernel counts it as waiting', () =>
    withSet(1, async (set) => {
      const waiting = set.wait(0);
      await until(() => set.waitingForIncrease(0) === 1);
      assert.equal(waiterStats().pending >= 1, true);
      set.post(0);
      await waiting;
      assert.equal(set.get(0), 0);
      assert.equal(set.waitingForIncrease(0), 0);
    }));

  test('waitForZero() and waitForZeroSync()', () =>
    withSet(1, async (set) => {
      set.waitForZeroSync(0);
      await set.waitForZero(0);
      set.set(0, 2);
      const zero = set.waitForZero(0);
      await until(() => set.waitingForZero(0) === 1);
      set.opSync([{ index: 0, delta: -2 }]);
      await zero;
      set.set(0, 1);
      assert.throws(() => set.waitForZeroSync(0, { timeout: 10 }), isCode('ETIMEDOUT', 'semtimedop'));
    }));

  test('aborted and timed-out waits, Promise and Sync, leave every value unchanged', () =>
    withSet(2, async (set) => {
      set.setAll([0, 5]);
      const ops = [
        { index: 1, delta: -2 },
        { index: 0, delta: -1, undo: true },
      ];
      const controller = new AbortController();
      const aborted = set.op(ops, { signal: controller.signal });
      await until(() => set.waitingForIncrease(0) === 1);
      controller.abort(new Error('stop'));
      await assert.rejects(
        aborted,
        (error: AbortError) => error instanceof AbortError && (error.cause as Error).message === 'stop',
      );
      await assert.rejects(set.op(ops, { timeout: 15 }), isCode('ETIMEDOUT', 'semop'));
      await assert.rejects(set.wait(0, { timeout: 5, undo: true }), isCode('ETIMEDOUT', 'semop'));
      await assert.rejects(set.op(ops, { signal: AbortSignal.abort() }), AbortError);
      assert.throws(() => set.opSync(ops, { timeout: 15 }), isCode('ETIMEDOUT', 'semtimedop'));
      assert.throws(() => set.waitSync(0, { timeout: 0 }), isCode('ETIMEDOUT', 'semtimedop'));
      assert.deepEqual(set.getAll(), [0, 5]);
      assert.equal(set.waitingForIncrease(0), 0);
      assert.equal(waiterStats().pending, 0);
      set.post(0);
      await set.op(ops);
      assert.deepEqual(set.getAll(), [0, 3]);
    }));

  test('opSync: EAGAIN is ETIMEDOUT when no operation has nowait or the deadline has passed, else EAGAIN', () =>
    withSet(2, (set) => {
      assert.throws(() => set.opSync([{ index: 0, delta: -1 }], { timeout: 0 }), isCode('ETIMEDOUT'));
      assert.throws(() => set.opSync([{ index: 0, delta: -1, nowait: true }], { timeout: 60_000 }), isCode('EAGAIN'));
      // The first operation sleeps (no nowait) until the timeout; the kernel's EAGAIN then is the timeout.
      assert.throws(
        () =>
          set.opSync(
            [
              { index: 1, delta: -1 },
              { index: 0, delta: -1, nowait: true },
            ],
            { timeout: 20 },
          ),
        isCode('ETIMEDOUT'),
      );
      assert.deepEqual(set.getAll(), [0, 0]);
    }));

  test('remove() fails pending waits with EIDRM: a Promise wait here, a waitSync in another Node process, a semop in C', async () => {
    const set = SemaphoreSet.get(IPC_PRIVATE, { count: 1, create: true });
    const peer = spawnPeer('semaphore', ['wait-sync', String(set.id)]);
    const done = finished(peer);
    const c = spawnRaw(compilePeer('sem_sysv'), ['wait', String(set.id), '0'], { stdio: 'ignore' });
    const cDone = finished(c);
    try {
      await lineFrom(peer, 'waiting');
      const here = set.wait(0);
      await until(() => set.waitingForIncrease(0) === 3);
      set.remove();
      await assert.rejects(here, (error: IpcError) => {
        isCode('EIDRM', 'semop')(error);
        assert.equal(error.id, set.id);
        return true;
      });
      const { code, stdout } = await done;
      assert.equal(code, 0);
      assert.match(stdout, /^EIDRM$/m);
      assert.equal((await cDone).code, 5, 'the C waiter failed with EIDRM too');
      assert.throws(
        () => set.get(0),
        (error: IpcError) => ['EINVAL', 'EIDRM'].includes(error.code),
      );
    } finally {
      peer.kill('SIGKILL');
      c.kill('SIGKILL');
      removeQuietly(set);
    }
  });

  test('a user who may alter but not read a set can still open it (by key and id) and use it', {
    skip: cannotRunAsNobody(),
  }, async () => {
    const key = testKey();
    const set = SemaphoreSet.get(key, { count: 2, create: true, exclusive: true, mode: 0o622 });
    try {
      const env = { ...process.env, HOME: '/tmp' };
      const child = await finished(
        spawnPeer('semaphore', ['alter-only', String(key)], { uid: 65534, gid: 65534, env }),
      );
      assert.equal(child.code, 0, child.stdout);
      const seen = JSON.parse(child.stdout);
      assert.equal(seen.read, 'EACCES', 'GETVAL needs read permission');
      assert.ok(seen.count >= 2 && seen.idCount >= 2, 'an unknown size admits every index up to SEMMSL');
      assert.equal(set.get(0), 1);
    } finally {
      set.remove();
    }
  });

  test("opSync: a nowait operation that cannot proceed is 'EAGAIN' even with timeout 0", () =>
    withSet(2, (set) => {
      assert.throws(
        () => set.opSync([{ index: 0, delta: -1, nowait: true }], { timeout: 0 }),
        isCode('EAGAIN', 'semtimedop'),
      );
      assert.throws(() => set.opSync([{ index: 0, delta: -1 }], { timeout: 0 }), isCode('ETIMEDOUT', 'semtimedop'));
    }));

  test('SEM_UNDO: a P taken on a waiter thread by a process then killed with SIGKILL is undone by the kernel', () =>
    withSet(1, async (set) => {
      // The child's P must block, so that it is done on a waiter thread (an available unit is taken on
      // the JavaScript thread); that thread then retires (idle 50 ms) before the kill.
      set.set(0, 0);
      const peer = spawnPeer('semaphore', ['undo-hold', String(set.id)], {
        env: { ...process.env, UNIPC_WAITER_IDLE_MS: '50' },
      });
      const done = finished(peer);
      try {
        await until(() => set.waitingForIncrease(0) === 1);
        set.post(0);
        await lineFrom(peer, 'holding');
        await sleep(300);
        assert.equal(set.get(0), 0, 'the child holds the semaphore');
        assert.equal(set.lastPid(0), peer.pid);
        peer.kill('SIGKILL');
        assert.equal((await done).signal, 'SIGKILL');
        assert.equal(set.get(0), 1, 'the kernel gave it back');
      } finally {
        peer.kill('SIGKILL');
      }
    }));

  test('errors name the key and the id; setPermissions() changes only what it is given', () => {
    const key = testKey();
    const set = SemaphoreSet.get(key, { count: 1, create: true, exclusive: true });
    try {
      set.setPermissions({ mode: 0o604 });
      const stat = set.stat();
      assert.equal(stat.mode, 0o604);
      assert.equal(stat.uid, process.getuid!());
      set.setPermissions({});
      assert.equal(set.stat().mode, 0o604);
    } finally {
      set.remove();
    }
    assert.throws(
      () => set.post(0),
      (error: IpcError) => {
        assert.ok(['EINVAL', 'EIDRM'].includes(error.code));
        assert.equal(error.key, key);
        assert.equal(error.id, set.id);
        assert.match(error.message, new RegExp(`semop key 0x${key.toString(16).padStart(8, '0')} id ${set.id}$`));
        return true;
      },
    );
  });

  test('3 processes × 400 increments of a plain (non-atomic) counter in a System V segment under the set lose nothing', () =>
    withSet(1, async (set) => {
      set.set(0, 1);
      const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: 4096, create: true });
      try {
        const peers = Array.from({ length: 3 }, () =>
          finished(spawnPeer('semaphore', ['count-sysv', String(set.id), String(segment.id), '400'])),
        );
        for (const { code, stdout } of await Promise.all(peers)) {
          assert.equal(code, 0);
          assert.match(stdout, /done/);
        }
        using map = segment.attach();
        assert.equal(new Int32Array(map.buffer)[0], 1200);
        assert.equal(set.get(0), 1);
      } finally {
        segment.remove();
      }
    }));
});

// ---- both kinds ----------------------------------------------------------------------------------

describe('Sync waits and signals', () => {
  /** Sends this process SIGURG twice while the JavaScript thread is blocked, then runs `then`. */
  // SIGURG, not SIGUSR2: under node --test from Node 24 on, SIGUSR2 also writes a diagnostic report into
  // the working directory. The senders are waited for before the handler goes all the same.
  const senders: Array<Promise<unknown>> = [];
  function signalTwiceThen(then: string[]): void {
    const script = `sleep 0.05; kill -URG ${process.pid}; sleep 0.05; kill -URG ${process.pid}; sleep 0.05; exec "$@"`;
    const sender = spawnRaw('sh', ['-c', script, 'sh', ...then], { stdio: 'ignore' });
    senders.push(new Promise((resolve) => sender.once('close', resolve)));
  }

  test('a signal handled while waitSync() blocks neither fails it nor loses the post that follows (EINTR is retried)', () =>
    withSet(1, (set) =>
      withNamed(0, async (semaphore, name) => {
        const onSignal = () => {};
        process.on('SIGURG', onSignal);
        try {
          signalTwiceThen([compilePeer('sem_sysv'), 'post', String(set.id), '0']);
          set.waitSync(0);
          signalTwiceThen([compilePeer('sem_posix'), 'post', `/${name}`]);
          semaphore.waitSync();
          signalTwiceThen(['true']);
          assert.throws(() => set.waitSync(0, { timeout: 300 }), isCode('ETIMEDOUT', 'semtimedop'));
          signalTwiceThen(['true']);
          assert.throws(() => semaphore.waitSync({ timeout: 300 }), isCode('ETIMEDOUT', 'sem_clockwait'));
          assert.equal(set.get(0), 0);
          assert.equal(semaphore.value, 0);
        } finally {
          await Promise.all(senders);
          process.off('SIGURG', onSignal);
        }
      }),
    ));
});

// ---- POSIX named ---------------------------------------------------------------------------------

describe('NamedSemaphore', () => {
  test('open (create, exclusive, initial), value, post, tryWait; lives in /dev/shm as sem.NAME until unlinked', () =>
    withNamed(2, (semaphore, name) => {
      assert.equal(semaphore.name, `/${name}`);
      assert.ok(fs.existsSync(`/dev/shm/sem.${name}`));
      assert.equal(fs.statSync(`/dev/shm/sem.${name}`).mode & 0o777, 0o600);
      assert.equal(semaphore.value, 2);
      assert.equal(semaphore.tryWait(), true);
      assert.equal(semaphore.tryWait(), true);
      assert.equal(semaphore.tryWait(), false);
      semaphore.post();
      assert.throws(
        () => NamedSemaphore.open(name, { create: true, exclusive: true }),
        (error: IpcError) => {
          isCode('EEXIST', 'sem_open')(error);
          assert.equal(error.objectName, `/${name}`);
          return true;
        },
      );
      using other = NamedSemaphore.open(`/${name}`, { create: true, initial: 9 });
      assert.equal(other.value, 1, 'an existing semaphore keeps its value');
      NamedSemaphore.unlink(name);
      assert.ok(!fs.existsSync(`/dev/shm/sem.${name}`));
      other.post();
      assert.equal(semaphore.value, 2, 'still usable after unlink');
      assert.throws(() => NamedSemaphore.open(name), isCode('ENOENT', 'sem_open'));
    }));

  test('SEM_VALUE_MAX: created at the top, post() is EOVERFLOW', () => {
    const name = uniqueName();
    try {
      using semaphore = NamedSemaphore.open(name, { create: true, exclusive: true, initial: 2 ** 31 - 1 });
      assert.equal(semaphore.value, 2 ** 31 - 1);
      assert.throws(() => semaphore.post(), isCode('EOVERFLOW', 'sem_post'));
    } finally {
      unlinkQuietly(name);
    }
  });

  test('wait() resolves on post; aborted and timed-out waits (Promise and Sync) take nothing', () =>
    withNamed(0, async (semaphore) => {
      const waiting = semaphore.wait();
      await sleep(5);
      semaphore.post();
      await waiting;
      const controller = new AbortController();
      const aborted = semaphore.wait({ signal: controller.signal });
      await sleep(5);
      controller.abort();
      await assert.rejects(aborted, AbortError);
      await assert.rejects(semaphore.wait({ timeout: 10 }), isCode('ETIMEDOUT', 'sem_wait'));
      assert.throws(() => semaphore.waitSync({ timeout: 10 }), isCode('ETIMEDOUT', 'sem_clockwait'));
      assert.throws(() => semaphore.waitSync({ timeout: 0 }), isCode('ETIMEDOUT', 'sem_clockwait'));
      assert.equal(waiterStats().pending, 0);
      semaphore.post();
      assert.equal(semaphore.value, 1, 'no cancelled wait took the post');
      semaphore.waitSync({ timeout: 1000 });
      semaphore.post();
      semaphore.waitSync();
      assert.equal(semaphore.value, 0);
    }));

  test('without sem_clockwait (UNIPC_SEM_TIMEDWAIT=1, as on glibc before 2.30): waitSync() with a timeout uses sem_timedwait, which expires, takes a unit at once and wakes on a post', () =>
    withNamed(0, async (semaphore, name) => {
      const peer = spawnPeer('sem-timedwait', [`/${name}`, compilePeer('sem_posix')], {
        env: { ...process.env, UNIPC_SEM_TIMEDWAIT: '1' },
      });
      const { code, stdout } = await finished(peer);
      assert.equal(code, 0);
      assert.match(stdout, /done/);
      assert.equal(semaphore.value, 0);
    }));

  test('close() with waits pending rejects them with EBADF; then every use is EBADF and closing again does nothing', () =>
    withNamed(0, async (semaphore, name) => {
      using other = NamedSemaphore.open(name);
      const waits = [semaphore.wait(), semaphore.wait(), semaphore.wait({ timeout: 60_000 })].map((p) =>
        p.then(
          () => 'resolved',
          (e: unknown) => e,
        ),
      );
      const unaffected = other.wait();
      await sleep(5);
      semaphore.close();
      for (const error of await Promise.all(waits)) {
        isCode('EBADF', 'sem_wait')(error);
        assert.match((error as IpcError).message, /NamedSemaphore is closed/);
        assert.equal((error as IpcError).objectName, `/${name}`);
      }
      assert.equal(semaphore.closed, true);
      semaphore.close();
      semaphore[Symbol.dispose]();
      assert.throws(() => semaphore.post(), isCode('EBADF', 'sem_post'));
      assert.throws(() => semaphore.tryWait(), isCode('EBADF', 'sem_trywait'));
      assert.throws(() => semaphore.value, isCode('EBADF', 'sem_getvalue'));
      assert.throws(() => semaphore.waitSync(), isCode('EBADF', 'sem_wait'));
      await assert.rejects(semaphore.wait(), isCode('EBADF', 'sem_wait'));
      other.post();
      await unaffected;
      assert.equal(other.value, 0, "the closed object's waits took nothing");
    }));

  test('a forgotten semaphore is closed by its finalizer, but never while a wait is pending', async () => {
    const gc = collector();
    const name = uniqueName();
    try {
      (() => {
        NamedSemaphore.open(name, { create: true, exclusive: true });
      })();
      const inode = fs.statSync(`/dev/shm/sem.${name}`).ino;
      assert.ok(mapsSemaphore(inode));
      await until(() => !mapsSemaphore(inode), { collect: true });
      assert.ok(!mapsSemaphore(inode), 'the finalizer closed it (sem_close unmapped it)');

      const waiting = (() => NamedSemaphore.open(name).wait())();
      for (let i = 0; i < 10; i++) {
        gc();
        await sleep(5);
      }
      assert.ok(mapsSemaphore(inode), 'not closed while its wait is pending');
      using poster = NamedSemaphore.open(name);
      poster.post();
      await waiting;
      assert.equal(poster.value, 0);
    } finally {
      unlinkQuietly(name);
    }
  });

  test('a worker thread terminated with a semaphore open and a wait pending leaves nothing mapped, and took nothing', () =>
    withNamed(0, async (semaphore, name) => {
      const inode = fs.statSync(`/dev/shm/sem.${name}`).ino;
      semaphore.close(); // so that only the worker maps it
      const worker = new Worker(new URL('./peers/worker-bootstrap.mjs', import.meta.url), {
        workerData: { name, script: new URL('./peers/worker-semaphore.ts', import.meta.url).href },
      });
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      assert.ok(mapsSemaphore(inode));
      await worker.terminate();
      await until(() => !mapsSemaphore(inode));
      using check = NamedSemaphore.open(name);
      assert.equal(check.value, 0);
    }));

  test('3 processes × 400 increments of a plain counter in POSIX shared memory under the semaphore lose nothing', () =>
    withNamed(1, async (semaphore, name) => {
      const shmName = uniqueName();
      using memory = SharedMemory.open(shmName, { create: true, exclusive: true, size: 4096 });
      try {
        const peers = Array.from({ length: 3 }, () =>
          finished(spawnPeer('semaphore', ['count-named', name, shmName, '400'])),
        );
        for (const { code, stdout } of await Promise.all(peers)) {
          assert.equal(code, 0);
          assert.match(stdout, /done/);
        }
        using map = memory.map();
        assert.equal(new Int32Array(map.buffer)[0], 1200);
        assert.equal(semaphore.value, 1);
      } finally {
        SharedMemory.unlink(shmName);
      }
    }));
});

describe('semaphore waits and the event loop', () => {
  test('1,000 pending waits (500 on a set, 500 on a named semaphore) leave fs responsive and cancel cleanly', () =>
    withSet(1, (set) =>
      withNamed(0, async (semaphore) => {
        const controller = new AbortController();
        const { signal } = controller;
        const waits = [
          ...Array.from({ length: 500 }, () => set.wait(0, { signal })),
          ...Array.from({ length: 500 }, () => semaphore.wait({ signal })),
        ].map((p) =>
          p.then(
            () => 'resolved',
            (e: Error) => e,
          ),
        );
        await until(() => set.waitingForIncrease(0) === 500);
        assert.equal(waiterStats().pending, 1000);
        const content = await fs.promises.readFile(new URL('../package.json', import.meta.url), 'utf8');
        assert.match(content, /"name": "unipc"/);
        controller.abort();
        for (const outcome of await Promise.all(waits)) assert.ok(outcome instanceof AbortError, String(outcome));
        assert.equal(set.get(0), 0);
        assert.equal(semaphore.value, 0);
        assert.equal(set.waitingForIncrease(0), 0);
        const stats = waiterStats();
        assert.equal(stats.pending, 0);
        assert.equal(stats.idle, stats.threads, 'no waiter thread is still busy');
      }),
    ));
});
