// Queued Promise-form lockers of one Mutex keep the process alive if any of them asked to: the first
// (sleeping) one has `ref: false`, the second the default. A child holds the mutex for a while and
// exits; nothing else keeps this process alive, so it must stay for the second lock to print "second".
//   lock-ref.ts            (the test runs this)
//   lock-ref.ts holder     (the child: memfd as fd 3, holds the mutex ~300 ms)
import { MemoryFile, Mutex, spawn } from '../../src/index.js';
import { runTs } from '../helpers.js';

if (process.argv[2] === 'holder') {
  const file = MemoryFile.fromFd(3);
  const mapping = file.map();
  const guard = new Mutex(mapping).lockSync();
  console.log('held');
  setTimeout(() => guard.unlock(), 300);
} else {
  const file = MemoryFile.create('lock-ref', { size: 4096 });
  const mapping = file.map();
  const mutex = new Mutex(mapping);
  const child = spawn(process.execPath, [...runTs(process.argv[1]), 'holder'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    fds: [file.fd],
  });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  child.unref();
  (child.stdout as unknown as { unref(): void }).unref?.();
  child.stdout!.destroy();
  void mutex.lock({ ref: false }).then((guard) => {
    console.log('first');
    guard.unlock();
  });
  void mutex.lock().then((guard) => {
    console.log('second');
    guard.unlock();
  });
}
