// kill -9 at random points, shared memory and what guards it: mappings of a memfd, POSIX and System V
// shared memory and a file; System V semaphores with SEM_UNDO; POSIX named semaphores; unipc's robust
// Mutex and its Semaphore. The survivor is this process; it must never wait forever, and what it finds
// must be what docs/reliability.md says a dead peer leaves behind.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe } from 'node:test';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import {
  IPC_PRIVATE,
  type Mapping,
  MemoryFile,
  Mutex,
  type MutexGuard,
  mmap,
  NamedSemaphore,
  Semaphore,
  SemaphoreSet,
  SharedMemory,
  SysvSharedMemory,
} from '../../src/index.js';
import { quietly, tempDir, uniqueIpcName } from '../helpers.js';
import { codeOf, type FaultPeer, faultScenario, type Iteration } from './harness.js';
import { MEMORY_BYTES, record, SLOT_BYTES, SLOTS, slotOf } from './peers/protocol.js';

const KINDS = ['memfd', 'POSIX shm', 'System V shm', 'file'] as const;
type Kind = (typeof KINDS)[number];

interface Memory {
  kind: Kind;
  mapping: Mapping;
  /** How the peer finds it: its target argument, and descriptors. */
  target: string;
  fds: MemoryFile[];
  /** Checks after the peer's death that the object is still there and the peer no longer attached. */
  stillThere(): void;
  [Symbol.dispose](): void;
}

/** The iteration's kind of memory, in turn. */
function memory(it: Iteration): Memory {
  const kind = KINDS[it.index % KINDS.length]!;
  it.note(kind);
  switch (kind) {
    case 'memfd': {
      const file = MemoryFile.create('fault-memory', { size: MEMORY_BYTES });
      const mapping = file.map();
      return {
        kind,
        mapping,
        target: 'fd',
        fds: [file],
        stillThere: () => {},
        [Symbol.dispose]: () => mapping.close(),
      };
    }
    case 'POSIX shm': {
      const name = `/${uniqueIpcName('fault-shm')}`;
      const shm = SharedMemory.open(name, { create: true, exclusive: true, size: MEMORY_BYTES });
      const mapping = shm.map();
      shm.close();
      return {
        kind,
        mapping,
        target: name,
        fds: [],
        stillThere: () => SharedMemory.open(name).close(),
        [Symbol.dispose]: () => {
          quietly(() => SharedMemory.unlink(name), ['ENOENT']);
          mapping.close();
        },
      };
    }
    case 'System V shm': {
      const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: MEMORY_BYTES, create: true });
      const mapping = segment.attach();
      return {
        kind,
        mapping,
        target: `sysv:${segment.id}`,
        fds: [],
        stillThere: () => assert.equal(segment.stat().attachments, 1, 'the dead peer was detached; this process is'),
        [Symbol.dispose]: () => {
          quietly(() => segment.remove());
          mapping.close();
        },
      };
    }
    case 'file': {
      const dir = tempDir();
      const path = dir.file('memory');
      fs.writeFileSync(path, Buffer.alloc(MEMORY_BYTES));
      const mapping = mmap(path, { prot: 'rw' });
      return {
        kind,
        mapping,
        target: `file:${path}`,
        fds: [],
        stillThere: () => assert.equal(fs.statSync(path).size, MEMORY_BYTES),
        [Symbol.dispose]: () => {
          mapping.close();
          dir[Symbol.dispose]();
        },
      };
    }
  }
}

describe('fault: shared memory, a peer killed with SIGKILL at a random point', () => {
  faultScenario(
    'writer killed: every record it published is intact; the memory stays, no signal comes',
    ['data kept'],
    async (it) => {
      using shared = memory(it);
      const peer = it.spawn('memory', 'write', { target: shared.target, fds: shared.fds });
      await it.kill(peer, it.killPoint({ maxCount: 20_000 }));
      const count = new Int32Array(shared.mapping.buffer, 0, 1);
      const published = Atomics.load(count, 0);
      const reported = peer.report.progress;
      it.note(`${published} records published, ${reported} reported`);
      assert.ok(
        published === reported || published === reported + 1,
        `count ${published}, the writer reported ${reported}`,
      );
      // The slot being written when it died may be torn: the published ones before it are whole.
      const bytes = new Uint8Array(shared.mapping.buffer);
      for (let i = Math.max(0, published - SLOTS + 1); i < published; i++) {
        assert.ok(record(i).equals(bytes.subarray(slotOf(i), slotOf(i) + SLOT_BYTES)), `record ${i} of ${published}`);
      }
      shared.stillThere();
      return 'data kept';
    },
  );

  faultScenario('reader killed: nothing happens to the writer', ['no effect'], async (it) => {
    using shared = memory(it);
    const peer = it.spawn('memory', 'read', { target: shared.target, fds: shared.fds });
    const count = new Int32Array(shared.mapping.buffer, 0, 1);
    const bytes = new Uint8Array(shared.mapping.buffer);
    let written = 0;
    const survivor = it.survivor(async () => {
      const goOn = () => !peer.dead || written % 1000 !== 0;
      for (; goOn(); written++) {
        bytes.set(record(written), slotOf(written));
        Atomics.store(count, 0, written + 1);
        if (written % 16 === 0) await yieldToLoop();
      }
      return 'no effect';
    });
    await it.kill(peer, it.killPoint({ maxCount: 200 }), survivor.settled);
    const outcome = await it.settles(survivor.promise, 'the writer');
    shared.stillThere();
    return outcome;
  });
});

/**
 * Takes and gives back a lock or semaphore over and over, in competition with the peer, until the peer
 * is dead and this side has taken it `after` more times: a taking that never returns is the hang.
 */
async function contend(
  it: Iteration,
  peer: FaultPeer,
  take: () => Promise<void>,
  give: () => void,
  after = 3,
): Promise<number> {
  let rounds = 0;
  let sinceDeath = 0;
  while (sinceDeath < after) {
    const dead = peer.dead;
    await take();
    rounds++;
    if (it.random.chance(0.3)) await yieldToLoop();
    give();
    if (dead) sinceDeath++;
    await it.breathe();
  }
  return rounds;
}

describe('fault: semaphores, a holder killed with SIGKILL at a random point', () => {
  faultScenario(
    'System V semaphore, holder killed: SEM_UNDO gives its unit back, so the survivor gets it (EIDRM once removed)',
    ['acquired'],
    async (it) => {
      const set = SemaphoreSet.get(IPC_PRIVATE, { count: 1, create: true });
      try {
        set.post(0); // one unit: a lock
        const peer = it.spawn('sysv-sem', 'hold', { target: String(set.id) });
        const survivor = it.survivor(() =>
          contend(
            it,
            peer,
            () => set.wait(0, { undo: true }),
            () => set.post(0, { undo: true }),
          ),
        );
        await it.kill(peer, it.killPoint({ maxCount: 300 }), survivor.settled);
        const rounds = await it.settles(survivor.promise, 'the survivor');
        it.note(`the peer was holding: ${peer.report.holding}; ${rounds} rounds here`);
        assert.equal(set.get(0), 1, 'the one unit is back: none lost, none made');
        assert.equal(set.waitingForIncrease(0), 0);
        // A wait in the kernel when the set is removed ends with EIDRM.
        assert.ok(set.tryWait(0));
        const waiting = set.wait(0);
        while (set.waitingForIncrease(0) === 0) await yieldToLoop();
        set.remove();
        await assert.rejects(waiting, { code: 'EIDRM' });
        return 'acquired';
      } finally {
        quietly(() => set.remove());
      }
    },
  );

  faultScenario(
    'POSIX named semaphore, holder killed: no undo; a unit it held is lost and the survivor waits until its timeout',
    ['acquired', 'ETIMEDOUT'],
    async (it) => {
      const name = `/${uniqueIpcName('fault-sem')}`;
      const semaphore = NamedSemaphore.open(name, { create: true, exclusive: true, initial: 1 });
      try {
        const peer = it.spawn('named-sem', 'hold', { target: name });
        return await lostUnit(it, peer, {
          take: (timeout) => semaphore.wait({ timeout }),
          give: () => semaphore.post(),
          value: () => semaphore.value,
        });
      } finally {
        semaphore.close();
        NamedSemaphore.unlink(name);
      }
    },
  );

  faultScenario(
    'unipc Semaphore, holder killed: no owner; a unit it held is lost and the survivor waits until its timeout',
    ['acquired', 'ETIMEDOUT'],
    async (it) => {
      const file = MemoryFile.create('fault-semaphore', { size: 4096 });
      using mapping = file.map();
      const semaphore = new Semaphore(mapping, 0);
      semaphore.reset(1);
      const peer = it.spawn('futex-sem', 'hold', { fds: [file] });
      return await lostUnit(it, peer, {
        take: (timeout) => semaphore.wait({ timeout }),
        give: () => semaphore.post(),
        value: () => semaphore.value,
      });
    },
  );
});

/**
 * Contends for a one-unit semaphore without undo until the holder is killed, then checks what is left:
 * never more than the one unit; none if the peer died holding it (reported), and then the survivor's
 * wait ends only by its timeout.
 */
async function lostUnit(
  it: Iteration,
  peer: FaultPeer,
  semaphore: { take(timeout: number): Promise<void>; give(): void; value(): number },
): Promise<string> {
  const survivor = it.survivor(async () => {
    for (;;) {
      try {
        await semaphore.take(100);
      } catch (error) {
        if (codeOf(error) === 'ETIMEDOUT' && !peer.dead) continue;
        if (codeOf(error) === 'ETIMEDOUT') return 'ETIMEDOUT';
        throw error;
      }
      const dead = peer.dead;
      semaphore.give();
      if (dead) return 'acquired';
      await it.breathe();
    }
  });
  await it.kill(peer, it.killPoint({ maxCount: 300 }), survivor.settled);
  const outcome = await it.settles(survivor.promise, 'the survivor');
  const value = semaphore.value();
  it.note(`the peer was holding: ${peer.report.holding}; value ${value}; the survivor got ${outcome}`);
  assert.ok(value <= 1, `value ${value}: a unit was made`);
  if (peer.report.holding) assert.equal(value, 0, 'the dead holder kept its unit');
  assert.equal(outcome === 'acquired', value === 1, 'the survivor got the unit if and only if one was left');
  return outcome;
}

describe('fault: the robust Mutex, a holder killed with SIGKILL at a random point', () => {
  faultScenario(
    'holder killed: the next locker gets the mutex with ownerDied (EOWNERDEAD), repairs, and it works on',
    ['ownerDied', 'acquired'],
    async (it) => {
      const file = MemoryFile.create('fault-mutex', { size: 4096 });
      using mapping = file.map();
      const mutex = new Mutex(mapping, 0);
      const pair = new Int32Array(mapping.buffer, 64, 2); // equal whenever the mutex is free
      const peer = it.spawn('mutex', 'hold', { fds: [file] });
      let ownerDied = false;
      let guard: MutexGuard | undefined;
      const survivor = it.survivor(() =>
        contend(
          it,
          peer,
          async () => {
            guard = peer.dead && it.random.chance(0.5) ? mutex.lockSync() : await mutex.lock();
            if (guard.ownerDied) {
              assert.ok(peer.killed, 'ownerDied while the holder lives');
              ownerDied = true;
              it.note(`ownerDied with a = ${pair[0]}, b = ${pair[1]}`);
              pair[1] = pair[0]!;
              guard.markConsistent();
            }
            assert.equal(pair[0], pair[1], 'the mutex was free with the data half-updated, without ownerDied');
            pair[0] = pair[0]! + 1;
          },
          () => {
            pair[1] = pair[1]! + 1;
            guard!.unlock();
          },
        ),
      );
      await it.kill(peer, it.killPoint({ maxCount: 300 }), survivor.settled);
      const holding = peer.report.holding;
      await it.settles(survivor.promise, 'the survivor');
      if (holding) assert.ok(ownerDied, 'the peer died holding the mutex, and nobody was told');
      assert.equal(mutex.owner, 0);
      return ownerDied ? 'ownerDied' : 'acquired';
    },
  );
});
