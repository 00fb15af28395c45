// Run with --expose-gc: objects dropped without close(), after Promise operations gave them poll
// handles, must give back their descriptors and their uv_poll handles to the garbage collector.
import { pipe, socketpair, waiterStats } from '../../src/index.js';
import { runtime } from '../../src/native.js';
import { openFdCount as fds, until } from '../helpers.js';

{
  // Off Node the first wait for readiness starts the addon's epoll thread, with descriptors of its own.
  const warm = pipe();
  await warm.reader.read({ timeout: 1 }).catch(() => {});
  warm.reader.close();
  warm.writer.close();
}
const before = { fds: fds(), pollers: waiterStats().pollers };
// In a function of its own, so that no frame of ours still holds the last objects when we collect. The
// objects stay reachable until it returns, so that a collection on the way cannot blur the count.
async function forget(): Promise<{ fds: number; pollers: number }> {
  const alive: unknown[] = [];
  for (let i = 0; i < 100; i++) {
    const [a, b] = socketpair('seqpacket');
    await b.receive({ timeout: 1 }).catch(() => {});
    const p = pipe();
    await p.reader.read({ timeout: 1 }).catch(() => {});
    alive.push(a, b, p);
  }
  return { fds: fds(), pollers: waiterStats().pollers };
}
const during = await forget();
// Deno keeps one socketpair reachable past every collection: one pair whether 1 or 300 are made
// (measured), so something of the runtime's holds the last one, not a leak per object.
const kept = runtime === 'deno' ? 2 : 0;
await until(() => waiterStats().pollers <= before.pollers && fds() <= before.fds + kept, { collect: true });
console.log(JSON.stringify({ before, during, after: { fds: fds(), pollers: waiterStats().pollers } }));
