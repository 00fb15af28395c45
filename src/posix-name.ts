// POSIX IPC names (shm_open, sem_open, mq_open) as the kernel and glibc take them.
import fs from 'node:fs';
import { check, E } from './errors.js';
import { invalidArgType, invalidArgValue, isWellFormed } from './validate.js';

const NAME_MAX = 255;

/**
 * A POSIX IPC name as the kernel and glibc take it: '/name' or 'name' (one leading slash, no other),
 * at most 255 bytes after the slash, not '.' or '..'. Returns the '/name' form.
 */
export function toIpcName(value: unknown, name = 'name'): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  const bare = value.startsWith('/') ? value.slice(1) : value;
  if (bare.length === 0 || bare.includes('/') || bare.includes('\0') || bare === '.' || bare === '..') {
    throw invalidArgValue(name, value, "must be a name with one optional leading '/' and no other '/' or null bytes");
  }
  if (Buffer.byteLength(bare) > NAME_MAX) throw invalidArgValue(name, value, `must be at most ${NAME_MAX} bytes long`);
  if (!isWellFormed(bare)) throw invalidArgValue(name, value, 'must be well-formed Unicode (no lone surrogates)');
  return `/${bare}`;
}

/** What tells two handles of one file apart from a file made since under the same name. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** The identity of the file at `path` now, or undefined when nothing is there. */
export function identityAt(path: string): FileIdentity | undefined {
  try {
    const { dev, ino } = fs.lstatSync(path);
    return { dev, ino };
  } catch {
    return undefined;
  }
}

/**
 * The name an owner handle (removeOnDispose) unlinks when it is closed: only while the name still names
 * the object the handle holds (`current` finds the same file), since another process may have removed it
 * and made a new one under the same name meanwhile. A name gone already is no error.
 */
export class OwnedName {
  #ours: FileIdentity | undefined;
  readonly #name: string;
  readonly #current: (ours: FileIdentity) => FileIdentity | undefined;
  readonly #unlink: (name: string) => number;
  readonly #syscall: string;

  constructor(
    ours: FileIdentity,
    name: string,
    current: (ours: FileIdentity) => FileIdentity | undefined,
    unlink: (name: string) => number,
    syscall: string,
  ) {
    this.#ours = ours;
    this.#name = name;
    this.#current = current;
    this.#unlink = unlink;
    this.#syscall = syscall;
  }

  /** Whether release() is still to unlink the name. */
  get held(): boolean {
    return this.#ours !== undefined;
  }

  /** Drops the duty without unlinking (the object was never fully made). */
  forget(): void {
    this.#ours = undefined;
  }

  /** Unlinks the name if it still names the object; does nothing the second time. */
  release(): void {
    const ours = this.#ours;
    if (ours === undefined) return;
    this.#ours = undefined;
    const current = this.#current(ours);
    if (current === undefined || current.dev !== ours.dev || current.ino !== ours.ino) return;
    const result = this.#unlink(this.#name);
    if (result !== -E.ENOENT) check(result, this.#syscall, { objectName: this.#name });
  }
}
