// Writes `count` bytes of a known pattern into its inherited pipe end (fd 3) with writeSync, then exits.
import { PipeWriter } from '../../src/index.js';

const count = Number(process.argv[2]);
const writer = PipeWriter.fromFd(3);
const chunk = Buffer.alloc(65536, 'abcdefgh');
for (let written = 0; written < count; written += chunk.length) {
  writer.writeSync(chunk.subarray(0, Math.min(chunk.length, count - written)));
}
writer.close();
console.log('done');
