// Property tests of argument validation for the shared-memory locks: Mutex, MutexGuard, Semaphore and
// Condition. Invalid values fail with Node's error shape naming the argument, before any lock word is
// touched or any futex call made: after each test the words read as before and no wait is pending.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { Condition, type Mapping, MemoryFile, Mutex, mapAnonymous, Semaphore } from '../src/index.js';
import { tempDir } from './helpers.js';
import {
  anything,
  argumentChecks,
  booleanSlots,
  expectNoSideEffects,
  MAX_INT32,
  MAX_SAFE,
  notIntegerIn,
  notNumber,
  notOptions,
  signalSlot,
  timeoutSlots,
} from './property.js';

const params = { numRuns: 50, endOnFailure: true };
const { throwsArgError, throwsIpcError, rejectsArgError, optionProperties } = argumentChecks({ params });

const mapping = mapAnonymous(4096, { shared: true });
const words = new Int32Array(mapping.buffer);
const scratch = tempDir('lock-prop-');
after(() => {
  mapping.close();
  scratch[Symbol.dispose]();
});

const notMapping = anything.filter((v) => !(v && typeof v === 'object' && 'buffer' in v && 'share' in v));
const notFunction = anything.filter((v) => typeof v !== 'function');
const kinds = [
  ['Mutex', (m: unknown, o?: unknown) => new Mutex(m as Mapping, o as number), Mutex.SIZE],
  ['Semaphore', (m: unknown, o?: unknown) => new Semaphore(m as Mapping, o as number), Semaphore.SIZE],
  ['Condition', (m: unknown, o?: unknown) => new Condition(m as Mapping, o as number), Condition.SIZE],
] as const;

describe('lock arguments', () => {
  expectNoSideEffects(() => scratch.path, {
    unchanged: [{ read: () => [...words], message: 'an invalid call changed a lock word' }],
  });

  for (const [name, make, size] of kinds) {
    test(`new ${name}(): a mapping that is no Mapping`, () => {
      fc.assert(
        fc.property(notMapping, (v) => throwsArgError(() => make(v, 0), 'type', 'mapping')),
        params,
      );
    });
    test(`new ${name}(): an offset that is no number, no safe integer ≥ 0, not 4-aligned or too far`, () => {
      fc.assert(
        fc.property(notNumber(), (v) => throwsArgError(() => make(mapping, v), 'type', 'offset')),
        params,
      );
      fc.assert(
        fc.property(notIntegerIn(0, MAX_SAFE), (v) => throwsArgError(() => make(mapping, v), 'range', 'offset')),
        params,
      );
      const misaligned = fc.integer({ min: 0, max: 4096 }).filter((v) => v % 4 !== 0);
      fc.assert(
        fc.property(misaligned, (v) => throwsArgError(() => make(mapping, v), 'value', 'offset', /multiple of 4/)),
        params,
      );
      const tooFar = fc.integer({ min: 4096 - size + 1, max: MAX_SAFE }).map((v) => v - (v % 4));
      fc.assert(
        fc.property(
          tooFar.filter((v) => v + size > 4096),
          (v) => throwsArgError(() => make(mapping, v), 'value', 'offset', /no room/),
        ),
        params,
      );
    });
  }

  const mutex = new Mutex(mapping, 0);
  optionProperties('Mutex.lockSync()', 'sync', (o) => mutex.lockSync(o as never), timeoutSlots);
  optionProperties('Mutex.lock()', 'async', (o) => mutex.lock(o as never), [
    ...timeoutSlots,
    signalSlot,
    ...booleanSlots('ref'),
  ]);
  optionProperties('Mutex.withLockSync()', 'sync', (o) => mutex.withLockSync(() => 0, o as never), timeoutSlots);
  optionProperties('Mutex.withLock()', 'async', (o) => mutex.withLock(() => 0, o as never), [
    ...timeoutSlots,
    signalSlot,
  ]);
  test('Mutex.withLock()/withLockSync(): fn that is no function', async () => {
    fc.assert(
      fc.property(notFunction, (v) => throwsArgError(() => mutex.withLockSync(v as never), 'type', 'fn')),
      params,
    );
    await fc.assert(
      fc.asyncProperty(notFunction, (v) => rejectsArgError(() => mutex.withLock(v as never), 'type', 'fn')),
      params,
    );
  });

  const semaphore = new Semaphore(mapping, 64);
  optionProperties('Semaphore.waitSync()', 'sync', (o) => semaphore.waitSync(o as never), timeoutSlots);
  optionProperties('Semaphore.wait()', 'async', (o) => semaphore.wait(o as never), [
    ...timeoutSlots,
    signalSlot,
    ...booleanSlots('ref'),
  ]);
  test('Semaphore.post(count) and reset(value): counts outside 1…2³¹−1 and 0…2³¹−1', () => {
    fc.assert(
      fc.property(notIntegerIn(1, MAX_INT32), (v) => throwsArgError(() => semaphore.post(v), 'range', 'count')),
      params,
    );
    fc.assert(
      fc.property(notIntegerIn(0, MAX_INT32), (v) => throwsArgError(() => semaphore.reset(v), 'range', 'value')),
      params,
    );
    fc.assert(
      fc.property(notNumber(), (v) => throwsArgError(() => semaphore.post(v as never), 'type', 'count')),
      params,
    );
  });

  const condition = new Condition(mapping, 128);
  test('Condition.wait()/waitSync(): a guard that is no MutexGuard; notify(count) out of range', async () => {
    fc.assert(
      fc.property(anything, (v) => throwsArgError(() => condition.waitSync(v as never), 'type', 'guard')),
      params,
    );
    await fc.assert(
      fc.asyncProperty(anything, (v) => rejectsArgError(() => condition.wait(v as never), 'type', 'guard')),
      params,
    );
    fc.assert(
      fc.property(notIntegerIn(1, MAX_INT32), (v) => throwsArgError(() => condition.notify(v), 'range', 'count')),
      params,
    );
  });
  test('Condition.wait()/waitSync(): invalid options leave the mutex held', async () => {
    const guard = mutex.lockSync();
    try {
      for (const slot of timeoutSlots) {
        fc.assert(
          fc.property(slot.values, (v) =>
            throwsArgError(() => condition.waitSync(guard, { timeout: v as number }), slot.kind, 'options.timeout'),
          ),
          params,
        );
        await fc.assert(
          fc.asyncProperty(slot.values, (v) =>
            rejectsArgError(() => condition.wait(guard, { timeout: v as number }), slot.kind, 'options.timeout'),
          ),
          params,
        );
      }
      for (const slot of [signalSlot, ...booleanSlots('ref')]) {
        await fc.assert(
          fc.asyncProperty(slot.values, (v) =>
            rejectsArgError(() => condition.wait(guard, { [slot.key]: v }), slot.kind, `options.${slot.key}`),
          ),
          params,
        );
      }
      fc.assert(
        fc.property(notOptions, (v) => throwsArgError(() => condition.waitSync(guard, v as never), 'type', 'options')),
        params,
      );
      await fc.assert(
        fc.asyncProperty(notOptions, (v) =>
          rejectsArgError(() => condition.wait(guard, v as never), 'type', 'options'),
        ),
        params,
      );
      assert.equal(guard.held, true);
    } finally {
      guard.unlock();
    }
  });
  test('Condition.wait()/waitSync(): a guard that no longer holds its mutex', async () => {
    const released = mutex.lockSync();
    released.unlock();
    throwsArgError(() => condition.waitSync(released), 'value', 'guard', 'must hold its mutex');
    await rejectsArgError(() => condition.wait(released), 'value', 'guard', 'must hold its mutex');
  });
  test('Semaphore.reset(value), Condition.notify(count): of the wrong type', () => {
    fc.assert(
      fc.property(notNumber(), (v) => throwsArgError(() => semaphore.reset(v as never), 'type', 'value')),
      params,
    );
    fc.assert(
      fc.property(notNumber(), (v) => throwsArgError(() => condition.notify(v as never), 'type', 'count')),
      params,
    );
  });
  test('a closed or read-only mapping: IpcError EBADF, ERR_INVALID_ARG_VALUE naming the mapping', () => {
    const closed = mapAnonymous(4096, { shared: true });
    closed.close();
    const file = MemoryFile.create('lock-prop-readonly', { size: 4096 });
    try {
      using readOnly = file.map({ prot: 'r' });
      for (const [, make] of kinds) {
        throwsIpcError(() => make(closed, 0), 'EBADF');
        throwsArgError(() => make(readOnly, 0), 'value', 'mapping', "must be writable ('rw')");
      }
    } finally {
      file.close();
    }
  });
});
