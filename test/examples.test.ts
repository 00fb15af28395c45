// The examples are documentation: each must run as the README says (npx tsx examples/<name>.ts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { root } from './helpers.js';

const run = promisify(execFile);

const expectations: Record<string, RegExp[]> = {
  'pipe-fork': [/^parent (\d+) wrote to child (\d+)$/m, /^child \d+ read: hello world$/m],
  fifo: [/^reader \d+ got: hello from writer \d+$/m],
  socketpair: [/sent "one", got "ONE" from pid (\d+) \(child \1\)/, /sent "three", got "THREE"/],
  'fd-passing': [/^child \d+ got fd \d+ \(a deleted file\): "the contents of a deleted file"$/m],
  'unix-socket': [/^server: pid (\d+) \(uid \d+\) says hello, server$/m, /^client \d+ got: hello, client$/m],
  'mmap-file': [/^child (\d+) read: hello from \d+$/m, /^parent \d+ read: and hello back from \d+$/m],
  memfd: [/^two processes added 1,000,000 each: counter = 2000000$/m],
  'shared-lock': [/^two processes added 100000 each under one Mutex: counter = 200000$/m],
  'posix-shm': [/^child \d+ read from \/unipc-example-\d+: written by \d+$/m],
  'sysv-queue': [
    /^child (\d+) got type 1: urgent$/m,
    /^child \d+ got type 2: routine$/m,
    /^child \d+ got type 3: report$/m,
    /^parent got type 9: thanks from \d+$/m,
    /^queue \d+: 1 message left \(5 bytes\), last sent by \d+$/m,
  ],
  'posix-queue': [
    /got priority 31: critical\n.*got priority 10: important\n.*got priority 0: routine\n.*got priority 0: routine too$/m,
    /^\/unipc-example-\d+: 0 messages left$/m,
  ],
  'sysv-shm': [
    /^child (\d+) read: hello from \d+$/m,
    /^parent read: reply from \d+$/m,
    /^segment \d+: 4096 bytes, mode 600, 1 attached, last detach by \d+$/m,
  ],
  'sysv-semaphore': [
    /^child \d+ exits holding the semaphore$/m,
    /^two processes added 1000 each under the semaphore: counter = 2000$/m,
    /^after the child's exit the semaphore is 1 again \(SEM_UNDO\), last changed by \d+$/m,
  ],
  topic: [/^(subscriber \d+: \d+ prices, \d+ missed, last "EURUSD 1\.1799"\n){3}/m],
  service: [/^client \d+: SHARED MEMORY REQUEST RESPONSE\nclient \d+: SHARED MEMORY REQUEST RESPONSE$/m],
  'topic-c': [
    /^C subscriber \d+ joined\nC subscriber got: shared\nC subscriber got: memory\nC subscriber got: from\nC subscriber got: Node\nC subscriber missed 0$/m,
  ],
  'channel-python': [/^(Python consumer \d+ got: job 1)\n.*got: job 2\n.*got: job 3$/m],
  'named-semaphore': [/^child \d+ posts \/unipc-example-\d+$/m, /^parent \d+ woke: child \d+ posted, value now 0$/m],
};

for (const [name, patterns] of Object.entries(expectations)) {
  test(`examples/${name}.ts`, async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(root, 'examples', `${name}.ts`)], {
      cwd: root,
      timeout: 60_000,
    });
    for (const pattern of patterns) assert.match(stdout, pattern);
  });
}
