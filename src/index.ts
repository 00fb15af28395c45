// unipc: Unix inter-process communication for Node.js, on real system calls between real processes.

export { Channel, type ChannelOptions, type EndOptions } from './channel.js';
export { type MappingStats, mappingStats, type WaiterStats, waiterStats } from './diagnostics.js';
export { AbortError, errnoName, IpcError, type IpcErrorContext } from './errors.js';
export { type Bytes, FdHandle, type FdLike } from './fd.js';
export {
  IPC_OBJECT_TYPES,
  type IpcObject,
  type IpcObjectType,
  type ListOptions,
  list,
  type PosixObjectRecord,
  type PosixQueueRecord,
  type PosixSemaphoreRecord,
  type PosixShmRecord,
  remove,
  removeStale,
  type Staleness,
  type StaleRemoval,
  type SysvObjectRecord,
  type SysvQueueRecord,
  type SysvSemaphoresRecord,
  type SysvShmRecord,
  type Unlisted,
  unlistedTypes,
} from './list.js';
export { Condition, Mutex, MutexGuard, Semaphore } from './lock.js';
export type { CreatorMark } from './mark.js';
export {
  type AnonymousOptions,
  MAX_MAPPING_LENGTH,
  type MapOptions,
  Mapping,
  type MapTarget,
  MemoryFile,
  type MemoryFileOptions,
  mapAnonymous,
  mmap,
  PAGE_SIZE,
  type Protection,
  type Seal,
  type SharedMapping,
  type SyncOptions,
} from './mmap.js';
export {
  type PosixMessage,
  PosixQueue,
  type PosixQueueAttributes,
  type PosixQueueOptions,
  type PosixReceiveInfo,
  type PosixReceiveIntoOptions,
  type PosixReceiveIntoSyncOptions,
  type PosixReceiveOptions,
  type PosixReceiveSyncOptions,
  type PosixSendOptions,
  type PosixSendSyncOptions,
} from './mq.js';
export {
  MessageQueue,
  type MessageQueueOptions,
  type MessageQueueStat,
  type MessageType,
  type QueueMessage,
  type QueueReceiveInfo,
  type QueueReceiveIntoOptions,
  type QueueReceiveIntoSyncOptions,
  type QueueReceiveOptions,
  type QueueReceiveSyncOptions,
  type QueueSendOptions,
  type QueueSendSyncOptions,
} from './msg.js';
export {
  type FifoAccess,
  type MkfifoOptions,
  mkfifo,
  type OpenFifoOptions,
  openFifo,
  openFifoSync,
  type Pipe,
  type PipeOptions,
  PipeReader,
  PipeWriter,
  pipe,
  type ReadIntoOptions,
  type ReadIntoSyncOptions,
  type ReadOptions,
  type ReadSyncOptions,
  type SpawnOptions,
  spawn,
} from './pipe.js';
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
export { Service, ServiceClient, ServiceError, type ServiceOptions, ServiceRequest } from './service.js';
export {
  SharedMemory,
  type SharedMemoryOptions,
  SysvSharedMemory,
  type SysvSharedMemoryOptions,
  type SysvSharedMemoryStat,
} from './shm.js';
export {
  type ConnectOptions,
  type ConnectSyncOptions,
  type Credentials,
  connect,
  connectSync,
  type ListenOptions,
  listen,
  type Message,
  type ReceiveIntoOptions,
  type ReceiveIntoSyncOptions,
  type ReceiveOptions,
  type ReceiveSyncOptions,
  type SendOptions,
  type SendSyncOptions,
  type SocketType,
  socketpair,
  UnixServer,
  UnixSocket,
} from './socket.js';
export { ftok, IPC_PRIVATE, type SysvObjectStat, type SysvPermissions } from './sysv.js';
export {
  MAX_HISTORY,
  MAX_SUBSCRIBERS,
  Topic,
  type TopicEndOptions,
  type TopicOptions,
  type TopicPolicy,
} from './topic.js';
export type { TargetRange } from './validate.js';
export type { RefOptions, SyncWaitOptions, WaitOptions } from './wait.js';
