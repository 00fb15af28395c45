// A Node process of the benchmark: the client or the server side of one mechanism.
//   peer client <config JSON>          fd 3: the control socket to the server (unless it spawns it)
//   peer server <mechanism> <control fd>
// The two talk over a seqpacket control socket: the server says hello (its pid), the client sends the
// setup (facts, and descriptors by SCM_RIGHTS), the server says ready; then, per phase, the client
// sends a command, the server says started, both run their loop, the server says done. The client
// pins both processes (taskset) and reports each phase's figures to the orchestrator as JSON lines.
import { type ChildProcess, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { socketpair, UnixSocket } from '../index.js';
import { type Endpoint, MECHANISMS } from './mechanisms.js';
import { JIT_SETTLE_MS, JIT_SETTLE_ROUND_TRIPS, type Phase, PLACEMENT_CPUS } from './plan.js';

export interface ClientConfig {
  mechanism: string;
  phases: Phase[];
  /** Settle before round-trip figures (below); false only to check that the harness runs (--no-settle). */
  settle: boolean;
}

interface Command {
  op: 'echo' | 'sink' | 'exit';
  size: number;
  count: number;
  heap?: boolean;
}

/** Heap figures of one process around a run: after a full collection before and after, and collections meanwhile. */
export interface HeapFigures {
  startBytes: number;
  endBytes: number;
  collections: number;
}

/** What the server says on the control socket: each step under its own key, or the error it failed with. */
interface ServerMessage {
  hello?: number; // its pid
  ready?: true;
  started?: true;
  done?: true;
  heap?: HeapFigures; // with done, after a heap run
  faults?: number; // with done: the server's minor page faults so far
  scheduling?: Scheduling; // with started and done: the server's scheduling times so far
  bye?: true;
  error?: string;
}

const gc = (globalThis as { gc?: () => void }).gc;

function report(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function sendJson(control: UnixSocket, value: unknown, fds?: number[]): void {
  control.sendSync(JSON.stringify(value), fds === undefined ? undefined : { fds });
}

async function receiveJson(control: UnixSocket): Promise<{ value: unknown; fds: number[] } | null> {
  const message = await control.receive({ timeout: 120_000 });
  return message === null ? null : { value: JSON.parse(message.data.toString()), fds: message.fds };
}

async function expect<K extends keyof ServerMessage>(
  control: UnixSocket,
  key: K,
): Promise<ServerMessage & Required<Pick<ServerMessage, K>>> {
  const message = await receiveJson(control);
  if (message === null) throw new Error(`the server ended before saying ${key}`);
  const value = message.value as ServerMessage;
  if (value.error !== undefined) throw new Error(`server: ${value.error}`);
  if (value[key] === undefined) throw new Error(`the server said ${JSON.stringify(value)}, not ${key}`);
  return value as ServerMessage & Required<Pick<ServerMessage, K>>;
}

/** All threads of `pid` onto one CPU: the ones Node and the addon start later inherit it. */
function pin(pid: number, cpu: number): void {
  execFileSync('taskset', ['-apc', String(cpu), String(pid)], { stdio: 'ignore' });
}

// Kills this process when its parent is gone (a Sync wait on a dead peer would otherwise last forever);
// a thread of its own, since the main thread may sit in a blocking call.
function watchdog(): void {
  const source = `
    const { workerData } = require('node:worker_threads');
    setInterval(() => { if (process.ppid !== workerData.parent) process.kill(workerData.self, 'SIGKILL'); }, 500);`;
  new Worker(source, { eval: true, workerData: { parent: process.ppid, self: process.pid } }).unref();
}

function collections(): { stop(): Promise<number> } {
  let count = 0;
  const observer = new PerformanceObserver((list) => (count += list.getEntries().length));
  observer.observe({ entryTypes: ['gc'] });
  return {
    async stop() {
      await new Promise((resolve) => setImmediate(resolve)); // entries are delivered on the event loop
      observer.disconnect();
      return count;
    },
  };
}

async function measureHeap(run: () => Promise<void>): Promise<HeapFigures> {
  gc?.();
  const startBytes = process.memoryUsage().heapUsed;
  const counter = collections();
  await run();
  const seen = await counter.stop();
  gc?.();
  return { startBytes, endBytes: process.memoryUsage().heapUsed, collections: seen };
}

// A Node process page-faults for a while after its loops are hot: V8's young generation grows and its
// fresh pages are touched for the first time, a few hundred faults per 20,000 round trips on each side.
// On a VM a fault costs ~15 µs (measured on the AMD EPYC host: a channel Sync round trip p99 of 20 µs
// while both processes faulted, 2.5 µs once they stopped, ~800 ms into the run); C programs fault their
// little memory in at once. The settle goes on until neither side faults more than this per round trip.
const SETTLED_FAULTS = 1 / 1000;

/** The settle ends here even if a process still page-faults. */
const SETTLE_LIMIT_MS = 5000;

/** This process's minor page faults so far (minflt, the 10th field of /proc/self/stat). */
function minorFaults(): number {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
  } catch {
    return 0; // no /proc: the settle goes by time and count alone
  }
}

/**
 * Where a process's time went, from the kernel's per-thread schedstat (on-CPU ns, runqueue-wait ns): how
 * long its main thread waited runnable, and how long its other threads (V8's compiler and collector, the
 * watchdog) ran. A peer is pinned, all its threads, to one CPU: in a cross-CPU figure its main thread waits
 * runnable only while another thread holds that CPU, its own or another process's.
 */
interface Scheduling {
  mainWaitedNs: number;
  othersRanNs: number;
}

function scheduling(): Scheduling {
  const times = { mainWaitedNs: 0, othersRanNs: 0 };
  try {
    for (const tid of fs.readdirSync('/proc/self/task')) {
      let fields: string[];
      try {
        fields = fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ');
      } catch {
        continue; // a thread that ended meanwhile
      }
      if (Number(tid) === process.pid) times.mainWaitedNs = Number(fields[1]);
      else times.othersRanNs += Number(fields[0]);
    }
  } catch {
    // no /proc or no schedstats: zeros
  }
  return times;
}

const since = (before: Scheduling, after: Scheduling): Scheduling => ({
  mainWaitedNs: after.mainWaitedNs - before.mainWaitedNs,
  othersRanNs: Math.max(0, after.othersRanNs - before.othersRanNs), // a thread that ended takes its time along
});

// The same statistics as bench/c/bench.h's report_rtt, taken the same way.
function stats(samples: Float64Array): { median: number; p99: number; p999: number; max: number; samples: number } {
  const sorted = Float64Array.from(samples).sort();
  return {
    median: sorted[Math.floor(sorted.length / 2)]!,
    p99: sorted[Math.floor(sorted.length * 0.99)]!,
    p999: sorted[Math.floor(sorted.length * 0.999)]!,
    max: sorted[sorted.length - 1]!,
    samples: sorted.length,
  };
}

async function runClient(config: ClientConfig): Promise<void> {
  const mechanism = MECHANISMS[config.mechanism];
  if (mechanism === undefined) throw new Error(`no mechanism ${config.mechanism}`);
  let control: UnixSocket;
  let child: ChildProcess | undefined;
  if (mechanism.spawnServer !== undefined) {
    const [mine, theirs] = socketpair('seqpacket');
    control = mine;
    const self = fileURLToPath(import.meta.url);
    child = mechanism.spawnServer(process.execPath, [...process.execArgv, self, 'server', config.mechanism], theirs);
  } else {
    control = UnixSocket.fromFd(3);
  }
  const { hello: serverPid } = await expect(control, 'hello');
  const setup = await mechanism.client(child);
  if (setup.owned !== undefined) report({ owned: setup.owned });
  sendJson(control, { setup: setup.info }, setup.fds);
  setup.afterSend?.();
  const endpoint = await setup.connect(expect(control, 'ready'));

  let placement: string | undefined;
  let settledFor: string | undefined;
  for (const [index, phase] of config.phases.entries()) {
    if (phase.placement !== placement) {
      placement = phase.placement;
      const cpus = PLACEMENT_CPUS[phase.placement];
      pin(process.pid, cpus.client);
      pin(serverPid, cpus.server);
    }
    report({ phase: index });
    const message = Buffer.alloc(phase.size, 0x5a);
    endpoint.configure?.(phase.size, true);
    const command = (value: Command) => {
      sendJson(control, value);
      return expect(control, 'started');
    };
    if (phase.kind === 'rtt8' || phase.kind === 'rtt64') {
      // Settled again for each size too: a 64-byte message takes branches an 8-byte one never did (the
      // copy by TypedArray.set(), not a byte loop), and V8 deoptimises the hot functions where they do
      // and compiles them again, in the figure (seen with --log-deopt: the channel's #write, the System V
      // queue's sendSync, in the first round trips of the 64 B figure).
      const figure = `${phase.placement} ${phase.size}`;
      let settled = !config.settle || settledFor === figure;
      settledFor = figure;
      const start = performance.now();
      let faults = { client: minorFaults(), server: 0 };
      // Batches as long as the figure: a loop that does not return to the event loop lets V8 fill the
      // whole young generation before it collects, and so touches pages that shorter batches never did.
      // Each batch is the figure's own call, timed loop included: a loop first run in the figure is
      // compiled there, by TurboFan on a thread that shares the pinned CPU (an OSR compile of 2-18 ms,
      // seen with --trace-opt and perf sched), and that stall would be the figure's worst round trip.
      const batch = phase.warmup + phase.count;
      const discarded = new Float64Array(phase.count);
      for (let done = batch; !settled; done += batch) {
        await command({ op: 'echo', size: phase.size, count: batch });
        await endpoint.roundTrips(message, phase.warmup, phase.count, discarded);
        const reply = await expect(control, 'done');
        const now = { client: minorFaults(), server: reply.faults ?? 0 };
        const faulted = now.client - faults.client + (now.server - faults.server);
        faults = now;
        const elapsed = performance.now() - start;
        settled =
          elapsed >= SETTLE_LIMIT_MS ||
          (elapsed >= JIT_SETTLE_MS && done >= JIT_SETTLE_ROUND_TRIPS && faulted <= batch * SETTLED_FAULTS);
      }
      const samples = new Float64Array(phase.count).fill(0); // written now: its pages fault here, untimed
      const clientBefore = scheduling();
      const serverBefore = (await command({ op: 'echo', size: phase.size, count: phase.warmup + phase.count }))
        .scheduling;
      await endpoint.roundTrips(message, phase.warmup, phase.count, samples);
      const clientTimes = since(clientBefore, scheduling());
      const serverAfter = (await expect(control, 'done')).scheduling;
      const server = serverBefore && serverAfter ? since(serverBefore, serverAfter) : undefined;
      report({
        phase: index,
        result: {
          ...stats(samples),
          scheduling: {
            mainWaitedUs: (clientTimes.mainWaitedNs + (server?.mainWaitedNs ?? 0)) / 1000,
            othersRanUs: (clientTimes.othersRanNs + (server?.othersRanNs ?? 0)) / 1000,
          },
        },
      });
    } else if (phase.kind === 'heap') {
      await command({ op: 'sink', size: phase.size, count: phase.count, heap: true });
      const start = performance.now();
      const client = await measureHeap(async () => {
        await endpoint.stream(message, phase.count);
      });
      const seconds = (performance.now() - start) / 1000;
      const { heap: server } = await expect(control, 'done');
      report({ phase: index, result: { seconds, messages: phase.count, client, server } });
    } else {
      await command({ op: 'sink', size: phase.size, count: phase.warmup });
      await endpoint.stream(message, phase.warmup);
      await expect(control, 'done');
      await command({ op: 'sink', size: phase.size, count: phase.count });
      const start = performance.now();
      await endpoint.stream(message, phase.count);
      const seconds = (performance.now() - start) / 1000;
      await expect(control, 'done');
      report({ phase: index, result: { seconds, messages: phase.count, bytes: phase.count * phase.size } });
    }
  }
  sendJson(control, { op: 'exit' });
  await expect(control, 'bye');
  await endpoint.close();
  control.close();
  if (child !== undefined && child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
}

async function runServer(name: string, controlFd: number): Promise<void> {
  const mechanism = MECHANISMS[name];
  if (mechanism === undefined) throw new Error(`no mechanism ${name}`);
  const control = UnixSocket.fromFd(controlFd);
  try {
    sendJson(control, { hello: process.pid });
    const setup = await receiveJson(control);
    if (setup === null) return;
    let readySent = false;
    const ready = () => {
      if (!readySent) sendJson(control, { ready: true });
      readySent = true;
    };
    const { setup: info } = setup.value as { setup: unknown };
    const endpoint: Endpoint = await mechanism.server(info, setup.fds, ready);
    ready();
    for (;;) {
      const received = await receiveJson(control);
      if (received === null) break; // the client is gone
      const command = received.value as Command;
      if (command.op === 'exit') {
        await endpoint.close();
        sendJson(control, { bye: true });
        break;
      }
      endpoint.configure?.(command.size, false);
      endpoint.prepare?.(command.op, command.size, command.count);
      if (command.heap) {
        // measureHeap collects garbage first: do it before saying started, outside the client's time.
        gc?.();
        sendJson(control, { started: true });
        const heap = await measureHeap(async () => {
          await endpoint.sink(command.size, command.count);
        });
        sendJson(control, { done: true, heap });
        continue;
      }
      sendJson(control, { started: true, scheduling: scheduling() });
      if (command.op === 'echo') await endpoint.echo(command.size, command.count);
      else await endpoint.sink(command.size, command.count);
      sendJson(control, { done: true, faults: minorFaults(), scheduling: scheduling() });
    }
  } catch (error) {
    try {
      sendJson(control, { error: error instanceof Error ? error.message : String(error) });
    } catch {
      // the client is gone already
    }
    throw error;
  } finally {
    control.close();
  }
}

const [role, ...args] = process.argv.slice(2);
watchdog();
try {
  if (role === 'client') await runClient(JSON.parse(args[0]!) as ClientConfig);
  else if (role === 'server') await runServer(args[0]!, Number(args[1]));
  else throw new Error('usage: peer client <config> | peer server <mechanism> <control fd>');
} catch (error) {
  if (role === 'client') report({ error: error instanceof Error ? error.message : String(error) });
  process.stderr.write(
    `bench ${role} ${args[0]?.slice(0, 60) ?? ''}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
}
