// What the waiting machinery is doing, for tests and for users chasing a leak.
import { type MappingStats, native, type WaiterStats } from './native.js';

export type { MappingStats, WaiterStats };

/** Waiter threads in the process (busy or idle) and this environment's pending thread waits. */
export function waiterStats(): WaiterStats {
  return native.waiterStats();
}

/**
 * The process's mapped regions (every Mapping, attachment and channel, in every thread), and how many of
 * them are retired: closed, their pages already let go, their addresses reserved until no buffer can
 * reach them (a buffer moved by transfer(), one not yet collected).
 */
export function mappingStats(): MappingStats {
  return native.mappingStats();
}
