// What a built addon needs from the system it loads on, read from its ELF dynamic section with readelf
// (any architecture): the newest version it asks of glibc, libstdc++ (GLIBCXX, CXXABI) and libgcc_s (GCC),
// and the shared libraries it lists. The prebuilds must need no more than the official Node binaries need
// themselves (glibc 2.28; GCC 5.1's libstdc++) and no library every such system lacks; native/compat.h is
// how they manage it. `npm run prebuild` fails on a prebuild that needs more, and the package test reports
// the floor.
//   node scripts/check-floor.mjs file.node...
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The newest version of each family a prebuild may need (docs/install.md says which systems have them). */
export const FLOOR = { GLIBC: '2.28', GLIBCXX: '3.4.21', CXXABI: '1.3.9', GCC: '4.2.0' };

/** The libraries a prebuild may list: glibc's, and the C++ runtime every Node binary of the platform uses. */
export const ALLOWED_LIBRARIES = [
  'libc.so.6',
  'libm.so.6',
  'libpthread.so.0',
  'librt.so.1',
  'libdl.so.2',
  'libstdc++.so.6',
  'libgcc_s.so.1',
  'ld-linux-x86-64.so.2',
  'ld-linux-aarch64.so.1',
];

function compare(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const readelf = (args) => execFileSync('readelf', ['-W', ...args], { encoding: 'utf8' });

/**
 * What `file` needs: { needs: { GLIBC: '2.28', … } (the newest version of each family), libraries,
 * problems: one line per symbol or library past the floor (empty when it is within) }.
 */
export function checkFloor(file) {
  const needs = {};
  const problems = [];
  for (const [, symbol, family, version] of readelf(['--dyn-syms', file]).matchAll(
    / UND (\S+?)@(GLIBC|GLIBCXX|CXXABI|GCC)_([\d.]+)/g,
  )) {
    if (needs[family] === undefined || compare(version, needs[family]) > 0) needs[family] = version;
    if (compare(version, FLOOR[family]) > 0)
      problems.push(`${symbol} needs ${family}_${version} (floor ${FLOOR[family]})`);
  }
  const libraries = [...readelf(['--dynamic', file]).matchAll(/\(NEEDED\)\s+Shared library: \[(.+?)\]/g)].map(
    (m) => m[1],
  );
  for (const library of libraries) {
    if (!ALLOWED_LIBRARIES.includes(library)) problems.push(`needs ${library}, which not every system has`);
  }
  return { needs, libraries, problems };
}

/** One line: the newest version of each family, e.g. "GLIBC 2.28, GLIBCXX 3.4.21, CXXABI 1.3.9". */
export function describe({ needs }) {
  return Object.keys(FLOOR)
    .filter((family) => needs[family] !== undefined)
    .map((family) => `${family} ${needs[family]}`)
    .join(', ');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let failed = false;
  for (const file of process.argv.slice(2)) {
    const result = checkFloor(file);
    console.log(`${path.basename(file)}: ${describe(result)}; libraries: ${result.libraries.join(' ')}`);
    for (const problem of result.problems) console.log(`  past the floor: ${problem}`);
    failed ||= result.problems.length > 0;
  }
  process.exitCode = failed ? 1 : 0;
}
