// Three hosts (network namespaces joined by veth pairs) run a three-node NATS cluster with a stream of
// three replicas. On host A a producer writes to a local Channel and `unipc bridge` carries it to
// JetStream; on host B another bridge carries the stream to a local Channel that a consumer reads. At
// seeded random points a bridge is killed with -9 and started again, a server is killed with -9 and
// started again on its store, or a host's link is cut and restored; every message must reach host B's
// consumer once, intact and in order. UNIPC_CLUSTER_SEED=<n> replays a run's faults;
// UNIPC_CLUSTER_MESSAGES sets the count (default 100,000).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Channel } from '../../src/index.js';
import { BRIDGE_GAP } from '../../src/nats.js';
import { finished, root } from '../helpers.js';
import { type Cluster, clusterUnavailable, type Host, startCluster } from './cluster.js';
import { random } from './messages.js';
import { natsServerMissing } from './server.js';

const seed = Number(process.env.UNIPC_CLUSTER_SEED ?? Math.floor(Math.random() * 2 ** 31));
const count = Number(process.env.UNIPC_CLUSTER_MESSAGES ?? 100_000);
const cli = path.join(root, 'dist', 'esm', 'cli', 'main.js');
const peer = path.join(root, 'test', 'nats', 'cluster-peer.ts');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A process on a host whose stdout is kept, and whose exit is awaited. */
function run(host: Host, argv: string[]) {
  const child = host.spawn(argv);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return { child, exit: finished(child), output: () => output };
}

/** `unipc bridge` on a host, started again whenever it dies, until it finishes by itself (exit 0). */
function supervisedBridge(host: Host, args: string[]) {
  let current: ReturnType<typeof run> | undefined;
  let stopped = false;
  const failures: string[] = [];
  let restarts = 0;
  const done = (async () => {
    while (!stopped) {
      current = run(host, [process.execPath, cli, 'bridge', ...args, '--json', '--interval', '250']);
      const { code, signal } = await current.exit;
      if (code === 0) return;
      if (signal !== 'SIGKILL') {
        failures.push(current.output().slice(-3000)); // a supervisor starts it again; the test reports it
        // The stream lost messages (BRIDGE_GAP): starting again would only stop again.
        if (current.output().includes(BRIDGE_GAP)) return;
        await sleep(200);
      }
      restarts++;
    }
  })();
  return {
    done,
    failures,
    restarts: () => restarts,
    kill: () => current?.child.kill('SIGKILL'),
    stop() {
      stopped = true;
      current?.child.kill('SIGKILL');
    },
    output: () => current?.output() ?? '',
  };
}

describe('a three-host NATS cluster (network namespaces)', {
  skip: natsServerMissing() ?? clusterUnavailable(),
}, () => {
  test(`${count.toLocaleString('en')} messages from a Channel on host A reach a Channel on host B once each, in order, while bridges, servers and links fail`, {
    timeout: 900_000,
  }, async () => {
    process.stdout.write(`# cluster faults: UNIPC_CLUSTER_SEED=${seed} npm run test:nats\n`);
    const next = random(seed);
    const tag = randomBytes(4).toString('hex');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-cluster-journals-'));
    const nameA = `/unipc-cluster-a-${tag}`;
    const nameB = `/unipc-cluster-b-${tag}`;
    // Created here, so that both exist before any peer starts; their roles are the peers'.
    using _channelA = Channel.create({ name: nameA, capacity: 4 * 1024 * 1024 });
    using _channelB = Channel.create({ name: nameB, capacity: 4 * 1024 * 1024 });
    let cluster: Cluster | undefined;
    const faults: string[] = [];
    const bridges: Array<ReturnType<typeof supervisedBridge>> = [];
    const peers: Array<ReturnType<typeof run>> = [];
    try {
      cluster = await startCluster();
      const [hostA, hostB] = cluster.hosts as [Host, Host, Host];
      const servers = (first: number) => [cluster!.urls[first]!, ...cluster!.urls.filter((_, i) => i !== first)];
      const nats = `nats:EVENTS_${tag}/events.${tag}`;
      const bridgeArgs = (from: string, to: string, journal: string, first: number) => [
        from,
        to,
        '--journal',
        path.join(dir, journal),
        '--servers',
        servers(first).join(','),
        '--replicas',
        '3',
        // The default for a replicated stream is one publish at a time: pipelined with
        // Nats-Expected-Last-Msg-Id, nats-server 2.9.10 lost messages it had acknowledged when servers
        // were killed (docs/nats.md). UNIPC_CLUSTER_WINDOW=256 shows it.
        ...(process.env.UNIPC_CLUSTER_WINDOW === undefined ? [] : ['--window', process.env.UNIPC_CLUSTER_WINDOW]),
      ];
      const consumer = run(hostB, [process.execPath, '--import', 'tsx', peer, 'consume', nameB, String(count)]);
      const outbound = supervisedBridge(hostA, bridgeArgs(`channel:${nameA}`, nats, 'a.journal', 0));
      const inbound = supervisedBridge(hostB, bridgeArgs(nats, `channel:${nameB}`, 'b.journal', 1));
      bridges.push(outbound, inbound);
      const producer = run(hostA, [process.execPath, '--import', 'tsx', peer, 'produce', nameA, String(count)]);
      peers.push(consumer, producer);
      const started = Date.now();
      let consumed = false;
      void consumer.exit.then(() => {
        consumed = true;
      });
      // A bridge that stops for good (a gap in the stream) ends the run as the consumer's exit does.
      const stopped = new Promise<void>((resolve) => {
        for (const bridge of [outbound, inbound])
          void bridge.done.then(() => {
            if (bridge.failures.some((failure) => failure.includes(BRIDGE_GAP))) {
              consumed = true;
              resolve();
            }
          });
      });
      // One fault at a time, each mended, and the cluster healthy again (a restarted or reconnected server
      // caught up), before the next: JetStream keeps an acknowledged message while two of the three
      // servers hold it, and two faults closer together than a server's catch-up can lose messages
      // it had acknowledged (seen here with UNIPC_CLUSTER_SEED=3: 4,099 of them). The test is of the
      // bridges, not of more failures than the stream's replicas can take.
      while (!consumed) {
        await Promise.race([sleep(300 + next() * 1200), consumer.exit, stopped]);
        if (consumed) break;
        const at = `${((Date.now() - started) / 1000).toFixed(1)} s`;
        const kind = Math.floor(next() * 4);
        const host = Math.floor(next() * 3);
        const length = 200 + next() * 1300;
        if (kind === 0) {
          faults.push(`${at}: kill -9 the bridge on host A`);
          outbound.kill();
        } else if (kind === 1) {
          faults.push(`${at}: kill -9 the bridge on host B`);
          inbound.kill();
        } else if (kind === 2) {
          faults.push(`${at}: kill -9 server ${host + 1} for ${length.toFixed(0)} ms`);
          await cluster.killServer(host);
          await sleep(length);
          await cluster.startServer(host);
        } else {
          faults.push(`${at}: cut host ${host + 1}'s link for ${length.toFixed(0)} ms`);
          cluster.cut(host);
          await sleep(length);
          cluster.restore(host);
        }
        if (kind >= 2) await cluster.healthy();
      }
      const seconds = (Date.now() - started) / 1000;
      const report = `seed ${seed}; faults:\n${faults.join('\n')}`;
      const gap = [...outbound.failures, ...inbound.failures].find((failure) => failure.includes(BRIDGE_GAP));
      assert.equal(gap, undefined, `the inbound bridge found messages missing from the stream:\n${gap}\n${report}`);
      const got = JSON.parse(consumer.output().trim().split('\n').pop() || '{"error":"no output"}');
      assert.equal(got.error, undefined, `${got.error}\n${consumer.output().slice(-2000)}\n${report}`);
      // Both bridges finish by themselves once the end record has crossed.
      let timer: NodeJS.Timeout | undefined;
      const settled = await Promise.race([
        Promise.all([producer.exit, outbound.done, inbound.done]).then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), 60_000);
        }),
      ]);
      clearTimeout(timer);
      assert.ok(
        settled,
        `the producer and both bridges finished\nA: ${outbound.output().slice(-1500)}\nB: ${inbound.output().slice(-1500)}\n` +
          `failures: ${[...outbound.failures, ...inbound.failures].join('\n---\n').slice(-3000)}\n${report}`,
      );
      const sent = JSON.parse(producer.output().trim().split('\n').pop()!);
      assert.deepEqual(got, sent, `the consumer's messages, bytes and digest are the producer's\n${report}`);
      assert.equal(got.messages, count);
      assert.deepEqual([...outbound.failures, ...inbound.failures], [], `no bridge failed\n${report}`);
      assert.ok(faults.length > 0, 'at least one fault happened');
      process.stdout.write(
        `# ${count} messages, ${(sent.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s; ${faults.length} faults ` +
          `(${outbound.restarts()} + ${inbound.restarts()} bridge restarts); sha256 ${got.sha256.slice(0, 16)}…\n`,
      );
    } catch (error) {
      if (cluster) process.stdout.write(`# faults so far:\n# ${faults.join('\n# ')}\n`);
      throw error;
    } finally {
      for (const bridge of bridges) bridge.stop();
      for (const { child } of peers) child.kill('SIGKILL');
      await Promise.all(bridges.map((bridge) => bridge.done.catch(() => {})));
      await cluster?.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
      for (const name of [nameA, nameB]) {
        try {
          Channel.unlink(name);
        } catch {}
      }
    }
  });
});
