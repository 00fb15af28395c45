// The benchmark: every mechanism of unipc, Node's own, and C references compiled in the same run, between
// two real processes pinned with taskset. Runs each case's processes, shows progress on stderr, prints
// the tables on stdout, writes the results as JSON and the chart as SVG.
//   unipc bench [--quick] [--only <text>[,<text>…]] [--json <path>] [--no-chart] [--list] [counts]
// (`npm run bench` from a checkout.) Design and the meaning of every figure: docs/benchmark.md.
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
  FULL_COUNTS,
  KINDS,
  type Kind,
  type Phase,
  PLACEMENT_CPUS,
  phasesOf,
  QUICK_COUNTS,
  ringCapacity,
} from './plan.js';
import { type HeapRun, type Measurement, ratios, renderTables, targets } from './report.js';
import { renderSvg } from './svg.js';

const HELP = `unipc bench — every IPC mechanism between two processes, next to C and Node's own

Usage: unipc bench [options]

  --quick              small counts: the whole run in under a minute
  --only <text>        only the cases whose id starts with <text> or whose label contains it
                       (case-insensitive; comma-separated, repeatable), e.g. c/,channel
  --json <path>        where to write the results (default: bench/results/latest.json when run in a
                       checkout's own directory, ./unipc-bench.json elsewhere); the chart goes beside it
  --no-chart           no SVG
  --list               list the cases and exit
  --round-trips <n>    timed round trips per RTT figure
  --messages <n>       64-byte messages per throughput figure
  --mebibytes <n>      MiB per 64 KiB and 1 MiB throughput figure
  --heap-messages <n>  messages of the zero-copy heap-stability run
  -h, --help           show this text
`;

const here = path.dirname(fileURLToPath(import.meta.url));
const extension = path.extname(fileURLToPath(import.meta.url));
/** The peer program beside this file: peer.ts under tsx, peer.js when compiled. */
const peerProgram = path.join(here, `peer${extension}`);
/** How this run was started, for the record: the TypeScript is run by npm run bench, the JavaScript by the CLI. */
const invocation = extension === '.ts' ? 'npm run bench' : 'unipc bench';

interface CaseResult {
  id: string;
  label: string;
  family: string;
  note?: string;
  notMeasured: Record<string, string>;
  /** Wall-clock time of the case, process start-up and compilation included. */
  seconds?: number;
  error?: string;
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
): Promise<Measurement[]> {
  const out: Measurement[] = [];
  if (def.memcpy !== undefined) {
    const binary = tools.binaries.get('memcpy_bandwidth')!;
    const kinds = (['tput64k', 'tput1m'] as const).filter((kind) => def.skip?.[kind] === undefined);
    for (const [i, kind] of kinds.entries()) {
      progress.phase(`${KINDS[kind].label} (${i + 1}/${kinds.length})`);
      const chunkKiB = KINDS[kind].size / 1024;
      const args = ['-c', '0', binary, String(counts.memcpyMebibytes), String(chunkKiB), String(def.memcpy.windowMiB)];
      const result = (await runJson('taskset', args, timeoutMs)) as { shared: number };
      out.push({ case: def.id, kind, placement: 'one CPU', gigabytesPerSecond: result.shared });
    }
    return out;
  }
  const c = def.c!;
  const phases = phasesOf(def, counts);
  for (const [i, phase] of phases.entries()) {
    progress.phase(phaseText(phase, i, phases.length));
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
      out.push(toMeasurement(def.id, phase, result));
    } finally {
      if (queue !== undefined) {
        removeSysv({ kind: 'msg', id: queue.id });
        live.sysv = live.sysv.filter((o) => o.id !== queue!.id);
      }
    }
  }
  return out;
}

function toMeasurement(id: string, phase: Phase, result: unknown): Measurement {
  const kind = phase.kind as Kind;
  if (KINDS[kind].rtt) {
    const { median, p99, samples } = result as { median: number; p99: number; samples: number };
    return { case: id, kind, placement: phase.placement, median, p99, samples };
  }
  const { seconds, messages, bytes } = result as { seconds: number; messages: number; bytes: number };
  return {
    case: id,
    kind,
    placement: phase.placement,
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
  measurements: Measurement[];
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
): Promise<NodeCaseOutcome> {
  const { mechanism } = def.node!;
  const phases = phasesOf(def, counts);
  if (heapRun) phases.push({ kind: 'heap', placement: 'cross-CPU', size: 64, count: counts.heapMessages, warmup: 0 });
  const config: ClientConfig = { mechanism, phases };
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
        outcome.measurements.push(toMeasurement(def.id, phase, message.result));
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

function machine(): Record<string, unknown> {
  let flags = '';
  try {
    flags = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '';
  } catch {
    // not Linux's /proc: leave it out
  }
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    virtualized: / hypervisor( |$)/.test(flags),
    kernel: `${os.type()} ${os.release()}`,
    arch: process.arch,
    node: process.version,
    memoryBytes: os.totalmem(),
  };
}

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
  list: { type: 'boolean' },
  'round-trips': { type: 'string' },
  messages: { type: 'string' },
  mebibytes: { type: 'string' },
  'heap-messages': { type: 'string' },
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
  const selected = CASES.filter(
    (c) =>
      filters.length === 0 ||
      filters.some((f) => c.id.toLowerCase().startsWith(f) || c.label.toLowerCase().includes(f)),
  );
  if (values.list) {
    for (const c of CASES) process.stdout.write(`${c.id.padEnd(34)} ${c.label}\n`);
    return 0;
  }
  if (selected.length === 0) {
    process.stderr.write(`unipc bench: no case matches ${filters.join(', ')} (see --list)\n`);
    return 2;
  }
  const base = values.quick ? QUICK_COUNTS : FULL_COUNTS;
  let counts: Counts;
  try {
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
  const progress = new Progress(selected.length);
  const needsC = selected.some((c) => c.family === 'c');
  const tools = needsC ? compileC() : 'not selected';
  // Generous: a case never takes minutes unless something is stuck.
  const timeoutMs = values.quick ? 60_000 : 300_000;
  const measurements: Measurement[] = [];
  const results: CaseResult[] = [];
  let heap: HeapRun | undefined;
  const heapCase = selected.find((c) => c.id === 'unipc/channel-zero-copy');
  try {
    for (const def of selected) {
      progress.case(def.label);
      const notMeasured: Record<string, string> = { ...def.skip };
      if (def.noSameCpu !== undefined) notMeasured['same-CPU round trips'] = def.noSameCpu;
      const result: CaseResult = { id: def.id, label: def.label, family: def.family, note: def.note, notMeasured };
      results.push(result);
      const caseStart = performance.now();
      try {
        if (def.family === 'c') {
          if (typeof tools === 'string') throw new Error(`C references not run: ${tools}`);
          measurements.push(...(await runCCase(def, tools, counts, progress, timeoutMs)));
        } else {
          const outcome = await runNodeCase(def, counts, progress, timeoutMs, def === heapCase);
          measurements.push(...outcome.measurements);
          if (outcome.heap !== undefined) heap = outcome.heap;
        }
      } catch (error) {
        if (error instanceof Cancelled) throw error;
        result.error = error instanceof Error ? error.message : String(error);
        progress.done();
        process.stderr.write(`unipc bench: ${def.id}: ${result.error}\n`);
      }
      result.seconds = Math.round(performance.now() - caseStart) / 1000;
    }
  } finally {
    progress.done();
    if (typeof tools !== 'string' && tools.temporary) fs.rmSync(tools.dir, { recursive: true, force: true });
  }

  const ratioList = ratios(measurements);
  const targetList = targets(measurements, heap);
  const machineInfo = machine();
  const document = {
    version: 1,
    date: started.toISOString(),
    durationSeconds: (Date.now() - started.getTime()) / 1000,
    quick: values.quick === true,
    command:
      argv.length === 0 ? invocation : `${invocation}${invocation.startsWith('npm') ? ' --' : ''} ${argv.join(' ')}`,
    machine: { ...machineInfo, loadAverage: { ...load, end: os.loadavg() } },
    settings: {
      counts,
      warmup: 'a tenth of the count (for round trips at least 1000), untimed, before each figure',
      placements: {
        'cross-CPU': { ...PLACEMENT_CPUS['cross-CPU'], pinning: 'taskset -apc: every thread of each process' },
        'same-CPU': PLACEMENT_CPUS['same-CPU'],
        'one CPU': { cpu: 0, note: 'memcpy, a single process' },
      },
      roundTrip: 'one clock read per round trip; median and p99 of the samples, µs',
      throughput: "timed at the sender from its first send to the receiver's acknowledgement of the last message",
      ringCapacities: Object.fromEntries(Object.values(KINDS).map((k) => [k.size, ringCapacity(k.size)])),
      channelSpin: CHANNEL_SPIN,
      bestC:
        'ratios divide by the best C figure of the same kind and placement among the two-process references (memcpy has a target of its own)',
    },
    cases: results,
    measurements,
    ratios: ratioList,
    targets: targetList,
    heap: heap ?? null,
  };
  fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
  fs.writeFileSync(jsonPath, `${JSON.stringify(document, null, 2)}\n`);
  const shown = selected.filter((def) => measurements.some((m) => m.case === def.id));
  if (!values['no-chart']) {
    const subtitle = `${machineInfo.cpu}, ${machineInfo.cores} CPUs, ${machineInfo.kernel}, Node ${machineInfo.node}; ${started.toISOString().slice(0, 10)}${values.quick ? ' (--quick)' : ''}`;
    fs.writeFileSync(svgPath, renderSvg(shown, measurements, subtitle));
  }
  process.stdout.write(`${renderTables(measurements, ratioList, targetList, shown)}\n\n`);
  process.stdout.write(
    `machine: ${machineInfo.cpu}, ${machineInfo.cores} CPUs, ${machineInfo.kernel}, Node ${machineInfo.node}; load ${load.start.map((x) => x.toFixed(2)).join(' ')}\n`,
  );
  process.stdout.write(
    `results: ${path.relative(process.cwd(), jsonPath) || jsonPath}${values['no-chart'] ? '' : `, chart: ${path.relative(process.cwd(), svgPath)}`}\n`,
  );
  process.off('SIGINT', interrupt);
  process.off('SIGTERM', interrupt);
  return results.some((r) => r.error !== undefined) ? 1 : 0;
}
