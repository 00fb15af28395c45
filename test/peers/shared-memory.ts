// The other process in the shared-memory tests. Each role maps some memory, reports what it found there
// as JSON, and writes its own mark:
//   file <path> <offset> <text>   map a file 'rw' shared; report the first 32 bytes; write text at offset
//   memfd <text>                  map the MemoryFile inherited as fd 3; report; write text at 0
//   memfd-socket <text>           receive a MemoryFile over the socket inherited as fd 3; same
//   posix <name> <text>           open and map a POSIX shared memory object; same
//   sysv <id> <text>              attach a System V segment by id; same, then detach
import { type Mapping, MemoryFile, SharedMemory, SysvSharedMemory, UnixSocket } from '../../src/index.js';

const [role, ...args] = process.argv.slice(2);

function visit(mapping: Mapping, text: string, offset = 0): void {
  const bytes = Buffer.from(mapping.buffer);
  const seen = bytes.subarray(0, 32).toString('latin1').replace(/\0+$/, '');
  bytes.write(text, offset);
  console.log(JSON.stringify({ pid: process.pid, seen, length: mapping.length }));
}

switch (role) {
  case 'file': {
    const [path, offset, text] = args;
    const { mmap } = await import('../../src/index.js');
    using mapping = mmap(path, { prot: 'rw' });
    visit(mapping, text, Number(offset));
    break;
  }
  case 'memfd': {
    using file = MemoryFile.fromFd(3);
    using mapping = file.map();
    visit(mapping, args[0]);
    break;
  }
  case 'memfd-socket': {
    using socket = UnixSocket.fromFd(3);
    const message = await socket.receive({ timeout: 30_000 });
    using file = MemoryFile.fromFd(message!.fds[0]);
    using mapping = file.map();
    visit(mapping, args[0]);
    break;
  }
  case 'posix': {
    using memory = SharedMemory.open(args[0]);
    using mapping = memory.map();
    visit(mapping, args[1]);
    break;
  }
  case 'sysv': {
    const segment = SysvSharedMemory.fromId(Number(args[0]));
    using mapping = segment.attach();
    visit(mapping, args[1]);
    break;
  }
  default:
    throw new Error(`unknown role ${role}`);
}
