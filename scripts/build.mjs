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
// scope of its own, so it repeats the "#root" import, through a stub that defers to native/root.cjs.
const cjsScope = { type: 'commonjs', imports: { '#root': './root.cjs' } };
fs.writeFileSync(path.join(dist, 'cjs', 'package.json'), `${JSON.stringify(cjsScope, null, 2)}\n`);
fs.writeFileSync(
  path.join(dist, 'cjs', 'root.cjs'),
  "'use strict';\nmodule.exports = require('../../native/root.cjs');\n",
);
fs.chmodSync(path.join(dist, 'esm', 'cli', 'main.js'), 0o755);
