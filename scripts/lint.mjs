// npm run lint: Biome (formatter and linter) over the TypeScript and scripts, clang-format over native/
// and include/; both check only. `npm run format` rewrites what they would change.
//   node scripts/lint.mjs [--write]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root } from './addon-build.mjs';

const write = process.argv.includes('--write');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const cSources = ['native', 'include/unipc'].flatMap((dir) =>
  fs
    .readdirSync(path.join(root, dir))
    .filter((name) => /\.(cc|h)$/.test(name))
    .map((name) => path.join(dir, name)),
);

const run = (command, args) => spawnSync(command, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

let failed = run(bin('biome'), write ? ['check', '--write', '.'] : ['check', '.']) !== 0;
// The clang-format package bundles the binary for linux-x64 (and macOS, Windows) only: elsewhere, say so.
const clangFormat = spawnSync(bin('clang-format'), ['--version'], { encoding: 'utf8' });
if (clangFormat.status !== 0) {
  console.error(
    `lint: clang-format does not run here (${process.platform}-${process.arch}); native/ and include/ not checked`,
  );
} else {
  failed = run(bin('clang-format'), [...(write ? ['-i'] : ['--dry-run', '--Werror']), ...cSources]) !== 0 || failed;
}
process.exitCode = failed ? 1 : 0;
