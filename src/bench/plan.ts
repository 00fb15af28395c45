// What the benchmark measures: the kinds of figure, the placements, the cases (C references, unipc's
// mechanisms, Node's own) and the counts. Shared by the orchestrator (main.ts) and the peers (peer.ts).

/** The figures: round trips of 8 and 64 bytes, one-way throughput of 64 B, 64 KiB and 1 MiB messages. */
export type Kind = 'rtt8' | 'rtt64' | 'tput64' | 'tput64k' | 'tput1m';

export const KINDS: Record<Kind, { size: number; rtt: boolean; label: string }> = {
  rtt8: { size: 8, rtt: true, label: 'RTT 8 B' },
  rtt64: { size: 64, rtt: true, label: 'RTT 64 B' },
  tput64: { size: 64, rtt: false, label: '64 B messages' },
  tput64k: { size: 64 * 1024, rtt: false, label: '64 KiB chunks' },
  tput1m: { size: 1024 * 1024, rtt: false, label: '1 MiB chunks' },
};
export const KIND_NAMES = Object.keys(KINDS) as Kind[];

/**
 * Where the two processes run. Round trips are measured cross-CPU (the primary figure) and same-CPU;
 * throughput cross-CPU, so that each side has a CPU of its own. memcpy runs in one process.
 */
export type Placement = 'cross-CPU' | 'same-CPU' | 'one CPU';
export const PLACEMENT_CPUS: Record<Exclude<Placement, 'one CPU'>, { client: number; server: number }> = {
  'cross-CPU': { client: 0, server: 1 },
  'same-CPU': { client: 0, server: 0 },
};

/** Ring sizes of the channel and of the C ring of the same design, per message size. */
export function ringCapacity(size: number): number {
  return ringFor(size, CHANNEL_RECORD_SPACE);
}

/** Ring sizes of the topic, per message size: as the channel's, for the topic's own limit. */
export function topicRingCapacity(size: number): number {
  return ringFor(size, TOPIC_RECORD_SPACE);
}

/** What a ring of `capacity` keeps from its longest message: maxMessageSize <= capacity / 2 − this. */
export const CHANNEL_RECORD_SPACE = 8;
/** The topic's records carry a sequence number too: maxMessageSize <= capacity / 2 − 12 (src/topic.ts). */
export const TOPIC_RECORD_SPACE = 12;

function ringFor(size: number, recordSpace: number): number {
  if (size <= 4096) return 64 * 1024;
  let capacity = 4096;
  while (capacity / 2 - recordSpace < size) capacity *= 2;
  return capacity;
}

/** The channel's default reads before sleeping (src/channel.ts), which the C references copy. */
export const CHANNEL_SPIN = 1000;

export type Family = 'c' | 'unipc' | 'node';

export interface CaseDef {
  id: string;
  label: string;
  family: Family;
  /** A C reference: program in bench/c, its mechanism argument, and an extra argument per size. */
  c?: { program: string; mechanism: string; extra?: (size: number) => string; queue?: boolean };
  /** A Node mechanism of src/bench/mechanisms.ts. */
  node?: { mechanism: string };
  /** memcpy bandwidth, one process: the window its copies cycle through, in MiB. */
  memcpy?: { windowMiB: number };
  /** Kinds this case does not measure, and why. */
  skip?: Partial<Record<Kind, string>>;
  /** Why round trips are not measured same-CPU, if they are not. */
  noSameCpu?: string;
  /**
   * The 64 B throughput figure moves this many times the messages (default 1): shared memory moves
   * 300,000 in 20–200 ms, where one stall of the host is a large part of the figure.
   */
  messageScale?: number;
  note?: string;
}

/** The messageScale of the shared-memory cases. */
const SHARED_MEMORY_MESSAGES = 10;

const MSGMAX = 'System V messages are limited to msgmax (8192 bytes here)';
const MQ_MSGSIZE = 'POSIX queue messages are limited to msgsize_max (8192 bytes here)';
const SEQPACKET_1M = 'a 1 MiB seqpacket message exceeds the socket send buffer (EMSGSIZE; net.core.wmem_max)';
const NO_STREAM = 'round trips only: a ping-pong reference';
const SPINNING =
  'both sides busy-wait: on one CPU a wait lasts until the scheduler preempts the spinner, which measures the time slice, not the mechanism';
/** Messages a batched receive takes at most at once. */
export const BATCH = 256;
const BATCHED = 'the batched case measures the one-way throughput of 64 B messages only';
const rttOnly = { tput64: NO_STREAM, tput64k: NO_STREAM, tput1m: NO_STREAM };
const REQUEST_RESPONSE = 'round trips only: request/response, the round trip is its figure';

// Reads of the other side's index before the spinning C ring would sleep: longer than any figure lasts.
const RING_SPIN_FOREVER = 2_000_000_000;

export const CASES: CaseDef[] = [
  { id: 'c/pipe', label: 'C pipe() read/write', family: 'c', c: { program: 'pipe_family', mechanism: 'pipe' } },
  {
    id: 'c/socketpair-stream',
    label: 'C socketpair stream',
    family: 'c',
    c: { program: 'pipe_family', mechanism: 'stream' },
  },
  {
    id: 'c/socketpair-seqpacket',
    label: 'C socketpair seqpacket',
    family: 'c',
    c: { program: 'pipe_family', mechanism: 'seqpacket' },
    skip: { tput1m: SEQPACKET_1M },
  },
  {
    id: 'c/sysv-queue',
    label: 'C System V msgsnd/msgrcv',
    family: 'c',
    c: { program: 'sysv_queue', mechanism: 'queue', queue: true },
    skip: { tput64k: MSGMAX, tput1m: MSGMAX },
  },
  {
    id: 'c/shm-futex',
    label: 'C shm + futex (announce, sleep)',
    family: 'c',
    c: { program: 'shm_pingpong', mechanism: 'futex', extra: () => '0' },
    skip: rttOnly,
    note: 'the plain announce-then-FUTEX_WAIT protocol of the channel, no spinning',
  },
  {
    id: 'c/shm-futex-spin',
    label: `C shm + futex, ${CHANNEL_SPIN} spins first`,
    family: 'c',
    c: { program: 'shm_pingpong', mechanism: 'futex', extra: () => String(CHANNEL_SPIN) },
    skip: rttOnly,
    note: `the same, re-reading the word ${CHANNEL_SPIN} times before sleeping, as the channel does by default`,
  },
  {
    id: 'c/shm-spin',
    label: 'C shm spin (never sleeps)',
    family: 'c',
    c: { program: 'shm_pingpong', mechanism: 'spin' },
    skip: rttOnly,
    noSameCpu: SPINNING,
  },
  {
    id: 'c/ring',
    label: 'C ring of the channel design',
    family: 'c',
    c: { program: 'ring', mechanism: 'channel', extra: (size) => `${ringCapacity(size)}:${CHANNEL_SPIN}` },
    note: `variable-size records, head/tail, waiting flags, futex; ${CHANNEL_SPIN} spins before sleeping`,
    messageScale: SHARED_MEMORY_MESSAGES,
  },
  {
    id: 'c/ring-spin',
    label: 'C ring of the channel design, spinning (never sleeps)',
    family: 'c',
    c: { program: 'ring', mechanism: 'channel', extra: (size) => `${ringCapacity(size)}:${RING_SPIN_FOREVER}` },
    skip: rttOnly,
    noSameCpu: SPINNING,
    note: "the channel's records and indices with C shm spin's waiting: what the design costs over one word",
  },
  {
    id: 'c/memcpy',
    label: 'C memcpy, one core (1 MiB window)',
    family: 'c',
    memcpy: { windowMiB: 1 },
    skip: { rtt8: 'one process', rtt64: 'one process', tput64: 'bandwidth only' },
    note: 'copies into a shared memfd mapping, cycling through a 1 MiB window (in cache)',
  },
  {
    id: 'c/memcpy-4m',
    label: 'C memcpy, one core (4 MiB window)',
    family: 'c',
    memcpy: { windowMiB: 4 },
    skip: { rtt8: 'one process', rtt64: 'one process', tput64: 'bandwidth only' },
    note: "the same through a 4 MiB window: the footprint of the channel's 1 MiB ring",
  },

  {
    id: 'unipc/pipe-sync',
    label: 'unipc pipe() writeSync/readSync',
    family: 'unipc',
    node: { mechanism: 'pipe-sync' },
  },
  {
    id: 'unipc/pipe-async',
    label: 'unipc pipe() write/read (Promise)',
    family: 'unipc',
    node: { mechanism: 'pipe-async' },
  },
  { id: 'unipc/pipe-stream', label: 'unipc pipe() .stream', family: 'unipc', node: { mechanism: 'pipe-stream' } },
  { id: 'unipc/fifo-sync', label: 'unipc FIFO writeSync/readSync', family: 'unipc', node: { mechanism: 'fifo-sync' } },
  {
    id: 'unipc/socketpair-stream-sync',
    label: 'unipc socketpair stream, Sync',
    family: 'unipc',
    node: { mechanism: 'socketpair-stream-sync' },
  },
  {
    id: 'unipc/socketpair-seqpacket-sync',
    label: 'unipc socketpair seqpacket, Sync',
    family: 'unipc',
    node: { mechanism: 'socketpair-seqpacket-sync' },
    skip: { tput1m: SEQPACKET_1M },
  },
  {
    id: 'unipc/socketpair-seqpacket-async',
    label: 'unipc socketpair seqpacket, Promise',
    family: 'unipc',
    node: { mechanism: 'socketpair-seqpacket-async' },
    skip: { tput1m: SEQPACKET_1M },
  },
  {
    id: 'unipc/sysv-queue-sync',
    label: 'unipc System V queue, Sync',
    family: 'unipc',
    node: { mechanism: 'sysv-queue-sync' },
    skip: { tput64k: MSGMAX, tput1m: MSGMAX },
  },
  {
    id: 'unipc/sysv-queue-async',
    label: 'unipc System V queue, Promise',
    family: 'unipc',
    node: { mechanism: 'sysv-queue-async' },
    skip: { tput64k: MSGMAX, tput1m: MSGMAX },
  },
  {
    id: 'unipc/posix-queue-sync',
    label: 'unipc POSIX queue, Sync',
    family: 'unipc',
    node: { mechanism: 'posix-queue-sync' },
    skip: { tput64k: MQ_MSGSIZE, tput1m: MQ_MSGSIZE },
  },
  {
    id: 'unipc/posix-queue-async',
    label: 'unipc POSIX queue, Promise',
    family: 'unipc',
    node: { mechanism: 'posix-queue-async' },
    skip: { tput64k: MQ_MSGSIZE, tput1m: MQ_MSGSIZE },
  },
  {
    id: 'unipc/channel-sync',
    label: 'unipc channel, Sync (sleeping)',
    family: 'unipc',
    node: { mechanism: 'channel-sync' },
    note: `sendSync/receiveSync with the default spin (${CHANNEL_SPIN} reads), then a futex sleep`,
    messageScale: SHARED_MEMORY_MESSAGES,
  },
  {
    id: 'unipc/channel-async',
    label: 'unipc channel, Promise (sleeping)',
    family: 'unipc',
    node: { mechanism: 'channel-async' },
    note: `send/receive with the default spin (${CHANNEL_SPIN} reads), then a futex sleep on a waiter thread`,
    messageScale: SHARED_MEMORY_MESSAGES,
  },
  {
    id: 'unipc/channel-spin',
    label: 'unipc channel, Sync spin',
    family: 'unipc',
    node: { mechanism: 'channel-spin' },
    noSameCpu:
      'with spin: Infinity the channel never sleeps, also when its peer waits on the same CPU: each round trip then waits out a time slice (~8 ms measured)',
    note: 'sendSync/receiveSync with { spin: Infinity }: never sleeps',
    messageScale: SHARED_MEMORY_MESSAGES,
  },
  {
    id: 'unipc/channel-zero-copy',
    label: 'unipc channel, zero-copy',
    family: 'unipc',
    node: { mechanism: 'channel-zero-copy' },
    note: 'reserveSync/commit and receiveViewSync/release, default spin; the receiver does not read the bytes it is lent',
    messageScale: SHARED_MEMORY_MESSAGES,
  },
  {
    id: 'unipc/channel-batched',
    label: 'unipc channel, Promise batched receive',
    family: 'unipc',
    node: { mechanism: 'channel-batched' },
    skip: { rtt8: BATCHED, rtt64: BATCHED, tput64k: BATCHED, tput1m: BATCHED },
    note: `the receiver takes up to ${BATCH} messages per await receiveMany(${BATCH}) (Promise), the sender calls sendManySync with ${BATCH} at a time; default spin`,
    messageScale: SHARED_MEMORY_MESSAGES,
  },
  {
    id: 'unipc/topic-sync',
    label: 'unipc topic, Sync (one subscriber)',
    family: 'unipc',
    node: { mechanism: 'topic-sync' },
    note: `a 'block' topic each way, one subscriber each: sendSync/receiveSync with the default spin (${CHANNEL_SPIN} reads), then a futex sleep; receiveSync returns a new Buffer per message (the topic has no receiveInto)`,
    messageScale: SHARED_MEMORY_MESSAGES,
  },
  {
    id: 'unipc/topic-async',
    label: 'unipc topic, Promise (one subscriber)',
    family: 'unipc',
    node: { mechanism: 'topic-async' },
    note: `a 'block' topic each way, one subscriber each: send/receive with the default spin (${CHANNEL_SPIN} reads), then a futex sleep on a waiter thread`,
    messageScale: SHARED_MEMORY_MESSAGES,
  },
  {
    id: 'unipc/service-async',
    label: 'unipc Service, Promise request/respond',
    family: 'unipc',
    node: { mechanism: 'service-async' },
    skip: { tput64: REQUEST_RESPONSE, tput64k: REQUEST_RESPONSE, tput1m: REQUEST_RESPONSE },
    note: 'await client.request(bytes) against `for await (const request of service) await request.respond(request.data)`; a named service, 64 KiB rings',
  },
  {
    id: 'unipc/service-sync',
    label: 'unipc Service, Sync request/respond',
    family: 'unipc',
    node: { mechanism: 'service-sync' },
    skip: { tput64: REQUEST_RESPONSE, tput64k: REQUEST_RESPONSE, tput1m: REQUEST_RESPONSE },
    note: 'client.requestSync(bytes) against service.receiveSync() and request.respondSync(request.data); a named service, 64 KiB rings',
  },
  {
    id: 'unipc/mutex-condition',
    label: 'unipc shm + Mutex/Condition',
    family: 'unipc',
    node: { mechanism: 'mutex-condition' },
    note: 'a bounded buffer in a memfd: lockSync, Condition.waitSync/notify',
    messageScale: SHARED_MEMORY_MESSAGES,
  },
  {
    id: 'unipc/futex-semaphore',
    label: 'unipc shm + Semaphore (futex)',
    family: 'unipc',
    node: { mechanism: 'futex-semaphore' },
    note: 'a bounded buffer in a memfd: free/full Semaphore waitSync/post',
    messageScale: SHARED_MEMORY_MESSAGES,
  },
  {
    id: 'unipc/sysv-semaphore',
    label: 'unipc System V shm + semaphores',
    family: 'unipc',
    node: { mechanism: 'sysv-semaphore' },
    note: 'a bounded buffer in a shmget segment: SemaphoreSet waitSync/post',
  },
  {
    id: 'unipc/posix-semaphore',
    label: 'unipc POSIX shm + named semaphores',
    family: 'unipc',
    node: { mechanism: 'posix-semaphore' },
    note: 'a bounded buffer in shm_open memory: NamedSemaphore waitSync/post',
    messageScale: SHARED_MEMORY_MESSAGES,
  },

  {
    id: 'node/process-send-json',
    label: "Node process.send ('json')",
    family: 'node',
    node: { mechanism: 'process-send-json' },
    note: 'messages are strings of the size',
  },
  {
    id: 'node/process-send-advanced',
    label: "Node process.send ('advanced')",
    family: 'node',
    node: { mechanism: 'process-send-advanced' },
    note: 'messages are Buffers of the size',
  },
  { id: 'node/net-unix', label: 'Node net Unix socket', family: 'node', node: { mechanism: 'net-unix' } },
  {
    id: 'node/http-unix',
    label: 'Node http over a Unix socket',
    family: 'node',
    node: { mechanism: 'http-unix' },
    skip: { tput64: REQUEST_RESPONSE, tput64k: REQUEST_RESPONSE, tput1m: REQUEST_RESPONSE },
    note: 'http.request (POST, a keep-alive Agent, socketPath) to http.createServer listening on an abstract Unix socket; the body is the message, the response echoes it',
  },
  {
    id: 'node/stdio',
    label: 'Node child stdio pipes',
    family: 'node',
    node: { mechanism: 'stdio' },
    note: 'socketpairs, in fact',
  },
];

/**
 * The order of the cases within a repetition: each group holds a C reference and the cases whose
 * targets are ratios to it, so that the two figures of a ratio are measured within a minute or two of
 * each other rather than up to a whole pass (5 minutes) apart. On a VM the vCPUs' placement on the host
 * changes within minutes, and with it every figure: the C spin round trip measured 0.26 µs in one
 * repetition and 1.04–1.12 µs in the two around it (two vCPUs on one core's hyperthreads, then on two
 * cores), so a ratio whose figures straddled such a change said nothing about unipc. Cases of no group
 * run after these, in CASES order, as do the cases within a group.
 */
export const PASS_GROUPS: string[][] = [
  ['c/shm-spin', 'c/ring-spin', 'unipc/channel-spin'],
  [
    'c/shm-futex',
    'c/shm-futex-spin',
    'unipc/channel-sync',
    'unipc/channel-async',
    'node/process-send-json',
    // Judged against the channel's Promise round trip, and each other.
    'unipc/service-async',
    'unipc/service-sync',
    'node/http-unix',
    'unipc/channel-batched',
    'c/ring',
    'unipc/channel-zero-copy',
    'c/memcpy',
    'c/memcpy-4m',
    // No targets: next to the channel's figures to compare with them.
    'unipc/topic-sync',
    'unipc/topic-async',
  ],
  ['c/pipe', 'unipc/pipe-sync', 'unipc/pipe-async', 'unipc/pipe-stream', 'unipc/fifo-sync'],
  ['c/sysv-queue', 'unipc/sysv-queue-sync', 'unipc/sysv-queue-async'],
  ['c/socketpair-stream', 'unipc/socketpair-stream-sync'],
  ['c/socketpair-seqpacket', 'unipc/socketpair-seqpacket-sync', 'unipc/socketpair-seqpacket-async'],
];

/** `cases` in the order of a repetition (PASS_GROUPS). */
export function passOrder<T extends { id: string }>(cases: T[]): T[] {
  const rank = new Map(PASS_GROUPS.flat().map((id, position) => [id, position]));
  const ungrouped = rank.size;
  return cases
    .map((def, index) => ({ def, index }))
    .sort((a, b) => (rank.get(a.def.id) ?? ungrouped) - (rank.get(b.def.id) ?? ungrouped) || a.index - b.index)
    .map(({ def }) => def);
}

/** Repetitions of every figure: a full run, and --quick. */
export const REPETITIONS = { full: 3, quick: 2 } as const;
/** A figure whose spread across repetitions, (max − min) ÷ median, exceeds this is unstable. */
export const UNSTABLE_SPREAD = 0.2;
/** The C spin floor measured before and after the run: the run is flagged when they differ by more (max ÷ min − 1). */
export const FLOOR_MOVED = 0.2;
/**
 * The run is flagged when other processes took this long from a Node case's peers within one cross-CPU
 * round-trip figure (`scheduling`: main threads' runnable wait − their other threads' run time). The
 * host's agents routinely take 5–15 ms of a figure of half a second; 50 ms is a host busy with something.
 */
export const PREEMPTED_MS = 50;
/** The case whose 8 B cross-CPU round trip is the spin floor. */
export const FLOOR_CASE = 'c/shm-spin';

export interface Counts {
  /** Timed round trips per RTT figure (a tenth more, untimed, warm up first). */
  roundTrips: number;
  /** 64-byte messages per throughput figure. */
  messages: number;
  /** MiB per 64 KiB and 1 MiB throughput figure. */
  mebibytes: number;
  /** 64-byte messages of the heap-stability run. */
  heapMessages: number;
  /** MiB copied per memcpy figure. */
  memcpyMebibytes: number;
}

export const FULL_COUNTS: Counts = {
  roundTrips: 20_000,
  messages: 300_000,
  mebibytes: 512,
  heapMessages: 10_000_000,
  memcpyMebibytes: 2048,
};
export const QUICK_COUNTS: Counts = {
  roundTrips: 1000,
  messages: 20_000,
  mebibytes: 32,
  heapMessages: 200_000,
  memcpyMebibytes: 512,
};

/** One measurement as a peer runs it. */
export interface Phase {
  kind: Kind | 'heap';
  placement: Exclude<Placement, 'one CPU'>;
  size: number;
  count: number;
  warmup: number;
}

/**
 * Untimed round trips, at least this long and at least JIT_SETTLE_ROUND_TRIPS of them, and until neither
 * process page-faults any more (src/bench/peer.ts), before each round-trip figure of a new placement or
 * message size, through the figure's own loop (its timed part included). V8 keeps compiling the hot paths
 * for a few hundred milliseconds on background threads, which share the pinned CPUs with the spinning main
 * threads: each compilation stalls a round trip by up to several milliseconds (measured: stalls of 0.2–15 ms
 * until about 450 ms into a run). A new placement makes new paths hot: on one CPU a Promise-form wait always
 * sleeps, and the channel's sleeping path was first optimised 12,000–15,000 round trips into the same-CPU
 * figure (a 180 ms background compile, an 11–15 ms round trip). A new size takes new branches (the 64-byte
 * copy), where V8 deoptimises and compiles again; a loop first run in the figure is compiled there. C
 * programs have no such start.
 */
export const JIT_SETTLE_MS = 600;

/**
 * V8 decides to optimise a function by how often it ran, not by time: a function called once per round
 * trip of 90 µs (the Promise channel on one CPU) was compiled after 12,000–15,000 round trips.
 */
export const JIT_SETTLE_ROUND_TRIPS = 20_000;

/**
 * Untimed messages before a figure: a tenth of the count, and for round trips at least 1000, so that V8
 * has optimised the loops (throughput runs of small messages are long enough anyway).
 */
export function warmupFor(count: number, rtt: boolean): number {
  return Math.max(rtt ? 1000 : 1, Math.ceil(count / 10));
}

/** The phases of a case, in the order they run: round trips cross-CPU then same-CPU, then throughput. */
export function phasesOf(def: CaseDef, counts: Counts): Phase[] {
  const phases: Phase[] = [];
  const measured = (kind: Kind) => def.skip?.[kind] === undefined;
  for (const placement of ['cross-CPU', 'same-CPU'] as const) {
    if (placement === 'same-CPU' && def.noSameCpu !== undefined) continue;
    for (const kind of ['rtt8', 'rtt64'] as const) {
      if (measured(kind))
        phases.push({
          kind,
          placement,
          size: KINDS[kind].size,
          count: counts.roundTrips,
          warmup: warmupFor(counts.roundTrips, true),
        });
    }
  }
  for (const kind of ['tput64', 'tput64k', 'tput1m'] as const) {
    if (!measured(kind)) continue;
    const size = KINDS[kind].size;
    const count =
      kind === 'tput64'
        ? counts.messages * (def.messageScale ?? 1)
        : Math.max(1, Math.round((counts.mebibytes * 1024 * 1024) / size));
    phases.push({ kind, placement: 'cross-CPU', size, count, warmup: warmupFor(count, false) });
  }
  return phases;
}

// ---------------------------------------------------------------------------------------------------
// Fan-out: one publisher, several subscriber processes, which the two-process cases cannot express.

/** The id and label of the fan-out section (--only matches them as it matches a case's). */
export const FANOUT_ID = 'unipc/topic-fanout';
export const FANOUT_LABEL = 'unipc topic fan-out';
/** Subscriber processes of each fan-out figure. */
export const FANOUT_SUBSCRIBERS = [1, 2, 4] as const;
/** The size of every fan-out message. */
export const FANOUT_MESSAGE = 64;
/**
 * The pause after each message of the latency figure, µs: every subscriber has long finished with one
 * message before the next comes (no message waits behind another), so the figure is a delivery's own.
 */
export const FANOUT_INTERVAL_US = 200;

/** One fan-out run as its publisher process takes it. */
export interface FanoutConfig {
  subscribers: number;
  /** The topic's ring, as the two-process topic cases' for 64 B. */
  capacity: number;
  /** Timed messages of the throughput figure, after `warmup` untimed ones. */
  messages: number;
  warmup: number;
  /** Timed messages of the latency figure, after `latencyWarmup` untimed ones, one per interval. */
  latencyMessages: number;
  latencyWarmup: number;
  intervalUs: number;
}

/** The fan-out runs of one repetition: 1, 2 and 4 subscribers, with the counts of the pairs' figures. */
export function fanoutConfigs(counts: Counts): FanoutConfig[] {
  const messages = counts.messages * SHARED_MEMORY_MESSAGES;
  return FANOUT_SUBSCRIBERS.map((subscribers) => ({
    subscribers,
    capacity: topicRingCapacity(FANOUT_MESSAGE),
    messages,
    warmup: warmupFor(messages, false),
    latencyMessages: counts.roundTrips,
    latencyWarmup: warmupFor(counts.roundTrips, false),
    intervalUs: FANOUT_INTERVAL_US,
  }));
}
