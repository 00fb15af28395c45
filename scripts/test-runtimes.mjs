// unipc on Bun and Deno (docs/runtimes.md), each at the version scripts/runtimes.mjs pins:
//  1. the tour on the runtime itself (every mechanism between two processes of that runtime);
//  2. the tour on Node with every peer on the runtime: each mechanism between Node and Bun or Deno,
//     a robust Mutex whose Bun or Deno holder is killed -9 and recovered by Node among them;
//  3. the suites of the mechanisms (RUNTIME_SUITES) under the runtime's own test runner, through
//     scripts/test.mjs (its namespace and leak check); the tests docs/runtimes.md lists are skipped there
//     (nodeOnly() in test/helpers.ts), for the reasons it gives.
//   node scripts/test-runtimes.mjs [bun|deno ...]
// Exits non-zero if anything failed; prints a table of what ran.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { root } from './addon-build.mjs';
import { RUNTIMES, runCommand, runtimeBinary } from './runtimes.mjs';

/** The suites of the mechanisms, run whole on each runtime (docs/runtimes.md lists what is skipped). */
const MECHANISM_SUITES = [
  'test/pipe.test.ts',
  'test/socket.test.ts',
  'test/fd.test.ts',
  'test/mmap.test.ts',
  'test/shm.test.ts',
  'test/sem.test.ts',
  'test/lock.test.ts',
  'test/msg.test.ts',
  'test/mq.test.ts',
  'test/channel.test.ts',
  'test/wait.test.ts',
];
export const RUNTIME_SUITES = { bun: MECHANISM_SUITES, deno: MECHANISM_SUITES };

const named = process.argv.slice(2);
const runtimes = named.length > 0 ? named : Object.keys(RUNTIMES);
const cli = path.join(root, 'dist', 'esm', 'cli', 'main.js');
const TOUR_PASSED = /All (\d+) steps passed\./;

function tour(command, env = {}) {
  const result = spawnSync(command[0], [...command.slice(1), 'tour'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 300_000,
  });
  const passed = TOUR_PASSED.exec(result.stdout ?? '');
  if (result.status === 0 && passed) return { ok: true, detail: `all ${passed[1]} steps passed` };
  process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
  return { ok: false, detail: `exit ${result.status ?? result.signal}` };
}

const rows = [];
for (const name of runtimes) {
  const binary = runtimeBinary(name);
  const label = `${name} ${RUNTIMES[name]}`;
  console.log(`\n== ${label}: the tour`);
  rows.push([label, 'tour', tour(runCommand(name, binary, cli))]);
  console.log(`== Node ${process.version} with every peer on ${label}: the tour`);
  const peers = name === 'deno' ? `${binary} run -A` : binary;
  rows.push([label, 'tour, Node ↔ peers', tour([process.execPath, cli], { UNIPC_TOUR_PEERS: peers })]);
  const files = RUNTIME_SUITES[name];
  console.log(`== ${label}: ${files.length} suites`);
  const suites = spawnSync(process.execPath, [path.join(root, 'scripts', 'test.mjs'), ...files], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, UNIPC_TEST_RUNTIME: `${name}:${binary}` },
  });
  rows.push([
    label,
    `${files.length} suites`,
    { ok: suites.status === 0, detail: `exit ${suites.status ?? suites.signal}` },
  ]);
}

console.log('\nruntime        what                  result');
for (const [label, what, { ok, detail }] of rows) {
  console.log(`${label.padEnd(14)} ${what.padEnd(21)} ${ok ? 'ok' : 'FAILED'} (${detail})`);
}
process.exitCode = rows.every(([, , { ok }]) => ok) ? 0 : 1;
