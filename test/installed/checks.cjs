'use strict';
// The smoke program of the package test (scripts/test-package.mjs): what a user does first with unipc,
// run on the package installed from its tarball, through `import` (smoke.mjs) or `require` (smoke.cjs).
// Between this process and children of its own: a pipe round trip, a Channel both ways (copies and
// zero-copy views), a Mutex two processes contend for, with Atomics counting beside it, a Mutex whose
// owner died holding it, a System V queue message taken by a Promise receive, and an IpcError's code.
// Those are the futex, robust-mutex and Atomics paths, where a weakly ordered CPU (arm64) differs from
// x86. Any failure throws: the process exits non-zero. On success it prints one line: the module
// system, Node, the CPU, the binary node-gyp-build chose and how lent views are made.
//
// Environment: UNIPC_SMOKE_NODE, the command that runs Node for the children (under qemu-user a
// wrapper script, since the emulated process.execPath cannot be exec'd); UNIPC_SMOKE_BINARY and
// UNIPC_SMOKE_VIEWS, the binary file name and lent-view mode to insist on; UNIPC_SMOKE_ROUNDS.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const node = process.env.UNIPC_SMOKE_NODE || process.execPath;
const rounds = Number(process.env.UNIPC_SMOKE_ROUNDS || 2000);
const MESSAGES = 200;

function exited(child) {
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`child ${child.spawnargs.slice(-1)} exited with ${code ?? signal}`)),
    );
  });
}

// What a child runs: `role` is its argument.
async function child(unipc, role) {
  const { Channel, MemoryFile, Mutex, PipeReader, PipeWriter } = unipc;
  // No `using`: Node 20 and 22 lack it.
  if (role === 'pipe') {
    const reader = PipeReader.fromFd(3);
    const writer = PipeWriter.fromFd(4);
    const chunks = [];
    for await (const chunk of reader.stream) chunks.push(chunk);
    writer.writeSync(`pong: ${Buffer.concat(chunks)}`);
    writer.close();
  } else if (role === 'channel') {
    // Receives each message as a lent view, and sends back its length and a checksum through the
    // second channel, reserving the reply in place.
    const jobs = Channel.fromFd(3);
    const replies = Channel.fromFd(4);
    const wait = { timeout: 30_000 };
    for (let view = jobs.receiveViewSync(wait); view !== null; view = jobs.receiveViewSync(wait)) {
      let sum = 0;
      for (const byte of view) sum = (sum + byte) % 65521;
      const length = view.length;
      jobs.release();
      const view8 = replies.reserveSync(8, wait);
      const reply = new DataView(view8.buffer, view8.byteOffset, 8);
      reply.setUint32(0, length, true);
      reply.setUint32(4, sum, true);
      replies.commit();
    }
    jobs.close();
    replies.close();
  } else if (role === 'count' || role === 'die') {
    const file = MemoryFile.fromFd(3);
    const map = file.map();
    if (role === 'die') {
      new Mutex(map, 16).lockSync(); // and exits holding it
      return;
    }
    const mutex = new Mutex(map, 0);
    const words = new Int32Array(map.buffer, 64, 2);
    for (let i = 0; i < rounds; i++) {
      const guard = mutex.lockSync({ timeout: 30_000 });
      words[0] = words[0] + 1; // a plain read-modify-write: right only under the lock
      Atomics.add(words, 1, 1);
      guard.unlock();
    }
    map.close();
    file.close();
  } else {
    throw new Error(`unknown role ${role}`);
  }
}

async function parent(unipc, entry, system) {
  const { Channel, IPC_PRIVATE, IpcError, MemoryFile, MessageQueue, Mutex, PosixQueue, pipe, spawn } = unipc;
  const started = Date.now();
  const start = (role, fds) => exited(spawn(node, [entry, role], { stdio: 'inherit', fds }));

  // A pipe round trip.
  {
    const there = pipe();
    const back = pipe();
    const done = start('pipe', [there.reader, back.writer]);
    there.writer.writeSync('ping');
    there.writer.close();
    const chunks = [];
    for await (const chunk of back.reader.stream) chunks.push(chunk);
    back.reader.close();
    assert.equal(Buffer.concat(chunks).toString(), 'pong: ping');
    await done;
  }

  // A Channel both ways: messages of every length up to 1 KiB, checked byte by byte at the other end.
  {
    const jobs = Channel.create({ capacity: 1 << 14 });
    const replies = Channel.create({ capacity: 1 << 12 });
    const done = start('channel', [jobs.fd, replies.fd]);
    const expected = [];
    for (let i = 0; i < MESSAGES; i++) {
      const length = (i * 37) % 1024;
      const view = await jobs.reserve(length, { timeout: 30_000 });
      let sum = 0;
      for (let j = 0; j < length; j++) {
        view[j] = (i + j * 7) & 0xff;
        sum = (sum + view[j]) % 65521;
      }
      jobs.commit();
      expected.push([length, sum]);
      if (i % 3 === 0) {
        const [wantLength, wantSum] = expected.shift();
        const reply = await replies.receive({ timeout: 30_000 });
        assert.deepEqual([reply.readUInt32LE(0), reply.readUInt32LE(4)], [wantLength, wantSum]);
      }
    }
    jobs.close(); // the end: the child's loop ends once it drained
    for (const [wantLength, wantSum] of expected) {
      const reply = await replies.receive({ timeout: 30_000 });
      assert.deepEqual([reply.readUInt32LE(0), reply.readUInt32LE(4)], [wantLength, wantSum]);
    }
    assert.equal(await replies.receive({ timeout: 30_000 }), null, 'the end, once the child closed its end');
    replies.close();
    await done;
  }

  // Two processes contend for one Mutex (futex waits), counting under it and with Atomics beside it.
  {
    const file = MemoryFile.create('smoke', { size: 4096 });
    const map = file.map();
    const mutex = new Mutex(map, 0);
    const words = new Int32Array(map.buffer, 64, 2);
    const done = start('count', [file.fd]);
    for (let i = 0; i < rounds; i++) {
      const guard = await mutex.lock({ timeout: 30_000 });
      words[0] = words[0] + 1;
      Atomics.add(words, 1, 1);
      guard.unlock();
    }
    await done;
    assert.deepEqual([words[0], Atomics.load(words, 1)], [2 * rounds, 2 * rounds]);

    // A robust Mutex: its owner exits holding it; the next locker gets it, told so.
    await start('die', [file.fd]);
    const dead = new Mutex(map, 16);
    const guard = await dead.lock({ timeout: 30_000 });
    assert.equal(guard.ownerDied, true);
    guard.markConsistent();
    guard.unlock();
    assert.equal(dead.owner, 0);
    map.close();
    file.close();
  }

  // A System V queue: a Promise receive waits on the addon's thread for the message sent after it.
  {
    const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
    try {
      const receiving = queue.receive({ type: 0, timeout: 30_000 });
      await queue.send(7, 'queued');
      const { type, data } = await receiving;
      assert.deepEqual([type, `${data}`], [7, 'queued']);
    } finally {
      queue.remove();
    }
  }

  // An IpcError with its code.
  assert.throws(
    () => PosixQueue.open(`/unipc-smoke-missing-${process.pid}`),
    (error) => error instanceof IpcError && error.code === 'ENOENT' && error.syscall === 'mq_open',
  );

  // Which binary node-gyp-build chose (the mapped .node file), and how lent views are made.
  const binary = fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .map((line) => line.split(/\s+/).slice(5).join(' '))
    .find((file) => file.endsWith('.node'));
  const root = path.dirname(require.resolve('unipc/package.json'));
  const lentViews = require(path.join(root, 'dist', 'cjs', 'channel.js')).LENT_VIEW_GUARD;
  if (process.env.UNIPC_SMOKE_BINARY) assert.equal(path.basename(binary), process.env.UNIPC_SMOKE_BINARY);
  if (process.env.UNIPC_SMOKE_VIEWS === 'v8') assert.notEqual(lentViews, 'node', 'lent views through V8');
  if (process.env.UNIPC_SMOKE_VIEWS === 'node') assert.equal(lentViews, 'node', 'lent views through Node-API');
  const shown = binary.startsWith(root) ? path.relative(root, binary) : binary;
  console.log(
    `smoke ok: ${system}, Node ${process.version} ${process.arch}, ${shown}, lent views ${lentViews}, ${Date.now() - started} ms`,
  );
}

/** Runs the smoke program: the parent, or the child named by the first argument. */
exports.run = function run(unipc, entry, system) {
  const role = process.argv[2];
  const done = role === undefined ? parent(unipc, entry, system) : child(unipc, role);
  return done.catch((error) => {
    console.error(`smoke FAILED (${system}${role ? `, child ${role}` : ''}):`, error);
    process.exitCode = 1;
  });
};
