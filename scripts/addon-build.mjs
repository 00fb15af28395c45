// Compiles the addon outside build/Release, for scripts that load another build of it through
// node-gyp-build's UNIPC_PREBUILD override (the sanitizer run, the Node matrix): the normal build stays
// as it is, so nothing needs restoring afterwards.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Writes into `dir` a copy of binding.gyp whose paths lead back to the sources, with `flags` added to the
 * compiler's, `ldflags` to the linker's and `libraries` to the end of its command line.
 */
export function stageBinding(dir, { flags = [], ldflags = [], libraries = [] } = {}) {
  const gyp = JSON.parse(fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8'));
  const [target] = gyp.targets;
  const relative = (file) =>
    path.isAbsolute(file) || file.startsWith('<') ? file : path.relative(dir, path.join(root, file));
  target.sources = target.sources.map(relative);
  target.include_dirs = target.include_dirs.map(relative);
  target.cflags = [...target.cflags, ...flags];
  target.cflags_cc = [...target.cflags_cc, ...flags];
  target.ldflags = [...(target.ldflags ?? []), ...ldflags];
  target.libraries = [...(target.libraries ?? []), ...libraries];
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'binding.gyp'), `${JSON.stringify(gyp, null, 2)}\n`);
}

/**
 * Builds the addon in `dir` (its build/Release/unipc.node; pass `dir` as UNIPC_PREBUILD) from a copy of
 * binding.gyp with `flags` added to the compiler's and `ldflags` to the linker's, against the headers of
 * `nodedir` (default: those `npm install` used). npm_config_nodedir rather than --nodedir: an npmrc's
 * nodedir (as on these machines) reaches node-gyp through the environment and would win over the flag.
 * Returns node-gyp's output; throws with it if the build fails.
 */
export function buildAddonIn(dir, { flags = [], ldflags = [], nodedir } = {}) {
  stageBinding(dir, { flags, ldflags });
  const env = nodedir === undefined ? process.env : { ...process.env, npm_config_nodedir: nodedir };
  const result = spawnSync('npm', ['run', 'build:native', '--', `--directory=${dir}`], {
    cwd: root,
    env,
    encoding: 'utf8',
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0)
    throw new Error(`building the addon in ${dir} failed (${result.signal ?? result.status}):\n${output}`);
  return output;
}
