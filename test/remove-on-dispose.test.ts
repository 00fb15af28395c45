// Owner handles: { removeOnDispose: true } makes close() (POSIX objects, the Channel) or [Symbol.dispose]
// (System V objects) remove the object too — only the object the handle holds, never a successor that
// another process made under the same name.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import {
  Channel,
  IPC_PRIVATE,
  MessageQueue,
  NamedSemaphore,
  PosixQueue,
  SemaphoreSet,
  SharedMemory,
  SysvSharedMemory,
  spawn,
} from '../src/index.js';
import { finished, quietly, testKey, uniqueIpcName } from './helpers.js';

const exists = {
  shm: (name: string) => fs.existsSync(`/dev/shm/${name}`),
  semaphore: (name: string) => fs.existsSync(`/dev/shm/sem.${name}`),
  queue: (name: string) => {
    try {
      PosixQueue.open(name).close();
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return false;
      throw error;
    }
  },
};

interface PosixCase {
  kind: string;
  open: (name: string, owner: boolean) => Disposable & { close(): void; readonly removeOnDispose: boolean };
  unlink: (name: string) => void;
  exists: (name: string) => boolean;
}

const posixCases: PosixCase[] = [
  {
    kind: 'SharedMemory',
    open: (name, owner) => SharedMemory.open(name, { create: true, size: 4096, removeOnDispose: owner }),
    unlink: (name) => SharedMemory.unlink(name),
    exists: exists.shm,
  },
  {
    kind: 'NamedSemaphore',
    open: (name, owner) => NamedSemaphore.open(name, { create: true, initial: 1, removeOnDispose: owner }),
    unlink: (name) => NamedSemaphore.unlink(name),
    exists: exists.semaphore,
  },
  {
    kind: 'PosixQueue',
    open: (name, owner) =>
      PosixQueue.open(name, { create: true, maxMessages: 2, messageSize: 16, removeOnDispose: owner }),
    unlink: (name) => PosixQueue.unlink(name),
    exists: exists.queue,
  },
  {
    kind: 'Channel',
    open: (name, owner) => Channel.create({ name, capacity: 4096, removeOnDispose: owner }),
    unlink: (name) => Channel.unlink(name),
    exists: exists.shm,
  },
];

describe('removeOnDispose: POSIX objects and the Channel', () => {
  for (const c of posixCases) {
    test(`${c.kind}: using unlinks the name; close() without the option leaves it`, () => {
      const name = uniqueIpcName('owner');
      try {
        {
          using handle = c.open(name, true);
          assert.equal(handle.removeOnDispose, true);
          assert.ok(c.exists(name));
        }
        assert.equal(c.exists(name), false, 'the owner unlinked the name');
        const plain = c.open(name, false);
        assert.equal(plain.removeOnDispose, false);
        plain.close();
        assert.ok(c.exists(name), 'a handle without the option leaves the object');
      } finally {
        quietly(() => c.unlink(name));
      }
    });

    test(`${c.kind}: an owner leaves alone what another made under its name, and a name gone already`, () => {
      const name = uniqueIpcName('owner');
      try {
        const owner = c.open(name, true);
        c.unlink(name);
        const successor = c.open(name, false); // what another process made meanwhile
        successor.close();
        owner.close();
        assert.ok(c.exists(name), "the successor keeps its name: it is not the owner's object");
        c.unlink(name);
        const again = c.open(name, true);
        c.unlink(name);
        again.close(); // nothing to unlink: no error
        owner.close(); // twice: nothing
        assert.equal(c.exists(name), false);
      } finally {
        quietly(() => c.unlink(name));
      }
    });
  }

  test('validation: a boolean, and the Channel needs a name', () => {
    const name = uniqueIpcName('owner');
    for (const open of [
      () => SharedMemory.open(name, { create: true, removeOnDispose: 1 as unknown as boolean }),
      () => NamedSemaphore.open(name, { create: true, removeOnDispose: 'yes' as unknown as boolean }),
      () => PosixQueue.open(name, { create: true, removeOnDispose: null as unknown as boolean }),
      () => Channel.create({ name, removeOnDispose: 0 as unknown as boolean }),
      () => MessageQueue.get(IPC_PRIVATE, { create: true, removeOnDispose: 1 as unknown as boolean }),
      () => SemaphoreSet.get(IPC_PRIVATE, { create: true, count: 1, removeOnDispose: 1 as unknown as boolean }),
      () => SysvSharedMemory.get(IPC_PRIVATE, { create: true, size: 4096, removeOnDispose: 1 as unknown as boolean }),
    ]) {
      assert.throws(open, { code: 'ERR_INVALID_ARG_TYPE' });
    }
    assert.equal(exists.shm(name) || exists.semaphore(name) || exists.queue(name), false, 'nothing was made');
    assert.throws(() => Channel.create({ removeOnDispose: true }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /needs a name/,
    });
  });

  test('spawn() hands an owner over as close() does: the child keeps the object, the name goes', async () => {
    const name = uniqueIpcName('owner');
    try {
      const memory = SharedMemory.open(name, { create: true, size: 4096, removeOnDispose: true });
      const mapping = memory.map();
      new Uint8Array(mapping.buffer).set(Buffer.from('kept'));
      mapping.close();
      const child = spawn(
        process.execPath,
        [
          '-e',
          "const fs = require('node:fs'); const b = Buffer.alloc(4); fs.readSync(3, b, 0, 4, 0); process.stdout.write(b)",
        ],
        { fds: [memory], stdio: ['ignore', 'pipe', 'inherit'] },
      );
      assert.equal(memory.closed, true);
      assert.equal(exists.shm(name), false, 'the name went with the handle');
      const { code, stdout } = await finished(child);
      assert.equal(code, 0);
      assert.equal(stdout, 'kept', 'the child still reads the object through its descriptor');
    } finally {
      quietly(() => SharedMemory.unlink(name));
    }
  });
});

describe('removeOnDispose: System V objects', () => {
  const sysvCases = [
    {
      kind: 'MessageQueue',
      get: (key: number, owner: boolean) => MessageQueue.get(key, { create: true, removeOnDispose: owner }),
      fromId: (id: number) => MessageQueue.fromId(id),
    },
    {
      kind: 'SemaphoreSet',
      get: (key: number, owner: boolean) => SemaphoreSet.get(key, { create: true, count: 2, removeOnDispose: owner }),
      fromId: (id: number) => SemaphoreSet.fromId(id),
    },
    {
      kind: 'SysvSharedMemory',
      get: (key: number, owner: boolean) =>
        SysvSharedMemory.get(key, { create: true, size: 4096, removeOnDispose: owner }),
      fromId: (id: number) => SysvSharedMemory.fromId(id),
    },
  ];
  for (const c of sysvCases) {
    test(`${c.kind}: using removes it, by key or private; other handles' dispose does nothing`, () => {
      const key = testKey();
      let id = -1;
      try {
        {
          using owner = c.get(key, true);
          id = owner.id;
          assert.equal(owner.removeOnDispose, true);
          using other = c.get(key, false); // the same object, not its owner
          assert.equal(other.id, id);
          assert.equal(other.removeOnDispose, false);
        }
        assert.throws(() => c.fromId(id), { code: 'EINVAL' }, 'the owner removed it');
        {
          using owner = c.get(IPC_PRIVATE, true);
          id = owner.id;
        }
        assert.throws(() => c.fromId(id), { code: 'EINVAL' });
      } finally {
        quietly(() => c.fromId(id).remove());
      }
    });

    test(`${c.kind}: an owner whose object someone removed already disposes without error`, () => {
      const owner = c.get(IPC_PRIVATE, true);
      owner.remove();
      owner[Symbol.dispose]();
      owner[Symbol.dispose]();
      assert.throws(() => c.fromId(owner.id), { code: 'EINVAL' });
    });
  }

  test('a segment removed by its owner stays readable through an attachment until detached', () => {
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { create: true, size: 4096, removeOnDispose: true });
    const mapping = segment.attach();
    try {
      segment[Symbol.dispose]();
      new Uint8Array(mapping.buffer)[0] = 7;
      assert.equal(new Uint8Array(mapping.buffer)[0], 7);
      assert.equal(segment.stat().markedForRemoval, true);
    } finally {
      mapping.close();
    }
    assert.throws(() => segment.stat(), { code: 'EINVAL' });
  });
});
