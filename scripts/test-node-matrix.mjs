// Runs the whole suite, and the tour, on every supported Node major: each one's official binary from the
// npm registry package node-linux-<arch>@<major> (which also carries that Node's headers), with the addon
// compiled against those headers. Prints a table of the results; exits non-zero if any major failed.
//   node scripts/test-node-matrix.mjs [major...]        (default: 20 22 24 26)
// The Node packages are kept in node_modules/.cache/unipc-node-matrix, each major's full test output in a
// log file there. Each major's addon is built in build/node-<major> and loaded through node-gyp-build's
// UNIPC_PREBUILD override, so build/Release stays as it is.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildAddonIn, root } from './addon-build.mjs';

const cache = path.join(root, 'node_modules', '.cache', 'unipc-node-matrix');
const majors = process.argv.length > 2 ? process.argv.slice(2) : ['20', '22', '24', '26'];

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', ...options });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status ?? result.signal}):\n${result.stdout ?? ''}${result.stderr ?? ''}`,
    );
  }
  return result.stdout ?? '';
}

// The official binary of `major`, installed from the registry into the cache once.
function nodeOf(major) {
  const prefix = path.join(cache, `node-${major}`);
  const home = path.join(prefix, 'node_modules', `node-linux-${process.arch}`);
  const binary = path.join(home, 'bin', 'node');
  if (!fs.existsSync(binary)) {
    fs.mkdirSync(prefix, { recursive: true });
    fs.writeFileSync(path.join(prefix, 'package.json'), '{ "private": true }\n');
    console.error(`node-matrix: installing node-linux-${process.arch}@${major} from the registry`);
    run(
      'npm',
      ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `node-linux-${process.arch}@${major}`],
      { cwd: prefix },
    );
  }
  const version = run(binary, ['--version']).trim();
  if (!version.startsWith(`v${major}.`)) throw new Error(`${binary} is ${version}, not Node ${major}`);
  return { major, version, home, binary };
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
  console.error(`node-matrix: Node ${node.version}: compiling the addon against its headers`);
  const addon = path.join(root, 'build', `node-${node.major}`);
  buildAddonIn(addon, { nodedir: node.home });
  const env = {
    ...process.env,
    PATH: `${path.dirname(node.binary)}${path.delimiter}${process.env.PATH}`,
    UNIPC_PREBUILD: addon,
    UNIPC_TEST_REPORTER: 'tap',
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
  console.error(
    `node-matrix: Node ${node.version} (V8 ${v8}, lent views: ${guard}): the suite (log: ${path.relative(root, log)})`,
  );
  const started = Date.now();
  const suite = await runLogged(node.binary, ['scripts/test.mjs'], env, log);
  const seconds = Math.round((Date.now() - started) / 1000);
  const tour = await runLogged(node.binary, ['dist/esm/cli/main.js', 'tour'], env, log);
  const result = {
    ...node,
    v8,
    guard,
    seconds,
    tests: count(suite.output, 'tests'),
    pass: count(suite.output, 'pass'),
    fail: count(suite.output, 'fail'),
    skipped: count(suite.output, 'skipped'),
    leakCheck: /leak check: the suite left nothing behind/.test(suite.output),
    tour: tour.code === 0 ? (/All (\d+) steps passed/.exec(tour.output)?.[0] ?? 'passed') : `failed (${tour.code})`,
    ok: suite.code === 0 && tour.code === 0,
  };
  for (const block of failures(suite.output)) console.error(`\n[Node ${node.version}] ${block}`);
  if (!result.leakCheck)
    console.error(
      `\n[Node ${node.version}] ${suite.output
        .split('\n')
        .filter((l) => l.startsWith('leak check'))
        .join('\n')}`,
    );
  if (tour.code !== 0) console.error(`\n[Node ${node.version}] the tour failed:\n${tour.output.slice(-3000)}`);
  return result;
}

fs.mkdirSync(cache, { recursive: true });
const nodes = majors.map(nodeOf);
run(process.execPath, ['scripts/build.mjs'], { stdio: ['ignore', 'pipe', 'inherit'] });
const results = [];
for (const node of nodes) results.push(await testOn(node));

console.log('\n| Node | V8 | lent views | tests | passed | failed | skipped | leak check | tour | suite time |');
console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- | ---: |');
for (const r of results) {
  console.log(
    `| ${r.version} | ${r.v8} | ${r.guard} | ${r.tests} | ${r.pass} | ${r.fail} | ${r.skipped} | ${r.leakCheck ? 'clean' : '**leaks**'} | ${r.tour} | ${r.seconds} s |`,
  );
}
const failed = results.filter((r) => !r.ok).map((r) => r.version);
console.log(
  failed.length === 0
    ? `\nnode-matrix: every major passed (${results.map((r) => r.version).join(', ')})`
    : `\nnode-matrix: FAILED on ${failed.join(', ')}`,
);
process.exitCode = failed.length === 0 ? 0 : 1;
