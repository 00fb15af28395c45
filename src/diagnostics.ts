// What the waiting machinery is doing, for tests and for users chasing a leak.
import { type MappingStats, native, type WaiterStats } from './native.js';

export type { MappingStats, WaiterStats };

/**
 * Waiter threads in the process (busy or idle) and this environment's pending thread waits: where to
 * look when a process will not exit (a pending wait keeps it alive unless unref()'d) or threads pile up.
 *
 * @example
 * ```ts
 * import { waiterStats } from 'unipc';
 *
 * // kill -USR2 <pid>: why does it not exit?
 * process.on('SIGUSR2', () => {
 *   const { threads, idle, pending, pollers } = waiterStats();
 *   console.error(`${threads} waiter threads (${idle} idle), ${pending} waits, ${pollers} polled descriptors`);
 * });
 * ```
 */
export function waiterStats(): WaiterStats {
  return native.waiterStats();
}

/**
 * The process's mapped regions (every Mapping, attachment and channel, in every thread), and how many of
 * them are retired: closed, their pages already let go, their addresses reserved until no buffer can
 * reach them (a buffer moved by transfer(), one not yet collected).
 *
 * @example
 * ```ts
 * import { mappingStats, mapAnonymous } from 'unipc';
 *
 * for (let i = 0; i < 1000; i++) mapAnonymous(1 << 20).close();
 * const { regions, retired, retiredBytes } = mappingStats();
 * console.log(`${regions} regions, ${retired} retired (${retiredBytes} bytes reserved until collected)`);
 * ```
 */
export function mappingStats(): MappingStats {
  return native.mappingStats();
}
