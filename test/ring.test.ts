// The channel's ring arithmetic (src/ring.ts) on its own: no mapping, no second process. Examples at the
// edges (the 2^32 wrap of the indices, the end of the ring, the longest message), properties over any
// index and size, and a ring simulated in ordinary memory, written and read the way the channel does,
// that must hand back every message intact and in order.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  advance,
  distance,
  endsWithin,
  fits,
  isCapacity,
  longestMessage,
  MAX_CAPACITY,
  MIN_CAPACITY,
  nextLap,
  recordBytes,
  ringOffset,
  skipBefore,
  WRAP,
} from '../src/ring.js';

const params = { numRuns: 200, endOnFailure: true };
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
/** An index as the header holds it: any int32, often near the 2^32 wrap (which is at -1/0 as int32). */
const index = fc.oneof(
  fc.integer({ min: INT32_MIN, max: INT32_MAX }),
  fc.integer({ min: -(1 << 16), max: 1 << 16 }),
  fc.integer({ min: INT32_MAX - (1 << 16), max: INT32_MAX }),
);
/** A 4-aligned index: every record starts on one (records are padded to 4). */
const alignedIndex = index.map((i) => i & ~3);
/** Capacities up to 64 KiB, for the simulated ring (the arithmetic is the same up to 1 GiB). */
const smallCapacity = fc.integer({ min: 12, max: 16 }).map((bits) => 2 ** bits);
const anyCapacity = fc.integer({ min: 12, max: 30 }).map((bits) => 2 ** bits);
/** Any distance between two indices: 0 to 2^32 − 1. */
const span = fc.integer({ min: 0, max: 2 ** 32 - 1 });

describe('ring arithmetic: examples', () => {
  test('capacities: powers of two from 4 KiB to 1 GiB; the longest message is capacity / 2 − 8', () => {
    assert.deepEqual([MIN_CAPACITY, MAX_CAPACITY, 2048, 4096, 6144, 2 ** 20, 2 ** 30, 2 ** 31].map(isCapacity), [
      true,
      true,
      false,
      true,
      false,
      true,
      true,
      false,
    ]);
    assert.equal(longestMessage(4096), 2040);
    assert.equal(longestMessage(2 ** 30), 2 ** 29 - 8);
  });

  test('the longest message fits an empty ring at every offset (one past it does not, at some)', () => {
    for (const c of [4096, 8192]) {
      const fitsEverywhere = (size: number) => {
        for (let i = -2 * c; i < 2 * c; i += 4) {
          const need = recordBytes(size);
          if (!fits(i, i, skipBefore(i, need, c) + need, c)) return false;
        }
        return true;
      };
      assert.ok(fitsEverywhere(longestMessage(c)));
      assert.ok(!fitsEverywhere(longestMessage(c) + 5));
    }
  });

  test('a record is a length word and the bytes padded to 4', () => {
    assert.deepEqual([0, 1, 3, 4, 5, 8, 2040].map(recordBytes), [4, 8, 8, 8, 12, 12, 2044]);
  });

  test('indices wrap at 2^32 as int32: offsets, moves and distances go on across the wrap', () => {
    assert.equal(advance(INT32_MAX - 3, 8), INT32_MIN + 4);
    assert.equal(advance(-4, 8), 4);
    assert.equal(advance(-1000, 1000), 0);
    assert.equal(distance(-4, 4), 8);
    assert.equal(distance(INT32_MAX, INT32_MIN), 1);
    assert.equal(distance(4, -4), 2 ** 32 - 8);
    assert.equal(ringOffset(-1000, 4096), 3096);
    assert.equal(ringOffset(-4, 4096), 4092);
    assert.equal(ringOffset(INT32_MIN, 4096), 0);
  });

  test('a record that would cross the end of the ring skips the rest of it; one that ends there does not', () => {
    assert.equal(skipBefore(4088, 8, 4096), 0);
    assert.equal(skipBefore(4092, 8, 4096), 4);
    assert.equal(skipBefore(-4, 8, 4096), 4);
    assert.equal(skipBefore(0, 4096, 4096), 0);
    assert.equal(skipBefore(4096 + 2052, 2044, 4096), 0);
    assert.equal(skipBefore(4096 + 2056, 2044, 4096), 2040);
  });

  test('room: an empty ring has it all, a full one none, also with the indices across the wrap', () => {
    assert.ok(fits(0, 0, 4096, 4096));
    assert.ok(!fits(0, 0, 4097, 4096));
    assert.ok(fits(-100, -100, 4096, 4096));
    assert.ok(fits(-100, 100, 4096 - 200, 4096));
    assert.ok(!fits(-100, 100, 4096 - 199, 4096));
    assert.ok(!fits(-2048, 2048, 4, 4096));
  });

  test('a wrap word sends the reader to the start of the next lap', () => {
    assert.equal(nextLap(4092, 4096), 4096);
    assert.equal(nextLap(-1000, 4096), 0);
    assert.equal(nextLap(INT32_MAX - 3, 4096), INT32_MIN);
    assert.equal(nextLap(8192, 4096), 8192 + 4096, 'from a lap start: a whole lap on');
  });

  test('a record ends within what is published when it ends at the tail or before, across the wrap too', () => {
    assert.ok(endsWithin(0, 8, 8));
    assert.ok(endsWithin(0, 8, 16));
    assert.ok(!endsWithin(0, 12, 8));
    assert.ok(endsWithin(-4, 4, 4));
    assert.ok(!endsWithin(-4, 8, 4));
    // A length that points behind the record's start reads as a record of nearly 4 GiB: past the tail.
    assert.ok(!endsWithin(100, 96, 200));
  });

  test('the wrap word is -1 (0xffffffff): no length a message can have', () => {
    assert.equal(WRAP >>> 0, 0xffffffff);
  });
});

describe('ring arithmetic: properties', () => {
  test('distance undoes advance, for any index and any move below 2^32', () => {
    fc.assert(
      fc.property(index, span, (i, n) => distance(i, advance(i, n)) === n),
      params,
    );
  });

  test('offsets follow the indices across the 2^32 wrap (capacity divides 2^32)', () => {
    fc.assert(
      fc.property(index, span, anyCapacity, (i, n, c) => {
        const offset = ringOffset(advance(i, n), c);
        return offset >= 0 && offset < c && offset === (ringOffset(i, c) + n) % c;
      }),
      params,
    );
  });

  test('advance keeps an index an int32 (what the header stores)', () => {
    fc.assert(
      fc.property(index, span, (i, n) => advance(i, n) === (advance(i, n) | 0)),
      params,
    );
  });

  test('endsWithin compares how far the end and the tail are from the start, wherever the wrap falls', () => {
    fc.assert(
      fc.property(index, span, span, (start, toEnd, toTail) => {
        return endsWithin(start, advance(start, toEnd), advance(start, toTail)) === toEnd <= toTail;
      }),
      params,
    );
  });

  test('nextLap lands on offset 0, at most a lap on', () => {
    fc.assert(
      fc.property(index, anyCapacity, (i, c) => {
        const lap = nextLap(i, c);
        return ringOffset(lap, c) === 0 && distance(i, lap) > 0 && distance(i, lap) <= c;
      }),
      params,
    );
  });

  test('a skip leaves room for the wrap word, puts the record at offset 0, and only when it must', () => {
    fc.assert(
      fc.property(alignedIndex, anyCapacity, fc.nat(), (i, c, size) => {
        const longest = longestMessage(c);
        const need = recordBytes(size % (longest + 1));
        const skip = skipBefore(i, need, c);
        const offset = ringOffset(i, c);
        if (skip === 0) return offset + need <= c;
        return skip === c - offset && skip >= 4 && skip % 4 === 0 && offset + need > c && need <= c;
      }),
      params,
    );
  });

  test('the longest message fits an empty ring wherever its indices stand, skip and all', () => {
    fc.assert(
      fc.property(alignedIndex, anyCapacity, (i, c) => {
        const need = recordBytes(longestMessage(c));
        return fits(i, i, skipBefore(i, need, c) + need, c);
      }),
      params,
    );
  });

  test('a ring in ordinary memory, written and read as the channel does, hands back every message in order', () => {
    // Steps: a message of that many bytes (a send, refused when there is no room), or a receive (-1).
    const step = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 1 << 15 }), fc.constant(-1));
    fc.assert(
      fc.property(alignedIndex, smallCapacity, fc.array(step, { maxLength: 300 }), (start, c, steps) => {
        simulate(start, c, steps);
      }),
      { ...params, numRuns: 100 },
    );
  });
});

/**
 * A producer and a consumer of one ring, in one thread, with the channel's arithmetic: sends the
 * messages the steps ask for (sizes reduced to at most the longest message) and receives on -1, checking
 * each message received against the ones sent, and the indices against the capacity.
 */
function simulate(start: number, capacity: number, steps: number[]): void {
  const data = new Uint8Array(capacity);
  const words = new Int32Array(data.buffer);
  const longest = longestMessage(capacity);
  const inFlight: { size: number; fill: number }[] = [];
  let head = start;
  let tail = start;
  let sent = 0;
  for (const wanted of steps) {
    if (wanted >= 0) {
      const size = wanted % (longest + 1);
      const need = recordBytes(size);
      const skip = skipBefore(tail, need, capacity);
      if (!fits(head, tail, skip + need, capacity)) {
        assert.ok(inFlight.length > 0, `an empty ring refused ${size} bytes at index ${tail}`);
        continue;
      }
      let offset = ringOffset(tail, capacity);
      if (skip > 0) {
        words[offset >> 2] = WRAP;
        offset = 0;
      }
      assert.ok(offset + need <= capacity, 'the record lies within the ring');
      const fill = ++sent & 255;
      words[offset >> 2] = size;
      data.fill(fill, offset + 4, offset + 4 + size);
      tail = advance(tail, skip + need);
      inFlight.push({ size, fill });
      assert.ok(distance(head, tail) <= capacity, 'no more in use than the ring holds');
    } else {
      if (head === tail) {
        assert.equal(inFlight.length, 0, 'the ring reads empty with messages in it');
        continue;
      }
      const first = head;
      let at = head;
      let offset = ringOffset(at, capacity);
      let length = words[offset >> 2]!;
      if (length === WRAP) {
        at = nextLap(at, capacity);
        offset = 0;
        length = words[0]!;
      }
      const next = advance(at, recordBytes(length));
      assert.ok(length >= 0 && length <= longest && endsWithin(first, next, tail), 'an honest record passes');
      const expected = inFlight.shift()!;
      assert.equal(length, expected.size);
      assert.ok(
        data.subarray(offset + 4, offset + 4 + length).every((byte) => byte === expected.fill),
        'the bytes sent, none written over',
      );
      head = next;
    }
  }
  assert.equal(distance(head, tail) === 0, inFlight.length === 0);
}
