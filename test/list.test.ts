// list(), remove() and removeStale(): every kind of IPC object found with the fields the kernel gives,
// counts that agree with util-linux ipcs, the creator mark, staleness proven (or not) against real
// processes killed with SIGKILL, and names chosen to hurt.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { userName } from '../src/cli/ls.js';
import {
  IPC_PRIVATE,
  type IpcObject,
  type IpcObjectType,
  list,
  MessageQueue,
  NamedSemaphore,
  PosixQueue,
  type PosixQueueRecord,
  type PosixSemaphoreRecord,
  type PosixShmRecord,
  remove,
  removeStale,
  SemaphoreSet,
  SharedMemory,
  type SysvObjectRecord,
  type SysvQueueRecord,
  type SysvSemaphoresRecord,
  SysvSharedMemory,
  type SysvShmRecord,
  unlistedTypes,
} from '../src/index.js';
import { MARK_ATTRIBUTE } from '../src/mark.js';
import { native } from '../src/native.js';
import { compilePeer, finished, lineFrom, quietly, root, spawnPeer, tempDir, uniqueIpcName } from './helpers.js';

const isRoot = process.geteuid?.() === 0;
// Whether this process may make a mount namespace (root in a container often may not).
const canUnshareMount = spawnSync('unshare', ['--mount', 'true']).status === 0;

function find<T extends IpcObject>(
  type: T['type'],
  match: (object: T) => boolean,
  options: { staleness?: boolean } = {},
): T | undefined {
  return list({ type, ...options }).find((object) => match(object as T)) as T | undefined;
}

const byId = (id: number) => (object: { id: number }) => object.id === id;
const byName = (name: string) => (object: { name: string }) => object.name === name;

/** The mark attribute of a file, read the way C would (getxattr), or undefined. */
function markOnFile(path: string): string | undefined {
  const fd = fs.openSync(path, 'r');
  try {
    const out = new Uint8Array(256);
    const length = native.fgetxattr(fd, MARK_ATTRIBUTE, out);
    return length < 0 ? undefined : Buffer.from(out.subarray(0, length)).toString();
  } finally {
    fs.closeSync(fd);
  }
}

// Runs an ES module `script` in a mount namespace of its own, where an mqueue filesystem is mounted at
// `mountPoint`: the queues of the IPC namespace it shares with this process become listable there.
function runWithMqueueMount(mountPoint: string, script: string) {
  return spawnSync(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount -t mqueue none "$1" && exec "$2" --import tsx --input-type=module -e "$3"',
      'sh',
      mountPoint,
      process.execPath,
      script,
    ],
    { cwd: root, encoding: 'utf8' },
  );
}

describe('list()', () => {
  test('finds one object of each System V kind with what IPC_STAT says of it, mode 0o600 by default', () => {
    const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
    const set = SemaphoreSet.get(IPC_PRIVATE, { create: true, count: 3 });
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { create: true, size: 12345 });
    try {
      queue.sendSync(7, 'seven bytes');
      set.post(1);
      using attachment = segment.attach();
      assert.ok(attachment.length >= 12345);

      const q = find<SysvQueueRecord>('sysv-queue', byId(queue.id))!;
      const qs = queue.stat();
      assert.deepEqual(
        {
          key: q.key,
          uid: q.uid,
          gid: q.gid,
          creatorUid: q.creatorUid,
          creatorGid: q.creatorGid,
          mode: q.mode,
          bytes: q.bytes,
          messages: q.messages,
        },
        {
          key: 0,
          uid: qs.uid,
          gid: qs.gid,
          creatorUid: qs.creatorUid,
          creatorGid: qs.creatorGid,
          mode: 0o600,
          bytes: 11,
          messages: 1,
        },
      );
      assert.equal(q.lastSendPid, process.pid);
      assert.equal(q.lastReceivePid, 0);
      assert.deepEqual([q.lastSend, q.lastReceive, q.lastChange], [qs.lastSend, qs.lastReceive, qs.lastChange]);

      const s = find<SysvSemaphoresRecord>('sysv-semaphores', byId(set.id))!;
      const ss = set.stat();
      assert.deepEqual(
        { mode: s.mode, count: s.count, lastOp: s.lastOp, lastChange: s.lastChange, uid: s.uid },
        { mode: 0o600, count: 3, lastOp: ss.lastOp, lastChange: ss.lastChange, uid: ss.uid },
      );

      const m = find<SysvShmRecord>('sysv-shm', byId(segment.id))!;
      const ms = segment.stat();
      assert.deepEqual(
        {
          mode: m.mode,
          size: m.size,
          creatorPid: m.creatorPid,
          lastPid: m.lastPid,
          attachments: m.attachments,
          markedForRemoval: m.markedForRemoval,
          locked: m.locked,
        },
        {
          mode: 0o600,
          size: 12345,
          creatorPid: process.pid,
          lastPid: process.pid,
          attachments: 1,
          markedForRemoval: false,
          locked: false,
        },
      );
      assert.deepEqual([m.lastAttach, m.lastDetach, m.lastChange], [ms.lastAttach, ms.lastDetach, ms.lastChange]);
      assert.ok(m.lastAttach instanceof Date);
      assert.equal(m.lastDetach, null);

      // Removed while attached: listed as such until the last detach, and never stale.
      segment.remove();
      const removed = find<SysvShmRecord>('sysv-shm', byId(segment.id), { staleness: true })!;
      assert.equal(removed.markedForRemoval, true);
      assert.equal(removed.staleness!.stale, false);
    } finally {
      quietly(() => queue.remove());
      quietly(() => set.remove());
      quietly(() => segment.remove());
    }
  });

  test("finds POSIX shared memory and named semaphores with their files' stat and unipc's creator mark", () => {
    const shmName = `/${uniqueIpcName('list')}`;
    const semName = `/${uniqueIpcName('list')}`;
    try {
      using shm = SharedMemory.open(shmName, { create: true, exclusive: true, size: 5000 });
      using semaphore = NamedSemaphore.open(semName, { create: true, initial: 1 });
      assert.equal(semaphore.value, 1);
      const s = find<PosixShmRecord>('posix-shm', byName(shmName))!;
      const stats = fs.statSync(`/dev/shm${shmName}`);
      assert.deepEqual(
        {
          path: s.path,
          size: s.size,
          mode: s.mode,
          uid: s.uid,
          gid: s.gid,
          inode: s.inode,
          device: s.device,
          lastModification: s.lastModification,
        },
        {
          path: `/dev/shm${shmName}`,
          size: 5000,
          mode: 0o600,
          uid: stats.uid,
          gid: stats.gid,
          inode: stats.ino,
          device: stats.dev,
          lastModification: stats.mtime,
        },
      );
      const sem = find<PosixSemaphoreRecord>('posix-semaphore', byName(semName))!;
      assert.equal(sem.path, `/dev/shm/sem.${semName.slice(1)}`);
      assert.equal(sem.mode, 0o600);
      // The mark names this process; list({ mine: true }) finds exactly what carries one.
      for (const record of [s, sem]) {
        assert.equal(record.mark?.pid, process.pid);
        assert.equal(record.mark?.bootId, fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
      }
      assert.ok(
        !list({ type: 'posix-shm' }).some((o) => (o as PosixShmRecord).name === semName),
        'a semaphore is not listed as shared memory',
      );
      const mine = list({ mine: true }).map((o) => (o as PosixShmRecord).name);
      assert.ok(mine.includes(shmName) && mine.includes(semName));
      // With this process holding both, neither is stale.
      for (const record of list({ type: ['posix-shm', 'posix-semaphore'], staleness: true }).filter((o) =>
        [shmName, semName].includes((o as PosixShmRecord).name),
      )) {
        assert.deepEqual(record.staleness, { stale: false, reason: `creator pid ${process.pid} is running` });
      }
      assert.equal(shm.size, 5000);
    } finally {
      quietly(() => SharedMemory.unlink(shmName));
      quietly(() => NamedSemaphore.unlink(semName));
    }
  });

  test('the mark goes on what unipc creates, not on what it opens: C and Python objects stay unmarked, and open both ways', () => {
    const shmPeer = compilePeer('shm_posix');
    const fromC = `/${uniqueIpcName('list')}`;
    const fromPython = uniqueIpcName('list');
    const fromUnipc = `/${uniqueIpcName('list')}`;
    try {
      assert.equal(spawnSync(shmPeer, ['create', fromC, '64'], { input: 'made by C' }).status, 0);
      const python = spawnSync('python3', [path.join(root, 'test', 'peers', 'shm.py'), 'create', fromPython, '64'], {
        input: 'made by Python',
      });
      assert.equal(python.status, 0, String(python.stderr));
      // unipc opens both with create: true: they exist, so this call creates nothing and marks nothing.
      for (const name of [fromC, fromPython]) {
        using shm = SharedMemory.open(name, { create: true });
        assert.equal(shm.size, 64);
        assert.equal(markOnFile(`/dev/shm/${name.replace(/^\//, '')}`), undefined, `${name} stays unmarked`);
      }
      // A plain create (not exclusive) that does make the object marks it, and C reads it by name.
      using made = SharedMemory.open(fromUnipc, { create: true, size: 16 });
      Buffer.from(made.map().buffer).write('made by unipc');
      assert.match(
        markOnFile(`/dev/shm${fromUnipc}`)!,
        new RegExp(`^v1 pid=${process.pid} start=\\d+ pidns=\\d+ boot=[0-9a-f-]{36}$`),
      );
      const read = spawnSync(shmPeer, ['read', fromUnipc], { encoding: 'utf8' });
      assert.equal(read.status, 0, read.stderr);
      assert.equal(
        Buffer.from(JSON.parse(read.stdout).hex, 'hex').toString('latin1').replace(/\0+$/, ''),
        'made by unipc',
      );
      const mine = list({ type: 'posix-shm', mine: true }).map((o) => (o as PosixShmRecord).name);
      assert.ok(mine.includes(fromUnipc));
      assert.ok(!mine.includes(fromC) && !mine.includes(`/${fromPython}`));
      const unmarked = find<PosixShmRecord>('posix-shm', byName(fromC), { staleness: true })!;
      assert.equal(unmarked.mark, null);
      assert.equal(unmarked.staleness!.stale, false);
      assert.match(unmarked.staleness!.reason, /no unipc creator mark/);
    } finally {
      for (const name of [fromC, fromPython, fromUnipc]) quietly(() => SharedMemory.unlink(name));
    }
  });

  test("counts and fields agree with util-linux ipcs, for this test's objects and in total", (t) => {
    const queue = MessageQueue.get(IPC_PRIVATE, { create: true, mode: 0o640 });
    const set = SemaphoreSet.get(IPC_PRIVATE, { create: true, count: 5 });
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { create: true, size: 8192, mode: 0o604 });
    try {
      queue.sendSync(1, 'abc');
      queue.sendSync(2, 'defgh');
      const ipcs = (...args: string[]) =>
        spawnSync('ipcs', args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }).stdout;
      // ipcs prints one row per object after its header: key id owner perms and the kind's numbers.
      const rows = (text: string) =>
        text
          .split('\n')
          .filter((line) => /^0x[0-9a-f]{8}\s/.test(line))
          .map((line) => line.trim().split(/\s+/));
      const summary = (text: string, label: RegExp) => Number(label.exec(text)?.[1]);
      const shown = (type: IpcObjectType) =>
        list({ type }).map((o) => {
          const r = o as SysvObjectRecord;
          const common = [
            `0x${r.key.toString(16).padStart(8, '0')}`,
            String(r.id),
            userName(r.uid).slice(0, 10),
            r.mode.toString(8),
          ];
          if (o.type === 'sysv-queue') return [...common, String(o.bytes), String(o.messages)];
          if (o.type === 'sysv-semaphores') return [...common, String(o.count)];
          const m = o as SysvShmRecord;
          return [...common, String(m.size), String(m.attachments), ...(m.markedForRemoval ? ['dest'] : [])];
        });
      const sort = (table: string[][]) => [...table].sort((a, b) => Number(a[1]) - Number(b[1]));
      const options = ['-q', '-s', '-m'];

      // This test's own objects do not change while it reads them: list() and ipcs agree on them exactly.
      const ours = [queue.id, set.id, segment.id].map(String);
      IPC_KINDS.forEach((type, i) => {
        const fromList = shown(type).filter((row) => row[1] === ours[i]);
        const fromIpcs = rows(ipcs(options[i]!)).filter((row) => row[1] === ours[i]);
        assert.equal(fromList.length, 1, `list() shows this test's ${type}`);
        assert.deepEqual(fromList, fromIpcs, `list() and ipcs show this test's ${type} alike`);
      });
      const [queueRow] = shown('sysv-queue').filter((row) => row[1] === ours[0]);
      assert.deepEqual(queueRow!.slice(3), ['640', '8', '2'], 'mode, bytes and messages of the queue');

      // The whole table and the kernel's tally (ipcs -u: msgctl(MSG_INFO), semctl(SEM_INFO), shmctl(SHM_INFO))
      // can only be compared while nothing else creates or removes objects: a snapshot counts only if list()
      // saw the same before and after ipcs ran, and a disagreement only if every such snapshot disagrees.
      const tallies = [/allocated queues = (\d+)/, /used arrays = (\d+)/, /segments allocated (\d+)/];
      let snapshots = 0;
      let disagreement: string | undefined;
      for (let attempt = 0; attempt < 50 && (snapshots === 0 || disagreement !== undefined); attempt++) {
        const before = IPC_KINDS.map(shown);
        const text = options.map((option) => ipcs(option));
        const totals = ipcs('-u');
        const after = IPC_KINDS.map(shown);
        if (JSON.stringify(before) !== JSON.stringify(after)) continue;
        snapshots++;
        const fromIpcs = text.map((t) => sort(rows(t)));
        const kind = IPC_KINDS.findIndex(
          (_, i) =>
            JSON.stringify(sort(after[i]!)) !== JSON.stringify(fromIpcs[i]) ||
            after[i]!.length !== summary(totals, tallies[i]!),
        );
        disagreement =
          kind === -1
            ? undefined
            : `${IPC_KINDS[kind]}: list() ${JSON.stringify(sort(after[kind]!))}, ipcs ${JSON.stringify(fromIpcs[kind])}, ` +
              `ipcs -u ${summary(totals, tallies[kind]!)}`;
      }
      if (snapshots === 0 || disagreement !== undefined) {
        // Outside the suite's own IPC namespace (npm run test:busy), another program may never hold still
        // for the length of four ipcs runs; inside it only the suite's own tests make objects, and they pause.
        const ownNamespace = process.env.UNIPC_TEST_NAMESPACE === 'inside';
        const detail = snapshots === 0 ? 'no snapshot held still while ipcs ran' : disagreement!;
        if (ownNamespace)
          assert.fail(`list() and ipcs show the same objects, and the kernel the same count: ${detail}`);
        t.diagnostic(`totals not compared on a machine that did not hold still (${snapshots} snapshots): ${detail}`);
      }
    } finally {
      quietly(() => queue.remove());
      quietly(() => set.remove());
      quietly(() => segment.remove());
    }
  });

  test('POSIX queues are listed from a mounted mqueue filesystem, and otherwise said to be unlisted', {
    skip:
      !(isRoot && canUnshareMount) &&
      'needs to make a mount namespace (root, and unshare(1) allowed) to mount mqueue privately',
  }, () => {
    const name = `/${uniqueIpcName('list')}`;
    using dir = tempDir('mq-');
    const hasMount = fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(' - mqueue ');
    if (!hasMount)
      assert.match(unlistedTypes().find((u) => u.type === 'posix-queue')!.reason, /no mqueue filesystem is mounted/);
    try {
      using queue = PosixQueue.open(name, { create: true, exclusive: true, maxMessages: 4, messageSize: 64 });
      queue.sendSync('hello');
      // The mount lives only in the child's mount namespace; the queue is in the IPC namespace both share.
      const script = `import { list } from ${JSON.stringify(pathToFileURL(path.join(root, 'src', 'index.ts')).href)};
        console.log(JSON.stringify(list({ type: 'posix-queue', staleness: true }).filter((q) => q.name === ${JSON.stringify(name)})));`;
      const child = runWithMqueueMount(dir.path, script);
      assert.equal(child.status, 0, child.stderr);
      const [record] = JSON.parse(child.stdout) as PosixQueueRecord[];
      assert.ok(record, 'the queue is listed');
      assert.deepEqual(
        {
          path: record.path,
          mode: record.mode,
          bytes: record.bytes,
          messages: record.messages,
          maxMessages: record.maxMessages,
          messageSize: record.messageSize,
        },
        {
          path: path.join(dir.path, name.slice(1)),
          mode: 0o600,
          bytes: 5,
          messages: 1,
          maxMessages: 4,
          messageSize: 64,
        },
      );
      assert.equal(record.staleness!.stale, false);
    } finally {
      quietly(() => PosixQueue.unlink(name));
    }
  });

  test('a POSIX queue unlinked while list() reads the mount hides none of the others', {
    skip:
      !(isRoot && canUnshareMount) &&
      'needs to make a mount namespace (root, and unshare(1) allowed) to mount mqueue privately',
  }, async () => {
    // Another program's queue can go between readdir() and mq_open(); that once read as "the mount belongs
    // to another IPC namespace", and list() then showed no POSIX queue at all.
    const name = `/${uniqueIpcName('list-kept')}`;
    const churned = `/${uniqueIpcName('list-churned')}`;
    const index = JSON.stringify(pathToFileURL(path.join(root, 'src', 'index.ts')).href);
    using dir = tempDir('mq-');
    const churn = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { PosixQueue } from ${index};
       console.log('ready');
       for (let i = 0; ; i++) {
         const name = ${JSON.stringify(churned)} + '-' + (i % 8);
         PosixQueue.open(name, { create: true, maxMessages: 2, messageSize: 16 }).close();
         PosixQueue.unlink(name);
         if (i % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
       }`,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      using _queue = PosixQueue.open(name, { create: true, exclusive: true, maxMessages: 2, messageSize: 16 });
      await lineFrom(churn, 'ready');
      const script = `import { list } from ${index};
        let missed = 0;
        for (let round = 0; round < 400; round++)
          if (!list({ type: 'posix-queue' }).some((q) => q.name === ${JSON.stringify(name)})) missed++;
        console.log(JSON.stringify({ missed }));`;
      const child = runWithMqueueMount(dir.path, script);
      assert.equal(child.status, 0, child.stderr);
      assert.deepEqual(JSON.parse(child.stdout), { missed: 0 });
    } finally {
      const ended = finished(churn);
      churn.kill('SIGKILL');
      await ended;
      quietly(() => PosixQueue.unlink(name));
      for (let i = 0; i < 8; i++) quietly(() => PosixQueue.unlink(`${churned}-${i}`));
    }
  });

  test('validates its options', () => {
    assert.throws(() => list({ type: 'sysv' as IpcObjectType }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => list({ type: ['sysv-shm', 'nope' as IpcObjectType] }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /options\.type\[1\]/,
    });
    assert.throws(() => list({ mine: 1 as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => list('all' as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => remove({ type: 'sysv-shm' } as never), { code: 'ERR_INVALID_ARG_TYPE', message: /object\.id/ });
    assert.throws(() => remove({ type: 'posix-shm', name: '/x', path: 1 } as never), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: /object\.path/,
    });
    assert.throws(() => removeStale({} as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.deepEqual(removeStale([]), []);
  });
});

const IPC_KINDS: IpcObjectType[] = ['sysv-queue', 'sysv-semaphores', 'sysv-shm'];

function stalenessOf(names: {
  shm: string;
  sem: string;
  sysvId: number;
}): Record<string, { stale: boolean; reason: string }> {
  const records = scoped(names, true);
  return Object.fromEntries(records.map((o) => [o.type, o.staleness!]));
}

// This test's three objects, and nothing else on the machine.
function scoped(names: { shm: string; sem: string; sysvId: number }, staleness = false): IpcObject[] {
  return list({ type: ['sysv-shm', 'posix-shm', 'posix-semaphore'], staleness }).filter((o) =>
    o.type === 'sysv-shm'
      ? o.id === names.sysvId
      : 'name' in o && (o.type === 'posix-shm' ? o.name === names.shm : o.name === names.sem),
  );
}

async function killed(child: ChildProcess): Promise<void> {
  const done = finished(child);
  child.kill('SIGKILL');
  assert.equal((await done).signal, 'SIGKILL');
}

describe('staleness and removeStale()', () => {
  test('a creator killed with SIGKILL leaves stale objects only once nothing holds them; removeStale() removes just those', async () => {
    const names = { shm: `/${uniqueIpcName('stale')}`, sem: `/${uniqueIpcName('stale')}`, sysvId: -1 };
    const creator = spawnPeer('ipc-holder', ['create', names.shm, names.sem]);
    let holder: ChildProcess | undefined;
    try {
      const { pid, sysvId } = JSON.parse(await lineFrom(creator, 'sysvId'));
      names.sysvId = sysvId;
      assert.deepEqual(stalenessOf(names), {
        'sysv-shm': { stale: false, reason: 'attached 1 time' },
        'posix-shm': { stale: false, reason: `creator pid ${pid} is running` },
        'posix-semaphore': { stale: false, reason: `creator pid ${pid} is running` },
      });
      await killed(creator);

      // Another process holds all three: not stale, and removeStale() keeps them.
      holder = spawnPeer('ipc-holder', ['hold', names.shm, names.sem, String(sysvId)]);
      const { pid: holderPid } = JSON.parse(await lineFrom(holder, 'sysvId'));
      const held = stalenessOf(names);
      assert.deepEqual(held['sysv-shm'], { stale: false, reason: 'attached 1 time' });
      assert.deepEqual(held['posix-shm'], {
        stale: false,
        reason: 'open or mapped by a process (the kernel refused a lease)',
      });
      assert.deepEqual(held['posix-semaphore'], held['posix-shm']);
      const kept = removeStale(scoped(names));
      assert.deepEqual(
        kept.map((r) => r.removed),
        [false, false, false],
      );
      assert.equal(scoped(names).length, 3);

      // The holder lets go and exits: its pid was the last to attach, and it is gone too.
      const done = finished(holder);
      holder.stdin!.end();
      assert.equal((await done).code, 0);
      const verdicts = stalenessOf(names);
      assert.deepEqual(verdicts['sysv-shm'], {
        stale: true,
        reason: `creator pid ${pid} is gone, nothing attached (last attached/detached by pid ${holderPid}, gone)`,
      });
      assert.deepEqual(verdicts['posix-shm'], {
        stale: true,
        reason: `creator pid ${pid} is gone, and no process has it open or mapped`,
      });
      assert.deepEqual(verdicts['posix-semaphore'], verdicts['posix-shm']);
      const removed = removeStale(scoped(names));
      assert.deepEqual(
        removed.map((r) => [r.object.type, r.removed]),
        [
          ['sysv-shm', true],
          ['posix-shm', true],
          ['posix-semaphore', true],
        ],
      );
      assert.deepEqual(scoped(names), []);
      assert.deepEqual(
        removeStale(removed.map((r) => r.object)).map((r) => r.reason),
        ['gone already', 'gone already', 'gone already'],
      );
    } finally {
      creator.kill('SIGKILL');
      holder?.kill('SIGKILL');
      quietly(() => SharedMemory.unlink(names.shm));
      quietly(() => NamedSemaphore.unlink(names.sem));
      if (names.sysvId >= 0) quietly(() => new SysvSharedMemory(names.sysvId, IPC_PRIVATE).remove());
    }
  });

  test('semaphore sets and queues are never provably stale, nor what this process created and holds', () => {
    const set = SemaphoreSet.get(IPC_PRIVATE, { create: true, count: 1 });
    const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { create: true, size: 4096 });
    try {
      const records = list({ type: ['sysv-semaphores', 'sysv-queue', 'sysv-shm'], staleness: true }).filter((o) =>
        o.type === 'sysv-semaphores'
          ? o.id === set.id
          : o.type === 'sysv-queue'
            ? o.id === queue.id
            : (o as SysvShmRecord).id === segment.id,
      );
      assert.equal(records.length, 3);
      for (const record of records)
        assert.equal(record.staleness!.stale, false, `${record.type}: ${record.staleness!.reason}`);
      assert.match(
        records.find((r) => r.type === 'sysv-shm')!.staleness!.reason,
        new RegExp(`creator pid ${process.pid} is running`),
      );
      assert.deepEqual(
        removeStale(records).map((r) => r.removed),
        [false, false, false],
      );
      assert.equal(set.stat().count, 1, 'the set is still there');
    } finally {
      quietly(() => set.remove());
      quietly(() => queue.remove());
      quietly(() => segment.remove());
    }
  });
});

describe('remove()', () => {
  test('removes by record, and refuses a record whose name or id now names another object', () => {
    const name = `/${uniqueIpcName('rm')}`;
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { create: true, size: 4096 });
    try {
      SharedMemory.open(name, { create: true, exclusive: true, size: 1 }).close();
      const old = find<PosixShmRecord>('posix-shm', byName(name))!;
      // The name is taken over by a new object: the old record must not remove it.
      SharedMemory.unlink(name);
      SharedMemory.open(name, { create: true, exclusive: true, size: 2 }).close();
      assert.throws(() => remove(old), {
        name: 'IpcError',
        code: 'ENOENT',
        syscall: 'shm_unlink',
        message: /now belongs to another object/,
      });
      assert.equal(find<PosixShmRecord>('posix-shm', byName(name))!.size, 2);
      remove(find<PosixShmRecord>('posix-shm', byName(name))!);
      assert.equal(find<PosixShmRecord>('posix-shm', byName(name)), undefined);
      assert.throws(() => remove(old), { code: 'ENOENT' });

      const record = find<SysvShmRecord>('sysv-shm', byId(segment.id))!;
      remove(record);
      assert.equal(find<SysvShmRecord>('sysv-shm', byId(segment.id)), undefined);
      assert.throws(() => remove(record), { name: 'IpcError', code: 'EINVAL', syscall: 'shmctl' });
    } finally {
      quietly(() => SharedMemory.unlink(name));
      quietly(() => segment.remove());
    }
  });

  test('names chosen to hurt: control characters, bytes that are not UTF-8, an empty sem.* file, and what is no object', () => {
    const base = uniqueIpcName('hostile');
    const raw = (suffix: Buffer | string) => Buffer.concat([Buffer.from(`/dev/shm/${base}`), Buffer.from(suffix)]);
    const escapeSequence = raw('-\u001b[31mred\nfake line');
    const notUtf8 = raw(Buffer.from([0x2d, 0xff, 0xfe, 0x80]));
    const emptySemaphore = Buffer.from(`/dev/shm/sem.${base}-empty`);
    const fifo = raw('-fifo');
    const link = raw('-link');
    const directory = raw('-dir');
    const made = [escapeSequence, notUtf8, emptySemaphore, fifo, link, directory];
    try {
      fs.writeFileSync(escapeSequence, 'x');
      fs.writeFileSync(notUtf8, 'xy');
      fs.writeFileSync(emptySemaphore, '');
      spawnSync('mkfifo', [fifo.toString('latin1')]);
      fs.symlinkSync('/etc/passwd', link);
      fs.mkdirSync(directory);

      const ours = list({ type: ['posix-shm', 'posix-semaphore'], staleness: true }).filter((o) =>
        (o as PosixShmRecord).name.includes(base),
      ) as Array<PosixShmRecord | PosixSemaphoreRecord>;
      assert.deepEqual(ours.map((o) => [o.type, o.name, o.size]).sort(), [
        ['posix-semaphore', `/${base}-empty`, 0],
        ['posix-shm', `/${base}-\u001b[31mred\nfake line`, 1],
        ['posix-shm', `/${base}-\ufffd\ufffd\ufffd`, 2],
      ]);
      for (const object of ours) assert.equal(object.staleness!.stale, false);
      // The record of the name that is not UTF-8 still removes exactly that file.
      remove(ours.find((o) => o.name.includes('\ufffd'))!);
      assert.equal(fs.existsSync(notUtf8), false);
      remove(ours.find((o) => o.name.includes('fake line'))!);
      assert.equal(fs.existsSync(escapeSequence), false);
      remove(ours.find((o) => o.type === 'posix-semaphore')!);
      assert.equal(fs.existsSync(emptySemaphore), false);
      assert.ok(
        fs.lstatSync(fifo).isFIFO() && fs.lstatSync(link).isSymbolicLink() && fs.lstatSync(directory).isDirectory(),
        'what is no IPC object is left alone',
      );
    } finally {
      for (const file of made) fs.rmSync(file, { recursive: true, force: true });
    }
  });
});
