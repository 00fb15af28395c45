// The creator mark: how unipc recognises the POSIX shared memory objects and named semaphores it created
// (`unipc ls --mine`) and can prove them stale once their creator is gone. The kernel records no creator
// for a file in /dev/shm, so unipc writes one, as an extended attribute of the file, when it creates one:
//
//   user.unipc.creator = "v1 pid=<pid> start=<ticks> pidns=<inode> boot=<boot id>"
//
// pid and start (field 22 of /proc/<pid>/stat, clock ticks after boot) name the creating process even
// after its pid is reused; pidns (the inode of /proc/self/ns/pid) says which PID namespace the pid
// belongs to; boot (/proc/sys/kernel/random/boot_id) which boot. The object itself is untouched, so C
// programs open it by name as before; a C program may write the same attribute to have its objects
// counted as unipc's. Internal: not exported from the package.
import fs from 'node:fs';
import { readlink, readSmallFile } from './fd.js';
import { constants, native } from './native.js';

export const MARK_ATTRIBUTE = 'user.unipc.creator';

/**
 * Who created a POSIX shared memory object or named semaphore, as its creator mark records: the
 * extended attribute user.unipc.creator that unipc writes on one it creates (`mark` of list()'s records).
 */
export interface CreatorMark {
  /** The creating process's pid, in the PID namespace `pidNamespace` names. */
  pid: number;
  /** The creator's start time, in clock ticks after boot (field 22 of /proc/<pid>/stat). */
  startTime: number;
  /** The inode of the creator's PID namespace (/proc/<pid>/ns/pid). */
  pidNamespace: number;
  /** /proc/sys/kernel/random/boot_id of the boot it was created in. */
  bootId: string;
}

const MARK_PATTERN = /^v1 pid=([1-9]\d{0,9}) start=(\d{1,19}) pidns=(\d{1,19}) boot=([0-9a-f-]{36})$/;

export function parseMark(text: string): CreatorMark | null {
  const match = MARK_PATTERN.exec(text);
  if (!match) return null;
  const [pid, startTime, pidNamespace] = [match[1], match[2], match[3]].map(Number) as [number, number, number];
  if (![pid, startTime, pidNamespace].every(Number.isSafeInteger)) return null;
  return { pid, startTime, pidNamespace, bootId: match[4]! };
}

export function formatMark(mark: CreatorMark): string {
  return `v1 pid=${mark.pid} start=${mark.startTime} pidns=${mark.pidNamespace} boot=${mark.bootId}`;
}

/** The start time of process `pid` in clock ticks after boot, or undefined when it cannot be read. */
export function processStartTime(pid: number | 'self'): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[19]);
  return Number.isSafeInteger(start) ? start : undefined;
}

/** The inode of a namespace link such as /proc/self/ns/pid ('pid:[4026531836]'), or undefined. */
export function namespaceInode(link: string): number | undefined {
  try {
    const match = /:\[(\d+)\]$/.exec(readlink(link));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function bootId(): string | undefined {
  try {
    return readSmallFile('/proc/sys/kernel/random/boot_id').trim();
  } catch {
    return undefined;
  }
}

let ownMark: Uint8Array | null | undefined;

// This process's mark, made once: every field is fixed for the life of the process.
function markOfThisProcess(): Uint8Array | null {
  if (ownMark === undefined) {
    const startTime = processStartTime('self');
    const pidNamespace = namespaceInode('/proc/self/ns/pid');
    const boot = bootId();
    ownMark =
      startTime === undefined || pidNamespace === undefined || boot === undefined
        ? null
        : Buffer.from(formatMark({ pid: process.pid, startTime, pidNamespace, bootId: boot }));
  }
  return ownMark;
}

/**
 * Marks the object open on `fd` as created by this process. Best effort: a filesystem without user
 * extended attributes (tmpfs before Linux 6.6), a mode that denies this user writing, or a /proc it
 * cannot read leave the object unmarked, which only means it never counts as unipc's.
 */
export function markCreated(fd: number): void {
  const mark = markOfThisProcess();
  if (mark !== null) native.fsetxattr(fd, MARK_ATTRIBUTE, mark, 0);
}

/** Marks the file at `path` (opened without following a symbolic link), best effort as markCreated(). */
export function markCreatedPath(path: string): void {
  const fd = native.open(
    path,
    fs.constants.O_RDONLY |
      fs.constants.O_NOFOLLOW |
      fs.constants.O_NONBLOCK |
      fs.constants.O_NOCTTY |
      constants.O_CLOEXEC,
    0,
    -1,
  );
  if (fd < 0) return;
  try {
    markCreated(fd);
  } finally {
    native.close(fd);
  }
}

const markBuffer = new Uint8Array(256);

/** The creator mark of the file open on `fd`, or null when it has none (or none that parses). */
export function readMark(fd: number): CreatorMark | null {
  const length = native.fgetxattr(fd, MARK_ATTRIBUTE, markBuffer);
  if (length < 0) return null;
  return parseMark(Buffer.from(markBuffer.buffer, 0, length).toString('latin1'));
}
