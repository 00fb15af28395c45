// Property tests of argument validation for the shared-memory channel (src/channel.ts, not exported yet):
// create(), open(), fromFd(), unlink() and the options and data of send/sendSync/trySend and
// receive/receiveSync. A value of the wrong type or out of range fails with Node's error shape naming
// the argument before any addon call (so before any system call), and without claiming a side of the
// channel; memory that is no channel, or whose header is damaged, is IpcError 'EPROTO'.
//
// Safety: every POSIX shared memory name a call could create starts with PREFIX (this process's own);
// the send fixture's consumer has closed (a send that slipped through fails with 'EPIPE' at once), the
// receive fixture's producer has closed (a receive that slipped through returns null at once).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { Channel } from '../src/channel.js';
import { MemoryFile, mmap, SharedMemory } from '../src/index.js';
import { openDescriptor, RUN, tempDir } from './helpers.js';
import {
  argumentChecks,
  badIpcNames,
  booleanSlots,
  checkIpcError,
  expectNoSideEffects,
  integerSlots,
  MAX_INT32,
  notBytes,
  notFdLike,
  notIntegerIn,
  notString,
  type Slot,
  signalSlot,
  timeoutSlots,
} from './property.js';

const params = { numRuns: 50, endOnFailure: true };
const PREFIX = `unipc-cp-${RUN}-${process.pid}-${randomBytes(4).toString('hex')}-`;
const CAPACITY = 4096;
const HEADER_BYTES = 4096;
/** Int32 indices of the header words that record which thread produces and consumes (docs/channel.md). */
const PRODUCER_WORD = 50;
const CONSUMER_WORD = 51;

/** Closes (and for a named one, unlinks) a channel that a call which should have failed made anyway. */
function releaseChannel(value: unknown): boolean {
  if (!(value instanceof Channel)) return false;
  value.close();
  if (value.name?.startsWith(`/${PREFIX}`)) SharedMemory.unlink(value.name);
  return true;
}

const { throwsArgError, throwsIpcError, rejectsArgError, optionProperties } = argumentChecks({
  params,
  release: releaseChannel,
});

const ownShm = () => fs.readdirSync('/dev/shm').filter((name) => name.startsWith(PREFIX));
/** The producer and consumer words of a channel's header, read through a mapping of its own. */
function sides(channel: Channel): [number, number] {
  using view = mmap(channel.fd, { length: HEADER_BYTES });
  const words = new Int32Array(view.buffer);
  return [words[PRODUCER_WORD]!, words[CONSUMER_WORD]!];
}

const scratch = tempDir('channel-prop-');
after(() => {
  scratch[Symbol.dispose]();
  assert.deepEqual(ownShm(), [], 'shared memory of this file is left in /dev/shm');
});

const asyncWaitSlots: Slot[] = [signalSlot, ...timeoutSlots, ...booleanSlots('ref')];
const badName = badIpcNames(PREFIX);
const nameDetail =
  /must be a name with one optional leading '\/' and no other '\/' or null bytes|must be at most 255 bytes long|well-formed/;

describe('Channel.create(), open(), unlink(), fromFd()', () => {
  expectNoSideEffects(() => scratch.path, {
    unchanged: [{ read: ownShm, message: 'an invalid call created or removed a shared memory object' }],
  });

  const createWith = (options: unknown) => Channel.create(options as never);
  optionProperties('create()', 'sync', createWith, [
    { key: 'name', kind: 'type', values: notString(true), detail: 'must be of type string' },
    {
      key: 'name',
      kind: 'value',
      values: badName,
      detail: nameDetail,
      note: "not a POSIX IPC name ('/', '..', NUL, too long)",
    },
    ...integerSlots('capacity', 4096, 2 ** 30),
    {
      key: 'capacity',
      kind: 'value',
      values: fc.integer({ min: 4097, max: 2 ** 30 - 1 }).filter((n) => (n & (n - 1)) !== 0),
      detail: 'must be a power of two',
      note: 'not a power of two',
    },
    // With the default capacity of 1 MiB: at most 512 KiB − 8.
    ...integerSlots('maxMessageSize', 1, 2 ** 19 - 8),
  ]);

  test('create(): maxMessageSize beyond half of the given capacity', () => {
    const cases = fc
      .integer({ min: 12, max: 30 })
      .chain((bits) => fc.tuple(fc.constant(2 ** bits), fc.integer({ min: 2 ** bits / 2 - 7, max: 2 ** bits })));
    fc.assert(
      fc.property(cases, ([capacity, maxMessageSize]) =>
        throwsArgError(
          () => Channel.create({ capacity, maxMessageSize }),
          'range',
          'options.maxMessageSize',
          `<= ${capacity / 2 - 8}`,
        ),
      ),
      params,
    );
  });

  test('open(name) and unlink(name): not a string (undefined included), or not a POSIX IPC name', () => {
    fc.assert(
      fc.property(notString(false), (v) => throwsArgError(() => Channel.open(v as never), 'type', 'name')),
      params,
    );
    fc.assert(
      fc.property(notString(false), (v) => throwsArgError(() => Channel.unlink(v as never), 'type', 'name')),
      params,
    );
    fc.assert(
      fc.property(badName, (name) => throwsArgError(() => Channel.open(name), 'value', 'name', nameDetail)),
      params,
    );
    fc.assert(
      fc.property(badName, (name) => throwsArgError(() => Channel.unlink(name), 'value', 'name', nameDetail)),
      params,
    );
  });

  test('fromFd(fd): not a descriptor number (objects with an fd included), out of range or not an integer', () => {
    fc.assert(
      fc.property(notFdLike, (v) => throwsArgError(() => Channel.fromFd(v as never), 'type', 'fd')),
      params,
    );
    using file = MemoryFile.create('not-a-number', { size: HEADER_BYTES + CAPACITY });
    for (const value of [{ fd: file.fd }, file]) throwsArgError(() => Channel.fromFd(value as never), 'type', 'fd');
    fc.assert(
      fc.property(notIntegerIn(0, MAX_INT32), (v) => throwsArgError(() => Channel.fromFd(v), 'range', 'fd')),
      params,
    );
  });

  test('exact messages', () => {
    assert.throws(() => Channel.create({ name: 'a/b' }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message:
        "The property 'options.name' must be a name with one optional leading '/' and no other '/' or null bytes. Received 'a/b'",
    });
    assert.throws(() => Channel.create({ name: 7 as never }), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "options.name" property must be of type string. Received type number (7)',
    });
    assert.throws(() => Channel.create({ capacity: 5000 }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: "The property 'options.capacity' must be a power of two. Received 5000",
    });
    assert.throws(() => Channel.create({ capacity: 4096, maxMessageSize: 2041 }), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
      message: 'The value of "options.maxMessageSize" is out of range. It must be >= 1 && <= 2040. Received 2041',
    });
  });
});

describe('Channel.fromFd() of memory that is no channel', () => {
  // Each case reaches the memfd through a descriptor of its own (a second open of /proc/self/fd/N),
  // since a failed fromFd() closes the descriptor it was given.
  function fromCopyOf(file: MemoryFile): Channel {
    return Channel.fromFd(openDescriptor(`/proc/self/fd/${file.fd}`));
  }

  test("shorter than the header, or without the magic number: IpcError 'EPROTO'", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 0, max: HEADER_BYTES - 1 }),
          fc.integer({ min: HEADER_BYTES, max: 4 * HEADER_BYTES }),
        ),
        fc.uint8Array({ maxLength: 64 }),
        (size, start) => {
          using file = MemoryFile.create('not-a-channel', { size });
          if (size >= 4) {
            using map = file.map();
            new Uint8Array(map.buffer).set(start.subarray(0, Math.min(start.length, size)));
            new DataView(map.buffer).setInt32(0, 0); // never the magic number
          }
          throwsIpcError(() => fromCopyOf(file), 'EPROTO');
        },
      ),
      params,
    );
  });

  test("a damaged header (capacity, maxMessageSize, data offset, memory shorter than the capacity): IpcError 'EPROTO'", () => {
    using good = Channel.create({ capacity: CAPACITY });
    const header = (() => {
      using view = mmap(good.fd, { length: HEADER_BYTES });
      return Int32Array.from(new Int32Array(view.buffer, 0, 8));
    })();
    const damage = fc.oneof(
      fc.record({
        word: fc.constant(2),
        value: fc.oneof(
          fc.integer(),
          fc.constantFrom(0, -CAPACITY, CAPACITY + 4, 3 * CAPACITY, 2 ** 31 - 1, -(2 ** 31)),
        ),
      }),
      fc.record({
        word: fc.constant(3),
        value: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: CAPACITY / 2 - 7 })),
      }),
      fc.record({ word: fc.constant(4), value: fc.integer().filter((v) => v !== HEADER_BYTES) }),
      fc.record({ word: fc.constant(1), value: fc.integer().filter((v) => v !== header[1]) }),
    );
    fc.assert(
      fc.property(damage, ({ word, value }) => {
        using file = MemoryFile.create('damaged', { size: HEADER_BYTES + CAPACITY });
        {
          using map = file.map();
          const words = new Int32Array(map.buffer);
          words.set(header);
          words[word] = value;
        }
        throwsIpcError(() => fromCopyOf(file), 'EPROTO', 'mmap');
      }),
      params,
    );
    // A capacity larger than the memory holds.
    using short = MemoryFile.create('short', { size: HEADER_BYTES + CAPACITY });
    {
      using map = short.map();
      const words = new Int32Array(map.buffer);
      words.set(header);
      words[2] = 2 * CAPACITY;
    }
    throwsIpcError(() => fromCopyOf(short), 'EPROTO', 'mmap');
    // (control) the intact header works
    using copy = MemoryFile.create('intact', { size: HEADER_BYTES + CAPACITY });
    {
      using map = copy.map();
      new Int32Array(map.buffer).set(header);
    }
    fromCopyOf(copy).close();
  });
});

describe('Channel send and receive', () => {
  let sender: Channel;
  let receiver: Channel;
  before(() => {
    sender = Channel.create({ capacity: CAPACITY });
    const consumer = Channel.fromFd(openDescriptor(`/proc/self/fd/${sender.fd}`));
    assert.equal(consumer.tryReceive(), null);
    consumer.close();
    receiver = Channel.create({ capacity: CAPACITY });
    const producer = Channel.fromFd(openDescriptor(`/proc/self/fd/${receiver.fd}`));
    assert.equal(producer.trySend('x'), true);
    producer.close();
  });
  after(() => {
    sender.close();
    receiver.close();
  });
  expectNoSideEffects(() => scratch.path, {
    unchanged: [
      { read: () => sides(sender)[0], message: 'an invalid send claimed the producer side' },
      { read: () => sides(receiver)[1], message: 'an invalid receive claimed the consumer side' },
    ],
  });

  test('data that is no bytes (trySend, sendSync, send)', async () => {
    fc.assert(
      fc.property(notBytes, (v) => throwsArgError(() => sender.trySend(v as never), 'type', 'data')),
      params,
    );
    fc.assert(
      fc.property(notBytes, (v) => throwsArgError(() => sender.sendSync(v as never), 'type', 'data')),
      params,
    );
    await fc.assert(
      fc.asyncProperty(notBytes, (v) => rejectsArgError(() => sender.send(v as never), 'type', 'data')),
      params,
    );
  });

  test("data longer than the channel's maxMessageSize, as a string, a view or an ArrayBuffer", async () => {
    const max = sender.maxMessageSize;
    const tooLong = fc
      .integer({ min: max + 1, max: 4 * CAPACITY })
      .chain((n) =>
        fc.constantFrom<unknown>(
          'x'.repeat(n),
          'é'.repeat(Math.ceil(n / 2)),
          new Uint8Array(n),
          new Float64Array(Math.ceil(n / 8)),
          new ArrayBuffer(n),
          new DataView(new ArrayBuffer(n)),
        ),
      );
    fc.assert(
      fc.property(tooLong, (v) =>
        throwsArgError(() => sender.trySend(v as never), 'range', 'data.byteLength', `<= ${max}`),
      ),
      params,
    );
    fc.assert(
      fc.property(tooLong, (v) =>
        throwsArgError(() => sender.sendSync(v as never), 'range', 'data.byteLength', `<= ${max}`),
      ),
      params,
    );
    await fc.assert(
      fc.asyncProperty(tooLong, (v) =>
        rejectsArgError(() => sender.send(v as never), 'range', 'data.byteLength', `<= ${max}`),
      ),
      params,
    );
  });

  optionProperties('send()', 'async', (options) => sender.send('x', options as never), asyncWaitSlots);
  optionProperties('sendSync()', 'sync', (options) => sender.sendSync('x', options as never), timeoutSlots);
  optionProperties('sendValue()', 'async', (options) => sender.sendValue(1, options as never), asyncWaitSlots);
  optionProperties('sendValueSync()', 'sync', (options) => sender.sendValueSync(1, options as never), timeoutSlots);
  optionProperties('receive()', 'async', (options) => receiver.receive(options as never), asyncWaitSlots);
  optionProperties('receiveSync()', 'sync', (options) => receiver.receiveSync(options as never), timeoutSlots);
  optionProperties('receiveValue()', 'async', (options) => receiver.receiveValue(options as never), asyncWaitSlots);
  optionProperties(
    'receiveValueSync()',
    'sync',
    (options) => receiver.receiveValueSync(options as never),
    timeoutSlots,
  );

  test('(control) the fixtures settle at once: EPIPE to the sender, the message then the end to the receiver', () => {
    using channel = Channel.create({ capacity: CAPACITY });
    const consumer = Channel.fromFd(openDescriptor(`/proc/self/fd/${channel.fd}`));
    consumer.tryReceive();
    consumer.close();
    throwsIpcError(() => channel.trySend('x'), 'EPIPE', 'send');
    try {
      channel.sendSync('x');
      assert.fail('sendSync() to a closed consumer returned');
    } catch (error) {
      checkIpcError(error, 'EPIPE', 'send');
    }
  });
});
