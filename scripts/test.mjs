// Runs the test suite (node --test through tsx, or Bun's or Deno's runner: UNIPC_TEST_RUNTIME below) and
// checks that it left nothing behind.
//   node scripts/test.mjs [test files...]
//
// Where it can, the suite runs in an IPC and mount namespace of its own (unshare: as root, or else in a
// user namespace of the current user), with a fresh tmpfs on /dev/shm and an mqueue filesystem of its
// own: System V ids start small on every run, as on a freshly booted machine, other programs' objects are
// out of sight, and the leak check is exact (whatever IPC object exists at the end is the suite's). Where
// it cannot (no unshare, or namespaces forbidden), it says so and runs on the machine's namespaces; the
// leak check then counts only what is recognisably this run's: POSIX names and System V keys with this
// run's tag (test/helpers.ts: RUN, testKey()), so another program's objects, another run's included, can
// never fail it; objects it cannot tell apart (IPC_PRIVATE ones) are counted but not held against it. UNIPC_TEST_NAMESPACE=0 asks for that form. Both also check that nothing is left in the
// private directory tests create their FIFOs and sockets in, nor a new file in the project's directory.
import { spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { listTests, root } from './test-files.mjs';

const here = fileURLToPath(import.meta.url);
const INSIDE = 'inside';

/** System V objects of this IPC namespace: { kind, key, id, uid } (uid: the creator's). */
function sysvObjects() {
  const objects = [];
  for (const kind of ['msg', 'sem', 'shm']) {
    let lines = [];
    try {
      lines = fs.readFileSync(`/proc/sysvipc/${kind}`, 'utf8').trim().split('\n');
    } catch {
      continue;
    }
    const header = lines[0].trim().split(/\s+/);
    for (const line of lines.slice(1)) {
      const fields = line.trim().split(/\s+/);
      const field = (name) => Number(fields[header.indexOf(name)]);
      objects.push({ kind, key: field('key'), id: fields[1], cuid: field('cuid') });
    }
  }
  return objects;
}

// Where this process's mqueue filesystem is mounted, if anywhere (as src/list.ts finds it).
function mqueueMount() {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [before, after] = line.split(' - ');
    if (after?.split(' ')[0] === 'mqueue') return before.split(' ')[4];
  }
  return undefined;
}

function posixNames() {
  const names = [];
  for (const dir of ['/dev/shm', mqueueMount()]) {
    if (dir === undefined) continue;
    try {
      for (const name of fs.readdirSync(dir)) names.push({ dir, name });
    } catch {
      // not readable
    }
  }
  return names;
}

const describe = (o) => (o.kind ? `System V ${o.kind} key ${o.key} id ${o.id}` : `${o.dir}/${o.name}`);

// The unshare command that gives a fresh IPC and mount namespace here, or why there is none.
function namespaceCommand(mqueueDir) {
  const base = ['--ipc', '--mount', '--propagation', 'private'];
  const args = process.getuid() === 0 ? base : ['--user', '--map-current-user', ...base];
  const setup = 'mount -t tmpfs -o mode=1777 unipc-test /dev/shm && mount -t mqueue unipc-test "$0" && exec "$@"';
  const probe = spawnSync('unshare', [...args, 'sh', '-c', setup, mqueueDir, 'true'], { encoding: 'utf8' });
  if (probe.error) return { reason: `unshare: ${probe.error.message}` };
  if (probe.status !== 0) return { reason: (probe.stderr || `unshare exited with ${probe.status}`).trim() };
  return { command: ['unshare', ...args, 'sh', '-c', setup, mqueueDir] };
}

const files = process.argv.length > 2 ? process.argv.slice(2) : listTests();

if (process.env.UNIPC_TEST_NAMESPACE !== INSIDE) {
  let reason = 'UNIPC_TEST_NAMESPACE=0';
  if (process.env.UNIPC_TEST_NAMESPACE !== '0') {
    const mqueueDir = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-mqueue-'));
    const namespace = namespaceCommand(mqueueDir);
    if (namespace.command) {
      console.log(
        'npm test: in an IPC and mount namespace of its own (fresh System V ids, private /dev/shm and mqueue)',
      );
      const [command, ...args] = namespace.command;
      const inner = spawnSync(command, [...args, process.execPath, here, ...files], {
        stdio: 'inherit',
        env: { ...process.env, UNIPC_TEST_NAMESPACE: INSIDE },
      });
      fs.rmSync(mqueueDir, { recursive: true, force: true });
      process.exit(inner.status ?? 1);
    }
    fs.rmSync(mqueueDir, { recursive: true, force: true });
    reason = `no IPC namespace of its own here: ${namespace.reason}`;
  }
  console.log(
    `npm test: on the machine's IPC namespace (${reason}); the leak check counts only this run's objects: ` +
      'POSIX names and System V keys with the tag of this run',
  );
}

const inside = process.env.UNIPC_TEST_NAMESPACE === INSIDE;
// This run's tag: bits 16–30 of the System V keys the tests use (test/helpers.ts testKey()), and the
// token in every POSIX IPC name they make (RUN, in uniqueIpcName and the fixtures' prefixes).
const keyTag = Number(process.env.UNIPC_TEST_KEY_TAG ?? randomInt(1, 0x8000));
const runToken = `run${keyTag.toString(16)}`;
const ofThisRun = (o) => (o.kind ? (o.key >>> 16) % 0x8000 === keyTag : o.name.includes(`-${runToken}-`));

const beforeObjects = new Set([...sysvObjects(), ...posixNames()].map(describe));
const rootBefore = new Set(fs.readdirSync(root));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-test-'));
const concurrency = Math.max(2, os.availableParallelism());
// Per test, and per test file (the benchmark's file takes 90–110 s on 2 busy vCPUs); slower runs raise
// it: the sanitizer one (scripts/test-asan.mjs) through UNIPC_TEST_TIMEOUT_MS, the soak (UNIPC_SOAK=1,
// npm run soak), whose files run for hours.
const timeout =
  Number(process.env.UNIPC_TEST_TIMEOUT_MS) || (process.env.UNIPC_SOAK === '1' ? 8 * 60 * 60 * 1000 : 180_000);

// UNIPC_TEST_REPORTER picks Node's test reporter (the Node matrix reads 'tap' from every major alike).
const reporter = process.env.UNIPC_TEST_REPORTER ? [`--test-reporter=${process.env.UNIPC_TEST_REPORTER}`] : [];
// UNIPC_TEST_RUNTIME=bun:<binary> or deno:<binary> runs the files with that runtime's own test runner
// instead, both of which run node:test suites (scripts/test-runtimes.mjs; docs/runtimes.md).
const [runtime, runtimeBinary] = (process.env.UNIPC_TEST_RUNTIME ?? '').split(/:(.*)/s);
const command =
  runtime === 'bun'
    ? [runtimeBinary, 'test', '--parallel', `--timeout=${timeout}`, ...files.map((file) => `./${file}`)]
    : runtime === 'deno'
      ? [runtimeBinary, 'test', '-A', '--no-check', '--sloppy-imports', '--v8-flags=--expose-gc']
      : [
          process.execPath,
          '--import',
          'tsx',
          '--test',
          ...reporter,
          `--test-concurrency=${concurrency}`,
          `--test-timeout=${timeout}`,
          ...files,
        ];
const testEnv = {
  ...process.env,
  UNIPC_TEST_TMPDIR: tmp,
  UNIPC_TEST_KEY_TAG: String(keyTag),
  UNIPC_TEST_RUN: runToken,
};
const run =
  runtime === 'deno'
    ? await denoInTwo(command, files)
    : spawnSync(command[0], command.slice(1), { cwd: root, stdio: 'inherit', env: testEnv });

// Deno's test --parallel runs files on threads of one process, where the suites' checks of what is
// process-wide (waiter threads, descriptors) see each other's: two deno test processes instead, each with
// every other file, their outputs printed whole as each ends. (Bun's --parallel uses processes.)
async function denoInTwo(command, files) {
  const halves = [files.filter((_, i) => i % 2 === 0), files.filter((_, i) => i % 2 === 1)].filter(
    (half) => half.length,
  );
  const statuses = await Promise.all(
    halves.map(
      (half) =>
        new Promise((resolve) => {
          const child = spawn(command[0], [...command.slice(1), ...half], { cwd: root, env: testEnv });
          const output = [];
          child.stdout.on('data', (chunk) => output.push(chunk));
          child.stderr.on('data', (chunk) => output.push(chunk));
          child.on('close', (code) => {
            process.stdout.write(Buffer.concat(output));
            resolve(code);
          });
        }),
    ),
  );
  return { status: statuses.every((code) => code === 0) ? 0 : 1 };
}

const problems = [];
const leftInTmp = fs.readdirSync(tmp, { recursive: true });
if (leftInTmp.length > 0) problems.push(`left in the test directory ${tmp}: ${leftInTmp.join(', ')}`);
fs.rmSync(tmp, { recursive: true, force: true });
const strays = fs.readdirSync(root).filter((name) => !rootBefore.has(name));
if (strays.length > 0) problems.push(`left in the project directory: ${strays.join(', ')}`);
const appeared = [...sysvObjects(), ...posixNames()].filter((o) => !beforeObjects.has(describe(o)));
const leaked = inside ? appeared : appeared.filter(ofThisRun);
if (leaked.length > 0) {
  problems.push(`IPC objects the suite created and did not remove:\n  ${leaked.map(describe).join('\n  ')}`);
}
for (const problem of problems) console.error(`\nleak check: ${problem}`);
if (problems.length === 0) {
  const others = appeared.length - leaked.length;
  const scope = inside
    ? 'its namespace holds no IPC object'
    : `no IPC object of this run is left (${others} of other programs or unrecognisable appeared meanwhile)`;
  console.log(`\nleak check: the suite left nothing behind: ${scope}, no FIFO or socket, no stray file`);
}

process.exitCode = run.status ?? 1;
if (problems.length > 0) process.exitCode = 1;
