// Prints docs/benchmark.md's tables (the run, the figures that matter most, the targets) as Markdown
// from a results file, so that a new run can replace the old figures without copying them by hand.
//   node --import tsx bench/markdown.ts [results.json, default bench/results/latest.json]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CASES, type Kind } from '../src/bench/plan.js';
import { figureOf, formatRatio, formatValue, type Measurement, type Target } from '../src/bench/report.js';

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
const load = machine.loadAverage.start.map((x: number) => x.toFixed(1)).join(', ');
console.log(
  `Run of ${results.date.slice(0, 10)} (\`${results.command}\`, committed as \`bench/results/latest.json\`): ` +
    `${machine.cpu}, ${machine.cores} CPUs${machine.virtualized ? ' (a VM)' : ''}, ${machine.kernel}, Node ${machine.node}; ` +
    `load average ${load} at the start, ${results.durationSeconds.toFixed(0)} s.`,
);
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
  'unipc/pipe-sync',
  'unipc/sysv-queue-sync',
  'node/process-send-json',
  'node/net-unix',
];
console.log(row(['', 'RTT 8 B, cross-CPU, µs', 'RTT 8 B, same-CPU, µs', '64 B, messages/s', '1 MiB, GB/s']));
console.log(row(['---', '---:', '---:', '---:', '---:']));
for (const id of ids) {
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

console.log(row(['target', 'this run', 'needed', 'met']));
console.log(row(['---', '---:', '---:', '---']));
for (const t of results.targets as Target[]) {
  const value = t.value === null ? '—' : t.id === 'heap' ? `${t.value.toFixed(2)} MB` : formatRatio(t.value);
  console.log(
    row([
      t.description,
      value,
      `${t.comparison === '<=' ? '≤' : '≥'} ${t.threshold}`,
      t.met === null ? 'not measured' : t.met ? 'yes' : '**no**',
    ]),
  );
}
