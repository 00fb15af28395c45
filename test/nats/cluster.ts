// Three hosts on one machine for the NATS cluster test: a network namespace per host, each joined by a
// veth pair to a Linux bridge in a fourth namespace (the switch), and a nats-server with JetStream on each,
// routed to the other two. Needs root and iproute2; touches nothing outside the namespaces it makes.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SUBNET = '10.231.0';

/** Why the cluster test cannot run here, or undefined. */
export function clusterUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'needs iproute2 (Debian: apt-get install iproute2)';
  }
  const probe = `unipc-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'delete', probe], { stdio: 'ignore' });
  } catch {
    return 'cannot make network namespaces here (ip netns add failed)';
  }
  return undefined;
}

export interface Host {
  /** The network namespace. */
  namespace: string;
  /** The host's address, where its nats-server listens (port 4222). */
  address: string;
  /** `argv` run on this host. */
  spawn(argv: string[], options?: { stdio?: Array<'ignore' | 'pipe' | 'inherit'> }): ChildProcess;
}

export interface Cluster {
  hosts: Host[];
  /** Every server's client URL, for a client that may use any of them. */
  urls: string[];
  /** Kill host i's server (its store stays): with SIGKILL by default, or SIGTERM (a clean shutdown). */
  killServer(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Start host i's server again on its store. */
  startServer(i: number): Promise<void>;
  /** Cut host i's link to the switch, or restore it. */
  cut(i: number): void;
  restore(i: number): void;
  /**
   * Resolves once every server reports itself healthy (/healthz: JetStream current, every replica it
   * holds caught up); rejects after `ms`.
   */
  healthy(ms?: number): Promise<void>;
  /** What the servers wrote, for a failure's report. */
  logs(): string;
  /** Stop every server, remove the namespaces and the stores. */
  destroy(): Promise<void>;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

export async function startCluster(size = 3): Promise<Cluster> {
  const prefix = `unipc${process.pid}`;
  const sw = `${prefix}-sw`;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-cluster-'));
  const hosts: Host[] = [];
  const servers: Array<{ child: ChildProcess; log: string } | undefined> = [];
  let logs = '';
  const namespaces = [sw];
  const destroy = async () => {
    for (let i = 0; i < servers.length; i++) await killServer(i);
    for (const namespace of namespaces) {
      try {
        ip('netns', 'delete', namespace);
      } catch {}
    }
    fs.rmSync(root, { recursive: true, force: true });
  };
  const killServer = async (i: number, signal: NodeJS.Signals = 'SIGKILL') => {
    const server = servers[i];
    servers[i] = undefined;
    if (server === undefined) return;
    logs += `--- server ${i + 1}\n${server.log}`;
    const child = server.child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    }
  };
  const routes = Array.from({ length: size }, (_, i) => `nats://${SUBNET}.${i + 1}:6222`).join(',');
  const startServer = async (i: number) => {
    const host = hosts[i]!;
    const binary = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => fs.existsSync(p)) ?? 'nats-server';
    const store = path.join(root, `store-${i + 1}`);
    fs.mkdirSync(store, { recursive: true });
    const child = host.spawn(
      [
        binary,
        '-js',
        '-sd',
        store,
        '-n',
        `n${i + 1}`,
        '-a',
        host.address,
        '-p',
        '4222',
        '--cluster_name',
        'unipc',
        '--cluster',
        `nats://${host.address}:6222`,
        '--routes',
        routes,
        '-m',
        '8222',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const server = { child, log: '' };
    servers[i] = server;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`server ${i + 1} did not start within 20 s:\n${server.log}`)),
        20_000,
      );
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (chunk: string) => {
        server.log += chunk;
        if (server.log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server ${i + 1} exited with ${code}:\n${server.log}`));
      });
    });
  };
  try {
    ip('netns', 'add', sw);
    ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', sw, 'link', 'set', 'br0', 'up');
    for (let i = 0; i < size; i++) {
      const namespace = `${prefix}-h${i + 1}`;
      const address = `${SUBNET}.${i + 1}`;
      ip('netns', 'add', namespace);
      namespaces.push(namespace);
      ip('link', 'add', 'eth0', 'netns', namespace, 'type', 'veth', 'peer', 'name', `port${i + 1}`, 'netns', sw);
      ip('-n', sw, 'link', 'set', `port${i + 1}`, 'master', 'br0', 'up');
      ip('-n', namespace, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      ip('-n', namespace, 'link', 'set', 'eth0', 'up');
      ip('-n', namespace, 'link', 'set', 'lo', 'up');
      hosts.push({
        namespace,
        address,
        spawn: (argv, options = {}) =>
          spawn('ip', ['netns', 'exec', namespace, ...argv], { stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'] }),
      });
    }
    await Promise.all(hosts.map((_, i) => startServer(i)));
    // JetStream takes streams once the servers have elected a metadata leader.
    const deadline = Date.now() + 30_000;
    while (!servers.some((server) => /metadata leader/i.test(server?.log ?? ''))) {
      if (Date.now() > deadline)
        throw new Error(`no JetStream metadata leader within 30 s:\n${servers.map((s) => s?.log).join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  const healthy = async (ms = 60_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const answers = await Promise.all(
        hosts.map(async (host) => {
          const probe = host.spawn(
            [
              process.execPath,
              '-e',
              `fetch('http://${host.address}:8222/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
            ],
            { stdio: ['ignore', 'ignore', 'ignore'] },
          );
          const code = await new Promise((resolve) => probe.once('exit', resolve));
          return code === 0;
        }),
      );
      if (answers.every(Boolean)) return;
      if (Date.now() > deadline)
        throw new Error(
          `the cluster was not healthy within ${ms} ms (servers ${answers
            .map((ok, i) => (ok ? '' : i + 1))
            .filter(Boolean)
            .join(', ')} not)`,
        );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  return {
    hosts,
    healthy,
    urls: hosts.map((host) => `${host.address}:4222`),
    killServer,
    startServer,
    cut: (i) => ip('-n', sw, 'link', 'set', `port${i + 1}`, 'down'),
    restore: (i) => ip('-n', sw, 'link', 'set', `port${i + 1}`, 'up'),
    logs: () => logs + servers.map((server, i) => `--- server ${i + 1}\n${server?.log ?? ''}`).join('\n'),
    destroy,
  };
}
