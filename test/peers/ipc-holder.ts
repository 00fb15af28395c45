// A process that creates or holds IPC objects for the staleness tests, reports on stdout as one JSON
// line, and keeps what it holds until its stdin ends (or it is killed).
//   create <shm-name> <sem-name>            creates POSIX shared memory (mapped), a named semaphore (open)
//                                           and a private System V segment (attached); reports their ids
//   hold <shm-name> <sem-name> <sysv-id>    opens and maps, opens, attaches the objects another made
import { IPC_PRIVATE, NamedSemaphore, SharedMemory, SysvSharedMemory } from '../../src/index.js';

const [role, shmName, semName, sysvId] = process.argv.slice(2);

const shm =
  role === 'create'
    ? SharedMemory.open(shmName!, { create: true, exclusive: true, size: 4096 })
    : SharedMemory.open(shmName!);
const mapping = shm.map();
shm.close(); // the mapping alone keeps the object in use
const semaphore = NamedSemaphore.open(semName!, role === 'create' ? { create: true, exclusive: true } : undefined);
const segment =
  role === 'create'
    ? SysvSharedMemory.get(IPC_PRIVATE, { create: true, size: 4096 })
    : SysvSharedMemory.fromId(Number(sysvId));
const attachment = segment.attach();

console.log(JSON.stringify({ pid: process.pid, sysvId: segment.id }));
process.stdin.resume();
process.stdin.on('end', () => {
  attachment.close();
  semaphore.close();
  mapping.close();
});
