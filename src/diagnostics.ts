// What the waiting machinery is doing, for tests and for users chasing a leak.
import { type WaiterStats, native } from './native.js';

export type { WaiterStats };

/** Waiter threads in the process (busy or idle) and this environment's pending thread waits. */
export function waiterStats(): WaiterStats {
  return native.waiterStats();
}
