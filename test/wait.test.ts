import assert from 'node:assert/strict';
import { spawn as spawnRaw } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { AbortError, IpcError, connect, listen, mkfifo, openFifo, socketpair, waiterStats } from '../src/index.js';
import { finished, lineFrom, openFdCount, root, spawnPeer, tempDir } from './helpers.js';

describe('the waiting model', () => {
  test('1,000 pending waits (500 on waiter threads, 500 polled) leave the event loop and fs responsive', async () => {
    using dir = tempDir();
    const path = dir.file('nobody-writes');
    mkfifo(path);
    const fdsBefore = openFdCount();
    const controller = new AbortController();
    const { signal } = controller;
    const threadWaits = Array.from({ length: 500 }, () => openFifo(path, 'r', { signal }));
    const pairs = Array.from({ length: 100 }, () => socketpair('seqpacket'));
    const polledWaits = pairs.flatMap(([, b]) => Array.from({ length: 5 }, () => b.receive({ signal })));
    const all = [...threadWaits, ...polledWaits].map((p) => p.then(() => 'resolved', (e: Error) => e));
    await sleep(20);
    assert.equal(waiterStats().pending, 500);

    const started = performance.now();
    const content = await fs.promises.readFile(new URL('../package.json', import.meta.url), 'utf8');
    const elapsed = performance.now() - started;
    assert.match(content, /"name": "unipc"/);
    assert.ok(elapsed < 5000, `readFile took ${elapsed} ms with 1,000 waits pending`);

    controller.abort(new Error('enough'));
    const outcomes = await Promise.all(all);
    for (const outcome of outcomes) {
      assert.ok(outcome instanceof AbortError, String(outcome));
      assert.equal((outcome.cause as Error).message, 'enough');
    }
    const stats = waiterStats();
    assert.equal(stats.pending, 0);
    assert.equal(stats.cancelling, 0);
    assert.equal(stats.idle, stats.threads, 'no waiter thread is still busy');
    for (const [a, b] of pairs) {
      a.close();
      b.close();
    }
    assert.equal(openFdCount(), fdsBefore, 'no descriptor leaked');
  });

  test('an already-aborted signal rejects at once without starting a wait', async () => {
    using dir = tempDir();
    mkfifo(dir.file('f'));
    const reason = new Error('before we began');
    await assert.rejects(openFifo(dir.file('f'), 'r', { signal: AbortSignal.abort(reason) }), (error: AbortError) => {
      assert.equal(error.name, 'AbortError');
      assert.equal(error.code, 'ABORT_ERR');
      assert.equal(error.cause, reason);
      return true;
    });
    assert.equal(waiterStats().pending, 0);
  });

  test('timeouts reject with IpcError ETIMEDOUT naming the call', async () => {
    const [a, b] = socketpair('dgram');
    const error = await b.receive({ timeout: 25 }).catch((e: IpcError) => e);
    assert.ok(error instanceof IpcError);
    assert.equal(error.code, 'ETIMEDOUT');
    assert.equal(error.errno, 110);
    assert.equal(error.syscall, 'recvmsg');
    assert.equal(error.message, 'ETIMEDOUT: timed out after 25 ms, recvmsg');
    a.close();
    b.close();
  });

  for (const kind of ['fifo', 'socket'] as const) {
    test(`${kind}: a pending wait keeps the process alive unless it is unreferenced`, async () => {
      using dir = tempDir();
      const path = dir.file('f');
      if (kind === 'fifo') mkfifo(path);
      const args = (mode: string) => (kind === 'fifo' ? ['fifo', path, mode] : ['socket', mode]);

      const unref = spawnPeer('pending-wait', args('unref'));
      const unrefDone = await finished(unref);
      assert.equal(unrefDone.code, 0);
      assert.match(unrefDone.stdout, /waiting\nexiting 0/);

      const ref = spawnPeer('pending-wait', args('ref'));
      const refDone = finished(ref);
      await lineFrom(ref, 'waiting');
      await sleep(300);
      assert.equal(ref.exitCode, null, 'still waiting');
      if (kind === 'fifo') {
        const writer = await openFifo(path, 'w', { timeout: 10_000 });
        writer.close();
      } else {
        ref.kill();
      }
      const { stdout } = await refDone;
      if (kind === 'fifo') assert.match(stdout, /opened\nexiting 0/);
    });
  }

  test('idle waiter threads retire: cancelled waits leave no thread behind', async () => {
    using dir = tempDir();
    mkfifo(dir.file('f'));
    const child = spawnPeer('thread-retire', [dir.file('f')], { env: { ...process.env, UNIPC_WAITER_IDLE_MS: '100' } });
    const { code, stdout } = await finished(child);
    assert.equal(code, 0);
    const report = JSON.parse(stdout);
    assert.deepEqual(report.outcomes, ['AbortError']);
    assert.ok(report.during.threads >= report.before + 50, `50 waits ran on their own threads (${JSON.stringify(report)})`);
    assert.equal(report.during.stats.pending, 50);
    assert.equal(report.stats.threads, 0, 'every waiter thread retired');
    assert.ok(report.after <= report.before + 1, `threads back to the start (the canceller may stay): ${report.before} → ${report.after}`);
  });

  test('the addon stays loaded while its threads live, even when only a worker thread used it', async () => {
    using dir = tempDir();
    const child = spawnRaw(process.execPath, [new URL('./peers/worker-only.mjs', import.meta.url).pathname, dir.file('f')], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, UNIPC_WAITER_IDLE_MS: '100' },
    });
    const { code, signal, stdout } = await finished(child);
    assert.equal(signal, null, 'no crash when the idle waiter thread retired');
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout), { outcome: 'ETIMEDOUT', threads: 1, mapped: true });
  });

  test('objects forgotten after Promise operations give back descriptors and poll handles', async () => {
    const child = spawnRaw(process.execPath, ['--expose-gc', '--import', 'tsx', new URL('./peers/forgotten.ts', import.meta.url).pathname], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const { code, stdout } = await finished(child);
    assert.equal(code, 0);
    const { before, during, after } = JSON.parse(stdout);
    assert.ok(during.pollers >= before.pollers + 200, `poll handles were made: ${stdout}`);
    assert.equal(after.pollers, before.pollers, `poll handles collected: ${stdout}`);
    assert.equal(after.fds, before.fds, `descriptors closed: ${stdout}`);
  });

  test('terminating a worker thread during connect() leaks no descriptor', async () => {
    const name = `\0unipc-test-backlog-${process.pid}`;
    const server = listen(name, { backlog: 0 });
    const first = await connect(name); // fills the backlog: the next connect must wait
    const fdsBefore = openFdCount();
    for (let round = 0; round < 3; round++) {
      const worker = new Worker(new URL('./peers/worker-bootstrap.mjs', import.meta.url), {
        workerData: { name, script: new URL('./peers/worker-connect.ts', import.meta.url).href },
      });
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      await worker.terminate();
    }
    await sleep(50);
    assert.equal(openFdCount(), fdsBefore);
    first.close();
    server.close();
  });

  test('terminating a worker thread with waits pending cancels them cleanly', async () => {
    using dir = tempDir();
    mkfifo(dir.file('f'));
    const fdsBefore = openFdCount();
    for (let round = 0; round < 3; round++) {
      const worker = new Worker(new URL('./peers/worker-bootstrap.mjs', import.meta.url), {
        workerData: { path: dir.file('f'), script: new URL('./peers/worker-wait.ts', import.meta.url).href },
      });
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      assert.equal(await worker.terminate(), 1);
    }
    await sleep(50);
    const stats = waiterStats();
    assert.equal(stats.cancelling, 0);
    assert.equal(stats.idle, stats.threads, 'the workers\' waiter threads were released');
    assert.equal(openFdCount(), fdsBefore);
  });
});
