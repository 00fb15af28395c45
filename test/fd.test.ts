// What every descriptor-owning object shares (src/fd.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { type IpcError, mkfifo, PipeReader } from '../src/index.js';
import { tempDir } from './helpers.js';

// <fcntl.h> on x86, Arm and RISC-V; Node's fs.constants lacks it. fcntl(F_SETFL) on such a descriptor
// fails with EBADF while F_GETFL, fstat and F_SETFD succeed: a real fcntl failure on an adopted end.
const O_PATH = 0o10000000;

describe('O_NONBLOCK on a descriptor', () => {
  test('a failing fcntl(F_SETFL) fails the wait that needed it, and is tried again by the next one', async () => {
    using dir = tempDir();
    const path = dir.file('fifo');
    mkfifo(path);
    const fd = fs.openSync(path, O_PATH);
    using reader = PipeReader.fromFd(fd);
    const fcntlFailed = (error: IpcError) => {
      assert.equal(error.code, 'EBADF');
      assert.equal(error.syscall, 'fcntl');
      assert.equal(error.fd, fd);
      return true;
    };
    await assert.rejects(reader.read({ timeout: 100 }), fcntlFailed);
    // Not recorded as non-blocking: each later wait with a deadline asks the kernel again.
    await assert.rejects(reader.read({ timeout: 100 }), fcntlFailed);
    assert.throws(() => reader.readSync({ timeout: 100 }), fcntlFailed);
  });
});
