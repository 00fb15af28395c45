// Every IPC object on the machine as typed records (`unipc ls`), whether each is provably stale, and
// their removal (`unipc rm`).
//
// Sources: /proc/sysvipc/{msg,sem,shm} for System V objects (what `ipcs` reads), /dev/shm for POSIX
// shared memory and named semaphores (glibc keeps a semaphore there as sem.NAME), and a mounted mqueue
// filesystem for POSIX queues (the kernel offers no other way to enumerate them).
//
// "Stale" is claimed only when it can be proven (docs/security.md): the creator is gone and no process
// holds the object now. The kernel records a creator only for System V shared memory (and counts its
// attachments); POSIX shared memory and named semaphores have one when unipc created them (the creator
// mark, src/mark.ts), and a write lease on the file proves that nobody has it open or mapped. A
// semaphore set or message queue of either kind is never provably stale.
import fs from 'node:fs';
import os from 'node:os';
import { E, errnoValue, IpcError, type IpcErrorContext } from './errors.js';
import { readlink } from './fd.js';
import { bootId, type CreatorMark, namespaceInode, processStartTime, readMark } from './mark.js';
import { PosixQueue } from './mq.js';
import { MessageQueue } from './msg.js';
import { constants, native } from './native.js';
import { NamedSemaphore, SemaphoreSet } from './sem.js';
import { SharedMemory, SysvSharedMemory } from './shm.js';
import { secondsToDate } from './sysv.js';
import {
  invalidArgType,
  validateBoolean,
  validateInteger,
  validateObject,
  validateOneOf,
  validateOptions,
} from './validate.js';

/** The kinds of IPC object list() finds, in the order it lists them. */
export const IPC_OBJECT_TYPES = [
  'sysv-queue',
  'sysv-semaphores',
  'sysv-shm',
  'posix-shm',
  'posix-semaphore',
  'posix-queue',
] as const;
/** A kind of IPC object list() finds: one of IPC_OBJECT_TYPES, and the `type` of its records. */
export type IpcObjectType = (typeof IPC_OBJECT_TYPES)[number];

/** Whether an object is provably stale, and why (or why that cannot be proven). */
export interface Staleness {
  /** True only when proven: its creator is gone and no process has it attached, open or mapped. */
  stale: boolean;
  /** Why it is stale, or why not or not provably, e.g. 'creator pid 3652 is running'. */
  reason: string;
}

/** What /proc/sysvipc gives for every System V object. */
export interface SysvObjectRecord {
  /** The key as `ipcs` shows it (unsigned); 0 is IPC_PRIVATE. */
  key: number;
  /** The identifier, as `ipcs` lists it and fromId() takes it. */
  id: number;
  /** The owner's user id. */
  uid: number;
  /** The owner's group id. */
  gid: number;
  /** The creator's user id. */
  creatorUid: number;
  /** The creator's group id. */
  creatorGid: number;
  /** Permission bits (0o777). */
  mode: number;
  /** Creation or last IPC_SET. */
  lastChange: Date;
  /** Present when listed with `staleness: true`. */
  staleness?: Staleness;
}

/** A System V message queue (`ipcs -q`), from /proc/sysvipc/msg. */
export interface SysvQueueRecord extends SysvObjectRecord {
  /** The kind of object. */
  type: 'sysv-queue';
  /** Bytes of text queued (msg_cbytes). */
  bytes: number;
  /** Messages queued (msg_qnum). */
  messages: number;
  /** 0 when none yet (or the process is in a PID namespace this /proc does not see). */
  lastSendPid: number;
  /** The last process to receive (msg_lrpid); 0 as for lastSendPid. */
  lastReceivePid: number;
  /** The last send (msg_stime); null when none yet. */
  lastSend: Date | null;
  /** The last receive (msg_rtime); null when none yet. */
  lastReceive: Date | null;
}

/** A System V semaphore set (`ipcs -s`), from /proc/sysvipc/sem. */
export interface SysvSemaphoresRecord extends SysvObjectRecord {
  /** The kind of object. */
  type: 'sysv-semaphores';
  /** Semaphores in the set. */
  count: number;
  /** The last semop (sem_otime); null when none yet. */
  lastOp: Date | null;
}

/** A System V shared memory segment (`ipcs -m`), from /proc/sysvipc/shm. */
export interface SysvShmRecord extends SysvObjectRecord {
  /** The kind of object. */
  type: 'sysv-shm';
  /** Bytes of the segment (shm_segsz). */
  size: number;
  /** 0 when the creator is in a PID namespace this /proc does not see. */
  creatorPid: number;
  /** The last process to attach or detach; 0 when none has. */
  lastPid: number;
  /** Attachments now, in every process (shm_nattch). */
  attachments: number;
  /** The last attach (shm_atime); null when none yet. */
  lastAttach: Date | null;
  /** The last detach (shm_dtime); null when none yet. */
  lastDetach: Date | null;
  /** Removed (IPC_RMID) but still attached somewhere; it has lost its key. */
  markedForRemoval: boolean;
  /** Locked in memory (SHM_LOCK): never swapped out. */
  locked: boolean;
  /** Bytes of the segment in memory (0 where the kernel does not say). */
  resident: number;
  /** Bytes of the segment in swap (0 where the kernel does not say). */
  swapped: number;
}

/** What stat(2) gives for a POSIX object's file. */
export interface PosixObjectRecord {
  /** The name as shm_open/sem_open/mq_open take it: '/name'. */
  name: string;
  /** The file that holds it: /dev/shm/NAME, /dev/shm/sem.NAME, or NAME in the mqueue mount. */
  path: string;
  /** The file's owner. */
  uid: number;
  /** The file's group. */
  gid: number;
  /** Permission bits (0o7777). */
  mode: number;
  /** The device of the filesystem that holds the file (st_dev); with `inode`, what remove() checks. */
  device: number;
  /** The file's inode: a file made since under the same name has another. */
  inode: number;
  /** st_atime of the file. */
  lastAccess: Date;
  /** st_mtime of the file. */
  lastModification: Date;
  /** st_ctime of the file. */
  lastChange: Date;
  /** Present when listed with `staleness: true`. */
  staleness?: Staleness;
}

/** A POSIX shared memory object, from /dev/shm. */
export interface PosixShmRecord extends PosixObjectRecord {
  /** The kind of object. */
  type: 'posix-shm';
  /** Bytes (the file's size). */
  size: number;
  /** unipc's record of the process that created it; null for objects unipc did not create (or cannot read). */
  mark: CreatorMark | null;
}

/** A POSIX named semaphore, from /dev/shm (where glibc keeps one as sem.NAME). */
export interface PosixSemaphoreRecord extends PosixObjectRecord {
  /** The kind of object. */
  type: 'posix-semaphore';
  /** The size of the file glibc keeps the semaphore in (sizeof(sem_t), 32 bytes on 64-bit Linux). */
  size: number;
  /** unipc's record of the process that created it; null for semaphores unipc did not create (or cannot read). */
  mark: CreatorMark | null;
}

/** A POSIX message queue, from the mounted mqueue filesystem. */
export interface PosixQueueRecord extends PosixObjectRecord {
  /** The kind of object. */
  type: 'posix-queue';
  /** Bytes of the messages queued (QSIZE of the mqueue file); null when this user may not read it. */
  bytes: number | null;
  /** Messages queued (mq_curmsgs); null when this user may not open the queue for reading. */
  messages: number | null;
  /** Its capacity in messages (mq_maxmsg); null as for `messages`. */
  maxMessages: number | null;
  /** Its largest message in bytes (mq_msgsize); null as for `messages`. */
  messageSize: number | null;
}

/** A record of list(): one of the six kinds of IPC object, told apart by `type`. */
export type IpcObject =
  | SysvQueueRecord
  | SysvSemaphoresRecord
  | SysvShmRecord
  | PosixShmRecord
  | PosixSemaphoreRecord
  | PosixQueueRecord;

/** What list() lists. */
export interface ListOptions {
  /** The kinds to list: one or several. Default: all. */
  type?: IpcObjectType | readonly IpcObjectType[];
  /** Only objects unipc created: those with its creator mark (POSIX shared memory and named semaphores). */
  mine?: boolean;
  /** Judge each object's staleness (adds `staleness`). Default false. */
  staleness?: boolean;
}

/** A kind of object that could not be listed here, and why. */
export interface Unlisted {
  /** The kind of object. */
  type: IpcObjectType;
  /** Why, e.g. that no mqueue filesystem is mounted. */
  reason: string;
}

// The exact bytes of a POSIX object's path when its name is not UTF-8 (the record's strings then hold
// U+FFFD), so that remove() of that record still reaches that file.
const rawPaths = new WeakMap<IpcObject, Buffer>();

// ---- Reading ----------------------------------------------------------------------------------------

const SYSV_FILES = { 'sysv-queue': 'msg', 'sysv-semaphores': 'sem', 'sysv-shm': 'shm' } as const;

/** The rows of /proc/sysvipc/<kind>, each by column name; a string says why the file cannot be read. */
function sysvTable(kind: 'msg' | 'sem' | 'shm'): Array<Record<string, number>> | string {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/sysvipc/${kind}`, 'utf8');
  } catch (error) {
    return `/proc/sysvipc/${kind} cannot be read (${(error as NodeJS.ErrnoException).code}): no System V IPC in this kernel, or no /proc`;
  }
  const [header = '', ...lines] = text.split('\n');
  const columns = header.trim().split(/\s+/);
  return lines
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const values = line.trim().split(/\s+/);
      const row: Record<string, number> = {};
      columns.forEach((column, i) => {
        row[column] = column === 'perms' ? Number.parseInt(values[i] ?? '', 8) : Number(values[i]);
      });
      return row;
    });
}

function sysvCommon(row: Record<string, number>, idColumn: string): SysvObjectRecord {
  return {
    key: row.key! >>> 0,
    id: row[idColumn]!,
    uid: row.uid!,
    gid: row.gid!,
    creatorUid: row.cuid!,
    creatorGid: row.cgid!,
    mode: row.perms! & 0o777,
    lastChange: new Date(row.ctime! * 1000),
  };
}

// One row of /proc/sysvipc as its record. A function with a declared return type rather than map()'s
// callback, so that TypeScript checks that the switch covers every type.
function sysvRecord(type: 'sysv-queue' | 'sysv-semaphores' | 'sysv-shm', row: Record<string, number>): IpcObject {
  switch (type) {
    case 'sysv-queue':
      return {
        type,
        ...sysvCommon(row, 'msqid'),
        bytes: row.cbytes!,
        messages: row.qnum!,
        lastSendPid: row.lspid!,
        lastReceivePid: row.lrpid!,
        lastSend: secondsToDate(row.stime!),
        lastReceive: secondsToDate(row.rtime!),
      };
    case 'sysv-semaphores':
      return { type, ...sysvCommon(row, 'semid'), count: row.nsems!, lastOp: secondsToDate(row.otime!) };
    case 'sysv-shm':
      return {
        type,
        ...sysvCommon(row, 'shmid'),
        size: row.size!,
        creatorPid: row.cpid!,
        lastPid: row.lpid!,
        attachments: row.nattch!,
        lastAttach: secondsToDate(row.atime!),
        lastDetach: secondsToDate(row.dtime!),
        markedForRemoval: (row.perms! & constants.SHM_DEST) !== 0,
        locked: (row.perms! & constants.SHM_LOCKED) !== 0,
        resident: row.rss ?? 0,
        swapped: row.swap ?? 0,
      };
  }
}

function readSysv(type: 'sysv-queue' | 'sysv-semaphores' | 'sysv-shm'): IpcObject[] | string {
  const table = sysvTable(SYSV_FILES[type]);
  if (typeof table === 'string') return table;
  const records: IpcObject[] = table.map((row) => sysvRecord(type, row));
  return records.sort((a, b) => (a as SysvObjectRecord).id - (b as SysvObjectRecord).id);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const lossyUtf8 = new TextDecoder('utf-8');

function decodeName(raw: Buffer): { text: string; exact: boolean } {
  try {
    return { text: utf8.decode(raw), exact: true };
  } catch {
    return { text: lossyUtf8.decode(raw), exact: false };
  }
}

interface DirectoryEntry {
  name: string;
  exact: boolean;
  rawPath: Buffer;
  stats: fs.Stats;
}

// The regular files of a directory, by raw name: a name need not be UTF-8, and whatever else lives
// there (directories, symbolic links, sockets) is no IPC object (shm_open refuses to follow a link).
function regularFiles(directory: string): DirectoryEntry[] | string {
  let names: Buffer[];
  try {
    names = fs.readdirSync(directory, { encoding: 'buffer' });
  } catch (error) {
    // Deno's permission error has no code: its message says which flag is missing (--allow-all for /dev).
    return `${directory} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  const entries: DirectoryEntry[] = [];
  for (const raw of names) {
    const rawPath = Buffer.concat([Buffer.from(`${directory}/`), raw]);
    let stats: fs.Stats | undefined;
    try {
      stats = fs.lstatSync(rawPath);
    } catch {
      continue; // removed meanwhile
    }
    if (!stats.isFile()) continue;
    const { text, exact } = decodeName(raw);
    entries.push({ name: text, exact, rawPath, stats });
  }
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function posixCommon(entry: DirectoryEntry, name: string): PosixObjectRecord {
  const { stats } = entry;
  return {
    name,
    path: lossyUtf8.decode(entry.rawPath),
    uid: stats.uid,
    gid: stats.gid,
    mode: stats.mode & 0o7777,
    device: stats.dev,
    inode: stats.ino,
    lastAccess: stats.atime,
    lastModification: stats.mtime,
    lastChange: stats.ctime,
  };
}

const OPEN_TO_INSPECT =
  fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY;

// Opens what lstat() described, for reading, without following a link or blocking on a FIFO swapped in
// meanwhile; undefined when this user may not read it or it changed since.
function openSame(entry: DirectoryEntry): number | undefined {
  let fd: number;
  try {
    fd = fs.openSync(entry.rawPath, OPEN_TO_INSPECT);
  } catch {
    return undefined;
  }
  const now = fs.fstatSync(fd);
  if (now.ino !== entry.stats.ino || now.dev !== entry.stats.dev) {
    fs.closeSync(fd);
    return undefined;
  }
  return fd;
}

function stillThere(entry: DirectoryEntry): boolean {
  try {
    const now = fs.lstatSync(entry.rawPath);
    return now.ino === entry.stats.ino && now.dev === entry.stats.dev;
  } catch {
    return false;
  }
}

function markOf(entry: DirectoryEntry): CreatorMark | null {
  const fd = openSame(entry);
  if (fd === undefined) return null;
  try {
    return readMark(fd);
  } finally {
    fs.closeSync(fd);
  }
}

const SHM_DIRECTORY = '/dev/shm';
const SEMAPHORE_PREFIX = 'sem.';

function readDevShm(type: 'posix-shm' | 'posix-semaphore'): IpcObject[] | string {
  const entries = regularFiles(SHM_DIRECTORY);
  if (typeof entries === 'string') return entries;
  const records: IpcObject[] = [];
  for (const entry of entries) {
    const isSemaphore = entry.rawPath
      .subarray(SHM_DIRECTORY.length + 1)
      .toString('latin1')
      .startsWith(SEMAPHORE_PREFIX);
    if (isSemaphore !== (type === 'posix-semaphore')) continue;
    const name = `/${isSemaphore ? entry.name.slice(SEMAPHORE_PREFIX.length) : entry.name}`;
    const record: IpcObject = { type, ...posixCommon(entry, name), size: entry.stats.size, mark: markOf(entry) };
    if (!entry.exact) rawPaths.set(record, entry.rawPath);
    records.push(record);
  }
  return records;
}

// Where an mqueue filesystem is mounted (the last such mount: it hides earlier ones at the same
// place), from /proc/self/mountinfo, whose paths escape a space as \040.
function mqueueMountPoint(): string | undefined {
  let text = '';
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  let found: string | undefined;
  for (const line of text.split('\n')) {
    const [before = '', after = ''] = line.split(' - ');
    if (after.split(' ')[0] !== 'mqueue') continue;
    const mountPoint = before.split(' ')[4];
    if (mountPoint !== undefined)
      found = mountPoint.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
  }
  return found;
}

const MQUEUE_UNMOUNTED =
  'no mqueue filesystem is mounted, and the kernel has no other way to enumerate POSIX queues ' +
  '(mount -t mqueue none /dev/mqueue as root lists them; opening a queue by name works without it)';

function readMqueue(): IpcObject[] | string {
  const mountPoint = mqueueMountPoint();
  if (mountPoint === undefined) return MQUEUE_UNMOUNTED;
  const entries = regularFiles(mountPoint);
  if (typeof entries === 'string') return entries;
  const records: IpcObject[] = [];
  for (const entry of entries) {
    const record: PosixQueueRecord = {
      type: 'posix-queue',
      ...posixCommon(entry, `/${entry.name}`),
      bytes: null,
      messages: null,
      maxMessages: null,
      messageSize: null,
    };
    // The file reads "QSIZE:n NOTIFY:… SIGNO:… NOTIFY_PID:…".
    const fd = openSame(entry);
    if (fd !== undefined) {
      try {
        const match = /QSIZE:(\d+)/.exec(fs.readFileSync(fd, 'latin1'));
        if (match) record.bytes = Number(match[1]);
      } catch {
        // unreadable: bytes stays null
      } finally {
        fs.closeSync(fd);
      }
    }
    if (entry.exact) {
      const attributes = queueAttributes(record.name, entry);
      if (attributes === 'gone') continue;
      if (attributes === 'other namespace') {
        return `the mqueue filesystem mounted at ${mountPoint} belongs to another IPC namespace than this process's`;
      }
      if (attributes) Object.assign(record, attributes);
    } else {
      rawPaths.set(record, entry.rawPath);
    }
    records.push(record);
  }
  return records;
}

// mq_getattr of the queue `name`, opened read-only without blocking; undefined when this user may not
// open it, 'other namespace' when the queue by that name here is not the file the mount showed, 'gone'
// when it was unlinked since the directory was read (another program's queue, on a busy machine).
function queueAttributes(
  name: string,
  entry: DirectoryEntry,
): Pick<PosixQueueRecord, 'messages' | 'maxMessages' | 'messageSize'> | 'other namespace' | 'gone' | undefined {
  const { stats } = entry;
  if (Buffer.byteLength(name) > 256 || name.includes('\0')) return undefined;
  const fd = native.mqOpen(name, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_CLOEXEC, 0, 0, 0);
  if (fd === -E.ENOENT) return stillThere(entry) ? 'other namespace' : 'gone';
  if (fd < 0) return undefined;
  try {
    const opened = fs.fstatSync(fd);
    if (opened.dev !== stats.dev) return 'other namespace';
    if (opened.ino !== stats.ino) return undefined; // replaced meanwhile
    const out = new Float64Array(4);
    if (native.mqGetattr(fd, out) < 0) return undefined;
    return { maxMessages: out[1]!, messageSize: out[2]!, messages: out[3]! };
  } finally {
    native.close(fd);
  }
}

function read(type: IpcObjectType): IpcObject[] | string {
  switch (type) {
    case 'sysv-queue':
    case 'sysv-semaphores':
    case 'sysv-shm':
      return readSysv(type);
    case 'posix-shm':
    case 'posix-semaphore':
      return readDevShm(type);
    case 'posix-queue':
      return readMqueue();
  }
}

function listOptions(options: ListOptions | undefined): { types: IpcObjectType[]; mine: boolean; staleness: boolean } {
  const { type, mine = false, staleness = false } = validateOptions(options);
  validateBoolean(mine, 'options.mine');
  validateBoolean(staleness, 'options.staleness');
  let types: IpcObjectType[] = [...IPC_OBJECT_TYPES];
  if (type !== undefined) {
    const asked: unknown[] = Array.isArray(type) ? type : [type];
    asked.forEach((value, i) => {
      validateOneOf(value, Array.isArray(type) ? `options.type[${i}]` : 'options.type', IPC_OBJECT_TYPES);
    });
    types = IPC_OBJECT_TYPES.filter((t) => asked.includes(t));
  }
  return { types, mine, staleness };
}

/** @internal What list() found and what it could not list, in one pass (for the CLI). */
export function survey(options?: ListOptions): { objects: IpcObject[]; unlisted: Unlisted[] } {
  const { types, mine, staleness } = listOptions(options);
  let objects: IpcObject[] = [];
  const unlisted: Unlisted[] = [];
  for (const type of types) {
    const found = read(type);
    if (typeof found === 'string') unlisted.push({ type, reason: found });
    else objects.push(...found);
  }
  if (mine) objects = objects.filter((object) => 'mark' in object && object.mark !== null);
  if (staleness) {
    const view = new ProcessView();
    for (const object of objects) object.staleness = judge(object, view);
  }
  return { objects, unlisted };
}

/**
 * Every IPC object on the machine (in this IPC namespace), as typed records discriminated by `type`.
 * Kinds that cannot be listed here are left out; unlistedTypes() says which and why.
 *
 * @throws argument errors (what cannot be read is left out, not thrown).
 *
 * @example
 * ```ts
 * import { list } from 'unipc';
 *
 * for (const object of list({ type: ['sysv-shm', 'posix-shm'], staleness: true })) {
 *   if (object.type === 'sysv-shm') console.log(`segment ${object.id}: ${object.attachments} attached`);
 *   else if (object.type === 'posix-shm') console.log(`${object.name}: ${object.size} bytes`);
 *   console.log(`  stale: ${object.staleness?.stale} (${object.staleness?.reason})`);
 * }
 * ```
 *
 * @see proc(5) for /proc/sysvipc/msg, sem and shm (what ipcs(1) reads); shm_overview(7) and
 *   sem_overview(7) for /dev/shm; mq_overview(7) for the mqueue filesystem, and mq_getattr(3); for
 *   `staleness`, kill(2) and fcntl(2) (F_SETLEASE).
 */
export function list(options?: ListOptions): IpcObject[] {
  return survey(options).objects;
}

/**
 * The kinds of object list() cannot find on this machine, and why (for one: no mqueue mount).
 *
 * @example
 * ```ts
 * import { unlistedTypes } from 'unipc';
 *
 * for (const { type, reason } of unlistedTypes()) console.warn(`${type} not listed: ${reason}`);
 * ```
 *
 * @see proc(5) for /proc/sysvipc and /proc/self/mountinfo (where it looks for an mqueue mount),
 *   mq_overview(7)
 */
export function unlistedTypes(): Unlisted[] {
  return survey().unlisted;
}

// ---- Staleness ----------------------------------------------------------------------------------------

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** What this process can tell about other processes; read once per judgement. */
class ProcessView {
  /** The pids of /proc/sysvipc and /proc are this process's own (not another PID namespace's /proc). */
  readonly pidsAreOurs: boolean;
  readonly pidNamespace: number | undefined;
  readonly bootId: string | undefined;

  constructor() {
    let self = '';
    try {
      self = readlink('/proc/self');
    } catch {
      // no /proc
    }
    this.pidsAreOurs = self === String(process.pid);
    this.pidNamespace = namespaceInode('/proc/self/ns/pid');
    this.bootId = bootId();
  }

  /** true: no process has this pid now; false: one has (perhaps another, having reused it); undefined: cannot tell. */
  gone(pid: number): boolean | undefined {
    if (!this.pidsAreOurs || !(pid > 0)) return undefined;
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      const code = errorCode(error);
      return code === 'ESRCH' ? true : code === 'EPERM' ? false : undefined;
    }
  }

  /** Whether the creator a mark names is gone: true, false, or why that cannot be told. */
  creatorGone(mark: CreatorMark): boolean | string {
    if (this.bootId !== undefined && mark.bootId !== this.bootId) return true;
    if (this.pidNamespace === undefined || mark.pidNamespace !== this.pidNamespace)
      return 'not provable: created in another PID namespace';
    const gone = this.gone(mark.pid);
    if (gone === undefined) return "not provable: this /proc does not show the creator's PID namespace";
    if (gone) return true;
    // The pid is in use: by the creator, unless that process started at another time (the pid was reused).
    const started = processStartTime(mark.pid);
    if (started === undefined) return `creator pid ${mark.pid} may be running`;
    return started !== mark.startTime;
  }
}

const NEVER_PROVABLE: Partial<Record<IpcObjectType, string>> = {
  'sysv-queue': 'not provable: the kernel records no creator of a message queue, nor who holds its id',
  'sysv-semaphores': 'not provable: the kernel records no creator of a semaphore set, nor who holds its id',
  'posix-queue': 'not provable: the kernel records no creator of a POSIX queue, and its filesystem takes no mark',
};

function judgeSysvShm(record: SysvShmRecord, view: ProcessView): Staleness {
  const no = (reason: string) => ({ stale: false, reason });
  if (record.markedForRemoval) return no('removed already: destroyed when its last attachment detaches');
  if (record.attachments > 0) return no(`attached ${record.attachments} time${record.attachments === 1 ? '' : 's'}`);
  if (!view.pidsAreOurs) return no('not provable: /proc belongs to another PID namespace');
  if (record.creatorPid === 0) return no('not provable: the creator is in a PID namespace this /proc does not show');
  if (view.gone(record.creatorPid) !== true)
    return no(`creator pid ${record.creatorPid} is running (or its pid was reused)`);
  if (record.lastPid !== 0 && view.gone(record.lastPid) !== true)
    return no(`last attach/detach pid ${record.lastPid} is running`);
  const last = record.lastPid === 0 ? 'never attached' : `last attached/detached by pid ${record.lastPid}, gone`;
  return { stale: true, reason: `creator pid ${record.creatorPid} is gone, nothing attached (${last})` };
}

// Signal for a broken lease (another process opening the file while it is held): one whose default is
// to be ignored, unlike SIGIO's, which would end this process.
const LEASE_BREAK_SIGNAL = os.constants.signals.SIGURG;

/**
 * Runs `action` on the POSIX object's file while this process holds a write lease on it (F_SETLEASE).
 * The kernel grants that lease only when no other open file description of the file exists — none in
 * any process, none kept by a mapping, none in flight in a socket message — and holds back every other
 * open() until it is released. So while `action` runs, nobody else has the object open or mapped.
 * Returns why that could not be established instead, when it could not.
 */
function whileSoleHolder<T>(
  record: PosixShmRecord | PosixSemaphoreRecord,
  action: (fd: number) => T,
): { done: T } | { reason: string } {
  let fd: number;
  try {
    fd = fs.openSync(rawPaths.get(record) ?? record.path, OPEN_TO_INSPECT);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') return { reason: 'gone already' };
    return { reason: `not provable: this user cannot open it (${code}) to check that nobody else has` };
  }
  try {
    const stats = fs.fstatSync(fd);
    if (stats.ino !== record.inode || stats.dev !== record.device)
      return { reason: 'its name now belongs to another object' };
    native.fcntl(fd, constants.F_SETSIG, LEASE_BREAK_SIGNAL);
    const leased = native.fcntl(fd, constants.F_SETLEASE, constants.F_WRLCK);
    if (leased === -E.EAGAIN) return { reason: 'open or mapped by a process (the kernel refused a lease)' };
    if (leased === -E.EACCES)
      return { reason: 'not provable: only its owner or root (CAP_LEASE) can check that nobody has it open' };
    if (leased < 0)
      return {
        reason: `not provable: no file lease (${new IpcError(-leased, 'fcntl').code}) to check that nobody has it open`,
      };
    try {
      return { done: action(fd) };
    } finally {
      native.fcntl(fd, constants.F_SETLEASE, constants.F_UNLCK);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function judgePosix(record: PosixShmRecord | PosixSemaphoreRecord, view: ProcessView): Staleness {
  if (record.mark === null)
    return {
      stale: false,
      reason: 'not provable: no unipc creator mark (or not readable by this user), so no known creator',
    };
  const gone = view.creatorGone(record.mark);
  if (typeof gone === 'string') return { stale: false, reason: gone };
  if (!gone) return { stale: false, reason: `creator pid ${record.mark.pid} is running` };
  const sole = whileSoleHolder(record, () => true);
  if ('reason' in sole) return { stale: false, reason: sole.reason };
  return { stale: true, reason: `creator pid ${record.mark.pid} is gone, and no process has it open or mapped` };
}

function judge(record: IpcObject, view: ProcessView): Staleness {
  const never = NEVER_PROVABLE[record.type];
  if (never !== undefined) return { stale: false, reason: never };
  if (record.type === 'sysv-shm') return judgeSysvShm(record, view);
  return judgePosix(record as PosixShmRecord | PosixSemaphoreRecord, view);
}

// ---- Removal --------------------------------------------------------------------------------------

function validateRecord(object: unknown, name = 'object'): asserts object is IpcObject {
  validateObject<IpcObject>(object, name);
  validateOneOf(object.type, `${name}.type`, IPC_OBJECT_TYPES);
  if (object.type.startsWith('sysv-')) {
    validateInteger((object as SysvObjectRecord).id, `${name}.id`, 0, 2 ** 31 - 1);
    validateInteger((object as SysvObjectRecord).key, `${name}.key`, 0, 2 ** 32 - 1);
  } else {
    const { name: objectName, path, inode, device } = object as PosixObjectRecord;
    if (typeof objectName !== 'string') throw invalidArgType(`${name}.name`, 'of type string', objectName);
    if (typeof path !== 'string') throw invalidArgType(`${name}.path`, 'of type string', path);
    validateInteger(inode, `${name}.inode`, 0, Number.MAX_SAFE_INTEGER);
    validateInteger(device, `${name}.device`, 0, Number.MAX_SAFE_INTEGER);
  }
}

function contextOf(object: IpcObject): IpcErrorContext {
  return 'id' in object ? { key: object.key, id: object.id } : { objectName: object.name };
}

const SYSV_SYSCALLS = { 'sysv-queue': 'msgctl', 'sysv-semaphores': 'semctl', 'sysv-shm': 'shmctl' } as const;
const POSIX_SYSCALLS = {
  'posix-shm': 'shm_unlink',
  'posix-semaphore': 'sem_unlink',
  'posix-queue': 'mq_unlink',
} as const;

// The object at the record's id now, checked to be the one listed (same key and creator).
function currentSysv(object: SysvQueueRecord | SysvSemaphoresRecord | SysvShmRecord): IpcObject {
  const syscall = SYSV_SYSCALLS[object.type];
  const table = readSysv(object.type);
  const now = typeof table === 'string' ? undefined : table.find((r) => (r as SysvObjectRecord).id === object.id);
  if (now === undefined) throw new IpcError(E.EINVAL, syscall, contextOf(object), 'no such object (removed already)');
  const { key, creatorUid } = now as SysvObjectRecord;
  if (key !== object.key || creatorUid !== object.creatorUid) {
    throw new IpcError(E.ENOENT, syscall, contextOf(object), 'its id now names another object');
  }
  return now;
}

function removeSysv(object: SysvQueueRecord | SysvSemaphoresRecord | SysvShmRecord): void {
  if (object.type === 'sysv-queue') new MessageQueue(object.id, object.key).remove();
  else if (object.type === 'sysv-semaphores') new SemaphoreSet(object.id, object.key, 0).remove();
  else new SysvSharedMemory(object.id, object.key).remove();
}

// Unlinks the name of a POSIX object once lstat shows the listed file under it.
function unlinkPosix(object: PosixShmRecord | PosixSemaphoreRecord | PosixQueueRecord): void {
  const syscall = POSIX_SYSCALLS[object.type];
  const rawPath = rawPaths.get(object);
  let now: fs.Stats;
  try {
    now = fs.lstatSync(rawPath ?? object.path);
  } catch (error) {
    throw new IpcError(errnoValue(errorCode(error) ?? 'ENOENT'), syscall, contextOf(object));
  }
  if (now.ino !== object.inode || now.dev !== object.device) {
    throw new IpcError(E.ENOENT, syscall, contextOf(object), 'its name now belongs to another object');
  }
  if (rawPath !== undefined) {
    // A name that is not UTF-8 cannot travel as a JavaScript string to shm_unlink(); unlinking its file
    // in /dev/shm or the mqueue mount is what shm_unlink, sem_unlink and mq_unlink do.
    try {
      fs.unlinkSync(rawPath);
    } catch (error) {
      throw new IpcError(errnoValue(errorCode(error) ?? 'EIO'), 'unlink', contextOf(object));
    }
  } else if (object.type === 'posix-shm') SharedMemory.unlink(object.name);
  else if (object.type === 'posix-semaphore') NamedSemaphore.unlink(object.name);
  else PosixQueue.unlink(object.name);
}

/**
 * Removes the object a record of list() describes — IPC_RMID for a System V object, the unlink of its
 * name for a POSIX one — after checking that it is still that object: the same key and creator at that
 * id, the same file (inode) under that name; otherwise nothing is removed. What removal does is each
 * kind's own: a System V segment lives on until its last detach and a POSIX object until its last close
 * or unmap, while a semaphore set or a queue goes at once, failing waiting calls with 'EIDRM'.
 *
 * @throws {@link IpcError} 'ENOENT' (the name is gone, or it or the id now names another object), 'EINVAL'
 *   (the id is gone), 'EPERM' (a System V object neither this user's nor its creator's, without
 *   CAP_SYS_ADMIN), 'EACCES' (another user's POSIX object), other errnos of msgctl(2), semctl(2),
 *   shmctl(2), the unlink functions; argument errors.
 *
 * @example
 * ```ts
 * import { list, remove } from 'unipc';
 *
 * // Empty System V queues of this user.
 * for (const queue of list({ type: 'sysv-queue' })) {
 *   if (queue.type === 'sysv-queue' && queue.messages === 0 && queue.uid === process.getuid?.()) remove(queue);
 * }
 * ```
 *
 * @see msgctl(2), semctl(2), shmctl(2) (IPC_RMID); shm_unlink(3), sem_unlink(3), mq_unlink(3)
 */
export function remove(object: IpcObject): void {
  validateRecord(object);
  if (object.type === 'sysv-queue' || object.type === 'sysv-semaphores' || object.type === 'sysv-shm') {
    currentSysv(object);
    removeSysv(object);
  } else {
    unlinkPosix(object);
  }
}

/** The outcome of removeStale() for one object. */
export interface StaleRemoval {
  /** The record, as given to removeStale(). */
  object: IpcObject;
  /** Whether it was removed: it was provably stale when judged again at removal. */
  removed: boolean;
  /** Why it was stale, why that cannot be proven, or why its removal failed. */
  reason: string;
  /** The failure of a removal that was attempted (e.g. 'EPERM': not the owner). */
  error?: IpcError;
}

function removeIfStale(object: IpcObject, view: ProcessView): { removed: boolean; reason: string } {
  if (object.type === 'sysv-queue' || object.type === 'sysv-semaphores' || object.type === 'sysv-shm') {
    const now = currentSysv(object);
    const verdict = judge(now, view);
    if (verdict.stale) removeSysv(object);
    return { removed: verdict.stale, reason: verdict.reason };
  }
  if (object.type === 'posix-queue') return { removed: false, reason: NEVER_PROVABLE['posix-queue']! };
  // Judged and unlinked under one lease: nobody can open the object between the judgement and the unlink.
  const done = whileSoleHolder(object, (fd) => {
    const mark = readMark(fd);
    const gone = mark === null ? 'not provable: no unipc creator mark' : view.creatorGone(mark);
    if (gone !== true)
      return { removed: false, reason: gone === false ? `creator pid ${mark!.pid} is running` : (gone as string) };
    unlinkPosix(object);
    return { removed: true, reason: `creator pid ${mark!.pid} is gone, and no process had it open or mapped` };
  });
  return 'done' in done ? done.done : { removed: false, reason: done.reason };
}

/**
 * Removes those of `objects` (records of list()) that are provably stale now. Each is judged again at
 * removal: a System V segment from a fresh IPC_STAT-equivalent read, a POSIX object under a file lease
 * that keeps anyone from opening it between the judgement and the unlink. A record that has since gained
 * an attachment or a holder, or whose name or id now belongs to another object, is kept.
 *
 * @throws argument errors. A removal that fails is reported in its StaleRemoval (`error`), not thrown.
 *
 * @example
 * ```ts
 * import { list, removeStale } from 'unipc';
 *
 * for (const { object, removed, reason } of removeStale(list({ mine: true }))) {
 *   const which = 'name' in object ? object.name : `id ${object.id}`;
 *   console.log(`${object.type} ${which}: ${removed ? 'removed' : 'kept'} (${reason})`);
 * }
 * ```
 *
 * @see shmctl(2) (IPC_RMID), shm_unlink(3), sem_unlink(3); fcntl(2) (F_SETLEASE), kill(2)
 */
export function removeStale(objects: readonly IpcObject[]): StaleRemoval[] {
  if (!Array.isArray(objects)) throw invalidArgType('objects', 'an instance of Array', objects);
  objects.forEach((object, i) => {
    validateRecord(object, `objects[${i}]`);
  });
  const view = new ProcessView();
  return objects.map((object) => {
    try {
      return { object, ...removeIfStale(object, view) };
    } catch (error) {
      if (!(error instanceof IpcError)) throw error;
      const reason =
        (error.code === 'EINVAL' || error.code === 'EIDRM') && error.syscall.endsWith('ctl')
          ? 'gone already'
          : error.message;
      return { object, removed: false, reason, error };
    }
  });
}
