// The benchmark: every mechanism of unipc, Node's own, and C references compiled in the same run, between
// two real processes pinned with taskset. Runs each case's processes, shows progress on stderr, prints
// the tables on stdout, writes the results as JSON and the chart as SVG.
//   unipc bench [--quick] [--only <text>[,<text>…]] [--json <path>] [--no-chart] [--list] [counts]
// (`npm run bench` from a checkout: a build, then this compiled.) Design and the meaning of every figure: docs/benchmark.md.
import { type ChildProcess, spawn as spawnChild, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import packageRoot from '#root';
import { IPC_PRIVATE, IpcError, MessageQueue, SemaphoreSet, socketpair, spawn } from '../index.js';
import { MECHANISMS } from './mechanisms.js';
import type { ClientConfig, HeapFigures } from './peer.js';
import {
  CASES,
  type CaseDef,
  CHANNEL_SPIN,
  type Counts,
  FANOUT_ID,
  FANOUT_INTERVAL_US,
  FANOUT_LABEL,
  FANOUT_MESSAGE,
  FANOUT_SUBSCRIBERS,
  FLOOR_CASE,
  FLOOR_MOVED,
  FULL_COUNTS,
  fanoutConfigs,
  JIT_SETTLE_MS,
  JIT_SETTLE_ROUND_TRIPS,
  KINDS,
  type Kind,
  type Phase,
  PLACEMENT_CPUS,
  PREEMPTED_MS,
  passOrder,
  phasesOf,
  QUICK_COUNTS,
  REPETITIONS,
  ringCapacity,
  TOPIC_RECORD_SPACE,
  topicRingCapacity,
  UNSTABLE_SPREAD,
} from './plan.js';
import {
  aggregate,
  aggregateFanout,
  type FanoutRun,
  type HeapRun,
  type Measurement,
  type RawMeasurement,
  type RoundTripStats,
  ratios,
  renderFanout,
  renderTables,
  type SchedulingFigures,
  targets,
} from './report.js';
import { renderSvg } from './svg.js';

const HELP = `unipc bench — every IPC mechanism between two processes, next to C and Node's own; then a
topic's fan-out from one publisher to 1, 2 and 4 subscriber processes

Usage: unipc bench [options]

  --quick              small counts and two repetitions: a few minutes
  --only <text>        only the cases whose id starts with <text> or whose label contains it
                       (case-insensitive; comma-separated, repeatable), e.g. c/,channel; the
                       fan-out is ${FANOUT_ID}
  --json <path>        where to write the results (default: bench/results/latest.json when run in a
                       checkout's own directory, ./unipc-bench.json elsewhere); the chart goes beside it
  --no-chart           no SVG
  --list               list the cases and exit
  --round-trips <n>    timed round trips per RTT figure
  --messages <n>       64-byte messages per throughput figure (10 times as many through shared memory)
  --mebibytes <n>      MiB per 64 KiB and 1 MiB throughput figure
  --heap-messages <n>  messages of the zero-copy heap-stability run
  --no-settle          skip the untimed settle before round-trip figures: their tails then include
                       V8's compiles and page faults; for checking that the harness runs, not for
                       figures (the JSON and the report flag it)
  --repetitions <n>    runs of every figure, interleaved (every case once, then again…); the median is
                       reported with its spread, targets are judged on the worst (default ${REPETITIONS.full},
                       with --quick ${REPETITIONS.quick})
  -h, --help           show this text
`;

const here = path.dirname(fileURLToPath(import.meta.url));
const extension = path.extname(fileURLToPath(import.meta.url));
/** The peer program beside this file: peer.ts under tsx, peer.js when compiled. */
const peerProgram = path.join(here, `peer${extension}`);
/** The fan-out's publisher and subscribers (src/bench/fanout.ts). */
const fanoutProgram = path.join(here, `fanout${extension}`);
/**
 * How this run was started, for the record: `npm run bench` builds the package and runs the CLI (the
 * compiled JavaScript a user runs); bench/run.ts runs the TypeScript through tsx.
 */
const invocation =
  extension === '.ts'
    ? 'node --import tsx bench/run.ts'
    : process.env.npm_lifecycle_event === 'bench'
      ? 'npm run bench'
      : 'unipc bench';

interface CaseResult {
  id: string;
  label: string;
  family: string;
  note?: string;
  notMeasured: Record<string, string>;
  /** Wall-clock time of the case over all repetitions, process start-up and compilation included. */
  seconds?: number;
  /** Repetitions that ran to their end. */
  repetitionsCompleted: number;
  /** The first failure; every failure is in `errors`. */
  error?: string;
  errors?: Array<{ repetition: number; error: string }>;
  /** Why the case did not run at all (an API it needs is missing from this build). */
  skipped?: string;
}

class Cancelled extends Error {}

/** What is running now, to stop and clean up on Ctrl-C or a timeout. */
const live = {
  children: new Set<ChildProcess>(),
  sysv: [] as Array<{ kind: 'msg' | 'sem'; id: number }>,
  /** A temporary directory of compiled C references, if build/bench was not writable. */
  temporaryDir: undefined as string | undefined,
  cancelled: false,
};

function removeSysv(object: { kind: 'msg' | 'sem'; id: number }): void {
  try {
    if (object.kind === 'msg') MessageQueue.fromId(object.id).remove();
    else SemaphoreSet.fromId(object.id).remove();
  } catch (error) {
    if (!(error instanceof IpcError && ['EINVAL', 'EIDRM', 'ENOENT'].includes(error.code))) throw error;
  }
}

function killAll(): void {
  for (const child of live.children) child.kill('SIGKILL');
}

// ---------------------------------------------------------------------------------------------------
// Progress on stderr: one line, rewritten in place on a terminal.

class Progress {
  readonly #tty = process.stderr.isTTY === true;
  readonly #total: number;
  #index = 0;
  #label = '';

  constructor(total: number) {
    this.#total = total;
  }

  case(label: string): void {
    this.#index++;
    this.#label = label;
    if (!this.#tty) process.stderr.write(`${this.#prefix()} ${label}\n`);
    else this.#show('');
  }

  phase(text: string): void {
    if (this.#tty) this.#show(text);
  }

  done(): void {
    if (this.#tty) process.stderr.write('\r\x1b[K');
  }

  #prefix(): string {
    const width = String(this.#total).length;
    return `[${String(this.#index).padStart(width)}/${this.#total}]`;
  }

  #show(text: string): void {
    const line = `${this.#prefix()} ${this.#label}${text === '' ? '' : ` — ${text}`}`;
    process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns ?? 100) - 1)}`);
  }
}

const phaseText = (phase: Phase, index: number, total: number) =>
  `${phase.kind === 'heap' ? 'heap run' : KINDS[phase.kind].label}, ${phase.placement} (${index + 1}/${total})`;

// ---------------------------------------------------------------------------------------------------
// C references

interface CTools {
  dir: string;
  temporary: boolean;
  binaries: Map<string, string>;
}

const C_PROGRAMS = ['pipe_family', 'sysv_queue', 'shm_pingpong', 'ring', 'memcpy_bandwidth'];

/** Compiles bench/c/*.c with the machine's cc into build/bench/ (or a temporary directory). */
function compileC(): CTools | string {
  const sources = path.join(packageRoot, 'bench', 'c');
  if (!fs.existsSync(sources)) return `no C sources at ${sources}`;
  if (spawnSync('cc', ['--version'], { stdio: 'ignore' }).status !== 0) return 'no C compiler (cc) on this machine';
  let dir = path.join(packageRoot, 'build', 'bench');
  let temporary = false;
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-bench-c-'));
    temporary = true;
    live.temporaryDir = dir;
  }
  const binaries = new Map<string, string>();
  for (const program of C_PROGRAMS) {
    const output = path.join(dir, program);
    const compiled = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-o', output, path.join(sources, `${program}.c`)], {
      encoding: 'utf8',
    });
    if (compiled.status !== 0) return `cc failed on ${program}.c: ${compiled.stderr.trim()}`;
    binaries.set(program, output);
  }
  return { dir, temporary, binaries };
}

/** Runs a program to its end and returns its last stdout line as JSON; kills it after `timeoutMs`. */
function runJson(command: string, args: string[], timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.children.add(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    // 'close', not 'exit': only then has all of stdout arrived.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.children.delete(child);
      if (live.cancelled) return reject(new Cancelled());
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        return reject(
          new Error(
            `${path.basename(command)} ${args.slice(0, 2).join(' ')} failed (${signal ?? `exit ${code}`}): ${err.trim() || out.trim()}`,
          ),
        );
      }
      resolve(JSON.parse(last));
    });
  });
}

async function runCCase(
  def: CaseDef,
  tools: CTools,
  counts: Counts,
  progress: Progress,
  timeoutMs: number,
  repetition: number,
): Promise<RawMeasurement[]> {
  const out: RawMeasurement[] = [];
  if (def.memcpy !== undefined) {
    const binary = tools.binaries.get('memcpy_bandwidth')!;
    const kinds = (['tput64k', 'tput1m'] as const).filter((kind) => def.skip?.[kind] === undefined);
    for (const [i, kind] of kinds.entries()) {
      progress.phase(`${KINDS[kind].label} (${i + 1}/${kinds.length})`);
      const chunkKiB = KINDS[kind].size / 1024;
      const args = ['-c', '0', binary, String(counts.memcpyMebibytes), String(chunkKiB), String(def.memcpy.windowMiB)];
      const result = (await runJson('taskset', args, timeoutMs)) as { shared: number };
      out.push({ case: def.id, kind, placement: 'one CPU', repetition, gigabytesPerSecond: result.shared });
    }
    return out;
  }
  const phases = phasesOf(def, counts);
  for (const [i, phase] of phases.entries()) {
    progress.phase(phaseText(phase, i, phases.length));
    out.push(await runCPhase(def, phase, tools, timeoutMs, repetition));
  }
  return out;
}

/** One phase of a C reference: one run of its program. */
async function runCPhase(
  def: CaseDef,
  phase: Phase,
  tools: CTools,
  timeoutMs: number,
  repetition: number,
): Promise<RawMeasurement> {
  const c = def.c!;
  const cpus = PLACEMENT_CPUS[phase.placement];
  const kind = phase.kind as Kind;
  const args = [
    c.mechanism,
    KINDS[kind].rtt ? 'rtt' : 'tput',
    String(cpus.client),
    String(cpus.server),
    String(phase.size),
    String(phase.count),
    String(phase.warmup),
  ];
  let queue: MessageQueue | undefined;
  if (c.queue) {
    queue = MessageQueue.get(IPC_PRIVATE, { create: true });
    live.sysv.push({ kind: 'msg', id: queue.id });
    args.push(String(queue.id));
  } else if (c.extra !== undefined) {
    args.push(c.extra(phase.size));
  }
  try {
    const result = await runJson(tools.binaries.get(c.program)!, args, timeoutMs);
    return toMeasurement(def.id, phase, result, repetition);
  } finally {
    if (queue !== undefined) {
      removeSysv({ kind: 'msg', id: queue.id });
      live.sysv = live.sysv.filter((o) => o.id !== queue!.id);
    }
  }
}

/** The cross-CPU round-trip figure of a Node case from which other processes took the most time. */
function mostPreempted(
  measurements: Measurement[],
): { case: string; kind: Kind; repetition: number; ms: number } | undefined {
  let most: { case: string; kind: Kind; repetition: number; ms: number } | undefined;
  for (const m of measurements) {
    if (m.placement !== 'cross-CPU') continue;
    m.repetitions.forEach((r, repetition) => {
      if (r?.scheduling === undefined) return;
      const ms = (r.scheduling.mainWaitedUs - r.scheduling.othersRanUs) / 1000;
      if (most === undefined || ms > most.ms) most = { case: m.case, kind: m.kind, repetition, ms };
    });
  }
  return most;
}

function toMeasurement(id: string, phase: Phase, result: unknown, repetition: number): RawMeasurement {
  const kind = phase.kind as Kind;
  if (KINDS[kind].rtt) {
    const { median, p99, p999, max, samples, scheduling } = result as RoundTripStats & {
      scheduling?: SchedulingFigures;
    };
    return { case: id, kind, placement: phase.placement, repetition, median, p99, p999, max, samples, scheduling };
  }
  const { seconds, messages, bytes } = result as { seconds: number; messages: number; bytes: number };
  return {
    case: id,
    kind,
    placement: phase.placement,
    repetition,
    seconds,
    messages,
    bytes,
    messagesPerSecond: messages / seconds,
    gigabytesPerSecond: bytes / seconds / 1e9,
  };
}

// ---------------------------------------------------------------------------------------------------
// Node cases: a client and a server process per case

interface NodeCaseOutcome {
  measurements: RawMeasurement[];
  heap?: HeapRun;
}

function nodeArgs(): string[] {
  const args = [...process.execArgv];
  if (!args.includes('--expose-gc')) args.push('--expose-gc'); // for the heap run's collections
  return args;
}

async function runNodeCase(
  def: CaseDef,
  counts: Counts,
  progress: Progress,
  timeoutMs: number,
  heapRun: boolean,
  repetition: number,
  settle: boolean,
): Promise<NodeCaseOutcome> {
  const { mechanism } = def.node!;
  const phases = phasesOf(def, counts);
  if (heapRun) phases.push({ kind: 'heap', placement: 'cross-CPU', size: 64, count: counts.heapMessages, warmup: 0 });
  const config: ClientConfig = { mechanism, phases, settle };
  const args = nodeArgs();
  const fds = [];
  let server: ChildProcess | undefined;
  if (MECHANISMS[mechanism]!.spawnServer === undefined) {
    const [clientEnd, serverEnd] = socketpair('seqpacket');
    server = spawn(process.execPath, [...args, peerProgram, 'server', mechanism, '3'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      fds: [serverEnd],
    });
    live.children.add(server);
    fds.push(clientEnd);
  }
  const client = spawn(process.execPath, [...args, peerProgram, 'client', JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    fds,
  });
  live.children.add(client);
  const outcome: NodeCaseOutcome = { measurements: [] };
  const owned: Array<{ kind: 'msg' | 'sem'; id: number }> = [];
  let failure: string | undefined;
  let buffered = '';
  const handle = (line: string) => {
    const message = JSON.parse(line);
    if (message.owned !== undefined) {
      owned.push(...message.owned);
      live.sysv.push(...message.owned);
    } else if (message.error !== undefined) {
      failure = message.error;
    } else if (message.result !== undefined) {
      const phase = phases[message.phase]!;
      if (phase.kind === 'heap') {
        const {
          client: c,
          server: s,
          seconds,
          messages,
        } = message.result as { client: HeapFigures; server: HeapFigures; seconds: number; messages: number };
        outcome.heap = { messages, seconds, client: c, server: s };
      } else {
        outcome.measurements.push(toMeasurement(def.id, phase, message.result, repetition));
      }
    } else if (message.phase !== undefined) {
      progress.phase(phaseText(phases[message.phase]!, message.phase, phases.length));
    }
  };
  client.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.startsWith('{')) handle(line);
    }
  });
  const timer = setTimeout(() => {
    failure ??= `timed out after ${timeoutMs / 1000} s`;
    client.kill('SIGKILL');
    server?.kill('SIGKILL');
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve) => client.once('close', (c) => resolve(c)));
  clearTimeout(timer);
  live.children.delete(client);
  if (server !== undefined) {
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      const grace = setTimeout(() => server!.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(grace);
    }
    live.children.delete(server);
  }
  for (const object of owned) {
    removeSysv(object);
    live.sysv = live.sysv.filter((o) => o.id !== object.id);
  }
  if (live.cancelled) throw new Cancelled();
  if (failure !== undefined || code !== 0) throw new Error(failure ?? `the client exited with ${code}`);
  return outcome;
}

// ---------------------------------------------------------------------------------------------------

const readText = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined; // not Linux's /proc or /sys: left out
  }
};

export interface CpuTopology {
  cpu: number;
  coreId: number | null;
  packageId: number | null;
  threadSiblings: string | null;
}

/** The host as this run sees it: CPU model, CPUs and their topology, kernel, Node. */
function machine() {
  const cpuinfo = readText('/proc/cpuinfo') ?? '';
  const field = (name: string) => cpuinfo.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm'))?.[1]?.trim();
  const flags = field('flags') ?? '';
  const online = readText('/sys/devices/system/cpu/online') ?? null;
  const topology: CpuTopology[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync('/sys/devices/system/cpu').filter((name) => /^cpu\d+$/.test(name));
  } catch {
    // no sysfs
  }
  for (const name of names.sort((x, y) => Number(x.slice(3)) - Number(y.slice(3)))) {
    const dir = `/sys/devices/system/cpu/${name}/topology`;
    const number = (file: string) => {
      const text = readText(`${dir}/${file}`);
      return text === undefined ? null : Number(text);
    };
    topology.push({
      cpu: Number(name.slice(3)),
      coreId: number('core_id'),
      packageId: number('physical_package_id'),
      threadSiblings: readText(`${dir}/thread_siblings_list`) ?? null,
    });
  }
  const cores = new Set(topology.map((t) => `${t.packageId}:${t.coreId}`));
  const { client, server } = PLACEMENT_CPUS['cross-CPU'];
  const a = topology.find((t) => t.cpu === client);
  const b = topology.find((t) => t.cpu === server);
  const siblings = (list: string | null | undefined, cpu: number) =>
    (list ?? '').split(',').some((range) => {
      const [low, high = low] = range.split('-').map(Number);
      return low !== undefined && high !== undefined && cpu >= low && cpu <= high;
    });
  return {
    cpu: field('model name') ?? os.cpus()[0]?.model.trim() ?? 'unknown',
    vendor: field('vendor_id') ?? null,
    cpuFamily: field('cpu family') ?? null,
    cpuModel: field('model') ?? null,
    stepping: field('stepping') ?? null,
    microcode: field('microcode') ?? null,
    /** CPUs this process may run on (affinity). */
    cores: os.availableParallelism(),
    /** CPUs the kernel has online. */
    cpus: os.cpus().length,
    online,
    physicalCores: cores.size || null,
    packages: new Set(topology.map((t) => t.packageId)).size || null,
    topology,
    /** The two CPUs of the cross-CPU figures: separate cores, or hyperthreads of one core. */
    crossCpuPair: {
      client,
      server,
      sameCore: a === undefined || b === undefined ? null : siblings(a.threadSiblings, server),
      samePackage: a === undefined || b === undefined ? null : a.packageId === b.packageId,
    },
    virtualized: / hypervisor( |$)/.test(flags),
    kernel: `${os.type()} ${os.release()}`,
    kernelVersion: os.version(),
    arch: process.arch,
    node: process.version,
    v8: process.versions.v8,
    memoryBytes: os.totalmem(),
  };
}

/**
 * CPU time from /proc: the whole machine's (busy, steal, total; clock ticks) and this process tree's
 * (its own and its reaped children's: every process of the benchmark is reaped by the end).
 */
function cpuTimes(): { busy: number; steal: number; total: number; own: number } | undefined {
  const stat = readText('/proc/stat')?.split('\n')[0];
  const self = readText('/proc/self/stat');
  if (stat === undefined || self === undefined || !stat.startsWith('cpu ')) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is counted in user already)
  const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = stat.split(/\s+/).slice(1).map(Number);
  // After the command's closing parenthesis: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
  const fields = self
    .slice(self.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  const own = fields[11]! + fields[12]! + fields[13]! + fields[14]!;
  const busy = user! + nice! + system! + irq! + softirq!;
  return { busy, steal, total: busy + idle! + iowait! + steal, own };
}

/** Load of the machine during the run besides the benchmark's own processes. */
function loadDuring(
  start: ReturnType<typeof cpuTimes>,
  end: ReturnType<typeof cpuTimes>,
): { otherCpuShare: number; stealShare: number } | null {
  if (start === undefined || end === undefined || end.total <= start.total) return null;
  const total = end.total - start.total;
  const others = end.busy - start.busy - (end.own - start.own);
  return { otherCpuShare: Math.max(0, others) / total, stealShare: (end.steal - start.steal) / total };
}

/** The machine counts as loaded when the 1-minute load average at the start, or others' share of the CPUs during the run, is above these. */
const LOADED = { loadAverage: 0.5, otherCpuShare: 0.1 };

// Results go where the command runs: bench/results/latest.json when that is a checkout's own directory
// (npm run bench), ./unipc-bench.json anywhere else, never into the package from somewhere else.
function defaultJsonPath(): string {
  const results = path.join(packageRoot, 'bench', 'results');
  const inCheckout = path.resolve(process.cwd()) === path.resolve(packageRoot) && fs.existsSync(results);
  return inCheckout ? path.join(results, 'latest.json') : path.resolve('unipc-bench.json');
}

function positive(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`--${name} must be a positive integer, not ${JSON.stringify(value)}`);
  return n;
}

const BENCH_OPTIONS = {
  quick: { type: 'boolean' },
  only: { type: 'string', multiple: true },
  json: { type: 'string' },
  'no-chart': { type: 'boolean' },
  'no-settle': { type: 'boolean' },
  list: { type: 'boolean' },
  'round-trips': { type: 'string' },
  messages: { type: 'string' },
  mebibytes: { type: 'string' },
  'heap-messages': { type: 'string' },
  repetitions: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function bench(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof BENCH_OPTIONS }>>;
  try {
    parsed = parseArgs({ args: argv, options: BENCH_OPTIONS });
  } catch (error) {
    process.stderr.write(`unipc bench: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const filters = (values.only ?? [])
    .flatMap((text) => text.split(','))
    .map((text) => text.trim().toLowerCase())
    .filter(Boolean);
  const matches = (c: { id: string; label: string }) =>
    filters.length === 0 || filters.some((f) => c.id.toLowerCase().startsWith(f) || c.label.toLowerCase().includes(f));
  const selected = CASES.filter(matches);
  const fanoutSelected = matches({ id: FANOUT_ID, label: FANOUT_LABEL });
  if (values.list) {
    for (const c of CASES) process.stdout.write(`${c.id.padEnd(34)} ${c.label}\n`);
    process.stdout.write(
      `${FANOUT_ID.padEnd(34)} ${FANOUT_LABEL}: 1 publisher, ${FANOUT_SUBSCRIBERS.join(', ')} subscribers\n`,
    );
    return 0;
  }
  if (selected.length === 0 && !fanoutSelected) {
    process.stderr.write(`unipc bench: no case matches ${filters.join(', ')} (see --list)\n`);
    return 2;
  }
  const base = values.quick ? QUICK_COUNTS : FULL_COUNTS;
  let counts: Counts;
  let repetitions: number;
  try {
    repetitions = positive(values.repetitions, 'repetitions') ?? (values.quick ? REPETITIONS.quick : REPETITIONS.full);
    counts = {
      roundTrips: positive(values['round-trips'], 'round-trips') ?? base.roundTrips,
      messages: positive(values.messages, 'messages') ?? base.messages,
      mebibytes: positive(values.mebibytes, 'mebibytes') ?? base.mebibytes,
      heapMessages: positive(values['heap-messages'], 'heap-messages') ?? base.heapMessages,
      memcpyMebibytes: Math.min(base.memcpyMebibytes, (positive(values.mebibytes, 'mebibytes') ?? base.mebibytes) * 4),
    };
  } catch (error) {
    process.stderr.write(`unipc bench: ${(error as Error).message}\n`);
    return 2;
  }
  if (os.availableParallelism() < 2) {
    process.stderr.write('unipc bench: needs two CPUs (the primary figures are cross-CPU)\n');
    return 1;
  }
  if (spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status !== 0) {
    process.stderr.write('unipc bench: needs taskset (util-linux) to pin the two processes\n');
    return 1;
  }
  const jsonPath = path.resolve(values.json ?? defaultJsonPath());
  const svgPath = `${jsonPath.replace(/\.json$/, '')}.svg`;

  const interrupt = (signal: NodeJS.Signals) => {
    live.cancelled = true;
    killAll();
    for (const object of live.sysv) removeSysv(object);
    if (live.temporaryDir !== undefined) fs.rmSync(live.temporaryDir, { recursive: true, force: true });
    process.stderr.write(`\nunipc bench: ${signal}, stopped\n`);
    process.exit(130);
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  const started = new Date();
  const load = { start: os.loadavg() };
  const cpuStart = cpuTimes();
  const tools = compileC(); // the spin floor is measured around every run, whatever the cases
  // Every case that can run with this build; the others are reported as skipped, with why.
  const unavailable: Record<string, string> = {};
  for (const def of selected) {
    const why = def.node === undefined ? undefined : MECHANISMS[def.node.mechanism]?.unavailable?.();
    if (why !== undefined) unavailable[def.id] = why;
  }
  const runnable = passOrder(selected.filter((def) => unavailable[def.id] === undefined));
  const floorDef = CASES.find((c) => c.id === FLOOR_CASE)!;
  const fanouts = fanoutSelected ? fanoutConfigs(counts) : [];
  const progress = new Progress((runnable.length + fanouts.length) * repetitions + 2);
  // Generous: a case never takes minutes unless something is stuck.
  const timeoutMs = values.quick ? 60_000 : 300_000;
  const settle = values['no-settle'] !== true;
  const raw: RawMeasurement[] = [];
  const results: CaseResult[] = selected.map((def) => {
    const notMeasured: Record<string, string> = { ...def.skip };
    if (def.noSameCpu !== undefined) notMeasured['same-CPU round trips'] = def.noSameCpu;
    return {
      id: def.id,
      label: def.label,
      family: def.family,
      note: def.note,
      notMeasured,
      seconds: 0,
      repetitionsCompleted: 0,
      skipped: unavailable[def.id],
    };
  });
  let heap: HeapRun | undefined;
  const fanoutRuns: Array<FanoutRun & { repetition: number }> = [];
  const fanoutErrors: Array<{ repetition: number; subscribers: number; error: string }> = [];
  const heapCase = runnable.find((c) => c.id === 'unipc/channel-zero-copy');
  // The C spin floor, 8 B cross-CPU round trips, before the first case and after the last.
  const floor = async (when: 'before' | 'after'): Promise<RoundTripStats | string> => {
    progress.case(`${floorDef.label}: the spin floor, ${when} the run`);
    if (typeof tools === 'string') return `not measured: ${tools}`;
    const phase = phasesOf(floorDef, counts).find((p) => p.kind === 'rtt8' && p.placement === 'cross-CPU')!;
    try {
      const { median, p99, p999, max, samples } = await runCPhase(floorDef, phase, tools, timeoutMs, 0);
      return { median: median!, p99: p99!, p999: p999!, max: max!, samples: samples! };
    } catch (error) {
      if (error instanceof Cancelled) throw error;
      progress.done();
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`unipc bench: spin floor ${when}: ${message}\n`);
      return `failed: ${message}`;
    }
  };
  let floorBefore: RoundTripStats | string;
  let floorAfter: RoundTripStats | string;
  try {
    floorBefore = await floor('before');
    // Interleaved: every case once, then every case again, so that a change of the host between
    // repetitions (the vCPUs moved) shows in all cases alike, as a spread, not in some cases only.
    for (let repetition = 0; repetition < repetitions; repetition++) {
      for (const def of runnable) {
        const result = results.find((r) => r.id === def.id)!;
        progress.case(repetitions > 1 ? `${def.label} (repetition ${repetition + 1}/${repetitions})` : def.label);
        const caseStart = performance.now();
        try {
          if (def.family === 'c') {
            if (typeof tools === 'string') throw new Error(`C references not run: ${tools}`);
            raw.push(...(await runCCase(def, tools, counts, progress, timeoutMs, repetition)));
          } else {
            const heapRun = def === heapCase && repetition === 0;
            const outcome = await runNodeCase(def, counts, progress, timeoutMs, heapRun, repetition, settle);
            raw.push(...outcome.measurements);
            if (outcome.heap !== undefined) heap = outcome.heap;
          }
          result.repetitionsCompleted++;
        } catch (error) {
          if (error instanceof Cancelled) throw error;
          const message = error instanceof Error ? error.message : String(error);
          result.error ??= message;
          result.errors = [...(result.errors ?? []), { repetition, error: message }];
          progress.done();
          process.stderr.write(`unipc bench: ${def.id} (repetition ${repetition + 1}): ${message}\n`);
        }
        result.seconds = Math.round((result.seconds ?? 0) * 1000 + performance.now() - caseStart) / 1000;
      }
      // After the pairs, in every repetition: the fan-out, whose processes are not pinned.
      for (const config of fanouts) {
        const n = config.subscribers;
        const what = `${FANOUT_LABEL}, ${n} subscriber${n === 1 ? '' : 's'}`;
        progress.case(repetitions > 1 ? `${what} (repetition ${repetition + 1}/${repetitions})` : what);
        try {
          const args = [...process.execArgv, fanoutProgram, 'publisher', JSON.stringify(config)];
          const run = (await runJson(process.execPath, args, timeoutMs)) as FanoutRun;
          fanoutRuns.push({ ...run, repetition });
        } catch (error) {
          if (error instanceof Cancelled) throw error;
          const message = error instanceof Error ? error.message : String(error);
          fanoutErrors.push({ repetition, subscribers: n, error: message });
          progress.done();
          process.stderr.write(`unipc bench: ${FANOUT_ID} ${what} (repetition ${repetition + 1}): ${message}\n`);
        }
      }
    }
    floorAfter = await floor('after');
  } finally {
    progress.done();
    if (typeof tools !== 'string' && tools.temporary) fs.rmSync(tools.dir, { recursive: true, force: true });
  }

  const measurements: Measurement[] = aggregate(raw, repetitions, UNSTABLE_SPREAD);
  const fanoutFigures = aggregateFanout(fanoutRuns, repetitions);
  const fanoutCounts = fanouts.length === 0 ? null : (({ subscribers: _, ...rest }) => rest)(fanouts[0]!);
  const ratioList = ratios(measurements);
  const targetList = targets(measurements, heap, repetitions, unavailable);
  const machineInfo = machine();
  const during = loadDuring(cpuStart, cpuTimes());
  const loadEnd = os.loadavg();
  const loaded =
    load.start[0]! > LOADED.loadAverage || (during !== null && during.otherCpuShare > LOADED.otherCpuShare);
  const spinFloor = (() => {
    const before = typeof floorBefore === 'string' ? null : floorBefore;
    const after = typeof floorAfter === 'string' ? null : floorAfter;
    const change =
      before === null || after === null
        ? null
        : Math.max(before.median, after.median) / Math.min(before.median, after.median) - 1;
    return {
      case: FLOOR_CASE,
      kind: 'rtt8',
      placement: 'cross-CPU',
      before,
      after,
      /** max ÷ min of the two medians, − 1. */
      change,
      threshold: FLOOR_MOVED,
      moved: change === null ? null : change > FLOOR_MOVED,
      note:
        [
          typeof floorBefore === 'string' ? `before: ${floorBefore}` : undefined,
          typeof floorAfter === 'string' ? `after: ${floorAfter}` : undefined,
        ]
          .filter(Boolean)
          .join('; ') || undefined,
    };
  })();
  const unstable = measurements.filter((m) => m.unstable);
  // What makes this run's figures doubtful, in words: also in the report's header.
  const flags: string[] = [];
  if (spinFloor.moved === true)
    flags.push(
      `spin floor moved: ${spinFloor.before!.median.toFixed(2)} µs before, ${spinFloor.after!.median.toFixed(2)} µs after (${(spinFloor.change! * 100).toFixed(0)}% > ${FLOOR_MOVED * 100}%): the vCPUs moved on the host during the run`,
    );
  if (spinFloor.moved === null) flags.push('spin floor not measured before and after');
  if (!settle)
    flags.push("--no-settle: round-trip tails include V8's compiles and page faults (a check of the harness)");
  if (loaded)
    flags.push(
      `machine loaded: load average ${load.start[0]!.toFixed(2)} at the start${during === null ? '' : `, others used ${(during.otherCpuShare * 100).toFixed(0)}% of the CPUs during the run`}`,
    );
  const preempted = mostPreempted(measurements);
  if (preempted !== undefined && preempted.ms >= PREEMPTED_MS)
    flags.push(
      `other processes took ${preempted.ms.toFixed(0)} ms from the peers of ${preempted.case} ${KINDS[preempted.kind].label} cross-CPU (repetition ${preempted.repetition + 1}), ≥ ${PREEMPTED_MS} ms`,
    );
  if (unstable.length > 0)
    flags.push(
      `${unstable.length} unstable figure${unstable.length === 1 ? '' : 's'} (spread > ${UNSTABLE_SPREAD * 100}%)`,
    );
  const document = {
    version: 2,
    date: started.toISOString(),
    durationSeconds: (Date.now() - started.getTime()) / 1000,
    quick: values.quick === true,
    command:
      argv.length === 0 ? invocation : `${invocation}${invocation.startsWith('npm') ? ' --' : ''} ${argv.join(' ')}`,
    machine: {
      ...machineInfo,
      load: {
        start: load.start,
        end: loadEnd,
        otherCpuShare: during?.otherCpuShare ?? null,
        stealShare: during?.stealShare ?? null,
        loaded,
        rule: `loaded when the 1-minute load average at the start exceeds ${LOADED.loadAverage} or other processes used more than ${LOADED.otherCpuShare * 100}% of the CPUs' time during the run (from /proc/stat, less this process tree's own CPU time)`,
      },
    },
    spinFloor,
    repetitions: {
      count: repetitions,
      order: 'interleaved: every case once, then every case again',
      unstableSpread: UNSTABLE_SPREAD,
      spread: '(max − min) ÷ median of the figure across the repetitions',
      unstable: unstable.map((m) => ({ case: m.case, kind: m.kind, placement: m.placement, spread: m.spread })),
    },
    flags,
    settings: {
      counts,
      warmup: `a tenth of the count (for round trips at least 1000), untimed, before each figure; ${settle ? '' : 'with --no-settle nothing more; otherwise '}before a Node process pair's first round-trip figure of each placement and size, untimed round trips for at least ${JIT_SETTLE_MS} ms and ${JIT_SETTLE_ROUND_TRIPS} round trips, until V8's background compilation has settled and neither process page-faults more than once per 1000 round trips (V8's young generation growing into fresh pages)`,
      settle,
      placements: {
        'cross-CPU': { ...PLACEMENT_CPUS['cross-CPU'], pinning: 'taskset -apc: every thread of each process' },
        'same-CPU': PLACEMENT_CPUS['same-CPU'],
        'one CPU': { cpu: 0, note: 'memcpy, a single process' },
      },
      roundTrip:
        'one clock read per round trip; median, p99, p99.9 and max of the samples, µs; each the median across repetitions',
      throughput: "timed at the sender from its first send to the receiver's acknowledgement of the last message",
      ringCapacities: Object.fromEntries(Object.values(KINDS).map((k) => [k.size, ringCapacity(k.size)])),
      topicRingCapacities: Object.fromEntries(Object.values(KINDS).map((k) => [k.size, topicRingCapacity(k.size)])),
      topicMaxMessageSize: `capacity / 2 − ${TOPIC_RECORD_SPACE}`,
      channelSpin: CHANNEL_SPIN,
      bestC:
        'ratios divide by the best C figure of the same kind and placement among the two-process references (memcpy has a target of its own)',
      targets:
        'judged in every repetition on figures of that repetition; value is the worst repetition, met only if met in every one',
    },
    cases: results,
    measurements,
    ratios: ratioList,
    targets: targetList,
    heap: heap ?? null,
    fanout: fanoutSelected
      ? {
          id: FANOUT_ID,
          label: FANOUT_LABEL,
          topic: {
            policy: 'block',
            capacity: topicRingCapacity(FANOUT_MESSAGE),
            messageSize: FANOUT_MESSAGE,
            api: 'sendSync / receiveSync, default spin',
          },
          subscribers: [...FANOUT_SUBSCRIBERS],
          counts: fanoutCounts,
          placement: `not pinned: one publisher and up to ${Math.max(...FANOUT_SUBSCRIBERS)} subscriber processes on ${os.availableParallelism()} CPUs, placed by the scheduler (more processes than CPUs: pinning each to a CPU of its own is impossible)`,
          throughput:
            "messages per second per subscriber: the timed messages ÷ the time from the publisher's first send until the last subscriber received the last (under 'block' the slowest sets everyone's pace); deliveries per second = that × subscribers; perSubscriber in each repetition is each subscriber's own",
          latency: `one-way, publisher to subscriber: each paced message carries process.hrtime.bigint() (CLOCK_MONOTONIC, ns) taken just before sendSync, each subscriber takes now − stamp on receiving it; the publisher sleeps ${FANOUT_INTERVAL_US} µs (Atomics.wait) after each message, so subscribers have caught up and sleep when the next comes: the figure includes their wake-up; statistics over the deliveries to all subscribers`,
          repetitions: 'in every repetition after the pairs; figures are medians across repetitions, as the pairs',
          figures: fanoutFigures,
          errors: fanoutErrors,
        }
      : null,
  };
  fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
  fs.writeFileSync(jsonPath, `${JSON.stringify(document, null, 2)}\n`);
  const shown = selected.filter((def) => measurements.some((m) => m.case === def.id));
  const floorText = (f: RoundTripStats | null) => (f === null ? '—' : `${f.median.toFixed(2)} µs`);
  const hostLine = `${machineInfo.cpu}, ${machineInfo.cpus} CPUs${machineInfo.virtualized ? ' (a VM)' : ''}, ${machineInfo.kernel}, Node ${machineInfo.node}`;
  const chart = !values['no-chart'] && shown.length > 0; // the chart is of the pairs' figures
  if (chart) {
    const subtitle = `${hostLine}; spin floor ${floorText(spinFloor.before)} → ${floorText(spinFloor.after)}; median of ${repetitions}; ${started.toISOString().slice(0, 10)}${values.quick ? ' (--quick)' : ''}${flags.length > 0 ? ' — flagged, see JSON' : ''}`;
    fs.writeFileSync(svgPath, renderSvg(shown, measurements, subtitle));
  }
  const header = [
    `host: ${hostLine}`,
    `topology: ${machineInfo.physicalCores ?? '?'} cores in ${machineInfo.packages ?? '?'} package(s), online ${machineInfo.online ?? '?'}; ${machineInfo.topology
      .map((t) => `cpu${t.cpu} core ${t.coreId} package ${t.packageId} siblings ${t.threadSiblings}`)
      .join('; ')}; cross-CPU pair ${machineInfo.crossCpuPair.client}/${machineInfo.crossCpuPair.server}: ${
      machineInfo.crossCpuPair.sameCore === null
        ? 'unknown'
        : machineInfo.crossCpuPair.sameCore
          ? 'hyperthreads of one core'
          : 'separate cores'
    }`,
    `load: ${load.start.map((x) => x.toFixed(2)).join(' ')} at the start, ${loadEnd.map((x) => x.toFixed(2)).join(' ')} at the end${
      during === null
        ? ''
        : `; others used ${(during.otherCpuShare * 100).toFixed(0)}% of the CPUs, steal ${(during.stealShare * 100).toFixed(1)}%`
    }${loaded ? ' (loaded)' : ''}`,
    `spin floor (${FLOOR_CASE} 8 B cross-CPU): ${floorText(spinFloor.before)} before, ${floorText(spinFloor.after)} after${
      spinFloor.change === null
        ? ''
        : ` (${(spinFloor.change * 100).toFixed(0)}% apart${spinFloor.moved ? ': MOVED' : ''})`
    }`,
    `repetitions: ${repetitions}, interleaved; figures are medians, targets judged on the worst repetition`,
    ...flags.map((flag) => `FLAG: ${flag}`),
  ].join('\n');
  const tables = [
    ...(shown.length > 0 ? [renderTables(measurements, ratioList, targetList, shown)] : []),
    ...(fanoutFigures.length > 0 ? [renderFanout(fanoutFigures)] : []),
  ];
  process.stdout.write(`${header}\n\n${tables.join('\n\n')}\n\n`);
  const skippedCases = results.filter((r) => r.skipped !== undefined);
  for (const r of skippedCases) process.stdout.write(`skipped: ${r.id}: ${r.skipped}\n`);
  process.stdout.write(
    `results: ${path.relative(process.cwd(), jsonPath) || jsonPath}${chart ? `, chart: ${path.relative(process.cwd(), svgPath)}` : ''}\n`,
  );
  process.off('SIGINT', interrupt);
  process.off('SIGTERM', interrupt);
  return results.some((r) => r.error !== undefined) || fanoutErrors.length > 0 ? 1 : 0;
}
