import assert from 'node:assert/strict';
import { spawn as spawnRaw } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import {
  IpcError,
  mapAnonymous,
  mkfifo,
  openFifo,
  openFifoSync,
  type Pipe,
  PipeReader,
  PipeWriter,
  pipe,
  spawn,
  waiterStats,
} from '../src/index.js';
import {
  cannotRunAsNobody,
  collector,
  compilePeer,
  descriptors,
  finished,
  lineFrom,
  newDescriptors,
  nodeOnly,
  root,
  runTs,
  spawnPeer,
  tempDir,
} from './helpers.js';

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('pipe()', () => {
  test('parent to child: the child reads every byte, then EOF; each side holds only its own end', async () => {
    const { reader, writer } = pipe();
    const child = spawnPeer('pipe-reader', [], { fds: [reader] });
    assert.equal(reader.closed, true, 'the end handed to the child is closed in the parent');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const done = finished(child);
    writer.stream.end(data);
    const { code, stdout } = await done;
    assert.equal(code, 0);
    const report = JSON.parse(stdout);
    assert.equal(report.bytes, data.length);
    assert.equal(report.sha256, sha256(data));
    // The child got its end as fd 3 and nothing of the parent's write end, or EOF would never have come.
    assert.deepEqual(
      report.fds.filter((fd: number) => fd === 3),
      [3],
    );
  });

  test('child to parent: a pipe end written with writeSync in the child arrives through read()', async () => {
    const { reader, writer } = pipe();
    const child = spawnPeer('pipe-writer', ['200000'], { fds: [writer] });
    const chunks: Buffer[] = [];
    for (let chunk = await reader.read(); chunk !== null; chunk = await reader.read()) chunks.push(chunk);
    reader.close();
    const { code } = await finished(child);
    assert.equal(code, 0);
    const all = Buffer.concat(chunks);
    assert.equal(all.length, 200000);
    assert.ok(all.equals(Buffer.alloc(200000, 'abcdefgh')));
  });

  test('a C program reads its inherited end with blocking read(2) even after async use in the parent', async () => {
    const program = compilePeer('pipe_reader');
    const { reader, writer } = pipe();
    // Async reads switch the reader's descriptor to non-blocking; spawn() must hand it over blocking.
    await assert.rejects(reader.read({ timeout: 1 }), { code: 'ETIMEDOUT' });
    const child = spawn(program, [], { stdio: ['ignore', 'pipe', 'inherit'], fds: [reader] });
    const done = finished(child);
    const data = randomBytes(500000);
    await writer.write(data);
    writer.close();
    const { code, stdout } = await done;
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout), { bytes: data.length, sum: data.reduce((s, b) => s + b, 0) });
  });

  test('EOF when the last writer closes: read() resolves null and the stream ends', async () => {
    {
      using p = pipe();
      p.writer.writeSync('last words');
      p.writer.close();
      assert.equal(p.reader.readSync()?.toString(), 'last words');
      assert.equal(p.reader.readSync(), null);
      assert.equal(await p.reader.read(), null);
    }
    {
      using p = pipe();
      const ended = new Promise((resolve) => p.reader.stream.on('end', resolve).resume());
      p.writer.close();
      await ended;
    }
  });

  test('EPIPE for a writer whose reader is gone, and the process survives (no SIGPIPE)', async () => {
    using p = pipe();
    p.reader.close();
    await assert.rejects(p.writer.write('x'), (error: IpcError) => {
      assert.ok(error instanceof IpcError);
      assert.equal(error.code, 'EPIPE');
      assert.equal(error.syscall, 'write');
      assert.equal(error.errno, 32);
      return true;
    });
    assert.throws(() => p.writer.writeSync('x'), { code: 'EPIPE' });
  });

  test('EPIPE through the stream once the reading child has exited', async () => {
    const { reader, writer } = pipe();
    const child = spawnRaw(process.execPath, ['-e', 'process.exit(0)'], {
      stdio: ['ignore', 'ignore', 'inherit', reader.fd],
    });
    reader.close();
    await finished(child);
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
      writer.stream.on('error', resolve);
      writer.stream.write(Buffer.alloc(1024));
    });
    assert.equal(error.code, 'EPIPE');
    writer.close();
  });

  test('read() honours timeout and signal, and the pipe stays usable afterwards', async () => {
    using p = pipe();
    await assert.rejects(p.reader.read({ timeout: 20 }), (error: IpcError) => {
      assert.equal(error.code, 'ETIMEDOUT');
      assert.match(error.message, /^ETIMEDOUT: timed out after 20 ms, read$/);
      return true;
    });
    const controller = new AbortController();
    const pending = p.reader.read({ signal: controller.signal });
    controller.abort(new Error('changed my mind'));
    await assert.rejects(pending, (error: Error & { cause?: Error }) => {
      assert.equal(error.name, 'AbortError');
      assert.equal((error as { code?: string }).code, 'ABORT_ERR');
      assert.equal(error.cause?.message, 'changed my mind');
      return true;
    });
    await assert.rejects(p.reader.read({ signal: AbortSignal.abort() }), { name: 'AbortError' });
    await p.writer.write('still works');
    assert.equal((await p.reader.read())?.toString(), 'still works');
    assert.throws(() => p.reader.readSync({ timeout: 10 }), { code: 'ETIMEDOUT' });
  });

  test('concurrent reads are served in call order', async () => {
    using p = pipe();
    const reads = [p.reader.read(), p.reader.read(), p.reader.read()];
    // One word at a time, each only after the read that should get it: a read served out of turn
    // would leave reads[i] waiting, and the test would time out.
    for (const [i, word] of ['one', 'two', 'three'].entries()) {
      p.writer.writeSync(word);
      assert.equal((await reads[i])?.toString(), word);
    }
  });

  test('a write larger than the pipe waits for the reader instead of failing', async () => {
    using p = pipe({ size: 4096 });
    const data = randomBytes(1024 * 1024);
    const writing = p.writer.write(data);
    const chunks: Buffer[] = [];
    let total = 0;
    while (total < data.length) {
      const chunk = (await p.reader.read())!;
      chunks.push(chunk);
      total += chunk.length;
    }
    await writing;
    assert.ok(Buffer.concat(chunks).equals(data));
  });

  // The untimed Sync forms make a blocking write(2)/read(2) first; a description left non-blocking by a
  // Promise-form call (or by another process sharing it) gives EAGAIN there, and they must then wait.
  // The peer opens the pipe through /proc, a description of its own, so nothing it does changes ours.
  test('writeSync() and readIntoSync() wait on a description that a Promise-form call made non-blocking', async () => {
    // The other process opens the same pipe through /proc and uses it with plain fs calls, on this runtime.
    using dir = tempDir();
    const peer = (script: string, fd: number) => {
      const file = dir.file(`peer-${fd}.cjs`);
      fs.writeFileSync(file, script);
      return spawnRaw(process.execPath, [...runTs(file), `/proc/${process.pid}/fd/${fd}`], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
    };
    {
      using p = pipe({ size: 4096 });
      await assert.rejects(p.reader.read({ timeout: 1 }), { code: 'ETIMEDOUT' }); // O_NONBLOCK on the reader
      const size = 256 * 1024;
      const writer = peer(
        `const fs = require('fs'); const fd = fs.openSync(process.argv[2], 'w'); console.log('open');
         const data = require('crypto').randomBytes(${size});
         let at = 0; const next = () => { if (at < data.length) { fs.writeSync(fd, data, at, 16384); at += 16384;
           return setTimeout(next, 2); } fs.closeSync(fd);
           console.log(require('crypto').createHash('sha256').update(data).digest('hex')); }; next();`,
        p.reader.fd,
      );
      const done = finished(writer);
      await lineFrom(writer, 'open');
      p.writer.close(); // the peer's description is now the only writer: EOF when it closes
      const into = Buffer.alloc(size + 1);
      let got = 0;
      for (;;) {
        const n = p.reader.readIntoSync(into, { offset: got });
        if (n === 0) break;
        got += n;
      }
      const { code, stdout } = await done;
      assert.equal(code, 0);
      assert.equal(got, size);
      assert.equal(stdout.trim().split('\n').at(-1), sha256(into.subarray(0, got)));
    }
    {
      using p = pipe({ size: 4096 });
      await p.writer.write(Buffer.from('x')); // O_NONBLOCK on the writer
      const reader = peer(
        `const fs = require('fs'); const fd = fs.openSync(process.argv[2], 'r');
         const hash = require('crypto').createHash('sha256'); const buffer = Buffer.alloc(4096);
         let total = 0; const next = () => { const n = fs.readSync(fd, buffer);
           if (n === 0) return console.log(JSON.stringify({ total, sha: hash.digest('hex') }));
           hash.update(buffer.subarray(0, n)); total += n; setTimeout(next, 1); }; next();`,
        p.writer.fd,
      );
      const done = finished(reader);
      const data = Buffer.concat([Buffer.from('x'), randomBytes(256 * 1024)]);
      p.writer.writeSync(data.subarray(1)); // far more than the pipe holds: waits for the slow reader
      p.writer.close();
      p.reader.close();
      const { code, stdout } = await done;
      assert.equal(code, 0);
      assert.deepEqual(JSON.parse(stdout), { total: data.length, sha: sha256(data) });
    }
  });

  test('close() rejects pending reads with EBADF; closing twice is harmless; use after close is EBADF', async () => {
    const p = pipe();
    const pending = p.reader.read();
    p.reader.close();
    await assert.rejects(pending, { code: 'EBADF', name: 'IpcError' });
    p.reader.close();
    assert.equal(p.reader.fd, -1);
    await assert.rejects(p.reader.read(), (error: IpcError) => {
      assert.equal(error.code, 'EBADF');
      assert.match(error.message, /PipeReader is closed, read/);
      return true;
    });
    p.close();
    assert.equal(p.writer.closed, true);
  });

  test('`using` and close() release both descriptors', () => {
    const before = descriptors();
    {
      using p = pipe();
      assert.equal(newDescriptors(before).length, 2);
      p.writer.writeSync('x');
    }
    assert.deepEqual(newDescriptors(before), []);
  });

  test('fromFd() adopts an inherited end and refuses descriptors of the wrong kind or direction', () => {
    using p = pipe();
    const duplicate = fs.openSync('/dev/null', 'r');
    assert.throws(() => PipeReader.fromFd(duplicate), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /must be a pipe, FIFO or socket descriptor to be a PipeReader/,
    });
    fs.closeSync(duplicate);
    assert.throws(() => PipeWriter.fromFd(p.reader.fd), { code: 'EBADF' });
    assert.throws(() => PipeReader.fromFd(987654), { code: 'EBADF', syscall: 'fstat' });
  });

  test('a stream owns the descriptor: read() is then refused with ERR_INVALID_STATE', async () => {
    using p = pipe();
    p.reader.stream.pause();
    assert.throws(() => p.reader.readSync(), { code: 'ERR_INVALID_STATE' });
    assert.throws(() => spawn(process.execPath, ['-e', '0'], { fds: [p.reader] }), { code: 'ERR_INVALID_STATE' });
  });

  test("no stream while operations are pending; the stream's end closes the object too", async () => {
    const p = pipe();
    const pending = p.reader.read();
    assert.throws(() => p.reader.stream, { code: 'ERR_INVALID_STATE' });
    p.writer.writeSync('x');
    assert.equal((await pending)?.toString(), 'x');
    const stream = p.writer.stream;
    stream.end();
    await once(stream, 'close');
    assert.equal(p.writer.closed, true);
    assert.equal(p.writer.fd, -1, 'the number the stream closed is not handed out any more');
    p.reader.close();
  });

  test('a descriptor taken over by a stream after async use is not watched twice', async () => {
    const gc = collector();
    let a: Pipe | undefined = pipe();
    await assert.rejects(a.reader.read({ timeout: 5 }), { code: 'ETIMEDOUT' }); // a poll handle now exists
    const stream = a.reader.stream.resume();
    a.writer.close();
    await once(stream, 'close');
    using b = pipe(); // likely reuses the freed numbers
    const pending = b.reader.read();
    await new Promise((resolve) => setTimeout(resolve, 20));
    a.reader.close();
    a = undefined;
    // A poll handle left behind would take the reused number out of epoll when collected or closed.
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    b.writer.writeSync('still heard');
    assert.equal(
      (await Promise.race([pending, new Promise((resolve) => setTimeout(() => resolve('deaf'), 2000))]))?.toString(),
      'still heard',
    );
  });

  test('a write already waiting when the reader goes away rejects with EPIPE', async () => {
    using p = pipe({ size: 4096 });
    const writing = p.writer.write(Buffer.alloc(1024 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 20));
    p.reader.close();
    await assert.rejects(writing, { code: 'EPIPE', syscall: 'write' });
  });

  test('writeSync() and readSync() with a timeout cannot overrun it, even on a blocking descriptor', () => {
    using p = pipe();
    const started = performance.now();
    assert.throws(() => p.writer.writeSync(Buffer.alloc(1024 * 1024), { timeout: 100 }), {
      code: 'ETIMEDOUT',
      syscall: 'write',
    });
    assert.ok(performance.now() - started < 10_000);
    assert.equal(p.reader.readSync({ timeout: 100 })?.length, 65536, 'what the write got in before its deadline');
    assert.throws(() => p.reader.readSync({ timeout: 20 }), { code: 'ETIMEDOUT', syscall: 'read' });
  });

  test('a write whose data is a mapping closed meanwhile rejects with EBADF instead of spinning', async () => {
    using p = pipe({ size: 4096 });
    const mapping = mapAnonymous(1024 * 1024);
    const writing = p.writer.write(mapping.buffer);
    await new Promise((resolve) => setTimeout(resolve, 20));
    mapping.close();
    p.reader.readSync();
    await assert.rejects(writing, { code: 'EBADF', syscall: 'write', message: /detached/ });
  });

  test('SharedArrayBuffer data can be written', () => {
    using p = pipe();
    const shared = new Uint8Array(new SharedArrayBuffer(3));
    shared.set([7, 8, 9]);
    p.writer.writeSync(shared);
    assert.deepEqual([...p.reader.readSync()!], [7, 8, 9]);
  });
});

describe('FIFOs', () => {
  test('mkfifo creates a FIFO with mode 0o600 by default; EEXIST and ENOENT are IpcErrors', () => {
    using dir = tempDir();
    const path = dir.file('q');
    mkfifo(path);
    const stats = fs.statSync(path);
    assert.ok(stats.isFIFO());
    assert.equal(stats.mode & 0o777, 0o600);
    assert.throws(
      () => mkfifo(path),
      (error: IpcError) => {
        assert.ok(error instanceof IpcError);
        assert.equal(error.code, 'EEXIST');
        assert.equal(error.errno, 17);
        assert.equal(error.syscall, 'mkfifo');
        assert.equal(error.path, path);
        assert.equal(error.message, `EEXIST: file already exists, mkfifo '${path}'`);
        return true;
      },
    );
    assert.throws(() => mkfifo(dir.file('missing/q')), { code: 'ENOENT', syscall: 'mkfifo' });
    mkfifo(new URL(`file://${dir.file('from-url')}`), { mode: 0o640 });
    assert.equal(fs.statSync(dir.file('from-url')).mode & 0o777, 0o640 & ~process.umask());
  });

  test('mkfifo never follows or replaces what is there: a file, a directory, a FIFO, a symbolic link, dangling or not', () => {
    using dir = tempDir();
    fs.writeFileSync(dir.file('file'), 'keep me');
    fs.mkdirSync(dir.file('directory'));
    mkfifo(dir.file('fifo'), { mode: 0o600 });
    fs.symlinkSync(dir.file('file'), dir.file('link-to-file'));
    fs.symlinkSync(dir.file('would-be-created'), dir.file('dangling-link'));
    const before = ['file', 'directory', 'fifo', 'link-to-file', 'dangling-link'].map((name) => {
      const stats = fs.lstatSync(dir.file(name));
      return [name, stats.ino, stats.mode, stats.mtimeMs];
    });
    for (const [name] of before) {
      assert.throws(
        () => mkfifo(dir.file(name as string), { mode: 0o666 }),
        { code: 'EEXIST', syscall: 'mkfifo' },
        name as string,
      );
    }
    assert.deepEqual(
      before.map(([name]) => {
        const stats = fs.lstatSync(dir.file(name as string));
        return [name, stats.ino, stats.mode, stats.mtimeMs];
      }),
      before,
    );
    assert.equal(fs.readFileSync(dir.file('file'), 'utf8'), 'keep me');
    assert.equal(fs.existsSync(dir.file('would-be-created')), false, 'the dangling link was not followed');
  });

  test('EACCES for a process that may not create the FIFO', {
    skip: cannotRunAsNobody(),
  }, async () => {
    using dir = tempDir();
    fs.chmodSync(dir.path, 0o755);
    const child = spawnPeer('mkfifo', [dir.file('q')], { uid: 65534, gid: 65534 });
    const { code, stdout } = await finished(child);
    assert.equal(code, 0);
    const error = JSON.parse(stdout);
    assert.deepEqual(error, {
      name: 'IpcError',
      code: 'EACCES',
      errno: 13,
      syscall: 'mkfifo',
      path: dir.file('q'),
      message: `EACCES: permission denied, mkfifo '${dir.file('q')}'`,
    });
  });

  test('two unrelated processes talk through a FIFO', async () => {
    using dir = tempDir();
    const path = dir.file('chat');
    mkfifo(path);
    const reader = spawnPeer('fifo', ['read', path]);
    const readerDone = finished(reader);
    const writer = spawnPeer('fifo', ['write', path, 'hello through the FIFO']);
    const [readResult, writeResult] = await Promise.all([readerDone, finished(writer)]);
    assert.equal(writeResult.code, 0);
    assert.equal(readResult.code, 0);
    assert.equal(JSON.parse(readResult.stdout).read, 'hello through the FIFO');
  });

  test('opening waits for the other side, without blocking the event loop', async () => {
    using dir = tempDir();
    const path = dir.file('rendezvous');
    mkfifo(path);
    let opened = false;
    const opening = openFifo(path, 'r').then((reader) => {
      opened = true;
      return reader;
    });
    // Timers and file I/O complete while the open waits for a writer.
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.match(await fs.promises.readFile(`${root}/package.json`, 'utf8'), /"name": "unipc"/);
    assert.equal(opened, false, 'the open is still waiting for the other side');
    const writer = openFifoSync(path, 'w', { timeout: 5000 });
    const reader = await opening;
    assert.equal(reader.path, path);
    writer.writeSync('met');
    assert.equal(reader.readSync()?.toString(), 'met');
    reader.close();
    writer.close();
  });

  test('a FIFO open is cancelled by signal and by timeout, leaving no wait or thread busy', async () => {
    using dir = tempDir();
    const path = dir.file('nobody');
    mkfifo(path);
    const controller = new AbortController();
    const aborted = openFifo(path, 'r', { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(aborted, { name: 'AbortError', code: 'ABORT_ERR' });
    await assert.rejects(openFifo(path, 'w', { timeout: 20 }), (error: IpcError) => {
      assert.equal(error.code, 'ETIMEDOUT');
      assert.equal(error.syscall, 'open');
      assert.equal(error.path, path);
      assert.equal(error.message, `ETIMEDOUT: timed out after 20 ms, open '${path}'`);
      return true;
    });
    assert.throws(() => openFifoSync(path, 'r', { timeout: 20 }), { code: 'ETIMEDOUT', syscall: 'open' });
    const stats = waiterStats();
    assert.equal(stats.pending, 0);
    assert.equal(stats.cancelling, 0);
    assert.equal(stats.threads, stats.idle, 'every waiter thread is idle again');
  });

  test('openFifo refuses what is not a FIFO and reports a missing path', async () => {
    using dir = tempDir();
    fs.writeFileSync(dir.file('plain'), 'x');
    await assert.rejects(openFifo(dir.file('plain'), 'r'), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: `The argument 'path' must name a FIFO (mkfifo), and names another kind of file. Received '${dir.file('plain')}'`,
    });
    // Nor through a symbolic link, for writing: the file is neither opened nor truncated.
    fs.symlinkSync(dir.file('plain'), dir.file('link'));
    await assert.rejects(openFifo(dir.file('link'), 'w'), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => openFifoSync(dir.file('link'), 'w'), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.equal(fs.readFileSync(dir.file('plain'), 'utf8'), 'x');
    await assert.rejects(openFifo(dir.file('absent'), 'r'), { code: 'ENOENT', syscall: 'open' });
  });
});

describe('spawn(…, { execArgv })', () => {
  // What these tests pass and look for are Node's command-line options (process.execArgv, -e, tsx's
  // loader, --stack-size); Bun's and Deno's command lines are their own.
  const NODE_OPTIONS_ONLY = nodeOnly("the options are Node's command-line options");
  // This suite runs under tsx (--import tsx): a TypeScript child runs only with the parent's loader.
  const child = (execArgv?: boolean | string[]) =>
    spawn(process.execPath, ['-e', 'process.stdout.write(JSON.stringify(process.execArgv))', '--', 'after'], {
      execArgv,
      stdio: ['ignore', 'pipe', 'inherit'],
    } as Parameters<typeof spawn>[2]);

  test("true carries this process's Node options before the arguments, as fork() does", {
    skip: NODE_OPTIONS_ONLY,
  }, async () => {
    using dir = tempDir('exec-argv-');
    const script = `${dir.path}/child.ts`;
    fs.writeFileSync(script, 'const typed: string = "ran as TypeScript";\nprocess.stdout.write(typed);\n');
    const withLoader = await finished(spawn(process.execPath, [script], { execArgv: true, cwd: root }));
    assert.equal(withLoader.code, 0);
    assert.equal(withLoader.stdout, 'ran as TypeScript');
    assert.ok(process.execArgv.length > 0, 'the suite runs with Node options (tsx)');
    const { stdout } = await finished(child(true));
    assert.deepEqual(JSON.parse(stdout), [
      ...process.execArgv,
      '-e',
      'process.stdout.write(JSON.stringify(process.execArgv))',
    ]);
  });

  test('a list of its own goes first; false and none leave the arguments as given', {
    skip: NODE_OPTIONS_ONLY,
  }, async () => {
    const own = await finished(child(['--no-warnings', '--stack-size=2000']));
    assert.deepEqual(JSON.parse(own.stdout).slice(0, 2), ['--no-warnings', '--stack-size=2000']);
    for (const execArgv of [false, undefined]) {
      const { stdout } = await finished(child(execArgv));
      assert.deepEqual(JSON.parse(stdout), ['-e', 'process.stdout.write(JSON.stringify(process.execArgv))']);
    }
  });

  test('a parent run with -e, -p or --eval= does not hand its code to the child', {
    skip: NODE_OPTIONS_ONLY,
  }, async () => {
    const forms = [
      (code: string) => ['-e', code],
      (code: string) => ['--eval', code],
      (code: string) => [`--eval=${code}`],
      (code: string) => ['-p', code],
      (code: string) => ['-pe', code],
    ];
    for (const form of forms) {
      const parent = spawnRaw(
        process.execPath,
        [
          '--no-warnings',
          ...form(`const { spawn } = require(${JSON.stringify(`${root}/dist/cjs/index.js`)});
           const c = spawn(process.execPath, ['-e', 'console.log(JSON.stringify(process.execArgv))'], { execArgv: true, stdio: 'inherit' });
           c.on('exit', () => {}); 0`),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const { code, stdout } = await finished(parent);
      assert.equal(code, 0);
      const childLine = stdout.split('\n').find((line) => line.startsWith('['))!;
      assert.deepEqual(
        JSON.parse(childLine),
        ['--no-warnings', '-e', 'console.log(JSON.stringify(process.execArgv))'],
        `parent ${form('…').join(' ')}`,
      );
    }
  });

  test('validation before anything is touched', () => {
    const ends = pipe();
    try {
      for (const [execArgv, code] of [
        ['--import tsx', 'ERR_INVALID_ARG_TYPE'],
        [[1], 'ERR_INVALID_ARG_TYPE'],
        [['a\0b'], 'ERR_INVALID_ARG_VALUE'],
      ] as const) {
        assert.throws(
          () => spawn(process.execPath, [], { fds: [ends.reader], execArgv } as unknown as Parameters<typeof spawn>[2]),
          { code },
        );
        assert.equal(ends.reader.closed, false, 'the end stays with this process');
      }
    } finally {
      ends.close();
    }
  });
});
