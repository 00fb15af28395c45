// The messages the channel tests send: message i is its number, then 0–199 bytes of (i & 255).
export function message(i: number): Buffer {
  const bytes = Buffer.alloc(4 + (i % 200), i & 255);
  bytes.writeUInt32LE(i, 0);
  return bytes;
}
