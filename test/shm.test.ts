import assert from 'node:assert/strict';
import { spawn as spawnRaw } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import {
  ftok,
  IPC_PRIVATE,
  type IpcError,
  MemoryFile,
  PAGE_SIZE,
  SharedMemory,
  SysvSharedMemory,
} from '../src/index.js';
import { finished, ftokAnchor, runTs, spawnPeer, tempDir, uniqueIpcName } from './helpers.js';

const unique = (what: string) => uniqueIpcName(`test-${what}`);

describe('POSIX shared memory', () => {
  test('map() of an object still empty names the object and asks for a size, not for map() options', () => {
    const name = `/${unique('empty')}`;
    using memory = SharedMemory.open(name, { create: true, exclusive: true });
    try {
      assert.throws(() => memory.map(), {
        code: 'ERR_INVALID_STATE',
        message: new RegExp(`map\\(\\): '${name}' is empty \\(size 0\\): give it a size first`),
      });
    } finally {
      SharedMemory.unlink(name);
    }
  });

  test('two processes share an object by name; it is created 0o600 and sized with ftruncate', async () => {
    const name = unique('posix');
    using memory = SharedMemory.open(name, { create: true, exclusive: true, size: PAGE_SIZE });
    try {
      assert.equal(memory.name, `/${name}`);
      assert.equal(memory.size, PAGE_SIZE);
      assert.equal(fs.statSync(`/dev/shm/${name}`).mode & 0o777, 0o600);
      using mapping = memory.map();
      Buffer.from(mapping.buffer).write('parent');
      const child = spawnPeer('shared-memory', ['posix', name, 'child']);
      const { code, stdout } = await finished(child);
      assert.equal(code, 0);
      assert.deepEqual(JSON.parse(stdout), { pid: child.pid, seen: 'parent', length: PAGE_SIZE });
      assert.equal(Buffer.from(mapping.buffer, 0, 6).toString(), 'childt', "the child's 'child' over 'parent'");
    } finally {
      SharedMemory.unlink(name);
    }
  });

  test('create, exclusive, truncate, readOnly and unlink map to O_CREAT, O_EXCL, O_TRUNC, O_RDONLY, shm_unlink', () => {
    const name = unique('flags');
    assert.throws(
      () => SharedMemory.open(name),
      (error: IpcError) => {
        assert.equal(error.code, 'ENOENT');
        assert.equal(error.syscall, 'shm_open');
        assert.equal(error.objectName, `/${name}`);
        assert.equal(error.message, `ENOENT: no such file or directory, shm_open '/${name}'`);
        return true;
      },
    );
    const created = SharedMemory.open(`/${name}`, { create: true, size: 100, mode: 0o640 });
    try {
      assert.equal(fs.statSync(`/dev/shm/${name}`).mode & 0o777, 0o640 & ~process.umask());
      assert.throws(() => SharedMemory.open(name, { create: true, exclusive: true }), { code: 'EEXIST' });
      using again = SharedMemory.open(name, { create: true }); // without exclusive: opens the existing one
      assert.equal(again.size, 100);
      using emptied = SharedMemory.open(name, { truncate: true });
      assert.equal(emptied.size, 0);
      emptied.resize(PAGE_SIZE);
      using reader = SharedMemory.open(name, { readOnly: true });
      using view = reader.map();
      assert.equal(view.writable, false);
      new Uint8Array(view.buffer)[0] = 1; // no crash: a private copy of the page
      assert.equal(view.faultedPages, 1);
      assert.throws(() => reader.map({ prot: 'rw' }), { code: 'EACCES', syscall: 'mmap' });
      assert.throws(() => reader.resize(1), { code: 'EINVAL', syscall: 'ftruncate' });
    } finally {
      created.close();
      SharedMemory.unlink(name);
    }
    assert.equal(fs.existsSync(`/dev/shm/${name}`), false);
    assert.throws(() => SharedMemory.unlink(name), { code: 'ENOENT', syscall: 'shm_unlink' });
  });

  test('an object this call created, exclusively or not, is not left behind when sizing it fails', async () => {
    const peer = new URL('./peers/shm-oversize.ts', import.meta.url).pathname;
    for (const how of ['exclusive', 'plain']) {
      const name = unique(`oversize-${how}`);
      const child = spawnRaw(
        'bash',
        ['-c', `trap '' XFSZ; ulimit -f 100; exec "$@"`, 'bash', process.execPath, ...runTs(peer), name, how],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const { code, stdout } = await finished(child);
      assert.equal(code, 0);
      assert.deepEqual(JSON.parse(stdout), { code: 'EFBIG', leftBehind: false }, how);
    }
  });

  test('names the kernel would see differently are refused: a lone surrogate would become U+FFFD', () => {
    assert.throws(() => SharedMemory.open('x\uD800', { create: true }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /well-formed/,
    });
    assert.throws(() => SharedMemory.unlink('\uDC00x'), { code: 'ERR_INVALID_ARG_VALUE' });
  });

  test('reserve allocates the memory up front (so a full /dev/shm fails here, not at a write)', () => {
    const name = unique('reserve');
    using lazy = SharedMemory.open(name, { create: true, exclusive: true, size: 1024 * 1024 });
    assert.equal(fs.statSync(`/dev/shm/${name}`).blocks, 0, 'ftruncate alone allocates nothing');
    lazy.close();
    SharedMemory.unlink(name);
    using reserved = SharedMemory.open(name, { create: true, exclusive: true, size: 1024 * 1024, reserve: true });
    try {
      assert.equal(reserved.size, 1024 * 1024);
      assert.ok(fs.statSync(`/dev/shm/${name}`).blocks * 512 >= 1024 * 1024);
    } finally {
      SharedMemory.unlink(name);
    }
    using file = MemoryFile.create('test-reserve', { size: 65536, reserve: true });
    assert.ok(fs.statSync(`/proc/self/fd/${file.fd}`).blocks * 512 >= 65536); // Deno's fs.fstatSync takes its own ids
  });

  test('after unlink the name is gone, but existing mappings keep working', () => {
    const name = unique('unlinked');
    using memory = SharedMemory.open(name, { create: true, size: PAGE_SIZE });
    using mapping = memory.map();
    SharedMemory.unlink(name);
    assert.throws(() => SharedMemory.open(name), { code: 'ENOENT' });
    new Uint8Array(mapping.buffer)[0] = 5;
    assert.equal(new Uint8Array(mapping.buffer)[0], 5);
  });

  test('two processes add to one counter in POSIX shared memory with Atomics: exact total', async () => {
    const name = unique('counter');
    using memory = SharedMemory.open(name, { create: true, exclusive: true, size: PAGE_SIZE });
    try {
      using mapping = memory.map();
      const children = [0, 1].map(() => spawnPeer('atomic-counter', ['500000', 'shm', name]));
      assert.deepEqual(
        (await Promise.all(children.map(finished))).map((r) => r.code),
        [0, 0],
      );
      assert.equal(Atomics.load(new Int32Array(mapping.buffer), 0), 1_000_000);
    } finally {
      SharedMemory.unlink(name);
    }
  });
});

describe('System V shared memory', () => {
  test('a private segment attached by two processes; stat() names every shmid_ds field', async () => {
    const before = Math.floor(Date.now() / 1000);
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: 10_000, create: true });
    try {
      const created = segment.stat();
      assert.equal(created.key, 0);
      assert.equal(created.id, segment.id);
      assert.equal(created.size, 10_000);
      assert.equal(created.mode, 0o600);
      assert.equal(created.uid, process.getuid!());
      assert.equal(created.gid, process.getgid!());
      assert.equal(created.creatorUid, process.getuid!());
      assert.equal(created.creatorGid, process.getgid!());
      assert.equal(created.creatorPid, process.pid);
      assert.equal(created.attachments, 0);
      assert.equal(created.lastAttach, null);
      assert.equal(created.lastDetach, null);
      assert.ok(created.lastChange instanceof Date && created.lastChange.getTime() / 1000 >= before - 1);
      assert.equal(created.markedForRemoval, false);
      assert.equal(created.locked, false);
      assert.equal(typeof created.sequence, 'number');

      using mapping = segment.attach();
      assert.equal(mapping.length, 10_000);
      assert.equal(segment.stat().attachments, 1);
      Buffer.from(mapping.buffer).write('parent');
      const child = spawnPeer('shared-memory', ['sysv', String(segment.id), 'child!']);
      const { code, stdout } = await finished(child);
      assert.equal(code, 0);
      assert.equal(JSON.parse(stdout).seen, 'parent');
      assert.equal(Buffer.from(mapping.buffer, 0, 6).toString(), 'child!');
      const after = segment.stat();
      assert.equal(after.lastPid, child.pid, 'the child detached last');
      assert.ok(after.lastAttach instanceof Date);
      assert.ok(after.lastDetach instanceof Date);
      assert.equal(after.attachments, 1);
    } finally {
      segment.remove();
    }
  });

  test('keys from ftok; create, exclusive and permissions; set() changes the mode', () => {
    using dir = tempDir();
    const anchor = ftokAnchor(dir.path, [42]);
    const key = ftok(anchor, 42);
    assert.ok(key > 0 && key <= 0xffffffff);
    assert.equal(ftok(anchor, 42), key, 'the same file and project give the same key');
    assert.notEqual(ftok(anchor, 43), key);
    assert.throws(() => ftok(dir.file('absent'), 1), { code: 'ENOENT', syscall: 'ftok' });
    assert.throws(
      () => SysvSharedMemory.get(key),
      (error: IpcError) => {
        assert.equal(error.code, 'ENOENT');
        assert.equal(error.syscall, 'shmget');
        assert.equal(error.key, key);
        assert.match(error.message, new RegExp(`shmget key 0x${key.toString(16).padStart(8, '0')}$`));
        return true;
      },
    );
    const segment = SysvSharedMemory.get(key, { size: PAGE_SIZE, create: true, exclusive: true, mode: 0o640 });
    try {
      assert.equal(segment.key, key);
      assert.equal(segment.stat().key, key);
      assert.equal(segment.stat().mode, 0o640);
      assert.throws(() => SysvSharedMemory.get(key, { size: PAGE_SIZE, create: true, exclusive: true }), {
        code: 'EEXIST',
      });
      assert.equal(SysvSharedMemory.get(key).id, segment.id, 'opening by key finds it');
      assert.throws(() => SysvSharedMemory.get(key, { size: PAGE_SIZE * 2 }), { code: 'EINVAL' }, 'more than it has');
    } finally {
      segment.set({ mode: 0o600 });
      assert.equal(segment.stat().mode, 0o600);
      assert.equal(SysvSharedMemory.fromId(segment.id).key, key);
      segment.remove();
    }
  });

  test('IPC_PRIVATE always makes a new segment, so it needs create', () => {
    assert.throws(() => SysvSharedMemory.get(IPC_PRIVATE, { size: 100 }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /IPC_PRIVATE/,
    });
    assert.throws(() => SysvSharedMemory.get(IPC_PRIVATE, { create: true }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /size/,
    });
  });

  test('remove(): the key is freed at once; attachments work until the last is detached', () => {
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: PAGE_SIZE, create: true });
    const first = segment.attach();
    const second = segment.attach({ readOnly: true });
    new Uint8Array(first.buffer)[0] = 9;
    segment.remove();
    const stat = segment.stat();
    assert.equal(stat.markedForRemoval, true);
    assert.equal(stat.attachments, 2);
    assert.equal(new Uint8Array(second.buffer)[0], 9, 'still attached, still shared');
    new Uint8Array(second.buffer)[0] = 1; // read-only attachment: a private page, no crash
    assert.equal(second.faultedPages, 1);
    assert.equal(new Uint8Array(first.buffer)[0], 9);
    first.detach();
    second.detach();
    assert.throws(
      () => segment.stat(),
      (error: IpcError) => ['EINVAL', 'EIDRM'].includes(error.code),
    );
    assert.throws(
      () => segment.attach(),
      (error: IpcError) => ['EINVAL', 'EIDRM'].includes(error.code),
    );
  });
});
