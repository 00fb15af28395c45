// Worker threads do not inherit tsx's loader hooks from --import; on Node, register them here, then load
// the TypeScript worker named in workerData.script. Bun and Deno load TypeScript themselves, and under
// tsx's hooks Deno's worker would read the addon's .node file as JavaScript.
import { workerData } from 'node:worker_threads';

if (typeof globalThis.Bun !== 'object' && typeof globalThis.Deno !== 'object') {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.script);
