// From the measurements of one run to what is reported: the value of each figure, ratios to the best C
// reference of the same kind, the targets, and the terminal tables.
import { CASES, type CaseDef, KIND_NAMES, KINDS, type Kind, type Placement } from './plan.js';

export interface Measurement {
  case: string;
  kind: Kind;
  placement: Placement;
  /** Round trips, µs. */
  median?: number;
  p99?: number;
  samples?: number;
  /** Throughput. */
  seconds?: number;
  messages?: number;
  bytes?: number;
  messagesPerSecond?: number;
  gigabytesPerSecond?: number;
}

export interface Ratio {
  case: string;
  kind: Kind;
  placement: Placement;
  /** The figure divided by the best C figure (RTT: >1 is slower; throughput: <1 is slower). */
  ratio: number;
  reference: string;
}

export interface Target {
  id: string;
  description: string;
  value: number | null;
  comparison: '<=' | '>=';
  threshold: number;
  met: boolean | null;
  numerator: string;
  denominator: string;
  note?: string;
}

export const isRtt = (kind: Kind): boolean => KINDS[kind].rtt;

/** The figure of a measurement: RTT median µs, 64 B messages/s, or GB/s for the larger chunks. */
export function figureOf(m: Measurement): number | undefined {
  if (isRtt(m.kind)) return m.median;
  return m.kind === 'tput64' ? m.messagesPerSecond : m.gigabytesPerSecond;
}

const better = (kind: Kind, a: number, b: number) => (isRtt(kind) ? a < b : a > b);
const caseOf = (id: string): CaseDef | undefined => CASES.find((c) => c.id === id);

/**
 * The best C figure per kind and placement, among the references that move data between two processes
 * (memcpy is a ceiling of its own, with its own target).
 */
export function bestC(measurements: Measurement[]): Map<string, Measurement> {
  const best = new Map<string, Measurement>();
  for (const m of measurements) {
    const def = caseOf(m.case);
    if (def?.family !== 'c' || def.memcpy !== undefined) continue;
    const value = figureOf(m);
    if (value === undefined) continue;
    const key = `${m.kind} ${m.placement}`;
    const current = best.get(key);
    if (current === undefined || better(m.kind, value, figureOf(current)!)) best.set(key, m);
  }
  return best;
}

export function ratios(measurements: Measurement[]): Ratio[] {
  const best = bestC(measurements);
  const out: Ratio[] = [];
  for (const m of measurements) {
    if (caseOf(m.case)?.family === 'c') continue;
    const reference = best.get(`${m.kind} ${m.placement}`);
    const value = figureOf(m);
    if (reference === undefined || value === undefined) continue;
    out.push({
      case: m.case,
      kind: m.kind,
      placement: m.placement,
      ratio: value / figureOf(reference)!,
      reference: reference.case,
    });
  }
  return out;
}

function find(
  measurements: Measurement[],
  id: string,
  kind: Kind,
  placement: Placement = 'cross-CPU',
): number | undefined {
  const m = measurements.find((x) => x.case === id && x.kind === kind && (x.placement === placement || !isRtt(kind)));
  return m === undefined ? undefined : figureOf(m);
}

export interface HeapRun {
  messages: number;
  seconds: number;
  client: { startBytes: number; endBytes: number; collections: number };
  server: { startBytes: number; endBytes: number; collections: number };
}

const HEAP_LIMIT_MB = 4;

export function targets(measurements: Measurement[], heap: HeapRun | undefined): Target[] {
  const list: Target[] = [];
  const f = (id: string, kind: Kind) => find(measurements, id, kind);
  const add = (
    id: string,
    description: string,
    numerator: [string, Kind],
    denominator: [string, Kind],
    comparison: '<=' | '>=',
    threshold: number,
    note?: string,
  ) => {
    const a = f(...numerator);
    const b = f(...denominator);
    const value = a === undefined || b === undefined ? null : a / b;
    list.push({
      id,
      description,
      value,
      comparison,
      threshold,
      met: value === null ? null : comparison === '<=' ? value <= threshold : value >= threshold,
      numerator: `${numerator[0]} ${numerator[1]}`,
      denominator: `${denominator[0]} ${denominator[1]}`,
      note,
    });
  };
  add(
    'spin-rtt',
    'channel Sync spin, 8 B RTT ÷ C shm spin RTT',
    ['unipc/channel-spin', 'rtt8'],
    ['c/shm-spin', 'rtt8'],
    '<=',
    2,
  );
  add(
    'sleeping-sync-rtt',
    'channel Sync (sleeping), 8 B RTT ÷ C shm + futex RTT',
    ['unipc/channel-sync', 'rtt8'],
    ['c/shm-futex', 'rtt8'],
    '<=',
    1.5,
    'against the plain announce-then-sleep C reference (no spin); the spinning C variant is c/shm-futex-spin',
  );
  add(
    'sleeping-async-rtt',
    'channel Promise (sleeping), 8 B RTT ÷ C shm + futex RTT',
    ['unipc/channel-async', 'rtt8'],
    ['c/shm-futex', 'rtt8'],
    '<=',
    3,
    'against the plain announce-then-sleep C reference (no spin)',
  );
  add(
    'vs-process-send-rtt',
    "process.send ('json') 8 B RTT ÷ channel Promise 8 B RTT",
    ['node/process-send-json', 'rtt8'],
    ['unipc/channel-async', 'rtt8'],
    '>=',
    20,
    "the channel's Promise API, the like-for-like one for an event-loop program",
  );
  add(
    'vs-process-send-tput',
    "channel Promise 64 B throughput ÷ process.send ('json')",
    ['unipc/channel-async', 'tput64'],
    ['node/process-send-json', 'tput64'],
    '>=',
    20,
  );
  add(
    'ring-tput64',
    'channel Sync 64 B throughput ÷ C ring (same design)',
    ['unipc/channel-sync', 'tput64'],
    ['c/ring', 'tput64'],
    '>=',
    0.3,
  );
  add(
    'ring-tput64-zero-copy',
    'channel zero-copy 64 B throughput ÷ C ring (same design)',
    ['unipc/channel-zero-copy', 'tput64'],
    ['c/ring', 'tput64'],
    '>=',
    0.3,
    'the C ring copies out of the ring, the zero-copy receiver does not',
  );
  add(
    'memcpy-tput1m',
    'channel Sync 1 MiB throughput ÷ C memcpy, one core (1 MiB window)',
    ['unipc/channel-sync', 'tput1m'],
    ['c/memcpy', 'tput1m'],
    '>=',
    0.5,
    'the copying path: a copy into the ring, a copy out into a new Buffer',
  );
  add(
    'memcpy-tput1m-zero-copy',
    'channel zero-copy 1 MiB throughput ÷ C memcpy, one core (1 MiB window)',
    ['unipc/channel-zero-copy', 'tput1m'],
    ['c/memcpy', 'tput1m'],
    '>=',
    0.5,
    "one copy, the sender's into its reservation",
  );
  add(
    'sysv-tput64',
    'unipc System V queue Sync, 64 B throughput ÷ C (same loop)',
    ['unipc/sysv-queue-sync', 'tput64'],
    ['c/sysv-queue', 'tput64'],
    '>=',
    0.7,
  );
  add(
    'sysv-rtt8',
    'C System V queue 8 B RTT ÷ unipc Sync (same loop)',
    ['c/sysv-queue', 'rtt8'],
    ['unipc/sysv-queue-sync', 'rtt8'],
    '>=',
    0.7,
  );
  for (const kind of ['tput64', 'tput64k', 'tput1m'] as const) {
    add(
      `pipe-${kind}`,
      `unipc pipe Sync, ${KINDS[kind].label} throughput ÷ C pipe (same loop)`,
      ['unipc/pipe-sync', kind],
      ['c/pipe', kind],
      '>=',
      0.7,
    );
  }
  add(
    'pipe-rtt8',
    'C pipe 8 B RTT ÷ unipc pipe Sync (same loop)',
    ['c/pipe', 'rtt8'],
    ['unipc/pipe-sync', 'rtt8'],
    '>=',
    0.7,
  );
  if (heap !== undefined) {
    const growth =
      Math.max(heap.client.endBytes - heap.client.startBytes, heap.server.endBytes - heap.server.startBytes) / 1e6;
    list.push({
      id: 'heap',
      description: `zero-copy heap growth over ${heap.messages.toLocaleString('en-US')} messages of 64 B, MB`,
      value: growth,
      comparison: '<=',
      threshold: HEAP_LIMIT_MB,
      met: growth <= HEAP_LIMIT_MB,
      numerator: 'heapUsed after a full collection, end − start, the larger of both processes',
      denominator: '1 MB',
      note: `collections during the run: client ${heap.client.collections}, server ${heap.server.collections}`,
    });
  }
  return list;
}

// ---------------------------------------------------------------------------------------------------
// Terminal tables

export function formatValue(kind: Kind, value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  if (isRtt(kind)) return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  if (kind === 'tput64') return value >= 1e6 ? `${(value / 1e6).toFixed(2)} M` : `${(value / 1e3).toFixed(0)} k`;
  return value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

// Three decimals below 1, so that a ratio just under a threshold (0.296 against 0.3) does not print as it.
export const formatRatio = (r: number | undefined) =>
  r === undefined
    ? ''
    : r >= 100
      ? `${r.toFixed(0)}×`
      : r >= 10
        ? `${r.toFixed(1)}×`
        : r >= 1
          ? `${r.toFixed(2)}×`
          : `${r.toFixed(3)}×`;

function table(rows: string[][], align: Array<'l' | 'r'>): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => [...(row[i] ?? '')].length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (align[i] === 'l' ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function renderTables(
  measurements: Measurement[],
  ratioList: Ratio[],
  targetList: Target[],
  cases: CaseDef[],
): string {
  const get = (id: string, kind: Kind, placement: Placement) =>
    measurements.find((m) => m.case === id && m.kind === kind && (m.placement === placement || !isRtt(kind)));
  const ratioOf = (id: string, kind: Kind, placement: Placement = 'cross-CPU') =>
    ratioList.find((r) => r.case === id && r.kind === kind && r.placement === placement)?.ratio;
  const out: string[] = [];

  const rttRows: string[][] = [
    ['round trip, µs', '8 B cross', 'p99', '×best C', '64 B cross', 'p99', '8 B same', '64 B same'],
  ];
  for (const def of cases) {
    if (def.skip?.rtt8 !== undefined && def.skip?.rtt64 !== undefined) continue;
    const cross8 = get(def.id, 'rtt8', 'cross-CPU');
    const cross64 = get(def.id, 'rtt64', 'cross-CPU');
    rttRows.push([
      def.label,
      formatValue('rtt8', cross8?.median),
      formatValue('rtt8', cross8?.p99),
      formatRatio(ratioOf(def.id, 'rtt8')),
      formatValue('rtt64', cross64?.median),
      formatValue('rtt64', cross64?.p99),
      formatValue('rtt8', get(def.id, 'rtt8', 'same-CPU')?.median),
      formatValue('rtt64', get(def.id, 'rtt64', 'same-CPU')?.median),
    ]);
  }
  out.push(table(rttRows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));

  const tputRows: string[][] = [
    ['one-way, cross-CPU', '64 B msg/s', '×best C', '64 KiB GB/s', '×best C', '1 MiB GB/s', '×best C'],
  ];
  for (const def of cases) {
    if (KIND_NAMES.filter((k) => !isRtt(k)).every((k) => def.skip?.[k] !== undefined)) continue;
    const cell = (kind: Kind) =>
      formatValue(
        kind,
        (() => {
          const m = get(def.id, kind, 'cross-CPU');
          return m === undefined ? undefined : figureOf(m);
        })(),
      );
    tputRows.push([
      def.label,
      cell('tput64'),
      formatRatio(ratioOf(def.id, 'tput64')),
      cell('tput64k'),
      formatRatio(ratioOf(def.id, 'tput64k')),
      cell('tput1m'),
      formatRatio(ratioOf(def.id, 'tput1m')),
    ]);
  }
  out.push(table(tputRows, ['l', 'r', 'r', 'r', 'r', 'r', 'r']));

  const channelIds = cases.filter((c) => c.id.startsWith('unipc/channel')).map((c) => c.id);
  if (channelIds.length > 0) {
    const rows: string[][] = [
      [
        "channel vs process.send ('json')",
        'RTT 8 B: lower by',
        '64 B msg/s: higher by',
        "vs 'advanced' RTT",
        "vs 'advanced' msg/s",
      ],
    ];
    for (const id of channelIds) {
      const rtt = find(measurements, id, 'rtt8');
      const tput = find(measurements, id, 'tput64');
      const q = (a: number | undefined, b: number | undefined) =>
        a === undefined || b === undefined ? undefined : a / b;
      rows.push([
        caseOf(id)!.label,
        formatRatio(q(find(measurements, 'node/process-send-json', 'rtt8'), rtt)),
        formatRatio(q(tput, find(measurements, 'node/process-send-json', 'tput64'))),
        formatRatio(q(find(measurements, 'node/process-send-advanced', 'rtt8'), rtt)),
        formatRatio(q(tput, find(measurements, 'node/process-send-advanced', 'tput64'))),
      ]);
    }
    out.push(table(rows, ['l', 'r', 'r', 'r', 'r']));
  }

  const targetRows: string[][] = [['target', 'ratio', 'needed', 'met']];
  for (const t of targetList) {
    targetRows.push([
      t.description,
      t.value === null ? '—' : t.id === 'heap' ? `${t.value.toFixed(2)} MB` : formatRatio(t.value),
      `${t.comparison === '<=' ? '≤' : '≥'} ${t.threshold}`,
      t.met === null ? 'not measured' : t.met ? 'yes' : 'NO',
    ]);
  }
  out.push(table(targetRows, ['l', 'r', 'r', 'l']));
  return out.join('\n\n');
}
