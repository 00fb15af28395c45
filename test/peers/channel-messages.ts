// The messages the channel tests send: message i is its number, then 0–199 bytes of (i & 255).
export function message(i: number): Buffer {
  const bytes = Buffer.alloc(4 + (i % 200), i & 255);
  bytes.writeUInt32LE(i, 0);
  return bytes;
}

/** A multi-producer test's message: producer id, sequence number, then 0–99 bytes derived from both. */
export function tagged(id: number, seq: number): Buffer {
  const bytes = Buffer.alloc(8 + ((seq * 7 + id) % 100), (id * 31 + seq) & 255);
  bytes.writeUInt32LE(id, 0);
  bytes.writeUInt32LE(seq, 4);
  return bytes;
}
