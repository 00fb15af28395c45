// Semaphores between unipc and other programs: System V sets with util-linux (ipcmk -S, ipcs -s) and a C
// program (semop/semctl), POSIX named semaphores with a C program (sem_open/sem_wait/sem_post). Both
// directions of every wait, and counters shared by C and Node processes under the semaphore.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn as spawnRaw, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { IPC_PRIVATE, NamedSemaphore, SemaphoreSet, SharedMemory, SysvSharedMemory } from '../src/index.js';
import { compilePeer, finished, lineFrom, spawnPeer, testKey, until } from './helpers.js';
import { removeQuietly, uniqueName, unlinkQuietly } from './sem-fixtures.js';

/** Runs a program to its end in the C locale (stable util-linux output); asserts exit code 0. */
function runOk(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (result.error) throw result.error;
  assert.equal(result.status, 0, `${command} ${args.join(' ')} exited with ${result.status}: ${result.stderr}`);
  return result.stdout;
}

/** Starts a program without waiting for it. */
function start(command: string, args: string[]): ChildProcess {
  return spawnRaw(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
}

interface IpcsSemRow {
  key: number;
  id: number;
  perms: number;
  nsems: number;
}

/** `ipcs -s`, by set id. */
function ipcsSets(): Map<number, IpcsSemRow> {
  const rows = new Map<number, IpcsSemRow>();
  for (const line of runOk('ipcs', ['-s']).split('\n')) {
    const match = /^(0x[0-9a-f]+)\s+(\d+)\s+\S+\s+([0-7]+)\s+(\d+)\s*$/.exec(line.trim());
    if (match === null) continue;
    const [, key, id, perms, nsems] = match;
    rows.set(Number(id), { key: parseInt(key!, 16), id: Number(id), perms: parseInt(perms!, 8), nsems: Number(nsems) });
  }
  return rows;
}

/** `ipcs -s -i ID`: one row per semaphore (value, ncount, zcount, pid). */
function ipcsSemaphores(id: number): Array<{ value: number; ncount: number; zcount: number; pid: number }> {
  const rows = [];
  let inTable = false;
  for (const line of runOk('ipcs', ['-s', '-i', String(id)]).split('\n')) {
    if (/^semnum\s+value/.test(line)) {
      inTable = true;
      continue;
    }
    const match = /^(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line.trim());
    if (inTable && match) {
      const [, , value, ncount, zcount, pid] = match.map(Number);
      rows.push({ value: value!, ncount: ncount!, zcount: zcount!, pid: pid! });
    }
  }
  return rows;
}

describe('System V semaphore sets ↔ util-linux and C', () => {
  test('a set made by ipcmk -S is used by unipc; ipcs -s -i and a C GETALL see what unipc set', () => {
    const program = compilePeer('sem_sysv');
    const output = runOk('ipcmk', ['-S', '3', '-p', '0640']);
    const match = /Semaphore id: (\d+)/.exec(output);
    assert.ok(match, `ipcmk printed ${JSON.stringify(output)}`);
    const set = SemaphoreSet.fromId(Number(match[1]));
    try {
      assert.equal(set.count, 3);
      const row = ipcsSets().get(set.id);
      assert.ok(row, 'ipcs -s lists it');
      assert.equal(set.key, row.key);
      assert.equal(set.stat().mode, 0o640);
      assert.deepEqual(SemaphoreSet.get(set.key).id, set.id, 'found by its key too');
      set.setAll([4, 0, 32767]);
      set.post(1);
      assert.deepEqual(
        ipcsSemaphores(set.id).map((r) => r.value),
        [4, 1, 32767],
      );
      assert.equal(ipcsSemaphores(set.id)[1]!.pid, process.pid);
      assert.deepEqual(JSON.parse(runOk(program, ['getall', String(set.id)])), { count: 3, values: [4, 1, 32767] });
    } finally {
      removeQuietly(set);
    }
    assert.ok(!ipcsSets().has(set.id), 'removed');
  });

  test('a set unipc made is listed by ipcs -s with its key, perms and nsems, and ipcs -s -i matches getAll()', () => {
    const key = testKey();
    const set = SemaphoreSet.get(key, { count: 4, create: true, exclusive: true, mode: 0o604 });
    try {
      set.setAll([0, 1, 2, 3]);
      assert.deepEqual(ipcsSets().get(set.id), { key, id: set.id, perms: 0o604, nsems: 4 });
      const rows = ipcsSemaphores(set.id);
      assert.deepEqual(
        rows.map((r) => r.value),
        set.getAll(),
      );
      assert.deepEqual(
        rows.map((r) => r.ncount),
        [0, 1, 2, 3].map((i) => set.waitingForIncrease(i)),
      );
    } finally {
      removeQuietly(set);
    }
  });

  test('C waits and unipc posts; unipc waits (Promise and Sync) and C posts', async () => {
    const program = compilePeer('sem_sysv');
    const set = SemaphoreSet.get(IPC_PRIVATE, { count: 2, create: true });
    try {
      const c = start(program, ['wait', String(set.id), '1']);
      const done = finished(c);
      await until(() => set.waitingForIncrease(1) === 1);
      set.post(1);
      const { code, stdout } = await done;
      assert.equal(code, 0);
      assert.equal(stdout, 'acquired\n');
      assert.equal(set.get(1), 0);

      const waiting = set.wait(0);
      await until(() => set.waitingForIncrease(0) === 1);
      runOk(program, ['post', String(set.id), '0']);
      await waiting;
      runOk(program, ['post', String(set.id), '0']);
      set.waitSync(0, { timeout: 10_000 });
      assert.deepEqual(set.getAll(), [0, 0]);
    } finally {
      removeQuietly(set);
    }
  });

  test('2 C and 2 Node processes increment one plain counter in a System V segment under the set: nothing lost', async () => {
    const program = compilePeer('sem_sysv');
    const set = SemaphoreSet.get(IPC_PRIVATE, { count: 1, create: true });
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: 4096, create: true });
    try {
      set.set(0, 1);
      const runs = [
        ...Array.from({ length: 2 }, () =>
          finished(start(program, ['count', String(set.id), String(segment.id), '3000'])),
        ),
        ...Array.from({ length: 2 }, () =>
          finished(spawnPeer('semaphore', ['count-sysv', String(set.id), String(segment.id), '300'])),
        ),
      ];
      for (const { code, stdout } of await Promise.all(runs)) {
        assert.equal(code, 0);
        assert.match(stdout, /done/);
      }
      using map = segment.attach();
      assert.equal(new Int32Array(map.buffer)[0], 2 * 3000 + 2 * 300);
    } finally {
      segment.remove();
      removeQuietly(set);
    }
  });
});

describe('POSIX named semaphores ↔ C (sem_open)', () => {
  test('C waits and unipc posts; unipc waits and C posts; C reads the value unipc left', async () => {
    const program = compilePeer('sem_posix');
    const name = uniqueName();
    using semaphore = NamedSemaphore.open(name, { create: true, exclusive: true });
    try {
      const c = start(program, ['wait', `/${name}`]);
      const done = finished(c);
      await lineFrom(c, 'waiting');
      // Asleep, in sem_wait by all appearances (a post before it got there would not be lost either).
      await until(() => fs.readFileSync(`/proc/${c.pid}/stat`, 'utf8').split(') ')[1]!.startsWith('S'));
      semaphore.post();
      const { code, stdout } = await done;
      assert.equal(code, 0);
      assert.equal(stdout, 'waiting\nacquired\n');
      assert.equal(semaphore.value, 0);

      const waiting = semaphore.wait();
      runOk(program, ['post', `/${name}`]);
      await waiting;
      runOk(program, ['post', name]);
      semaphore.waitSync({ timeout: 10_000 });
      semaphore.post();
      semaphore.post();
      assert.equal(runOk(program, ['value', `/${name}`]), '2\n');
    } finally {
      unlinkQuietly(name);
    }
  });

  test('2 C and 2 Node processes increment one plain counter in POSIX shared memory under the semaphore: nothing lost', async () => {
    const program = compilePeer('sem_posix');
    const name = uniqueName();
    const shmName = uniqueName();
    using semaphore = NamedSemaphore.open(name, { create: true, exclusive: true, initial: 1 });
    try {
      using memory = SharedMemory.open(shmName, { create: true, exclusive: true, size: 4096 });
      const runs = [
        ...Array.from({ length: 2 }, () => finished(start(program, ['count', `/${name}`, `/${shmName}`, '3000']))),
        ...Array.from({ length: 2 }, () => finished(spawnPeer('semaphore', ['count-named', name, shmName, '300']))),
      ];
      for (const { code, stdout } of await Promise.all(runs)) {
        assert.equal(code, 0);
        assert.match(stdout, /done/);
      }
      using map = memory.map();
      assert.equal(new Int32Array(map.buffer)[0], 2 * 3000 + 2 * 300);
      assert.equal(semaphore.value, 1);
    } finally {
      unlinkQuietly(name);
      SharedMemory.unlink(shmName);
    }
  });
});
