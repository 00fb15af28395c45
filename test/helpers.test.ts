// The test helpers themselves: a helper that can miss an event makes whichever test uses it flaky.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { finished } from './helpers.js';

// Two CI runs lost a test this way: the C peer exited (and Node, with nobody reading its stdout,
// drained and closed it) while the test was still awaiting other work; finished() then listened for a
// 'close' that had already been emitted. On Node 20 the file ended with "Promise resolution is still
// pending but the event loop has already resolved"; on Node 24 and 26 the test hung until the runner's
// timeout.
test('finished() of a child that closed before anyone asked settles with its exit status', {
  timeout: 30_000,
}, async () => {
  const child = spawn('sh', ['-c', 'echo unread; exit 3'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child, 'close');
  const result = await finished(child);
  assert.equal(result.code, 3);
  assert.equal(result.signal, null);
});

test('finished() called before the child exits still collects all it prints', async () => {
  const child = spawn('sh', ['-c', 'sleep 0.05; echo first; echo second'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const result = await finished(child);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, 'first\nsecond\n');
});
