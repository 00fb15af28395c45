// The benchmark runs and writes what it promises: a few cases of each kind with tiny counts, through
// tsx as bench/run.ts does and compiled as `unipc bench` (and `npm run bench`) does. No timing is asserted: only that the
// figures exist and are positive finite numbers. `npm run test:bench` runs every case the same way.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { MECHANISMS } from '../src/bench/mechanisms.js';
import {
  CASES,
  FANOUT_ID,
  FANOUT_SUBSCRIBERS,
  fanoutConfigs,
  KINDS,
  type Kind,
  PASS_GROUPS,
  passOrder,
  QUICK_COUNTS,
  TOPIC_RECORD_SPACE,
  topicRingCapacity,
} from '../src/bench/plan.js';
import { aggregateFanout, type FanoutRun, renderFanout } from '../src/bench/report.js';
import { Topic } from '../src/index.js';
import { root, tempDir } from './helpers.js';

const TINY = ['--quick', '--round-trips', '50', '--messages', '500', '--mebibytes', '2', '--heap-messages', '2000'];
const REPETITIONS = 2;
// A C reference, a Sync and a Promise unipc case, the zero-copy heap run, a server that is the
// client's child (process.send), a request/response case, and the fan-out: every path of the harness
// (the topic pairs are the channel's loops; npm run test:bench runs them).
const SOME =
  'c/pipe,c/shm-spin,c/shm-futex-spin,c/memcpy,unipc/pipe-sync,unipc/channel-async,unipc/channel-zero-copy,unipc/channel-batched,node/process-send-json,unipc/topic-fanout';
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
  assert.equal(typeof results.settings.settle, 'boolean');
  assert.equal(results.settings.settle, !results.flags.some((f: string) => f.startsWith('--no-settle')));
}

/** Why a case cannot run with this build, as its mechanism says (a known defect), or undefined. */
function unavailable(id: string): string | undefined {
  const def = CASES.find((c) => c.id === id)!;
  return def.node === undefined ? undefined : MECHANISMS[def.node.mechanism]!.unavailable?.();
}

// The fan-out section: a figure per subscriber count, each measured in every repetition.
function checkFanout(fanout: ReturnType<typeof JSON.parse>, repetitions: number): void {
  assert.equal(fanout.id, FANOUT_ID);
  assert.deepEqual(fanout.errors, []);
  assert.equal(fanout.topic.policy, 'block');
  assert.match(fanout.placement, /^not pinned/);
  assert.deepEqual(
    fanout.figures.map((f: { subscribers: number }) => f.subscribers),
    [...FANOUT_SUBSCRIBERS],
  );
  for (const f of fanout.figures) {
    const what = `fan-out to ${f.subscribers}`;
    positive(f.messagesPerSecond, `${what}: messages/s per subscriber`);
    assert.ok(Math.abs(f.deliveriesPerSecond - f.messagesPerSecond * f.subscribers) < 1e-6 * f.deliveriesPerSecond);
    for (const stat of ['median', 'p99', 'p999', 'max']) positive(f.latency[stat], `${what}: latency ${stat}`);
    assert.equal(f.repetitions.length, repetitions);
    assert.ok(f.spread.messagesPerSecond >= 0 && f.spread.latency >= 0);
    for (const run of f.repetitions) {
      assert.ok(run !== null, `${what}: measured in every repetition`);
      assert.equal(run.perSubscriber.length, f.subscribers);
      for (const rate of run.perSubscriber) positive(rate, `${what}: a subscriber's messages/s`);
      // The slowest subscriber sets the figure.
      assert.ok(Math.abs(run.messagesPerSecond - Math.min(...run.perSubscriber)) < 1e-6 * run.messagesPerSecond);
      assert.equal(run.latency.samples, fanout.counts.latencyMessages * f.subscribers, `${what}: every delivery`);
      const { median, p99, p999, max } = run.latency;
      assert.ok(median <= p99 && p99 <= p999 && p999 <= max, `${what}: ordered statistics`);
      assert.equal(run.missed, 0, "nothing is lost under 'block'");
      positive(run.sentPerSecond, `${what}: paced rate`);
    }
  }
}

function checkResults(jsonPath: string, expectedIds: string[], repetitions: number, fanout: boolean): void {
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
    // Skipped only when its mechanism says why (a known defect of this build).
    assert.equal(result.skipped, unavailable(result.id), result.id);
    assert.equal(result.repetitionsCompleted, result.skipped === undefined ? repetitions : 0, result.id);
  }
  if (fanout) checkFanout(results.fanout, repetitions);
  else assert.equal(results.fanout, null);
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
    if (unavailable(id) !== undefined) continue;
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
  for (const id of expectedIds.filter((x) => unavailable(x) === undefined))
    assert.ok(
      svg.includes(
        CASES.find((c) => c.id === id)!
          .label.replace(/&/g, '&amp;')
          .replace(/</g, '&lt;'),
      ),
    );
}

// Every case, twice, takes far longer than a few of them (npm run test:bench raises the file's limit too).
// A few cases skip the settle before round-trip figures, which took most of this run's time; the compiled
// CLI's run below, and npm run test:bench, settle.
const RUN_TIMEOUT_MS = ALL ? 1_800_000 : 300_000;

test('bench/run.ts (through tsx): the cases run, the JSON and the SVG are complete', {
  timeout: RUN_TIMEOUT_MS,
}, () => {
  using dir = tempDir('bench-');
  const jsonPath = dir.file('results.json');
  const args = [
    ...TINY,
    '--repetitions',
    String(REPETITIONS),
    '--json',
    jsonPath,
    ...(ALL ? [] : ['--only', SOME, '--no-settle']),
  ];
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
  assert.match(run.stdout, /unipc topic fan-out \('block', Sync\) +64 B msg\/s per subscriber/);
  const ids = ALL
    ? CASES.map((c) => c.id)
    : CASES.filter((c) => SOME.split(',').some((s) => c.id.startsWith(s))).map((c) => c.id);
  checkResults(jsonPath, ids, REPETITIONS, true);
});

test("unipc bench run from another directory writes ./unipc-bench.json there, never into the package's bench/results", () => {
  using dir = tempDir('bench-');
  const bin = path.join(root, 'dist', 'esm', 'cli', 'main.js');
  const committed = path.join(root, 'bench', 'results', 'latest.json');
  const before = fs.statSync(committed).mtimeMs;
  const run = spawnSync(
    process.execPath,
    [bin, 'bench', ...TINY, '--no-settle', '--only', 'unipc/socketpair-seqpacket-sync'],
    {
      cwd: dir.path,
      encoding: 'utf8',
    },
  );
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
  assert.equal(results.fanout, null, 'the fan-out runs only when --only selects it');
  assert.equal(results.measurements.length, 6);
  assert.equal(results.repetitions.count, 2, '--quick runs every figure twice');
  assert.equal(results.settings.settle, true, 'round-trip figures settle unless --no-settle');
  for (const m of results.measurements) assert.equal(m.repetitions.length, 2);

  for (const bad of [['--bogus'], ['--round-trips', '0'], ['--repetitions', '0'], ['--only', 'no-such-case']]) {
    const failed = spawnSync(process.execPath, [bin, 'bench', ...bad], { cwd: dir.path, encoding: 'utf8' });
    assert.equal(failed.status, 2, bad.join(' '));
    assert.match(failed.stderr, /^unipc bench: /);
  }
  const help = spawnSync(process.execPath, [bin, 'bench', '--help'], { encoding: 'utf8' });
  assert.match(help.stdout, /Usage: unipc bench/);
  const list = spawnSync(process.execPath, [bin, 'bench', '--list'], { encoding: 'utf8' });
  for (const id of [...CASES.map((c) => c.id), FANOUT_ID]) assert.ok(list.stdout.includes(`${id} `), id);
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

test("the topic cases' rings take their messages, and the fan-out's counts follow the pairs'", () => {
  for (const { size } of Object.values(KINDS)) {
    const capacity = topicRingCapacity(size);
    assert.ok(capacity / 2 - TOPIC_RECORD_SPACE >= size, `${size} B in a ${capacity}-byte topic`);
    using topic = Topic.create({ capacity, maxMessageSize: capacity / 2 - TOPIC_RECORD_SPACE });
    assert.ok(topic.maxMessageSize >= size);
  }
  const configs = fanoutConfigs(QUICK_COUNTS);
  assert.deepEqual(
    configs.map((c) => c.subscribers),
    [...FANOUT_SUBSCRIBERS],
  );
  for (const c of configs) {
    assert.equal(c.latencyMessages, QUICK_COUNTS.roundTrips);
    assert.ok(c.messages >= QUICK_COUNTS.messages && c.warmup > 0 && c.latencyWarmup > 0 && c.intervalUs > 0);
  }
  // Request/response cases have round trips only, and say why.
  for (const id of ['unipc/service-async', 'unipc/service-sync', 'node/http-unix']) {
    const def = CASES.find((c) => c.id === id)!;
    for (const kind of ['tput64', 'tput64k', 'tput1m'] as const) assert.ok(def.skip?.[kind], `${id} ${kind}`);
    assert.equal(def.skip?.rtt8, undefined);
  }
});

test('fan-out figures: medians across repetitions, the slowest subscriber, a table row per subscriber count', () => {
  const run = (
    subscribers: number,
    repetition: number,
    rate: number,
    latency: number,
  ): FanoutRun & { repetition: number } => ({
    subscribers,
    repetition,
    messages: 1000,
    seconds: 1000 / rate,
    messagesPerSecond: rate,
    perSubscriber: Array.from({ length: subscribers }, (_, i) => rate * (1 + i / 10)),
    latency: { median: latency, p99: latency * 2, p999: latency * 3, max: latency * 4, samples: 10 * subscribers },
    intervalUs: 200,
    sentPerSecond: 4000,
    missed: 0,
  });
  const figures = aggregateFanout(
    [run(1, 0, 100_000, 10), run(2, 0, 50_000, 20), run(1, 1, 120_000, 12), run(1, 2, 110_000, 50)],
    3,
  );
  assert.deepEqual(
    figures.map((f) => f.subscribers),
    [1, 2],
  );
  const [one, two] = figures;
  assert.equal(one!.messagesPerSecond, 110_000);
  assert.equal(one!.latency.median, 12);
  assert.equal(one!.latency.max, 48);
  assert.ok(Math.abs(one!.spread.latency - 40 / 12) < 1e-9);
  assert.equal(one!.unstable, true);
  assert.equal(two!.deliveriesPerSecond, 100_000);
  assert.deepEqual(
    two!.repetitions.map((r) => r === null),
    [false, true, true],
  );
  const text = renderFanout(figures);
  assert.match(text, /^unipc topic fan-out \('block', Sync\)/);
  assert.match(text, /\n1 subscriber +110 k! +110 k +12\.0! +24\.0 +36\.0 +48\.0/);
  assert.match(text, /\n2 subscribers +50 k +100 k +20\.0 +40\.0 +60\.0 +80\.0$/);
});
