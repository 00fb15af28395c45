// Shared memory between unipc and other programs, byte for byte: POSIX objects with Python's
// multiprocessing.shared_memory and with C (shm_open + ftruncate + mmap), System V segments with C
// (shmget/shmat), util-linux's ipcs/ipcrm/ipcmk, and ftok() as C computes it. Every peer is a real process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ftok, IPC_PRIVATE, IpcError, PAGE_SIZE, SharedMemory, SysvSharedMemory } from '../src/index.js';
import { compilePeer, ftokAnchor, quietly, root, tempDir, testKey, uniqueIpcName } from './helpers.js';

const pythonPeer = path.join(root, 'test', 'peers', 'shm.py');

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
  pid: number;
}

/** Runs a program to its end, feeding it `input` on stdin; the C locale keeps util-linux's output stable. */
function run(command: string, args: string[], input: Uint8Array = Buffer.alloc(0)): Ran {
  const result = spawnSync(command, args, {
    input,
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, pid: result.pid };
}

/** run(), asserting that it exited with 0. */
function runOk(command: string, args: string[], input?: Uint8Array): Ran {
  const ran = run(command, args, input);
  assert.equal(ran.status, 0, `${path.basename(command)} ${args.join(' ')} exited with ${ran.status}: ${ran.stderr}`);
  return ran;
}

/** The Python peer, which must succeed without a word on stderr (no resource_tracker warning). */
function python(args: string[], input?: Uint8Array): Ran {
  const ran = runOk('python3', [pythonPeer, ...args], input);
  assert.equal(ran.stderr, '', 'the Python peer warned');
  return ran;
}

/** Compares bytes and, when they differ, says where rather than printing two long buffers. */
function sameBytes(actual: Uint8Array | ArrayBuffer, expected: Uint8Array, what = 'bytes'): void {
  const a = actual instanceof ArrayBuffer ? new Uint8Array(actual) : actual;
  assert.equal(a.length, expected.length, `${what}: length`);
  const at = a.findIndex((byte, i) => byte !== expected[i]);
  assert.equal(at, -1, `${what}: first difference at offset ${at}`);
}

function fromHex(hex: string): Buffer {
  assert.match(hex, /^(?:[0-9a-f]{2})*$/);
  return Buffer.from(hex, 'hex');
}

const uniqueName = (): string => uniqueIpcName('interop');

/** A random System V key of this run, not IPC_PRIVATE; with `highBit`, one that is negative as a C key_t. */
const randomKey = (highBit: boolean): number => testKey({ highBit });

function isCode(error: unknown, ...codes: string[]): boolean {
  return error instanceof IpcError && codes.includes(error.code);
}

/** The process umask, from /proc (process.umask() without an argument is deprecated). */
function umask(): number {
  const line = fs
    .readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Umask:'));
  assert.ok(line, 'Umask in /proc/self/status');
  return parseInt(line.split(/\s+/)[1]!, 8);
}

// ---- cleanup that never masks the test's own failure ------------------------------------------------

const unlinkQuietly = (name: string): void => quietly(() => SharedMemory.unlink(name));

function removeQuietly(id: number): void {
  if (id < 0) return;
  try {
    SysvSharedMemory.fromId(id).remove();
  } catch (error) {
    if (!isCode(error, 'EINVAL', 'EIDRM')) throw error;
  }
}

// ---- ipcs -m -------------------------------------------------------------------------------------

interface IpcsRow {
  key: number;
  id: number;
  owner: string;
  perms: number;
  bytes: number;
  nattch: number;
  status: string;
}

/** `ipcs -m`, by segment id. */
function ipcsShm(): Map<number, IpcsRow> {
  const rows = new Map<number, IpcsRow>();
  for (const line of runOk('ipcs', ['-m']).stdout.split('\n')) {
    const match = /^(0x[0-9a-f]+)\s+(\d+)\s+(\S+)\s+([0-7]+)\s+(\d+)\s+(\d+)\s*(.*)$/.exec(line.trim());
    if (match === null) continue;
    const [, key, id, owner, perms, bytes, nattch, status] = match;
    rows.set(Number(id), {
      key: parseInt(key!, 16),
      id: Number(id),
      owner: owner!,
      perms: parseInt(perms!, 8),
      bytes: Number(bytes),
      nattch: Number(nattch),
      status: status!.trim(),
    });
  }
  return rows;
}

function ipcsRow(id: number): IpcsRow {
  const row = ipcsShm().get(id);
  assert.ok(row, `ipcs -m lists segment ${id}`);
  return row;
}

// ---- POSIX shared memory -------------------------------------------------------------------------

describe('POSIX shared memory ↔ Python multiprocessing.shared_memory', () => {
  test('an object Python creates and fills opens in unipc with the same bytes', () => {
    const name = uniqueName();
    const data = randomBytes(10_000); // not a multiple of the page size
    try {
      const made = JSON.parse(python(['create', name, String(data.length)], data).stdout);
      assert.deepEqual(made, { name, size: data.length });
      // Python has exited; its resource tracker did not take the object with it.
      assert.ok(fs.existsSync(`/dev/shm/${name}`), 'the object outlives the Python process');
      {
        using memory = SharedMemory.open(name);
        assert.equal(memory.name, `/${name}`);
        assert.equal(memory.size, data.length);
        using mapping = memory.map();
        assert.equal(mapping.length, data.length);
        assert.equal(mapping.writable, true);
        assert.equal(mapping.shared, true);
        sameBytes(mapping.buffer, data);
      }
      {
        using memory = SharedMemory.open(`/${name}`, { readOnly: true });
        using mapping = memory.map();
        assert.equal(mapping.writable, false);
        sameBytes(mapping.buffer, data);
        // A write through the read-only mapping stays in this process: Python still reads the original.
        const view = new Uint8Array(mapping.buffer);
        view[PAGE_SIZE + 1] = data[PAGE_SIZE + 1]! ^ 0xff;
        assert.equal(view[PAGE_SIZE + 1], data[PAGE_SIZE + 1]! ^ 0xff);
        // The chunk around the write (up to 1 MiB; here the whole small object) became private.
        assert.equal(mapping.faultedPages, Math.ceil(mapping.length / PAGE_SIZE));
        sameBytes(
          fromHex(JSON.parse(python(['read', name]).stdout).hex),
          data,
          'what Python read after the private write',
        );
      }
      SharedMemory.unlink(name);
      assert.equal(fs.existsSync(`/dev/shm/${name}`), false);
      const gone = run('python3', [pythonPeer, 'read', name]);
      assert.notEqual(gone.status, 0);
      assert.match(gone.stderr, /FileNotFoundError/);
    } finally {
      unlinkQuietly(name);
    }
  });

  test('an object unipc creates and writes is read by a Python child; Python writes reach the live mapping', () => {
    const name = uniqueName();
    const size = 3 * PAGE_SIZE + 123;
    const data = randomBytes(size);
    try {
      using memory = SharedMemory.open(`/${name}`, { create: true, exclusive: true, size });
      using mapping = memory.map();
      new Uint8Array(mapping.buffer).set(data);

      const seen = JSON.parse(python(['read', name]).stdout);
      assert.equal(seen.name, name);
      assert.equal(seen.size, size);
      sameBytes(fromHex(seen.hex), data, 'what Python read');
      assert.ok(fs.existsSync(`/dev/shm/${name}`), 'attaching from Python did not unlink it');

      // Python writes across a page boundary while unipc has the object mapped: the change shows at once.
      const patch = randomBytes(200);
      const offset = PAGE_SIZE - 100;
      python(['write', name, String(offset)], patch);
      patch.copy(data, offset);
      sameBytes(mapping.buffer, data, 'the mapping after Python wrote');

      // The name is taken, for unipc and for Python.
      assert.throws(() => SharedMemory.open(name, { create: true, exclusive: true, size: 1 }), {
        code: 'EEXIST',
        syscall: 'shm_open',
        objectName: `/${name}`,
      });
      const again = run('python3', [pythonPeer, 'create', name, '10']);
      assert.notEqual(again.status, 0);
      assert.match(again.stderr, /FileExistsError/);
      sameBytes(mapping.buffer, data, 'the mapping after the refused creations');
    } finally {
      unlinkQuietly(name);
    }
  });
});

describe('POSIX shared memory ↔ C (shm_open, ftruncate, mmap)', () => {
  test('an object a C program creates and writes opens in unipc; writes go both ways through live mappings', () => {
    const program = compilePeer('shm_posix');
    const name = `/${uniqueName()}`;
    const size = 2 * PAGE_SIZE + 5;
    const data = randomBytes(size);
    try {
      assert.deepEqual(JSON.parse(runOk(program, ['create', name, String(size)], data).stdout), { size });
      assert.equal(fs.statSync(`/dev/shm${name}`).mode & 0o777, 0o600);

      using memory = SharedMemory.open(name);
      assert.equal(memory.size, size);
      using mapping = memory.map();
      assert.equal(mapping.length, size);
      sameBytes(mapping.buffer, data);

      // C writes into the object while unipc has it mapped.
      const patch = randomBytes(64);
      runOk(program, ['write', name, String(PAGE_SIZE - 32)], patch);
      patch.copy(data, PAGE_SIZE - 32);
      sameBytes(mapping.buffer, data, 'the mapping after C wrote');

      // unipc writes through its mapping; C maps the object afresh and reads it.
      const mine = randomBytes(size);
      new Uint8Array(mapping.buffer).set(mine);
      const seen = JSON.parse(runOk(program, ['read', name]).stdout);
      assert.equal(seen.size, size);
      sameBytes(fromHex(seen.hex), mine, 'what C read');
    } finally {
      unlinkQuietly(name);
    }
  });

  test('an object unipc creates is read by C with its size and mode; resize and unlink are seen by C', () => {
    const program = compilePeer('shm_posix');
    const name = uniqueName();
    const size = 5000;
    const data = randomBytes(size);
    try {
      using memory = SharedMemory.open(name, { create: true, exclusive: true, size, mode: 0o640 });
      using mapping = memory.map();
      new Uint8Array(mapping.buffer).set(data);

      const seen = JSON.parse(runOk(program, ['read', `/${name}`]).stdout);
      assert.equal(seen.size, size);
      assert.equal(seen.mode, 0o640 & ~umask());
      sameBytes(fromHex(seen.hex), data, 'what C read');

      // C's exclusive creation of the same name fails with EEXIST (exit code 3).
      assert.equal(run(program, ['create', `/${name}`, '10']).status, 3);

      // Growing it in unipc: C sees the new size, the old bytes, and zeros after them.
      memory.resize(size + PAGE_SIZE);
      const grown = JSON.parse(runOk(program, ['read', `/${name}`]).stdout);
      assert.equal(grown.size, size + PAGE_SIZE);
      sameBytes(fromHex(grown.hex), Buffer.concat([data, Buffer.alloc(PAGE_SIZE)]), 'what C read after the resize');
      assert.equal(mapping.length, size, 'an existing mapping keeps its length');

      // Once unlinked, C cannot open it by name (exit code 4, ENOENT), while unipc's descriptor and mapping still work.
      SharedMemory.unlink(name);
      assert.equal(run(program, ['read', `/${name}`]).status, 4);
      assert.equal(memory.size, size + PAGE_SIZE);
      sameBytes(mapping.buffer, data, 'the mapping after unlink');
      assert.throws(() => SharedMemory.unlink(name), { code: 'ENOENT', syscall: 'shm_unlink', objectName: `/${name}` });
      assert.throws(() => SharedMemory.open(name), { code: 'ENOENT', syscall: 'shm_open', objectName: `/${name}` });
    } finally {
      unlinkQuietly(name);
    }
  });
});

// ---- System V shared memory ----------------------------------------------------------------------

describe('System V shared memory ↔ C and util-linux', () => {
  test('a keyed segment C creates is listed by ipcs -m as stat() describes it, and unipc reads its bytes', () => {
    const program = compilePeer('shm_sysv');
    const key = randomKey(true); // negative as a C key_t
    const size = 3 * PAGE_SIZE + 77;
    const data = randomBytes(size);
    let id = -1;
    try {
      const created = runOk(program, ['create', `0x${key.toString(16)}`, String(size), '640'], data);
      const made = JSON.parse(created.stdout);
      id = made.id;
      assert.equal(made.key, key);

      const segment = SysvSharedMemory.get(key);
      assert.equal(segment.id, id);
      assert.equal(segment.key, key);
      assert.equal(SysvSharedMemory.get(key | 0).id, id, 'the same key given as a signed key_t');
      const stat = segment.stat();
      assert.equal(stat.key, key);
      assert.equal(stat.id, id);
      assert.equal(stat.mode, 0o640);
      assert.equal(stat.size, size);
      assert.equal(stat.attachments, 0);
      assert.equal(stat.markedForRemoval, false);
      assert.equal(stat.creatorPid, created.pid);
      assert.equal(stat.lastPid, created.pid, 'the C program attached and detached last');
      assert.equal(stat.uid, process.getuid!());
      assert.equal(stat.creatorUid, process.getuid!());
      assert.ok(stat.lastAttach instanceof Date && stat.lastDetach instanceof Date);

      const row = ipcsRow(id);
      assert.deepEqual(
        { key: row.key, perms: row.perms, bytes: row.bytes, nattch: row.nattch, status: row.status },
        { key: stat.key, perms: stat.mode, bytes: stat.size, nattch: stat.attachments, status: '' },
      );

      {
        using mapping = segment.attach();
        assert.equal(mapping.length, size);
        sameBytes(mapping.buffer, data);
        const attached = segment.stat();
        assert.equal(attached.attachments, 1);
        assert.equal(attached.lastPid, process.pid);
        assert.equal(ipcsRow(id).nattch, 1);
      }
      {
        using readOnly = segment.attach({ readOnly: true });
        assert.equal(readOnly.writable, false);
        sameBytes(readOnly.buffer, data, 'a read-only attachment');
        // A write through it becomes a private page of this process; C still reads the original bytes.
        const view = new Uint8Array(readOnly.buffer);
        view[PAGE_SIZE + 9] = data[PAGE_SIZE + 9]! ^ 0xff;
        assert.equal(view[PAGE_SIZE + 9], data[PAGE_SIZE + 9]! ^ 0xff);
        // The chunk around the write (up to 1 MiB; here the whole small segment) became private.
        assert.equal(readOnly.faultedPages, Math.ceil(readOnly.length / PAGE_SIZE));
        const seen = JSON.parse(runOk(program, ['read', String(id)]).stdout);
        sameBytes(fromHex(seen.hex), data, 'what C read after the private write');
      }
      assert.equal(segment.stat().attachments, 0, 'every attachment is gone after detach');
      assert.equal(ipcsRow(id).nattch, 0);

      segment.remove();
      assert.equal(ipcsShm().has(id), false, 'ipcs -m no longer lists it');
      assert.throws(() => SysvSharedMemory.get(key), { code: 'ENOENT', syscall: 'shmget', key });
      assert.throws(
        () => segment.stat(),
        (error) => isCode(error, 'EINVAL', 'EIDRM'),
      );
    } finally {
      removeQuietly(id);
    }
  });

  test('a private segment C creates is found by id (fromId), read and written by unipc, and read back by C', () => {
    const program = compilePeer('shm_sysv');
    const size = 600;
    const data = randomBytes(size);
    let id = -1;
    try {
      const made = JSON.parse(runOk(program, ['create', 'private', String(size), '600'], data).stdout);
      id = made.id;
      assert.equal(made.key, IPC_PRIVATE);
      assert.equal(ipcsRow(id).key, IPC_PRIVATE);

      const segment = SysvSharedMemory.fromId(id);
      assert.equal(segment.id, id);
      assert.equal(segment.key, IPC_PRIVATE);
      assert.equal(segment.stat().size, size);
      const mine = randomBytes(size);
      {
        using mapping = segment.attach();
        sameBytes(mapping.buffer, data);
        new Uint8Array(mapping.buffer).set(mine);
      }
      const seen = JSON.parse(runOk(program, ['read', String(id)]).stdout);
      assert.deepEqual(
        { id: seen.id, key: seen.key, size: seen.size, mode: seen.mode, nattch: seen.nattch },
        {
          id,
          key: IPC_PRIVATE,
          size,
          mode: 0o600,
          nattch: 1, // the C reader itself
        },
      );
      sameBytes(fromHex(seen.hex), mine, 'what C read');
      segment.remove();
      assert.equal(ipcsShm().has(id), false);
    } finally {
      removeQuietly(id);
    }
  });

  test('a keyed segment unipc creates is found by C through the key, and C writes reach the attachment', () => {
    const program = compilePeer('shm_sysv');
    const key = randomKey(false);
    const size = 10_000;
    const data = randomBytes(size);
    const segment = SysvSharedMemory.get(key, { create: true, exclusive: true, size, mode: 0o640 });
    try {
      using mapping = segment.attach();
      new Uint8Array(mapping.buffer).set(data);

      const seen = JSON.parse(runOk(program, ['readkey', String(key)]).stdout);
      assert.deepEqual(
        { id: seen.id, key: seen.key, size: seen.size, mode: seen.mode, nattch: seen.nattch },
        {
          id: segment.id,
          key,
          size,
          mode: 0o640,
          nattch: 2, // unipc and the C reader
        },
      );
      sameBytes(fromHex(seen.hex), data, 'what C read');
      const row = ipcsRow(segment.id);
      assert.deepEqual(
        { key: row.key, perms: row.perms, bytes: row.bytes, nattch: row.nattch },
        { key, perms: 0o640, bytes: size, nattch: 1 },
      );

      const patch = randomBytes(100);
      runOk(program, ['write', String(segment.id), String(PAGE_SIZE - 50)], patch);
      patch.copy(data, PAGE_SIZE - 50);
      sameBytes(mapping.buffer, data, 'the attachment after C wrote');

      // The key is taken, for C and for unipc.
      assert.equal(run(program, ['create', String(key), '16', '600']).status, 3);
      assert.throws(() => SysvSharedMemory.get(key, { create: true, exclusive: true, size: 16 }), {
        code: 'EEXIST',
        syscall: 'shmget',
        key,
      });
      // Without exclusive, get() with create opens the existing one.
      assert.equal(SysvSharedMemory.get(key, { create: true, size: 16 }).id, segment.id);

      // IPC_SET from unipc: ipcs and C see the new permission bits.
      segment.set({ mode: 0o604 });
      assert.equal(segment.stat().mode, 0o604);
      assert.equal(ipcsRow(segment.id).perms, 0o604);
      assert.equal(JSON.parse(runOk(program, ['read', String(segment.id)]).stdout).mode, 0o604);
    } finally {
      segment.remove();
    }
    assert.equal(ipcsShm().has(segment.id), false);
  });

  test('ipcrm -m of a segment unipc has attached: marked for removal, still usable, gone after detach', () => {
    const program = compilePeer('shm_sysv');
    const key = randomKey(true);
    const size = PAGE_SIZE;
    const segment = SysvSharedMemory.get(key, { create: true, exclusive: true, size });
    const id = segment.id;
    try {
      using mapping = segment.attach();
      const bytes = new Uint8Array(mapping.buffer);
      const data = randomBytes(size);
      bytes.set(data);

      runOk('ipcrm', ['-m', String(id)]);

      const stat = segment.stat();
      assert.equal(stat.markedForRemoval, true);
      assert.equal(stat.attachments, 1);
      assert.equal(stat.key, IPC_PRIVATE, 'the kernel takes the key away at once');
      const row = ipcsRow(id);
      assert.equal(row.key, IPC_PRIVATE);
      assert.equal(row.nattch, 1);
      assert.match(row.status, /\bdest\b/);
      assert.throws(() => SysvSharedMemory.get(key), { code: 'ENOENT', syscall: 'shmget', key });
      assert.equal(run(program, ['readkey', String(key)]).status, 4, 'C does not find the key either');

      // The attachment still reads and writes; Linux lets another process attach by id until the end.
      sameBytes(mapping.buffer, data, 'the attachment after ipcrm');
      const after = randomBytes(size);
      bytes.set(after);
      sameBytes(mapping.buffer, after, 'written after ipcrm');
      const seen = JSON.parse(runOk(program, ['read', String(id)]).stdout);
      assert.equal(seen.key, IPC_PRIVATE);
      assert.equal(seen.nattch, 2);
      sameBytes(fromHex(seen.hex), after, 'what C read after ipcrm');

      // The key is free again: a new segment can take it, and it is a different one.
      const successor = SysvSharedMemory.get(key, { create: true, exclusive: true, size: 16 });
      try {
        assert.notEqual(successor.id, id);
      } finally {
        successor.remove();
      }

      mapping.detach();
      assert.equal(mapping.closed, true);
      assert.equal(mapping.length, 0);
      assert.equal(bytes.length, 0, 'views of a detached attachment read as empty');
      assert.throws(
        () => segment.stat(),
        (error) => isCode(error, 'EINVAL', 'EIDRM'),
      );
      assert.throws(
        () => SysvSharedMemory.fromId(id),
        (error) => isCode(error, 'EINVAL', 'EIDRM'),
      );
      assert.throws(
        () => segment.attach(),
        (error) => isCode(error, 'EINVAL', 'EIDRM'),
      );
      assert.equal(ipcsShm().has(id), false, 'ipcs -m no longer lists it');
      assert.equal(run(program, ['read', String(id)]).status, 5, 'C gets EINVAL/EIDRM for the id');
    } finally {
      removeQuietly(id);
    }
  });

  test('a segment made by ipcmk -M is found by id and by key, used by unipc, and read by C', () => {
    const program = compilePeer('shm_sysv');
    const size = 7777;
    const output = runOk('ipcmk', ['-M', String(size), '-p', '0640']).stdout;
    const match = /Shared memory id:\s*(\d+)/.exec(output);
    assert.ok(match, `ipcmk printed ${JSON.stringify(output)}`);
    const id = Number(match[1]);
    try {
      const segment = SysvSharedMemory.fromId(id);
      const stat = segment.stat();
      assert.equal(stat.size, size);
      assert.equal(stat.mode, 0o640);
      assert.equal(stat.attachments, 0);
      assert.equal(segment.key, stat.key);
      const row = ipcsRow(id);
      assert.deepEqual(
        { key: row.key, perms: row.perms, bytes: row.bytes },
        { key: stat.key, perms: 0o640, bytes: size },
      );
      if (stat.key !== IPC_PRIVATE) assert.equal(SysvSharedMemory.get(stat.key).id, id, 'found by its key too');

      const data = randomBytes(size);
      {
        using mapping = segment.attach();
        assert.equal(mapping.length, size);
        sameBytes(mapping.buffer, Buffer.alloc(size), 'a new segment is zero-filled');
        new Uint8Array(mapping.buffer).set(data);
      }
      const seen = JSON.parse(runOk(program, ['read', String(id)]).stdout);
      assert.equal(seen.size, size);
      assert.equal(seen.nattch, 1);
      sameBytes(fromHex(seen.hex), data, 'what C read');

      segment.remove();
      assert.equal(ipcsShm().has(id), false);
    } finally {
      removeQuietly(id);
    }
  });
});

// ---- ftok ------------------------------------------------------------------------------------------

describe('ftok() ↔ C', () => {
  function cFtok(program: string, file: string, project: number): { key: number; signed: number } {
    return JSON.parse(runOk(program, ['ftok', file, String(project)]).stdout);
  }

  test("unipc's ftok(path, proj) is C's for the same file and project id, including keys negative in C", () => {
    const program = compilePeer('shm_sysv');
    using dir = tempDir('ftok-');
    const file = dir.file('key-file');
    fs.writeFileSync(file, 'ftok');
    const stat = fs.statSync(file);
    for (const project of [1, 0x41, 0x7f, 0x80, 0xff]) {
      const c = cFtok(program, file, project);
      const key = ftok(file, project);
      assert.equal(key, c.key, `project ${project}`);
      assert.equal(key | 0, c.signed, `project ${project}, as a signed key_t`);
      // glibc's formula: the project id, the low byte of the device, the low 16 bits of the inode.
      assert.equal(key, ((project << 24) | ((stat.dev & 0xff) << 16) | (stat.ino & 0xffff)) >>> 0);
    }
    assert.equal(ftok(pathToFileURL(file), 7), cFtok(program, file, 7).key, 'a file: URL');
    assert.equal(ftok(dir.path, 9), cFtok(program, dir.path, 9).key, 'a directory');

    const missing = dir.file('missing');
    assert.throws(() => ftok(missing, 1), { code: 'ENOENT', syscall: 'ftok', path: missing });
    assert.equal(run(program, ['ftok', missing, '1']).status, 4);
  });

  test('a key from ftok names the same segment in C and in unipc, both ways', () => {
    const program = compilePeer('shm_sysv');
    using dir = tempDir('ftok-');
    const file = ftokAnchor(dir.path, [85, 255]);
    const ids: number[] = [];
    try {
      // C creates with its own ftok(file, 'U'); unipc finds it with unipc's.
      const data = randomBytes(300);
      const made = JSON.parse(runOk(program, ['create', `ftok:85:${file}`, '300', '600'], data).stdout);
      ids.push(made.id);
      assert.equal(made.key, ftok(file, 85));
      const fromC = SysvSharedMemory.get(ftok(file, 85));
      assert.equal(fromC.id, made.id);
      {
        using mapping = fromC.attach();
        sameBytes(mapping.buffer, data, 'the segment C made');
      }

      // unipc creates with ftok(file, 255), a key negative in C; C finds it with its own ftok.
      const mine = randomBytes(PAGE_SIZE + 1);
      const segment = SysvSharedMemory.get(ftok(file, 255), { create: true, exclusive: true, size: mine.length });
      ids.push(segment.id);
      assert.equal(segment.key, ftok(file, 255));
      {
        using mapping = segment.attach();
        new Uint8Array(mapping.buffer).set(mine);
      }
      const seen = JSON.parse(runOk(program, ['readkey', `ftok:255:${file}`]).stdout);
      assert.equal(seen.id, segment.id);
      assert.equal(seen.key, ftok(file, 255));
      sameBytes(fromHex(seen.hex), mine, 'what C read');

      fromC.remove();
      segment.remove();
      const listed = ipcsShm();
      assert.equal(listed.has(fromC.id) || listed.has(segment.id), false);
    } finally {
      ids.forEach(removeQuietly);
    }
  });
});
