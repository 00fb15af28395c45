// The benchmark runs and writes what it promises: a few cases of each kind with tiny counts, through
// tsx as `npm run bench` does and compiled as `unipc bench` does. No timing is asserted: only that the
// figures exist and are positive finite numbers. `npm run test:bench` runs every case the same way.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CASES, KINDS, type Kind } from '../src/bench/plan.js';
import { root, tempDir } from './helpers.js';

const TINY = ['--quick', '--round-trips', '50', '--messages', '500', '--mebibytes', '2', '--heap-messages', '2000'];
// A C reference, a Sync and a Promise unipc case, the zero-copy heap run, and a server that is the
// client's child (process.send): every path of the harness.
const SOME =
  'c/pipe,c/shm-spin,c/memcpy,unipc/pipe-sync,unipc/channel-async,unipc/channel-zero-copy,node/process-send-json';
const ALL = process.env.UNIPC_BENCH_ALL === '1';

function checkResults(jsonPath: string, expectedIds: string[]): void {
  const results = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  assert.equal(results.version, 1);
  assert.equal(results.quick, true);
  assert.equal(typeof results.machine.cpu, 'string');
  assert.ok(results.machine.cores >= 2);
  assert.match(results.machine.kernel, /^Linux /);
  assert.equal(results.machine.node, process.version);
  assert.deepEqual(
    results.cases.map((c: { id: string }) => c.id),
    expectedIds,
  );
  for (const result of results.cases) assert.equal(result.error, undefined, `${result.id}: ${result.error}`);
  const positive = (value: unknown, what: string) =>
    assert.ok(
      typeof value === 'number' && Number.isFinite(value) && value > 0,
      `${what} is a positive finite number (${value})`,
    );
  for (const id of expectedIds) {
    const def = CASES.find((c) => c.id === id)!;
    for (const kind of Object.keys(KINDS) as Kind[]) {
      if (def.skip?.[kind] !== undefined) continue;
      const placements = KINDS[kind].rtt
        ? def.noSameCpu === undefined
          ? ['cross-CPU', 'same-CPU']
          : ['cross-CPU']
        : ['cross-CPU', 'one CPU'];
      const found = results.measurements.filter(
        (m: { case: string; kind: string; placement: string }) =>
          m.case === id && m.kind === kind && placements.includes(m.placement),
      );
      assert.equal(found.length, KINDS[kind].rtt ? placements.length : 1, `${id} has its ${kind} figures`);
      for (const m of found) {
        if (KINDS[kind].rtt) {
          positive(m.median, `${id} ${kind} ${m.placement} median`);
          positive(m.p99, `${id} ${kind} ${m.placement} p99`);
          assert.ok(m.p99 >= m.median);
        } else {
          positive(m.gigabytesPerSecond, `${id} ${kind} GB/s`);
          if (m.placement !== 'one CPU') positive(m.messagesPerSecond, `${id} ${kind} messages/s`);
        }
      }
    }
  }
  for (const ratio of results.ratios) positive(ratio.ratio, `ratio of ${ratio.case} ${ratio.kind}`);
  assert.ok(results.targets.length > 0);
  for (const target of results.targets) {
    if (target.value !== null) assert.ok(Number.isFinite(target.value), `target ${target.id}`);
    assert.equal(target.met === null, target.value === null);
  }
  if (expectedIds.includes('unipc/channel-zero-copy')) {
    assert.ok(results.heap !== null, 'the heap run is recorded');
    for (const side of ['client', 'server']) {
      positive(results.heap[side].startBytes, `${side} heap at the start`);
      positive(results.heap[side].endBytes, `${side} heap at the end`);
    }
  }
  const svg = fs.readFileSync(jsonPath.replace(/\.json$/, '.svg'), 'utf8');
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  for (const id of expectedIds)
    assert.ok(
      svg.includes(
        CASES.find((c) => c.id === id)!
          .label.replace(/&/g, '&amp;')
          .replace(/</g, '&lt;'),
      ),
    );
}

test('npm run bench (through tsx): the cases run, the JSON and the SVG are complete', { timeout: 300_000 }, () => {
  using dir = tempDir('bench-');
  const jsonPath = dir.file('results.json');
  const args = [...TINY, '--json', jsonPath, ...(ALL ? [] : ['--only', SOME])];
  const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'run.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr + run.stdout);
  assert.match(run.stdout, /round trip, µs/);
  assert.match(run.stdout, /one-way, cross-CPU/);
  assert.match(run.stderr, /\[\d+\/\d+\]/, 'progress on stderr');
  const ids = ALL
    ? CASES.map((c) => c.id)
    : CASES.filter((c) => SOME.split(',').some((s) => c.id.startsWith(s))).map((c) => c.id);
  checkResults(jsonPath, ids);
});

test("unipc bench run from another directory writes ./unipc-bench.json there, never into the package's bench/results", () => {
  using dir = tempDir('bench-');
  const bin = path.join(root, 'dist', 'esm', 'cli', 'main.js');
  const committed = path.join(root, 'bench', 'results', 'latest.json');
  const before = fs.statSync(committed).mtimeMs;
  const run = spawnSync(process.execPath, [bin, 'bench', ...TINY, '--only', 'unipc/socketpair-seqpacket-sync'], {
    cwd: dir.path,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr + run.stdout);
  assert.ok(fs.existsSync(dir.file('unipc-bench.json')), 'the results in the current directory');
  assert.ok(fs.existsSync(dir.file('unipc-bench.svg')), 'and the chart beside them');
  assert.equal(fs.statSync(committed).mtimeMs, before, "the package's own results untouched");
});

test('unipc bench (compiled, no tsx) runs a case; bad options fail with usage', () => {
  using dir = tempDir('bench-');
  const bin = path.join(root, 'dist', 'esm', 'cli', 'main.js');
  const jsonPath = dir.file('cli.json');
  const run = spawnSync(
    process.execPath,
    [bin, 'bench', ...TINY, '--only', 'unipc/socketpair-seqpacket-sync', '--json', jsonPath, '--no-chart'],
    {
      cwd: dir.path,
      encoding: 'utf8',
    },
  );
  assert.equal(run.status, 0, run.stderr + run.stdout);
  assert.ok(!fs.existsSync(jsonPath.replace(/\.json$/, '.svg')), '--no-chart writes no SVG');
  const results = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  assert.deepEqual(
    results.cases.map((c: { id: string }) => c.id),
    ['unipc/socketpair-seqpacket-sync'],
  );
  assert.equal(results.measurements.length, 6);

  for (const bad of [['--bogus'], ['--round-trips', '0'], ['--only', 'no-such-case']]) {
    const failed = spawnSync(process.execPath, [bin, 'bench', ...bad], { cwd: dir.path, encoding: 'utf8' });
    assert.equal(failed.status, 2, bad.join(' '));
    assert.match(failed.stderr, /^unipc bench: /);
  }
  const help = spawnSync(process.execPath, [bin, 'bench', '--help'], { encoding: 'utf8' });
  assert.match(help.stdout, /Usage: unipc bench/);
});
