// Soak: create, use and remove each kind of object over and over; afterwards the process holds no more
// descriptors (/proc/self/fd), threads (/proc/self/task), poll handles, mapped memory (/proc/self/maps)
// or kernel objects (System V ids, /dev/shm names, POSIX queue names) than before. 200 cycles per kind
// in npm test; 10,000 under npm run soak. Each cycle includes a wait that really waits where the kind
// has one (a waiter thread or a poll handle), so the waiting machinery is cycled too.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Channel } from '../../src/channel.js';
import {
  IPC_PRIVATE,
  MemoryFile,
  MessageQueue,
  Mutex,
  mappingStats,
  mkfifo,
  mmap,
  NamedSemaphore,
  openFifo,
  openFifoSync,
  PosixQueue,
  pipe,
  SemaphoreSet,
  SharedMemory,
  SysvSharedMemory,
  socketpair,
  waiterStats,
} from '../../src/index.js';
import { collector, dup, openFdCount, tempDir, threadCount, uniqueIpcName } from '../helpers.js';
import { scale, soakTimeout } from './harness.js';

const CYCLES = scale(200, 10_000);
/** Mappings are this large, so that one left behind per cycle would dwarf the V8 heap's own growth. */
const MAPPING = 4 << 20;
const gc = collector();

interface Resources {
  fds: number;
  threads: number;
  waiterThreads: number;
  pollers: number;
  pending: number;
  /** Lines of /proc/self/maps naming a file: memfds, /dev/shm objects, System V segments, files. */
  namedMappings: number;
  /** Bytes of address space mapped, anonymous included. */
  mappedBytes: number;
  /** unipc's mapped regions, retired ones (reserved until collected) included (mappingStats()). */
  regions: number;
}

function resources(): Resources {
  const maps = fs.readFileSync('/proc/self/maps', 'utf8').trim().split('\n');
  let mappedBytes = 0;
  let namedMappings = 0;
  for (const line of maps) {
    const [range, , , , , name] = line.split(/\s+/);
    const [start, end] = range!.split('-').map((hex) => parseInt(hex, 16));
    mappedBytes += end! - start!;
    if (name !== undefined && /^\/(memfd:|dev\/shm\/|SYSV|dev\/zero)|unipc-cycle/.test(name)) namedMappings++;
  }
  const stats = waiterStats();
  return {
    fds: openFdCount(),
    threads: threadCount(),
    waiterThreads: stats.threads,
    pollers: stats.pollers,
    pending: stats.pending,
    namedMappings,
    mappedBytes,
    regions: mappingStats().regions,
  };
}

/** Collects garbage until closed mappings' address ranges are given back (their buffers collected). */
async function settle(): Promise<void> {
  for (let round = 0; round < 3; round++) {
    gc();
    await yieldToLoop();
  }
}

/** System V ids of `kind` ('msg', 'sem', 'shm') that exist now. */
function sysvIds(kind: string): Set<number> {
  const lines = fs.readFileSync(`/proc/sysvipc/${kind}`, 'utf8').trim().split('\n').slice(1);
  return new Set(lines.map((line) => Number(line.trim().split(/\s+/)[1])));
}

/** What a kind's cycles made that only the kernel can tell is gone. */
interface Leftovers {
  sysv?: { kind: string; ids: number[] };
  names?: { of: string[]; gone(name: string): boolean };
}

interface Kind {
  cycle(i: number): void | Promise<void>;
  leftovers?: Leftovers;
  [Symbol.dispose]?(): void;
}

const byteOf = (i: number) => Buffer.of(i & 255);

function exists(open: () => { close(): void }): boolean {
  try {
    open().close();
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return false;
    throw error;
  }
}

const kinds: Record<string, () => Kind> = {
  pipe: () => ({
    async cycle(i) {
      using p = pipe();
      const read = p.reader.read(); // waits on a poll handle
      p.writer.writeSync(byteOf(i));
      assert.deepEqual(await read, byteOf(i));
    },
  }),
  FIFO: () => {
    const dir = tempDir('cycle-');
    return {
      async cycle(i) {
        const path = dir.file(`fifo-${i}`);
        mkfifo(path);
        const opening = openFifo(path, 'r'); // on a waiter thread, until the writer comes
        using writer = openFifoSync(path, 'w');
        using reader = await opening;
        writer.writeSync(byteOf(i));
        assert.deepEqual(reader.readSync(), byteOf(i));
        fs.unlinkSync(path);
      },
      [Symbol.dispose]: () => dir[Symbol.dispose](),
    };
  },
  socketpair: () => ({
    async cycle(i) {
      const [a, b] = socketpair('seqpacket');
      using extra = pipe();
      const received = b.receive();
      await a.send(byteOf(i), { fds: [extra.reader] });
      const message = (await received)!;
      assert.deepEqual(message.data, byteOf(i));
      assert.equal(message.fds.length, 1);
      for (const fd of message.fds) fs.closeSync(fd);
      a.close();
      b.close();
    },
  }),
  memfd: () => ({
    cycle(i) {
      using file = MemoryFile.create('unipc-cycle', { size: MAPPING });
      using mapping = file.map();
      new Uint8Array(mapping.buffer)[i % MAPPING] = 1;
    },
  }),
  'mmap of a file': () => {
    const dir = tempDir('cycle-');
    const path = dir.file('unipc-cycle-file');
    fs.writeFileSync(path, '');
    fs.truncateSync(path, MAPPING);
    return {
      cycle(i) {
        using mapping = mmap(path, { prot: 'rw' });
        new Uint8Array(mapping.buffer)[i % MAPPING] = i & 255;
      },
      [Symbol.dispose]: () => dir[Symbol.dispose](),
    };
  },
  'POSIX shm': () => {
    const names: string[] = [];
    return {
      cycle() {
        const name = uniqueIpcName('cycle-shm');
        names.push(name);
        using shm = SharedMemory.open(name, { create: true, exclusive: true, size: MAPPING });
        using mapping = shm.map();
        new Uint8Array(mapping.buffer)[0] = 1;
        SharedMemory.unlink(name);
      },
      leftovers: { names: { of: names, gone: (name) => !fs.existsSync(`/dev/shm/${name}`) } },
    };
  },
  'System V shm': () => {
    const ids: number[] = [];
    return {
      cycle() {
        const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: MAPPING, create: true });
        ids.push(segment.id);
        try {
          using mapping = segment.attach();
          new Uint8Array(mapping.buffer)[0] = 1;
        } finally {
          segment.remove();
        }
      },
      leftovers: { sysv: { kind: 'shm', ids } },
    };
  },
  'System V semaphore set': () => {
    const ids: number[] = [];
    return {
      async cycle() {
        const set = SemaphoreSet.get(IPC_PRIVATE, { count: 1, create: true });
        ids.push(set.id);
        try {
          const waiting = set.wait(0, { undo: true }); // on a waiter thread
          set.post(0);
          await waiting;
          assert.equal(set.get(0), 0);
        } finally {
          set.remove();
        }
      },
      leftovers: { sysv: { kind: 'sem', ids } },
    };
  },
  'POSIX named semaphore': () => {
    const names: string[] = [];
    return {
      async cycle() {
        const name = uniqueIpcName('cycle-sem');
        names.push(name);
        using semaphore = NamedSemaphore.open(name, { create: true, exclusive: true });
        NamedSemaphore.unlink(name);
        const waiting = semaphore.wait(); // on a waiter thread
        semaphore.post();
        await waiting;
      },
      leftovers: { names: { of: names, gone: (name) => !fs.existsSync(`/dev/shm/sem.${name}`) } },
    };
  },
  'Mutex in a mapping': () => ({
    async cycle() {
      using file = MemoryFile.create('unipc-cycle', { size: MAPPING });
      using mapping = file.map();
      const mutex = new Mutex(mapping, 0);
      const held = mutex.lockSync();
      const next = mutex.lock(); // waits for this thread's own guard
      held.unlock();
      (await next).unlock();
    },
  }),
  'System V queue': () => {
    const ids: number[] = [];
    return {
      async cycle(i) {
        const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
        ids.push(queue.id);
        try {
          const receiving = queue.receive(); // on a waiter thread
          queue.sendSync(1, byteOf(i));
          assert.deepEqual((await receiving).data, byteOf(i));
        } finally {
          queue.remove();
        }
      },
      leftovers: { sysv: { kind: 'msg', ids } },
    };
  },
  'POSIX queue': () => {
    const names: string[] = [];
    return {
      async cycle(i) {
        const name = `/${uniqueIpcName('cycle-mq')}`;
        names.push(name);
        using queue = PosixQueue.open(name, { create: true, exclusive: true, maxMessages: 1, messageSize: 16 });
        PosixQueue.unlink(name);
        const receiving = queue.receive(); // on a poll handle
        queue.sendSync(byteOf(i));
        assert.deepEqual((await receiving).data, byteOf(i));
      },
      // /dev/mqueue need not be mounted: a queue is gone when its name no longer opens.
      leftovers: { names: { of: names, gone: (name) => !exists(() => PosixQueue.open(name)) } },
    };
  },
  channel: () => ({
    async cycle(i) {
      using producer = Channel.create({ capacity: MAPPING });
      using consumer = Channel.fromFd(dup(producer));
      const receiving = consumer.receive(); // a futex wait on a waiter thread
      producer.sendSync(byteOf(i));
      assert.deepEqual(await receiving, byteOf(i));
    },
  }),
};

describe(`soak: ${CYCLES.toLocaleString('en')} create/use/remove cycles per kind leave nothing behind`, () => {
  for (const [name, make] of Object.entries(kinds)) {
    test(name, soakTimeout, async () => {
      const kind = make();
      try {
        await kind.cycle(-1); // the first use of a kind may set up what stays (a waiter thread, a buffer)
        await settle();
        const before = resources();
        for (let i = 0; i < CYCLES; i++) {
          await kind.cycle(i);
          if (i % 64 === 63) {
            gc(); // lets closed mappings' address ranges go on the way, not only at the end
            await yieldToLoop();
          }
        }
        await settle();
        const after = resources();
        const grown = `${JSON.stringify(before)} → ${JSON.stringify(after)}`;
        assert.equal(after.fds, before.fds, `descriptors: ${grown}`);
        assert.ok(after.threads <= before.threads, `threads: ${grown}`);
        assert.ok(after.waiterThreads <= before.waiterThreads, `waiter threads: ${grown}`);
        assert.equal(after.pollers, before.pollers, `poll handles: ${grown}`);
        assert.equal(after.pending, 0, `pending waits: ${grown}`);
        assert.equal(after.namedMappings, before.namedMappings, `mappings of objects: ${grown}`);
        // unipc's own regions, exactly (a collection may leave a buffer or two for later); and the address
        // space as a whole, where V8's heap may keep pages more (Node 24's more than Node 20's), while a
        // mapping kept per cycle would be CYCLES × 4 MiB.
        assert.ok(after.regions <= before.regions + 2, `regions: ${grown}`);
        assert.ok(
          after.mappedBytes - before.mappedBytes < 256 << 20,
          `mapped address space grew by ${(after.mappedBytes - before.mappedBytes) >> 20} MiB: ${grown}`,
        );
        const { sysv, names } = kind.leftovers ?? {};
        if (sysv) {
          const existing = sysvIds(sysv.kind);
          const left = sysv.ids.filter((id) => existing.has(id));
          assert.deepEqual(left, [], `System V ${sysv.kind} ids still there`);
        }
        if (names)
          assert.deepEqual(
            names.of.filter((n) => !names.gone(n)),
            [],
            'names still there',
          );
      } finally {
        kind[Symbol.dispose]?.();
      }
    });
  }
});
