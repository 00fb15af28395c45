// Memory mapping: file-backed and anonymous mappings, memfd, and the Mapping that shows mapped pages to
// JavaScript as an ArrayBuffer — safely: close() detaches the buffer before the pages go, and writes to
// read-only pages or past the end of a shrunk file are caught instead of killing the process.
import { Buffer, constants as bufferConstants } from 'node:buffer';
import { check, E, IpcError, type IpcErrorContext } from './errors.js';
import { FdHandle, fdOf, fstat, readlink } from './fd.js';
import { constants, type NativeView, native } from './native.js';
import {
  invalidArgType,
  invalidArgValue,
  invalidState,
  isWellFormed,
  outOfRange,
  toPath,
  validateBoolean,
  validateFd,
  validateInteger,
  validateObject,
  validateOneOf,
  validateOptions,
} from './validate.js';
import { type WaitOptions, waitOnThread, waitOptions } from './wait.js';

/**
 * The size of a memory page (sysconf(_SC_PAGESIZE); 4096 on x86-64): mapping offsets are multiples of it.
 *
 * @example
 * ```ts
 * import { mmap, PAGE_SIZE } from 'unipc';
 *
 * // Record 1000 of a file of 512-byte records: map the pages around it.
 * const start = 1000 * 512;
 * const offset = start - (start % PAGE_SIZE);
 * using window = mmap('/var/data/records.bin', { offset, length: start - offset + 512 });
 * const record = new Uint8Array(window.buffer, start - offset, 512);
 * console.log(record[0]);
 * ```
 */
export const PAGE_SIZE: number = constants.PAGE_SIZE;

/**
 * The longest single mapping: what one ArrayBuffer over external memory can view (Node's
 * buffer.constants.MAX_LENGTH: 4 GiB on Node 20, 2⁵³ − 1 from Node 22 on). Map windows with `offset`
 * for more.
 */
export const MAX_MAPPING_LENGTH: number = bufferConstants.MAX_LENGTH;

/** A mapping's protection: 'r' (PROT_READ) or 'rw' (PROT_READ | PROT_WRITE). */
export type Protection = 'r' | 'rw';
const PROTECTIONS: readonly Protection[] = ['r', 'rw'];

/** What a mapping may be made of: a path, a descriptor, or an object holding one (MemoryFile, SharedMemory). */
export type MapTarget =
  | string
  | URL
  | number
  | {
      /** The descriptor of the file to map. */
      readonly fd: number;
    };

/** How mmap() and map() map a file: which part, with what protection, shared or private. */
export interface MapOptions {
  /** Bytes to map. Default: from `offset` to the end of the file. At most MAX_MAPPING_LENGTH. */
  length?: number;
  /** Where in the file the mapping starts; a multiple of PAGE_SIZE. Default 0. */
  offset?: number;
  /** 'r' or 'rw'. Default 'r' for mmap(), 'rw' for the map() of a writable MemoryFile or SharedMemory. */
  prot?: Protection;
  /** Shared (default): writes reach the file and every process that maps it. Private: copy-on-write. */
  shared?: boolean;
  /**
   * Allow a mapping to reach past the end of the file. In C, touching those pages raises SIGBUS and
   * kills the process; unipc gives zero pages instead (see faultedPages). Off by default, because data
   * written there reaches no file.
   */
  beyondEnd?: boolean;
}

/** Passed to another thread (postMessage) to view the same pages there with Mapping.fromShared(). */
export interface SharedMapping {
  /** The pages' number in this process's registry of mapped regions: meaningless in another process. */
  readonly region: number;
}

/** The range of a mapping that sync() and syncSync() write back; the whole mapping by default. */
export interface SyncOptions {
  /** Start of the range to write back (rounded down to a page). Default 0. */
  offset?: number;
  /** Length of the range. Default: to the end of the mapping. */
  length?: number;
}

const kCreate = Symbol('Mapping');

/** @internal The one way to make a Mapping: from a view the native side just made. */
export function newMapping(view: NativeView, context: IpcErrorContext = {}): Mapping {
  return new Mapping(kCreate, view, context);
}

/** @internal What the locks of src/lock.ts need of a Mapping. */
export interface MappingInternals {
  readonly region: number;
  /** Runs `listener` when this Mapping is closed (before its buffer is detached); returns the remover. */
  onClose(listener: () => void): () => void;
}

/** @internal */
export let mappingInternals: (mapping: Mapping) => MappingInternals;

/**
 * Mapped memory as an ArrayBuffer (`.buffer`), usable with any TypedArray, DataView or Buffer view —
 * including Atomics across processes on a shared mapping.
 *
 * - close() (or `using`) unmaps the pages, after detaching the buffer: every view of it reads as length
 *   0 from then on, so nothing can touch unmapped memory. A Mapping never closed is unmapped when its
 *   buffer is garbage-collected.
 * - Writing through the buffer of a read-only mapping does not crash: the 1 MiB around the write becomes
 *   a private copy of this process (it stops following the file), and `faultedPages` counts its pages.
 *   Likewise pages past the end of a file that shrank read as zeros instead of raising SIGBUS.
 *
 * Made by mmap(), mapAnonymous(), the map() of a MemoryFile or SharedMemory, SysvSharedMemory.attach(),
 * Mapping.fromShared().
 *
 * @example
 * ```ts
 * import { mmap } from 'unipc';
 *
 * using map = mmap('/var/data/counters.bin', { prot: 'rw' }); // shared: every process mapping it sees it
 * const counters = new Int32Array(map.buffer);
 * Atomics.add(counters, 0, 1); // atomic across processes
 * await map.sync(); // msync(MS_SYNC) on a waiter thread
 * ```
 *
 * @see mmap(2), munmap(2), msync(2); shmdt(2) for a System V attachment.
 */
export class Mapping implements Disposable {
  static {
    mappingInternals = (mapping) => ({
      region: mapping.#region,
      onClose: (listener) => {
        mapping.#closeListeners.add(listener);
        return () => mapping.#closeListeners.delete(listener);
      },
    });
  }

  readonly #buffer: ArrayBuffer;
  readonly #view: number;
  readonly #region: number;
  readonly #context: IpcErrorContext;
  /** Whether writes reach the underlying memory shared with others (MAP_SHARED, or System V). */
  readonly shared: boolean;
  /** Whether the mapping is writable ('rw'); writes to a read-only one stay private to this process. */
  readonly writable: boolean;
  #closed = false;
  readonly #closeListeners = new Set<() => void>();

  /** @internal Made by mmap(), mapAnonymous(), map() of a MemoryFile or SharedMemory, attach(), fromShared(). */
  constructor(key: symbol, view: NativeView, context: IpcErrorContext) {
    if (key !== kCreate) throw new TypeError('Illegal constructor: use mmap(), mapAnonymous(), map() or attach()');
    this.#buffer = view.buffer;
    this.#view = view.view;
    this.#region = view.region;
    this.#context = context;
    this.shared = view.shared;
    this.writable = view.writable;
    // Untransferable already: Node marks every external ArrayBuffer so (postMessage() copies it on Node
    // 20 and throws DataCloneError from 22 on). Marking it again with markAsUntransferable() would, from
    // Node 24 on, give it a detach key that makes close() unable to detach it.
  }

  /**
   * Another view of the pages share() described, e.g. in a worker thread of this process.
   *
   * @throws {@link IpcError} 'EBADF' (every view of the pages is closed, or the token is from another
   *   process); argument errors.
   */
  static fromShared(token: SharedMapping): Mapping {
    validateObject<SharedMapping>(token, 'token');
    const { region } = token;
    validateInteger(region, 'token.region', 1, Number.MAX_SAFE_INTEGER);
    const view = native.viewRegion(region);
    if (typeof view === 'number') {
      throw new IpcError(-view, 'mmap', {}, 'the mapping was closed before this thread could view it');
    }
    return newMapping(view);
  }

  /** The mapped bytes. Detached (byteLength 0) once the mapping is closed. */
  get buffer(): ArrayBuffer {
    return this.#buffer;
  }

  /** Mapped length in bytes; 0 once closed. */
  get length(): number {
    return this.#buffer.byteLength;
  }

  /** Whether close() (or detach()) was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Pages the fault guard replaced: written while read-only, or past the end of a shrunk file. */
  get faultedPages(): number {
    if (this.#closed) return 0;
    return Math.max(0, native.faultedPages(this.#region));
  }

  /**
   * A token to view the same pages from another thread (send it with postMessage).
   *
   * @throws {@link IpcError} 'EBADF' (closed).
   */
  share(): SharedMapping {
    if (this.#closed) throw this.#closedError('share');
    return { region: this.#region };
  }

  /**
   * Writes dirty pages back to the file and waits until they are written (msync MS_SYNC), on a waiter
   * thread. Cancelling stops the wait, not the write-back.
   *
   * @throws {@link IpcError} 'EBADF' (closed), 'ETIMEDOUT' (`timeout`), other errnos of msync(2);
   *   {@link AbortError} (`signal`); argument errors.
   */
  async sync(options?: SyncOptions & WaitOptions): Promise<void> {
    const checked = waitOptions(options);
    if (this.#closed) throw this.#closedError('msync');
    const [offset, length] = this.#range(checked);
    await waitOnThread(
      (callback) => native.msyncAsync(this.#region, offset, length, constants.MS_SYNC, callback),
      checked,
      'msync',
      this.#context,
    );
  }

  /**
   * Writes dirty pages back: waits for the write-back (MS_SYNC), or with `wait: false` only starts it
   * (MS_ASYNC) and returns at once.
   *
   * @throws {@link IpcError} 'EBADF' (closed), other errnos of msync(2); argument errors.
   */
  syncSync(options?: SyncOptions & { wait?: boolean }): void {
    const checked = validateOptions(options);
    const { wait = true } = checked;
    validateBoolean(wait, 'options.wait');
    if (this.#closed) throw this.#closedError('msync');
    const [offset, length] = this.#range(checked);
    const flags = wait ? constants.MS_SYNC : constants.MS_ASYNC;
    check(native.msync(this.#region, offset, length, flags), 'msync', this.#context);
  }

  /**
   * Unmaps (munmap, or shmdt for a System V attachment) once no other thread views the pages.
   *
   * @throws {@link IpcError} 'ENOMEM' (rarely: the kernel would not put inert pages in their place, e.g. at
   *   vm.max_map_count); the mapping is closed all the same.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const listener of this.#closeListeners) listener();
    this.#closeListeners.clear();
    const result = native.closeView(this.#view, this.#buffer);
    if (result < 0) throw new IpcError(-result, 'munmap', this.#context);
  }

  /**
   * The same as close(); reads naturally for a System V attachment.
   *
   * @throws as close().
   */
  detach(): void {
    this.close();
  }

  /**
   * close(), for `using`.
   *
   * @throws as close().
   */
  [Symbol.dispose](): void {
    this.close();
  }

  #range(options: SyncOptions): [number, number] {
    const { offset = 0, length } = options;
    const size = this.#buffer.byteLength;
    validateInteger(offset, 'options.offset', 0, size);
    if (length === undefined) return [offset, size - offset];
    validateInteger(length, 'options.length', 0, size - offset);
    return [offset, length];
  }

  #closedError(syscall: string): IpcError {
    return new IpcError(E.EBADF, syscall, this.#context, 'the mapping is closed');
  }
}

interface ResolvedTarget {
  fd: number;
  /** Set when mmap() opened the file itself and must close it after mapping. */
  opened: boolean;
  context: IpcErrorContext;
}

function resolveTarget(target: unknown, writable: boolean): ResolvedTarget {
  if (typeof target === 'number') {
    validateFd(target, 'target');
    return { fd: target, opened: false, context: { fd: target } };
  }
  if (typeof target === 'object' && target !== null && !(target instanceof URL)) {
    if (!('fd' in target)) {
      throw invalidArgType('target', 'a path (string or URL), a descriptor number or an object with an fd', target);
    }
    const fd = fdOf(target as { fd: number }, 'target');
    return { fd, opened: false, context: { fd } };
  }
  const path = toPath(target, 'target');
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer, and a FIFO cannot be mapped anyway.
  const flags = (writable ? constants.O_RDWR : constants.O_RDONLY) | constants.O_CLOEXEC | constants.O_NONBLOCK;
  const fd = check(native.open(path, flags, 0, -1), 'open', { path });
  return { fd, opened: true, context: { path } };
}

function mapDescriptor(resolved: ResolvedTarget, options: CheckedMapOptions): Mapping {
  const { fd, context } = resolved;
  const { offset, prot, shared, beyondEnd } = options;
  const access = check(native.fcntl(fd, constants.F_GETFL, 0), 'fcntl', context) & constants.O_ACCMODE;
  if (access === constants.O_WRONLY) {
    throw new IpcError(
      E.EACCES,
      'mmap',
      context,
      'a mapping needs a descriptor open for reading; this one is write-only',
    );
  }
  if (prot === 'rw' && shared && access !== constants.O_RDWR) {
    throw new IpcError(
      E.EACCES,
      'mmap',
      context,
      "a shared 'rw' mapping needs a descriptor open for reading and writing; this one is read-only",
    );
  }
  let length = options.length;
  const stats = fstat(fd, context);
  const regular = stats.isFile();
  if (regular) {
    const named = context.path ?? context.objectName;
    const where = named === undefined ? `behind descriptor ${fd}` : `'${named}'`;
    // An object of unipc's own (a SharedMemory, a MemoryFile) that is still empty: what it needs is a
    // size, not map() options the caller never passed.
    if (stats.size === 0 && !beyondEnd && context.objectName !== undefined && options.length === undefined) {
      throw invalidState(
        `map(): ${where} is empty (size 0): give it a size first (open(name, { create: true, size }), ` +
          'create(name, { size }) or resize(size))',
      );
    }
    if (stats.size === 0 && !beyondEnd) {
      throw outOfRange(
        'options.length',
        `> 0, but the file ${where} is empty (pass beyondEnd to map past its end)`,
        length ?? 0,
      );
    }
    const available = stats.size - offset;
    if (length === undefined && available <= 0 && beyondEnd) {
      throw invalidArgValue('options.length', length, 'must be given to map past the end of a file');
    }
    if (length === undefined) {
      if (available <= 0) throw outOfRange('options.offset', `< ${stats.size}, the size of ${where}`, offset);
      length = Math.min(available, MAX_MAPPING_LENGTH);
    } else if (length > available && !beyondEnd) {
      throw outOfRange(
        'options.length',
        `<= ${Math.max(0, available)} (the size of ${where} minus the offset); pages past the end of a file ` +
          'cannot be used (SIGBUS in C) unless you pass beyondEnd',
        length,
      );
    }
  } else if (length === undefined) {
    throw invalidArgValue('options.length', length, 'must be given when mapping something other than a regular file');
  }
  // A read-only mapping is a private one: it follows the file all the same until a page is written,
  // and a write through the buffer (which JavaScript cannot forbid) then just makes that page private.
  const writable = prot === 'rw';
  const protection = writable ? constants.PROT_READ | constants.PROT_WRITE : constants.PROT_READ;
  const flags = shared && writable ? constants.MAP_SHARED : constants.MAP_PRIVATE;
  const guard = (writable ? 0 : constants.GUARD_WRITE_PROTECT) | (regular ? constants.GUARD_SHRINK : 0);
  const view = native.mmap(length, protection, flags, fd, offset, guard, shared, writable);
  if (typeof view === 'number') throw new IpcError(-view, 'mmap', context);
  return newMapping(view, context);
}

type CheckedMapOptions = ReturnType<typeof mapOptions>;

function mapOptions(options: MapOptions | undefined, defaultProt: Protection) {
  const { length, offset = 0, prot = defaultProt, shared = true, beyondEnd = false } = validateOptions(options);
  if (length !== undefined) validateInteger(length, 'options.length', 1, MAX_MAPPING_LENGTH);
  validateInteger(offset, 'options.offset', 0, Number.MAX_SAFE_INTEGER);
  if (offset % PAGE_SIZE !== 0) {
    throw outOfRange('options.offset', `a multiple of the page size (${PAGE_SIZE})`, offset);
  }
  validateOneOf(prot, 'options.prot', PROTECTIONS);
  validateBoolean(shared, 'options.shared');
  validateBoolean(beyondEnd, 'options.beyondEnd');
  return { length, offset, prot, shared, beyondEnd };
}

/**
 * Maps a file (by path, descriptor, or an object with an `fd`) into memory. The rules of mmap(2) are
 * checked first, with errors that say what is wrong: the offset must be a multiple of PAGE_SIZE, an
 * empty file cannot be mapped, a shared 'rw' mapping needs a descriptor open for reading and writing,
 * and the mapping may not reach past the end of the file unless `beyondEnd` says so.
 *
 * @throws {@link IpcError} 'ENOENT' (no file at `target`), 'EACCES' (the file may not be opened for `prot`;
 *   a write-only descriptor, or a read-only one for a shared 'rw' mapping), 'EBADF' (a number that is no
 *   open descriptor, a closed object), 'ENODEV' (nothing mappable: a pipe, socket or directory), 'EPERM' (a
 *   shared 'rw' mapping of a memfd sealed against writes), 'ENOMEM' (no address space left), other errnos
 *   of open(2), mmap(2); argument errors (ERR_OUT_OF_RANGE also for an offset that is no multiple of
 *   PAGE_SIZE, an empty file, or a length past the end without `beyondEnd`; ERR_INVALID_ARG_VALUE for no
 *   `length` where the size is not known).
 *
 * @example
 * ```ts
 * import { mmap } from 'unipc';
 *
 * using table = mmap('/var/data/table.bin'); // 'r', the whole file
 * const header = new DataView(table.buffer, 0, 16);
 * console.log(header.getUint32(0, true), table.length);
 * ```
 *
 * @see mmap(2), open(2)
 */
export function mmap(target: MapTarget, options?: MapOptions): Mapping {
  const checked = mapOptions(options, 'r');
  const resolved = resolveTarget(target, checked.prot === 'rw' && checked.shared);
  try {
    return mapDescriptor(resolved, checked);
  } finally {
    // The mapping keeps the file referenced; the descriptor mmap() opened is not needed any more.
    if (resolved.opened) native.close(resolved.fd);
  }
}

/** @internal The map() of objects that own their descriptor (MemoryFile, SharedMemory). */
export function mapDescriptorOf(
  fd: number,
  options: MapOptions | undefined,
  defaultProt: Protection,
  context: IpcErrorContext,
): Mapping {
  return mapDescriptor({ fd, opened: false, context }, mapOptions(options, defaultProt));
}

/** How mapAnonymous() maps its memory. */
export interface AnonymousOptions {
  /** MAP_SHARED rather than MAP_PRIVATE. Within one process the two behave the same; see docs/guide.md, "Memory mapping". */
  shared?: boolean;
}

/**
 * Anonymous memory (MAP_ANONYMOUS), zero-filled. It is shared with nothing outside this process — Node
 * spawns rather than forks — but share() lets worker threads view the same pages. To share memory
 * with another process, use a MemoryFile or SharedMemory.
 *
 * @throws {@link IpcError} 'ENOMEM' (no address space or memory left); argument errors.
 *
 * @example
 * ```ts
 * import { Worker } from 'node:worker_threads';
 * import { mapAnonymous } from 'unipc';
 *
 * const map = mapAnonymous(1 << 20);
 * const worker = new Worker('./worker.js', { workerData: map.share() }); // Mapping.fromShared() there
 * worker.once('exit', () => {
 *   console.log(Atomics.load(new Int32Array(map.buffer), 0)); // what the worker stored
 *   map.close();
 * });
 * ```
 *
 * @see mmap(2)
 */
export function mapAnonymous(length: number, options?: AnonymousOptions): Mapping {
  validateInteger(length, 'length', 1, MAX_MAPPING_LENGTH);
  const { shared = false } = validateOptions(options);
  validateBoolean(shared, 'options.shared');
  const flags = constants.MAP_ANONYMOUS | (shared ? constants.MAP_SHARED : constants.MAP_PRIVATE);
  const view = native.mmap(length, constants.PROT_READ | constants.PROT_WRITE, flags, -1, 0, 0, shared, true);
  if (typeof view === 'number') throw new IpcError(-view, 'mmap');
  return newMapping(view);
}

/**
 * A memfd seal (fcntl F_ADD_SEALS): 'shrink' (F_SEAL_SHRINK) and 'grow' (F_SEAL_GROW) fix the size,
 * 'write' (F_SEAL_WRITE) the contents, 'seal' (F_SEAL_SEAL) forbids further seals.
 */
export type Seal = 'seal' | 'shrink' | 'grow' | 'write';
const SEALS: readonly Seal[] = ['seal', 'shrink', 'grow', 'write'];

function sealFlag(seal: Seal): number {
  return {
    seal: constants.F_SEAL_SEAL,
    shrink: constants.F_SEAL_SHRINK,
    grow: constants.F_SEAL_GROW,
    write: constants.F_SEAL_WRITE,
  }[seal];
}

/** How MemoryFile.create() makes the file. */
export interface MemoryFileOptions {
  /** Initial size in bytes (ftruncate). Default 0. */
  size?: number;
  /** Whether seals can be added later (MFD_ALLOW_SEALING). Default true. */
  sealable?: boolean;
  /** Allocate the memory now (fallocate), so that running out of it is 'ENOSPC' here, not SIGBUS later. */
  reserve?: boolean;
}

const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;
const MAX_MEMFD_NAME = 249; // the kernel's limit: 249 bytes, for "memfd:" + name within NAME_MAX

/**
 * An anonymous file in memory (memfd_create): the way to share memory with a process Node spawns.
 * Hand it over as an inherited descriptor (spawn(…, { fds: [file] })) or over a Unix socket
 * (send(…, { fds: [file] })); both sides map() it. Seals can freeze its size or contents.
 *
 * @example
 * ```ts
 * import { MemoryFile, spawn } from 'unipc';
 *
 * using file = MemoryFile.create('frames', { size: 1 << 20 });
 * using map = file.map(); // 'rw', shared; it outlives the descriptor
 * file.seal('shrink', 'grow'); // the size is fixed for good
 * new Uint8Array(map.buffer).fill(7);
 * // The child's fd 3, which it maps with MemoryFile.fromFd(3).map(); `file` is closed here now.
 * spawn(process.execPath, ['child.js'], { stdio: 'inherit', fds: [file] });
 * ```
 *
 * @see memfd_create(2), ftruncate(2), fcntl(2) (F_ADD_SEALS, F_GET_SEALS), mmap(2)
 */
export class MemoryFile extends FdHandle {
  /** The name given to create() (shown as /memfd:NAME in /proc/PID/fd; not unique, names nothing). */
  readonly name: string;

  /** @internal Use MemoryFile.create() or MemoryFile.fromFd(). */
  constructor(fd: number, name: string) {
    validateFd(fd);
    super(fd);
    this.name = name;
  }

  /**
   * memfd_create(name): a new file in memory, of `size` zero bytes.
   *
   * @throws {@link IpcError} 'EMFILE'/'ENFILE' (descriptor limits), 'ENOSPC' (`reserve`: the kernel will
   *   not commit that much memory; asked for more than the machine has, the OOM killer may act first),
   *   other errnos of memfd_create(2), ftruncate(2), fallocate(2); argument errors.
   */
  static create(name = 'unipc', options?: MemoryFileOptions): MemoryFile {
    if (typeof name !== 'string') throw invalidArgType('name', 'of type string', name);
    if (name.includes('\0') || name.includes('/') || Buffer.byteLength(name) > MAX_MEMFD_NAME || !isWellFormed(name)) {
      throw invalidArgValue(
        'name',
        name,
        `must be well-formed, with no '/' or null bytes, and at most ${MAX_MEMFD_NAME} bytes`,
      );
    }
    const { size = 0, sealable = true, reserve = false } = validateOptions(options);
    validateInteger(size, 'options.size', 0, MAX_FILE_SIZE);
    validateBoolean(sealable, 'options.sealable');
    validateBoolean(reserve, 'options.reserve');
    const flags = constants.MFD_CLOEXEC | (sealable ? constants.MFD_ALLOW_SEALING : 0);
    const fd = check(native.memfdCreate(name, flags), 'memfd_create', { objectName: name });
    const file = new MemoryFile(fd, name);
    try {
      if (size > 0) check(native.ftruncate(fd, size), 'ftruncate', { objectName: name });
      if (size > 0 && reserve) check(native.fallocate(fd, 0, size), 'fallocate', { objectName: name });
    } catch (error) {
      file.close();
      throw error;
    }
    return file;
  }

  /**
   * Takes ownership of a memfd descriptor, e.g. one inherited from a parent or received over a socket.
   *
   * @throws {@link IpcError} 'EBADF' (`fd` is not open); argument errors (ERR_INVALID_ARG_VALUE also for a
   *   descriptor that is not a memfd).
   */
  static fromFd(fd: number): MemoryFile {
    validateFd(fd);
    let target: string;
    try {
      target = readlink(`/proc/self/fd/${fd}`, { fd });
    } catch {
      throw new IpcError(E.EBADF, 'readlink', { fd });
    }
    if (!target.startsWith('/memfd:')) {
      throw invalidArgValue('fd', fd, `must be a memfd descriptor; it is ${target}`);
    }
    check(native.fcntl(fd, constants.F_SETFD, constants.FD_CLOEXEC), 'fcntl', { fd });
    return new MemoryFile(fd, target.slice('/memfd:'.length).replace(/ \(deleted\)$/, ''));
  }

  /**
   * The file's size in bytes (fstat).
   *
   * @throws {@link IpcError} 'EBADF' (closed).
   */
  get size(): number {
    return fstat(this.openFd('fstat')).size;
  }

  /**
   * Sets the size (ftruncate).
   *
   * @throws {@link IpcError} 'EPERM' (a 'shrink' or 'grow' seal forbids it), 'EBADF' (closed), other errnos
   *   of ftruncate(2); argument errors.
   */
  resize(size: number): void {
    validateInteger(size, 'size', 0, MAX_FILE_SIZE);
    check(native.ftruncate(this.openFd('ftruncate'), size), 'ftruncate', this.errorContext());
  }

  /**
   * Adds seals (F_ADD_SEALS): 'shrink' and 'grow' fix the size, 'write' the contents, 'seal' forbids
   * further seals.
   *
   * @throws {@link IpcError} 'EPERM' (created without `sealable`, or sealed with 'seal'), 'EBUSY' ('write'
   *   while a shared writable mapping exists), 'EBADF' (closed); argument errors.
   */
  seal(...seals: Seal[]): void {
    let flags = 0;
    seals.forEach((seal, i) => {
      validateOneOf(seal, `seals[${i}]`, SEALS);
      flags |= sealFlag(seal);
    });
    check(native.fcntl(this.openFd('fcntl'), constants.F_ADD_SEALS, flags), 'fcntl', this.errorContext());
  }

  /**
   * The seals in force.
   *
   * @throws {@link IpcError} 'EBADF' (closed).
   */
  get seals(): Seal[] {
    const flags = check(native.fcntl(this.openFd('fcntl'), constants.F_GET_SEALS, 0), 'fcntl', this.errorContext());
    return SEALS.filter((seal) => flags & sealFlag(seal));
  }

  /**
   * Maps the file; `prot` defaults to 'rw', the whole file to the default length.
   *
   * @throws {@link IpcError} 'EBADF' (closed), 'EPERM' (a shared 'rw' mapping after a 'write' seal),
   *   'EACCES' (a shared 'rw' mapping of a descriptor open for reading only), 'ENOMEM' (no address space
   *   left), other errnos of mmap(2); argument errors (ERR_OUT_OF_RANGE also for an empty file, or a length
   *   past its end without `beyondEnd`).
   */
  map(options?: MapOptions): Mapping {
    return mapDescriptorOf(this.openFd('mmap'), options, 'rw', this.errorContext());
  }

  protected override errorContext(): IpcErrorContext {
    return { objectName: this.name };
  }
}
