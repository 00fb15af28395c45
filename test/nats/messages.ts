// The messages of the NATS tests: number i is 0 to ~64 KiB long, starts with i (u32, little-endian) and
// continues with bytes derived from i, so that a receiver can check each one's order and content.
export function messageFor(i: number): Buffer {
  const size = 4 + ((i * 7919) % 9 === 0 ? (i * 104729) % 65536 : (i * 31) % 200);
  const message = Buffer.alloc(size);
  message.writeUInt32LE(i, 0);
  for (let j = 4; j < size; j++) message[j] = (i + j * 13) & 0xff;
  return message;
}
