// Property tests of argument validation for semaphores: SemaphoreSet and NamedSemaphore. A value of the
// wrong type, out of range or not allowed (NaN, 2**53, negative, an index past the set, a delta outside
// a C short, a value above SEMVMX, names with '/', '..', NUL or too long) must fail with Node's error
// shape naming the argument, before any system call: after each test the fixtures' values are as they
// were, no descriptor or thread wait is left, and no semaphore of this file's prefix appeared.
//
// Safety: the fixture set holds [100, 100] so that an operation that slipped through validation does not
// block; names start with PREFIX (this process's own); System V calls that could create use IPC_PRIVATE,
// and what a slipped call created is removed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { IPC_PRIVATE, NamedSemaphore, SEMVMX, SemaphoreSet } from '../src/index.js';
import { RUN, tempDir } from './helpers.js';
import {
  anything,
  argumentChecks,
  badIpcNames,
  booleanSlots,
  expectNoSideEffects,
  integerSlots,
  isObject,
  MAX_INT32,
  MAX_SAFE,
  notArray,
  notBoolean,
  notIntegerIn,
  notNumber,
  notString,
  rangeDetail,
  signalSlot,
  timeoutSlots,
} from './property.js';

const params = { numRuns: 50, endOnFailure: true };
const PREFIX = `unipc-sp-${RUN}-${process.pid}-${randomBytes(4).toString('hex')}-`;
const [SEMMSL, , SEMOPM] = fs.readFileSync('/proc/sys/kernel/sem', 'utf8').trim().split(/\s+/).map(Number) as [
  number,
  number,
  number,
  number,
];

let fixture: SemaphoreSet;

/** Removes a set that a call which should have failed created anyway (never the fixture). */
function releaseSemaphore(value: unknown): boolean {
  if (value instanceof SemaphoreSet) {
    if (value.id !== fixture.id) value.remove();
    return true;
  }
  if (value instanceof NamedSemaphore) {
    value.close();
    if (value.name.startsWith(`/${PREFIX}`)) NamedSemaphore.unlink(value.name);
    return true;
  }
  return false;
}

const { throwsArgError, rejectsArgError, optionProperties } = argumentChecks({ params, release: releaseSemaphore });

const scratch = tempDir('sem-prop-');
after(() => scratch[Symbol.dispose]());
const ownEntries = () => fs.readdirSync('/dev/shm').filter((name) => name.startsWith(`sem.${PREFIX}`));

describe('SemaphoreSet: get(), fromId(), op(), the helpers and semctl', () => {
  before(() => {
    fixture = SemaphoreSet.get(IPC_PRIVATE, { count: 2, create: true });
    fixture.setAll([100, 100]);
  });
  after(() => fixture.remove());
  expectNoSideEffects(() => scratch.path, {
    unchanged: [{ read: () => fixture.getAll(), message: 'an invalid call changed a value' }],
  });

  test('get(key): key of the wrong type or outside [-2**31, 2**32 - 1]', () => {
    fc.assert(
      fc.property(notNumber(false), (v) => throwsArgError(() => SemaphoreSet.get(v as never), 'type', 'key')),
      params,
    );
    fc.assert(
      fc.property(notIntegerIn(-(2 ** 31), 2 ** 32 - 1), (v) =>
        throwsArgError(() => SemaphoreSet.get(v), 'range', 'key', rangeDetail(-(2 ** 31), 2 ** 32 - 1)),
      ),
      params,
    );
  });

  optionProperties(
    'get()',
    'sync',
    (options) =>
      SemaphoreSet.get(
        IPC_PRIVATE,
        isObject(options) ? { create: true, count: 1, ...(options as object) } : (options as never),
      ),
    [
      { key: 'count', kind: 'type', values: notNumber() },
      {
        key: 'count',
        kind: 'range',
        values: notIntegerIn(0, SEMMSL),
        detail: /It must be (an integer|>= 0 && <= \d+( \(SEMMSL in \/proc\/sys\/kernel\/sem\))?)\. Received /,
      },
      ...booleanSlots('create', 'exclusive'),
      ...integerSlots('mode', 0, 0o777),
    ],
  );

  test('get(): creating needs count > 0; IPC_PRIVATE needs create', () => {
    throwsArgError(
      () => SemaphoreSet.get(IPC_PRIVATE, { create: true }),
      'value',
      'options.count',
      'must be given (> 0) to create a set',
    );
    throwsArgError(() => SemaphoreSet.get(IPC_PRIVATE, { count: 1 }), 'value', 'options.create', 'IPC_PRIVATE');
  });

  test('fromId(id): not an integer in [0, 2**31 - 1]', () => {
    fc.assert(
      fc.property(notNumber(false), (v) => throwsArgError(() => SemaphoreSet.fromId(v as never), 'type', 'id')),
      params,
    );
    fc.assert(
      fc.property(notIntegerIn(0, MAX_INT32), (v) =>
        throwsArgError(() => SemaphoreSet.fromId(v), 'range', 'id', rangeDetail(0, MAX_INT32)),
      ),
      params,
    );
  });

  const badIndex = notIntegerIn(0, 1);
  const indexed: Array<[string, (index: unknown) => unknown, 'sync' | 'async']> = [
    ['wait', (i) => fixture.wait(i as never), 'async'],
    ['waitForZero', (i) => fixture.waitForZero(i as never), 'async'],
    ['waitSync', (i) => fixture.waitSync(i as never, { timeout: 0 }), 'sync'],
    ['waitForZeroSync', (i) => fixture.waitForZeroSync(i as never, { timeout: 0 }), 'sync'],
    ['tryWait', (i) => fixture.tryWait(i as never), 'sync'],
    ['post', (i) => fixture.post(i as never), 'sync'],
    ['get', (i) => fixture.get(i as never), 'sync'],
    ['set', (i) => fixture.set(i as never, 100), 'sync'],
    ['lastPid', (i) => fixture.lastPid(i as never), 'sync'],
    ['waitingForIncrease', (i) => fixture.waitingForIncrease(i as never), 'sync'],
    ['waitingForZero', (i) => fixture.waitingForZero(i as never), 'sync'],
  ];
  for (const [method, call, mode] of indexed) {
    test(`${method}(index): wrong type, or not an index of the set (0 to count - 1)`, async () => {
      if (mode === 'sync') {
        fc.assert(
          fc.property(notNumber(false), (v) => throwsArgError(() => call(v), 'type', 'index')),
          params,
        );
        fc.assert(
          fc.property(badIndex, (v) => throwsArgError(() => call(v), 'range', 'index', rangeDetail(0, 1))),
          params,
        );
      } else {
        await fc.assert(
          fc.asyncProperty(notNumber(false), (v) => rejectsArgError(() => call(v), 'type', 'index')),
          params,
        );
        await fc.assert(
          fc.asyncProperty(badIndex, (v) => rejectsArgError(() => call(v), 'range', 'index', rangeDetail(0, 1))),
          params,
        );
      }
    });
  }

  test('set(index, value): value not an integer in [0, SEMVMX]', () => {
    fc.assert(
      fc.property(notNumber(false), (v) => throwsArgError(() => fixture.set(0, v as never), 'type', 'value')),
      params,
    );
    fc.assert(
      fc.property(notIntegerIn(0, SEMVMX), (v) =>
        throwsArgError(() => fixture.set(0, v), 'range', 'value', rangeDetail(0, SEMVMX)),
      ),
      params,
    );
  });

  test('setAll(values): not an array, the wrong length, or an element not in [0, SEMVMX]', () => {
    fc.assert(
      fc.property(
        notArray.filter((v) => v !== undefined),
        (v) => throwsArgError(() => fixture.setAll(v as never), 'type', 'values'),
      ),
      params,
    );
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: SEMVMX }), { maxLength: 5 }).filter((a) => a.length !== 2),
        (v) => throwsArgError(() => fixture.setAll(v), 'range', 'values.length', "2 (the set's count)"),
      ),
      params,
    );
    fc.assert(
      fc.property(notIntegerIn(0, SEMVMX), fc.nat(1), (v, at) =>
        throwsArgError(
          () => fixture.setAll(at === 0 ? [v, 100] : [100, v]),
          'range',
          `values[${at}]`,
          rangeDetail(0, SEMVMX),
        ),
      ),
      params,
    );
  });

  // op() rejects and opSync() throws, with the same errors.
  const opForms: Array<['op' | 'opSync', (ops: unknown) => unknown, 'sync' | 'async']> = [
    ['op', (ops) => fixture.op(ops as never), 'async'],
    ['opSync', (ops) => fixture.opSync(ops as never), 'sync'],
  ];
  for (const [method, call, mode] of opForms) {
    const expect = async (
      arbitrary: fc.Arbitrary<unknown>,
      kind: 'type' | 'range',
      name: string | ((v: unknown) => string),
      detail?: string | RegExp,
    ) => {
      const nameOf = (v: unknown) => (typeof name === 'string' ? name : name(v));
      if (mode === 'sync')
        fc.assert(
          fc.property(arbitrary, (v) => throwsArgError(() => call(v), kind, nameOf(v), detail)),
          params,
        );
      else
        await fc.assert(
          fc.asyncProperty(arbitrary, (v) => rejectsArgError(() => call(v), kind, nameOf(v), detail)),
          params,
        );
    };
    const op = (change: Record<string, unknown>) => ({ index: 0, delta: 1, ...change });

    test(`${method}(ops): not an array; empty or more than SEMOPM operations`, async () => {
      await expect(
        notArray.filter((v) => v !== undefined),
        'type',
        'ops',
        'must be an instance of Array',
      );
      await expect(fc.constant([]), 'range', 'ops.length', `>= 1 && <= ${SEMOPM} (SEMOPM`);
      await expect(
        fc.integer({ min: SEMOPM + 1, max: SEMOPM + 50 }).map((n) => Array.from({ length: n }, () => op({}))),
        'range',
        'ops.length',
        `>= 1 && <= ${SEMOPM} (SEMOPM`,
      );
    });

    test(`${method}(ops): an operation that is not an object, or has a bad index, delta, nowait or undo`, async () => {
      await expect(
        anything.filter((v) => !isObject(v)).map((v) => [op({}), v]),
        'type',
        'ops[1]',
      );
      await expect(
        notNumber(false).map((v) => [op({ index: v })]),
        'type',
        'ops[0].index',
      );
      await expect(
        badIndex.map((v) => [op({ index: v })]),
        'range',
        'ops[0].index',
        rangeDetail(0, 1),
      );
      await expect(
        notNumber(false).map((v) => [op({ delta: v })]),
        'type',
        'ops[0].delta',
      );
      await expect(
        notIntegerIn(-32768, 32767).map((v) => [op({}), op({ delta: v })]),
        'range',
        'ops[1].delta',
        rangeDetail(-32768, 32767),
      );
      await expect(
        notBoolean.map((v) => [op({ nowait: v })]),
        'type',
        'ops[0].nowait',
      );
      await expect(
        notBoolean.map((v) => [op({ undo: v })]),
        'type',
        'ops[0].undo',
      );
    });
  }

  optionProperties('op()', 'async', (options) => fixture.op([{ index: 0, delta: 1 }], options as never), [
    signalSlot,
    ...timeoutSlots,
    ...booleanSlots('ref'),
  ]);
  optionProperties(
    'opSync()',
    'sync',
    (options) => fixture.opSync([{ index: 0, delta: 1 }], options as never),
    timeoutSlots,
  );
  optionProperties('wait()', 'async', (options) => fixture.wait(0, options as never), [
    signalSlot,
    ...timeoutSlots,
    ...booleanSlots('undo', 'ref'),
  ]);
  optionProperties('waitSync()', 'sync', (options) => fixture.waitSync(0, options as never), [
    ...timeoutSlots,
    ...booleanSlots('undo'),
  ]);
  optionProperties('post()', 'sync', (options) => fixture.post(0, options as never), booleanSlots('undo'));
  optionProperties('tryWait()', 'sync', (options) => fixture.tryWait(0, options as never), booleanSlots('undo'));

  optionProperties(
    'setPermissions()',
    'sync',
    (changes) => fixture.setPermissions(changes as never),
    [...integerSlots('mode', 0, 0o777), ...integerSlots('uid', 0, 2 ** 32 - 2), ...integerSlots('gid', 0, 2 ** 32 - 2)],
    'changes',
    anything.filter((v) => !isObject(v)),
  );
});

describe('SemaphoreSet: waitForZero() and waitForZeroSync() options', () => {
  // Values [0]: a wait for zero that slipped through validation returns at once.
  let zero: SemaphoreSet;
  before(() => {
    zero = SemaphoreSet.get(IPC_PRIVATE, { count: 1, create: true });
  });
  after(() => zero.remove());
  expectNoSideEffects(() => scratch.path, {
    unchanged: [{ read: () => [zero.getAll(), zero.stat().lastOp], message: 'an invalid call operated on the set' }],
  });

  optionProperties('waitForZero()', 'async', (options) => zero.waitForZero(0, options as never), [
    signalSlot,
    ...timeoutSlots,
    ...booleanSlots('ref'),
  ]);
  optionProperties('waitForZeroSync()', 'sync', (options) => zero.waitForZeroSync(0, options as never), timeoutSlots);
});

describe('NamedSemaphore: open(), unlink(), wait(), waitSync()', () => {
  let semaphore: NamedSemaphore;
  const fixtureName = `${PREFIX}fixture`;
  before(() => {
    semaphore = NamedSemaphore.open(fixtureName, { create: true, exclusive: true, initial: 100 });
  });
  after(() => {
    semaphore.close();
    NamedSemaphore.unlink(fixtureName);
  });
  expectNoSideEffects(() => scratch.path, {
    unchanged: [
      { read: () => semaphore.value, message: 'an invalid call changed the value' },
      { read: ownEntries, message: 'an invalid call created a named semaphore' },
    ],
  });

  // Invalid names (251 bytes at most: glibc keeps sem.NAME in /dev/shm); whatever part of one glibc
  // might still accept starts with PREFIX.
  const badName = badIpcNames(PREFIX, 251);
  const nameDetail =
    /must be a name with one optional leading '\/' and no other '\/' or null bytes|must be at most 25[15] bytes long/;

  test("open(name) and unlink(name): not a string; empty, '/', '//x', 'a/b', '.', '..', a NUL byte, more than 251 bytes", () => {
    fc.assert(
      fc.property(notString(false), (v) =>
        throwsArgError(() => NamedSemaphore.open(v as never, { create: true }), 'type', 'name'),
      ),
      params,
    );
    fc.assert(
      fc.property(notString(false), (v) => throwsArgError(() => NamedSemaphore.unlink(v as never), 'type', 'name')),
      params,
    );
    fc.assert(
      fc.property(badName, (name) =>
        throwsArgError(() => NamedSemaphore.open(name, { create: true, exclusive: true }), 'value', 'name', nameDetail),
      ),
      params,
    );
    fc.assert(
      fc.property(badName, (name) => throwsArgError(() => NamedSemaphore.unlink(name), 'value', 'name', nameDetail)),
      params,
    );
  });

  test('a name of exactly 251 bytes works', () => {
    const name = PREFIX + 'x'.repeat(251 - PREFIX.length);
    const made = NamedSemaphore.open(name, { create: true, exclusive: true });
    made.close();
    NamedSemaphore.unlink(name);
  });

  optionProperties(
    'open()',
    'sync',
    (options) =>
      NamedSemaphore.open(
        `${PREFIX}options`,
        isObject(options) ? { create: true, exclusive: true, ...(options as object) } : (options as never),
      ),
    [
      ...booleanSlots('create', 'exclusive'),
      ...integerSlots('mode', 0, 0o777),
      ...integerSlots('initial', 0, 2 ** 31 - 1),
    ],
  );

  optionProperties('wait()', 'async', (options) => semaphore.wait(options as never), [
    signalSlot,
    ...timeoutSlots,
    ...booleanSlots('ref'),
  ]);
  optionProperties('waitSync()', 'sync', (options) => semaphore.waitSync(options as never), timeoutSlots);

  test('initial near the top: 2**31 - 1 is accepted, 2**31 and 2**53 are not', () => {
    throwsArgError(
      () => NamedSemaphore.open(`${PREFIX}top`, { create: true, initial: 2 ** 31 }),
      'range',
      'options.initial',
    );
    throwsArgError(
      () => NamedSemaphore.open(`${PREFIX}top`, { create: true, initial: 2 ** 53 }),
      'range',
      'options.initial',
    );
    assert.equal(MAX_SAFE, 2 ** 53 - 1);
  });
});
