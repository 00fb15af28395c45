// Prints docs/benchmark.md's tables (the run, the figures that matter most, the targets) as Markdown
// from a results file, so that a new run can replace the old figures without copying them by hand.
//   node --import tsx bench/markdown.ts [results.json, default bench/results/latest.json]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CASES, type Kind } from '../src/bench/plan.js';
import {
  type FanoutFigure,
  figureOf,
  formatComparison,
  formatTargetValue,
  formatValue,
  type Measurement,
  type Target,
} from '../src/bench/report.js';

const file = process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'latest.json');
const results = JSON.parse(fs.readFileSync(file, 'utf8'));
const measurements: Measurement[] = results.measurements;

const figure = (id: string, kind: Kind, placement = 'cross-CPU') => {
  const m = measurements.find(
    (x) => x.case === id && x.kind === kind && (x.placement === placement || !kind.startsWith('rtt')),
  );
  return m === undefined ? undefined : figureOf(m);
};
const row = (cells: string[]) => `| ${cells.join(' | ')} |`;

const { machine } = results;
// Version 1 results (before repetitions) kept the load average under machine.loadAverage.
const loadStart: number[] = machine.load?.start ?? machine.loadAverage.start;
const load = loadStart.map((x: number) => x.toFixed(1)).join(', ');
const pair = machine.crossCpuPair;
const floor = results.spinFloor;
const floorText = (f: { median: number } | null) => (f === null ? '—' : `${f.median.toFixed(2)} µs`);
console.log(
  `Run of ${results.date.slice(0, 10)} (\`${results.command}\`, committed as \`bench/results/latest.json\`): ` +
    `${machine.cpu}, ${machine.cpus ?? machine.cores} CPUs${machine.virtualized ? ' (a VM)' : ''}` +
    `${pair?.sameCore === false ? ' on separate cores' : pair?.sameCore === true ? ', hyperthreads of one core' : ''}, ` +
    `${machine.kernel}, Node ${machine.node}; load average ${load} at the start` +
    `${machine.load?.otherCpuShare == null ? '' : `, other processes ${(machine.load.otherCpuShare * 100).toFixed(0)}% of the CPUs during the run`}` +
    `${floor === undefined ? '' : `; spin floor ${floorText(floor.before)} before, ${floorText(floor.after)} after`}` +
    `${results.repetitions === undefined ? '' : `; medians of ${results.repetitions.count} interleaved repetitions`}` +
    `, ${results.durationSeconds.toFixed(0)} s.`,
);
for (const flag of results.flags ?? []) console.log(`\n**Flagged:** ${flag}.`);
console.log();

const ids = [
  'c/shm-spin',
  'c/shm-futex',
  'c/ring',
  'c/pipe',
  'c/sysv-queue',
  'unipc/channel-spin',
  'unipc/channel-sync',
  'unipc/channel-async',
  'unipc/channel-zero-copy',
  'unipc/topic-sync',
  'unipc/topic-async',
  'unipc/service-async',
  'unipc/service-sync',
  'unipc/pipe-sync',
  'unipc/sysv-queue-sync',
  'node/process-send-json',
  'node/net-unix',
  'node/http-unix',
];
console.log(row(['', 'RTT 8 B, cross-CPU, µs', 'RTT 8 B, same-CPU, µs', '64 B, messages/s', '1 MiB, GB/s']));
console.log(row(['---', '---:', '---:', '---:', '---:']));
// A case the run did not measure (an older run, or a case skipped) has no row.
for (const id of ids.filter((x) => measurements.some((m) => m.case === x))) {
  const def = CASES.find((c) => c.id === id)!;
  console.log(
    row([
      def.label,
      formatValue('rtt8', figure(id, 'rtt8')),
      formatValue('rtt8', figure(id, 'rtt8', 'same-CPU')),
      formatValue('tput64', figure(id, 'tput64')),
      formatValue('tput1m', figure(id, 'tput1m')),
    ]),
  );
}
console.log();

// The fan-out (one publisher, several subscriber processes), in runs that measured it.
const fanout: FanoutFigure[] = results.fanout?.figures ?? [];
if (fanout.length > 0) {
  console.log(
    row([
      `${results.fanout.label} ('${results.fanout.topic.policy}', Sync), not pinned`,
      '64 B messages/s per subscriber',
      'deliveries/s',
      'one-way latency, µs',
      'p99, µs',
    ]),
  );
  console.log(row(['---', '---:', '---:', '---:', '---:']));
  for (const f of fanout) {
    console.log(
      row([
        `${f.subscribers} subscriber${f.subscribers === 1 ? '' : 's'}`,
        formatValue('tput64', f.messagesPerSecond),
        formatValue('tput64', f.deliveriesPerSecond),
        formatValue('rtt8', f.latency.median),
        formatValue('rtt8', f.latency.p99),
      ]),
    );
  }
  console.log();
}

const targetRows = (group: string) => {
  console.log(row([group === 'tails' ? 'tail' : 'target', 'worst repetition', 'median', 'needed', 'met']));
  console.log(row(['---', '---:', '---:', '---:', '---']));
  for (const t of (results.targets as Target[]).filter((x) => (x.group ?? 'figures') === group)) {
    console.log(
      row([
        t.description,
        formatTargetValue(t, t.value),
        formatTargetValue(t, t.median ?? t.value),
        formatComparison(t),
        t.met === null ? 'not measured' : t.met ? 'yes' : '**no**',
      ]),
    );
  }
};
targetRows('figures');
if ((results.targets as Target[]).some((t) => t.group === 'tails')) {
  console.log();
  targetRows('tails');
}
const unstable: Array<{ case: string; kind: string; placement: string; spread: number }> =
  results.repetitions?.unstable ?? [];
if (unstable.length > 0) {
  console.log();
  console.log(
    `Unstable (spread over ${results.repetitions.unstableSpread * 100}%): ${unstable.map((u) => `${u.case} ${u.kind} ${u.placement} ${(u.spread * 100).toFixed(0)}%`).join(', ')}.`,
  );
}
