// What the interop tests (test/channel-c, channel-python, topic-c, topic-python) share with their C and
// Python peers: the messages both sides make from a number, the C peers' checksum, and the children's
// cleanup. The peers (channel_peer.c, topic_peer.c, channel_peer.py, topic_peer.py) make the same bytes.
import type { ChildProcess } from 'node:child_process';
import { finished } from '../helpers.js';

export const SEED = 4242;
export const FNV_OFFSET = 2166136261;

// message(i) of the peers: empty, maxMessageSize long, or a size from a hash of i; byte j is
// (i * 131 + j * 7 + SEED) & 255.
export function mix(value: number): number {
  let x = value >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

export function message(i: number, longest: number): Buffer {
  const size = i % 100 === 0 ? 0 : i % 100 === 1 ? longest : mix(i ^ SEED) % (longest + 1);
  const bytes = Buffer.allocUnsafe(size);
  for (let j = 0; j < size; j++) bytes[j] = (i * 131 + j * 7 + SEED) & 255;
  return bytes;
}

// FNV-1a over the message's length (4 bytes, little-endian) and its bytes, as the C peers sum.
export function sum(hash: number, bytes: Uint8Array): number {
  let h = hash;
  const n = bytes.length;
  for (const byte of [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24]) h = Math.imul(h ^ byte, 16777619) >>> 0;
  for (let k = 0; k < n; k++) h = Math.imul(h ^ bytes[k]!, 16777619) >>> 0;
  return h;
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Runs `body`; should it fail, kills the children first, so that none outlives the test.
export async function withChildren(children: ChildProcess[], body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(children.map((child) => finished(child)));
    throw error;
  }
}
