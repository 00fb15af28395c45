// Compiles src/ twice: ESM (dist/esm, with declarations) for `import`, CommonJS (dist/cjs) for `require`.
// Unless dist/ is what this would make again: a stamp in node_modules/.cache records a hash of every
// input (src/, the tsconfigs, native/root.*, package.json, the lockfile, the installed compiler's and
// Node types' versions, this script) and of the dist/ it made; when both still match, the compiler has
// nothing to change and is not run (CI builds five times over an unchanged src/). UNIPC_BUILD_FORCE=1
// always builds.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const dist = path.join(root, 'dist');
const stampFile = path.join(root, 'node_modules', '.cache', 'unipc-build', 'stamp.json');

// A hash of these files (relative to the root; directories recursively): names, modes and contents.
function hashOf(entries) {
  const hash = createHash('sha256');
  const add = (relative) => {
    const full = path.join(root, relative);
    const stat = fs.statSync(full, { throwIfNoEntry: false });
    if (stat?.isDirectory()) {
      for (const entry of fs.readdirSync(full).sort()) add(path.join(relative, entry));
      return;
    }
    hash.update(`${relative}\0${stat === undefined ? 'missing' : (stat.mode & 0o777).toString(8)}\0`);
    if (stat !== undefined) hash.update(fs.readFileSync(full));
  };
  for (const entry of entries) add(entry);
  return hash.digest('hex');
}

const inputs = hashOf([
  'src',
  'tsconfig.base.json',
  'tsconfig.build.json',
  'tsconfig.cjs.json',
  'native/root.cjs',
  'native/root.d.cts',
  'package.json',
  'package-lock.json',
  // The compiler and the types actually installed (npm writes node_modules/.package-lock.json only after
  // "prepare" has built, so that file would make the first build after an install look stale).
  'node_modules/typescript/package.json',
  'node_modules/@types/node/package.json',
  'scripts/build.mjs',
]);
if (process.env.UNIPC_BUILD_FORCE !== '1' && fs.existsSync(dist)) {
  let stamp;
  try {
    stamp = JSON.parse(fs.readFileSync(stampFile, 'utf8'));
  } catch {
    stamp = undefined;
  }
  if (stamp?.inputs === inputs && stamp.dist === hashOf(['dist'])) {
    console.log('build: dist/ was built from these very sources and is unchanged: not rebuilt');
    process.exit(0);
  }
}

fs.rmSync(stampFile, { force: true });
fs.rmSync(dist, { recursive: true, force: true });
for (const project of ['tsconfig.build.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', path.join(root, project)], { stdio: 'inherit', cwd: root });
}
// The package is "type": "module"; this marks the CommonJS build as such. That file starts a package
// scope of its own, where the root's "#root" import is out of reach (and an "imports" field of its own
// would be one that tools such as publint take for ignored), so the one CommonJS module that imports
// "#root", native.js, requires native/root.cjs by its path instead.
const cjsScope = { type: 'commonjs' };
fs.writeFileSync(path.join(dist, 'cjs', 'package.json'), `${JSON.stringify(cjsScope, null, 2)}\n`);
for (const file of fs.readdirSync(path.join(dist, 'cjs'), { recursive: true })) {
  if (!file.endsWith('.js')) continue;
  const full = path.join(dist, 'cjs', file);
  const code = fs.readFileSync(full, 'utf8');
  if (!code.includes('require("#root")')) continue;
  const relative = path.relative(path.dirname(full), path.join(root, 'native', 'root.cjs'));
  fs.writeFileSync(full, code.replaceAll('require("#root")', `require(${JSON.stringify(relative)})`));
}
fs.chmodSync(path.join(dist, 'esm', 'cli', 'main.js'), 0o755);
fs.mkdirSync(path.dirname(stampFile), { recursive: true });
fs.writeFileSync(stampFile, `${JSON.stringify({ inputs, dist: hashOf(['dist']) }, null, 2)}\n`);
