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
export { type RefOptions, type SyncWaitOptions, type WaitOptions } from './wait.js';
export { waiterStats } from './diagnostics.js';
