// Bun and Deno for the runtime tests, from the npm registry packages `bun` and `deno` (each carries its
// binary in a per-platform optional dependency), at the versions pinned here, installed once into
// node_modules/.cache/unipc-runtimes. Pinned, as the lockfile pins everything else: a new release of
// either is a change to this file, tested like any other.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root } from './addon-build.mjs';

export const RUNTIMES = { bun: '1.4.5', deno: '2.9.6' };

const cache = path.join(root, 'node_modules', '.cache', 'unipc-runtimes');

// npm's settings for the script that runs this must not reach the npm started here.
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));

/** The path of the runtime's binary, installed from the registry on first use. */
export function runtimeBinary(name) {
  const version = RUNTIMES[name];
  if (version === undefined) throw new Error(`unknown runtime ${name}`);
  const prefix = path.join(cache, `${name}-${version}`);
  const binary = path.join(prefix, 'node_modules', '.bin', name);
  if (!fs.existsSync(binary)) {
    fs.mkdirSync(prefix, { recursive: true });
    fs.writeFileSync(path.join(prefix, 'package.json'), '{ "private": true }\n');
    console.error(`installing ${name}@${version} from the registry`);
    const installed = spawnSync(
      'npm',
      ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `${name}@${version}`],
      { cwd: prefix, env: npmEnv, encoding: 'utf8' },
    );
    if (installed.status !== 0) throw new Error(`npm install ${name}@${version} failed:\n${installed.stderr}`);
  }
  const reported = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (reported.status !== 0 || !reported.stdout.includes(version)) {
    throw new Error(`${binary} does not run as ${name} ${version}: ${reported.stdout}${reported.stderr}`);
  }
  return binary;
}

/**
 * The permissions Deno must grant unipc (docs/runtimes.md lists why each): --allow-ffi (the addon),
 * --allow-read, --allow-write, --allow-env, --allow-run (child processes), --allow-sys (os.cpus() and the
 * like). The tours run with these rather than -A, so that the list the docs give is tested.
 */
export const DENO_PERMISSIONS = [
  '--allow-ffi',
  '--allow-read',
  '--allow-write',
  '--allow-env',
  '--allow-run',
  '--allow-sys',
];

/** The command that runs a JavaScript file on the runtime. */
export function runCommand(name, binary, file, args = []) {
  return name === 'deno' ? [binary, 'run', ...DENO_PERMISSIONS, file, ...args] : [binary, file, ...args];
}
