// The package as users get it (`npm run test:package`; CI runs it after `npm test`):
//  1. `npm pack`, whose "prepack" builds the prebuilds (scripts/prebuild.mjs, which also checks their
//     glibc floor) and "prepare" the TypeScript;
//  2. the tarball: the prebuilds of both CPUs there, nothing of tests or builds, its size; publint and
//     Are the Types Wrong clean for the exports map;
//  3. installed into a fresh project with --ignore-scripts and a PATH of node and npm alone (no cc, gcc,
//     g++, make or python3), timed; and once with its install script, which must build nothing;
//  4. the smoke program (test/installed/) there, through import and require, on every supported major's
//     official x64 binary: with the build for its ABI (lent views through V8), and with the Node-API
//     build alone (through Node-API);
//  5. the error an import throws where no binary fits: musl, and a CPU without prebuilds;
//  6. the arm64 prebuilds under qemu-user with the official arm64 binaries: the same smoke program, whose
//     futex, robust-mutex and Atomics paths are where a weakly ordered CPU differs from x86.
// Ends with "N passed, N failed" and a summary; exits non-zero if anything failed. Leaves nothing behind:
// everything is in a temporary directory, removed at the end, and the smoke program removes its objects.
//   node scripts/test-package.mjs [--reuse-prebuilds]
// --reuse-prebuilds packs the prebuilds/ already built (`npm pack --ignore-scripts` after `npm run build`),
// to try a change of the TypeScript or the tests without building the addons again.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root } from './addon-build.mjs';
import { checkFloor, describe } from './check-floor.mjs';
import { nodePackage, supportedMajors } from './node-packages.mjs';

const reuse = process.argv.includes('--reuse-prebuilds');
const started = Date.now();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-package-'));
const results = [];
const summary = [];

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  return { ...result, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

function must(command, args, options) {
  const result = run(command, args, options);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}):\n${result.output}`);
  }
  return result;
}

function check(name, ok, detail = '') {
  results.push({ name, ok });
  console.log(`${ok ? 'ok    ' : 'FAILED'} ${name}${detail ? `: ${detail}` : ''}`);
}

const seconds = (since) => ((Date.now() - since) / 1000).toFixed(1);
const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`;

try {
  // 1. npm pack
  let since = Date.now();
  if (reuse) must('npm', ['run', 'build'], { cwd: root });
  const pack = run('npm', ['pack', '--pack-destination', work, ...(reuse ? ['--ignore-scripts'] : [])], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.stdout.write(pack.stdout);
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const tarball = fs.readdirSync(work).find((file) => file === `${manifest.name}-${manifest.version}.tgz`);
  check(
    `npm pack${reuse ? ' (the prebuilds built before)' : ', its prepack building the prebuilds'}`,
    pack.status === 0 && tarball !== undefined,
  );
  if (tarball === undefined) throw new Error('npm pack made no tarball');
  const tgz = path.join(work, tarball);
  summary.push(
    `npm pack (${reuse ? 'the prebuilds built before' : 'building the prebuilds and the TypeScript'}): ${seconds(since)} s`,
  );

  // 2. the tarball
  const listing = must('tar', ['-tzvf', tgz])
    .stdout.trim()
    .split('\n')
    .map((line) => {
      const fields = line.trim().split(/\s+/);
      return {
        size: Number(fields[2]),
        name: fields
          .slice(5)
          .join(' ')
          .replace(/^package\//, ''),
      };
    });
  const names = listing.map((entry) => entry.name);
  const abis = ['115', '127', '137', '147'];
  // x64: the Node-API build and one per major; arm64: the Node-API build (scripts/prebuild.mjs says why).
  const prebuilds = [
    'prebuilds/linux-x64/unipc.glibc.node',
    ...abis.map((abi) => `prebuilds/linux-x64/unipc.abi${abi}.glibc.node`),
    'prebuilds/linux-arm64/unipc.glibc.node',
  ];
  const missing = prebuilds.filter((file) => !names.includes(file));
  check('the tarball has the prebuilds of x64 and arm64', missing.length === 0, missing.join(', '));
  const unwanted = names.filter(
    (name) =>
      /^(test|scripts|build|src|docs|examples|node_modules|\.ci|\.git)\//.test(name) ||
      /^bench\/(?!c\/)/.test(name) ||
      /\.(log|tgz|o|ts)$/.test(name.replace(/\.d\.ts$/, '')),
  );
  check(
    'the tarball has no tests, scripts, sources of dist or build leftovers',
    unwanted.length === 0,
    unwanted.join(', '),
  );
  const unpacked = listing.reduce((sum, entry) => sum + entry.size, 0);
  const binaries = listing.filter((entry) => entry.name.startsWith('prebuilds/'));
  summary.push(
    `tarball: ${kib(fs.statSync(tgz).size)} packed, ${kib(unpacked)} unpacked, ${names.length} files; ` +
      `prebuilds ${kib(binaries.reduce((sum, entry) => sum + entry.size, 0))} unpacked in ${binaries.length} files`,
  );
  const publint = run(path.join(root, 'node_modules', '.bin', 'publint'), ['run', tgz, '--strict'], { cwd: work });
  const publintClean = publint.status === 0 && !/warning|error|suggestion/i.test(publint.stdout);
  check('publint --strict', publintClean, publintClean ? '' : publint.output.trim());
  const attw = run(path.join(root, 'node_modules', '.bin', 'attw'), [tgz, '--format', 'ascii'], {
    cwd: work,
  });
  check(
    'Are the Types Wrong (node10, node16 from ESM and CommonJS, bundler)',
    attw.status === 0,
    attw.status === 0 ? '' : attw.output,
  );

  // 3. install it where no compiler is
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  const npm = must('sh', ['-c', 'command -v npm']).stdout.trim();
  fs.symlinkSync(fs.realpathSync(npm), path.join(bin, 'npm'));
  fs.symlinkSync(must('sh', ['-c', 'command -v sh']).stdout.trim(), path.join(bin, 'sh'));
  const bare = { ...process.env, PATH: bin };
  for (const key of Object.keys(bare)) if (/^npm_/i.test(key)) delete bare[key]; // not this npm run's settings
  const compilers = ['cc', 'gcc', 'g++', 'c++', 'make', 'python3', 'python'].filter(
    (tool) => run('sh', ['-c', `command -v ${tool}`], { env: bare }).status === 0,
  );
  check('the install PATH has no compiler, make or python', compilers.length === 0, compilers.join(', '));
  const project = path.join(work, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), '{ "name": "smoke", "private": true }\n');
  since = Date.now();
  const install = run(npm, ['install', '--ignore-scripts', '--no-audit', '--no-fund', tgz], {
    cwd: project,
    env: bare,
  });
  const installSeconds = seconds(since);
  const installed = path.join(project, 'node_modules', 'unipc');
  check(
    'npm install --ignore-scripts of the tarball',
    install.status === 0,
    install.status === 0 ? '' : install.output,
  );
  check('nothing was compiled (no build/ in the installed package)', !fs.existsSync(path.join(installed, 'build')));
  summary.push(`install from the tarball, --ignore-scripts, no compiler on PATH: ${installSeconds} s`);
  // With its install script (npm 11, or npm 12 once allowed): node-gyp-build finds that the prebuilt
  // binary loads, and compiles nothing.
  const scripted = path.join(work, 'scripted');
  fs.mkdirSync(scripted);
  fs.writeFileSync(path.join(scripted, 'package.json'), '{ "name": "scripted", "private": true }\n');
  const withScript = run(npm, ['install', '--no-audit', '--no-fund', '--foreground-scripts', tgz], {
    cwd: scripted,
    env: bare,
  });
  check(
    'npm install with the install script, no compiler on PATH: it builds nothing',
    withScript.status === 0 && !fs.existsSync(path.join(scripted, 'node_modules', 'unipc', 'build')),
    withScript.status === 0 ? '' : withScript.output,
  );
  for (const file of ['checks.cjs', 'smoke.cjs', 'smoke.mjs']) {
    fs.copyFileSync(path.join(root, 'test', 'installed', file), path.join(project, file));
  }

  // The Node-API prebuild alone, as UNIPC_PREBUILD (node-gyp-build looks there instead of the package).
  const napiOnly = (arch) => {
    const dir = path.join(work, `napi-${arch}`);
    fs.mkdirSync(path.join(dir, 'prebuilds', `linux-${arch}`), { recursive: true });
    fs.copyFileSync(
      path.join(installed, 'prebuilds', `linux-${arch}`, 'unipc.glibc.node'),
      path.join(dir, 'prebuilds', `linux-${arch}`, 'unipc.glibc.node'),
    );
    return dir;
  };

  // One smoke run: `command` (a Node, or the qemu wrapper) runs `entry`, insisting on `binary` and `views`.
  const smoke = (label, command, entry, { binary, views, env = {} }) => {
    const t = Date.now();
    const result = run(command, [entry], {
      cwd: project,
      env: { ...bare, UNIPC_SMOKE_NODE: command, UNIPC_SMOKE_BINARY: binary, UNIPC_SMOKE_VIEWS: views, ...env },
      timeout: 300_000,
    });
    const line = result.stdout.trim().split('\n').pop() ?? '';
    check(
      `smoke, ${label}`,
      result.status === 0 && line.startsWith('smoke ok'),
      result.status === 0 ? `${line} (${seconds(t)} s with start-up)` : result.output,
    );
  };

  // 4. every major, x64
  const napiX64 = napiOnly('x64');
  for (const major of supportedMajors) {
    const node = nodePackage(major);
    const abi = must(node.binary, ['-p', 'process.versions.modules']).stdout.trim();
    const own = { binary: `unipc.abi${abi}.glibc.node`, views: 'v8' };
    smoke(`Node ${node.version} x64, import`, node.binary, 'smoke.mjs', own);
    smoke(`Node ${node.version} x64, require`, node.binary, 'smoke.cjs', own);
    // The Node-API build was compiled against the oldest major's headers: V8 views there only.
    const views = major === supportedMajors[0] ? 'v8' : 'node';
    const napi = { binary: 'unipc.glibc.node', views, env: { UNIPC_PREBUILD: napiX64 } };
    smoke(`Node ${node.version} x64, import, the Node-API build`, node.binary, 'smoke.mjs', napi);
  }

  // 5. where no binary fits
  const noBinary = (label, env, expected) => {
    const result = run(process.execPath, ['--input-type=module', '-e', "await import('unipc')"], {
      cwd: project,
      env: { ...bare, ...env },
    });
    const missingText = expected.filter((text) => !result.stderr.includes(text));
    check(
      `the error where no binary fits: ${label}`,
      result.status !== 0 && missingText.length === 0,
      missingText.length === 0
        ? result.stderr.split('\n').find((l) => l.startsWith('Error:'))
        : `lacks ${missingText.join(', ')}:\n${result.stderr}`,
    );
  };
  const shipped = 'ships prebuilt binaries for linux-arm64 (glibc) and linux-x64 (glibc)';
  noBinary('musl', { LIBC: 'musl' }, [
    "code: 'ERR_UNIPC_NO_BINARY'",
    'musl libc',
    shipped,
    'apk add',
    'npm rebuild unipc',
  ]);
  noBinary('another CPU', { npm_config_arch: 'ppc64' }, ["code: 'ERR_UNIPC_NO_BINARY'", 'linux-ppc64', shipped]);

  // 6. arm64 under qemu-user
  const qemu = run('sh', ['-c', 'command -v qemu-aarch64']).stdout.trim();
  const sysroot = '/usr/aarch64-linux-gnu';
  if (qemu === '' || !fs.existsSync(path.join(sysroot, 'lib', 'libstdc++.so.6'))) {
    check('qemu-aarch64 and the arm64 libraries (apt-get install qemu-user crossbuild-essential-arm64)', false);
  } else {
    for (const [index, major] of supportedMajors.entries()) {
      const node = nodePackage(major, 'arm64');
      const wrapper = path.join(work, `node-${major}-arm64`);
      fs.writeFileSync(wrapper, `#!/bin/sh\nexec ${qemu} -L ${sysroot} ${node.binary} "$@"\n`, { mode: 0o755 });
      // The Node-API build (compiled against the oldest major's headers) makes V8 views on that major only.
      const views = major === supportedMajors[0] ? 'v8' : 'node';
      const napi = { binary: 'unipc.glibc.node', views, env: { UNIPC_SMOKE_ROUNDS: '500' } };
      smoke(`Node ${node.version} arm64 (qemu), import`, wrapper, 'smoke.mjs', napi);
      if (index === supportedMajors.length - 1)
        smoke(`Node ${node.version} arm64 (qemu), require`, wrapper, 'smoke.cjs', napi);
    }
  }

  for (const file of prebuilds) {
    const result = checkFloor(path.join(installed, file));
    check(`${file} needs no more than the floor`, result.problems.length === 0, describe(result));
  }
} catch (error) {
  check('the package test ran to its end', false, error.stack);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

const failed = results.filter((r) => !r.ok).length;
console.log('');
for (const line of summary) console.log(`test:package: ${line}`);
console.log(`test:package: ${seconds(started)} s in all`);
console.log(`test:package: ${results.length - failed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
