// A Node peer run with UNIPC_SEM_TIMEDWAIT=1, as if the C library had no sem_clockwait (glibc before 2.30,
// musl): a timed waitSync() on the named semaphore NAME (value 0) then waits with sem_timedwait.
//   sem-timedwait.ts NAME POSTER     POSTER: the sem_posix C peer, started to post while a wait blocks
// Prints "done" when every check passed; throws (exit code 1) at the first that did not.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { IpcError, NamedSemaphore } from '../../src/index.js';
import { constants } from '../../src/native.js';

const [name, poster] = process.argv.slice(2) as [string, string];
assert.equal(constants.SEM_CLOCKWAIT, false, 'UNIPC_SEM_TIMEDWAIT=1 turns sem_clockwait off');
const timedOut = (error: unknown) =>
  error instanceof IpcError && error.code === 'ETIMEDOUT' && error.syscall === 'sem_timedwait';
using semaphore = NamedSemaphore.open(name);
assert.throws(() => semaphore.waitSync({ timeout: 20 }), timedOut);
assert.throws(() => semaphore.waitSync({ timeout: 0 }), timedOut);
semaphore.post();
semaphore.waitSync({ timeout: 0 }); // a unit there is taken even with no time left
const posting = spawn('sh', ['-c', 'sleep 0.05; exec "$0" post "$1"', poster, name], { stdio: 'inherit' });
const posted = new Promise((resolve) => posting.once('close', resolve));
semaphore.waitSync({ timeout: 60_000 }); // woken by the post of another process, long before the deadline
assert.equal(await posted, 0);
assert.equal(semaphore.value, 0);
console.log('done');
