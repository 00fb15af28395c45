// Runs the test suite (node --test through tsx) and checks that it left nothing behind: no System V
// objects, /dev/shm or /dev/mqueue entries that were not there before, nothing in the private directory
// tests create their FIFOs and sockets in, and no new file in the project's directory.
//   node scripts/test.mjs [test files...]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

function listTests(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'peers' ? [] : listTests(full);
    return entry.name.endsWith('.test.ts') ? [path.relative(root, full)] : [];
  });
}

function ipcSnapshot() {
  const objects = new Set();
  for (const kind of ['msg', 'sem', 'shm']) {
    let lines = [];
    try {
      lines = fs.readFileSync(`/proc/sysvipc/${kind}`, 'utf8').trim().split('\n').slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const [key, id] = line.trim().split(/\s+/);
      objects.add(`System V ${kind} key ${key} id ${id}`);
    }
  }
  for (const dir of ['/dev/shm', '/dev/mqueue']) {
    try {
      for (const name of fs.readdirSync(dir)) objects.add(`${dir}/${name}`);
    } catch {
      // not mounted
    }
  }
  return objects;
}

const files = process.argv.length > 2 ? process.argv.slice(2) : listTests(path.join(root, 'test')).sort();
const before = ipcSnapshot();
const rootBefore = new Set(fs.readdirSync(root));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-test-'));
const concurrency = Math.max(2, os.availableParallelism());
// Per test, and per test file; slower runs raise it: the sanitizer one (scripts/test-asan.mjs) through
// UNIPC_TEST_TIMEOUT_MS, the soak (UNIPC_SOAK=1, npm run soak), whose files run for hours.
const timeout =
  Number(process.env.UNIPC_TEST_TIMEOUT_MS) || (process.env.UNIPC_SOAK === '1' ? 8 * 60 * 60 * 1000 : 120_000);

// UNIPC_TEST_REPORTER picks Node's test reporter (the Node matrix reads 'tap' from every major alike).
const reporter = process.env.UNIPC_TEST_REPORTER ? [`--test-reporter=${process.env.UNIPC_TEST_REPORTER}`] : [];
const run = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    ...reporter,
    `--test-concurrency=${concurrency}`,
    `--test-timeout=${timeout}`,
    ...files,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, UNIPC_TEST_TMPDIR: tmp } },
);

const problems = [];
const leftInTmp = fs.readdirSync(tmp, { recursive: true });
if (leftInTmp.length > 0) problems.push(`left in the test directory ${tmp}: ${leftInTmp.join(', ')}`);
fs.rmSync(tmp, { recursive: true, force: true });
const strays = fs.readdirSync(root).filter((name) => !rootBefore.has(name));
if (strays.length > 0) problems.push(`left in the project directory: ${strays.join(', ')}`);
const leaked = [...ipcSnapshot()].filter((object) => !before.has(object));
if (leaked.length > 0) problems.push(`IPC objects the suite created and did not remove:\n  ${leaked.join('\n  ')}`);
for (const problem of problems) console.error(`\nleak check: ${problem}`);
if (problems.length === 0) console.log('\nleak check: the suite left no IPC objects, FIFOs or sockets behind');

process.exitCode = run.status ?? 1;
if (problems.length > 0) process.exitCode = 1;
