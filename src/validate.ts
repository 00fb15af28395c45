// Argument validation with Node's error codes and message shapes (lib/internal/validators.js), so bad
// input fails before any system call. Internal: not exported from the package.
import { Buffer } from 'node:buffer';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';

type ErrorWithCode<E extends Error> = E & { code: string };
// The function whose frame, and those above it, the stack trace leaves out (Error.captureStackTrace).
type Caller = (...args: never[]) => unknown;

function withCode<E extends Error>(error: E, code: string, caller: Caller): ErrorWithCode<E> {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  Error.captureStackTrace(error, caller);
  return error as ErrorWithCode<E>;
}

function describeReceived(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const ctor = (value as object).constructor;
    return ctor?.name ? `an instance of ${ctor.name}` : inspect(value, { depth: -1 });
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof value} (${shown})`;
}

function argumentLabel(name: string): string {
  return name.includes('.') ? `"${name}" property` : `"${name}" argument`;
}

/** ERR_INVALID_ARG_TYPE */
export function invalidArgType(name: string, expected: string, actual: unknown, caller: Caller = invalidArgType) {
  return withCode(
    new TypeError(`The ${argumentLabel(name)} must be ${expected}. Received ${describeReceived(actual)}`),
    'ERR_INVALID_ARG_TYPE',
    caller,
  );
}

/** ERR_OUT_OF_RANGE */
export function outOfRange(name: string, range: string, actual: unknown, caller: Caller = outOfRange) {
  const shown = typeof actual === 'bigint' ? `${actual}n` : inspect(actual);
  return withCode(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${shown}`),
    'ERR_OUT_OF_RANGE',
    caller,
  );
}

/** ERR_INVALID_ARG_VALUE */
export function invalidArgValue(
  name: string,
  actual: unknown,
  reason = 'is invalid',
  caller: Caller = invalidArgValue,
) {
  const kind = name.includes('.') ? 'property' : 'argument';
  let shown = inspect(actual);
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  return withCode(new TypeError(`The ${kind} '${name}' ${reason}. Received ${shown}`), 'ERR_INVALID_ARG_VALUE', caller);
}

/** ERR_INVALID_STATE */
export function invalidState(message: string, caller: Caller = invalidState) {
  return withCode(new Error(`Invalid state: ${message}`), 'ERR_INVALID_STATE', caller);
}

export function validateObject<T extends object>(value: unknown, name: string): asserts value is T {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgType(name, 'of type object', value, validateObject);
  }
}

/** Options are optional: undefined means {}. */
export function validateOptions<T extends object>(value: T | undefined, name = 'options'): T {
  if (value === undefined) return {} as T;
  validateObject<T>(value, name);
  return value;
}

export function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value, validateBoolean);
}

export function validateInteger(value: unknown, name: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value, validateInteger);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value, validateInteger);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value, validateInteger);
}

export function validateNumber(value: unknown, name: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value, validateNumber);
  if (Number.isNaN(value) || value < min || value > max) {
    throw outOfRange(name, `>= ${min} && <= ${max}`, value, validateNumber);
  }
}

export function validateOneOf<T extends string>(
  value: unknown,
  name: string,
  allowed: readonly T[],
): asserts value is T {
  if (!allowed.includes(value as T)) {
    const list = allowed.map((v) => `'${v}'`).join(', ');
    throw invalidArgValue(name, value, `must be one of: ${list}`, validateOneOf);
  }
}

export function validateAbortSignal(value: unknown, name: string): asserts value is AbortSignal {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw invalidArgType(name, 'an instance of AbortSignal', value, validateAbortSignal);
  }
}

export const MAX_FD = 2 ** 31 - 1;

export function validateFd(value: unknown, name = 'fd'): asserts value is number {
  validateInteger(value, name, 0, MAX_FD);
}

/** File permission bits, 0 to 0o7777. */
export function validateMode(value: unknown, name = 'mode'): asserts value is number {
  validateInteger(value, name, 0, 0o7777);
}

/** Longest wait a timer can express (Node's TIMEOUT_MAX). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export function validateTimeout(value: unknown, name = 'options.timeout'): asserts value is number | undefined {
  if (value !== undefined) validateNumber(value, name, 0, MAX_TIMEOUT_MS);
}

/** The `maxSize` option of reads and receives: 1 byte to 1 GiB, or `fallback` when not given. */
export function validateMaxSize(options: { maxSize?: number }, fallback: number): number {
  const { maxSize } = options;
  if (maxSize === undefined) return fallback;
  validateInteger(maxSize, 'options.maxSize', 1, 2 ** 30);
  return maxSize;
}

/** Whether a string survives UTF-8 unchanged: lone surrogates would turn into U+FFFD on the way. */
export function isWellFormed(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

/** A path as a string or file: URL, without NUL bytes, as the kernel sees it. */
export function toPath(value: unknown, name = 'path'): string {
  let path: string;
  if (typeof value === 'string') {
    path = value;
  } else if (value instanceof URL) {
    if (value.protocol !== 'file:') throw invalidArgValue(name, value, 'must be a file: URL', toPath);
    path = fileURLToPath(value);
  } else {
    throw invalidArgType(name, 'of type string or an instance of URL', value, toPath);
  }
  if (path.includes('\0')) throw invalidArgValue(name, value, 'must be a string or URL without null bytes', toPath);
  return path;
}

/**
 * Whether an ArrayBuffer was detached (a closed Mapping's buffer is). Node 20 has no
 * ArrayBuffer.prototype.detached; a DataView cannot be made over a detached buffer, and only an empty
 * one can be detached.
 */
export function isDetached(buffer: ArrayBufferLike): boolean {
  if (buffer.byteLength !== 0 || !(buffer instanceof ArrayBuffer)) return false;
  try {
    new DataView(buffer);
    return false;
  } catch {
    return true;
  }
}

/**
 * Bytes to send: a string (UTF-8), Buffer, TypedArray, DataView or ArrayBuffer. A view of a detached
 * buffer (a closed mapping's) is refused: it would send nothing, silently, in place of the data.
 */
export function toBytes(value: unknown, name: string): Uint8Array {
  // A Uint8Array (a Buffer too) as it is: a new view per call was a tenth of a 64-byte pipe writeSync().
  // (One with bytes cannot be detached: a detached one has none.) Hot paths read a Uint8Array's `length`,
  // not its `byteLength`: Node 20's V8, compiling on its background thread as it does by default, leaves
  // byteLength, byteOffset and buffer a call each (~10 ns, measured), where length is inlined (~1 ns);
  // Node 22 and later inline both.
  if (value instanceof Uint8Array && value.length !== 0) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  let buffer: ArrayBufferLike;
  if (ArrayBuffer.isView(value)) buffer = value.buffer;
  else if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) buffer = value;
  else
    throw invalidArgType(
      name,
      'of type string or an instance of Buffer, TypedArray, DataView or ArrayBuffer',
      value,
      toBytes,
    );
  // (the buffer is shown: a DataView over a detached buffer cannot even be inspected)
  if (isDetached(buffer))
    throw invalidArgValue(name, buffer, 'must not be detached (a view of a closed Mapping holds no data)', toBytes);
  if (ArrayBuffer.isView(value)) return new Uint8Array(buffer, value.byteOffset, value.byteLength);
  return new Uint8Array(buffer);
}

/** Where in a caller's buffer a …Into receive may write: `offset` (default 0) and `length` bytes. */
export interface TargetRange {
  /** Byte offset into the buffer (from the view's own start). Default 0. */
  offset?: number;
  /** Most bytes to write. Default: from `offset` to the view's end. */
  length?: number;
}

/**
 * Validates the buffer of a …Into receive and `options.offset`/`options.length`; returns the range's
 * length (its offset is `options.offset ?? 0`). Any ArrayBufferView (Buffer, TypedArray, DataView) over
 * an ArrayBuffer, a SharedArrayBuffer or a Mapping's memory; never detached, and never an empty range:
 * a receive that can take no byte could not tell the end of data from a full buffer.
 */
export function validateTarget(buffer: unknown, options: TargetRange, name = 'buffer'): number {
  if (!ArrayBuffer.isView(buffer)) {
    throw invalidArgType(name, 'an instance of Buffer, TypedArray or DataView', buffer, validateTarget);
  }
  const size = buffer.byteLength;
  if (size === 0 && isDetached(buffer.buffer)) {
    throw invalidArgValue(
      name,
      buffer.buffer,
      'must not be detached (a view of a closed Mapping has no memory)',
      validateTarget,
    );
  }
  const { offset = 0, length } = options;
  validateInteger(offset, 'options.offset', 0, size);
  const room = size - offset;
  if (room === 0) {
    throw invalidArgValue(
      name,
      buffer,
      `must have room to receive into (${size} bytes, and options.offset ${offset} leaves none)`,
      validateTarget,
    );
  }
  if (length === undefined) return room;
  validateInteger(length, 'options.length', 1, room);
  return length;
}
