// Shared by the semaphore tests (sem.test.ts, sem-interop.test.ts): cleanup that never masks the test's
// own failure, names no other run can be using, and polling for a state another process reaches.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { IpcError, NamedSemaphore, type SemaphoreSet } from '../src/index.js';

/** Removes a set unless it is gone already. */
export function removeQuietly(set: SemaphoreSet): void {
  try {
    set.remove();
  } catch (error) {
    if (!(error instanceof IpcError && ['EINVAL', 'EIDRM'].includes(error.code))) throw error;
  }
}

/** Unlinks a named semaphore unless it is gone already. */
export function unlinkQuietly(name: string): void {
  try {
    NamedSemaphore.unlink(name);
  } catch (error) {
    if (!(error instanceof IpcError && error.code === 'ENOENT')) throw error;
  }
}

let counter = 0;
/** A POSIX IPC name (without the slash) no other test file or run can be using. */
export function uniqueName(): string {
  return `unipc-sem-${process.pid}-${++counter}-${randomBytes(4).toString('hex')}`;
}

/**
 * Polls until `condition` holds. Gives up after 20 s, well inside the runner's per-file timeout, so that
 * a test whose condition never comes still runs its cleanup (nothing is asserted about the time taken).
 */
export async function until(condition: () => boolean): Promise<void> {
  const giveUp = performance.now() + 20_000;
  while (!condition()) {
    if (performance.now() > giveUp) throw new Error(`gave up waiting for ${condition.toString()}`);
    await sleep(2);
  }
}
