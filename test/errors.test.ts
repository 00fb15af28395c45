import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import fc from 'fast-check';
import { check } from '../src/errors.js';
import { AbortError, errnoName, IpcError } from '../src/index.js';
import { argumentChecks, notIntegerIn, notNumber, rangeDetail } from './property.js';

test('IpcError carries code, positive errno, syscall and the path, worded like fs errors', () => {
  const error = new IpcError(os.constants.errno.EEXIST, 'mkfifo', { path: '/tmp/q' });
  assert.ok(error instanceof Error);
  assert.equal(error.name, 'IpcError');
  assert.equal(error.code, 'EEXIST');
  assert.equal(error.errno, 17);
  assert.equal(error.syscall, 'mkfifo');
  assert.equal(error.path, '/tmp/q');
  assert.equal(error.message, "EEXIST: file already exists, mkfifo '/tmp/q'");
  assert.match(String(error), /^IpcError: EEXIST: file already exists, mkfifo '\/tmp\/q'/);
  assert.deepEqual(Object.keys(error).sort(), ['code', 'errno', 'path', 'syscall']);
});

test('IpcError names System V keys, ids and POSIX object names; name stays IpcError', () => {
  const byKey = new IpcError(os.constants.errno.ENOENT, 'msgget', { key: 0x1234 });
  assert.equal(byKey.message, 'ENOENT: no such file or directory, msgget key 0x00001234');
  assert.equal(byKey.key, 0x1234);
  const removed = new IpcError(os.constants.errno.EIDRM, 'msgrcv', { id: 7 });
  assert.equal(removed.message, 'EIDRM: identifier removed, msgrcv id 7');
  const named = new IpcError(os.constants.errno.EACCES, 'shm_open', { objectName: '/seg' });
  assert.equal(named.message, "EACCES: permission denied, shm_open '/seg'");
  assert.equal(named.objectName, '/seg');
  assert.equal(named.name, 'IpcError');
});

test('errnoName and check()', () => {
  assert.equal(errnoName(43), 'EIDRM');
  assert.equal(errnoName(130), 'EOWNERDEAD');
  assert.equal(check(5, 'read'), 5);
  assert.throws(() => check(-os.constants.errno.EAGAIN, 'msgsnd', { key: 1 }), {
    name: 'IpcError',
    code: 'EAGAIN',
    message: 'EAGAIN: resource temporarily unavailable, msgsnd key 0x00000001',
  });
});

test("AbortError has the shape of Node's own", () => {
  const reason = new Error('why');
  const error = new AbortError(undefined, { cause: reason });
  assert.equal(error.name, 'AbortError');
  assert.equal(error.code, 'ABORT_ERR');
  assert.equal(error.message, 'The operation was aborted');
  assert.equal(error.cause, reason);
});

test('errnoName(errno) refuses what is no positive errno value, before naming anything', () => {
  const { throwsArgError } = argumentChecks({ params: { numRuns: 100, endOnFailure: true } });
  fc.assert(
    fc.property(notNumber(false), (v) =>
      throwsArgError(() => errnoName(v as never), 'type', 'errno', 'must be of type number'),
    ),
    { numRuns: 100 },
  );
  fc.assert(
    fc.property(notIntegerIn(1, 2 ** 31 - 1), (v) =>
      throwsArgError(() => errnoName(v), 'range', 'errno', rangeDetail(1, 2 ** 31 - 1)),
    ),
    { numRuns: 100 },
  );
  // Node's fs errors carry the negated value: that is a RangeError, not 'E-2'.
  assert.throws(() => errnoName(-2), {
    name: 'RangeError',
    code: 'ERR_OUT_OF_RANGE',
    message: 'The value of "errno" is out of range. It must be >= 1 && <= 2147483647. Received -2',
  });
  assert.equal(errnoName(4000), 'E4000');
});
