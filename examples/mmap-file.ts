// A file mapped into two processes: each sees the other's writes in memory, with no read() or write().
// Run: npx tsx examples/mmap-file.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mmap, spawn } from 'unipc';

const [role, file] = process.argv.slice(2);
if (role === 'child') {
  using map = mmap(file, { prot: 'rw' });
  const text = Buffer.from(map.buffer);
  console.log(`child ${process.pid} read: ${text.toString('utf8', 0, 32).replace(/\0+$/, '')}`);
  text.write(`and hello back from ${process.pid}`, 64);
} else {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-example-'));
  const target = path.join(dir, 'shared.bin');
  fs.writeFileSync(target, Buffer.alloc(4096));
  using map = mmap(target, { prot: 'rw' }); // MAP_SHARED
  const text = Buffer.from(map.buffer);
  text.write(`hello from ${process.pid}`);
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'child', target], { stdio: 'inherit' });
  await new Promise((resolve) => child.on('exit', resolve));
  console.log(`parent ${process.pid} read: ${text.toString('utf8', 64, 128).replace(/\0+$/, '')}`);
  fs.rmSync(dir, { recursive: true });
}
