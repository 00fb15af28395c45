// Runs the suite, the tour among it, on every supported Node major: each one's official binary from the
// npm registry package node-linux-<arch>@<major> (which also carries that Node's headers), with the addon
// compiled against those headers. Prints a table of the results; exits non-zero if any major failed.
//   node scripts/test-node-matrix.mjs [--prebuilds] [--all] [--busy=<major>] [major...]   (default: 20 22 24 26)
// Every test file runs but those listed in MAJOR_INDEPENDENT (scripts/test-files.mjs): files whose result
// cannot depend on the Node major (the TypeScript compiler checking the API examples, the ring's pure
// arithmetic); every file that loads the addon for what it tests, or uses buffers, workers, streams or
// child processes, runs on each major. --all runs every file. The tour is test/cli.test.ts's tour test,
// which runs `unipc tour` on the major under test; the table reports it from the suite's output.
// The Node packages are kept in node_modules/.cache/unipc-node-matrix, each major's full test output in a
// log file there. Each major's addon is built in build/node-<major> and loaded through node-gyp-build's
// UNIPC_PREBUILD override, so build/Release stays as it is. With --prebuilds, each major runs the
// package's own prebuilt addon for its ABI instead (prebuilds/linux-<arch>/unipc.abi<N>.glibc.node, made
// by `npm run build:prebuilds` against the same headers), which must be newer than every native source.
// --busy=<major> runs that major's suite as `npm run test:busy` runs the machine's: on the machine's IPC
// namespaces (UNIPC_TEST_NAMESPACE=0) beside another program that makes and removes IPC objects
// (scripts/other-program.mjs), every file of the matrix's included. CI tests the busy machine so, on one
// of the other majors, rather than running the suite once more on its own: nothing a busy machine breaks
// depends on the major, and the other majors keep their namespaces and exact leak check.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildAddonIn, root } from './addon-build.mjs';
import { cache, nodePackage, supportedMajors } from './node-packages.mjs';
import { startOtherProgram } from './other-program.mjs';
import { listTests, MAJOR_INDEPENDENT } from './test-files.mjs';

const usePrebuilds = process.argv.includes('--prebuilds');
const busyMajor = process.argv.find((arg) => arg.startsWith('--busy='))?.slice('--busy='.length);
const named = process.argv
  .slice(2)
  .filter((arg) => !['--prebuilds', '--all'].includes(arg) && !arg.startsWith('--busy='));
const majors = named.length > 0 ? named : supportedMajors;
if (busyMajor !== undefined && !majors.includes(busyMajor)) {
  console.error(`node-matrix: --busy=${busyMajor} names a major this run does not test (${majors.join(', ')})`);
  process.exit(2);
}
const files = process.argv.includes('--all') ? [] : listTests().filter((file) => !MAJOR_INDEPENDENT.has(file));
// The test that runs `unipc tour` (test/cli.test.ts), by its name in the TAP output.
const TOUR_TEST = /^[ \t]*(not )?ok \d+ - the tour runs every step\b.*$/m;

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', ...options });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status ?? result.signal}):\n${result.stdout ?? ''}${result.stderr ?? ''}`,
    );
  }
  return result.stdout ?? '';
}

// The prebuilt addon for `node`'s ABI, copied to build/node-<major>/build/Release (where UNIPC_PREBUILD
// finds it); refused if a native source changed after it was built.
function usePrebuild(node, addon) {
  const abi = run(node.binary, ['-p', 'process.versions.modules']).trim();
  const prebuild = path.join(root, 'prebuilds', `linux-${process.arch}`, `unipc.abi${abi}.glibc.node`);
  if (!fs.existsSync(prebuild))
    throw new Error(`no ${path.relative(root, prebuild)}: run npm run build:prebuilds first`);
  const sources = [
    'binding.gyp',
    ...fs
      .readdirSync(path.join(root, 'native'))
      .filter((file) => /\.(cc|h)$/.test(file))
      .map((file) => path.join('native', file)),
  ];
  const built = fs.statSync(prebuild).mtimeMs;
  const newer = sources.filter((source) => fs.statSync(path.join(root, source)).mtimeMs > built);
  if (newer.length > 0) throw new Error(`${path.relative(root, prebuild)} is older than ${newer.join(', ')}`);
  fs.rmSync(addon, { recursive: true, force: true });
  fs.mkdirSync(path.join(addon, 'build', 'Release'), { recursive: true });
  fs.copyFileSync(prebuild, path.join(addon, 'build', 'Release', 'unipc.node'));
  return path.relative(root, prebuild);
}

// Runs a command, its output to `log` and, for the failures, to stderr; resolves { code, output }.
function runLogged(command, args, env, log) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = fs.createWriteStream(log, { flags: 'a' });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk) => {
        out.write(chunk);
        output += chunk;
      });
    }
    child.on('close', (code, signal) => out.end(() => resolve({ code: code ?? signal, output })));
  });
}

// The failing tests' blocks of TAP output: from "not ok" to the end of its YAML block.
function failures(output) {
  const lines = output.split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*not ok /.test(lines[i])) continue;
    const indent = lines[i].search(/\S/);
    let end = i + 1;
    while (end < lines.length && !(lines[end].search(/\S/) === indent + 2 && lines[end].trim() === '...')) end++;
    blocks.push(lines.slice(i, Math.min(end + 1, i + 60)).join('\n'));
  }
  return blocks;
}

// A count from the TAP summary ("# pass 898").
const count = (output, name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? Number.NaN);

async function testOn(node) {
  const log = path.join(cache, `node-${node.major}.log`);
  fs.writeFileSync(log, '');
  const addon = path.join(root, 'build', `node-${node.major}`);
  if (usePrebuilds) {
    console.error(`node-matrix: Node ${node.version}: the prebuilt ${usePrebuild(node, addon)}`);
  } else {
    console.error(`node-matrix: Node ${node.version}: compiling the addon against its headers`);
    buildAddonIn(addon, { nodedir: node.home });
  }
  const busy = node.major === busyMajor;
  const env = {
    ...process.env,
    PATH: `${path.dirname(node.binary)}${path.delimiter}${process.env.PATH}`,
    UNIPC_PREBUILD: addon,
    UNIPC_TEST_REPORTER: 'tap',
    ...(busy ? { UNIPC_TEST_NAMESPACE: '0' } : {}),
  };
  const probe = run(
    node.binary,
    [
      '--input-type=module',
      '-e',
      "const c = await import('./dist/esm/channel.js'); console.log(process.versions.v8, c.LENT_VIEW_GUARD)",
    ],
    { env },
  );
  const [v8, guard] = probe.trim().split(' ');
  const where = busy ? ", on the machine's namespaces beside another program making IPC objects" : '';
  console.error(
    `node-matrix: Node ${node.version} (V8 ${v8}, lent views: ${guard}): the suite${where} (log: ${path.relative(root, log)})`,
  );
  const started = Date.now();
  const other = busy ? startOtherProgram() : undefined;
  const suite = await runLogged(node.binary, ['scripts/test.mjs', ...files], env, log);
  const made = await other?.stop();
  const seconds = Math.round((Date.now() - started) / 1000);
  const tourTest = TOUR_TEST.exec(suite.output);
  const tour = { ran: tourTest !== null && !/# SKIP/.test(tourTest[0]), passed: false };
  tour.passed = tour.ran && tourTest[1] === undefined;
  const result = {
    ...node,
    v8,
    guard,
    seconds,
    tests: count(suite.output, 'tests'),
    pass: count(suite.output, 'pass'),
    fail: count(suite.output, 'fail'),
    skipped: count(suite.output, 'skipped'),
    namespaces: busy ? `the machine's, busy (${made} objects made and removed meanwhile)` : 'its own',
    leakCheck: /leak check: the suite left nothing behind/.test(suite.output),
    tour: tour.passed ? 'passed (test/cli.test.ts)' : tour.ran ? 'failed (test/cli.test.ts)' : '**not run**',
    ok: suite.code === 0 && tour.passed,
  };
  for (const block of failures(suite.output)) console.error(`\n[Node ${node.version}] ${block}`);
  if (!result.leakCheck)
    console.error(
      `\n[Node ${node.version}] ${suite.output
        .split('\n')
        .filter((l) => l.startsWith('leak check'))
        .join('\n')}`,
    );
  if (!tour.ran)
    console.error(`\n[Node ${node.version}] the suite ran no tour test (test/cli.test.ts): the matrix counts on it`);
  return result;
}

fs.mkdirSync(cache, { recursive: true });
const nodes = majors.map((major) => nodePackage(major));
run(process.execPath, ['scripts/build.mjs'], { stdio: ['ignore', 'pipe', 'inherit'] });
const results = [];
for (const node of nodes) results.push(await testOn(node));

console.log(
  '\n| Node | V8 | lent views | IPC namespaces | tests | passed | failed | skipped | leak check | tour | suite time |',
);
console.log('| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- | ---: |');
for (const r of results) {
  console.log(
    `| ${r.version} | ${r.v8} | ${r.guard} | ${r.namespaces} | ${r.tests} | ${r.pass} | ${r.fail} | ${r.skipped} | ${r.leakCheck ? 'clean' : '**leaks**'} | ${r.tour} | ${r.seconds} s |`,
  );
}
const failed = results.filter((r) => !r.ok).map((r) => r.version);
console.log(
  failed.length === 0
    ? `\nnode-matrix: every major passed (${results.map((r) => r.version).join(', ')})`
    : `\nnode-matrix: FAILED on ${failed.join(', ')}`,
);
process.exitCode = failed.length === 0 ? 0 : 1;
