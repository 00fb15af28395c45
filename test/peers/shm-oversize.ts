// Creates a POSIX shared memory object larger than RLIMIT_FSIZE allows (run under `ulimit -f`, with
// SIGXFSZ ignored), so that sizing it fails; reports the error and whether the name was left behind.
//   shm-oversize <name> [plain]   plain: create without exclusive
import fs from 'node:fs';
import { type IpcError, SharedMemory } from '../../src/index.js';

const [name, how] = process.argv.slice(2);
let code = 'none';
try {
  SharedMemory.open(name!, { create: true, exclusive: how !== 'plain', size: 10 * 1024 * 1024 });
} catch (error) {
  code = (error as IpcError).code;
}
console.log(JSON.stringify({ code, leftBehind: fs.existsSync(`/dev/shm/${name}`) }));
