// What the fault tests and their peer (fault-peer.ts) agree on: the seeded random generator, the
// messages (numbered, with contents derived from the number, so either side can check one alone), the
// framing of messages on byte streams, and the report: a page of shared memory in which the peer tells
// how far it got, so that what it had done before it was killed can still be read afterwards.

/** sfc32, seeded through splitmix32 from a number and labels: the same inputs give the same sequence. */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number, ...labels: (string | number)[]) {
    let state = seed >>> 0;
    for (const label of labels) {
      for (const char of String(label)) state = Math.imul(state ^ char.charCodeAt(0), 0x9e3779b1) >>> 0;
      state = Math.imul(state ^ (state >>> 15), 0x85ebca6b) >>> 0;
    }
    const next = () => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  uint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    return this.uint32() / 2 ** 32;
  }

  /** An integer from min to max, both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
}

/** The longest message: 4 bytes of number and up to 96 of contents. */
export const MAX_MESSAGE = 100;

/** Message i: its number (u32 LE), then 0–96 bytes that depend on i, so a swapped or torn one shows. */
export function message(i: number): Buffer {
  const length = 4 + ((i * 37) % 97);
  const bytes = Buffer.allocUnsafe(length);
  bytes.writeUInt32LE(i >>> 0, 0);
  for (let k = 4; k < length; k++) bytes[k] = (i * 131 + k * 7) & 255;
  return bytes;
}

/** Why `received` is not message `expected`, or undefined when it is. */
export function messageError(received: Uint8Array, expected: number): string | undefined {
  if (received.byteLength < 4) return `a message of ${received.byteLength} bytes where message ${expected} was due`;
  const number = Buffer.from(received.buffer, received.byteOffset, received.byteLength).readUInt32LE(0);
  if (number !== expected >>> 0) return `message ${number} where message ${expected} was due`;
  const wanted = message(expected);
  if (!wanted.equals(received))
    return `message ${expected} arrived with the wrong contents (${received.byteLength} bytes, ${wanted.length} sent)`;
  return undefined;
}

/** Message i framed for a byte stream (pipe, FIFO, stream socket): a u16 LE length, then the message. */
export function frame(i: number): Buffer {
  const body = message(i);
  const framed = Buffer.allocUnsafe(2 + body.length);
  framed.writeUInt16LE(body.length, 0);
  body.copy(framed, 2);
  return framed;
}

/** Cuts a byte stream back into messages. */
export class Deframer {
  #pending: Buffer = Buffer.alloc(0);

  /** The complete messages `chunk` finishes. */
  push(chunk: Uint8Array): Buffer[] {
    let data = this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
    const messages: Buffer[] = [];
    while (data.length >= 2) {
      const length = data.readUInt16LE(0);
      if (data.length < 2 + length) break;
      messages.push(data.subarray(2, 2 + length));
      data = data.subarray(2 + length);
    }
    this.#pending = Buffer.from(data);
    return messages;
  }

  /** Bytes of a message not yet complete. */
  get pending(): number {
    return this.#pending.length;
  }
}

// The report page: Int32 words, then a text: the peer's complaint if it found something wrong, or its
// result when it finished.
const PROGRESS = 0;
const PHASE = 1;
const HOLDING = 2;
const TEXT_LENGTH = 3;
const TEXT = 64;
export const REPORT_BYTES = 4096;

export const Phase = { starting: 0, ready: 1, finished: 2, failed: 3 } as const;

/**
 * The peer's account of itself, in shared memory that outlives it: `progress` counts messages whose
 * send() returned (or that were received and checked) or rounds done; `holding` is 1 while it holds a
 * lock or semaphore unit (set after taking it, cleared before giving it back).
 */
export class Report {
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;

  constructor(buffer: ArrayBuffer) {
    this.#words = new Int32Array(buffer, 0, 16);
    this.#bytes = new Uint8Array(buffer, 0, REPORT_BYTES);
  }

  get progress(): number {
    return Atomics.load(this.#words, PROGRESS);
  }

  set progress(value: number) {
    Atomics.store(this.#words, PROGRESS, value);
  }

  get phase(): number {
    return Atomics.load(this.#words, PHASE);
  }

  set phase(value: number) {
    Atomics.store(this.#words, PHASE, value);
  }

  get holding(): boolean {
    return Atomics.load(this.#words, HOLDING) === 1;
  }

  set holding(value: boolean) {
    Atomics.store(this.#words, HOLDING, value ? 1 : 0);
  }

  /** What the peer found wrong, or undefined. */
  get error(): string | undefined {
    return this.phase === Phase.failed ? this.#text() : undefined;
  }

  /** What the peer reported when it finished, or undefined. */
  get result(): string | undefined {
    return this.phase === Phase.finished ? this.#text() : undefined;
  }

  fail(text: string): void {
    this.#setText(text);
    this.phase = Phase.failed;
  }

  finish(text = ''): void {
    this.#setText(text);
    this.phase = Phase.finished;
  }

  #text(): string {
    const length = Atomics.load(this.#words, TEXT_LENGTH);
    return Buffer.from(this.#bytes.subarray(TEXT, TEXT + length)).toString();
  }

  #setText(text: string): void {
    const bytes = Buffer.from(text).subarray(0, REPORT_BYTES - TEXT);
    this.#bytes.set(bytes, TEXT);
    Atomics.store(this.#words, TEXT_LENGTH, bytes.length);
  }
}

/** The shared memory of the memory scenarios: a published count, then slots of 64 bytes. */
export const SLOT_BYTES = 64;
export const SLOTS = 255;
export const MEMORY_BYTES = SLOT_BYTES * (SLOTS + 1);

/** Record i's bytes: its number, then 60 bytes derived from it. */
export function record(i: number): Buffer {
  const bytes = Buffer.allocUnsafe(SLOT_BYTES);
  bytes.writeUInt32LE(i >>> 0, 0);
  for (let k = 4; k < SLOT_BYTES; k++) bytes[k] = (i * 29 + k * 13) & 255;
  return bytes;
}

/** The byte offset of record i's slot (slot 0 of the memory holds the count). */
export function slotOf(i: number): number {
  return SLOT_BYTES * (1 + (i % SLOTS));
}
