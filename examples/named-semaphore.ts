// A POSIX named semaphore between two processes: the parent waits (without blocking its event loop)
// until the child posts. Run: npx tsx examples/named-semaphore.ts   (it lives in /dev/shm/sem.NAME)
import { NamedSemaphore, spawn } from 'unipc';

const [role, name] = process.argv.slice(2);
if (role === 'child') {
  using semaphore = NamedSemaphore.open(name!); // any process, C's sem_open() too, can open it by name
  console.log(`child ${process.pid} posts ${name}`);
  semaphore.post();
} else {
  const semaphoreName = `/unipc-example-${process.pid}`;
  using semaphore = NamedSemaphore.open(semaphoreName, { create: true, exclusive: true, initial: 0 }); // mode 0o600
  try {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'child', semaphoreName], {
      stdio: 'inherit',
    });
    const ticks = setInterval(() => {}, 1); // the event loop keeps running while the wait is pending
    await semaphore.wait({ timeout: 10_000 }); // sem_wait on a waiter thread
    clearInterval(ticks);
    console.log(`parent ${process.pid} woke: child ${child.pid} posted, value now ${semaphore.value}`);
  } finally {
    NamedSemaphore.unlink(semaphoreName);
  }
}
