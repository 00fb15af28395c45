// Shared by the property tests of argument validation (the *.property.test.ts files): checking
// Node-style argument errors and IpcErrors, proof that a call refused for its arguments reached no system
// call of the addon, arbitraries of values guaranteed to be invalid for a slot, options properties, and
// the after-each-test check that an invalid call had no side effect. No tests here: each file registers
// its own, with its own fixtures.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { afterEach, beforeEach, test } from 'node:test';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { IpcError, PAGE_SIZE, waiterStats } from '../src/index.js';
import { native } from '../src/native.js';
import { openFdCount } from './helpers.js';

export const MAX_INT32 = 2 ** 31 - 1;
export const MAX_TIMEOUT = 2 ** 31 - 1;
export const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------------------------------------------
// Checking errors

export type Kind = 'type' | 'range' | 'value';
export const CODES: Record<Kind, string> = {
  type: 'ERR_INVALID_ARG_TYPE',
  range: 'ERR_OUT_OF_RANGE',
  value: 'ERR_INVALID_ARG_VALUE',
};
/** What the rest of the message must say (the range, the page size, the allowed values). */
export type Detail = string | RegExp | undefined;

export function show(value: unknown): string {
  return inspect(value, { depth: 1, breakLength: Infinity }).slice(0, 200);
}

/** Asserts that `error` is the Node-style argument error of `kind` for the argument or property `name`. */
export function checkArgError(error: unknown, kind: Kind, name: string, detail?: Detail): void {
  assert.ok(error instanceof Error, `expected an Error, got ${show(error)}`);
  assert.ok(
    !(error instanceof IpcError),
    `expected ${CODES[kind]} for ${name}, got a system call error: ${error.message}`,
  );
  assert.equal(
    (error as { code?: unknown }).code,
    CODES[kind],
    `wrong code for ${name}: ${error.name}: ${error.message}`,
  );
  const property = name.includes('.');
  let prefix: string;
  if (kind === 'range') {
    assert.ok(error instanceof RangeError, `ERR_OUT_OF_RANGE must be a RangeError: ${error.message}`);
    prefix = `The value of "${name}" is out of range. It must be `;
  } else {
    assert.ok(error instanceof TypeError, `${CODES[kind]} must be a TypeError: ${error.message}`);
    prefix =
      kind === 'type'
        ? `The "${name}" ${property ? 'property' : 'argument'} must be `
        : `The ${property ? 'property' : 'argument'} '${name}' `;
  }
  assert.ok(
    error.message.startsWith(prefix),
    `message should start with ${JSON.stringify(prefix)}: ${JSON.stringify(error.message)}`,
  );
  assert.ok(
    error.message.includes('. Received '),
    `message should show the received value: ${JSON.stringify(error.message)}`,
  );
  if (typeof detail === 'string')
    assert.ok(
      error.message.includes(detail),
      `message should say ${JSON.stringify(detail)}: ${JSON.stringify(error.message)}`,
    );
  else if (detail) assert.match(error.message, detail);
}

/** Asserts that `error` is an IpcError with this errno name (and system call). */
export function checkIpcError(error: unknown, code: string, syscall?: string): void {
  assert.ok(error instanceof IpcError, `expected IpcError ${code}, got ${show(error)}`);
  assert.equal(error.code, code, error.message);
  if (syscall !== undefined) assert.equal(error.syscall, syscall, error.message);
}

/**
 * A test file's own way of undoing something a call that should have failed created anyway (a shared
 * memory object to unlink, say): true when it took care of `value`, false to leave it to release().
 */
export type Releaser = (value: unknown) => boolean;

/**
 * Undoes whatever a call that should have failed created anyway: arrays item by item, then `own` (the
 * test file's releaser) if it takes care of the value, else child processes are killed and anything
 * with a close() is closed.
 */
export function release(value: unknown, own?: Releaser): void {
  if (Array.isArray(value)) {
    for (const item of value) release(item, own);
    return;
  }
  if (own?.(value)) return;
  if (typeof value !== 'object' || value === null) return;
  const candidate = value as { close?: unknown; kill?: unknown; on?: unknown };
  if (typeof candidate.kill === 'function' && typeof candidate.on === 'function') {
    (value as { on(event: string, listener: () => void): void }).on('error', () => {});
    (value as { kill(): void }).kill();
    return;
  }
  if (typeof candidate.close === 'function') (value as { close(): void }).close();
}

// ---------------------------------------------------------------------------------------------------
// Observing the addon: every system call of unipc goes through one of its functions

/** Addon functions that only read the addon's own bookkeeping: no system call, nothing changed. */
const BOOKKEEPING = new Set(['waiterStats', 'faultedPages']);

/**
 * Runs `call` with every function of the addon wrapped, and returns the names of those it called (in
 * order, bookkeeping left out) along with what it returned or threw. The wrapping is undone before this
 * returns; for a Promise-returning call, only what runs before it returns is observed (validation comes
 * first in every async method, before its first await).
 */
export function nativeCallsOf(call: () => unknown): {
  calls: string[];
  outcome: { value: unknown } | { error: unknown };
} {
  const target = native as unknown as Record<string, unknown>;
  const originals = new Map<string, unknown>();
  const calls: string[] = [];
  // Reading a limit of the kernel's (readSmallFile: /proc/sys/kernel/msgmax, sem, …) to word an error
  // is no call on anything the caller named: its open, read and close are not counted.
  const limitFiles = new Set<number>();
  const readsALimit = (name: string, args: unknown[]): boolean => {
    if (name === 'open' && String(args[0]).startsWith('/proc/sys/kernel/')) return true;
    if ((name === 'read' || name === 'close') && limitFiles.has(args[0] as number)) {
      if (name === 'close') limitFiles.delete(args[0] as number);
      return true;
    }
    return false;
  };
  for (const [name, value] of Object.entries(target)) {
    if (typeof value !== 'function' || BOOKKEEPING.has(name)) continue;
    originals.set(name, value);
    target[name] = new Proxy(value, {
      apply: (fn, self, args) => {
        if (!readsALimit(name, args)) {
          calls.push(name);
          return Reflect.apply(fn, self, args);
        }
        const result = Reflect.apply(fn, self, args);
        if (name === 'open' && (result as number) >= 0) limitFiles.add(result as number);
        return result;
      },
      construct: (fn, args, newTarget) => {
        calls.push(name);
        return Reflect.construct(fn, args, newTarget === target[name] ? fn : newTarget);
      },
    });
  }
  try {
    return { calls, outcome: { value: call() } };
  } catch (error) {
    return { calls, outcome: { error } };
  } finally {
    for (const [name, value] of originals) target[name] = value;
  }
}

/**
 * Asserts that refusing `what` took no addon call, so nothing reached the kernel; or, for a value that
 * is invalid only given the object it names (a file's size or type), only the calls that look it up.
 */
function assertNoNativeCall(calls: string[], what: string, inspects: readonly string[] = []): void {
  const unexpected = calls.filter((name) => !inspects.includes(name));
  assert.deepEqual(unexpected, [], `the addon was called (${calls.join(', ')}) before ${what} was refused`);
}

export type Outcome =
  | { state: 'fulfilled'; value: unknown }
  | { state: 'rejected'; error: unknown }
  | { state: 'pending' };

/** One slot of an options (or other object) argument, and the values that are invalid in it. */
export interface Slot {
  /** The property of the options object. */
  key: string;
  kind: Kind;
  values: fc.Arbitrary<unknown>;
  detail?: Detail;
  /** Told in the test's name. */
  note?: string;
  /** Marks the test todo: the slot demonstrates a known bug. */
  todo?: string;
}

/**
 * The checks that release what a call that slipped through validation returned (with the test file's
 * own releaser, if any) and the property runner that uses the file's fast-check parameters.
 */
export function argumentChecks({ params, release: own }: { params: fc.Parameters<unknown>; release?: Releaser }) {
  const undo = (value: unknown): void => release(value, own);

  /**
   * A synchronous call must throw the argument error, without calling into the addon first (but for the
   * addon functions named in `inspects`, where the error depends on what they find out).
   */
  function throwsArgError(
    call: () => unknown,
    kind: Kind,
    name: string,
    detail?: Detail,
    inspects?: readonly string[],
  ): void {
    const { calls, outcome } = nativeCallsOf(call);
    if ('error' in outcome) {
      checkArgError(outcome.error, kind, name, detail);
      assertNoNativeCall(calls, name, inspects);
      return;
    }
    undo(outcome.value);
    assert.fail(`expected ${CODES[kind]} for ${name}, but the call returned ${show(outcome.value)}`);
  }

  function throwsIpcError(call: () => unknown, code: string, syscall?: string): void {
    let result: unknown;
    try {
      result = call();
    } catch (error) {
      checkIpcError(error, code, syscall);
      return;
    }
    undo(result);
    assert.fail(`expected IpcError ${code}, but the call returned ${show(result)}`);
  }

  /**
   * Settles `call()`'s Promise (or gives up after 2 s: what it resolves with later is released then, when
   * the fixture is closed); the call itself must not throw and must return a Promise.
   */
  async function settle(call: () => unknown, what: string, calls?: string[]): Promise<Outcome> {
    const observed = nativeCallsOf(call);
    calls?.push(...observed.calls);
    if ('error' in observed.outcome) {
      assert.fail(
        `expected a rejected Promise for ${what}, but the call threw synchronously: ${show(observed.outcome.error)}`,
      );
    }
    const result = observed.outcome.value;
    assert.ok(result instanceof Promise, `expected a Promise, got ${show(result)}`);
    const promise = result as Promise<unknown>;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race<Outcome>([
      promise.then(
        (value) => ({ state: 'fulfilled', value }),
        (error: unknown) => ({ state: 'rejected', error }),
      ),
      new Promise<Outcome>((resolve) => {
        timer = setTimeout(() => resolve({ state: 'pending' }), 2000);
      }),
    ]);
    clearTimeout(timer);
    if (outcome.state === 'pending') promise.then(undo, () => {});
    return outcome;
  }

  /** A Promise-returning call must not throw but return a Promise that rejects with the argument error, without calling into the addon first. */
  async function rejectsArgError(call: () => unknown, kind: Kind, name: string, detail?: Detail): Promise<void> {
    const calls: string[] = [];
    const outcome = await settle(call, name, calls);
    if (outcome.state === 'rejected') {
      checkArgError(outcome.error, kind, name, detail);
      assertNoNativeCall(calls, name);
      return;
    }
    if (outcome.state === 'fulfilled') undo(outcome.value);
    assert.fail(
      `expected a rejection with ${CODES[kind]} for ${name}, but the Promise ${outcome.state === 'pending' ? 'is still pending' : `resolved with ${show(outcome.value)}`}`,
    );
  }

  /**
   * For every slot: the call with { [slot.key]: invalid } fails with the slot's error, naming
   * <argument>.<key>; and the call with an argument that is no object fails naming the argument.
   */
  function optionProperties(
    label: string,
    mode: 'sync' | 'async',
    call: (options: unknown) => unknown,
    slots: Slot[],
    argument = 'options',
    notArgument = notOptions,
  ): void {
    test(`${label}: ${argument} of the wrong type`, async () => {
      if (mode === 'sync')
        fc.assert(
          fc.property(notArgument, (v) => throwsArgError(() => call(v), 'type', argument)),
          params,
        );
      else
        await fc.assert(
          fc.asyncProperty(notArgument, (v) => rejectsArgError(() => call(v), 'type', argument)),
          params,
        );
    });
    for (const slot of slots) {
      const name = `${argument}.${slot.key}`;
      const what =
        slot.note ??
        (slot.kind === 'type' ? 'of the wrong type' : slot.kind === 'range' ? 'out of range' : 'not an allowed value');
      test(`${label}: ${name} ${what}`, { todo: slot.todo }, async () => {
        if (mode === 'sync') {
          fc.assert(
            fc.property(slot.values, (v) =>
              throwsArgError(() => call({ [slot.key]: v }), slot.kind, name, slot.detail),
            ),
            params,
          );
        } else {
          await fc.assert(
            fc.asyncProperty(slot.values, (v) =>
              rejectsArgError(() => call({ [slot.key]: v }), slot.kind, name, slot.detail),
            ),
            params,
          );
        }
      });
    }
  }

  return { release: undo, throwsArgError, throwsIpcError, settle, rejectsArgError, optionProperties };
}

// ---------------------------------------------------------------------------------------------------
// Arbitraries of values guaranteed to be invalid for a slot

export const anything: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withObjectString: true,
    withTypedArray: true,
    withSparseArray: true,
  }),
  fc.func(fc.anything()),
  fc.constantFrom<unknown>(
    null,
    undefined,
    true,
    false,
    0n,
    1n,
    -1n,
    4096n,
    Symbol('unipc'),
    Symbol.iterator,
    '',
    '0',
    '1',
    '4096',
    'r',
    'w',
    'rw',
    'stream',
    'seal',
    '/unipc',
    [],
    [1],
    [4096],
    ['r'],
    {},
    Object.create(null),
    new Number(3),
    new Number(4096),
    new String('stream'),
    new String('rw'),
    new Boolean(true),
    new Date(0),
    Buffer.from('x'),
    Buffer.from('/dev/zero'),
    new Uint8Array(4096),
    new ArrayBuffer(8),
    new URL('file:///dev/null'),
    new URL('https://example.com/shm'),
    new AbortController(),
    () => 3,
  ),
);

export const isNumber = (v: unknown): boolean => typeof v === 'number';
export const hasFd = (v: unknown): boolean => typeof v === 'object' && v !== null && 'fd' in v;
export const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isBytes = (v: unknown): boolean =>
  typeof v === 'string' || ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof SharedArrayBuffer;

/** Not a number; `undefined` included only where it is not the default. */
export const notNumber = (undefinedIsDefault = true) =>
  anything.filter((v) => !isNumber(v) && !(undefinedIsDefault && v === undefined));
export const notBoolean = anything.filter((v) => typeof v !== 'boolean' && v !== undefined);
/** Anything an options argument cannot be: undefined means {}, every non-array object is fine. */
export const notOptions = anything.filter((v) => v !== undefined && !isObject(v));
/** Anything a required object argument cannot be, undefined included. */
export const notObject = anything.filter((v) => !isObject(v));
export const notSignal = anything.filter((v) => v !== undefined && !(v instanceof AbortSignal));
export const notBytes = anything.filter((v) => !isBytes(v));
export const notPathLike = anything.filter((v) => typeof v !== 'string' && !(v instanceof URL));
export const notString = (undefinedIsDefault: boolean) =>
  anything.filter((v) => typeof v !== 'string' && !(undefinedIsDefault && v === undefined));
/** A value that is no descriptor at all: neither a number nor an object with an `fd`. */
export const notFdLike = anything.filter((v) => !isNumber(v) && !hasFd(v));
export const notArray = anything.filter((v) => v !== undefined && !Array.isArray(v));

export function notOneOf(allowed: readonly unknown[], undefinedIsDefault: boolean): fc.Arbitrary<unknown> {
  const near = fc.constantFrom<unknown>(
    ...allowed.flatMap((a) =>
      typeof a === 'string' ? [a.toUpperCase(), ` ${a}`, `${a}\0`, a + a, a.slice(1), new String(a), [a]] : [],
    ),
  );
  return fc
    .oneof(anything, fc.string(), near)
    .filter((v) => !allowed.includes(v) && !(undefinedIsDefault && v === undefined));
}

/**
 * POSIX IPC names that must be refused: empty, only slashes, '.', '..', a second '/', a NUL byte, or more
 * than `maxBytes` bytes after the optional leading '/'. Whatever part of one glibc or the kernel might
 * still accept starts with `prefix`, so it is the caller's own.
 */
export function badIpcNames(prefix: string, maxBytes = 255): fc.Arbitrary<string> {
  const text = (maxLength = 20) => fc.string({ unit: 'binary', maxLength }).map((s) => s.replace(/[\0/]/g, ''));
  const slash = fc.constantFrom('', '/');
  return fc.oneof(
    fc.constantFrom('', '/', '.', '..', '/.', '/..', '//', '///'),
    fc.tuple(fc.constantFrom('//', '///'), text()).map(([slashes, rest]) => `${slashes}${prefix}${rest}`),
    fc.tuple(slash, text(), fc.string({ maxLength: 10 })).map(([lead, a, b]) => `${lead}${prefix}${a}/${b}`),
    fc.tuple(slash, text(), fc.string({ maxLength: 10 })).map(([lead, a, b]) => `${lead}${prefix}${a}\0${b}`),
    fc.tuple(slash, text(300), fc.constantFrom('a', 'é', '€', '😀')).map(([lead, rest, unit]) => {
      let bare = `${prefix}${rest}`;
      while (Buffer.byteLength(bare) <= maxBytes) bare += unit;
      return lead + bare;
    }),
  );
}

/** Numbers that are not integers in [min, max]: outside, fractional, NaN, ±Infinity, 2**53, … */
export function notIntegerIn(min: number, max: number): fc.Arbitrary<number> {
  const valid = (x: number) => Number.isInteger(x) && x >= min && x <= max;
  return fc
    .oneof(
      fc.constantFrom(
        NaN,
        Infinity,
        -Infinity,
        2 ** 53,
        -(2 ** 53),
        2 ** 53 + 2,
        2 ** 32,
        2 ** 32 + PAGE_SIZE,
        2 ** 31,
        Number.MAX_VALUE,
        -Number.MAX_VALUE,
        Number.MIN_VALUE,
        -Number.MIN_VALUE,
        Number.EPSILON,
        min - 1,
        max + 1,
        min + 0.5,
        max - 0.5,
        -1,
        0.1,
        PAGE_SIZE + 0.5,
      ),
      fc.integer({ min: Math.max(min - 2 ** 20, -MAX_SAFE), max: min - 1 }),
      max < MAX_SAFE ? fc.integer({ min: max + 1, max: Math.min(max + 2 ** 20, MAX_SAFE) }) : fc.constant(max + 2),
      fc.maxSafeInteger(),
      fc.double(),
      fc.double({ min: min - 1, max: max + 1 }),
    )
    .filter((x) => !valid(x));
}

/** Numbers (not necessarily integers) outside [min, max]: NaN, ±Infinity, below min, above max. */
export function notNumberIn(min: number, max: number): fc.Arbitrary<number> {
  return fc
    .oneof(
      fc.constantFrom(
        NaN,
        Infinity,
        -Infinity,
        min - 1,
        min - 0.001,
        -Number.MIN_VALUE,
        max + 1,
        max + 0.5,
        2 ** 53,
        Number.MAX_VALUE,
      ),
      fc.double({ max: min - Number.EPSILON }),
      fc.double({ min: max + 1 }),
      fc.double(),
      fc.integer({ min: min - 2 ** 20, max: min - 1 }),
      fc.integer({ min: max + 1, max: max + 2 ** 20 }),
    )
    .filter((x) => Number.isNaN(x) || x < min || x > max);
}

/** The range part of validateInteger()'s message. */
export function rangeDetail(min: number, max: number): RegExp {
  return new RegExp(`It must be (an integer|>= ${min} && <= ${max})\\. Received `);
}

/** A path inside `dir()` followed by a NUL and arbitrary text: if the NUL check were missing, the kernel
 * would see only the part in that directory. */
export function pathsWithNul(dir: () => string): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.stringMatching(/^[a-z0-9._-]{1,12}$/),
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.string({ unit: 'binary', maxLength: 20 }),
    )
    .map(([name, middle, tail]) => `${dir()}/${name.replace(/^\.+$/, 'dot')}${middle.replace(/[\0/]/g, '')}\0${tail}`);
}

// ---------------------------------------------------------------------------------------------------
// Slots of an options argument

export function integerSlots(key: string, min: number, max: number, detail: Detail = rangeDetail(min, max)): Slot[] {
  return [
    { key, kind: 'type', values: notNumber() },
    { key, kind: 'range', values: notIntegerIn(min, max), detail },
  ];
}

export function booleanSlots(...keys: string[]): Slot[] {
  return keys.map((key) => ({ key, kind: 'type', values: notBoolean, detail: 'must be of type boolean' }));
}

export const timeoutSlots: Slot[] = [
  { key: 'timeout', kind: 'type', values: notNumber() },
  {
    key: 'timeout',
    kind: 'range',
    values: notNumberIn(0, MAX_TIMEOUT),
    detail: `It must be >= 0 && <= ${MAX_TIMEOUT}`,
  },
];
export const signalSlot: Slot = {
  key: 'signal',
  kind: 'type',
  values: notSignal,
  detail: 'must be an instance of AbortSignal',
};

// ---------------------------------------------------------------------------------------------------
// Observing that nothing happened

/** Something else an invalid call must leave as it found it: read before and after each test. */
export interface Observed {
  read: () => unknown;
  /** The failure message when it changed. */
  message: string;
}

/**
 * Inside a describe(): after each test, nothing was created in the scratch directory `scratch()`, every
 * `unchanged` reads as it did before the test, no descriptor was left open (or closed), no thread wait
 * is pending, and `extra` (checks on the suite's fixtures) holds.
 */
export function expectNoSideEffects(
  scratch: () => string,
  { unchanged = [], extra }: { unchanged?: Observed[]; extra?: () => void } = {},
): void {
  let fds = 0;
  let before: unknown[] = [];
  beforeEach(() => {
    fds = openFdCount();
    before = unchanged.map((observed) => observed.read());
  });
  afterEach(() => {
    assert.deepEqual(fs.readdirSync(scratch()), [], 'an invalid call created something in the scratch directory');
    unchanged.forEach((observed, i) => {
      assert.deepEqual(observed.read(), before[i], observed.message);
    });
    assert.equal(openFdCount(), fds, 'an invalid call left a descriptor open (or closed one)');
    assert.equal(waiterStats().pending, 0, 'an invalid call left a thread wait pending');
    extra?.();
  });
}
