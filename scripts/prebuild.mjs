// Builds the addons the package ships prebuilt, with prebuildify (`npm run build:prebuilds`; `npm pack` and
// `npm publish` run it first, through "prepack"). They are build outputs, not sources: prebuilds/ is not
// committed. For linux-x64, and linux-arm64 (cross-compiled with Debian's g++-aarch64-linux-gnu):
//   unipc.glibc.node            Node-API, for any Node (lent views through Node-API: docs/design.md)
//   unipc.abi<N>.glibc.node     x64 only: one per supported major, compiled against that release's
//                               headers, which node-gyp-build prefers on that major (lent views through V8)
// arm64 has the Node-API build alone: each per-major build compiles the whole addon again for one faster
// path (a lent view ~4 µs cheaper), and four more cross builds would have taken CI past its time budget.
// The headers are those of the registry packages node-linux-<arch>@<major> (scripts/node-packages.mjs).
// Each build links the libraries that held its pinned glibc functions before glibc 2.34 (native/compat.h),
// and fails if it needs more than the floor (scripts/check-floor.mjs).
//   node scripts/prebuild.mjs [x64] [arm64]        (default: both)
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root, stageBinding } from './addon-build.mjs';
import { checkFloor, describe } from './check-floor.mjs';
import { nodePackage, supportedMajors } from './node-packages.mjs';

const named = process.argv.slice(2);
const arches = named.length > 0 ? named : ['x64', 'arm64'];
const cross = { arm64: 'aarch64-linux-gnu' };
for (const arch of arches) {
  if (arch !== process.arch && cross[arch] === undefined) throw new Error(`prebuild: no way to build for ${arch}`);
}

const missing = arches
  .filter((arch) => arch !== process.arch)
  .map((arch) => `${cross[arch]}-g++`)
  .filter((compiler) => spawnSync('sh', ['-c', `command -v ${compiler}`]).status !== 0);
if (missing.length > 0) {
  console.error(
    `prebuild: ${missing.join(', ')} not found: the arm64 prebuilds are cross-compiled with Debian's\n` +
      '  cross toolchain. Install it (as root) with: apt-get install crossbuild-essential-arm64\n' +
      "  or build only this machine's: npm run build:prebuilds -- x64",
  );
  process.exit(1);
}

// node-gyp: npm's own, as `npm run build:native` uses (npm names it to scripts; else beside this npm).
const nodeGyp =
  process.env.npm_config_node_gyp ??
  path.join(
    path.dirname(fs.realpathSync(process.execPath)),
    '..',
    'lib',
    'node_modules',
    'npm',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  );
const prebuildify = path.join(root, 'node_modules', 'prebuildify', 'bin.js');

// Builds: every arch's Node-API one (against the oldest major's headers), then one per major.
const jobs = [];
for (const arch of arches) {
  const nodes = supportedMajors.map((major) => nodePackage(major, arch));
  jobs.push({ arch, tag: 'napi', node: nodes[0] });
  if (arch === 'x64') for (const node of nodes) jobs.push({ arch, tag: `node${node.major}`, node });
}

function build({ arch, tag, node }) {
  const dir = path.join(root, 'build', 'prebuild', `${arch}-${tag}`);
  fs.rmSync(dir, { recursive: true, force: true });
  // --no-as-needed: glibc 2.34 and later hold these libraries' functions in libc and link none of them;
  // older glibc has the pinned functions only there.
  stageBinding(dir, {
    libraries: ['-Wl,--no-as-needed', '-l:libpthread.so.0', '-l:librt.so.1', '-l:libdl.so.2', '-Wl,--as-needed'],
  });
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "unipc" }\n');
  const args = [prebuildify, tag === 'napi' ? '--napi' : '--no-napi', '--strip', '--tag-libc'];
  args.push('--arch', arch, '--target', node.version.slice(1), '--out', root, '--node-gyp', nodeGyp);
  const env = { ...process.env, npm_config_nodedir: node.home, PREBUILD_LIBC: 'glibc' };
  if (arch !== process.arch) {
    Object.assign(env, { CC: `${cross[arch]}-gcc`, CXX: `${cross[arch]}-g++`, LINK: `${cross[arch]}-g++` });
    args.push('--strip-bin', `${cross[arch]}-strip`);
  }
  const log = path.join(dir, 'prebuild.log');
  return new Promise((resolve, reject) => {
    const out = fs.openSync(log, 'w');
    const child = spawn(process.execPath, args, { cwd: dir, env, stdio: ['ignore', out, out] });
    child.on('close', (code) => {
      fs.closeSync(out);
      if (code === 0) return resolve();
      const tail = fs.readFileSync(log, 'utf8').split('\n').slice(-40).join('\n');
      reject(new Error(`prebuild ${arch} ${tag} failed (${code}); ${path.relative(root, log)} ends:\n${tail}`));
    });
  });
}

const started = Date.now();
const prebuilds = path.join(root, 'prebuilds');
fs.rmSync(prebuilds, { recursive: true, force: true });
const queue = [...jobs];
const parallel = Math.max(1, Math.min(os.availableParallelism(), jobs.length));
console.error(`prebuild: ${jobs.length} builds, ${parallel} at a time`);
await Promise.all(
  Array.from({ length: parallel }, async () => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
      const t = Date.now();
      await build(job);
      console.error(
        `prebuild: ${job.arch} ${job.tag} (Node ${job.node.version} headers) ${Math.round((Date.now() - t) / 1000)} s`,
      );
    }
  }),
);

let failed = false;
for (const dir of fs.readdirSync(prebuilds).sort()) {
  for (const file of fs.readdirSync(path.join(prebuilds, dir)).sort()) {
    const full = path.join(prebuilds, dir, file);
    const result = checkFloor(full);
    console.log(
      `prebuilds/${dir}/${file}: ${Math.round(fs.statSync(full).size / 1024)} KiB, needs ${describe(result)}`,
    );
    for (const problem of result.problems) console.log(`  past the floor: ${problem}`);
    failed ||= result.problems.length > 0;
  }
}
console.error(`prebuild: ${Math.round((Date.now() - started) / 1000)} s`);
if (failed) {
  console.error('prebuild: a prebuild needs more than the floor (native/compat.h says how to pin a symbol)');
  process.exitCode = 1;
}
