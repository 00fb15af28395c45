// System V segments opened by id by a user who owns them but may not read them, or who neither owns nor
// may read them: removing and IPC_SET need ownership only, so the kernel's answer must come through.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IPC_PRIVATE, type IpcError, SysvSharedMemory } from '../src/index.js';
import { cannotRunAsNobody, finished, spawnPeer } from './helpers.js';

const NOBODY = 65534;

async function asNobody(id: number) {
  const child = await finished(
    spawnPeer('shm-owner', [String(id), String(NOBODY), String(NOBODY)], {
      uid: NOBODY,
      gid: NOBODY,
      env: { ...process.env, HOME: '/tmp' },
    }),
  );
  assert.equal(child.code, 0, child.stdout);
  return JSON.parse(child.stdout);
}

function removeQuietly(segment: SysvSharedMemory): void {
  try {
    segment.remove();
  } catch (error) {
    if ((error as IpcError).code !== 'EINVAL' && (error as IpcError).code !== 'EIDRM') throw error;
  }
}

describe('SysvSharedMemory.fromId() of a segment this user may not read', { skip: cannotRunAsNobody() }, () => {
  test('its owner opens it (keyless), changes its mode and removes it', async () => {
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: 4096, create: true, mode: 0 });
    try {
      segment.set({ uid: NOBODY, gid: NOBODY, mode: 0 });
      assert.deepEqual(await asNobody(segment.id), { byId: 'ok', key: IPC_PRIVATE, set: 'ok', remove: 'ok' });
      assert.throws(() => segment.stat(), { code: 'EINVAL', syscall: 'shmctl' }, 'the segment is gone');
    } finally {
      removeQuietly(segment);
    }
  });

  test("another user's set() and remove() get the kernel's EPERM, not EACCES", async () => {
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: 4096, create: true, mode: 0 });
    try {
      assert.deepEqual(await asNobody(segment.id), { byId: 'ok', key: IPC_PRIVATE, set: 'EPERM', remove: 'EPERM' });
      assert.equal(segment.stat().mode, 0, 'unchanged, and still there');
    } finally {
      removeQuietly(segment);
    }
  });
});
