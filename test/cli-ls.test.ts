// `unipc ls` and `unipc rm`, as installed (the built bin), on objects this test makes. Every `rm` here is
// scoped to this test's objects by --type and explicit targets: other tests on this machine make objects
// of their own meanwhile.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  IPC_PRIVATE,
  type IpcObject,
  list,
  MessageQueue,
  NamedSemaphore,
  SemaphoreSet,
  SharedMemory,
  SysvSharedMemory,
} from '../src/index.js';
import { finished, lineFrom, quietly, root, spawnPeer, testKey, uniqueIpcName } from './helpers.js';

const bin = path.join(root, 'dist', 'esm', 'cli', 'main.js');
const unipc = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** unipc on a pseudo-terminal that answers its question with `answer`. */
const atTerminal = (answer: string, ...args: string[]) =>
  spawnSync('python3', [path.join(root, 'test', 'peers', 'at_terminal.py'), answer, process.execPath, bin, ...args], {
    cwd: root,
    encoding: 'utf8',
  });

const exists = (type: IpcObject['type'], match: (object: IpcObject) => boolean) => list({ type }).some(match);
const hasId = (id: number) => (object: IpcObject) => 'id' in object && object.id === id;
const hasName = (name: string) => (object: IpcObject) => 'name' in object && object.name === name;

test('--help names ls and rm; their own --help, and bad options or targets, exit 2', () => {
  assert.match(unipc('--help').stdout, /^ {2}ls {2,}list every IPC object/m);
  assert.match(unipc('--help').stdout, /^ {2}rm {2,}remove IPC objects/m);
  assert.match(unipc('ls', '--help').stdout, /^Usage: unipc ls/);
  assert.match(unipc('rm', '-h').stdout, /^Usage: unipc rm/);
  for (const args of [
    ['ls', '--bogus'],
    ['ls', '--type', 'queues'],
    ['rm'],
    ['rm', '0x0'],
    ['rm', '0x1ffffffff'],
    ['rm', 'a/b'],
    ['rm', '--type', 'nope', '1'],
  ]) {
    const result = unipc(...args);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /^unipc (ls|rm): /);
  }
  assert.match(unipc('rm', '0x0').stderr, /IPC_PRIVATE/);
});

test('ls lists each kind in a table and as JSON records, printing hostile names escaped', () => {
  const shmName = `/${uniqueIpcName('cli')}`;
  const hostile = `${uniqueIpcName('cli')}-\u001b]0;owned\u0007\nfake`;
  const segment = SysvSharedMemory.get(IPC_PRIVATE, { create: true, size: 4096 });
  try {
    SharedMemory.open(shmName, { create: true, exclusive: true, size: 100 }).close();
    fs.writeFileSync(`/dev/shm/${hostile}`, '');
    const table = unipc('ls', '--type', 'sysv-shm,posix-shm');
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^System V shared memory \(ipcs -m\): \d+$/m);
    assert.match(table.stdout, new RegExp(`^  0x00000000  ${segment.id} +\\S+ +600 +4096 +0 +${process.pid} `, 'm'));
    assert.match(
      table.stdout,
      new RegExp(`^  ${shmName} +\\S+ +600 +100 .* ${process.pid} +no +creator pid ${process.pid} is running$`, 'm'),
    );
    assert.ok(
      !table.stdout.includes('\u001b') && !table.stdout.includes('\u0007'),
      'no control character reaches the terminal',
    );
    assert.ok(
      table.stdout.includes(`"/${hostile.split('-\u001b')[0]}-\\u001b]0;owned\\u0007\\u000afake"`),
      'the hostile name is shown quoted and escaped',
    );
    assert.doesNotMatch(table.stdout, /^fake/m);

    const json = unipc('ls', '--json', '--type', 'posix-shm', '--mine');
    assert.equal(json.status, 0, json.stderr);
    const records = JSON.parse(json.stdout) as Array<{
      type: string;
      name: string;
      size: number;
      mark: { pid: number };
      staleness: { stale: boolean };
    }>;
    const record = records.find((r) => r.name === shmName)!;
    assert.deepEqual(
      [record.type, record.size, record.mark.pid, record.staleness.stale],
      ['posix-shm', 100, process.pid, false],
    );
    assert.ok(!records.some((r) => r.name === `/${hostile}`), '--mine leaves out what unipc did not create');
    assert.equal(json.stderr, '');
    assert.match(
      unipc('ls', '--mine').stdout,
      /--mine: only POSIX shared memory and named semaphores can carry unipc's creator mark/,
    );
  } finally {
    quietly(() => SharedMemory.unlink(shmName));
    fs.rmSync(`/dev/shm/${hostile}`, { force: true });
    quietly(() => segment.remove());
  }
});

test('rm asks first: without a terminal it refuses (exit 3); at a terminal "n" keeps and "y" removes', () => {
  const set = SemaphoreSet.get(IPC_PRIVATE, { create: true, count: 2 });
  try {
    const refused = unipc('rm', '--type', 'sysv-semaphores', String(set.id));
    assert.equal(refused.status, 3);
    assert.match(refused.stderr, /stdin is not a terminal/);
    assert.match(refused.stderr, new RegExp(`System V semaphore set id ${set.id} key 0x00000000 \\(2 semaphores`));
    assert.ok(exists('sysv-semaphores', hasId(set.id)));

    const declined = atTerminal('n', 'rm', '--type', 'sysv-semaphores', String(set.id));
    assert.equal(declined.status, 3, declined.stdout);
    assert.match(declined.stdout, /Remove 1 object\? \[y\/N\] /);
    assert.match(declined.stdout, /nothing removed/);
    assert.ok(exists('sysv-semaphores', hasId(set.id)));

    const accepted = atTerminal('y', 'rm', '--type', 'sysv-semaphores', String(set.id));
    assert.equal(accepted.status, 0, accepted.stdout);
    assert.match(accepted.stdout, new RegExp(`removed System V semaphore set id ${set.id}`));
    assert.ok(!exists('sysv-semaphores', hasId(set.id)));
  } finally {
    quietly(() => set.remove());
  }
});

test('rm --yes removes by id, key and name; a key two kinds share needs --type; a target matching nothing is exit 1', () => {
  const key = testKey();
  const hex = `0x${key.toString(16).padStart(8, '0')}`;
  const set = SemaphoreSet.get(key, { create: true, exclusive: true, count: 1 });
  const queue = MessageQueue.get(key, { create: true, exclusive: true });
  const segment = SysvSharedMemory.get(IPC_PRIVATE, { create: true, size: 4096 });
  const semName = `/${uniqueIpcName('cli')}`;
  try {
    NamedSemaphore.open(semName, { create: true, exclusive: true }).close();
    const ambiguous = unipc('rm', '--yes', hex);
    assert.equal(ambiguous.status, 2);
    assert.match(ambiguous.stderr, new RegExp(`'${hex}' matches 2 objects; say which with --type`));
    assert.ok(exists('sysv-queue', hasId(queue.id)) && exists('sysv-semaphores', hasId(set.id)));

    const byKey = unipc('rm', '--yes', '--type', 'sysv-queue', hex);
    assert.equal(byKey.status, 0, byKey.stderr);
    assert.equal(
      byKey.stdout,
      `removed System V message queue id ${queue.id} key ${hex} (0 messages, 0 bytes; owner ${ownerName()}, mode 600)\n`,
    );
    assert.ok(!exists('sysv-queue', hasId(queue.id)) && exists('sysv-semaphores', hasId(set.id)));

    // By id within one kind: System V ids are per kind, and on a fresh machine a set and a segment
    // can both be id 1, so an id names one object only together with its --type.
    const byId = unipc('rm', '-y', '-t', 'sysv-shm', String(segment.id));
    assert.equal(byId.status, 0, byId.stderr);
    assert.match(byId.stdout, new RegExp(`^removed System V shared memory id ${segment.id} `));
    assert.ok(!exists('sysv-shm', hasId(segment.id)) && exists('sysv-semaphores', hasId(set.id)));

    const several = unipc('rm', '-y', '-t', 'sysv-semaphores', '-t', 'posix-semaphore', hex, semName.slice(1));
    assert.equal(several.status, 0, several.stderr);
    assert.equal(several.stdout.split('\n').filter((line) => line.startsWith('removed ')).length, 2);
    assert.ok(!exists('sysv-semaphores', hasId(set.id)) && !exists('posix-semaphore', hasName(semName)));

    const missing = unipc('rm', '-y', '--type', 'posix-semaphore', semName);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, new RegExp(`no object matches '${semName}'`));
  } finally {
    quietly(() => set.remove());
    quietly(() => queue.remove());
    quietly(() => segment.remove());
    quietly(() => NamedSemaphore.unlink(semName));
  }
});

function ownerName(): string {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[2] === String(process.getuid!()));
  return line?.split(':')[0] ?? String(process.getuid!());
}

test('rm --stale removes what a creator killed with SIGKILL left, and keeps what a live creator holds', async () => {
  const dead = { shm: `/${uniqueIpcName('cli')}`, sem: `/${uniqueIpcName('cli')}`, id: -1 };
  const live = { shm: `/${uniqueIpcName('cli')}`, sem: `/${uniqueIpcName('cli')}`, id: -1 };
  const victim = spawnPeer('ipc-holder', ['create', dead.shm, dead.sem]);
  const survivor = spawnPeer('ipc-holder', ['create', live.shm, live.sem]);
  const types = ['--type', 'sysv-shm,posix-shm,posix-semaphore'];
  try {
    dead.id = JSON.parse(await lineFrom(victim, 'sysvId')).sysvId;
    live.id = JSON.parse(await lineFrom(survivor, 'sysvId')).sysvId;
    const gone = finished(victim);
    victim.kill('SIGKILL');
    await gone;

    const listed = unipc('ls', '--stale', '--json', ...types);
    const staleNow = (JSON.parse(listed.stdout) as IpcObject[]).map((o) => ('id' in o ? o.id : o.name));
    assert.ok(
      [dead.id, dead.shm, dead.sem].every((x) => staleNow.includes(x)),
      `ls --stale shows the dead creator's objects: ${listed.stdout}`,
    );
    assert.ok(![live.id, live.shm, live.sem].some((x) => staleNow.includes(x)));

    const result = unipc(
      'rm',
      '--stale',
      '--yes',
      ...types,
      String(dead.id),
      dead.shm,
      dead.sem,
      String(live.id),
      live.shm,
      live.sem,
    );
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.filter((line) => line.startsWith('removed ')).length, 3, result.stdout);
    assert.equal(lines.filter((line) => line.startsWith('kept ')).length, 3, result.stdout);
    assert.match(
      result.stdout,
      new RegExp(`^kept POSIX shared memory ${live.shm} .*: creator pid ${survivor.pid} is running$`, 'm'),
    );
    assert.match(result.stdout, new RegExp(`^kept System V shared memory id ${live.id} .*: attached 1 time$`, 'm'));
    assert.ok(
      !exists('sysv-shm', hasId(dead.id)) &&
        !exists('posix-shm', hasName(dead.shm)) &&
        !exists('posix-semaphore', hasName(dead.sem)),
    );
    assert.ok(
      exists('sysv-shm', hasId(live.id)) &&
        exists('posix-shm', hasName(live.shm)) &&
        exists('posix-semaphore', hasName(live.sem)),
    );
  } finally {
    victim.kill('SIGKILL');
    const done = finished(survivor);
    survivor.stdin!.end();
    await done;
    for (const { shm, sem, id } of [dead, live]) {
      quietly(() => SharedMemory.unlink(shm));
      quietly(() => NamedSemaphore.unlink(sem));
      if (id >= 0) quietly(() => new SysvSharedMemory(id, IPC_PRIVATE).remove());
    }
  }
});
