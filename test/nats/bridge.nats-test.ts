// unipc/nats's bridge() and `unipc bridge` against a real nats-server: messages cross in both directions
// exactly once and in order while the bridge process is killed with -9 at seeded random points and
// started again on its journal. UNIPC_BRIDGE_SEED=<n> replays a run.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Channel, IPC_PRIVATE, MessageQueue } from '../../src/index.js';
import { bridge, NatsChannel } from '../../src/nats.js';
import { finished, root } from '../helpers.js';
import { messageFor, random, receiveThroughRestarts, sendThroughRestarts } from './messages.js';
import { type NatsServer, natsServerMissing, startNatsServer } from './server.js';

const unique = (what: string) => `${what}_${randomBytes(4).toString('hex')}`;
const cli = path.join(root, 'dist', 'esm', 'cli', 'main.js');
const seed = Number(process.env.UNIPC_BRIDGE_SEED ?? Math.floor(Math.random() * 2 ** 31));

// Messages that fit a System V queue's default msgmax (8,192 bytes).
const small = (i: number) => messageFor(i).subarray(0, 4 + (i % 500));

/** Message number `expected`, intact: neither an earlier one again nor a later one (a loss). */
function assertNext(message: Buffer, expected: number): void {
  const got = message.length >= 4 ? message.readUInt32LE(0) : 'a short one';
  assert.ok(
    message.equals(messageFor(expected)),
    `message ${expected} once, intact and in order, not ${got} (seed ${seed})`,
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every message came, the last bridge finished by itself, and it was killed along the way. */
async function assertAllArrived(
  received: number,
  count: number,
  running: ReturnType<typeof unreliableBridge>,
  kills: { count: number },
): Promise<void> {
  assert.equal(received, count, `every message arrived (seed ${seed})`);
  const last = await running.finished;
  assert.equal(last.exitCode, 0, running.output());
  assert.ok(kills.count > 0, 'the bridge was killed at least once');
  process.stdout.write(`# ${kills.count} kills\n`);
  assert.deepEqual(running.failures, [], 'no bridge failed');
}

/** `unipc bridge` as a child process, killed with -9 and started again at random points until stopped. */
function unreliableBridge(args: string[], next: () => number, kills: { count: number }) {
  let child: ChildProcess | undefined;
  let stopped = false;
  let output = '';
  const failures: string[] = [];
  const start = () => {
    child = spawn(process.execPath, [cli, 'bridge', ...args, '--json', '--interval', '100'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    return child;
  };
  const loop = (async () => {
    while (!stopped) {
      const running = start();
      const exit = finished(running);
      const outcome = await Promise.race([exit.then(() => 'exited' as const), sleep(100 + next() * 500)]);
      if (outcome === 'exited') {
        if (running.exitCode === 0) return running; // the source ended: the bridge finished by itself
        failures.push(output.slice(-2000)); // started again, as a supervisor would; the test reports it
        continue;
      }
      if (stopped) break;
      running.kill('SIGKILL');
      await exit;
      kills.count++;
    }
    return child!;
  })();
  return {
    /** The last bridge, once one finished by itself (the source ended). */
    finished: loop,
    stop() {
      stopped = true;
      child?.kill('SIGKILL');
    },
    output: () => output,
    /** The output of bridges that exited with a failure. */
    failures,
  };
}

describe('bridge() and unipc bridge (a real nats-server)', { skip: natsServerMissing() }, () => {
  let server: NatsServer;
  let dir: string;
  before(async () => {
    server = await startNatsServer();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-bridge-'));
    process.stdout.write(`# bridge kill points: UNIPC_BRIDGE_SEED=${seed} npm run test:nats\n`);
  });
  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const bridgeArgs = (from: string, to: string, stream: string) => [
    from,
    to,
    '--journal',
    path.join(dir, `${stream}.journal`),
    '--servers',
    server.url,
  ];

  test('Channel → NATS: 20,000 messages arrive once each, in order, while the bridge is killed -9 and restarted', {
    timeout: 180_000,
  }, async () => {
    const next = random(seed);
    const name = `/${unique('unipc-bridge-out')}`;
    const stream = unique('OUT');
    const count = 20_000;
    // Not removeOnDispose: the producer closes before the bridge is done, and a bridge that starts
    // again after that still has to open the channel by its name.
    using producer = Channel.create({ name, role: 'producer' });
    const remote = await NatsChannel.open({ servers: server.url, stream, subject: `${stream}.m` });
    const kills = { count: 0 };
    const running = unreliableBridge(bridgeArgs(`channel:${name}`, `nats:${stream}/${stream}.m`, stream), next, kills);
    try {
      const sending = (async () => {
        for (let i = 0; i < count; i++) await sendThroughRestarts(producer, messageFor(i));
        producer.close(); // the end, which the bridge carries over
      })();
      let received = 0;
      for await (const message of remote) {
        assertNext(message, received);
        received++;
      }
      await sending;
      await assertAllArrived(received, count, running, kills);
    } finally {
      running.stop();
      await remote.close();
      Channel.unlink(name);
    }
  });

  test('NATS → Channel: 20,000 messages arrive once each, in order, while the bridge is killed -9 and restarted', {
    timeout: 180_000,
  }, async () => {
    const next = random(seed + 1);
    const name = `/${unique('unipc-bridge-in')}`;
    const stream = unique('IN');
    const count = 20_000;
    using consumer = Channel.create({ name, removeOnDispose: true, role: 'consumer' });
    const remote = await NatsChannel.open({ servers: server.url, stream, subject: `${stream}.m` });
    for (let i = 0; i < count; i++) await remote.send(messageFor(i));
    await remote.close({ end: true });
    const kills = { count: 0 };
    const running = unreliableBridge(bridgeArgs(`nats:${stream}/${stream}.m`, `channel:${name}`, stream), next, kills);
    try {
      let received = 0;
      for (let message = await receiveThroughRestarts(consumer, 30_000); message !== null; ) {
        assertNext(message, received);
        received++;
        message = await receiveThroughRestarts(consumer, 30_000);
      }
      await assertAllArrived(received, count, running, kills);
    } finally {
      running.stop();
    }
  });

  test('a System V queue → NATS → a System V queue, through bridge() in this process, with the types given', async () => {
    const stream = unique('SYSV');
    using source = MessageQueue.get(IPC_PRIVATE, { create: true, removeOnDispose: true });
    using target = MessageQueue.get(IPC_PRIVATE, { create: true, removeOnDispose: true });
    const out = await NatsChannel.open({ servers: server.url, stream, subject: `${stream}.m` });
    const back = await NatsChannel.open({ servers: server.url, stream, subject: `${stream}.m` });
    const stop = new AbortController();
    const outbound = bridge({ queue: source, type: 7 }, out, {
      journal: path.join(dir, `${stream}.out`),
      signal: stop.signal,
    });
    const inbound = bridge(
      back,
      { queue: target, type: 9 },
      { journal: path.join(dir, `${stream}.in`), signal: stop.signal },
    );
    try {
      await source.send(3, 'not for the bridge');
      for (let i = 0; i < 200; i++) await source.send(7, small(i));
      for (let i = 0; i < 200; i++) {
        const message = await target.receive({ timeout: 20_000 });
        assert.equal(message.type, 9);
        assert.ok(message.data.equals(small(i)), `message ${i}`);
      }
      assert.equal((await source.receive({ nowait: true })).data.toString(), 'not for the bridge');
      assert.deepEqual((await outbound.lag()).messages, 0);
      stop.abort();
      const [sent, handed] = await Promise.all([outbound.done, inbound.done]);
      assert.equal(sent.messages, 200);
      assert.equal(handed.messages, 200);
      assert.equal(handed.ended, false, 'stopped, not ended');
    } finally {
      stop.abort();
      await out.close();
      await back.close();
    }
  });

  test('a message JetStream can never take stops the bridge and stays in the ring; none after it is published', async () => {
    const stream = unique('BIG');
    const name = `/${unique('unipc-bridge-big')}`;
    using local = Channel.create({ name, capacity: 4 * 1024 * 1024, maxMessageSize: 2 * 1024 * 1024 - 8 });
    using reader = Channel.open(name, { role: 'consumer' });
    const remote = await NatsChannel.open({ servers: server.url, stream, subject: `${stream}.m` });
    try {
      for (let i = 0; i < 3; i++) await local.send(small(i));
      const big = Buffer.alloc(remote.maxMessageSize + 1, 7);
      await local.send(big);
      await local.send(small(3));
      const running = bridge(reader, remote, { journal: path.join(dir, `${stream}.journal`) });
      await assert.rejects(running.done, { code: 'ERR_OUT_OF_RANGE' });
      assert.equal(running.stats.messages, 3);
      assert.equal(await remote.lastSequence(), 3, 'nothing after it reached the stream');
      // Still in the ring, viewed and not released: the big message and the one after it.
      assert.ok((reader.writeIndex - reader.readIndex) >>> 0 > big.length, 'the big message is still in the ring');
    } finally {
      await remote.close();
      Channel.unlink(name);
    }
  });

  test('bad ends and journals are refused before anything moves', async () => {
    using local = Channel.create();
    const remote = await NatsChannel.open({ servers: server.url, stream: unique('BAD'), subject: unique('bad') });
    try {
      assert.throws(() => bridge(local, local as never, { journal: path.join(dir, 'x') }), {
        code: 'ERR_INVALID_ARG_VALUE',
      });
      assert.throws(() => bridge(remote, remote, { journal: path.join(dir, 'x') }), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.throws(() => bridge(local, remote, { journal: '' }), { code: 'ERR_INVALID_ARG_VALUE' });
      for (const window of [0, 1025, 2.5])
        assert.throws(() => bridge(local, remote, { journal: path.join(dir, 'w'), window }), {
          code: 'ERR_OUT_OF_RANGE',
        });
      assert.throws(() => bridge({} as never, remote, { journal: path.join(dir, 'y') }), {
        code: 'ERR_INVALID_ARG_VALUE',
      });
      const journal = path.join(dir, 'direction.journal');
      const stop = new AbortController();
      const running = bridge(local, remote, { journal, signal: stop.signal });
      stop.abort();
      await running.done;
      assert.throws(() => bridge(remote, local, { journal }), {
        code: 'ERR_INVALID_STATE',
        message: /outbound bridge/,
      });
      fs.writeFileSync(path.join(dir, 'damaged.journal'), 'not json\n');
      assert.throws(() => bridge(local, remote, { journal: path.join(dir, 'damaged.journal') }), {
        code: 'ERR_INVALID_STATE',
        message: /damaged/,
      });
    } finally {
      await remote.close();
    }
  });

  test('unipc bridge: usage errors exit 2 with the usage', async () => {
    for (const args of [
      [],
      ['channel:/a'],
      ['channel:/a', 'mq:/b', '--journal', 'j'],
      ['bogus', 'nats:S/s', '--journal', 'j'],
      ['channel:/a', 'nats:S/s'],
      ['channel:/a', 'nats:S/s', '--journal', 'j', '--replicas', '0'],
      ['channel:/a', 'nats:S/s', '--journal', 'j', '--window', '0'],
    ]) {
      const child = spawn(process.execPath, [cli, 'bridge', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const { code } = await finished(child);
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, /Usage: unipc bridge/);
    }
  });
});
