// MessageQueue.set(): the errors of raising maxBytes beyond what this process may.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { IPC_PRIVATE, MessageQueue } from '../src/index.js';
import { root, runTs } from './helpers.js';

const peer = path.join(root, 'test', 'peers', 'msg-set.ts');
// The peer runs without CAP_SYS_RESOURCE (which root has), so that a maxBytes above msgmnb is EPERM; and,
// asked to, with an empty tmpfs over /proc/sys/kernel (in a mount namespace of its own), so that msgmnb
// cannot be read.
const SETUP = 'if [ "$0" = hide ]; then mount -t tmpfs unipc-test /proc/sys/kernel || exit 99; fi; exec "$@"';

function runPeer(hideMsgmnb: boolean, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      SETUP,
      hideMsgmnb ? 'hide' : 'keep',
      'setpriv',
      '--bounding-set',
      '-sys_resource',
      ...args,
    ],
    { cwd: root, encoding: 'utf8' },
  );
}

function cannotHideMsgmnb(): string | false {
  if (process.getuid?.() !== 0) return 'needs root for a mount namespace and to drop CAP_SYS_RESOURCE';
  const probe = runPeer(true, ['sh', '-c', 'test ! -e /proc/sys/kernel/msgmnb']);
  return probe.status === 0 ? false : `cannot hide /proc/sys/kernel here: ${probe.stderr.trim() || probe.status}`;
}

describe('MessageQueue.set({ maxBytes }) beyond msgmnb, without CAP_SYS_RESOURCE', { skip: cannotHideMsgmnb() }, () => {
  const raise = (queue: MessageQueue, hideMsgmnb: boolean) => {
    const msgmnb = Number(fs.readFileSync('/proc/sys/kernel/msgmnb', 'utf8'));
    const result = runPeer(hideMsgmnb, [process.execPath, ...runTs(peer), String(queue.id), String(msgmnb + 1)]);
    assert.equal(result.status, 0, result.stderr);
    return { msgmnb, outcome: JSON.parse(result.stdout) };
  };

  test('is IpcError EPERM naming msgmnb and the capability', () => {
    const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
    try {
      const { msgmnb, outcome } = raise(queue, false);
      assert.equal(outcome.ipcError, true);
      assert.equal(outcome.code, 'EPERM');
      assert.equal(outcome.syscall, 'msgctl');
      assert.ok(outcome.message.includes(`msgmnb (${msgmnb})`), outcome.message);
      assert.ok(outcome.message.includes('CAP_SYS_RESOURCE'), outcome.message);
    } finally {
      queue.remove();
    }
  });

  test("is still the kernel's EPERM, without the limit, when /proc/sys/kernel/msgmnb cannot be read", () => {
    const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
    try {
      const { outcome } = raise(queue, true);
      assert.deepEqual(outcome, {
        ipcError: true,
        code: 'EPERM',
        syscall: 'msgctl',
        message: `EPERM: operation not permitted, msgctl id ${queue.id}`,
      });
    } finally {
      queue.remove();
    }
  });
});
