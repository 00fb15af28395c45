// Starts many thread waits, cancels them all, and reports the addon's threads before, during and after
// the waiter threads' idle timeout (run with a short UNIPC_WAITER_IDLE_MS).
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { openFifo, waiterStats } from '../../src/index.js';

const path = process.argv[2];
// The addon's threads, by the names it gives them (unipc-waiter, unipc-cancel, unipc-epoll): the runtime's
// own come and go as it likes (Bun starts some late).
const threads = () =>
  fs.readdirSync('/proc/self/task').filter((task) => {
    try {
      return fs.readFileSync(`/proc/self/task/${task}/comm`, 'utf8').startsWith('unipc-');
    } catch {
      return false; // gone since the directory was read
    }
  }).length;
const before = threads();
const controller = new AbortController();
const waits = Array.from({ length: 50 }, () =>
  openFifo(path, 'r', { signal: controller.signal }).catch((e: Error) => e.name),
);
await sleep(50);
const during = { threads: threads(), stats: waiterStats() };
controller.abort();
const outcomes = await Promise.all(waits);
// Retirement takes the idle timeout plus scheduling: wait for it, however long a loaded machine takes.
for (let waited = 0; waiterStats().threads > 0 && waited < 30_000; waited += 20) await sleep(20);
console.log(
  JSON.stringify({ before, during, outcomes: [...new Set(outcomes)], after: threads(), stats: waiterStats() }),
);
