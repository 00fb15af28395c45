// POSIX IPC names (shm_open, sem_open, mq_open) as the kernel and glibc take them.
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
