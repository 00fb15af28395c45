// Worker threads do not inherit tsx's loader hooks from --import; register them here, then load the
// TypeScript worker named in workerData.script.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.script);
