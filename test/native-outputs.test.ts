// Arrays the TypeScript layer hands the native calls for their results: one of the wrong length is a bug
// in unipc, so it must throw a TypeError naming the call and the length needed, never return an errno
// that would read as the kernel's answer.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IPC_PRIVATE, MessageQueue, PosixQueue, SemaphoreSet, SysvSharedMemory } from '../src/index.js';
import { constants, native } from '../src/native.js';
import { uniqueIpcName } from './helpers.js';

function internalError(call: string, needed: string) {
  return (error: Error & { code?: string }) => {
    assert.ok(error instanceof TypeError, `${error}`);
    assert.equal(error.code, 'ERR_INVALID_ARG_VALUE');
    assert.ok(error.message.includes(call), error.message);
    assert.ok(error.message.includes(needed), error.message);
    return true;
  };
}

describe('a native output array too short for its fields is a TypeError, not EINVAL', () => {
  test('msgctlStat', () => {
    const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
    try {
      const fields = constants.MSGCTL_STAT_FIELDS;
      assert.throws(
        () => native.msgctlStat(queue.id, new Float64Array(fields - 1)),
        internalError('msgctlStat', `at least ${fields} elements`),
      );
      assert.equal(native.msgctlStat(queue.id, new Float64Array(fields)), 0);
    } finally {
      queue.remove();
    }
  });

  test('semctlStat', () => {
    const set = SemaphoreSet.get(IPC_PRIVATE, { count: 2, create: true });
    try {
      const fields = constants.SEMCTL_STAT_FIELDS;
      assert.throws(
        () => native.semctlStat(set.id, new Float64Array(3)),
        internalError('semctlStat', `at least ${fields} elements`),
      );
      assert.equal(native.semctlStat(set.id, new Float64Array(fields)), 0);
    } finally {
      set.remove();
    }
  });

  test('shmctlStat', () => {
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: 4096, create: true });
    try {
      const fields = constants.SHMCTL_STAT_FIELDS;
      assert.throws(
        () => native.shmctlStat(segment.id, new Float64Array(0)),
        internalError('shmctlStat', `at least ${fields} elements`),
      );
      assert.equal(native.shmctlStat(segment.id, new Float64Array(fields)), 0);
    } finally {
      segment.remove();
    }
  });

  test('mqGetattr', () => {
    const name = `/${uniqueIpcName('mq')}`;
    using queue = PosixQueue.open(name, { create: true, exclusive: true });
    try {
      assert.throws(
        () => native.mqGetattr(queue.fd, new Float64Array(3)),
        internalError('mqGetattr', 'at least 4 elements'),
      );
      assert.equal(native.mqGetattr(queue.fd, new Float64Array(4)), 0);
    } finally {
      PosixQueue.unlink(name);
    }
  });

  test('semctlSetAll with other than one value per semaphore (an input SETALL reads in full)', () => {
    const set = SemaphoreSet.get(IPC_PRIVATE, { count: 3, create: true });
    try {
      for (const length of [2, 4]) {
        assert.throws(
          () => native.semctlSetAll(set.id, new Uint16Array(length).fill(7)),
          internalError('semctlSetAll', 'one value per semaphore (3)'),
        );
      }
      assert.deepEqual(set.getAll(), [0, 0, 0], 'nothing was set');
      assert.equal(native.semctlSetAll(set.id, Uint16Array.of(1, 2, 3)), 0);
      assert.deepEqual(set.getAll(), [1, 2, 3]);
    } finally {
      set.remove();
    }
  });
});
