// What every System V IPC family shares (shared memory, semaphore sets, message queues), as native/sysv.h
// does for the native side: keys, the ipc_perm part of IPC_STAT, IPC_SET of the permissions.
import { check, IpcError } from './errors.js';
import { native } from './native.js';
import { toPath, validateInteger, validateObject } from './validate.js';

/**
 * The key that always makes a new System V object (IPC_PRIVATE), which no other get() can find by key:
 * hand its id to the processes that should use it.
 *
 * @example
 * ```ts
 * import { IPC_PRIVATE, SemaphoreSet, spawn } from 'unipc';
 *
 * const set = SemaphoreSet.get(IPC_PRIVATE, { count: 1, create: true });
 * const worker = spawn(process.execPath, ['worker.js', String(set.id)], { stdio: 'inherit' }); // fromId() there
 * worker.on('exit', () => set.remove());
 * ```
 */
export const IPC_PRIVATE = 0;

/** A System V key: a 32-bit value, given signed (as key_t) or unsigned (as ipcs shows it). */
export function toKey(value: unknown, name = 'key'): number {
  validateInteger(value, name, -(2 ** 31), 2 ** 32 - 1);
  return value | 0;
}

/**
 * ftok(path, projId): a System V key derived from an existing file and a project id (1–255). Every
 * process that agrees on both gets the same key, C programs included; it comes from the file's inode
 * and device, so a file replaced since gives another key.
 *
 * @throws {@link IpcError} 'ENOENT' (no file at `path`), 'EACCES' (a directory on the way may not be
 *   searched), other errnos of stat(2); argument errors.
 *
 * @example
 * ```ts
 * import { ftok, MessageQueue } from 'unipc';
 *
 * // The same queue as a C program's msgget(ftok("/etc/myapp.conf", 'Q'), IPC_CREAT | 0600).
 * const queue = MessageQueue.get(ftok('/etc/myapp.conf', 'Q'.charCodeAt(0)), { create: true });
 * await queue.send(1, 'hello');
 * ```
 *
 * @see ftok(3), stat(2)
 */
export function ftok(path: string | URL, projectId: number): number {
  const target = toPath(path);
  validateInteger(projectId, 'projectId', 1, 255);
  const out = new Int32Array(1);
  check(native.ftok(target, projectId, out), 'ftok', { path: target });
  return out[0] >>> 0;
}

/** The ipc_perm part of a System V object's IPC_STAT, by name, with the object's id. */
export interface SysvObjectStat {
  /**
   * The key (the perm's __key), unsigned as `ipcs` shows it; 0 (IPC_PRIVATE) for a private object, and for
   * a segment removed while still attached.
   */
  key: number;
  /** The identifier, as `ipcs` lists it. */
  id: number;
  /** The owner's user id (IPC_SET can change it). */
  uid: number;
  /** The owner's group id (IPC_SET can change it). */
  gid: number;
  /** The creator's user id, fixed. */
  creatorUid: number;
  /** The creator's group id, fixed. */
  creatorGid: number;
  /** Permission bits (0o777 part of the perm's mode). */
  mode: number;
  /** Slot usage sequence number (the perm's __seq). */
  sequence: number;
}

/**
 * The ipc_perm fields of a native IPC_STAT output (shmctlStat, semctlStat), which puts them first:
 * key, uid, gid, cuid, cgid, mode, seq.
 */
export function permissionFields(out: Float64Array, id: number): SysvObjectStat {
  return {
    key: out[0]!,
    id,
    uid: out[1]!,
    gid: out[2]!,
    creatorUid: out[3]!,
    creatorGid: out[4]!,
    mode: out[5]! & 0o777,
    sequence: out[6]!,
  };
}

/** A System V time field (seconds since the epoch) as a Date, or null for an event that never happened. */
export function secondsToDate(seconds: number): Date | null {
  return seconds === 0 ? null : new Date(seconds * 1000);
}

/** What IPC_SET may change on a System V object: its owner and permission bits. */
export interface SysvPermissions {
  /** Permission bits, 0 to 0o777. */
  mode?: number;
  /** The new owner's user id. */
  uid?: number;
  /** The new owner's group id. */
  gid?: number;
}

/**
 * What `read` (an IPC_STAT) returns, or undefined when this user may not read the object ('EACCES'):
 * using a System V object needs only write (alter) permission, so callers carry on without the status.
 */
export function statUnlessDenied<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (error instanceof IpcError && error.code === 'EACCES') return undefined;
    throw error;
  }
}

/**
 * The IPC_STAT `read` of the object `fromId()` was given, as statUnlessDenied(); 'EINVAL', the kernel's
 * word for an id that names nothing, gets a message that says so.
 */
export function statOfId<T>(what: string, syscall: string, id: number, read: () => T): T | undefined {
  try {
    return statUnlessDenied(read);
  } catch (error) {
    if (error instanceof IpcError && error.code === 'EINVAL') {
      throw new IpcError(error.errno, syscall, { id }, `no ${what} has this id (removed, or never made)`);
    }
    throw error;
  }
}

/**
 * The values for IPC_SET: `changes` validated, and what it leaves out taken from `current()` (IPC_STAT),
 * since the kernel sets all three at once.
 */
export function permissionsToSet(
  changes: unknown,
  current: () => Required<SysvPermissions>,
): Required<SysvPermissions> {
  validateObject<SysvPermissions>(changes, 'changes');
  const { mode, uid, gid } = changes;
  if (mode !== undefined) validateInteger(mode, 'changes.mode', 0, 0o777);
  if (uid !== undefined) validateInteger(uid, 'changes.uid', 0, 2 ** 32 - 2);
  if (gid !== undefined) validateInteger(gid, 'changes.gid', 0, 2 ** 32 - 2);
  if (mode !== undefined && uid !== undefined && gid !== undefined) return { mode, uid, gid };
  let now: Required<SysvPermissions>;
  try {
    now = current();
  } catch (error) {
    if (error instanceof IpcError && error.code === 'EACCES') {
      throw new IpcError(
        error.errno,
        error.syscall,
        error,
        'may not read the values to keep (IPC_STAT): give mode, uid and gid together',
      );
    }
    throw error;
  }
  return { mode: mode ?? now.mode, uid: uid ?? now.uid, gid: gid ?? now.gid };
}

/**
 * The removal an owner handle (removeOnDispose) makes when disposed: a queue, set or segment someone
 * removed already ('EINVAL', 'EIDRM') is no error.
 */
export function removeUnlessGone(remove: () => void): void {
  try {
    remove();
  } catch (error) {
    if (!(error instanceof IpcError && (error.code === 'EINVAL' || error.code === 'EIDRM'))) throw error;
  }
}
