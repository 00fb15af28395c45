// unipc on Bun and Deno (docs/runtimes.md), each at the version scripts/runtimes.mjs pins:
//  1. the tour on the runtime itself (every mechanism between two processes of that runtime);
//  2. the tour on Node with every peer on the runtime: each mechanism between Node and Bun or Deno,
//     a robust Mutex whose Bun or Deno holder is killed -9 and recovered by Node among them;
//  3. the suites of the mechanisms (RUNTIME_SUITES) under the runtime's own test runner, through
//     scripts/test.mjs (its namespace and leak check); the tests docs/runtimes.md lists are skipped there
//     (nodeOnly() in test/helpers.ts), for the reasons it gives;
//  4. suites on Node with every peer they start on the runtime (PEER_SUITES, UNIPC_TEST_PEERS): the
//     mechanisms' own multi-process tests between Node and Bun or Deno.
// The runtimes run side by side (each suite in IPC namespaces of its own), each one's output kept and
// printed when it is done.
//   node scripts/test-runtimes.mjs [bun|deno ...]
// Exits non-zero if anything failed; prints a table of what ran.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { root } from './addon-build.mjs';
import { DENO_PERMISSIONS, RUNTIMES, runCommand, runtimeBinary } from './runtimes.mjs';

/**
 * The suites of the mechanisms, run whole on each runtime (docs/runtimes.md lists what is skipped), in an
 * order that splits evenly into every other file: scripts/test.mjs runs Deno's two halves side by side,
 * and the channel's suite is the longest by far.
 */
const MECHANISM_SUITES = [
  'test/channel.test.ts',
  'test/mmap.test.ts',
  'test/pipe.test.ts',
  'test/wait.test.ts',
  'test/fd.test.ts',
  'test/lock.test.ts',
  'test/shm.test.ts',
  'test/channel-adversarial.test.ts',
  'test/msg.test.ts',
  'test/sem.test.ts',
  'test/mq.test.ts',
  'test/socket.test.ts',
  'test/topic.test.ts',
];
export const RUNTIME_SUITES = { bun: MECHANISM_SUITES, deno: MECHANISM_SUITES };

/**
 * The suites run on Node with their peers on the runtime, the mechanisms shared between the two so that
 * each talks to one of them: a robust Mutex held by Deno and recovered by Node, a Channel from Node to Bun.
 */
export const PEER_SUITES = {
  bun: ['test/pipe.test.ts', 'test/socket.test.ts', 'test/channel.test.ts'],
  deno: ['test/lock.test.ts', 'test/sem.test.ts', 'test/shm.test.ts', 'test/msg.test.ts', 'test/mq.test.ts'],
};

const named = process.argv.slice(2);
const runtimes = named.length > 0 ? named : Object.keys(RUNTIMES);
const cli = path.join(root, 'dist', 'esm', 'cli', 'main.js');
const TOUR_PASSED = /All (\d+) steps passed\./;
const testScript = path.join(root, 'scripts', 'test.mjs');

// Runs a command to its end, its output appended to `log`.
function run(log, command, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env } });
    let output = '';
    const keep = (chunk) => {
      output += chunk;
      log.push(chunk);
    };
    child.stdout.setEncoding('utf8').on('data', keep);
    child.stderr.setEncoding('utf8').on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

async function tour(log, command, env = {}) {
  const { code, signal, output } = await run(log, command[0], [...command.slice(1), 'tour'], env);
  const passed = TOUR_PASSED.exec(output);
  if (code === 0 && passed) return { ok: true, detail: `all ${passed[1]} steps passed` };
  return { ok: false, detail: `exit ${code ?? signal}` };
}

async function suites(log, files, env) {
  const { code, signal } = await run(log, process.execPath, [testScript, ...files], env);
  return { ok: code === 0, detail: `exit ${code ?? signal}` };
}

async function onRuntime(name) {
  const binary = runtimeBinary(name);
  const label = `${name} ${RUNTIMES[name]}`;
  const log = [];
  const rows = [];
  const step = async (what, start) => {
    log.push(`\n== ${label}: ${what}\n`);
    const from = log.length;
    const began = performance.now();
    const result = await start();
    const output = result.ok ? '' : log.slice(from).join('');
    rows.push([label, what, { ...result, output, seconds: Math.round((performance.now() - began) / 1000) }]);
  };
  await step('tour', () => tour(log, runCommand(name, binary, cli)));
  const peers = name === 'deno' ? [binary, 'run', ...DENO_PERMISSIONS].join(' ') : binary;
  await step('tour, Node ↔ peers', () => tour(log, [process.execPath, cli], { UNIPC_TOUR_PEERS: peers }));
  const own = RUNTIME_SUITES[name];
  await step(`${own.length} suites`, () => suites(log, own, { UNIPC_TEST_RUNTIME: `${name}:${binary}` }));
  const shared = PEER_SUITES[name];
  await step(`${shared.length} suites, Node ↔ peers`, () =>
    suites(log, shared, { UNIPC_TEST_PEERS: `${name}:${binary}` }),
  );
  process.stdout.write(log.join(''));
  return rows;
}

for (const name of runtimes) runtimeBinary(name); // installs, one at a time
const rows = (await Promise.all(runtimes.map(onRuntime))).flat();
console.log('\nruntime        what                        time    result');
for (const [label, what, { ok, detail, seconds }] of rows) {
  console.log(
    `${label.padEnd(14)} ${what.padEnd(27)} ${`${seconds} s`.padStart(5)}   ${ok ? 'ok' : 'FAILED'} (${detail})`,
  );
}
// CI keeps only the end of what a run printed, so what failed is printed again after the table.
for (const [label, what, { ok, output }] of rows) {
  if (ok) continue;
  console.log(`\n== what failed: ${label}, ${what}\n${whatFailed(output)}`);
}
process.exitCode = rows.every(([, , { ok }]) => ok) ? 0 : 1;

/**
 * The parts of a failed step's output that say what failed, in each runner's words: Deno's ERRORS and
 * FAILURES sections, the error Bun prints before each `(fail)` line, each `not ok` of Node's TAP with its
 * details, Node's spec reporter's `failing tests`, the leak check's complaints. A tour, or output none of
 * these match, is given by its last lines.
 */
function whatFailed(output, most = 200) {
  const lines = stripVTControlCharacters(output).split('\n');
  const kept = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === 'ERRORS') {
      let end = i;
      while (end < lines.length - 1 && !lines[end].startsWith('FAILED |')) end++;
      kept.push(...lines.slice(i, end + 1));
      i = end;
    } else if (/^\(fail\) /.test(line)) {
      let start = i;
      while (start > 0 && i - start < 40 && !/^\((pass|fail|skip)\) |^\S.*\.test\.ts:$/.test(lines[start - 1])) start--;
      kept.push(...lines.slice(start, i + 1));
    } else if (/^\s*not ok \d+/.test(line)) {
      const indent = line.search(/\S/);
      let end = i + 1;
      while (end < lines.length && end - i < 40 && lines[end].trimEnd() !== `${' '.repeat(indent + 2)}...`) end++;
      kept.push(...lines.slice(i, end + 1));
      i = end;
    } else if (/failing tests:$/.test(line.trim())) {
      kept.push(...lines.slice(i, i + 80));
      i += 80;
    } else if (/^leak check: (?!the suite left nothing)/.test(line)) {
      kept.push(...lines.slice(i, i + 10));
    }
  }
  const text = kept.length > 0 ? kept : lines.filter((line) => line.trim()).slice(-40);
  return text.length > most
    ? [...text.slice(0, most), `… ${text.length - most} more lines`].join('\n')
    : text.join('\n');
}
