// From the measurements of one run to what is reported: the value of each figure, ratios to the best C
// reference of the same kind, the issue's targets, and the terminal tables.
import {
  CASES,
  type CaseDef,
  FANOUT_LABEL,
  KIND_NAMES,
  KINDS,
  type Kind,
  type Placement,
  UNSTABLE_SPREAD,
} from './plan.js';

/** One round-trip figure: statistics of the samples, µs. */
export interface RoundTripStats {
  median: number;
  p99: number;
  p999: number;
  max: number;
  samples: number;
}

/** The statistics of round-trip (or one-way latency) samples, µs, as bench/c/bench.h's report_rtt takes them. */
export function sampleStats(samples: Float64Array): RoundTripStats {
  const sorted = Float64Array.from(samples).sort();
  return {
    median: sorted[Math.floor(sorted.length / 2)]!,
    p99: sorted[Math.floor(sorted.length * 0.99)]!,
    p999: sorted[Math.floor(sorted.length * 0.999)]!,
    max: sorted[sorted.length - 1]!,
    samples: sorted.length,
  };
}

/** One throughput figure. */
export interface ThroughputFigures {
  seconds: number;
  messages?: number;
  bytes?: number;
  messagesPerSecond?: number;
  gigabytesPerSecond: number;
}

/**
 * Where the two peers' time went during a round-trip figure of a Node case, both processes summed, µs
 * (src/bench/peer.ts, from the kernel's schedstat): how long their main threads waited runnable, and how
 * long their other threads ran. Each peer is pinned, all its threads, to one CPU, so in a cross-CPU figure
 * a main thread waits only while another thread holds its CPU: `mainWaitedUs − othersRanUs` is at least
 * the time other processes took from the peers (the host's agents, the bench's parent); at least, since
 * a thread of the peer that runs while the main thread sleeps (a waiter thread) counts against it.
 */
export interface SchedulingFigures {
  mainWaitedUs: number;
  othersRanUs: number;
}

export type RepetitionFigures = Partial<RoundTripStats> &
  Partial<ThroughputFigures> & { scheduling?: SchedulingFigures };

/** One figure of one repetition, as a case's processes report it. */
export interface RawMeasurement extends RepetitionFigures {
  case: string;
  kind: Kind;
  placement: Placement;
  /** 0-based. */
  repetition: number;
}

/**
 * A figure of the run: each statistic is the median across the repetitions of that statistic (so `max`
 * is the median repetition's worst, not the worst of all: that is in `repetitions`), with each
 * repetition's own figures in the order they ran (null where that repetition failed).
 */
export interface Measurement extends RepetitionFigures {
  case: string;
  kind: Kind;
  placement: Placement;
  repetitions: Array<RepetitionFigures | null>;
  /** (max − min) ÷ median of the figure (RTT median, messages/s or GB/s) across the repetitions. */
  spread: number;
  /** spread > UNSTABLE_SPREAD. */
  unstable: boolean;
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
  /** 'figures': the speed targets; 'tails': the round-trip tails. */
  group: 'figures' | 'tails';
  description: string;
  /** The worst repetition's value (the one judged), or null when no repetition measured it. */
  value: number | null;
  /** The median of the repetitions' values. */
  median: number | null;
  /** Each repetition's value, in the order they ran; null where it was not measured. */
  repetitions: Array<number | null>;
  /** The 0-based repetition whose value is `value`. */
  worstRepetition: number | null;
  comparison: '<=' | '>=' | '<';
  threshold: number;
  /** Met in every repetition; null when not measured in every repetition. */
  met: boolean | null;
  unit?: string;
  numerator: string;
  denominator: string;
  note?: string;
}

export const isRtt = (kind: Kind): boolean => KINDS[kind].rtt;

/** The figure of a measurement: RTT median µs, 64 B messages/s, or GB/s for the larger chunks. */
export function figureOf(m: { kind: Kind } & RepetitionFigures): number | undefined {
  return repetitionFigure(m.kind, m);
}

export function repetitionFigure(kind: Kind, r: RepetitionFigures): number | undefined {
  if (isRtt(kind)) return r.median;
  return kind === 'tput64' ? r.messagesPerSecond : r.gigabytesPerSecond;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** (max − min) ÷ median; 0 for fewer than two values. */
export function spreadOf(values: number[]): number {
  if (values.length < 2) return 0;
  const m = median(values);
  return m === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / m;
}

const FIGURE_FIELDS = [
  'median',
  'p99',
  'p999',
  'max',
  'samples',
  'seconds',
  'messages',
  'bytes',
  'messagesPerSecond',
  'gigabytesPerSecond',
] as const;

/** From each repetition's figures to one per case, kind and placement, in the order they first ran. */
export function aggregate(raw: RawMeasurement[], repetitions: number, unstableSpread: number): Measurement[] {
  const groups = new Map<string, RawMeasurement[]>();
  for (const m of raw) {
    const key = `${m.case}\t${m.kind}\t${m.placement}`;
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [m]);
    else list.push(m);
  }
  const out: Measurement[] = [];
  for (const list of groups.values()) {
    const { case: id, kind, placement } = list[0]!;
    const reps: Array<RepetitionFigures | null> = Array.from({ length: repetitions }, () => null);
    for (const m of list) {
      const { case: _c, kind: _k, placement: _p, repetition, ...figures } = m;
      reps[repetition] = figures;
    }
    const present = reps.filter((r): r is RepetitionFigures => r !== null);
    const medians: RepetitionFigures = {};
    for (const field of FIGURE_FIELDS) {
      const values = present.map((r) => r[field]).filter((v): v is number => v !== undefined);
      if (values.length > 0) medians[field] = median(values);
    }
    const figures = present.map((r) => repetitionFigure(kind, r)).filter((v): v is number => v !== undefined);
    const spread = spreadOf(figures);
    out.push({ case: id, kind, placement, ...medians, spread, unstable: spread > unstableSpread, repetitions: reps });
  }
  return out;
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

function get(
  measurements: Measurement[],
  id: string,
  kind: Kind,
  placement: Placement = 'cross-CPU',
): Measurement | undefined {
  return measurements.find((x) => x.case === id && x.kind === kind && (x.placement === placement || !isRtt(kind)));
}

function find(
  measurements: Measurement[],
  id: string,
  kind: Kind,
  placement: Placement = 'cross-CPU',
): number | undefined {
  const m = get(measurements, id, kind, placement);
  return m === undefined ? undefined : figureOf(m);
}

export interface HeapRun {
  messages: number;
  seconds: number;
  client: { startBytes: number; endBytes: number; collections: number };
  server: { startBytes: number; endBytes: number; collections: number };
}

const HEAP_LIMIT_MB = 4;
/** Tails: a unipc round trip's worst ≤ this × its C counterpart's worst, and under TAIL_MAX_MS. */
export const TAIL_MAX_RATIO = 3;
export const TAIL_MAX_MS = 10;
/** Tails: p99 ≤ this × the median, for every unipc round trip. */
export const TAIL_P99_RATIO = 5;

/**
 * The unipc round-trip mechanisms with a C counterpart of the same kind, for the tail targets. The
 * channel's counterpart is the C shared-memory futex ping-pong that re-reads its word as the channel does
 * before sleeping (c/shm-futex-spin, the same protocol); with spin: Infinity, the C spin.
 */
export const TAIL_COUNTERPARTS: Record<string, string> = {
  'unipc/pipe-sync': 'c/pipe',
  'unipc/pipe-async': 'c/pipe',
  'unipc/pipe-stream': 'c/pipe',
  'unipc/fifo-sync': 'c/pipe',
  'unipc/socketpair-stream-sync': 'c/socketpair-stream',
  'unipc/socketpair-seqpacket-sync': 'c/socketpair-seqpacket',
  'unipc/socketpair-seqpacket-async': 'c/socketpair-seqpacket',
  'unipc/sysv-queue-sync': 'c/sysv-queue',
  'unipc/sysv-queue-async': 'c/sysv-queue',
  'unipc/channel-sync': 'c/shm-futex-spin',
  'unipc/channel-async': 'c/shm-futex-spin',
  'unipc/channel-zero-copy': 'c/shm-futex-spin',
  'unipc/channel-spin': 'c/shm-spin',
  // The topic waits as the channel does: spin, then announce and sleep on a futex.
  'unipc/topic-sync': 'c/shm-futex-spin',
  'unipc/topic-async': 'c/shm-futex-spin',
};

const RTT_FIGURES: Array<[Kind, Placement]> = [
  ['rtt8', 'cross-CPU'],
  ['rtt64', 'cross-CPU'],
  ['rtt8', 'same-CPU'],
  ['rtt64', 'same-CPU'],
];

/**
 * The issue's targets, each judged in every repetition on figures of that same repetition (repetition r
 * of every case ran in the same pass): `value` is the worst repetition's, and a target is met only if it
 * holds in all of them. `unavailable` names the cases that could not run at all, and why.
 */
export function targets(
  measurements: Measurement[],
  heap: HeapRun | undefined,
  repetitions: number,
  unavailable: Record<string, string> = {},
): Target[] {
  const list: Target[] = [];
  const reps = Array.from({ length: repetitions }, (_, i) => i);
  const repOf = (id: string, kind: Kind, placement: Placement, rep: number) =>
    get(measurements, id, kind, placement)?.repetitions[rep] ?? undefined;
  const figureIn = (id: string, kind: Kind, rep: number, placement: Placement = 'cross-CPU') => {
    const r = repOf(id, kind, placement, rep);
    return r === undefined ? undefined : repetitionFigure(kind, r);
  };
  const judge = (
    fields: Omit<Target, 'value' | 'median' | 'repetitions' | 'worstRepetition' | 'met'>,
    valueIn: (rep: number) => number | undefined,
    cases: string[],
  ) => {
    const values = reps.map((rep) => valueIn(rep) ?? null);
    const measured = values.filter((v): v is number => v !== null && Number.isFinite(v));
    const passes = (v: number) =>
      fields.comparison === '<='
        ? v <= fields.threshold
        : fields.comparison === '<'
          ? v < fields.threshold
          : v >= fields.threshold;
    let worst: number | null = null;
    for (const [i, v] of values.entries()) {
      if (v === null || !Number.isFinite(v)) continue;
      const current = worst === null ? undefined : values[worst]!;
      if (current === undefined || (fields.comparison === '>=' ? v < current : v > current)) worst = i;
    }
    const notes = [fields.note];
    const missing = cases.filter((id) => unavailable[id] !== undefined);
    for (const id of missing) notes.push(`not measured: ${id}: ${unavailable[id]}`);
    if (measured.length > 0 && measured.length < repetitions)
      notes.push(`measured in ${measured.length} of ${repetitions} repetitions`);
    list.push({
      ...fields,
      value: worst === null ? null : values[worst]!,
      median: measured.length === 0 ? null : median(measured),
      repetitions: values,
      worstRepetition: worst,
      met: measured.length < repetitions ? null : measured.every(passes),
      note: notes.filter((n) => n !== undefined).join('; ') || undefined,
    });
  };
  const add = (
    id: string,
    description: string,
    numerator: [string, Kind],
    denominator: [string, Kind],
    comparison: '<=' | '>=',
    threshold: number,
    note?: string,
  ) => {
    judge(
      {
        id,
        group: 'figures',
        description,
        comparison,
        threshold,
        numerator: `${numerator[0]} ${numerator[1]}`,
        denominator: `${denominator[0]} ${denominator[1]}`,
        note,
      },
      (rep) => {
        const a = figureIn(numerator[0], numerator[1], rep);
        const b = figureIn(denominator[0], denominator[1], rep);
        return a === undefined || b === undefined ? undefined : a / b;
      },
      [numerator[0], denominator[0]],
    );
  };
  add(
    'spin-rtt',
    'channel Sync spin, 8 B RTT ÷ C shm spin RTT',
    ['unipc/channel-spin', 'rtt8'],
    ['c/shm-spin', 'rtt8'],
    '<=',
    1.5,
  );
  add(
    'spin-rtt-ring',
    'channel Sync spin, 8 B RTT ÷ C ring of the channel design, spinning',
    ['unipc/channel-spin', 'rtt8'],
    ['c/ring-spin', 'rtt8'],
    '<=',
    1.5,
    "the part of spin-rtt that is the channel's JavaScript: the C ring has the same records and indices",
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
  for (const kind of ['rtt8', 'rtt64'] as const) {
    add(
      `promise-rtt${KINDS[kind].size}`,
      `channel Promise ÷ channel Sync, ${KINDS[kind].label}`,
      ['unipc/channel-async', kind],
      ['unipc/channel-sync', kind],
      '<=',
      1.5,
      'Promise calls on both sides (send/receive), against sendSync/receiveSync on both sides',
    );
  }
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
    'service-rtt',
    'Service Promise request ÷ channel Promise round trip, 8 B',
    ['unipc/service-async', 'rtt8'],
    ['unipc/channel-async', 'rtt8'],
    '<=',
    1.5,
    "a Service is a channel each way: what its framing (a 16-byte request and an 8-byte response header), the request channel's multi-producer lock and matching responses to requests add, at most half again, the bar promise-rtt sets for Promise over Sync",
  );
  add(
    'service-sync-rtt',
    'Service Sync request ÷ channel Sync round trip, 8 B',
    ['unipc/service-sync', 'rtt8'],
    ['unipc/channel-sync', 'rtt8'],
    '<=',
    1.5,
    'requestSync against receiveSync/respondSync, next to sendSync/receiveSync on both sides',
  );
  add(
    'http-vs-service-rtt',
    'HTTP over a Unix socket 8 B RTT ÷ Service Promise 8 B RTT',
    ['node/http-unix', 'rtt8'],
    ['unipc/service-async', 'rtt8'],
    '>=',
    20,
    "Node's http (keep-alive Agent, socketPath) against the Service's Promise API; the factor vs-process-send-rtt asks against process.send",
  );
  add(
    'batched-vs-process-send-tput',
    "channel Promise-side batched 64 B throughput ÷ process.send ('json')",
    ['unipc/channel-batched', 'tput64'],
    ['node/process-send-json', 'tput64'],
    '>=',
    20,
    'the receiver awaits receiveMany; the sender calls sendManySync',
  );
  add(
    'batched-ring-tput64',
    'channel Promise-side batched 64 B throughput ÷ C ring (same design)',
    ['unipc/channel-batched', 'tput64'],
    ['c/ring', 'tput64'],
    '>=',
    1,
    'the receiver awaits receiveMany; the sender calls sendManySync',
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
    'ring-tput1m',
    'channel Sync 1 MiB throughput ÷ C ring (same design)',
    ['unipc/channel-sync', 'tput1m'],
    ['c/ring', 'tput1m'],
    '>=',
    0.8,
    'the copying path (a copy into the ring, a copy out into a new Buffer) against the C ring, which copies in and out too',
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
      0.8,
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
      group: 'figures',
      description: `zero-copy heap growth over ${heap.messages.toLocaleString('en-US')} messages of 64 B, MB`,
      value: growth,
      median: growth,
      repetitions: [growth],
      worstRepetition: 0,
      comparison: '<=',
      threshold: HEAP_LIMIT_MB,
      met: growth <= HEAP_LIMIT_MB,
      unit: 'MB',
      numerator: 'heapUsed after a full collection, end − start, the larger of both processes',
      denominator: '1 MB',
      note: `one run, in the first repetition; collections during the run: client ${heap.client.collections}, server ${heap.server.collections}`,
    });
  }

  // Tails: every round-trip figure (8 and 64 B, cross- and same-CPU) that both sides measured.
  for (const def of CASES) {
    if (def.family !== 'unipc' || (def.skip?.rtt8 !== undefined && def.skip?.rtt64 !== undefined)) continue;
    if (!measurements.some((m) => m.case === def.id && isRtt(m.kind)) && unavailable[def.id] === undefined) continue;
    const counterpart = TAIL_COUNTERPARTS[def.id];
    const figures = RTT_FIGURES.filter(([kind, placement]) => get(measurements, def.id, kind, placement) !== undefined);
    const worstOver = (of: (kind: Kind, placement: Placement) => number | undefined) => {
      let worst: number | undefined;
      for (const [kind, placement] of figures) {
        const v = of(kind, placement);
        if (v === undefined) return undefined; // a figure missing in this repetition: not judged
        worst = worst === undefined ? v : Math.max(worst, v);
      }
      return worst;
    };
    if (counterpart !== undefined) {
      const both = figures.filter(([kind, placement]) => get(measurements, counterpart, kind, placement) !== undefined);
      judge(
        {
          id: `tail-max-${def.id}`,
          group: 'tails',
          description: `${def.label}: worst RTT ÷ worst of ${caseOf(counterpart)?.label ?? counterpart}`,
          comparison: '<=',
          threshold: TAIL_MAX_RATIO,
          numerator: `${def.id} max`,
          denominator: `${counterpart} max`,
          note: 'per figure (8 and 64 B, each placement both measured), the largest ratio',
        },
        (rep) => {
          if (both.length === 0) return undefined;
          let worst: number | undefined;
          for (const [kind, placement] of both) {
            const a = repOf(def.id, kind, placement, rep)?.max;
            const b = repOf(counterpart, kind, placement, rep)?.max;
            if (a === undefined || b === undefined) return undefined;
            worst = Math.max(worst ?? 0, a / b);
          }
          return worst;
        },
        [def.id, counterpart],
      );
      judge(
        {
          id: `tail-max-ms-${def.id}`,
          group: 'tails',
          description: `${def.label}: worst RTT, ms`,
          comparison: '<',
          threshold: TAIL_MAX_MS,
          unit: 'ms',
          numerator: `${def.id} max`,
          denominator: '1 ms',
          note: 'the largest round trip of all its figures',
        },
        (rep) => {
          const worst = worstOver((kind, placement) => repOf(def.id, kind, placement, rep)?.max);
          return worst === undefined ? undefined : worst / 1000;
        },
        [def.id],
      );
    }
    judge(
      {
        id: `tail-p99-${def.id}`,
        group: 'tails',
        description: `${def.label}: p99 ÷ median RTT`,
        comparison: '<=',
        threshold: TAIL_P99_RATIO,
        numerator: `${def.id} p99`,
        denominator: `${def.id} median`,
        note: 'per figure, the largest ratio',
      },
      (rep) =>
        worstOver((kind, placement) => {
          const r = repOf(def.id, kind, placement, rep);
          return r?.p99 === undefined || r.median === undefined ? undefined : r.p99 / r.median;
        }),
      [def.id],
    );
  }
  return list;
}

// ---------------------------------------------------------------------------------------------------
// Fan-out

/** One fan-out run (src/bench/fanout.ts): one publisher, `subscribers` subscriber processes, one repetition. */
export interface FanoutRun {
  subscribers: number;
  /** Timed 64 B messages, each received by every subscriber. */
  messages: number;
  /** From the publisher's first timed send until the last subscriber received the last message. */
  seconds: number;
  /** Messages per second per subscriber: messages ÷ seconds (the slowest subscriber's pace). */
  messagesPerSecond: number;
  /** Each subscriber's own: messages ÷ (the time it received the last − the publisher's start). */
  perSubscriber: number[];
  /** One-way latency of every delivery of the paced messages (all subscribers' samples), µs. */
  latency: RoundTripStats;
  /** The publisher's pause after each paced message, µs. */
  intervalUs: number;
  /** The paced messages' actual rate (the pause, the send and the sleep's overshoot). */
  sentPerSecond: number;
  /** Messages the subscribers lost: 0 under the 'block' policy. */
  missed: number;
}

/** A fan-out figure of the run: medians across the repetitions, as the pairs' figures. */
export interface FanoutFigure {
  subscribers: number;
  /** Messages per second per subscriber. */
  messagesPerSecond: number;
  /** Deliveries per second: messagesPerSecond × subscribers. */
  deliveriesPerSecond: number;
  latency: RoundTripStats;
  /** (max − min) ÷ median across the repetitions, of messagesPerSecond and of the latency median. */
  spread: { messagesPerSecond: number; latency: number };
  unstable: boolean;
  repetitions: Array<FanoutRun | null>;
}

export function aggregateFanout(runs: Array<FanoutRun & { repetition: number }>, repetitions: number): FanoutFigure[] {
  const counts = [...new Set(runs.map((r) => r.subscribers))].sort((a, b) => a - b);
  return counts.map((subscribers) => {
    const reps: Array<FanoutRun | null> = Array.from({ length: repetitions }, () => null);
    for (const { repetition, ...run } of runs.filter((r) => r.subscribers === subscribers)) reps[repetition] = run;
    const present = reps.filter((r): r is FanoutRun => r !== null);
    const of = (get: (r: FanoutRun) => number) => median(present.map(get));
    const spread = {
      messagesPerSecond: spreadOf(present.map((r) => r.messagesPerSecond)),
      latency: spreadOf(present.map((r) => r.latency.median)),
    };
    const messagesPerSecond = of((r) => r.messagesPerSecond);
    return {
      subscribers,
      messagesPerSecond,
      deliveriesPerSecond: messagesPerSecond * subscribers,
      latency: {
        median: of((r) => r.latency.median),
        p99: of((r) => r.latency.p99),
        p999: of((r) => r.latency.p999),
        max: of((r) => r.latency.max),
        samples: of((r) => r.latency.samples),
      },
      spread,
      unstable: Math.max(spread.messagesPerSecond, spread.latency) > UNSTABLE_SPREAD,
      repetitions: reps,
    };
  });
}

/** The fan-out table: one row per subscriber count. */
export function renderFanout(figures: FanoutFigure[]): string {
  const rows: string[][] = [
    [
      `${FANOUT_LABEL} ('block', Sync)`,
      '64 B msg/s per subscriber',
      'deliveries/s',
      'latency µs',
      'p99',
      'p99.9',
      'max',
    ],
  ];
  for (const f of figures) {
    const mark = (text: string) => (f.unstable ? `${text}!` : text);
    rows.push([
      `${f.subscribers} subscriber${f.subscribers === 1 ? '' : 's'}`,
      mark(formatValue('tput64', f.messagesPerSecond)),
      formatValue('tput64', f.deliveriesPerSecond),
      mark(formatValue('rtt8', f.latency.median)),
      formatValue('rtt8', f.latency.p99),
      formatValue('rtt8', f.latency.p999),
      formatValue('rtt8', f.latency.max),
    ]);
  }
  return table(rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r']);
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
  // A figure whose repetitions spread more than the limit is marked.
  const mark = (m: Measurement | undefined, text: string) => (m?.unstable === true && text !== '—' ? `${text}!` : text);
  const out: string[] = [];

  const rttRows: string[][] = [
    [
      'round trip, µs',
      '8 B cross',
      'p99',
      'p99.9',
      'max',
      '×best C',
      '64 B cross',
      'p99',
      'p99.9',
      'max',
      '8 B same',
      '64 B same',
    ],
  ];
  for (const def of cases) {
    if (def.skip?.rtt8 !== undefined && def.skip?.rtt64 !== undefined) continue;
    const cross8 = get(def.id, 'rtt8', 'cross-CPU');
    const cross64 = get(def.id, 'rtt64', 'cross-CPU');
    const same8 = get(def.id, 'rtt8', 'same-CPU');
    const same64 = get(def.id, 'rtt64', 'same-CPU');
    rttRows.push([
      def.label,
      mark(cross8, formatValue('rtt8', cross8?.median)),
      formatValue('rtt8', cross8?.p99),
      formatValue('rtt8', cross8?.p999),
      formatValue('rtt8', cross8?.max),
      formatRatio(ratioOf(def.id, 'rtt8')),
      mark(cross64, formatValue('rtt64', cross64?.median)),
      formatValue('rtt64', cross64?.p99),
      formatValue('rtt64', cross64?.p999),
      formatValue('rtt64', cross64?.max),
      mark(same8, formatValue('rtt8', same8?.median)),
      mark(same64, formatValue('rtt64', same64?.median)),
    ]);
  }
  out.push(table(rttRows, ['l', ...Array<'r'>(11).fill('r')]));

  const tputRows: string[][] = [
    ['one-way, cross-CPU', '64 B msg/s', '×best C', '64 KiB GB/s', '×best C', '1 MiB GB/s', '×best C'],
  ];
  for (const def of cases) {
    if (KIND_NAMES.filter((k) => !isRtt(k)).every((k) => def.skip?.[k] !== undefined)) continue;
    const cell = (kind: Kind) => {
      const m = get(def.id, kind, 'cross-CPU');
      return mark(m, formatValue(kind, m === undefined ? undefined : figureOf(m)));
    };
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

  for (const group of ['figures', 'tails'] as const) {
    const rows: string[][] = [
      [
        group === 'figures' ? 'target (worst repetition judged)' : 'tails (worst repetition judged)',
        'worst',
        'median',
        'needed',
        'met',
      ],
    ];
    for (const t of targetList.filter((x) => x.group === group)) rows.push(targetRow(t));
    if (rows.length > 1) out.push(table(rows, ['l', 'r', 'r', 'r', 'l']));
  }
  const unstable = measurements.filter((m) => m.unstable);
  if (unstable.length > 0) {
    out.push(
      `! unstable (spread (max − min) ÷ median across repetitions > ${UNSTABLE_SPREAD * 100}%): ${unstable
        .map((m) => `${m.case} ${m.kind} ${m.placement} ${(m.spread * 100).toFixed(0)}%`)
        .join(', ')}`,
    );
  }
  return out.join('\n\n');
}

export function formatTargetValue(t: Target, value: number | null): string {
  if (value === null) return '—';
  const unit = t.unit ?? (t.id === 'heap' ? 'MB' : undefined); // version 1 results have no unit
  if (unit === 'MB') return `${value.toFixed(2)} MB`;
  if (unit === 'ms') return `${value >= 10 ? value.toFixed(1) : value.toFixed(2)} ms`;
  return formatRatio(value);
}

export function formatComparison(t: Target): string {
  return `${t.comparison === '<=' ? '≤' : t.comparison === '<' ? '<' : '≥'} ${t.threshold}${t.unit === 'ms' ? ' ms' : ''}`;
}

function targetRow(t: Target): string[] {
  return [
    t.description,
    formatTargetValue(t, t.value),
    formatTargetValue(t, t.median),
    formatComparison(t),
    t.met === null ? (t.value === null ? 'not measured' : 'not in every repetition') : t.met ? 'yes' : 'NO',
  ];
}
