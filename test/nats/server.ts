// A real nats-server with JetStream for the tests of unipc/nats: on loopback, on a port the server picks,
// with its store in a temporary directory; stop() kills it and removes the store.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface NatsServer {
  /** 127.0.0.1:<port> */
  url: string;
  /** Its store directory (JetStream's files). */
  store: string;
  /** kill -9, leaving the store for a server started again on it. */
  kill(): Promise<void>;
  /** kill -9 and remove the store. */
  stop(): Promise<void>;
}

/** Why the NATS tests cannot run here (no nats-server on PATH), or undefined. */
export function natsServerMissing(): string | undefined {
  const found = (process.env.PATH ?? '')
    .split(':')
    .concat(['/usr/sbin', '/usr/bin'])
    .some((dir) => fs.existsSync(path.join(dir, 'nats-server')));
  return found ? undefined : 'nats-server is not installed (Debian: apt-get install nats-server)';
}

/** A server on `address` (default: a port it picks on 127.0.0.1) with its store in `store` (default: a new one). */
export async function startNatsServer(options: { address?: string; store?: string } = {}): Promise<NatsServer> {
  const store = options.store ?? fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-nats-'));
  const [host, port] = (options.address ?? '127.0.0.1:-1').split(':');
  const binary = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => fs.existsSync(p)) ?? 'nats-server';
  const child: ChildProcess = spawn(binary, ['-js', '-a', host!, '-p', port!, '-sd', store], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not start within 20 s:\n${log}`)), 20_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      log += chunk;
      const listening = /Listening for client connections on (\S+:\d+)/.exec(log);
      if (listening) {
        clearTimeout(timer);
        resolve(listening[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${code}:\n${log}`));
    });
  });
  child.stderr!.resume();
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  };
  return {
    url,
    store,
    kill,
    async stop() {
      await kill();
      fs.rmSync(store, { recursive: true, force: true });
    },
  };
}
