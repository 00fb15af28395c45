// Opens a System V segment by id as whatever user it runs as, then changes its mode (IPC_SET, giving mode,
// uid and gid, so nothing needs reading first) and removes it; prints each outcome ('ok', or the error
// code) as JSON, with the key fromId() found.
//   shm-owner ID UID GID
import { IpcError, SysvSharedMemory } from '../../src/index.js';

const [id, uid, gid] = process.argv.slice(2).map(Number);

function outcome(call: () => void): string {
  try {
    call();
    return 'ok';
  } catch (error) {
    return error instanceof IpcError ? error.code : String(error);
  }
}

let segment: SysvSharedMemory | undefined;
const byId = outcome(() => {
  segment = SysvSharedMemory.fromId(id);
});
const set = segment ? outcome(() => segment!.set({ mode: 0o600, uid, gid })) : 'not opened';
const remove = segment ? outcome(() => segment!.remove()) : 'not opened';
console.log(JSON.stringify({ byId, key: segment?.key, set, remove }));
