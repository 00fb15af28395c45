// The messages of the NATS tests: number i is 0 to ~64 KiB long, starts with i (u32, little-endian) and
// continues with bytes derived from i, so that a receiver can check each one's order and content.
export function messageFor(i: number): Buffer {
  const size = 4 + ((i * 7919) % 9 === 0 ? (i * 104729) % 65536 : (i * 31) % 200);
  const message = Buffer.alloc(size);
  message.writeUInt32LE(i, 0);
  for (let j = 4; j < size; j++) message[j] = (i + j * 13) & 0xff;
  return message;
}

// mulberry32: a small seeded generator, so that a run's kill and fault points can be replayed.
export function random(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isEpipe = (error: unknown) => (error as { code?: string }).code === 'EPIPE';

/** A local end bridged to NATS, whose peer (the bridge) may be killed at any point. */
interface BridgedEnd {
  send(data: Buffer): Promise<void>;
  receive(options?: { timeout?: number }): Promise<Buffer | null>;
}

/** send(), again after EPIPE: the consumer (a bridge) was killed while the ring was full; the next one comes. */
export async function sendThroughRestarts(channel: BridgedEnd, message: Buffer): Promise<void> {
  for (;;) {
    try {
      return await channel.send(message);
    } catch (error) {
      if (!isEpipe(error)) throw error;
      await sleep(20);
    }
  }
}

/** receive(), again after EPIPE: the producer (a bridge) was killed with the ring empty; the next one attaches. */
export async function receiveThroughRestarts(channel: BridgedEnd, timeout?: number): Promise<Buffer | null> {
  for (;;) {
    try {
      return await channel.receive({ timeout });
    } catch (error) {
      if (!isEpipe(error)) throw error;
      await sleep(20);
    }
  }
}
