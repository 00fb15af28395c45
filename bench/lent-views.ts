// What a lent view of the channel costs, made each of the ways the addon can make it (docs/design.md,
// "Lent views"): through V8 directly where this Node allows, and through Node-API (UNIPC_PORTABLE_VIEWS=1),
// in one run. One process, both ends of one channel, a Sync loop that never yields: reserveSync(64) +
// commit() and receiveViewSync() + release(), so two views per message. Reports the time per message and
// the resident memory the loop gained per view; then, after the event loop has turned (and freed what
// Node defers to it), what the same loop gains again: nothing, if that memory is reused rather than lost.
// On Bun and Deno, whose lent views are Node-API's only, one row, measured in this process.
//   node --import tsx bench/lent-views.ts [messages, default 500000]
//   bun bench/lent-views.ts · deno run -A --sloppy-imports --v8-flags=--expose-gc bench/lent-views.ts
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Channel, LENT_VIEW_GUARD } from '../src/channel.js';
import { constants, native, runtime } from '../src/native.js';

const messages = Number(process.argv[2] ?? 500_000);

function collector(): () => void {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun) return () => bun.gc(true);
  const exposed = (globalThis as { gc?: () => void }).gc; // Deno, with --v8-flags=--expose-gc
  if (exposed) return exposed;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

async function measure(): Promise<{ guard: string; ns: number; perView: number; againPerView: number }> {
  const gc = collector();
  using producer = Channel.create({ capacity: 1 << 20 });
  using consumer = Channel.fromFd(native.fcntl(producer.fd, constants.F_DUPFD_CLOEXEC, 0));
  const once = () => {
    producer.reserveSync(64)[0] = 1;
    producer.commit();
    consumer.receiveViewSync()![0];
    consumer.release();
  };
  for (let i = 0; i < 20_000; i++) once();
  await sleep(50);
  gc();
  await sleep(50);
  const loop = (): { ns: number; perView: number } => {
    const rss = process.memoryUsage().rss;
    const start = process.hrtime.bigint();
    for (let i = 0; i < messages; i++) once();
    const ns = Number(process.hrtime.bigint() - start) / messages;
    return { ns, perView: (process.memoryUsage().rss - rss) / (2 * messages) };
  };
  const first = loop();
  for (let i = 0; i < 5; i++) {
    await sleep(20);
    gc();
  }
  const again = loop();
  return { guard: LENT_VIEW_GUARD, ns: first.ns, perView: first.perView, againPerView: again.perView };
}

function row(r: { guard: string; ns: number; perView: number; againPerView: number }): void {
  const how = r.guard === 'node' ? "Node-API ('node')" : `V8 ('${r.guard}')`;
  console.log(
    `| ${how} | ${(r.ns / 1000).toFixed(2)} µs | ${Math.max(0, r.perView).toFixed(0)} B | ${Math.max(0, r.againPerView).toFixed(0)} B |`,
  );
}

if (process.env.UNIPC_LENT_VIEWS_CHILD === '1') {
  console.log(JSON.stringify(await measure()));
} else {
  const version = runtime === 'node' ? `Node ${process.version}` : `${runtime} ${process.versions[runtime]}`;
  console.log(
    `${version}, ${messages.toLocaleString('en')} messages of 64 B (two lent views each), one process, Sync, never yielding\n`,
  );
  console.log(
    '| lent views | per message | resident memory per view, in the loop | the same loop again, after a turn |',
  );
  console.log('| --- | ---: | ---: | ---: |');
  if (runtime !== 'node') row(await measure());
  else {
    for (const portable of ['0', '1']) {
      const child = spawnSync(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), String(messages)],
        {
          env: { ...process.env, UNIPC_LENT_VIEWS_CHILD: '1', UNIPC_PORTABLE_VIEWS: portable },
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      row(JSON.parse(child.stdout));
    }
  }
}
