// unipc: Unix inter-process communication for Node.js, on real system calls between real processes.
export { AbortError, IpcError, type IpcErrorContext, errnoName } from './errors.js';
export { type Bytes, FdHandle, type FdLike } from './fd.js';
export {
  type FifoAccess,
  type MkfifoOptions,
  type OpenFifoOptions,
  type Pipe,
  type PipeOptions,
  PipeReader,
  PipeWriter,
  type ReadOptions,
  type ReadSyncOptions,
  type SpawnOptions,
  mkfifo,
  openFifo,
  openFifoSync,
  pipe,
  spawn,
} from './pipe.js';
export {
  type ConnectOptions,
  type ConnectSyncOptions,
  type Credentials,
  type ListenOptions,
  type Message,
  type ReceiveOptions,
  type ReceiveSyncOptions,
  type SendOptions,
  type SendSyncOptions,
  type SocketType,
  UnixServer,
  UnixSocket,
  connect,
  connectSync,
  listen,
  socketpair,
} from './socket.js';
export {
  type AnonymousOptions,
  MAX_MAPPING_LENGTH,
  type MapOptions,
  type MapTarget,
  Mapping,
  MemoryFile,
  type MemoryFileOptions,
  PAGE_SIZE,
  type Protection,
  type Seal,
  type SharedMapping,
  type SyncOptions,
  mapAnonymous,
  mmap,
} from './mmap.js';
export {
  IPC_PRIVATE,
  SharedMemory,
  type SharedMemoryOptions,
  SysvSharedMemory,
  type SysvSharedMemoryOptions,
  type SysvSharedMemoryStat,
  type SysvObjectStat,
  type SysvPermissions,
  ftok,
} from './shm.js';
export { Condition, Mutex, MutexGuard, Semaphore } from './lock.js';
export {
  NamedSemaphore,
  type NamedSemaphoreOptions,
  SEMVMX,
  type SemaphoreLimits,
  type SemaphoreOp,
  SemaphoreSet,
  type SemaphoreSetOptions,
  type SemaphoreSetStat,
  type SemaphoreWaitOptions,
  type SemaphoreWaitSyncOptions,
} from './sem.js';
export {
  type MessageQueueOptions,
  type MessageQueueStat,
  type MessageType,
  MessageQueue,
  type QueueMessage,
  type QueueReceiveOptions,
  type QueueReceiveSyncOptions,
  type QueueSendOptions,
  type QueueSendSyncOptions,
} from './msg.js';
export {
  type PosixMessage,
  PosixQueue,
  type PosixQueueAttributes,
  type PosixQueueOptions,
  type PosixReceiveOptions,
  type PosixReceiveSyncOptions,
  type PosixSendOptions,
  type PosixSendSyncOptions,
} from './mq.js';
export { Channel, type ChannelOptions, type EndOptions } from './channel.js';
export {
  IPC_OBJECT_TYPES,
  type IpcObject,
  type IpcObjectType,
  type ListOptions,
  type PosixObjectRecord,
  type PosixQueueRecord,
  type PosixSemaphoreRecord,
  type PosixShmRecord,
  type StaleRemoval,
  type Staleness,
  type SysvObjectRecord,
  type SysvQueueRecord,
  type SysvSemaphoresRecord,
  type SysvShmRecord,
  type Unlisted,
  list,
  remove,
  removeStale,
  unlistedTypes,
} from './list.js';
export { type CreatorMark } from './mark.js';
export { type RefOptions, type SyncWaitOptions, type WaitOptions } from './wait.js';
export { mappingStats, waiterStats, type MappingStats, type WaiterStats } from './diagnostics.js';
