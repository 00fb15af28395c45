// The classic pipe + fork of the C books (parent writes, child reads, each closes the end it does not
// use), with spawn in place of fork. Run: npx tsx examples/pipe-fork.ts
//
//   C                                   unipc
//   pipe(fd)                            const { reader, writer } = pipe()
//   fork(); child keeps fd[0]           spawn(…, { fds: [reader] }) → the child's fd 3; the parent's
//                                        copy is closed, and the write end never reaches the child
//   write(fd[1], "hello world\n", 12)   writer.writeSync('hello world\n')
//   read(fd[0], line, MAXLINE)          PipeReader.fromFd(3).readSync()
import { PipeReader, pipe, spawn } from 'unipc';

if (process.argv[2] === 'child') {
  const reader = PipeReader.fromFd(3);
  const line = reader.readSync();
  process.stdout.write(`child ${process.pid} read: ${line}`);
  reader.close();
} else {
  const { reader, writer } = pipe();
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'child'], {
    stdio: 'inherit',
    fds: [reader],
  });
  console.log(`parent ${process.pid} wrote to child ${child.pid}`);
  writer.writeSync('hello world\n');
  writer.close();
  child.on('exit', (code) => process.exit(code ?? 1));
}
