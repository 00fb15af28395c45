// The suite on a busy machine: scripts/test.mjs on the machine's own IPC namespace (UNIPC_TEST_NAMESPACE=0),
// while another process creates and removes IPC objects of every kind in a loop, as other programs do.
// Passes only if the suite does: nothing in it may depend on the machine holding still, and the leak
// check may not count the other program's objects.
//   node scripts/test-busy.mjs [--all | test files...]        (npm run test:busy)
// By default every test file runs but those listed in NAMESPACE_FREE (scripts/test-files.mjs): files that
// make no System V object and no POSIX name (pipes, socketpairs, memfds, the benchmark's CI cases, pure
// TypeScript), which the other program cannot reach, so running them again here only costs time (about
// a third of the suite's). A new test file runs here until it is listed there; a listed file that comes
// to use a System V object or a POSIX name runs anyway, with a notice. --all runs every file.
import { spawnSync } from 'node:child_process';
import { startOtherProgram } from './other-program.mjs';
import { globalIpcUse, listTests, NAMESPACE_FREE, root } from './test-files.mjs';

const args = process.argv.slice(2);
const files = args.filter((arg) => arg !== '--all');
if (files.length === 0 && !args.includes('--all')) {
  const left = [];
  for (const file of listTests()) {
    if (!NAMESPACE_FREE.has(file)) {
      files.push(file);
      continue;
    }
    const use = globalIpcUse(file);
    if (use === undefined) {
      left.push(file);
      continue;
    }
    console.error(`test:busy: ${file} is listed as namespace-free but uses ${use}: run anyway (unlist it)`);
    files.push(file);
  }
  console.log(
    `test:busy: ${files.length} test files, those that make System V objects or POSIX names; the ${left.length} ` +
      `that make none, which no other program can reach, are not run again: ${left.join(', ')} (--all runs them)`,
  );
}

const other = startOtherProgram();
const suite = spawnSync(process.execPath, ['scripts/test.mjs', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, UNIPC_TEST_NAMESPACE: '0' },
});
const made = await other.stop();
console.error(`test:busy: the other program made and removed ${made} objects`);
process.exitCode = suite.status ?? 1;
