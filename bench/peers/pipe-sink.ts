// Reads an inherited pipe end (fd 3) to the end and prints the byte count:
//   pipe-sink.ts stream | read | readSync     (which unipc API to read with)
//   pipe-sink.ts stdin                        (Node's own process.stdin, for comparison)
import { PipeReader } from '../../src/index.js';

const mode = process.argv[2];
let total = 0;
if (mode === 'stdin') {
  for await (const chunk of process.stdin) total += (chunk as Buffer).length;
} else {
  const reader = PipeReader.fromFd(3);
  if (mode === 'stream') {
    for await (const chunk of reader.stream) total += (chunk as Buffer).length;
  } else if (mode === 'read') {
    for (let chunk = await reader.read(); chunk !== null; chunk = await reader.read()) total += chunk.length;
  } else {
    for (let chunk = reader.readSync(); chunk !== null; chunk = reader.readSync()) total += chunk.length;
  }
  reader.close();
}
process.stdout.write(`${total}\n`);
