// Shared memory by name: POSIX (shm_open, /dev/shm) and System V (shmget/shmat/shmctl, ipcs -m).
import { check, E, IpcError, type IpcErrorContext } from './errors.js';
import { FdHandle, fstat } from './fd.js';
import { markCreated } from './mark.js';
import { MAX_MAPPING_LENGTH, type MapOptions, type Mapping, mapDescriptorOf, newMapping } from './mmap.js';
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
  toKey,
} from './sysv.js';
import {
  invalidArgValue,
  validateBoolean,
  validateFd,
  validateInteger,
  validateMode,
  validateOptions,
} from './validate.js';

/** How SharedMemory.open() opens an object, or makes one. */
export interface SharedMemoryOptions {
  /** Create the object if it does not exist (O_CREAT). Default false. */
  create?: boolean;
  /**
   * With create: fail with 'EEXIST' if it exists (O_EXCL). Default false. Either way, an object this
   * call made is unlinked again when setting `size` fails.
   */
  exclusive?: boolean;
  /** Empty it on open (O_TRUNC); needs read-write access. Default false. */
  truncate?: boolean;
  /** Open for reading only (O_RDONLY rather than O_RDWR). Default false. */
  readOnly?: boolean;
  /** Set the size (ftruncate) after opening — the way to size a new object. */
  size?: number;
  /** Permission bits of a new object, before the umask. Default 0o600. */
  mode?: number;
  /**
   * With size: allocate the memory now (fallocate), so that a full /dev/shm is 'ENOSPC' here rather
   * than SIGBUS at a write through a mapping later (the one fault unipc cannot turn into an error).
   */
  reserve?: boolean;
  /**
   * Make this handle the object's owner: close() — which `using` calls, and spawn() when it hands the
   * object over — also unlinks the name, if it still names this object. Default false.
   */
  removeOnDispose?: boolean;
}

// glibc's shm_open() keeps POSIX shared memory as files in /dev/shm.
const shmPath = (ipcName: string) => `/dev/shm${ipcName}`;

/**
 * A POSIX shared memory object (shm_open): a named file in /dev/shm that any process — Node, C,
 * Python's multiprocessing.shared_memory — can open by name and map. It stays until unlinked
 * (SharedMemory.unlink(), or the close() of a handle opened with `removeOnDispose`).
 *
 * @example
 * ```ts
 * import { SharedMemory } from 'unipc';
 *
 * using shm = SharedMemory.open('/frames', { create: true, exclusive: true, size: 65536 }); // mode 0o600
 * using map = shm.map();
 * new Uint8Array(map.buffer).set([1, 2, 3]);
 * // Any process: SharedMemory.open('/frames').map(), C's shm_open("/frames", O_RDWR, 0) and mmap(), or
 * // Python's multiprocessing.shared_memory.SharedMemory(name='frames').
 * SharedMemory.unlink('/frames'); // the name goes; mappings and open descriptors keep the memory
 * ```
 *
 * @see shm_overview(7), shm_open(3), shm_unlink(3), ftruncate(2), mmap(2)
 */
export class SharedMemory extends FdHandle {
  /** The name, in its '/name' form. */
  readonly name: string;
  /** Opened for reading only (SharedMemoryOptions.readOnly): map() then defaults to 'r'. */
  readonly readOnly: boolean;
  /** The name this handle unlinks when closed (removeOnDispose), or undefined. */
  #owned: OwnedName | undefined;

  /** @internal Use SharedMemory.open(). */
  constructor(fd: number, name: string, readOnly: boolean) {
    validateFd(fd);
    super(fd);
    this.name = name;
    this.readOnly = readOnly;
  }

  /** Whether close() also unlinks the name (SharedMemoryOptions.removeOnDispose). */
  get removeOnDispose(): boolean {
    return this.#owned?.held ?? false;
  }

  /**
   * Closes the descriptor; an owner (removeOnDispose) then unlinks the name if it still names this object.
   * Closing twice does nothing.
   *
   * @throws {@link IpcError} (an owner) 'EACCES', 'EPERM' and other errnos of shm_unlink(3); the descriptor
   *   is closed either way.
   */
  override close(): void {
    if (this.closed) return;
    super.close();
    this.#owned?.release();
  }

  /**
   * shm_open(name): opens the object `name` ('/name' or 'name'), or creates it with `create`.
   *
   * @throws {@link IpcError} 'ENOENT' (no such object, without `create`), 'EEXIST' (`create` and
   *   `exclusive`, and it exists), 'EACCES' (its mode forbids the access asked for), 'EMFILE'/'ENFILE'
   *   (descriptor limits), 'ENOSPC' (`reserve`: /dev/shm is full), other errnos of shm_open(3),
   *   ftruncate(2), fallocate(2); argument errors.
   */
  static open(name: string, options?: SharedMemoryOptions): SharedMemory {
    const ipcName = toIpcName(name);
    const {
      create = false,
      exclusive = false,
      truncate = false,
      readOnly = false,
      size,
      mode = 0o600,
      reserve = false,
      removeOnDispose = false,
    } = validateOptions(options);
    validateBoolean(create, 'options.create');
    validateBoolean(reserve, 'options.reserve');
    validateBoolean(removeOnDispose, 'options.removeOnDispose');
    validateBoolean(exclusive, 'options.exclusive');
    validateBoolean(truncate, 'options.truncate');
    validateBoolean(readOnly, 'options.readOnly');
    validateMode(mode, 'options.mode');
    if (size !== undefined) validateInteger(size, 'options.size', 0, Number.MAX_SAFE_INTEGER);
    if (readOnly && (truncate || size !== undefined)) {
      throw invalidArgValue('options.readOnly', readOnly, 'cannot be combined with truncate or size, which write');
    }
    const flags =
      (readOnly ? constants.O_RDONLY : constants.O_RDWR) |
      (create ? constants.O_CREAT : 0) |
      (create && exclusive ? constants.O_EXCL : 0) |
      (truncate ? constants.O_TRUNC : 0) |
      constants.O_CLOEXEC;
    const context = { objectName: ipcName };
    // Whether this call makes the object decides whether it gets unipc's creator mark (src/mark.ts).
    // A plain create tries an exclusive one first; should that fail, the call asked for runs unchanged,
    // so the kernel applies its own checks (fs.protected_regular, for one) to an existing object.
    let fd = create && !exclusive ? native.shmOpen(ipcName, flags | constants.O_EXCL, mode) : -1;
    const created = fd >= 0 || (create && exclusive);
    if (fd < 0) fd = check(native.shmOpen(ipcName, flags, mode), 'shm_open', context);
    if (created) markCreated(fd);
    const memory = new SharedMemory(fd, ipcName, readOnly);
    if (removeOnDispose) {
      const { dev, ino } = fstat(fd, context);
      const current = () => identityAt(shmPath(ipcName));
      memory.#owned = new OwnedName({ dev, ino }, ipcName, current, native.shmUnlink, 'shm_unlink');
    }
    try {
      if (size !== undefined) check(native.ftruncate(fd, size), 'ftruncate', context);
      if (size !== undefined && size > 0 && reserve) check(native.fallocate(fd, 0, size), 'fallocate', context);
    } catch (error) {
      memory.#owned?.forget();
      memory.close();
      // This call made the object: do not leave it behind, empty, to block a retry.
      if (created) native.shmUnlink(ipcName);
      throw error;
    }
    return memory;
  }

  /**
   * Removes the name; processes that have it open or mapped keep using it until they let go.
   *
   * @throws {@link IpcError} 'ENOENT' (no such name), 'EACCES' (another user's object); argument errors.
   */
  static unlink(name: string): void {
    const ipcName = toIpcName(name);
    check(native.shmUnlink(ipcName), 'shm_unlink', { objectName: ipcName });
  }

  /**
   * The object's size in bytes (fstat).
   *
   * @throws {@link IpcError} 'EBADF' (closed).
   */
  get size(): number {
    return fstat(this.openFd('fstat')).size;
  }

  /**
   * Sets the size (ftruncate).
   *
   * @throws {@link IpcError} 'EINVAL' (opened `readOnly`), 'EBADF' (closed), other errnos of ftruncate(2);
   *   argument errors.
   */
  resize(size: number): void {
    validateInteger(size, 'size', 0, Number.MAX_SAFE_INTEGER);
    check(native.ftruncate(this.openFd('ftruncate'), size), 'ftruncate', this.errorContext());
  }

  /**
   * Maps the object; `prot` defaults to 'rw' unless it was opened read-only.
   *
   * @throws {@link IpcError} 'EBADF' (closed), 'EACCES' (a shared 'rw' mapping of an object opened
   *   `readOnly`), 'ENOMEM' (no address space left), other errnos of mmap(2); argument errors
   *   (ERR_OUT_OF_RANGE also for an empty object, or a length past its end without `beyondEnd`).
   */
  map(options?: MapOptions): Mapping {
    return mapDescriptorOf(this.openFd('mmap'), options, this.readOnly ? 'r' : 'rw', this.errorContext());
  }

  protected override errorContext(): IpcErrorContext {
    return { objectName: this.name };
  }
}

// ---- System V ------------------------------------------------------------------------------------

/** How SysvSharedMemory.get() opens a key's segment, or makes one. */
export interface SysvSharedMemoryOptions {
  /** Size in bytes; needed to create, optional (0) to open an existing segment. */
  size?: number;
  /** Create the segment if the key has none (IPC_CREAT). Default false. */
  create?: boolean;
  /** With create: fail with 'EEXIST' if the key has one (IPC_EXCL). Default false. */
  exclusive?: boolean;
  /** Permission bits of a new segment. Default 0o600. */
  mode?: number;
  /**
   * Make this handle the segment's owner: disposing it (`using`, or [Symbol.dispose]()) removes the segment
   * (IPC_RMID) by its id. Default false.
   */
  removeOnDispose?: boolean;
}

/** Every field of shmid_ds, by name. Times are null when the event never happened. */
export interface SysvSharedMemoryStat extends SysvObjectStat {
  /** Marked for removal (IPC_RMID) but still attached somewhere (SHM_DEST). */
  markedForRemoval: boolean;
  /** Locked in memory (SHM_LOCKED). */
  locked: boolean;
  /** Bytes of the segment (shm_segsz). */
  size: number;
  /** The last attach (shm_atime). */
  lastAttach: Date | null;
  /** The last detach (shm_dtime). */
  lastDetach: Date | null;
  /** Creation or last IPC_SET (shm_ctime). */
  lastChange: Date;
  /** The creating process (shm_cpid). */
  creatorPid: number;
  /** The last process to attach or detach it (shm_lpid). */
  lastPid: number;
  /** Attachments now, in every process (shm_nattch). */
  attachments: number;
}

// After the ipc_perm fields (permissionFields()); mode is read again for its SHM_DEST and SHM_LOCKED bits.
const STAT = { mode: 5, size: 7, atime: 8, dtime: 9, ctime: 10, cpid: 11, lpid: 12, nattch: 13 } as const;

/**
 * A System V shared memory segment (shmget), named by a key and listed by `ipcs -m`. It outlives every
 * process until remove() (or `ipcrm -m`, or the disposal of a handle opened with `removeOnDispose`) —
 * and even then until its last attachment is detached.
 *
 * @example
 * ```ts
 * import { ftok, SysvSharedMemory } from 'unipc';
 *
 * const segment = SysvSharedMemory.get(ftok('/etc/myapp.conf', 1), { size: 65536, create: true });
 * using map = segment.attach(); // shmat; shmdt when the block ends
 * new Uint32Array(map.buffer)[0] = process.pid;
 * console.log(segment.stat().attachments); // 1, or more where others have it attached
 * segment.remove(); // IPC_RMID: destroyed once the last attachment is detached
 * ```
 *
 * @see sysvipc(7), shmget(2), shmat(2), shmdt(2), shmctl(2)
 */
export class SysvSharedMemory implements Disposable {
  /** The segment's identifier, as `ipcs -m` lists it. */
  readonly id: number;
  /**
   * The key it was opened by (IPC_PRIVATE for a private one); fromId() gives the segment's own key, or
   * IPC_PRIVATE when this user may not read the segment.
   */
  readonly key: number;
  #removeOnDispose = false;

  /** @internal Use SysvSharedMemory.get() or SysvSharedMemory.fromId(). */
  constructor(id: number, key: number) {
    this.id = id;
    this.key = key;
  }

  /**
   * shmget(key): opens the segment of `key` (from ftok() or IPC_PRIVATE), or creates it with `create`.
   *
   * @throws {@link IpcError} 'ENOENT' (the key has no segment, without `create`), 'EEXIST' (`create` and
   *   `exclusive`, and the key has one), 'EACCES' (`create`, and the existing segment does not grant this
   *   user `mode`), 'EINVAL' (the existing segment is smaller than `size`), 'ENOSPC' (the system's limits
   *   on segments, SHMMNI, or on shared memory, SHMALL), other errnos of shmget(2); argument errors.
   */
  static get(key: number, options?: SysvSharedMemoryOptions): SysvSharedMemory {
    const k = toKey(key);
    const {
      size = 0,
      create = false,
      exclusive = false,
      mode = 0o600,
      removeOnDispose = false,
    } = validateOptions(options);
    validateInteger(size, 'options.size', 0, MAX_MAPPING_LENGTH);
    validateBoolean(create, 'options.create');
    validateBoolean(removeOnDispose, 'options.removeOnDispose');
    validateBoolean(exclusive, 'options.exclusive');
    validateInteger(mode, 'options.mode', 0, 0o777); // higher bits are shmget() flags (IPC_CREAT, …)
    if (create && size === 0) throw invalidArgValue('options.size', size, 'must be given (> 0) to create a segment');
    if (k === IPC_PRIVATE && !create) {
      throw invalidArgValue(
        'options.create',
        create,
        'must be true with IPC_PRIVATE, which always makes a new segment',
      );
    }
    const flags =
      (create ? constants.IPC_CREAT : 0) | (create && exclusive ? constants.IPC_EXCL : 0) | (create ? mode : 0);
    const id = check(native.shmget(k, size, flags), 'shmget', { key: k >>> 0 });
    const segment = new SysvSharedMemory(id, k >>> 0);
    segment.#removeOnDispose = removeOnDispose;
    return segment;
  }

  /**
   * A segment by its id, as `ipcs -m` lists it.
   *
   * @throws {@link IpcError} 'EINVAL' (no segment has that id); argument errors.
   */
  static fromId(id: number): SysvSharedMemory {
    validateInteger(id, 'id', 0, 2 ** 31 - 1);
    const probe = new SysvSharedMemory(id, IPC_PRIVATE);
    // Reading the key needs read permission, which removing the segment or changing its owner and mode
    // do not (they need ownership): a segment this user may not read opens keyless.
    const stat = statOfId('segment', 'shmctl', id, () => probe.stat());
    return stat ? new SysvSharedMemory(id, stat.key) : probe;
  }

  /**
   * Attaches the segment (shmat) and returns its memory as a Mapping; detach() (or close(), `using`)
   * detaches it after detaching the ArrayBuffer. A readOnly attachment (SHM_RDONLY) written to through
   * its buffer gets a private copy of the 1 MiB around the write rather than a crash.
   *
   * @throws {@link IpcError} 'EACCES' (this user may not read the segment, or without `readOnly` write it),
   *   'EINVAL' (the segment is gone), 'EFBIG' (larger than MAX_MAPPING_LENGTH), 'ENOMEM' (no address space
   *   left), other errnos of shmctl(2), shmat(2); argument errors.
   */
  attach(options?: { readOnly?: boolean }): Mapping {
    const { readOnly = false } = validateOptions(options);
    validateBoolean(readOnly, 'options.readOnly');
    const { size } = this.stat();
    if (size > MAX_MAPPING_LENGTH) {
      throw new IpcError(
        E.EFBIG,
        'shmat',
        this.#context(),
        `a segment of ${size} bytes is larger than one ArrayBuffer can view (${MAX_MAPPING_LENGTH})`,
      );
    }
    const view = native.shmat(
      this.id,
      readOnly ? constants.SHM_RDONLY : 0,
      readOnly ? constants.GUARD_COPY_ON_WRITE : 0,
    );
    if (typeof view === 'number') throw new IpcError(-view, 'shmat', this.#context());
    return newMapping(view, this.#context());
  }

  /**
   * shmctl(IPC_STAT): every field of the segment's shmid_ds.
   *
   * @throws {@link IpcError} 'EACCES' (this user may not read the segment), 'EINVAL' (the segment is gone).
   */
  stat(): SysvSharedMemoryStat {
    const out = new Float64Array(constants.SHMCTL_STAT_FIELDS);
    check(native.shmctlStat(this.id, out), 'shmctl', this.#context());
    const mode = out[STAT.mode];
    return {
      ...permissionFields(out, this.id),
      markedForRemoval: (mode & constants.SHM_DEST) !== 0,
      locked: (mode & constants.SHM_LOCKED) !== 0,
      size: out[STAT.size],
      lastAttach: secondsToDate(out[STAT.atime]),
      lastDetach: secondsToDate(out[STAT.dtime]),
      lastChange: new Date(out[STAT.ctime] * 1000),
      creatorPid: out[STAT.cpid],
      lastPid: out[STAT.lpid],
      attachments: out[STAT.nattch],
    };
  }

  /**
   * shmctl(IPC_SET): change the owner and permission bits; unspecified ones keep their values.
   *
   * @throws {@link IpcError} 'EPERM' (neither the owner's nor the creator's uid, nor CAP_SYS_ADMIN),
   *   'EACCES' (some of `mode`, `uid`, `gid` left out, and the segment may not be read for them), 'EINVAL'
   *   (the segment is gone); argument errors.
   */
  set(changes: SysvPermissions): void {
    const { mode, uid, gid } = permissionsToSet(changes, () => this.stat());
    check(native.shmctlSet(this.id, uid, gid, mode), 'shmctl', this.#context());
  }

  /**
   * shmctl(IPC_RMID): the segment loses its key at once (a new get() by key will not find it) and is
   * destroyed when its last attachment is detached; existing attachments keep working until then.
   *
   * @throws {@link IpcError} 'EPERM' (neither the owner's nor the creator's uid, nor CAP_SYS_ADMIN),
   *   'EINVAL' (the segment is gone).
   */
  remove(): void {
    check(native.shmctlRemove(this.id), 'shmctl', this.#context());
  }

  /** Whether disposing this handle removes the segment (SysvSharedMemoryOptions.removeOnDispose). */
  get removeOnDispose(): boolean {
    return this.#removeOnDispose;
  }

  /**
   * For `using`: an owner (removeOnDispose) removes the segment, unless it is gone already; other handles
   * hold nothing to let go of. Attachments stay valid until detached.
   *
   * @throws {@link IpcError} (an owner) 'EPERM' (neither the owner's nor the creator's uid).
   */
  [Symbol.dispose](): void {
    if (!this.#removeOnDispose) return;
    this.#removeOnDispose = false;
    removeUnlessGone(() => this.remove());
  }

  #context(): IpcErrorContext {
    return this.key === IPC_PRIVATE ? { id: this.id } : { key: this.key, id: this.id };
  }
}
