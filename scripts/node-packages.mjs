// The official Node binaries, and the headers each carries in include/node, from the npm registry packages
// node-linux-<arch>@<major>, kept in node_modules/.cache/unipc-node-matrix: the Node matrix runs the suite
// on them, the prebuilds are compiled against their headers, and the package test runs the installed
// package on them (arm64 under qemu-user).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root } from './addon-build.mjs';

export const cache = path.join(root, 'node_modules', '.cache', 'unipc-node-matrix');

/** The Node majors unipc supports (package.json "engines"), oldest first. */
export const supportedMajors = ['20', '22', '24', '26'];

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', ...options });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status ?? result.signal}):\n${result.stdout ?? ''}${result.stderr ?? ''}`,
    );
  }
  return result.stdout ?? '';
}

// npm's settings for the script that runs this (npm pack's --pack-destination, for one, when "prepack"
// builds the prebuilds) must not reach the npm started here.
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));

/**
 * The latest release of `major` for `arch`, fetched from the registry into the cache once:
 * { major, arch, version ('v24.22.3'), home (the package: bin/node, include/node), binary }.
 * A package of another CPU is unpacked with `npm pack` (npm install refuses it); its binary runs under
 * qemu-user only.
 */
export function nodePackage(major, arch = process.arch) {
  const name = `node-linux-${arch}`;
  const prefix = path.join(cache, arch === process.arch ? `node-${major}` : `node-${major}-${arch}`);
  const home = path.join(prefix, 'node_modules', name);
  const binary = path.join(home, 'bin', 'node');
  if (!fs.existsSync(binary)) {
    fs.mkdirSync(prefix, { recursive: true });
    fs.writeFileSync(path.join(prefix, 'package.json'), '{ "private": true }\n');
    console.error(`installing ${name}@${major} from the registry`);
    if (arch === process.arch) {
      run('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `${name}@${major}`], {
        cwd: prefix,
        env: npmEnv,
      });
    } else {
      const packed = run('npm', ['pack', '--json', '--pack-destination', prefix, `${name}@${major}`], {
        cwd: prefix,
        env: npmEnv,
      });
      const tarball = JSON.parse(packed)[0].filename;
      fs.mkdirSync(home, { recursive: true });
      run('tar', ['-xzf', tarball, '-C', home, '--strip-components=1'], { cwd: prefix });
      fs.rmSync(path.join(prefix, tarball));
    }
  }
  const version = `v${JSON.parse(fs.readFileSync(path.join(home, 'package.json'), 'utf8')).version}`;
  if (!version.startsWith(`v${major}.`)) throw new Error(`${home} is Node ${version}, not Node ${major}`);
  if (arch === process.arch) {
    const reported = run(binary, ['--version']).trim();
    if (reported !== version) throw new Error(`${binary} reports ${reported}, its package ${version}`);
  }
  return { major, arch, version, home, binary };
}
