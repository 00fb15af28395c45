// System V shared memory: a segment made by key, attached by two processes, inspected and removed.
// Run: npx tsx examples/sysv-shm.ts   (while it runs, `ipcs -m` lists the segment)
import { IPC_PRIVATE, SysvSharedMemory, spawn } from 'unipc';

const [role, id] = process.argv.slice(2);
if (role === 'child') {
  using map = SysvSharedMemory.fromId(Number(id)).attach();
  const bytes = Buffer.from(map.buffer);
  console.log(`child ${process.pid} read: ${bytes.toString('utf8', 0, 32).replace(/\0+$/, '')}`);
  bytes.write(`reply from ${process.pid}`, 32);
} else {
  const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: 4096, create: true }); // mode 0o600
  try {
    using map = segment.attach();
    const bytes = Buffer.from(map.buffer);
    bytes.write(`hello from ${process.pid}`);
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'child', String(segment.id)], {
      stdio: 'inherit',
    });
    await new Promise((resolve) => child.on('exit', resolve));
    const { attachments, lastPid, size, mode } = segment.stat();
    console.log(`parent read: ${bytes.toString('utf8', 32, 64).replace(/\0+$/, '')}`);
    console.log(
      `segment ${segment.id}: ${size} bytes, mode ${mode.toString(8)}, ${attachments} attached, last detach by ${lastPid}`,
    );
  } finally {
    segment.remove(); // IPC_RMID
  }
}
