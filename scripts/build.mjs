// Compiles src/ twice: ESM (dist/esm, with declarations) for `import`, CommonJS (dist/cjs) for `require`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const dist = path.join(root, 'dist');

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
