// Run with UNIPC_PORTABLE_VIEWS=1: lent views made through Node-API, as on runtimes where the addon does
// not call V8 itself. Checks they are cut off like V8 ones, and that worker threads ending right after
// closing their channels give the address space back (their windows' finalizers are forced at teardown),
// then prints a JSON report. Without the variable, the same checks of the runtime's own kind of lent views.
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { Channel, LENT_VIEW_GUARD } from '../../src/channel.js';
import { mappingStats } from '../../src/index.js';
import { native } from '../../src/native.js';
import { collector, dup } from '../helpers.js';

const RING = 16 << 20;

const gc = collector();
const report: Record<string, unknown> = { v8Views: native.v8Views, guard: LENT_VIEW_GUARD };

{
  using producer = Channel.create({ capacity: 4096 });
  using consumer = Channel.fromFd(dup(producer));
  const place = producer.reserveSync(8);
  place.fill(7);
  producer.commit();
  const view = consumer.receiveViewSync()!;
  const seen = [...view];
  consumer.release();
  report.cutOff = { committed: place.length, released: view.length, seen };
}

// Workers that each make a 16 MiB channel, pass zero-copy messages through it, close it and end.
const before = mappingStats();
for (let i = 0; i < 12; i++) {
  const worker = new Worker(new URL('./worker-bootstrap.mjs', import.meta.url), {
    workerData: { script: new URL('./portable-views-worker.ts', import.meta.url).href, ring: RING },
  });
  await new Promise((resolve) => worker.once('exit', resolve));
}
for (let i = 0; i < 10; i++) {
  gc();
  await sleep(20);
}
const after = mappingStats();
report.regionsLeft = after.regions - before.regions;
report.liveRegionsLeft = after.regions - after.retired - (before.regions - before.retired);
console.log(JSON.stringify(report));
