// Reads its inherited pipe end (fd 3) to the end through the stream API and reports what arrived,
// with the descriptors it holds (to show the parent's end was not inherited).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { PipeReader } from '../../src/index.js';

const reader = PipeReader.fromFd(3);
const hash = createHash('sha256');
let bytes = 0;
for await (const chunk of reader.stream) {
  hash.update(chunk as Buffer);
  bytes += (chunk as Buffer).length;
}
const fds = fs
  .readdirSync('/proc/self/fd')
  .map(Number)
  .filter((fd) => fd > 2);
console.log(JSON.stringify({ bytes, sha256: hash.digest('hex'), fds }));
