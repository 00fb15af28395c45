// Round trips of 8-byte messages through two shared-memory channels (ping, pong) between two processes,
// Sync and Promise forms, next to Node's process.send ('json') in the same run: median and p99 in µs,
// pinned across CPUs (taskset -c 0 / -c 1) and unpinned. A first measurement for issue 6; the full
// benchmark of every mechanism against C comes with it.
//   node --import tsx bench/channel-rtt.ts [round trips, default 20000]
import { execFileSync, fork } from 'node:child_process';
import os from 'node:os';
import { Channel } from '../src/channel.js';
import { spawn } from '../src/index.js';

const [count = 20_000] = process.argv.slice(2).map(Number);
const role = process.env.UNIPC_RTT_ROLE;

function pin(cpu: string | undefined): void {
  execFileSync('taskset', ['-pc', cpu ?? `0-${os.availableParallelism() - 1}`, String(process.pid)], { stdio: 'ignore' });
}

if (role === 'echo') {
  pin(process.env.UNIPC_RTT_CPU || undefined);
  const ping = Channel.fromFd(3);
  const pong = Channel.fromFd(4);
  const async = process.env.UNIPC_RTT_MODE === 'async';
  for (;;) {
    const message = async ? await ping.receive() : ping.receiveSync();
    if (message === null) break;
    if (async) await pong.send(message);
    else pong.sendSync(message);
  }
  pong.close();
  ping.close();
} else if (role === 'process-send') {
  pin(process.env.UNIPC_RTT_CPU || undefined);
  process.on('message', (message) => process.send!(message));
} else {
  const stats = (samples: number[]) => {
    samples.sort((a, b) => a - b);
    return `${samples[Math.floor(samples.length / 2)]!.toFixed(2).padStart(7)} ${samples[Math.floor(samples.length * 0.99)]!.toFixed(2).padStart(8)}`;
  };
  const placements: Array<[string, string | undefined, string | undefined]> = [
    ['cross CPU', '0', '1'],
    ['unpinned', undefined, undefined],
  ];
  console.log(`${count} round trips of 8 bytes, after ${count / 10} of warm-up: median and p99, µs`);
  for (const [placement, mine, theirs] of placements) {
    pin(mine);
    for (const mode of ['sync', 'async'] as const) {
      const ping = Channel.create({ capacity: 4096 });
      const pong = Channel.create({ capacity: 4096 });
      const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!], {
        stdio: 'inherit',
        fds: [ping.fd, pong.fd],
        env: { ...process.env, UNIPC_RTT_ROLE: 'echo', UNIPC_RTT_CPU: theirs ?? '', UNIPC_RTT_MODE: mode },
      });
      const message = Buffer.alloc(8);
      const samples: number[] = [];
      for (let i = 0; i < count + count / 10; i++) {
        const start = performance.now();
        if (mode === 'async') {
          await ping.send(message);
          await pong.receive();
        } else {
          ping.sendSync(message);
          pong.receiveSync();
        }
        if (i >= count / 10) samples.push((performance.now() - start) * 1000);
      }
      ping.close();
      await new Promise((resolve) => child.once('exit', resolve));
      pong.close();
      console.log(`  ${placement.padEnd(10)} channel ${mode.padEnd(6)} ${stats(samples)}`);
    }
    const child = fork(process.argv[1]!, { execArgv: process.execArgv, env: { ...process.env, UNIPC_RTT_ROLE: 'process-send', UNIPC_RTT_CPU: theirs ?? '' } });
    const samples: number[] = [];
    for (let i = 0; i < count + count / 10; i++) {
      const start = performance.now();
      await new Promise((resolve) => {
        child.once('message', resolve);
        child.send({ i });
      });
      if (i >= count / 10) samples.push((performance.now() - start) * 1000);
    }
    child.kill();
    console.log(`  ${placement.padEnd(10)} process.send (json) ${stats(samples)}`);
  }
  pin(undefined);
}
