// A named pipe between two unrelated processes: this program creates the FIFO and starts a reader and a
// writer that know nothing of each other but its path. Run: npx tsx examples/fifo.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkfifo, openFifo, spawn } from 'unipc';

const [role, fifoPath] = process.argv.slice(2);
if (role === 'reader') {
  const reader = await openFifo(fifoPath, 'r', { timeout: 10_000 }); // waits for a writer
  for await (const chunk of reader.stream) process.stdout.write(`reader ${process.pid} got: ${chunk}`);
} else if (role === 'writer') {
  const writer = await openFifo(fifoPath, 'w', { timeout: 10_000 }); // waits for a reader
  await writer.write(`hello from writer ${process.pid}\n`);
  writer.close();
} else {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-example-'));
  const fifo = path.join(dir, 'fifo');
  mkfifo(fifo, { mode: 0o600 });
  const start = (who: string) =>
    new Promise((resolve) =>
      spawn(process.execPath, [...process.execArgv, process.argv[1], who, fifo], { stdio: 'inherit' }).on(
        'exit',
        resolve,
      ),
    );
  await Promise.all([start('reader'), start('writer')]);
  fs.rmSync(dir, { recursive: true });
}
