// The arithmetic of the channel's ring (src/channel.ts; layout in docs/channel.md): where a record goes,
// whether it fits, where the next one starts. Indices count bytes and wrap at 2^32; the header keeps them
// as int32, so every index made here is brought back to one (`| 0`) and every distance between two is
// taken mod 2^32 (`>>> 0`). Plain functions of numbers, small enough for V8 to inline into the send and
// receive loops, allocating nothing: the channel calls them for every message. They spell out their
// arithmetic rather than call one another: what V8 inlines into one function has a budget, and the
// loops spend it better on their own callees.

/** The smallest ring, in bytes. */
export const MIN_CAPACITY = 4096;
/** The largest ring, in bytes. */
export const MAX_CAPACITY = 2 ** 30;
/** A length word that means: no record here, the next one starts at offset 0. */
export const WRAP = -1;

/** Whether a ring of `capacity` bytes is one a channel makes: a power of two from 4 KiB to 1 GiB. */
export function isCapacity(capacity: number): boolean {
  return capacity >= MIN_CAPACITY && capacity <= MAX_CAPACITY && (capacity & (capacity - 1)) === 0;
}

/**
 * The longest message a ring of `capacity` bytes may carry, as the layout fixes it (docs/channel.md):
 * short enough that its record, with the bytes skipped before it when it would cross the end, fits an
 * empty ring wherever the indices stand.
 */
export function longestMessage(capacity: number): number {
  return capacity / 2 - 8;
}

/** Bytes a record of a `size`-byte message takes: its length word, then the bytes padded to 4. */
export function recordBytes(size: number): number {
  return 4 + ((size + 3) & ~3);
}

/** Where index `index` falls in a ring of `capacity` bytes: a byte offset from its start. */
export function ringOffset(index: number, capacity: number): number {
  return index & (capacity - 1);
}

/** `index` moved on by `bytes`, wrapping at 2^32. */
export function advance(index: number, bytes: number): number {
  return (index + bytes) | 0;
}

/** Bytes from index `from` to index `to` (mod 2^32): from the head to the tail, the bytes in use. */
export function distance(from: number, to: number): number {
  return (to - from) >>> 0;
}

/**
 * Bytes left unused at the end of the ring before a record of `need` bytes written at `index`: the rest
 * of the ring when the record would cross its end (a wrap word goes there, and the record at offset 0),
 * else 0.
 */
export function skipBefore(index: number, need: number, capacity: number): number {
  const offset = index & (capacity - 1);
  return offset + need > capacity ? capacity - offset : 0;
}

/** Whether `bytes` more fit a ring of `capacity` bytes whose consumer is at `head` and producers at `tail`. */
export function fits(head: number, tail: number, bytes: number, capacity: number): boolean {
  return capacity - ((tail - head) >>> 0) >= bytes;
}

/** The index of the next lap's start after `index`: where a reader goes on from a wrap word at `index`. */
export function nextLap(index: number, capacity: number): number {
  return (index + capacity - (index & (capacity - 1))) | 0;
}

/**
 * Whether a record read from `start` and ending at `end` lies within what the producers published up to
 * `tail` (all three indices on the same lap of 2^32, reckoned from `start`).
 */
export function endsWithin(start: number, end: number, tail: number): boolean {
  return (end - start) >>> 0 <= (tail - start) >>> 0;
}
