// Shared by the semaphore tests (sem.test.ts, sem-interop.test.ts): cleanup that never masks the test's
// own failure, names no other run can be using, and polling for a state another process reaches.
import { NamedSemaphore, type SemaphoreSet } from '../src/index.js';
import { quietly, uniqueIpcName } from './helpers.js';

/** Removes a set unless it is gone already. */
export const removeQuietly = (set: SemaphoreSet): void => quietly(() => set.remove());

/** Unlinks a named semaphore unless it is gone already. */
export const unlinkQuietly = (name: string): void => quietly(() => NamedSemaphore.unlink(name));

/** A POSIX IPC name (without the slash) no other test file or run can be using. */
export const uniqueName = (): string => uniqueIpcName('sem');
