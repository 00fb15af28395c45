// One side of a FIFO conversation between unrelated processes:
//   fifo.ts read <path>          prints what it read, as JSON
//   fifo.ts write <path> <text>  writes text
import { openFifo } from '../../src/index.js';

const [role, path, text] = process.argv.slice(2);
if (role === 'read') {
  const reader = await openFifo(path, 'r', { timeout: 30_000 });
  const chunks: Buffer[] = [];
  for (let chunk = await reader.read(); chunk !== null; chunk = await reader.read()) chunks.push(chunk);
  reader.close();
  console.log(JSON.stringify({ pid: process.pid, read: Buffer.concat(chunks).toString() }));
} else {
  const writer = await openFifo(path, 'w', { timeout: 30_000 });
  await writer.write(text);
  writer.close();
  console.log(JSON.stringify({ pid: process.pid, wrote: text.length }));
}
