// Property tests of argument validation for message queues: MessageQueue (System V) and PosixQueue. A
// value of the wrong type or out of range fails with Node's error shape naming the argument, before any
// system call; Promise forms reject. Fixtures make a call that slipped through settle at once: the System
// V queue has been removed (EINVAL), the POSIX queue closed (EBADF), names do not exist (ENOENT).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { IPC_PRIVATE, MessageQueue, PosixQueue } from '../src/index.js';
import { RUN, tempDir, uniqueIpcName } from './helpers.js';
import {
  anything,
  argumentChecks,
  badIpcNames,
  booleanSlots,
  expectNoSideEffects,
  integerSlots,
  isObject,
  MAX_INT32,
  notBoolean,
  notBytes,
  notIntegerIn,
  notNumber,
  notOptions,
  notString,
  rangeDetail,
  type Slot,
  signalSlot,
  timeoutSlots,
} from './property.js';

const params = { numRuns: 100, endOnFailure: true };
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const LONG_MAX = 2n ** 63n - 1n;

// A call that slipped through may have made a queue: remove or unlink it.
const { throwsArgError, rejectsArgError, optionProperties } = argumentChecks({
  params,
  release: (value) => {
    if (value instanceof MessageQueue) {
      value.remove();
      return true;
    }
    if (value instanceof PosixQueue) {
      value.close();
      PosixQueue.unlink(value.name);
      return true;
    }
    return false;
  },
});

let scratch: ReturnType<typeof tempDir>;
before(() => {
  scratch = tempDir('msg-validation-');
});
after(() => scratch[Symbol.dispose]());

/** Neither a number nor a bigint (undefined included only where it is not the default). */
const notTypeLike = (undefinedIsDefault: boolean) =>
  anything.filter((v) => typeof v !== 'number' && typeof v !== 'bigint' && !(undefinedIsDefault && v === undefined));
/** Bigints outside [min, max]. */
const bigintsOutside = (min: bigint, max: bigint) =>
  fc.oneof(
    fc.bigInt({ min: max + 1n, max: max + 2n ** 70n }),
    fc.bigInt({ min: min - 2n ** 70n, max: min - 1n }),
    fc.constantFrom(min - 1n, max + 1n),
  );

/** Numbers that are not safe integers: fractions, NaN, ±Infinity, ±2**53 and beyond. */
const notSafeInteger = fc
  .oneof(fc.constantFrom(NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), 2 ** 63, 0.5, -1.5), fc.double())
  .filter((x) => !Number.isSafeInteger(x));

const selectorSlots: Slot[] = [
  { key: 'type', kind: 'type', values: notTypeLike(true), detail: 'must be of type number or bigint' },
  { key: 'type', kind: 'range', values: notSafeInteger, note: 'a number out of range' },
  { key: 'type', kind: 'range', values: bigintsOutside(-(2n ** 63n), LONG_MAX), note: 'a bigint beyond a C long' },
  ...booleanSlots('except', 'noError', 'nowait'),
  ...integerSlots('maxSize', 1, 2 ** 30),
];

describe('MessageQueue arguments', () => {
  let removed: MessageQueue;
  before(() => {
    removed = MessageQueue.get(IPC_PRIVATE, { create: true });
    removed.remove();
  });
  expectNoSideEffects(() => scratch.path);

  test('get(key): a key of the wrong type or beyond 32 bits', () => {
    fc.assert(
      fc.property(
        anything.filter((v) => typeof v !== 'number'),
        (v) => throwsArgError(() => MessageQueue.get(v as never), 'type', 'key'),
      ),
      params,
    );
    fc.assert(
      fc.property(notIntegerIn(-(2 ** 31), 2 ** 32 - 1), (v) =>
        throwsArgError(() => MessageQueue.get(v), 'range', 'key'),
      ),
      params,
    );
  });

  optionProperties('get()', 'sync', (options) => MessageQueue.get(IPC_PRIVATE, options as never), [
    ...booleanSlots('create', 'exclusive'),
    ...integerSlots('mode', 0, 0o777),
  ]);

  test('send(type, data): a type that is no positive C long, data that is no bytes', async () => {
    const badTypes: Array<[fc.Arbitrary<unknown>, 'type' | 'range']> = [
      [notTypeLike(false), 'type'],
      [notIntegerIn(1, MAX_SAFE), 'range'],
      [bigintsOutside(1n, LONG_MAX), 'range'],
    ];
    for (const [values, kind] of badTypes) {
      fc.assert(
        fc.property(values, (v) => throwsArgError(() => removed.sendSync(v as never, 'x'), kind, 'type')),
        params,
      );
      await fc.assert(
        fc.asyncProperty(values, (v) => rejectsArgError(() => removed.send(v as never, 'x'), kind, 'type')),
        params,
      );
    }
    fc.assert(
      fc.property(notBytes, (v) => throwsArgError(() => removed.sendSync(1, v as never), 'type', 'data')),
      params,
    );
    await fc.assert(
      fc.asyncProperty(notBytes, (v) => rejectsArgError(() => removed.send(1, v as never), 'type', 'data')),
      params,
    );
  });

  optionProperties('send()', 'async', (options) => removed.send(1, 'x', options as never), [
    signalSlot,
    ...timeoutSlots,
    ...booleanSlots('nowait', 'ref'),
  ]);
  optionProperties('sendSync()', 'sync', (options) => removed.sendSync(1, 'x', options as never), [
    ...timeoutSlots,
    ...booleanSlots('nowait'),
  ]);
  optionProperties('receive()', 'async', (options) => removed.receive(options as never), [
    signalSlot,
    ...timeoutSlots,
    ...selectorSlots,
  ]);
  optionProperties('receiveSync()', 'sync', (options) => removed.receiveSync(options as never), [
    ...timeoutSlots,
    ...selectorSlots,
  ]);

  test('except needs a positive type; IPC_PRIVATE needs create; set() values', async () => {
    for (const type of [0, -3, -1n]) {
      throwsArgError(
        () => removed.receiveSync({ type, except: true }),
        'value',
        'options.except',
        'needs a positive options.type',
      );
      await rejectsArgError(() => removed.receive({ type, except: true }), 'value', 'options.except');
    }
    throwsArgError(() => MessageQueue.get(IPC_PRIVATE), 'value', 'options.create', 'must be true with IPC_PRIVATE');
    fc.assert(
      fc.property(
        notOptions.filter((v) => v !== undefined),
        (v) => throwsArgError(() => removed.set(v as never), 'type', 'changes'),
      ),
      params,
    );
    fc.assert(
      fc.property(notIntegerIn(0, 2 ** 31 - 1), (v) =>
        throwsArgError(() => removed.set({ maxBytes: v }), 'range', 'changes.maxBytes'),
      ),
      params,
    );
    fc.assert(
      fc.property(notIntegerIn(0, 0o777), (v) =>
        throwsArgError(() => removed.set({ mode: v }), 'range', 'changes.mode'),
      ),
      params,
    );
  });

  test('exact messages for types', () => {
    assert.throws(() => removed.sendSync(0, 'x'), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
      message: `The value of "type" is out of range. It must be >= 1 && <= ${MAX_SAFE} (larger magnitudes as a bigint, up to ${LONG_MAX}n). Received 0`,
    });
    assert.throws(() => removed.sendSync(2n ** 63n, 'x'), {
      code: 'ERR_OUT_OF_RANGE',
      message: `The value of "type" is out of range. It must be >= 1n && <= ${LONG_MAX}n (a C long). Received ${2n ** 63n}n`,
    });
    assert.throws(() => removed.sendSync('1' as never, 'x'), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: /The "type" argument must be of type number or bigint/,
    });
  });
});

describe('PosixQueue arguments', () => {
  let closed: PosixQueue;
  const missing = `/${uniqueIpcName('validation')}`;
  before(() => {
    const name = `${missing}-fixture`;
    closed = PosixQueue.open(name, { create: true, exclusive: true, messageSize: 16, maxMessages: 2 });
    PosixQueue.unlink(name);
    closed.close();
  });
  expectNoSideEffects(() => scratch.path);

  test('open(name): a name of the wrong type or shape', () => {
    fc.assert(
      fc.property(
        anything.filter((v) => typeof v !== 'string'),
        (v) => throwsArgError(() => PosixQueue.open(v as never), 'type', 'name'),
      ),
      params,
    );
    for (const name of ['', '/', 'a/b', '//a', '.', '..', 'x\0y', `/${'n'.repeat(256)}`])
      throwsArgError(() => PosixQueue.open(name), 'value', 'name');
  });

  optionProperties('open()', 'sync', (options) => PosixQueue.open(missing, options as never), [
    ...booleanSlots('create', 'exclusive', 'readOnly', 'writeOnly'),
    ...integerSlots('mode', 0, 0o7777),
    ...integerSlots('maxMessages', 1, 2 ** 31 - 1),
    ...integerSlots('messageSize', 1, 2 ** 31 - 1),
  ]);

  test('open(): attributes without create, readOnly with writeOnly', () => {
    throwsArgError(
      () => PosixQueue.open(missing, { maxMessages: 2 }),
      'value',
      'options.create',
      'must be true when maxMessages or messageSize is given',
    );
    throwsArgError(() => PosixQueue.open(missing, { readOnly: true, writeOnly: true }), 'value', 'options.writeOnly');
  });

  test('send(data): data that is no bytes', async () => {
    fc.assert(
      fc.property(notBytes, (v) => throwsArgError(() => closed.sendSync(v as never), 'type', 'data')),
      params,
    );
    await fc.assert(
      fc.asyncProperty(notBytes, (v) => rejectsArgError(() => closed.send(v as never), 'type', 'data')),
      params,
    );
  });

  const priority = integerSlots('priority', 0, 32767);
  optionProperties('send()', 'async', (options) => closed.send('x', options as never), [
    signalSlot,
    ...timeoutSlots,
    ...booleanSlots('nowait'),
    ...priority,
  ]);
  optionProperties('sendSync()', 'sync', (options) => closed.sendSync('x', options as never), [
    ...timeoutSlots,
    ...booleanSlots('nowait'),
    ...priority,
  ]);
  optionProperties('receive()', 'async', (options) => closed.receive(options as never), [
    signalSlot,
    ...timeoutSlots,
    ...booleanSlots('nowait'),
  ]);
  optionProperties('receiveSync()', 'sync', (options) => closed.receiveSync(options as never), [
    ...timeoutSlots,
    ...booleanSlots('nowait'),
  ]);
});

describe('MessageQueue: fromId(), messages(), set() owners', () => {
  let removed: MessageQueue;
  before(() => {
    removed = MessageQueue.get(IPC_PRIVATE, { create: true });
    removed.remove();
  });
  expectNoSideEffects(() => scratch.path);

  test('fromId(id): of the wrong type (including undefined), out of range or not an integer', () => {
    fc.assert(
      fc.property(notNumber(false), (v) =>
        throwsArgError(() => MessageQueue.fromId(v as never), 'type', 'id', 'must be of type number'),
      ),
      params,
    );
    fc.assert(
      fc.property(notIntegerIn(0, MAX_INT32), (v) =>
        throwsArgError(() => MessageQueue.fromId(v), 'range', 'id', rangeDetail(0, MAX_INT32)),
      ),
      params,
    );
  });

  test('data longer than msgmax (a string, a view, an ArrayBuffer)', async () => {
    const msgmax = Number(fs.readFileSync('/proc/sys/kernel/msgmax', 'utf8'));
    const tooLong = fc
      .integer({ min: msgmax + 1, max: 16 * msgmax })
      .chain((n) => fc.constantFrom<unknown>('x'.repeat(n), new Uint8Array(n), new ArrayBuffer(n)));
    fc.assert(
      fc.property(tooLong, (v) =>
        throwsArgError(() => removed.sendSync(1, v as never), 'range', 'data.byteLength', "the system's msgmax"),
      ),
      params,
    );
    await fc.assert(
      fc.asyncProperty(tooLong, (v) =>
        rejectsArgError(() => removed.send(1, v as never), 'range', 'data.byteLength', "the system's msgmax"),
      ),
      params,
    );
  });

  // On a removed queue a messages() that slipped through validation ends at once (done), which
  // rejectsArgError reports as a resolution.
  optionProperties('messages().next()', 'async', (options) => removed.messages(options as never).next(), [
    signalSlot,
    ...selectorSlots,
    ...booleanSlots('ref'),
  ]);

  const MAX_UID = 2 ** 32 - 2;
  optionProperties(
    'set()',
    'sync',
    (changes) => removed.set(changes as never),
    [
      ...integerSlots('uid', 0, MAX_UID),
      ...integerSlots('gid', 0, MAX_UID),
      ...integerSlots('mode', 0, 0o777),
      ...integerSlots('maxBytes', 0, MAX_INT32),
    ],
    'changes',
    anything.filter((v) => !isObject(v)),
  );
});

describe('PosixQueue: names, unlink(), messages(), setNonBlocking()', () => {
  const PREFIX = `unipc-mqp-${RUN}-${process.pid}-${randomBytes(4).toString('hex')}-`;
  let open: PosixQueue;
  let closed: PosixQueue;
  const fixture = `/${PREFIX}fixture`;
  before(() => {
    open = PosixQueue.open(fixture, { create: true, exclusive: true, messageSize: 16, maxMessages: 2 });
    closed = PosixQueue.open(fixture);
    closed.close();
  });
  after(() => {
    open.close();
    PosixQueue.unlink(fixture);
  });
  expectNoSideEffects(() => scratch.path, {
    unchanged: [{ read: () => open.attributes(), message: 'an invalid call changed the queue' }],
  });

  // Whatever part of a bad name the kernel might still accept starts with PREFIX (this process's own).
  const badName = badIpcNames(PREFIX);
  const nameDetail =
    /must be a name with one optional leading '\/' and no other '\/' or null bytes|must be at most 255 bytes long|well-formed/;

  test("open(name) and unlink(name): not a string; empty, '/', '//x', 'a/b', '.', '..', a NUL byte, more than 255 bytes", () => {
    fc.assert(
      fc.property(notString(false), (v) =>
        throwsArgError(() => PosixQueue.unlink(v as never), 'type', 'name', 'must be of type string'),
      ),
      params,
    );
    fc.assert(
      fc.property(badName, (name) =>
        throwsArgError(() => PosixQueue.open(name, { create: true, exclusive: true }), 'value', 'name', nameDetail),
      ),
      params,
    );
    fc.assert(
      fc.property(badName, (name) => throwsArgError(() => PosixQueue.unlink(name), 'value', 'name', nameDetail)),
      params,
    );
  });

  // On the open, empty queue a messages() that slipped through would wait (rejectsArgError's deadline
  // reports it); on the closed one it would end at once.
  optionProperties('messages().next()', 'async', (options) => open.messages(options as never).next(), [
    signalSlot,
    ...timeoutSlots,
    ...booleanSlots('ref'),
  ]);
  optionProperties(
    'messages().next() of a closed queue',
    'async',
    (options) => closed.messages(options as never).next(),
    [signalSlot],
  );

  test("data longer than the queue's messageSize (a string, a view, an ArrayBuffer)", async () => {
    const tooLong = fc
      .integer({ min: open.messageSize + 1, max: 1 << 20 })
      .chain((n) => fc.constantFrom<unknown>('x'.repeat(n), new Uint8Array(n), new ArrayBuffer(n)));
    fc.assert(
      fc.property(tooLong, (v) =>
        throwsArgError(() => open.sendSync(v as never), 'range', 'data.byteLength', "the queue's messageSize"),
      ),
      params,
    );
    await fc.assert(
      fc.asyncProperty(tooLong, (v) =>
        rejectsArgError(() => open.send(v as never), 'range', 'data.byteLength', "the queue's messageSize"),
      ),
      params,
    );
  });

  test('setNonBlocking(nonBlocking): not a boolean (undefined means true)', () => {
    fc.assert(
      fc.property(notBoolean, (v) =>
        throwsArgError(() => open.setNonBlocking(v as never), 'type', 'nonBlocking', 'must be of type boolean'),
      ),
      params,
    );
    assert.equal(open.attributes().nonBlocking, false);
  });
});
