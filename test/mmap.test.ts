import assert from 'node:assert/strict';
import { spawn as spawnRaw, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { MessageChannel, Worker } from 'node:worker_threads';
import {
  IPC_PRIVATE,
  IpcError,
  MAX_MAPPING_LENGTH,
  Mapping,
  MemoryFile,
  mapAnonymous,
  mmap,
  PAGE_SIZE,
  pipe,
  SysvSharedMemory,
  socketpair,
} from '../src/index.js';
import { native, runtime } from '../src/native.js';
import { descriptors, finished, NODE_MAJOR, openDescriptor, runTs, spawnPeer, tempDir, until } from './helpers.js';

const mapsLines = (): string[] => fs.readFileSync('/proc/self/maps', 'utf8').trim().split('\n');

// Lines of /proc/self/maps that map `path` (a deleted file shows as "path (deleted)").
function mapsOf(path: string): number {
  return fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((line) => line.includes(path)).length;
}

describe('mmap() of files', () => {
  test("two processes share a file mapping: each sees the other's writes without read() or write()", async () => {
    using dir = tempDir();
    const path = dir.file('shared.bin');
    fs.writeFileSync(path, Buffer.alloc(PAGE_SIZE * 3));
    using mapping = mmap(path, { prot: 'rw' });
    assert.equal(mapping.length, PAGE_SIZE * 3);
    assert.equal(mapping.shared, true);
    assert.equal(mapping.writable, true);
    Buffer.from(mapping.buffer).write('from the parent');
    const child = spawnPeer('shared-memory', ['file', path, String(PAGE_SIZE * 2), 'from the child']);
    const { code, stdout } = await finished(child);
    assert.equal(code, 0);
    assert.equal(JSON.parse(stdout).seen, 'from the parent');
    assert.equal(Buffer.from(mapping.buffer, PAGE_SIZE * 2, 14).toString(), 'from the child');
    mapping.syncSync();
    await mapping.sync();
    assert.equal(
      fs
        .readFileSync(path)
        .subarray(PAGE_SIZE * 2, PAGE_SIZE * 2 + 14)
        .toString(),
      'from the child',
    );
  });

  test('a private mapping is copy-on-write: its writes never reach the file', () => {
    using dir = tempDir();
    const path = dir.file('private.bin');
    fs.writeFileSync(path, 'original');
    using mapping = mmap(path, { prot: 'rw', shared: false });
    Buffer.from(mapping.buffer).write('modified');
    assert.equal(Buffer.from(mapping.buffer).toString(), 'modified');
    assert.equal(fs.readFileSync(path, 'utf8'), 'original');
  });

  test('offset maps a window of the file; length defaults to the rest of it', () => {
    using dir = tempDir();
    const path = dir.file('window.bin');
    const data = Buffer.alloc(PAGE_SIZE * 2 + 10, 0x61);
    data.write('second page', PAGE_SIZE);
    fs.writeFileSync(path, data);
    using mapping = mmap(path, { offset: PAGE_SIZE });
    assert.equal(mapping.length, PAGE_SIZE + 10);
    assert.equal(Buffer.from(mapping.buffer, 0, 11).toString(), 'second page');
    using fd = {
      fd: fs.openSync(path, 'r'),
      [Symbol.dispose]() {
        fs.closeSync(this.fd);
      },
    };
    using byFd = mmap(fd.fd, { length: 11, offset: PAGE_SIZE });
    assert.equal(Buffer.from(byFd.buffer).toString(), 'second page');
  });

  test('the mmap(2) rules fail first, with errors that say what is wrong', () => {
    using dir = tempDir();
    const path = dir.file('rules.bin');
    fs.writeFileSync(path, Buffer.alloc(100));
    assert.throws(
      () => mmap(path, { offset: 100 }),
      (error: RangeError & { code: string }) => {
        assert.ok(error instanceof RangeError);
        assert.equal(error.code, 'ERR_OUT_OF_RANGE');
        assert.match(error.message, new RegExp(`multiple of the page size \\(${PAGE_SIZE}\\)`));
        return true;
      },
    );
    fs.writeFileSync(dir.file('empty.bin'), '');
    assert.throws(() => mmap(dir.file('empty.bin')), { code: 'ERR_OUT_OF_RANGE', message: /is empty/ });
    assert.throws(() => mmap(path, { length: 101 }), { code: 'ERR_OUT_OF_RANGE', message: /SIGBUS/ });
    assert.throws(() => mmap(path, { length: 0 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => mmap(path, { length: MAX_MAPPING_LENGTH + 1 }), { code: 'ERR_OUT_OF_RANGE' });
    const readOnly = fs.openSync(path, 'r');
    const writeOnly = fs.openSync(path, fs.constants.O_WRONLY);
    try {
      assert.throws(
        () => mmap(readOnly, { prot: 'rw' }),
        (error: IpcError) => {
          assert.ok(error instanceof IpcError);
          assert.equal(error.code, 'EACCES');
          assert.equal(error.syscall, 'mmap');
          assert.match(error.message, /open for reading and writing; this one is read-only/);
          return true;
        },
      );
      mmap(readOnly, { prot: 'rw', shared: false }).close(); // copy-on-write needs only read access
      assert.throws(() => mmap(writeOnly, { length: 1 }), { code: 'EACCES', message: /write-only/ });
    } finally {
      fs.closeSync(readOnly);
      fs.closeSync(writeOnly);
    }
    assert.throws(() => mmap(dir.file('absent.bin')), {
      code: 'ENOENT',
      syscall: 'open',
      path: dir.file('absent.bin'),
    });
    using p = pipe();
    assert.throws(() => mmap(p.reader), { code: 'ERR_INVALID_ARG_VALUE' }); // no size to default to
    assert.throws(() => mmap(p.reader, { length: 1 }), { code: 'ENODEV', syscall: 'mmap' }); // the kernel's word for "cannot be mapped"
  });

  test('beyondEnd maps past the end: those pages read as zeros instead of raising SIGBUS', () => {
    using dir = tempDir();
    const path = dir.file('short.bin');
    fs.writeFileSync(path, 'abc');
    using mapping = mmap(path, { length: PAGE_SIZE * 3, beyondEnd: true, prot: 'rw' });
    const bytes = new Uint8Array(mapping.buffer);
    assert.equal(Buffer.from(bytes.subarray(0, 3)).toString(), 'abc');
    assert.equal(bytes[PAGE_SIZE * 2 + 5], 0);
    bytes[PAGE_SIZE * 2] = 1;
    assert.equal(mapping.faultedPages, 1);
    assert.equal(fs.statSync(path).size, 3, 'nothing reached the file');
  });

  test('a file shrunk by another process: the lost pages read as zeros, and are counted', async () => {
    using dir = tempDir();
    const path = dir.file('shrinks.bin');
    fs.writeFileSync(path, Buffer.alloc(PAGE_SIZE * 4, 0x7a));
    using mapping = mmap(path, { prot: 'rw' });
    const bytes = new Uint8Array(mapping.buffer);
    const { code } = await finished(spawnPeer('truncate', [path]));
    assert.equal(code, 0);
    assert.equal(bytes[0], 0);
    assert.equal(bytes[PAGE_SIZE * 3], 0);
    bytes[PAGE_SIZE] = 1;
    assert.equal(mapping.faultedPages, 4, 'the first access past the new end replaced all four pages');
  });

  test('writing through a read-only mapping does not crash: the page becomes private', async () => {
    using dir = tempDir();
    const path = dir.file('read-only.bin');
    fs.writeFileSync(path, Buffer.alloc(PAGE_SIZE * 2));
    using mapping = mmap(path); // prot 'r'
    assert.equal(mapping.writable, false);
    const bytes = new Uint8Array(mapping.buffer);
    bytes[0] = 0x41; // a write to PROT_READ memory
    assert.equal(bytes[0], 0x41);
    assert.equal(mapping.faultedPages, 2, 'the chunk around the write (here the whole small mapping) is private now');
    assert.equal(fs.readFileSync(path)[0], 0, 'the file is untouched');
    // The untouched page still follows the file.
    const child = spawnPeer('shared-memory', ['file', path, String(PAGE_SIZE), 'later']);
    assert.equal((await finished(child)).code, 0);
    assert.equal(Buffer.from(mapping.buffer, PAGE_SIZE, 5).toString(), 'later');
  });
});

describe('Mapping safety', () => {
  test('close() detaches the buffer: every view reads as length 0; closing twice is harmless', () => {
    const mapping = mapAnonymous(PAGE_SIZE);
    const words = new Uint32Array(mapping.buffer);
    const bytes = Buffer.from(mapping.buffer);
    const view = new DataView(mapping.buffer);
    words[0] = 42;
    mapping.close();
    mapping.close();
    assert.equal(mapping.closed, true);
    assert.equal(words.length, 0);
    assert.equal(words[0], undefined);
    assert.equal(bytes.length, 0);
    assert.throws(() => view.getUint8(0), TypeError);
    assert.equal(mapping.buffer.byteLength, 0);
    assert.equal(mapping.length, 0);
    assert.throws(() => mapping.syncSync(), { code: 'EBADF', name: 'IpcError' });
    assert.throws(() => mapping.share(), { code: 'EBADF' });
  });

  test('sync() after close rejects; an aborted sync() rejects with AbortError', async () => {
    const mapping = mapAnonymous(PAGE_SIZE, { shared: true });
    await assert.rejects(mapping.sync({ signal: AbortSignal.abort() }), { name: 'AbortError' });
    mapping.close();
    await assert.rejects(mapping.sync(), { code: 'EBADF' });
  });

  test('the pages are unmapped when the last view goes, and by the finalizer when never closed', async () => {
    using dir = tempDir();
    const path = dir.file('tracked.bin');
    fs.writeFileSync(path, Buffer.alloc(PAGE_SIZE));
    const first = mmap(path);
    const token = first.share();
    const second = Mapping.fromShared(token);
    assert.equal(mapsOf(path), 1, 'one region, two views');
    first.close();
    assert.equal(mapsOf(path), 1, 'still viewed by the second');
    assert.equal(new Uint8Array(second.buffer).length, PAGE_SIZE);
    second.close();
    assert.equal(mapsOf(path), 0);
    assert.throws(() => Mapping.fromShared(token), {
      code: 'EBADF',
      message: /closed before this thread could view it/,
    });

    (() => {
      mmap(path); // dropped without close()
    })();
    assert.equal(mapsOf(path), 1);
    await until(() => mapsOf(path) === 0, { collect: true });
    assert.equal(mapsOf(path), 0, 'the finalizer unmapped it');
  });

  test('a buffer posted to another thread stays with its mapping: copied on Node 20, DataCloneError from 22 on', () => {
    using mapping = mapAnonymous(PAGE_SIZE);
    new Uint8Array(mapping.buffer)[0] = 7;
    if (runtime === 'deno') {
      // Deno's structuredClone and postMessage ignore markAsUntransferable(): the memory moves to the new
      // buffer, which keeps the pages mapped until close() lays inert ones over them (docs/runtimes.md).
      const moved = structuredClone(mapping.buffer, { transfer: [mapping.buffer] });
      assert.equal(mapping.buffer.byteLength, 0, "the mapping's own buffer is detached");
      assert.equal(new Uint8Array(moved)[0], 7);
      mapping.close();
      assert.equal(new Uint8Array(moved)[0], 0, 'after close(), inert pages: no fault');
      return;
    }
    const { port1, port2 } = new MessageChannel();
    if (NODE_MAJOR >= 22) {
      assert.throws(() => port1.postMessage(mapping.buffer, [mapping.buffer]), { name: 'DataCloneError' });
      assert.throws(() => structuredClone(mapping.buffer, { transfer: [mapping.buffer] }), { name: 'DataCloneError' });
    } else {
      port1.postMessage(mapping.buffer, [mapping.buffer]);
      assert.equal(new Uint8Array(structuredClone(mapping.buffer, { transfer: [mapping.buffer] }))[0], 7);
    }
    assert.equal(mapping.buffer.byteLength, PAGE_SIZE, 'still attached here');
    assert.equal(
      new Uint8Array(structuredClone(mapping.buffer))[0],
      7,
      'a copy without transfer works as for any buffer',
    );
    port1.close();
    port2.close();
  });

  // Node 24 made markAsUntransferable() set a detach key, with which Node-API's detach aborts the process;
  // unipc marked every Mapping's buffer so, and close() aborted on every Node from 24 on.
  test('close() detaches the buffer on every Node major, and the buffer stays untransferable', () => {
    const mapping = mapAnonymous(PAGE_SIZE);
    const bytes = new Uint8Array(mapping.buffer);
    bytes[0] = 1;
    if (runtime === 'deno') {
      // moved, as above: the view on the mapping's own buffer is emptied by the move instead of close()
    } else if (NODE_MAJOR >= 22) {
      assert.throws(() => structuredClone(bytes, { transfer: [mapping.buffer] }), { name: 'DataCloneError' });
    } else assert.equal(structuredClone(bytes, { transfer: [mapping.buffer] })[0], 1, 'copied');
    mapping.close();
    assert.equal(mapping.buffer.byteLength, 0);
    assert.equal(bytes.length, 0);
  });

  test('a buffer moved by ArrayBuffer.prototype.transfer() (Node 22 on) outlives close() on inert pages, then is let go', {
    skip: typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer !== 'function',
  }, async () => {
    using dir = tempDir();
    const path = dir.file('moved.bin');
    fs.writeFileSync(path, Buffer.alloc(PAGE_SIZE, 5));
    let mapping: Mapping | undefined = mmap(path, { prot: 'rw' });
    const start = mapsLines()
      .find((line) => line.includes(path))!
      .split('-')[0]!;
    const covering = () =>
      mapsLines().find((line) => {
        const [from, to] = line
          .split(' ')[0]!
          .split('-')
          .map((hex) => BigInt(`0x${hex}`));
        const at = BigInt(`0x${start}`);
        return at >= from! && at < to!;
      });
    let moved: ArrayBuffer | undefined = (mapping.buffer as ArrayBuffer & { transfer(): ArrayBuffer }).transfer();
    assert.equal(mapping.buffer.byteLength, 0, 'transfer() detached the original');
    assert.equal(new Uint8Array(moved)[0], 5, 'the moved buffer shows the file');
    mapping.close();
    assert.equal(mapsOf(path), 0, 'close() let the file go at once');
    assert.equal(new Uint8Array(moved)[0], 0, 'the moved buffer now reaches inert zero pages, never freed memory');
    new Uint8Array(moved)[1] = 9; // goes to the inert pages, not the file
    assert.equal(fs.readFileSync(path)[1], 5);
    const inert = covering();
    assert.ok(inert !== undefined, 'the range stays reserved while the moved buffer lives');
    moved = undefined;
    mapping = undefined; // its detached buffer object too holds the range until collected
    await until(() => covering() !== inert, { collect: true });
    assert.notEqual(covering(), inert, 'the inert range was unmapped once the moved buffer was collected');
  });
});

describe('no crash when memory is lost under code still using it', () => {
  const hazard = async (scenario: string, file = '', ...extra: string[]) => {
    const child = spawnRaw(
      process.execPath,
      [
        ...runTs(new URL('./peers/mapping-hazards.ts', import.meta.url).pathname, ['--expose-gc']),
        scenario,
        file,
        ...extra,
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    return finished(child);
  };

  test('thread-pool jobs (randomFill, fs.write) over a mapping closed while they run', async () => {
    const { code, signal, stdout } = await hazard('threadpool');
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout), { nonZero: 0 }, 'a new mapping never shares the addresses they write to');
  });

  test("a byte stream moves a worker's mapping into another buffer, which outlives the worker", async () => {
    const { code, signal, stdout } = await hazard('byob');
    assert.equal(signal, null);
    assert.equal(code, 0);
    // The worker's mapping went with it; the buffer it escaped into still points at valid (inert) memory.
    // Deno ends a worker without finalizing its objects, so the mapping stays open for the moved buffer,
    // with what it held, until that buffer is collected.
    assert.deepEqual(JSON.parse(stdout), { length: 65536, value: runtime === 'deno' ? 7 : 0 });
  });

  test('kill -BUS still kills while the fault guard is installed', async () => {
    using dir = tempDir();
    fs.writeFileSync(dir.file('f'), 'x');
    const { signal, stdout } = await hazard('sigbus-kill', dir.file('f'));
    const bare = await hazard('sigbus-kill'); // no mapping, so no guard
    assert.deepEqual({ signal, stdout }, { signal: bare.signal, stdout: bare.stdout }, 'as without the guard');
    // Deno catches SIGBUS itself (SigCgt in /proc/<pid>/status) and survives kill -BUS, guard or not.
    if (runtime !== 'deno') assert.deepEqual({ signal, stdout }, { signal: 'SIGBUS', stdout: '' });
  });

  test("scattered writes to a large read-only mapping stay within the kernel's map count", async () => {
    using dir = tempDir();
    fs.writeFileSync(dir.file('big'), '');
    fs.truncateSync(dir.file('big'), 40 * 2 ** 20);
    const { code, stdout } = await hazard('scatter', dir.file('big'));
    assert.equal(code, 0);
    const { growth, faulted, pages } = JSON.parse(stdout);
    assert.equal(faulted, pages, 'every chunk was written to, so every page is private now');
    assert.ok(growth <= 2 * 40 + 8, `mappings grew by ${growth} for 5120 scattered writes: by chunks, not pages`);
  });

  test('two threads writing to the same read-only pages at once lose nothing, and are counted once', async () => {
    using dir = tempDir();
    fs.writeFileSync(dir.file('racing'), Buffer.alloc(PAGE_SIZE * 2000));
    const { code, stdout } = await hazard('racing', dir.file('racing'));
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout), { lost: 0, pages: 2000, faulted: 2000 });
  });

  test('file: thread-pool writes into read-only mappings closed at random moments', async () => {
    using dir = tempDir();
    fs.writeFileSync(dir.file('ro'), '');
    fs.truncateSync(dir.file('ro'), 16 * 2 ** 20);
    const { code, signal, stdout } = await hazard('close-race', dir.file('ro'), 'file');
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout), { survived: true });
  });

  test('sysv: thread-pool writes into read-only attachments closed at random moments', async () => {
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: 16 * 2 ** 20, create: true });
    try {
      const { code, signal, stdout } = await hazard('close-race', String(segment.id), 'sysv');
      assert.equal(signal, null);
      assert.equal(code, 0);
      assert.deepEqual(JSON.parse(stdout), { survived: true });
    } finally {
      segment.remove();
    }
  });

  test('a worker that closes its mapping and ends at once leaves nothing mapped', async () => {
    using dir = tempDir();
    fs.writeFileSync(dir.file('worker-closed'), 'x');
    const { code, stdout } = await hazard('worker-close', dir.file('worker-closed'));
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout), { mapped: false });
  });

  test('close() after the buffer a byte stream moved the memory into was collected', async () => {
    const { code, stdout } = await hazard('byob-close');
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout), { seen: 9, closed: true });
  });

  test('a write that a full filesystem cannot take is SIGBUS as in C, not hidden as a shrunk file', async (t) => {
    using dir = tempDir();
    const mountPoint = dir.file('small');
    fs.mkdirSync(mountPoint);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint]);
    if (mounted.status !== 0) {
      t.skip(`cannot mount a small tmpfs here (${String(mounted.stderr).trim() || mounted.status})`);
      return;
    }
    try {
      const file = `${mountPoint}/sparse`;
      fs.writeFileSync(file, '');
      fs.truncateSync(file, 1024 * 1024); // 1 MiB sparse on a 64 KiB filesystem
      const { signal, stdout } = await hazard('full', file);
      assert.equal(signal, 'SIGBUS');
      assert.equal(stdout, '');
    } finally {
      spawnSync('umount', [mountPoint]);
    }
  });

  test('a Mapping cannot be forged from parts of another', () => {
    using mapping = mapAnonymous(PAGE_SIZE);
    const Constructor = Mapping as unknown as new (...args: unknown[]) => Mapping;
    assert.throws(() => new Constructor(Symbol('Mapping'), { buffer: mapping.buffer, view: 1, region: 1 }, {}), {
      name: 'TypeError',
      message: /Illegal constructor/,
    });
  });
});

describe('anonymous memory and worker threads', () => {
  test('mapAnonymous() is zero-filled and writable', () => {
    using mapping = mapAnonymous(PAGE_SIZE * 2 + 1);
    assert.equal(mapping.length, PAGE_SIZE * 2 + 1);
    const bytes = new Uint8Array(mapping.buffer);
    assert.ok(bytes.every((b) => b === 0));
    bytes.fill(9);
    assert.equal(bytes[PAGE_SIZE * 2], 9);
  });

  test('worker threads view the same pages (share/fromShared) and count with Atomics', async () => {
    const mapping = mapAnonymous(PAGE_SIZE);
    const counter = new Int32Array(mapping.buffer);
    Atomics.store(counter, 1, 1234);
    const workers = [0, 1].map(
      () =>
        new Worker(new URL('./peers/worker-bootstrap.mjs', import.meta.url), {
          workerData: {
            script: new URL('./peers/mapping-worker.ts', import.meta.url).href,
            token: mapping.share(),
            adds: 100_000,
          },
        }),
    );
    const reports = await Promise.all(
      workers.map((w) => new Promise<{ seen: number }>((resolve) => w.once('message', resolve))),
    );
    for (let i = 0; i < 100_000; i++) Atomics.add(counter, 0, 1);
    assert.deepEqual(
      reports.map((r) => r.seen),
      [1234, 1234],
    );
    assert.equal(Atomics.load(counter, 0), 300_000);
    mapping.close(); // the workers' views keep the pages
    for (const worker of workers) {
      worker.postMessage('close');
      await new Promise((resolve) => worker.once('message', resolve));
      await worker.terminate();
    }
  });
});

describe('MemoryFile (memfd)', () => {
  test('handed to a child as an inherited descriptor, mapped on both sides', async () => {
    using file = MemoryFile.create('test-inherit', { size: PAGE_SIZE });
    using mapping = file.map();
    Buffer.from(mapping.buffer).write('parent was here');
    const child = spawnPeer('shared-memory', ['memfd', 'child was here'], { fds: [file.fd] });
    const { code, stdout } = await finished(child);
    assert.equal(code, 0);
    assert.equal(JSON.parse(stdout).seen, 'parent was here');
    assert.equal(Buffer.from(mapping.buffer, 0, 14).toString(), 'child was here');
  });

  test('handed over a socket (SCM_RIGHTS), mapped on both sides', async () => {
    using file = MemoryFile.create('test-socket', { size: PAGE_SIZE });
    using mapping = file.map();
    const [mine, theirs] = socketpair('seqpacket');
    const child = spawnPeer('shared-memory', ['memfd-socket', 'via the socket'], { fds: [theirs] });
    await mine.send('memory for you', { fds: [file] });
    const { code } = await finished(child);
    assert.equal(code, 0);
    assert.equal(Buffer.from(mapping.buffer, 0, 14).toString(), 'via the socket');
    mine.close();
  });

  test('two processes add to one counter with Atomics, 1,000,000 times each: the total is exact', async () => {
    using file = MemoryFile.create('test-counter', { size: PAGE_SIZE });
    using mapping = file.map();
    const children = [0, 1].map(() => spawnPeer('atomic-counter', ['1000000'], { fds: [file.fd] }));
    const results = await Promise.all(children.map(finished));
    assert.deepEqual(
      results.map((r) => r.code),
      [0, 0],
    );
    assert.equal(Atomics.load(new Int32Array(mapping.buffer), 0), 2_000_000);
  });

  test('seals fix the size and the contents', () => {
    using file = MemoryFile.create('test-seals', { size: PAGE_SIZE });
    assert.deepEqual(file.seals, []);
    file.seal('shrink', 'grow');
    assert.deepEqual(file.seals, ['shrink', 'grow']);
    assert.throws(() => file.resize(1), { code: 'EPERM', syscall: 'ftruncate' });
    const writable = file.map();
    assert.throws(() => file.seal('write'), { code: 'EBUSY' }, 'not while a shared writable mapping exists');
    writable.close();
    file.seal('write', 'seal');
    assert.throws(() => file.map({ prot: 'rw' }), { code: 'EPERM', syscall: 'mmap' });
    using readable = file.map({ prot: 'r' });
    assert.equal(readable.length, PAGE_SIZE);
    assert.throws(() => file.seal('grow'), { code: 'EPERM' });
    using unsealable = MemoryFile.create('test-unsealable', { sealable: false });
    assert.throws(() => unsealable.seal('grow'), { code: 'EPERM' });
  });

  test('fromFd() adopts memfds only; a MemoryFile closes like any descriptor', () => {
    // Counted by what they point at, not in all: Bun closes descriptors of its own (its children's pipes)
    // at moments of its choosing.
    const pointingAt = (target: string) =>
      [...descriptors()].filter((entry) => entry.slice(entry.indexOf(' ') + 1).startsWith(target)).length;
    const file = MemoryFile.create('test-adopt');
    const copy = MemoryFile.fromFd(openDescriptor(`/proc/self/fd/${file.fd}`));
    assert.equal(copy.name, 'test-adopt');
    assert.equal(pointingAt('/memfd:test-adopt'), 2);
    copy.close();
    file.close();
    assert.equal(pointingAt('/memfd:test-adopt'), 0);
    using dir = tempDir();
    fs.writeFileSync(dir.file('plain'), '');
    const plain = openDescriptor(dir.file('plain'), fs.constants.O_RDONLY);
    assert.throws(() => MemoryFile.fromFd(plain), { code: 'ERR_INVALID_ARG_VALUE', message: /must be a memfd/ });
    assert.equal(pointingAt(dir.file('plain')), 1, "still open, and the caller's");
    native.close(plain);
    assert.equal(pointingAt(dir.file('plain')), 0);
  });
});
