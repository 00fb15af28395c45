// The benchmark runs and writes what it promises: a few cases of each kind with tiny counts, through
// tsx as bench/run.ts does and compiled as `unipc bench` (and `npm run bench`) does. No timing is asserted: only that the
// figures exist and are positive finite numbers. `npm run test:bench` runs every case the same way.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CASES, KINDS, type Kind, PASS_GROUPS, passOrder } from '../src/bench/plan.js';
import { root, tempDir } from './helpers.js';

const TINY = ['--quick', '--round-trips', '50', '--messages', '500', '--mebibytes', '2', '--heap-messages', '2000'];
const REPETITIONS = 2;
// A C reference, a Sync and a Promise unipc case, the zero-copy heap run, and a server that is the
// client's child (process.send): every path of the harness.
const SOME =
  'c/pipe,c/shm-spin,c/shm-futex-spin,c/memcpy,unipc/pipe-sync,unipc/channel-async,unipc/channel-zero-copy,unipc/channel-batched,node/process-send-json';
const ALL = process.env.UNIPC_BENCH_ALL === '1';

const positive = (value: unknown, what: string) =>
  assert.ok(
    typeof value === 'number' && Number.isFinite(value) && value > 0,
    `${what} is a positive finite number (${value})`,
  );

// The host, the spin floor before and after, the repetitions and the flags: structure, never timings.
function checkRunRecord(results: ReturnType<typeof JSON.parse>, repetitions: number): void {
  const { machine } = results;
  assert.equal(typeof machine.cpu, 'string');
  assert.ok(machine.cpu.length > 0);
  assert.ok(machine.cores >= 2);
  assert.ok(machine.cpus >= machine.cores);
  assert.match(machine.kernel, /^Linux /);
  assert.equal(machine.node, process.version);
  assert.ok(Array.isArray(machine.topology) && machine.topology.length >= 2, 'a topology entry per CPU');
  for (const t of machine.topology) {
    assert.ok(Number.isInteger(t.cpu));
    for (const key of ['coreId', 'packageId']) assert.ok(t[key] === null || Number.isInteger(t[key]), key);
    assert.ok(t.threadSiblings === null || /^[\d,-]+$/.test(t.threadSiblings));
  }
  assert.deepEqual(Object.keys(machine.crossCpuPair).sort(), ['client', 'sameCore', 'samePackage', 'server']);
  assert.equal(machine.load.start.length, 3);
  assert.equal(machine.load.end.length, 3);
  assert.equal(typeof machine.load.loaded, 'boolean');
  for (const key of ['otherCpuShare', 'stealShare'])
    assert.ok(machine.load[key] === null || (machine.load[key] >= 0 && machine.load[key] <= 1), key);

  const floor = results.spinFloor;
  assert.equal(floor.case, 'c/shm-spin');
  for (const when of ['before', 'after']) {
    for (const stat of ['median', 'p99', 'p999', 'max']) positive(floor[when][stat], `spin floor ${when} ${stat}`);
    assert.ok(floor[when].max >= floor[when].p999 && floor[when].p999 >= floor[when].p99);
  }
  assert.ok(floor.change >= 0);
  assert.equal(floor.threshold, 0.2);
  assert.equal(floor.moved, floor.change > floor.threshold);

  assert.equal(results.repetitions.count, repetitions);
  assert.equal(results.repetitions.unstableSpread, 0.2);
  assert.ok(Array.isArray(results.repetitions.unstable));
  assert.ok(Array.isArray(results.flags) && results.flags.every((f: unknown) => typeof f === 'string'));
  assert.equal(
    floor.moved,
    results.flags.some((f: string) => f.startsWith('spin floor moved')),
  );
  assert.equal(
    machine.load.loaded,
    results.flags.some((f: string) => f.startsWith('machine loaded')),
  );
}

function checkResults(jsonPath: string, expectedIds: string[], repetitions: number): void {
  const results = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  assert.equal(results.version, 2);
  assert.equal(results.quick, true);
  checkRunRecord(results, repetitions);
  assert.deepEqual(
    results.cases.map((c: { id: string }) => c.id),
    expectedIds,
  );
  for (const result of results.cases) {
    assert.equal(result.error, undefined, `${result.id}: ${result.error}`);
    assert.equal(result.skipped, undefined);
    assert.equal(result.repetitionsCompleted, repetitions, result.id);
  }
  for (const m of results.measurements) {
    assert.equal(m.repetitions.length, repetitions, `${m.case} ${m.kind}: one entry per repetition`);
    assert.ok(m.spread >= 0 && Number.isFinite(m.spread));
    assert.equal(m.unstable, m.spread > 0.2);
    assert.equal(
      m.unstable,
      results.repetitions.unstable.some(
        (u: { case: string; kind: string; placement: string }) =>
          u.case === m.case && u.kind === m.kind && u.placement === m.placement,
      ),
    );
  }
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
          for (const r of [m, ...m.repetitions]) {
            for (const stat of ['median', 'p99', 'p999', 'max'])
              positive(r[stat], `${id} ${kind} ${m.placement} ${stat}`);
            assert.ok(r.max >= r.p999 && r.p999 >= r.p99 && r.p99 >= r.median, `${id} ${kind}: ordered statistics`);
          }
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
    assert.ok(['figures', 'tails'].includes(target.group), target.id);
    assert.ok(['<=', '>=', '<'].includes(target.comparison), target.id);
    assert.equal(typeof target.threshold, 'number');
    if (target.id !== 'heap') assert.equal(target.repetitions.length, repetitions, target.id);
    const measured = target.repetitions.filter((v: number | null) => v !== null);
    if (target.value === null) {
      assert.equal(target.met, null, target.id);
      assert.equal(measured.length, 0);
      continue;
    }
    assert.ok(Number.isFinite(target.value) && Number.isFinite(target.median), `target ${target.id}`);
    // The value judged is the worst repetition's, and met means met in every repetition.
    const worst = target.comparison === '>=' ? Math.min(...measured) : Math.max(...measured);
    assert.equal(target.value, worst, `${target.id}: the worst repetition`);
    assert.equal(target.repetitions[target.worstRepetition], target.value);
    const passes = (v: number) =>
      target.comparison === '<='
        ? v <= target.threshold
        : target.comparison === '<'
          ? v < target.threshold
          : v >= target.threshold;
    if (measured.length === target.repetitions.length) assert.equal(target.met, measured.every(passes), target.id);
    else assert.equal(target.met, null, target.id);
  }
  const ids = results.targets.map((t: { id: string }) => t.id);
  for (const id of ['spin-rtt', 'promise-rtt8', 'promise-rtt64', 'vs-process-send-rtt', 'ring-tput1m', 'pipe-tput1m'])
    assert.ok(ids.includes(id), `target ${id}`);
  for (const id of expectedIds.filter((x) => x.startsWith('unipc/'))) {
    const def = CASES.find((c) => c.id === id)!;
    if (def.skip?.rtt8 !== undefined) continue;
    assert.ok(ids.includes(`tail-p99-${id}`), `p99 tail target of ${id}`);
    if (id === 'unipc/channel-async' || id === 'unipc/pipe-sync') {
      assert.ok(ids.includes(`tail-max-${id}`), `worst-RTT tail target of ${id}`);
      const ms = results.targets.find((t: { id: string }) => t.id === `tail-max-ms-${id}`);
      assert.equal(ms.unit, 'ms');
      assert.equal(ms.comparison, '<');
    }
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

test('bench/run.ts (through tsx): the cases run, the JSON and the SVG are complete', { timeout: 300_000 }, () => {
  using dir = tempDir('bench-');
  const jsonPath = dir.file('results.json');
  const args = [...TINY, '--repetitions', String(REPETITIONS), '--json', jsonPath, ...(ALL ? [] : ['--only', SOME])];
  const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'run.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr + run.stdout);
  assert.match(run.stdout, /round trip, µs/);
  assert.match(run.stdout, /one-way, cross-CPU/);
  assert.match(run.stderr, /\[\d+\/\d+\]/, 'progress on stderr');
  assert.match(
    run.stdout,
    /^host: .+\ntopology: .+\nload: .+\nspin floor \(c\/shm-spin 8 B cross-CPU\): .+ before, .+ after/m,
  );
  assert.match(run.stdout, /repetitions: 2, interleaved/);
  assert.match(run.stdout, /p99\.9 +max/);
  assert.match(run.stdout, /tails \(worst repetition judged\)/);
  const ids = ALL
    ? CASES.map((c) => c.id)
    : CASES.filter((c) => SOME.split(',').some((s) => c.id.startsWith(s))).map((c) => c.id);
  checkResults(jsonPath, ids, REPETITIONS);
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
  assert.equal(results.repetitions.count, 2, '--quick runs every figure twice');
  for (const m of results.measurements) assert.equal(m.repetitions.length, 2);

  for (const bad of [['--bogus'], ['--round-trips', '0'], ['--repetitions', '0'], ['--only', 'no-such-case']]) {
    const failed = spawnSync(process.execPath, [bin, 'bench', ...bad], { cwd: dir.path, encoding: 'utf8' });
    assert.equal(failed.status, 2, bad.join(' '));
    assert.match(failed.stderr, /^unipc bench: /);
  }
  const help = spawnSync(process.execPath, [bin, 'bench', '--help'], { encoding: 'utf8' });
  assert.match(help.stdout, /Usage: unipc bench/);
});

test('a repetition runs every case once, each C reference next to the cases judged against it', () => {
  const order = passOrder(CASES).map((def) => def.id);
  assert.deepEqual([...order].sort(), CASES.map((def) => def.id).sort());
  const ids = new Set(CASES.map((def) => def.id));
  let at = 0;
  for (const group of PASS_GROUPS) {
    for (const id of group) assert.ok(ids.has(id), `${id} of PASS_GROUPS is a case`);
    assert.deepEqual(order.slice(at, at + group.length), group); // together, in the listed order
    at += group.length;
  }
  // The rest keeps the order of CASES; so does any selection (--only).
  const rest = CASES.map((def) => def.id).filter((id) => !PASS_GROUPS.flat().includes(id));
  assert.deepEqual(order.slice(at), rest);
  const some = CASES.filter((def) => ['node/stdio', 'unipc/pipe-sync', 'c/pipe', 'c/shm-spin'].includes(def.id));
  assert.deepEqual(
    passOrder(some).map((def) => def.id),
    ['c/shm-spin', 'c/pipe', 'unipc/pipe-sync', 'node/stdio'],
  );
});
