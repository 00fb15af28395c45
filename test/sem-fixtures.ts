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

/** Polls until `condition` holds (the test's own timeout catches a condition that never does). */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(2);
}
