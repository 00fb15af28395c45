import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { fstat } from '../src/fd.js';
import {
  connect,
  connectSync,
  type IpcError,
  listen,
  PipeWriter,
  pipe,
  type SocketType,
  socketpair,
  spawn,
  UnixSocket,
} from '../src/index.js';
import { constants, native } from '../src/native.js';
import {
  compilePeer,
  descriptors,
  dup,
  finished,
  newDescriptors,
  spawnPeer,
  tempDir,
  uniqueIpcName,
} from './helpers.js';

describe('socketpair()', () => {
  for (const type of ['seqpacket', 'dgram'] as const) {
    test(`${type}: both directions with a child, message boundaries kept (empty, small, large)`, async () => {
      const [mine, theirs] = socketpair(type);
      const child = spawnPeer('socket-echo', [], { fds: [theirs] });
      const done = finished(child);
      const sizes = [0, 1, 7, 1000, 65536, 150000];
      const sent = sizes.map((size) => randomBytes(size));
      for (const message of sent) await mine.send(message);
      for (const expected of sent) {
        const echoed = await mine.receive({ timeout: 30_000 });
        assert.ok(echoed, 'a message came back');
        assert.equal(echoed.data.length, expected.length);
        assert.ok(echoed.data.equals(expected));
        assert.equal(echoed.credentials?.pid, child.pid, 'the kernel names the sender');
      }
      if (type === 'dgram') await mine.send('bye');
      else mine.shutdown('write');
      if (type === 'seqpacket') assert.equal(await mine.receive({ timeout: 30_000 }), null, 'end of connection');
      assert.equal((await done).code, 0);
      mine.close();
    });
  }

  test('stream: a Duplex in both directions with a child', async () => {
    const [mine, theirs] = socketpair('stream');
    const child = spawnPeer('socket-echo', [], { fds: [theirs] });
    const data = randomBytes(2 * 1024 * 1024);
    const received: Buffer[] = [];
    mine.stream.on('data', (chunk: Buffer) => received.push(chunk));
    const ended = new Promise((resolve) => mine.stream.on('end', resolve));
    mine.stream.end(data);
    await ended;
    assert.ok(Buffer.concat(received).equals(data));
    assert.equal((await finished(child)).code, 0);
    mine.close();
  });

  test('stream: raw send()/receive() chunks, end of data as null', async () => {
    const [a, b] = socketpair('stream');
    a.sendSync('abc');
    await a.send(Buffer.from('def'));
    a.shutdown('write');
    let text = '';
    for await (const chunk of b) text += chunk.data.toString();
    assert.equal(text, 'abcdef');
    assert.equal(b.receiveSync(), null);
    a.close();
    b.close();
  });

  test('seqpacket: an empty message is not mistaken for the end of the connection', async () => {
    const [a, b] = socketpair('seqpacket');
    a.sendSync('');
    a.sendSync('');
    a.close();
    const first = b.receiveSync();
    const second = await b.receive();
    assert.equal(first?.data.length, 0);
    assert.equal(second?.data.length, 0);
    assert.equal(b.receiveSync(), null);
    b.close();
  });

  test('receive() honours timeout and signal and the socket stays usable; close() rejects pending ones', async () => {
    const [a, b] = socketpair('seqpacket');
    await assert.rejects(
      b.receive({ timeout: 15 }),
      (error: IpcError) => error.code === 'ETIMEDOUT' && error.syscall === 'recvmsg',
    );
    const controller = new AbortController();
    const pending = b.receive({ signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    assert.throws(() => b.receiveSync({ timeout: 10 }), { code: 'ETIMEDOUT' });
    await a.send('after the timeouts');
    assert.equal((await b.receive())?.data.toString(), 'after the timeouts');
    const orphan = b.receive();
    b.close();
    await assert.rejects(orphan, { code: 'EBADF' });
    a.close();
  });

  test('concurrent receives get messages in call order', async () => {
    const [a, b] = socketpair('seqpacket');
    const receives = [b.receive(), b.receive(), b.receive()];
    for (const text of ['first', 'second', 'third']) await a.send(text);
    assert.deepEqual(
      (await Promise.all(receives)).map((m) => m?.data.toString()),
      ['first', 'second', 'third'],
    );
    a.close();
    b.close();
  });

  test('a full peer queue makes send() wait, not fail', async () => {
    const [a, b] = socketpair('seqpacket');
    const count = 2000;
    const sending = (async () => {
      for (let i = 0; i < count; i++) await a.send(Buffer.alloc(1024, i % 256));
    })();
    for (let i = 0; i < count; i++) {
      const message = await b.receive();
      assert.equal(message?.data[0], i % 256);
    }
    await sending;
    a.close();
    b.close();
  });

  test('a send already waiting when the peer goes reports the real error, not a poll error', async () => {
    const [a, b] = socketpair('seqpacket');
    const waiting = (async () => {
      for (;;) await a.send(Buffer.alloc(32 * 1024));
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    b.close();
    await assert.rejects(
      waiting,
      (error: IpcError) => ['ECONNRESET', 'EPIPE'].includes(error.code) && error.syscall === 'sendmsg',
    );
    a.close();
  });

  test('sendSync() with a timeout cannot overrun it on a full stream socket', () => {
    const [a, b] = socketpair('stream');
    const started = performance.now();
    assert.throws(() => a.sendSync(Buffer.alloc(8 * 1024 * 1024), { timeout: 100 }), {
      code: 'ETIMEDOUT',
      syscall: 'sendmsg',
    });
    assert.ok(performance.now() - started < 10_000);
    a.close();
    b.close();
  });

  test('send to a peer that is gone: EPIPE (seqpacket, stream), ECONNREFUSED (dgram)', async () => {
    for (const [type, code] of [
      ['seqpacket', 'EPIPE'],
      ['stream', 'EPIPE'],
      ['dgram', 'ECONNREFUSED'],
    ] as const) {
      const [a, b] = socketpair(type);
      b.close();
      await assert.rejects(a.send('x'), (error: IpcError) => error.code === code && error.syscall === 'sendmsg');
      a.close();
    }
  });

  test('.stream is only for stream sockets', () => {
    const [a, b] = socketpair('dgram');
    assert.throws(() => a.stream, { code: 'ERR_INVALID_STATE', message: /only 'stream' sockets have one/ });
    a.close();
    b.close();
  });

  test('fromFd() adopts Unix sockets only', () => {
    const descriptor = fs.openSync('/dev/null', 'r');
    assert.throws(() => UnixSocket.fromFd(descriptor), { code: 'ENOTSOCK', syscall: 'getsockopt' });
    fs.closeSync(descriptor);
    const [a, b] = socketpair('seqpacket');
    const adopted = UnixSocket.fromFd(dup(a));
    assert.equal(adopted.type, 'seqpacket');
    adopted.sendSync('via the adopted copy');
    assert.equal(b.receiveSync()?.data.toString(), 'via the adopted copy');
    adopted.close();
    a.close();
    b.close();
  });
});

describe('descriptor passing (SCM_RIGHTS)', () => {
  test('an open file and a pipe end, in one message, to a child that uses both', async () => {
    using dir = tempDir();
    fs.writeFileSync(dir.file('secret.txt'), 'contents only the descriptor can show');
    // Opened by the addon: on Deno fs.openSync() gives a resource id, not a descriptor to pass.
    const file = native.open(dir.file('secret.txt'), constants.O_RDONLY | constants.O_CLOEXEC, 0, -1);
    fs.unlinkSync(dir.file('secret.txt'));
    const { reader, writer } = pipe();
    const [mine, theirs] = socketpair('seqpacket');
    const child = spawnPeer('fd-receiver', [], { fds: [theirs] });
    const done = finished(child); // listening from the start: Bun drops a child's output nobody listened for
    await mine.send('take these', { fds: [file, writer] });
    native.close(file);
    writer.close();
    const greeting = await reader.read({ timeout: 30_000 });
    const { code, stdout } = await done;
    assert.equal(code, 0);
    const report = JSON.parse(stdout);
    assert.equal(report.text, 'take these');
    assert.equal(report.senderPid, process.pid);
    assert.deepEqual(report.used, [
      { kind: 'file', content: 'contents only the descriptor can show' },
      { kind: 'pipe' },
    ]);
    assert.equal(greeting?.toString(), `hello from ${child.pid}`);
    assert.equal(await reader.read(), null, 'the child closed the last copy of the write end');
    reader.close();
    mine.close();
  });

  for (const type of ['stream', 'seqpacket'] as const) {
    test(`${type}: descriptors to a C program whose control buffer fits just them`, async () => {
      const program = compilePeer('fd_receiver');
      const ends = [pipe(), pipe(), pipe()];
      const [mine, theirs] = socketpair(type);
      // Receiving on our end first must not make the child's end ask for credentials too.
      await assert.rejects(mine.receive({ timeout: 1 }), { code: 'ETIMEDOUT' });
      const child = spawn(program, ['3'], { stdio: ['ignore', 'pipe', 'inherit'], fds: [theirs] });
      const done = finished(child);
      await mine.send('three pipes', { fds: ends.map((p) => p.writer) });
      for (const p of ends) p.writer.close();
      const { code, stdout } = await done;
      assert.equal(code, 0);
      assert.deepEqual(JSON.parse(stdout), { text: 'three pipes', fds: 3, ctrunc: false });
      for (const p of ends) {
        assert.equal(p.reader.readSync()?.toString(), `hello from C ${child.pid}\n`);
        p.reader.close();
      }
      mine.close();
    });
  }

  test('send() carries the descriptors as they were at the call, even if closed before it completes', async () => {
    const [a, b] = socketpair('seqpacket');
    using p = pipe();
    const sending = a.send('my write end', { fds: [p.writer] });
    p.writer.close();
    using dir = tempDir();
    fs.writeFileSync(dir.file('decoy'), 'decoy');
    const decoy = fs.openSync(dir.file('decoy'), 'r'); // likely takes the number just freed
    await sending;
    const message = await b.receive();
    const received = PipeWriter.fromFd(message!.fds[0]);
    received.writeSync('through the copy');
    received.close();
    assert.equal(p.reader.readSync()?.toString(), 'through the copy');
    fs.closeSync(decoy);
    await assert.rejects(a.send('closed', { fds: [p.writer] }), { code: 'EBADF', name: 'IpcError' });
    a.close();
    b.close();
  });

  test('SharedArrayBuffer data is sent like any other', async () => {
    const [a, b] = socketpair('seqpacket');
    const shared = new Uint8Array(new SharedArrayBuffer(4));
    shared.set([1, 2, 3, 4]);
    await a.send(shared);
    a.sendSync(shared.buffer);
    assert.deepEqual([...(await b.receive())!.data], [1, 2, 3, 4]);
    assert.deepEqual([...b.receiveSync()!.data], [1, 2, 3, 4]);
    a.close();
    b.close();
  });

  test("received descriptors are new, close-on-exec, and in the receiver's hands", async () => {
    const [a, b] = socketpair('seqpacket');
    const p = pipe();
    a.sendSync('fd', { fds: [p.writer.fd] });
    const message = b.receiveSync();
    assert.equal(message?.fds.length, 1);
    const received = message!.fds[0];
    assert.notEqual(received, p.writer.fd);
    const flags = fs.readFileSync(`/proc/self/fdinfo/${received}`, 'utf8').match(/flags:\s+(\d+)/)![1];
    assert.ok(parseInt(flags, 8) & 0o2000000, 'O_CLOEXEC is set');
    const writer = PipeWriter.fromFd(received);
    writer.writeSync('through the copy');
    assert.equal(p.reader.readSync()?.toString(), 'through the copy');
    writer.close();
    p.close();
    a.close();
    b.close();
  });

  test("up to 253 descriptors in one message (the kernel's limit); more is refused before sending", () => {
    const before = descriptors();
    const [a, b] = socketpair('seqpacket');
    using p = pipe();
    const many = Array.from({ length: 253 }, () => p.writer.fd);
    a.sendSync('many', { fds: many });
    const message = b.receiveSync()!;
    assert.equal(message.fds.length, 253);
    assert.equal(new Set(message.fds).size, 253, 'each arrives as its own descriptor');
    assert.equal(message.fdsTruncated, undefined);
    for (const fd of message.fds) native.close(fd);
    assert.throws(() => a.sendSync('too many', { fds: [...many, p.writer.fd] }), { code: 'ERR_INVALID_ARG_VALUE' });
    a.close();
    b.close();
    p.close();
    assert.deepEqual(newDescriptors(before), []);
  });
});

describe('listen() and connect()', () => {
  test('the socket file is never more open than its mode: the socket has the mode before bind() makes the file', () => {
    using dir = tempDir();
    for (const mode of [0o600, 0o660]) {
      const path = dir.file(`mode-${mode.toString(8)}.sock`);
      const server = listen(path, { mode });
      try {
        // bind() creates the file with the socket's own mode less the umask (net/unix/af_unix.c), so a
        // socket that has `mode` already can never show more to a process racing to connect.
        assert.equal(fstat(server.fd).mode & 0o777, mode);
        assert.equal(fs.statSync(path).mode & 0o777, mode);
      } finally {
        server.close();
      }
    }
  });

  for (const type of ['stream', 'seqpacket'] as const satisfies SocketType[]) {
    test(`${type}: a child connects by path; the server sees its credentials`, async () => {
      using dir = tempDir();
      const path = dir.file('server.sock');
      const server = listen(path, { type });
      assert.equal(fs.statSync(path).mode & 0o777, 0o600);
      const child = spawnPeer('connect', [path, type]);
      const done = finished(child);
      const connection = await server.accept({ timeout: 30_000 });
      const credentials = connection.peerCredentials();
      assert.equal(credentials.pid, child.pid);
      assert.equal(credentials.uid, process.getuid!());
      assert.equal(credentials.gid, process.getgid!());
      const hello = await connection.receive({ timeout: 30_000 });
      assert.equal(hello?.data.toString(), `hi from ${child.pid}`);
      await connection.send('welcome');
      const { code, stdout } = await done;
      assert.equal(code, 0);
      assert.deepEqual(JSON.parse(stdout), { reply: 'welcome' });
      connection.close();
      server.close();
      assert.equal(fs.existsSync(path), false, 'close() removes the socket file');
    });
  }

  test('connectSync, an abstract name, and connections() iteration', async () => {
    const name = `\0${uniqueIpcName('abstract')}`;
    const server = listen(name, { type: 'seqpacket' });
    const client = connectSync(name, { type: 'seqpacket', timeout: 1000 });
    const iterator = server.connections();
    const { value: accepted } = await iterator.next();
    client.sendSync('abstract');
    assert.equal(accepted!.receiveSync()?.data.toString(), 'abstract');
    const next = iterator.next();
    server.close();
    assert.deepEqual(await next, { value: undefined, done: true });
    accepted!.close();
    client.close();
  });

  test('errors: EADDRINUSE, ENOENT, ECONNREFUSED, EPROTOTYPE', async () => {
    using dir = tempDir();
    const path = dir.file('busy.sock');
    const server = listen(path);
    assert.throws(
      () => listen(path),
      (error: IpcError) => {
        assert.equal(error.code, 'EADDRINUSE');
        assert.equal(error.syscall, 'bind');
        assert.equal(error.path, path);
        return true;
      },
    );
    await assert.rejects(connect(dir.file('absent.sock')), { code: 'ENOENT', syscall: 'connect' });
    await assert.rejects(connect(path, { type: 'seqpacket' }), { code: 'EPROTOTYPE' });
    server.close();
    fs.writeFileSync(dir.file('stale.sock'), '');
    await assert.rejects(connect(dir.file('stale.sock')), { code: 'ECONNREFUSED' });
    fs.unlinkSync(dir.file('stale.sock'));
  });

  test('a server handed to a child arrives in blocking mode', async () => {
    using dir = tempDir();
    const server = listen(dir.file('handed.sock'));
    const child = spawn('sh', ['-c', 'grep ^flags: /proc/self/fdinfo/3'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      fds: [server],
    });
    const { code, stdout } = await finished(child);
    assert.equal(code, 0);
    const flags = parseInt(stdout.split(/\s+/)[1], 8);
    assert.equal(flags & 0o4000, 0, 'O_NONBLOCK is clear');
    assert.equal(server.closed, true);
    assert.equal(fs.existsSync(dir.file('handed.sock')), false, "closing the parent's server removed the socket file");
  });

  test('accept() honours timeout and signal', async () => {
    using dir = tempDir();
    const server = listen(dir.file('quiet.sock'));
    await assert.rejects(server.accept({ timeout: 15 }), { code: 'ETIMEDOUT', syscall: 'accept4' });
    await assert.rejects(server.accept({ signal: AbortSignal.timeout(15) }), { name: 'AbortError' });
    assert.throws(() => server.acceptSync({ timeout: 10 }), { code: 'ETIMEDOUT' });
    server.close();
  });
});
