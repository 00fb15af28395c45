// Semaphores: System V sets (semget/semop/semctl, listed by ipcs -s) and POSIX named semaphores
// (sem_open, living in /dev/shm as sem.NAME).
import { performance } from 'node:perf_hooks';
import { check, closedError, E, IpcError, type IpcErrorContext, timeoutError } from './errors.js';
import { readSmallFile } from './fd.js';
import { markCreatedPath } from './mark.js';
import { constants, native } from './native.js';
import { identityAt, OwnedName, toIpcName } from './posix-name.js';
import {
  IPC_PRIVATE,
  permissionFields,
  permissionsToSet,
  removeUnlessGone,
  type SysvObjectStat,
  type SysvPermissions,
  secondsToDate,
  statOfId,
  statUnlessDenied,
  toKey,
} from './sysv.js';
import {
  invalidArgType,
  invalidArgValue,
  outOfRange,
  validateBoolean,
  validateInteger,
  validateObject,
  validateOptions,
} from './validate.js';
import {
  abortedError,
  type RefOptions,
  type SyncWaitOptions,
  syncWaitOptions,
  type WaitOptions,
  waitOnThread,
  waitOptions,
} from './wait.js';

/**
 * Largest value of a System V semaphore (the kernel's SEMVMX, 32767): set() and setAll() take no more,
 * and an operation that would pass it fails with 'ERANGE'.
 */
export const SEMVMX: number = constants.SEMVMX;
const SHORT_MIN = -32768;
const SHORT_MAX = 32767;

// ---- System V ------------------------------------------------------------------------------------

/** The kernel's System V semaphore limits, from /proc/sys/kernel/sem. */
export interface SemaphoreLimits {
  /** SEMMSL: semaphores per set. */
  maxPerSet: number;
  /** SEMMNS: semaphores in all sets together. */
  maxTotal: number;
  /** SEMOPM: operations per op() call. */
  maxOpsPerCall: number;
  /** SEMMNI: sets. */
  maxSets: number;
}

let cachedLimits: SemaphoreLimits | undefined;

function readLimits(): SemaphoreLimits {
  const [maxPerSet, maxTotal, maxOpsPerCall, maxSets] = readSmallFile('/proc/sys/kernel/sem')
    .trim()
    .split(/\s+/)
    .map(Number) as [number, number, number, number];
  cachedLimits = { maxPerSet, maxTotal, maxOpsPerCall, maxSets };
  return cachedLimits;
}

// Read once and cached, so an operation costs no file read; only a request beyond the cached limit
// reads the file again, in case an administrator raised the limit since.
function limitFor(field: 'maxPerSet' | 'maxOpsPerCall', wanted: number): number {
  const limit = (cachedLimits ?? readLimits())[field];
  return wanted <= limit ? limit : readLimits()[field];
}

/** One operation of SemaphoreSet.op(): semaphore `index` changes by `delta` (sembuf). */
export interface SemaphoreOp {
  /** Which semaphore of the set (0 to count − 1). */
  index: number;
  /**
   * −32768 to 32767. Negative: wait until the value is at least −delta, then subtract (P). Positive: add
   * (V; a result above 32767 is 'ERANGE'). Zero: wait until the value is 0.
   */
  delta: number;
  /** Fail with IpcError 'EAGAIN' instead of waiting (IPC_NOWAIT). Default false. */
  nowait?: boolean;
  /** The kernel reverts this change when the process exits, however it dies (SEM_UNDO). Default false. */
  undo?: boolean;
}

/** How SemaphoreSet.get() opens a key's set, or makes one. */
export interface SemaphoreSetOptions {
  /** Semaphores in the set (nsems): needed to create; 0 (the default) opens an existing set. */
  count?: number;
  /** Create the set if the key has none (IPC_CREAT). Default false. */
  create?: boolean;
  /** With create: fail with 'EEXIST' if the key has one (IPC_EXCL). Default false. */
  exclusive?: boolean;
  /** Permission bits of a new set. Default 0o600. */
  mode?: number;
  /**
   * Make this handle the set's owner: disposing it (`using`, or [Symbol.dispose]()) removes the set
   * (IPC_RMID) by its id. Default false.
   */
  removeOnDispose?: boolean;
}

/** Options of the Promise-form waits of a set: `signal`, `timeout`, `ref`, and `undo`. */
export interface SemaphoreWaitOptions extends WaitOptions, RefOptions {
  /** Apply the change with SEM_UNDO (see SemaphoreOp.undo). Default false. */
  undo?: boolean;
}

/** Options of waitSync(): `timeout` and `undo`. */
export interface SemaphoreWaitSyncOptions extends SyncWaitOptions {
  /** Apply the change with SEM_UNDO (see SemaphoreOp.undo). Default false. */
  undo?: boolean;
}

/** Every field of semid_ds, by name. */
export interface SemaphoreSetStat extends SysvObjectStat {
  /** Semaphores in the set (sem_nsems). */
  count: number;
  /** Last successful op() by anyone (sem_otime); null if none yet. */
  lastOp: Date | null;
  /** Creation or last setPermissions()/set()/setAll() (sem_ctime). */
  lastChange: Date;
}

// After the ipc_perm fields (permissionFields()).
const STAT = { nsems: 7, otime: 8, ctime: 9 } as const;

function validateUndo(undo: unknown, name: string): number {
  if (undo === undefined) return 0;
  validateBoolean(undo, name);
  return undo ? constants.SEM_UNDO : 0;
}

/**
 * A System V semaphore set (semget), named by a key and listed by `ipcs -s`: `count` semaphores, each
 * 0 to 32767, changed atomically together by op(). It outlives every process until remove() (or the
 * disposal of a handle opened with `removeOnDispose`).
 *
 * @example
 * ```ts
 * import { IPC_PRIVATE, SemaphoreSet } from 'unipc';
 *
 * using set = SemaphoreSet.get(IPC_PRIVATE, { count: 2, create: true, removeOnDispose: true });
 * set.setAll([1, 0]); // 0: a lock, free; 1: items ready, none yet
 * set.post(1); // an item is ready
 * // Take an item and the lock at once, or neither; SEM_UNDO gives the lock back if this process dies.
 * await set.op([{ index: 1, delta: -1 }, { index: 0, delta: -1, undo: true }], { timeout: 1000 });
 * set.post(0, { undo: true }); // release the lock (and cancel its undo)
 * ```
 *
 * @see sysvipc(7), semget(2), semop(2) (semtimedop), semctl(2)
 */
export class SemaphoreSet implements Disposable {
  /** The set's identifier, as `ipcs -s` lists it. */
  readonly id: number;
  /**
   * The key it was opened by (IPC_PRIVATE for a private one); fromId() gives the set's own key, or
   * IPC_PRIVATE when this user may not read the set.
   */
  readonly key: number;
  /**
   * Semaphores in the set (nsems), read from the kernel when the object was made. A user who may alter
   * but not read the set cannot learn it: then it is the `count` asked for, or SEMMSL, and an index past
   * the real end is the kernel's 'EFBIG'.
   */
  readonly count: number;
  #removeOnDispose = false;

  /** @internal Use SemaphoreSet.get() or SemaphoreSet.fromId(). */
  constructor(id: number, key: number, count: number) {
    this.id = id;
    this.key = key;
    this.count = count;
  }

  /**
   * semget(): opens the set of `key` (from ftok() or IPC_PRIVATE), or creates it with `count`
   * semaphores, all 0. Unless this call surely made the set (IPC_PRIVATE or exclusive), its real size is
   * then read with IPC_STAT, which needs read permission.
   *
   * @throws {@link IpcError} 'ENOENT' (the key has no set, without `create`), 'EEXIST' (`create` and
   *   `exclusive`, and the key has one), 'EACCES' (`create`, and the existing set does not grant this user
   *   `mode`), 'EINVAL' (the existing set has fewer than `count` semaphores), 'ENOSPC' (the system's limits
   *   on sets, SEMMNI, or semaphores, SEMMNS), other errnos of semget(2); argument errors (ERR_OUT_OF_RANGE
   *   also for a `count` above SEMMSL).
   */
  static get(key: number, options?: SemaphoreSetOptions): SemaphoreSet {
    const { removeOnDispose = false, ...rest } = validateOptions(options);
    validateBoolean(removeOnDispose, 'options.removeOnDispose');
    const set = SemaphoreSet.#get(key, rest);
    set.#removeOnDispose = removeOnDispose;
    return set;
  }

  static #get(key: number, options: SemaphoreSetOptions): SemaphoreSet {
    const k = toKey(key);
    const { count = 0, create = false, exclusive = false, mode = 0o600 } = options;
    validateInteger(count, 'options.count', 0, Number.MAX_SAFE_INTEGER);
    const maxPerSet = limitFor('maxPerSet', count);
    if (count > maxPerSet)
      throw outOfRange('options.count', `>= 0 && <= ${maxPerSet} (SEMMSL in /proc/sys/kernel/sem)`, count);
    validateBoolean(create, 'options.create');
    validateBoolean(exclusive, 'options.exclusive');
    validateInteger(mode, 'options.mode', 0, 0o777); // higher bits are semget() flags (IPC_CREAT, …)
    if (create && count === 0) throw invalidArgValue('options.count', count, 'must be given (> 0) to create a set');
    if (k === IPC_PRIVATE && !create) {
      throw invalidArgValue('options.create', create, 'must be true with IPC_PRIVATE, which always makes a new set');
    }
    const flags = (create ? constants.IPC_CREAT | mode : 0) | (create && exclusive ? constants.IPC_EXCL : 0);
    const id = check(native.semget(k, count, flags), 'semget', { key: k >>> 0 });
    // A set this call made has `count` semaphores; one that existed may have more than asked for, so
    // the kernel is asked (which needs read permission; a new set must not depend on its own mode).
    if (create && (exclusive || k === IPC_PRIVATE)) return new SemaphoreSet(id, k >>> 0, count);
    // A set this user may alter but not read keeps an unknown size: indexes are then the kernel's to
    // check ('EFBIG').
    const size = statUnlessDenied(() => new SemaphoreSet(id, k >>> 0, 0).stat().count);
    return new SemaphoreSet(id, k >>> 0, size ?? (count > 0 ? count : limitFor('maxPerSet', 0)));
  }

  /**
   * A set by its id, as `ipcs -s` lists it.
   *
   * @throws {@link IpcError} 'EINVAL' (no set has that id); argument errors.
   */
  static fromId(id: number): SemaphoreSet {
    validateInteger(id, 'id', 0, 2 ** 31 - 1);
    const stat = statOfId('semaphore set', 'semctl', id, () => new SemaphoreSet(id, IPC_PRIVATE, 0).stat());
    return stat
      ? new SemaphoreSet(id, stat.key, stat.count)
      : new SemaphoreSet(id, IPC_PRIVATE, limitFor('maxPerSet', 0));
  }

  /**
   * The kernel's limits (SEMMSL, SEMMNS, SEMOPM, SEMMNI), read now from /proc/sys/kernel/sem.
   *
   * @throws Node's own fs error (not an IpcError) when /proc/sys/kernel/sem cannot be read.
   */
  static limits(): SemaphoreLimits {
    return { ...readLimits() };
  }

  /**
   * Applies every operation atomically (semop): either all at once, waiting until they all can
   * proceed, or none. Runs on a waiter thread; an aborted or timed-out op() has changed nothing.
   *
   * @throws {@link IpcError} 'EAGAIN' (an operation with `nowait` cannot proceed), 'EIDRM' (the set was
   *   removed while waiting), 'EINVAL' (the set is gone), 'ERANGE' (a value would exceed SEMVMX), 'EACCES'
   *   (this user may not alter the set, or for a delta of 0 read it), 'EFBIG' (an index past the end of a
   *   set whose size this user cannot read), 'ETIMEDOUT' (`timeout`), other errnos of semop(2);
   *   {@link AbortError} (`signal`); argument errors.
   */
  async op(ops: readonly SemaphoreOp[], options?: WaitOptions & RefOptions): Promise<void> {
    const copied = waitOptions(options);
    await this.#opAsync(this.#toOps(ops).buffer, copied);
  }

  /**
   * op() on the calling thread (semtimedop), for scripts and workers. The kernel reports an expired
   * timeout and a `nowait` operation that cannot proceed alike (EAGAIN); unipc calls it a timeout when no
   * operation has `nowait`, or when the deadline has passed.
   *
   * @throws {@link IpcError} 'EAGAIN' (an operation with `nowait` cannot proceed), 'EIDRM' (the set was
   *   removed while waiting), 'EINVAL' (the set is gone), 'ERANGE' (a value would exceed SEMVMX), 'EACCES'
   *   (this user may not alter the set, or for a delta of 0 read it), 'EFBIG' (an index past the end of a
   *   set whose size this user cannot read), 'ETIMEDOUT' (`timeout`), other errnos of semtimedop(2);
   *   argument errors.
   */
  opSync(ops: readonly SemaphoreOp[], options?: SyncWaitOptions): void {
    const { timeout } = syncWaitOptions(options);
    const { buffer, nowait } = this.#toOps(ops);
    this.#opSync(buffer, timeout, nowait);
  }

  /**
   * Waits until semaphore `index` is positive and decrements it (P, delta −1).
   *
   * @throws {@link IpcError} 'EIDRM' (the set was removed while waiting), 'EINVAL' (the set is gone),
   *   'EACCES' (this user may not alter the set), 'ETIMEDOUT' (`timeout`), other errnos of semop(2);
   *   {@link AbortError} (`signal`); argument errors.
   */
  async wait(index: number, options?: SemaphoreWaitOptions): Promise<void> {
    const copied = waitOptions(options);
    this.#validateIndex(index, 'index');
    const flags = validateUndo(copied.undo, 'options.undo');
    await this.#opAsync(Int32Array.of(index, -1, flags), copied);
  }

  /**
   * wait() on the calling thread.
   *
   * @throws {@link IpcError} 'EIDRM' (the set was removed while waiting), 'EINVAL' (the set is gone),
   *   'EACCES' (this user may not alter the set), 'ETIMEDOUT' (`timeout`), other errnos of semtimedop(2);
   *   argument errors.
   */
  waitSync(index: number, options?: SemaphoreWaitSyncOptions): void {
    const { timeout, undo } = syncWaitOptions(options);
    this.#validateIndex(index, 'index');
    this.#opSync(Int32Array.of(index, -1, validateUndo(undo, 'options.undo')), timeout, false);
  }

  /**
   * Decrements semaphore `index` if it is positive (IPC_NOWAIT): true if it did, false if it was 0.
   *
   * @throws {@link IpcError} 'EINVAL' (the set is gone), 'EACCES' (this user may not alter the set), other
   *   errnos of semop(2); argument errors.
   */
  tryWait(index: number, options?: { undo?: boolean }): boolean {
    const { undo } = validateOptions(options);
    this.#validateIndex(index, 'index');
    const flags = constants.IPC_NOWAIT | validateUndo(undo, 'options.undo');
    const result = native.semtimedop(this.id, Int32Array.of(index, -1, flags), -1);
    if (result === -E.EAGAIN) return false;
    check(result, 'semop', this.#context());
    return true;
  }

  /**
   * Increments semaphore `index` (V, delta +1); never waits.
   *
   * @throws {@link IpcError} 'ERANGE' (above SEMVMX, 32767), 'EINVAL' (the set is gone), 'EACCES' (this
   *   user may not alter the set), other errnos of semop(2); argument errors.
   */
  post(index: number, options?: { undo?: boolean }): void {
    const { undo } = validateOptions(options);
    this.#validateIndex(index, 'index');
    check(
      native.semtimedop(this.id, Int32Array.of(index, 1, validateUndo(undo, 'options.undo')), -1),
      'semop',
      this.#context(),
    );
  }

  /**
   * Waits until semaphore `index` is 0 (delta 0).
   *
   * @throws {@link IpcError} 'EIDRM' (the set was removed while waiting), 'EINVAL' (the set is gone),
   *   'EACCES' (this user may not read the set), 'ETIMEDOUT' (`timeout`), other errnos of semop(2);
   *   {@link AbortError} (`signal`); argument errors.
   */
  async waitForZero(index: number, options?: WaitOptions & RefOptions): Promise<void> {
    const copied = waitOptions(options);
    this.#validateIndex(index, 'index');
    await this.#opAsync(Int32Array.of(index, 0, 0), copied);
  }

  /**
   * waitForZero() on the calling thread.
   *
   * @throws {@link IpcError} 'EIDRM' (the set was removed while waiting), 'EINVAL' (the set is gone),
   *   'EACCES' (this user may not read the set), 'ETIMEDOUT' (`timeout`), other errnos of semtimedop(2);
   *   argument errors.
   */
  waitForZeroSync(index: number, options?: SyncWaitOptions): void {
    const { timeout } = syncWaitOptions(options);
    this.#validateIndex(index, 'index');
    this.#opSync(Int32Array.of(index, 0, 0), timeout, false);
  }

  /**
   * The value of semaphore `index` (GETVAL).
   *
   * @throws {@link IpcError} 'EACCES' (this user may not read the set), 'EINVAL' (the set is gone);
   *   argument errors.
   */
  get(index: number): number {
    this.#validateIndex(index, 'index');
    return this.#semctl(index, constants.GETVAL);
  }

  /**
   * Sets semaphore `index` to `value`, 0 to 32767 (SETVAL); waiters that can now proceed do.
   *
   * @throws {@link IpcError} 'EACCES' (this user may not alter the set), 'EINVAL' (the set is gone, or
   *   `index` is past its end); argument errors.
   */
  set(index: number, value: number): void {
    this.#validateIndex(index, 'index');
    validateInteger(value, 'value', 0, SEMVMX);
    this.#semctl(index, constants.SETVAL, value);
  }

  /**
   * Every value, in index order (GETALL).
   *
   * @throws {@link IpcError} 'EACCES' (this user may not read the set), 'EINVAL' (the set is gone).
   */
  getAll(): number[] {
    const out = new Uint16Array(this.count);
    check(native.semctlGetAll(this.id, out), 'semctl', this.#context());
    return Array.from(out);
  }

  /**
   * Sets every value at once (SETALL): one per semaphore, each 0 to 32767.
   *
   * @throws {@link IpcError} 'EACCES' (this user may not alter the set), 'EINVAL' (the set is gone);
   *   argument errors (ERR_OUT_OF_RANGE also unless `values` has `count` entries).
   */
  setAll(values: readonly number[]): void {
    if (!Array.isArray(values)) throw invalidArgType('values', 'an instance of Array', values);
    const length = values.length;
    if (length !== this.count) throw outOfRange('values.length', `${this.count} (the set's count)`, length);
    const copy = new Uint16Array(length);
    for (let i = 0; i < length; i++) {
      const value: unknown = values[i];
      validateInteger(value, `values[${i}]`, 0, SEMVMX);
      copy[i] = value;
    }
    check(native.semctlSetAll(this.id, copy), 'semctl', this.#context());
  }

  /**
   * The process that last changed semaphore `index` (GETPID): by op(), and on Linux also by set()/setAll();
   * 0 if none has.
   *
   * @throws {@link IpcError} 'EACCES' (this user may not read the set), 'EINVAL' (the set is gone);
   *   argument errors.
   */
  lastPid(index: number): number {
    this.#validateIndex(index, 'index');
    return this.#semctl(index, constants.GETPID);
  }

  /**
   * How many waits are blocked until semaphore `index` increases (GETNCNT), in every process.
   *
   * @throws {@link IpcError} 'EACCES' (this user may not read the set), 'EINVAL' (the set is gone);
   *   argument errors.
   */
  waitingForIncrease(index: number): number {
    this.#validateIndex(index, 'index');
    return this.#semctl(index, constants.GETNCNT);
  }

  /**
   * How many waits are blocked until semaphore `index` is 0 (GETZCNT), in every process.
   *
   * @throws {@link IpcError} 'EACCES' (this user may not read the set), 'EINVAL' (the set is gone);
   *   argument errors.
   */
  waitingForZero(index: number): number {
    this.#validateIndex(index, 'index');
    return this.#semctl(index, constants.GETZCNT);
  }

  /**
   * semctl(IPC_STAT): every field of the set's semid_ds.
   *
   * @throws {@link IpcError} 'EACCES' (this user may not read the set), 'EINVAL' (the set is gone).
   */
  stat(): SemaphoreSetStat {
    const out = new Float64Array(constants.SEMCTL_STAT_FIELDS);
    check(native.semctlStat(this.id, out), 'semctl', this.#context());
    return {
      ...permissionFields(out, this.id),
      count: out[STAT.nsems]!,
      lastOp: secondsToDate(out[STAT.otime]!),
      lastChange: new Date(out[STAT.ctime]! * 1000),
    };
  }

  /**
   * semctl(IPC_SET): change the owner and permission bits; unspecified ones keep their values.
   *
   * @throws {@link IpcError} 'EPERM' (neither the owner's nor the creator's uid, nor CAP_SYS_ADMIN),
   *   'EACCES' (some of `mode`, `uid`, `gid` left out, and the set may not be read for them), 'EINVAL' (the
   *   set is gone); argument errors.
   */
  setPermissions(changes: SysvPermissions): void {
    const { mode, uid, gid } = permissionsToSet(changes, () => this.stat());
    check(native.semctlSet(this.id, uid, gid, mode), 'semctl', this.#context());
  }

  /**
   * semctl(IPC_RMID): destroys the set at once. Every wait on it, in any process, fails with IpcError
   * 'EIDRM'; later calls with 'EINVAL' (or 'EIDRM').
   *
   * @throws {@link IpcError} 'EPERM' (neither the owner's nor the creator's uid, nor CAP_SYS_ADMIN),
   *   'EINVAL' (the set is gone).
   */
  remove(): void {
    this.#semctl(0, constants.IPC_RMID);
  }

  /** Whether disposing this handle removes the set (SemaphoreSetOptions.removeOnDispose). */
  get removeOnDispose(): boolean {
    return this.#removeOnDispose;
  }

  /**
   * For `using`: an owner (removeOnDispose) removes the set, unless it is gone already; other handles
   * hold nothing to let go of.
   *
   * @throws {@link IpcError} (an owner) 'EPERM' (neither the owner's nor the creator's uid).
   */
  [Symbol.dispose](): void {
    if (!this.#removeOnDispose) return;
    this.#removeOnDispose = false;
    removeUnlessGone(() => this.remove());
  }

  #semctl(index: number, cmd: number, value = 0): number {
    return check(native.semctl(this.id, index, cmd, value), 'semctl', this.#context());
  }

  #validateIndex(index: unknown, name: string): asserts index is number {
    validateInteger(index, name, 0, this.count - 1);
  }

  // Each operation is read once (a getter cannot change it after validation) into semop's layout.
  #toOps(ops: unknown): { buffer: Int32Array; nowait: boolean } {
    if (!Array.isArray(ops)) throw invalidArgType('ops', 'an instance of Array', ops);
    const length = ops.length;
    const max = limitFor('maxOpsPerCall', length);
    if (length < 1 || length > max) {
      throw outOfRange(
        'ops.length',
        `>= 1 && <= ${max} (SEMOPM, operations per semop call, in /proc/sys/kernel/sem)`,
        length,
      );
    }
    const buffer = new Int32Array(length * 3);
    let nowait = false;
    for (let i = 0; i < length; i++) {
      const op: unknown = ops[i];
      validateObject<SemaphoreOp>(op, `ops[${i}]`);
      const { index, delta, nowait: noWait = false, undo = false } = op;
      this.#validateIndex(index, `ops[${i}].index`);
      validateInteger(delta, `ops[${i}].delta`, SHORT_MIN, SHORT_MAX);
      validateBoolean(noWait, `ops[${i}].nowait`);
      const flags = validateUndo(undo, `ops[${i}].undo`) | (noWait ? constants.IPC_NOWAIT : 0);
      nowait ||= noWait;
      buffer[3 * i] = index;
      buffer[3 * i + 1] = delta;
      buffer[3 * i + 2] = flags;
    }
    return { buffer, nowait };
  }

  async #opAsync(ops: Int32Array, options: WaitOptions & RefOptions): Promise<void> {
    if (options.signal?.aborted) throw abortedError(options.signal);
    // First without blocking, on this thread: an operation that can proceed needs no waiter thread.
    const now = ops.slice();
    for (let i = 2; i < now.length; i += 3) now[i]! |= constants.IPC_NOWAIT;
    const result = native.semtimedop(this.id, now, -1);
    if (result >= 0) return;
    // Which operation blocks decides between E.EAGAIN (it has `nowait`) and sleeping: the real call knows.
    if (result !== -E.EAGAIN && result !== -E.EINTR) throw new IpcError(-result, 'semop', this.#context());
    await waitOnThread((callback) => native.semopAsync(this.id, ops, callback), options, 'semop', this.#context());
  }

  // semtimedop is never restarted after a signal handler: retry with what is left of the timeout.
  #opSync(ops: Int32Array, timeout: number | undefined, nowait: boolean): void {
    const deadline = timeout === undefined ? undefined : performance.now() + timeout;
    for (;;) {
      const remaining = deadline === undefined ? -1 : Math.max(0, deadline - performance.now());
      const result = native.semtimedop(this.id, ops, remaining);
      if (result >= 0) return;
      if (result === -E.EINTR) continue;
      // The kernel says E.EAGAIN both for an expired timeout and for a `nowait` operation that cannot
      // proceed; with `nowait` in the set it is a timeout only if it came no sooner than the timeout.
      if (
        result === -E.EAGAIN &&
        deadline !== undefined &&
        (!nowait || (timeout! > 0 && performance.now() >= deadline))
      ) {
        throw timeoutError('semtimedop', timeout!, this.#context());
      }
      throw new IpcError(-result, 'semtimedop', this.#context());
    }
  }

  // Made once (IpcError copies what it needs): a check() of every call's result must not allocate.
  #context(): IpcErrorContext {
    this.#errorContext ??= Object.freeze(this.key === IPC_PRIVATE ? { id: this.id } : { key: this.key, id: this.id });
    return this.#errorContext;
  }

  #errorContext: IpcErrorContext | undefined;
}

// ---- POSIX named semaphores ----------------------------------------------------------------------

/** glibc's limit: the file /dev/shm/sem.NAME must have a name of at most 255 bytes. */
const SEM_NAME_MAX = 251;

/** How NamedSemaphore.open() opens a semaphore, or makes one. */
export interface NamedSemaphoreOptions {
  /** Create the semaphore if it does not exist (O_CREAT). Default false. */
  create?: boolean;
  /** With create: fail with 'EEXIST' if it exists (O_EXCL). Default false. */
  exclusive?: boolean;
  /** Permission bits of a new semaphore, before the umask. Default 0o600. */
  mode?: number;
  /** Value of a new semaphore, 0 to SEM_VALUE_MAX (2³¹ − 1); an existing one keeps its value. Default 0. */
  initial?: number;
  /**
   * Make this handle the semaphore's owner: close() — which `using` calls — also unlinks the name, if it
   * still names this semaphore. Default false.
   */
  removeOnDispose?: boolean;
}

// glibc keeps a named semaphore in /dev/shm as sem.NAME.
const semaphorePath = (ipcName: string) => `/dev/shm/sem.${ipcName.slice(1)}`;

// A semaphore whose object was garbage-collected without close() is closed here. An object with a
// pending wait is never collected: the wait's callback refers to it.
const forgottenSemaphores = new FinalizationRegistry<number>((handle) => {
  native.semClose(handle);
});

function toSemaphoreName(value: unknown): string {
  const ipcName = toIpcName(value);
  if (Buffer.byteLength(ipcName) - 1 > SEM_NAME_MAX) {
    throw invalidArgValue(
      'name',
      value,
      `must be at most ${SEM_NAME_MAX} bytes long (glibc keeps it in /dev/shm as sem.NAME)`,
    );
  }
  return ipcName;
}

/**
 * A POSIX named semaphore (sem_open): a counter any process — Node, or C with sem_open() — can open by
 * name. It lives in /dev/shm (as sem.NAME) until unlinked; close() or `using` lets go of this process's
 * handle.
 *
 * @example
 * ```ts
 * import { NamedSemaphore } from 'unipc';
 *
 * // C: sem_open("/jobs", O_CREAT, 0600, 0) opens the same semaphore.
 * using jobs = NamedSemaphore.open('/jobs', { create: true, initial: 0 });
 * jobs.post(); // a job is ready
 * await jobs.wait({ timeout: 1000 }); // take it (on a waiter thread, if it must wait)
 * console.log(jobs.value); // 0
 * NamedSemaphore.unlink('/jobs');
 * ```
 *
 * @see sem_overview(7), sem_open(3), sem_wait(3), sem_post(3), sem_getvalue(3), sem_close(3), sem_unlink(3)
 */
export class NamedSemaphore implements Disposable {
  /** The name, in its '/name' form. */
  readonly name: string;
  #handle: number;
  readonly #waits = new Set<number>();
  /** The name this handle unlinks when closed (removeOnDispose), or undefined. */
  #owned: OwnedName | undefined;

  /** @internal Use NamedSemaphore.open(). */
  constructor(handle: number, name: string) {
    this.#handle = handle;
    this.name = name;
    forgottenSemaphores.register(this, handle, this);
  }

  /**
   * sem_open(): opens the semaphore `name` ('/name' or 'name'), or creates it with `initial`.
   *
   * @throws {@link IpcError} 'ENOENT' (no such semaphore, without `create`), 'EEXIST' (`create` and
   *   `exclusive`, and it exists), 'EACCES' (its mode forbids this user), 'EMFILE'/'ENFILE' (descriptor
   *   limits), other errnos of sem_open(3); argument errors.
   */
  static open(name: string, options?: NamedSemaphoreOptions): NamedSemaphore {
    const ipcName = toSemaphoreName(name);
    const {
      create = false,
      exclusive = false,
      mode = 0o600,
      initial = 0,
      removeOnDispose = false,
    } = validateOptions(options);
    validateBoolean(create, 'options.create');
    validateBoolean(removeOnDispose, 'options.removeOnDispose');
    validateBoolean(exclusive, 'options.exclusive');
    validateInteger(mode, 'options.mode', 0, 0o777);
    validateInteger(initial, 'options.initial', 0, constants.SEM_VALUE_MAX);
    const flags = (create ? constants.O_CREAT : 0) | (create && exclusive ? constants.O_EXCL : 0);
    // As in SharedMemory.open: an exclusive attempt first tells whether this call made the semaphore.
    let handle = create && !exclusive ? native.semOpen(ipcName, flags | constants.O_EXCL, mode, initial) : -1;
    const created = handle > 0 || (create && exclusive);
    if (handle < 0) handle = check(native.semOpen(ipcName, flags, mode, initial), 'sem_open', { objectName: ipcName });
    const semaphore = new NamedSemaphore(handle, ipcName);
    // glibc keeps the semaphore in /dev/shm/sem.NAME. Between sem_open and this open only the owner or
    // root could replace that file (/dev/shm is sticky), so the file marked is the one just made.
    if (created) markCreatedPath(semaphorePath(ipcName));
    // The same holds for the file an owner records as the one to unlink.
    const ours = removeOnDispose ? identityAt(semaphorePath(ipcName)) : undefined;
    if (ours) {
      const current = () => identityAt(semaphorePath(ipcName));
      semaphore.#owned = new OwnedName(ours, ipcName, current, native.semUnlink, 'sem_unlink');
    }
    return semaphore;
  }

  /** Whether close() also unlinks the name (NamedSemaphoreOptions.removeOnDispose). */
  get removeOnDispose(): boolean {
    return this.#owned?.held ?? false;
  }

  /**
   * sem_unlink(): removes the name; processes that have it open keep using it until they close it.
   *
   * @throws {@link IpcError} 'ENOENT' (no such name), 'EACCES' (another user's semaphore); argument errors.
   */
  static unlink(name: string): void {
    const ipcName = toSemaphoreName(name);
    check(native.semUnlink(ipcName), 'sem_unlink', { objectName: ipcName });
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#handle === 0;
  }

  /**
   * The current value (sem_getvalue); by the time it is read, another process may have changed it.
   *
   * @throws {@link IpcError} 'EBADF' (closed).
   */
  get value(): number {
    return check(native.semGetValue(this.#open('sem_getvalue')), 'sem_getvalue', this.#context());
  }

  /**
   * Increments the value (sem_post), waking one waiter.
   *
   * @throws {@link IpcError} 'EOVERFLOW' (beyond SEM_VALUE_MAX, 2³¹ − 1), 'EBADF' (closed).
   */
  post(): void {
    check(native.semPost(this.#open('sem_post')), 'sem_post', this.#context());
  }

  /**
   * Decrements the value if it is positive (sem_trywait): true if it did, false if it was 0.
   *
   * @throws {@link IpcError} 'EBADF' (closed).
   */
  tryWait(): boolean {
    const result = native.semTryWait(this.#open('sem_trywait'));
    if (result === -E.EAGAIN) return false;
    check(result, 'sem_trywait', this.#context());
    return true;
  }

  /**
   * Waits until the value is positive and decrements it (sem_wait on a waiter thread). Aborted or
   * timed out, it has not decremented anything.
   *
   * @throws {@link IpcError} 'EBADF' (closed, also while waiting), 'ETIMEDOUT' (`timeout`);
   *   {@link AbortError} (`signal`); argument errors.
   */
  async wait(options?: WaitOptions & RefOptions): Promise<void> {
    const copied = waitOptions(options);
    const handle = this.#open('sem_wait');
    if (copied.signal?.aborted) throw abortedError(copied.signal);
    // An available unit needs no waiter thread.
    if (native.semTryWait(handle) === 0) return;
    let id = 0;
    try {
      await waitOnThread(
        (callback) => {
          id = native.semWaitAsync(handle, (result) => {
            this.#waits.delete(id);
            callback(result);
          });
          if (id > 0) this.#waits.add(id);
          return id;
        },
        copied,
        'sem_wait',
        this.#context(),
      );
    } catch (error) {
      if (this.closed && error instanceof IpcError && error.code === 'ECANCELED') {
        throw closedError('NamedSemaphore', 'sem_wait', this.#context());
      }
      throw error;
    }
  }

  /**
   * wait() on the calling thread: sem_wait, or with a timeout sem_clockwait on CLOCK_MONOTONIC (where the C
   * library lacks it, as glibc before 2.30 and musl do, sem_timedwait until the same deadline).
   *
   * @throws {@link IpcError} 'EBADF' (closed), 'ETIMEDOUT' (`timeout`); argument errors.
   */
  waitSync(options?: SyncWaitOptions): void {
    const { timeout } = syncWaitOptions(options);
    const handle = this.#open('sem_wait');
    const syscall = timeout === undefined ? 'sem_wait' : constants.SEM_CLOCKWAIT ? 'sem_clockwait' : 'sem_timedwait';
    const deadline = timeout === undefined ? undefined : performance.now() + timeout;
    for (;;) {
      const remaining = deadline === undefined ? -1 : Math.max(0, deadline - performance.now());
      const result = native.semWait(handle, remaining);
      if (result >= 0) return;
      if (result === -E.EINTR) continue;
      if (result === -E.ETIMEDOUT) throw timeoutError(syscall, timeout!, this.#context());
      throw new IpcError(-result, syscall, this.#context());
    }
  }

  /**
   * Lets go of the semaphore (sem_close); the name stays until unlink(). Pending waits reject with
   * IpcError 'EBADF' (one that already got the semaphore resolves); the semaphore is closed once their
   * threads have returned. An owner (removeOnDispose) then unlinks the name if it still names this
   * semaphore. Closing twice does nothing.
   *
   * @throws {@link IpcError} (an owner) 'EACCES' and other errnos of sem_unlink(3); the semaphore is
   *   closed either way.
   */
  close(): void {
    const handle = this.#handle;
    if (handle === 0) return;
    this.#handle = 0;
    forgottenSemaphores.unregister(this);
    native.semClose(handle);
    for (const id of this.#waits) native.cancelWait(id);
    this.#owned?.release();
  }

  /** close(), for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #open(syscall: string): number {
    if (this.#handle === 0) throw closedError('NamedSemaphore', syscall, this.#context());
    return this.#handle;
  }

  // Made once, as SemaphoreSet's.
  #context(): IpcErrorContext {
    this.#errorContext ??= Object.freeze({ objectName: this.name });
    return this.#errorContext;
  }

  #errorContext: IpcErrorContext | undefined;
}
