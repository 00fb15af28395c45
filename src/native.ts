// The one module that loads the compiled addon, and the types of everything it exports.
//
// Native calls return the system call's result (>= 0) or a negated errno; src/errors.ts turns the
// latter into IpcError. Nothing here validates: the public modules do that before calling in.
//
// node-gyp-build finds the addon: UNIPC_PREBUILD's directory if set, else build/Release (a build from
// source), else the package's prebuilds/ for this platform, CPU and C library, the build for the running
// Node's ABI first. When none fits, or the one found does not load, the import throws an Error with code
// ERR_UNIPC_NO_BINARY that says what this system is, what the package ships and how to build it here.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import packageRoot from '#root';

export interface NativeConstants {
  readonly O_RDONLY: number;
  readonly O_WRONLY: number;
  readonly O_RDWR: number;
  readonly O_CREAT: number;
  readonly O_EXCL: number;
  readonly O_TRUNC: number;
  readonly O_NONBLOCK: number;
  readonly O_CLOEXEC: number;
  readonly O_NOCTTY: number;
  readonly O_ACCMODE: number;
  readonly F_SETLEASE: number;
  readonly F_SETSIG: number;
  readonly F_WRLCK: number;
  readonly F_UNLCK: number;
  readonly SOCK_STREAM: number;
  readonly SOCK_DGRAM: number;
  readonly SOCK_SEQPACKET: number;
  readonly SOCK_CLOEXEC: number;
  readonly SOCK_NONBLOCK: number;
  readonly SHUT_RD: number;
  readonly SHUT_WR: number;
  readonly SHUT_RDWR: number;
  readonly AF_UNIX: number;
  readonly SOMAXCONN: number;
  readonly UNIX_PATH_MAX: number;
  readonly F_GETFD: number;
  readonly F_SETFD: number;
  readonly F_GETFL: number;
  readonly F_SETFL: number;
  readonly F_DUPFD_CLOEXEC: number;
  readonly F_GETPIPE_SZ: number;
  readonly F_SETPIPE_SZ: number;
  readonly FD_CLOEXEC: number;
  readonly PIPE_BUF: number;
  readonly POLLIN: number;
  readonly POLLOUT: number;
  readonly POLLERR: number;
  readonly POLLHUP: number;
  readonly POLLNVAL: number;
  readonly POLLRDHUP: number;
  readonly UV_READABLE: number;
  readonly UV_WRITABLE: number;
  readonly UV_DISCONNECT: number;
  readonly MSG_DONTWAIT: number;
  readonly MSG_NOSIGNAL: number;
  readonly MSG_PEEK: number;
  readonly MSG_TRUNC: number;
  readonly MSG_CTRUNC: number;
  readonly MSG_CMSG_CLOEXEC: number;
  readonly SOL_SOCKET: number;
  readonly SO_TYPE: number;
  readonly SO_DOMAIN: number;
  readonly SO_ERROR: number;
  readonly SO_SNDBUF: number;
  readonly SO_RCVBUF: number;
  readonly SO_PASSCRED: number;
  readonly SCM_MAX_FD: number;
  readonly PAGE_SIZE: number;
  readonly PROT_READ: number;
  readonly PROT_WRITE: number;
  readonly MAP_SHARED: number;
  readonly MAP_PRIVATE: number;
  readonly MAP_ANONYMOUS: number;
  readonly MAP_NORESERVE: number;
  readonly MS_SYNC: number;
  readonly MS_ASYNC: number;
  readonly MS_INVALIDATE: number;
  readonly MFD_CLOEXEC: number;
  readonly MFD_ALLOW_SEALING: number;
  readonly F_ADD_SEALS: number;
  readonly F_GET_SEALS: number;
  readonly F_SEAL_SEAL: number;
  readonly F_SEAL_SHRINK: number;
  readonly F_SEAL_GROW: number;
  readonly F_SEAL_WRITE: number;
  /** Fault-guard modes for mmap/shmat (native/mmap.h). */
  readonly GUARD_WRITE_PROTECT: number;
  readonly GUARD_COPY_ON_WRITE: number;
  readonly GUARD_SHRINK: number;
  readonly IPC_PRIVATE: number;
  readonly IPC_CREAT: number;
  readonly IPC_EXCL: number;
  readonly SHM_RDONLY: number;
  readonly SHM_DEST: number;
  readonly SHM_LOCKED: number;
  readonly SHMCTL_STAT_FIELDS: number;
  readonly FUTEX_WAITERS: number;
  readonly FUTEX_OWNER_DIED: number;
  readonly FUTEX_TID_MASK: number;
  readonly IPC_NOWAIT: number;
  readonly IPC_RMID: number;
  readonly SEM_UNDO: number;
  readonly GETVAL: number;
  readonly SETVAL: number;
  readonly GETPID: number;
  readonly GETNCNT: number;
  readonly GETZCNT: number;
  /** Largest value of a POSIX semaphore (INT_MAX on Linux). */
  readonly SEM_VALUE_MAX: number;
  /**
   * Whether a timed semWait() calls sem_clockwait: false where the C library lacks it (glibc before 2.30,
   * musl) or with UNIPC_SEM_TIMEDWAIT=1, and it waits with sem_timedwait (native/sem.cc).
   */
  readonly SEM_CLOCKWAIT: boolean;
  /** Largest value of a System V semaphore (the kernel's SEMVMX). */
  readonly SEMVMX: number;
  readonly SEMCTL_STAT_FIELDS: number;
  readonly MSG_NOERROR: number;
  readonly MSG_EXCEPT: number;
  /** sizeof(long): the size of a msgbuf's mtype, which precedes its text. */
  readonly SIZEOF_LONG: number;
  readonly MSGCTL_STAT_FIELDS: number;
  /** sysconf(_SC_MQ_PRIO_MAX): POSIX queue priorities are 0 to MQ_PRIO_MAX - 1. */
  readonly MQ_PRIO_MAX: number;
  /** Index of the first descriptor in the meta array recvmsg fills. */
  readonly RECVMSG_META_FIRST_FD: number;
}

/** The readiness watch of one descriptor: a uv_poll handle, or the epoll thread's (setReadiness()). */
export interface NativePoller {
  /** Set instead of a watch when the descriptor cannot be polled (a negated errno). */
  readonly error?: number;
  /** UV_READABLE | UV_WRITABLE | UV_DISCONNECT → 0 or -errno. */
  start(events: number): number;
  stop(): void;
  close(): void;
  setRef(keepAlive: boolean): void;
}

/** What waiterStats() reports: the waiter threads of the process and this environment's pending waits. */
export interface WaiterStats {
  /** Waiter threads alive in the process, busy or idle. */
  readonly threads: number;
  /** Of those, the ones without a call; each exits after 5 s idle (UNIPC_WAITER_IDLE_MS). */
  readonly idle: number;
  /** Cancelled calls still in their system call. */
  readonly cancelling: number;
  /** Waits of this JavaScript environment not yet delivered. */
  readonly pending: number;
  /** Readiness watches of this environment not yet closed (one per descriptor with Promise operations). */
  readonly pollers: number;
  /** The real-time signal that interrupts a waiter thread. */
  readonly signal: number;
}

/** What mappingStats() reports: the mapped regions of the process. */
export interface MappingStats {
  /** Mapped regions of the process (every thread's): open ones, and retired ones not yet unmapped. */
  readonly regions: number;
  /** Regions every view of which is closed: inert pages, unmapped once no buffer can reach them. */
  readonly retired: number;
  /** Bytes of all the regions. */
  readonly bytes: number;
  /** Bytes of the retired regions: address space reserved, no memory. */
  readonly retiredBytes: number;
}

type Bytes = ArrayBufferView | ArrayBuffer;

/** A view of a mapped region: an external ArrayBuffer, the view's and the region's ids, and how it was mapped. */
export interface NativeView {
  readonly buffer: ArrayBuffer;
  readonly view: number;
  readonly region: number;
  readonly shared: boolean;
  readonly writable: boolean;
}
/** Receives a wait's result: the system call's result or a negated errno (-ECANCELED if cancelled). */
export type WaitCallback = (result: number) => void;

/** What msgrcvInto and msgrcvIntoAsync take before their timeout or callback. */
type MsgrcvIntoArgs = [id: number, target: ArrayBufferView, type: number | bigint, flags: number, typeOut: Int32Array];

export interface Native {
  readonly constants: NativeConstants;
  /** errno values from <errno.h>, name → number. */
  readonly errno: Readonly<Record<string, number>>;

  // wait.cc
  cancelWait(id: number): void;
  refWait(id: number, keepAlive: boolean): void;
  waiterStats(): WaiterStats;
  /** Marks fd as owned by a live object (closed if this environment is torn down first) or not. */
  ownFd(fd: number, owned: boolean): void;
  Poller: new (fd: number, callback: (status: number, events: number) => void) => NativePoller;
  /**
   * How pollers learn that a descriptor is ready: 'loop' (a uv_poll handle on Node's event loop) or
   * 'thread' (the addon's epoll thread, the default): 0, or -errno when it cannot be had or it is too late.
   */
  setReadiness(kind: 'loop' | 'thread'): number;

  // fd.cc
  close(fd: number): number;
  read(fd: number, buffer: Bytes, offset: number, length: number): number;
  write(fd: number, buffer: Bytes, offset: number, length: number): number;
  poll(fd: number, events: number, timeoutMs: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  /** out = [mode, size, dev, ino, uid, gid]. */
  fstat(fd: number, out: Float64Array): number;
  fchmod(fd: number, mode: number): number;
  readlink(path: string, out: Uint8Array): number;
  /** The value's length, written into out; -ERANGE when it is longer than out, -ENODATA when absent. */
  fgetxattr(fd: number, name: string, out: Uint8Array): number;
  fsetxattr(fd: number, name: string, value: Uint8Array, flags: number): number;
  sendmsg(fd: number, buffer: Bytes, offset: number, length: number, fds: Int32Array | null, flags: number): number;
  recvmsg(fd: number, buffer: Bytes, offset: number, length: number, flags: number, meta: Int32Array): number;
  peerCredentials(fd: number, out: Int32Array): number;
  getsockoptInt(fd: number, level: number, name: number): number;
  setsockoptInt(fd: number, level: number, name: number, value: number): number;

  // pipe.cc
  pipe2(out: Int32Array, flags: number): number;
  mkfifo(path: string, mode: number): number;
  open(path: string, flags: number, mode: number, timeoutMs: number): number;
  openAsync(path: string, flags: number, mode: number, callback: WaitCallback): number;
  socketpair(type: number, out: Int32Array): number;
  socket(type: number): number;
  bind(fd: number, path: string): number;
  connect(fd: number, path: string, timeoutMs: number): number;
  connectAsync(fd: number, path: string, callback: WaitCallback): number;
  shutdown(fd: number, how: number): number;
  listen(fd: number, backlog: number): number;
  accept4(fd: number, flags: number): number;

  // mmap.cc
  mmap(
    length: number,
    prot: number,
    flags: number,
    fd: number,
    offset: number,
    guard: number,
    shared: boolean,
    writable: boolean,
  ): NativeView | number;
  viewRegion(region: number): NativeView | number;
  /** Whether lent views are made through V8 directly (see "Lent views" in docs/design.md). */
  readonly v8Views: boolean;
  windowSource(region: number, keyed: boolean): object | number;
  window(source: object, offset: number, length: number): Uint8Array;
  detach(source: object, buffer: ArrayBufferLike): void;
  tryDetach(buffer: ArrayBuffer): boolean;
  closeView(view: number, buffer: ArrayBuffer): number;
  faultedPages(region: number): number;
  mappingStats(): MappingStats;
  msync(region: number, offset: number, length: number, flags: number): number;
  msyncAsync(region: number, offset: number, length: number, flags: number, callback: WaitCallback): number;
  memfdCreate(name: string, flags: number): number;
  ftruncate(fd: number, length: number): number;
  fallocate(fd: number, offset: number, length: number): number;

  // shm.cc
  shmOpen(name: string, flags: number, mode: number): number;
  shmUnlink(name: string): number;
  ftok(path: string, projectId: number, out: Int32Array): number;
  shmget(key: number, size: number, flags: number): number;
  shmat(id: number, flags: number, guard: number): NativeView | number;
  shmctlStat(id: number, out: Float64Array): number;
  shmctlSet(id: number, uid: number, gid: number, mode: number): number;
  shmctlRemove(id: number): number;

  // futex.cc (offsets are bytes into a region; a negative timeout waits until woken)
  futexWait(region: number, offset: number, expected: number, timeoutMs: number): number;
  futexWaitAsync(region: number, offset: number, expected: number, timeoutMs: number, callback: WaitCallback): number;
  futexWaitEither(
    region: number,
    offset: number,
    expected: number,
    otherOffset: number,
    otherExpected: number,
    timeoutMs: number,
  ): number;
  futexWaitEitherAsync(
    region: number,
    offset: number,
    expected: number,
    otherOffset: number,
    otherExpected: number,
    timeoutMs: number,
    callback: WaitCallback,
  ): number;
  futexWake(region: number, offset: number, count: number): number;
  gettid(): number;
  currentCpu(): number;
  /** The calling thread's rseq area (cpu_id_start, cpu_id), where the kernel keeps its CPU; or undefined. */
  cpuIdArea(): ArrayBuffer | undefined;
  yieldCpu(): void;

  // sem.cc
  semget(key: number, count: number, flags: number): number;
  /** ops: (index, delta, flags) triples. A negative timeout waits without limit; expiry is -EAGAIN. */
  semtimedop(id: number, ops: Int32Array, timeoutMs: number): number;
  semopAsync(id: number, ops: Int32Array, callback: WaitCallback): number;
  /** GETVAL, SETVAL, GETPID, GETNCNT, GETZCNT or IPC_RMID; any other command is -EINVAL. */
  semctl(id: number, index: number, cmd: number, value: number): number;
  /** GETALL into out (as many values as fit) → the set's size. */
  semctlGetAll(id: number, out: Uint16Array): number;
  /** SETALL; -EINVAL unless values has one entry per semaphore. */
  semctlSetAll(id: number, values: Uint16Array): number;
  semctlStat(id: number, out: Float64Array): number;
  semctlSet(id: number, uid: number, gid: number, mode: number): number;
  /** sem_open → a handle (> 0) of the native registry; the sem_t itself never leaves native code. */
  semOpen(name: string, flags: number, mode: number, value: number): number;
  /** Drops the handle (-EBADF if it is not open); sem_close once no wait holds the semaphore. */
  semClose(handle: number): number;
  semUnlink(name: string): number;
  semPost(handle: number): number;
  semTryWait(handle: number): number;
  semGetValue(handle: number): number;
  /**
   * sem_wait, or with a timeout >= 0 a wait until a CLOCK_MONOTONIC deadline (-ETIMEDOUT on expiry):
   * sem_clockwait, or sem_timedwait without it (constants.SEM_CLOCKWAIT).
   */
  semWait(handle: number, timeoutMs: number): number;
  semWaitAsync(handle: number, callback: WaitCallback): number;

  // msg.cc (a message type is a C long: an exact Number or a BigInt)
  msgget(key: number, flags: number): number;
  /** Sends the whole of `data` as the text. (No call of a hot path takes more than six arguments: see msg.cc.) */
  msgsnd(id: number, type: number | bigint, data: Bytes, flags: number, timeoutMs: number): number;
  msgsndAsync(id: number, type: number | bigint, data: Bytes, flags: number, callback: WaitCallback): number;
  /** Receives a whole msgbuf into `buffer`: mtype first (SIZEOF_LONG bytes), then up to `length` bytes of text. */
  msgrcv(id: number, buffer: Bytes, length: number, type: number | bigint, flags: number, timeoutMs: number): number;
  /** As msgrcv, into an ArrayBuffer the addon owns and returns with the wait's id. */
  msgrcvAsync(
    id: number,
    length: number,
    type: number | bigint,
    flags: number,
    callback: WaitCallback,
  ): { wait: number; buffer: ArrayBuffer } | number;
  /**
   * Receives a message's text into `target` (at most its length) and its mtype into typeOut (the C long's
   * bytes); → the text's length.
   */
  msgrcvInto(...args: [...MsgrcvIntoArgs, timeoutMs: number]): number;
  /**
   * As msgrcvInto, on a waiter thread; the text and mtype are copied out on this thread just before
   * `callback`, which gets -EBADF instead when `target` was detached meanwhile (the message is then lost).
   */
  msgrcvIntoAsync(...args: [...MsgrcvIntoArgs, callback: WaitCallback]): number;
  msgctlStat(id: number, out: Float64Array): number;
  msgctlSet(id: number, uid: number, gid: number, mode: number, maxBytes: number): number;
  msgctlRemove(id: number): number;

  // mq.cc
  mqOpen(name: string, flags: number, mode: number, maxMessages: number, messageSize: number): number;
  mqUnlink(name: string): number;
  mqSend(fd: number, buffer: Bytes, offset: number, length: number, priority: number): number;
  mqReceive(fd: number, buffer: Bytes, offset: number, length: number, priority: Int32Array): number;
  /** out = [flags, maxMessages, messageSize, currentMessages] */
  mqGetattr(fd: number, out: Float64Array): number;
}

/** The `code` of the Error that importing unipc throws when it has no native binary that loads here. */
export const NO_BINARY = 'ERR_UNIPC_NO_BINARY';

/** The oldest glibc the prebuilt binaries load with (scripts/check-floor.mjs keeps them there). */
const GLIBC_FLOOR = '2.28';

function loadNative(): Native {
  const requireHere = createRequire(`${packageRoot}/package.json`);
  const nodeGypBuild = requireHere('node-gyp-build') as { path(dir: string): string };
  let file: string;
  try {
    file = nodeGypBuild.path(packageRoot);
  } catch (cause) {
    throw noBinary(undefined, cause);
  }
  try {
    return requireHere(file) as Native;
  } catch (cause) {
    throw noBinary(file, cause);
  }
}

// glibc's version, from Node's diagnostic report; undefined where the C library is another (musl).
function glibcVersion(): string | undefined {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime;
}

// "linux-arm64 and linux-x64 (glibc)": the platforms of the package's prebuilds/, from their file names.
function shippedPrebuilds(): string[] {
  const dir = path.join(packageRoot, 'prebuilds');
  const found: string[] = [];
  for (const tuple of fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []) {
    const libcs = new Set<string>();
    for (const file of fs.readdirSync(path.join(dir, tuple))) {
      if (!file.endsWith('.node')) continue;
      libcs.add(file.split('.').find((tag) => tag === 'glibc' || tag === 'musl') ?? 'any libc');
    }
    if (libcs.size > 0) found.push(`${tuple} (${[...libcs].join(', ')})`);
  }
  return found;
}

// A file of the package by its path in the package, any other by its absolute path.
function shown(file: string): string {
  const relative = path.relative(packageRoot, file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

function olderThan(version: string, than: string): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  const [c = 0, d = 0] = than.split('.').map(Number);
  return a < c || (a === c && b < d);
}

// The Error for no binary that fits (file undefined), or for `file`, which fits but did not load.
function noBinary(file: string | undefined, cause: unknown): Error {
  // What node-gyp-build looked for: npm_config_arch, npm_config_platform and LIBC override its guesses.
  const platform = process.env.npm_config_platform || os.platform();
  const arch = process.env.npm_config_arch || os.arch();
  const glibc = platform === 'linux' ? glibcVersion() : undefined;
  const libc = platform !== 'linux' ? undefined : process.env.LIBC || (glibc === undefined ? 'musl' : 'glibc');
  const system = [
    `${platform}-${arch}`,
    libc === undefined ? undefined : libc === 'glibc' && glibc !== undefined ? `glibc ${glibc}` : `${libc} libc`,
    `Node ${process.version} (ABI ${process.versions.modules})`,
  ].filter(Boolean);
  const shipped = shippedPrebuilds();
  const override = process.env.UNIPC_PREBUILD;
  const reason = cause instanceof Error ? cause.message.trim().split('\n')[0] : String(cause);
  const lines = [
    file === undefined
      ? `unipc: no native binary for this system: ${system.join(', ')}.`
      : `unipc: its native binary ${shown(file)} does not load on this system ` + `(${system.join(', ')}): ${reason}`,
    override
      ? `UNIPC_PREBUILD=${override} is set: node-gyp-build looked only there.`
      : shipped.length > 0
        ? `The package ships prebuilt binaries for ${shipped.join(' and ')}, which need glibc ${GLIBC_FLOOR} or later.`
        : `This copy of unipc ships no prebuilt binaries (no ${path.join(packageRoot, 'prebuilds')}).`,
  ];
  if (libc === 'glibc' && glibc !== undefined && olderThan(glibc, GLIBC_FLOOR))
    lines.push(`glibc ${glibc} is older than ${GLIBC_FLOOR}, the oldest the prebuilt binaries load with.`);
  if (libc === 'musl') lines.push('musl libc (Alpine) has no prebuilt binary: unipc must be built from source there.');
  lines.push(
    'To build it here: install a C++ compiler, make and Python 3 (Alpine: apk add build-base python3 linux-headers;',
    'Debian, Ubuntu: apt-get install g++ make python3; Fedora, RHEL: dnf install gcc-c++ make python3), then run',
    "unipc's install script, which builds the addon: npm rebuild unipc (npm 12 runs it only once allowed:",
    'npm install-scripts approve unipc first; for a global install, npm install -g --allow-scripts=unipc unipc).',
    `Or run on Linux x64 or arm64 with glibc ${GLIBC_FLOOR} or later, where the prebuilt binaries need no build.`,
  );
  return Object.assign(new Error(lines.join('\n'), { cause }), { code: NO_BINARY });
}

export const native: Native = loadNative();

/**
 * Which runtime runs this: Bun and Deno load Node-API addons but have no libuv loop an addon may use
 * (Bun panics on uv_poll_init; Deno's emulation calls back outside a HandleScope).
 */
export const runtime: 'node' | 'bun' | 'deno' =
  typeof (globalThis as { Deno?: unknown }).Deno === 'object'
    ? 'deno'
    : typeof process.versions.bun === 'string'
      ? 'bun'
      : 'node';

// On Node a uv_poll handle wakes the event loop itself, one wake-up fewer per event than the epoll
// thread (docs/design.md, "Readiness"); UNIPC_READINESS=thread makes Node use the thread too.
if (runtime === 'node' && process.env.UNIPC_READINESS !== 'thread') native.setReadiness('loop');
export const constants: NativeConstants = native.constants;
