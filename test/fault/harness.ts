// The fault-test harness: scenarios run many times with kill -9 of a peer at seeded random points.
//
// - UNIPC_FAULT_SEED: the seed (a 32-bit number); random when not set. Every scenario draws its own
//   stream from (seed, scenario name, iteration), so one scenario's iteration replays alone.
// - UNIPC_FAULT_ITERATIONS: iterations per scenario; 5 by default, 100 under UNIPC_SOAK=1 (npm run soak).
// - UNIPC_SOAK=1: the long versions of the soak tests too (scale()).
// A failure names the scenario, iteration, seed, kill point and what each side had done, and how to
// replay it. Peers are test/fault/peers/fault-peer.ts, transpiled once into build/ (compiledPeer()), so
// that a process to kill costs a Node start-up and not a TypeScript loader's as well.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
import { type FdLike, IpcError, type Mapping, MemoryFile, spawn } from '../../src/index.js';
import { root } from '../helpers.js';
import { messageError, Phase, Random, REPORT_BYTES, Report } from './peers/protocol.js';

export const soak = process.env.UNIPC_SOAK === '1';

function seedFromEnvironment(): number {
  const text = process.env.UNIPC_FAULT_SEED;
  if (text === undefined || text === '') return randomInt(2 ** 32);
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** 32)
    throw new Error(`UNIPC_FAULT_SEED must be an integer from 0 to 2^32 - 1, not ${text}`);
  return value;
}

export const seed = seedFromEnvironment();

function iterationsFromEnvironment(): number {
  const text = process.env.UNIPC_FAULT_ITERATIONS;
  if (text === undefined || text === '') return soak ? 100 : 5;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`UNIPC_FAULT_ITERATIONS must be a positive integer, not ${text}`);
  return value;
}

export const iterations = iterationsFromEnvironment();

/** `quick` in npm test, `long` under npm run soak. */
export function scale(quick: number, long: number): number {
  return soak ? long : quick;
}

/** Options for a test that runs longer under the soak than the runner's default timeout allows. */
export const soakTimeout = soak ? { timeout: 4 * 60 * 60 * 1000 } : {};

/** How long a survivor may take, after its peer was killed, before it counts as hung. */
const HANG_MS = 60_000;

// ---------------------------------------------------------------------------------------------------
// The peer, transpiled

const peerSources = [path.join(root, 'src'), path.join(root, 'test', 'fault', 'peers')];
const peerOutput = path.join(root, 'build', 'test-peers', 'node');

function typescriptFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

let peerPath: string | undefined;

/**
 * The peer as JavaScript: src/ and test/fault/peers/ transpiled (types stripped, nothing checked: npm
 * test type-checks them) into build/test-peers/node/, mirroring the tree, whenever the sources differ
 * from those of the last transpilation (names, sizes, times). Files are written under a temporary name
 * and renamed, so test files doing this at once never read a half-written one. The addon is found from
 * there as from src/ (the "#root" import of package.json).
 */
export function compiledPeer(): string {
  if (peerPath !== undefined) return peerPath;
  const sources = peerSources.flatMap(typescriptFiles).sort();
  const signature = JSON.stringify(
    sources.map((file) => {
      const stats = fs.statSync(file);
      return [path.relative(root, file), stats.size, stats.mtimeMs];
    }),
  );
  const stamp = path.join(peerOutput, 'sources.json');
  if (!fs.existsSync(stamp) || fs.readFileSync(stamp, 'utf8') !== signature) {
    const ts = createRequire(import.meta.url)('typescript') as typeof import('typescript');
    const write = (file: string, text: string) => {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const temporary = `${file}.${process.pid}`;
      fs.writeFileSync(temporary, text);
      fs.renameSync(temporary, file);
    };
    for (const source of sources) {
      const { outputText } = ts.transpileModule(fs.readFileSync(source, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
        fileName: source,
      });
      write(path.join(peerOutput, path.relative(root, source)).replace(/\.ts$/, '.js'), outputText);
    }
    write(stamp, signature);
  }
  peerPath = path.join(peerOutput, 'test', 'fault', 'peers', 'fault-peer.js');
  return peerPath;
}

/** A running fault-peer, with its report page. */
export class FaultPeer {
  readonly child: ChildProcess;
  readonly report: Report;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #mapping: Mapping;
  #dead = false;
  #killed = false;

  constructor(args: string[], fds: FdLike[]) {
    const file = MemoryFile.create('fault-report', { size: REPORT_BYTES });
    this.#mapping = file.map();
    this.report = new Report(this.#mapping.buffer);
    try {
      this.child = spawn(process.execPath, [compiledPeer(), ...args], {
        stdio: ['ignore', 'ignore', 'inherit'],
        fds: [file.fd, ...fds],
      });
    } catch (error) {
      this.#mapping.close();
      throw error;
    } finally {
      file.close(); // the child has its own descriptor; the page lives on in both mappings
    }
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('exit', (code, signal) => {
        this.#dead = true;
        resolve({ code, signal });
      });
    });
    this.exited.catch(() => {});
  }

  /** Whether the process has exited (and been reaped). */
  get dead(): boolean {
    return this.#dead;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Whether kill() was called: it may be dead before it is reaped (dead). */
  get killed(): boolean {
    return this.#killed;
  }

  /** SIGKILL, unless it is gone already. */
  kill(): void {
    this.#killed = true;
    if (!this.#dead) this.child.kill('SIGKILL');
  }

  release(): void {
    this.kill();
    this.#mapping.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// Scenarios

/** When the peer dies: `delay` ms after it is ready, once its progress reaches `count`, or `early`: ms after its start. */
export type KillPoint =
  | { after: 'delay'; ms: number }
  | { after: 'count'; count: number }
  | { after: 'early'; ms: number };

function describePoint(point: KillPoint): string {
  if (point.after === 'count') return `once its progress reached ${point.count}`;
  return point.after === 'delay' ? `${point.ms} ms after it was ready` : `${point.ms} ms after it was spawned`;
}

/** One iteration of a scenario: its random stream, its peers, and the notes a failure will show. */
export class Iteration {
  readonly random: Random;
  readonly #notes: string[] = [];
  readonly #peers: FaultPeer[] = [];
  #calls = 0;
  #checked = 0;

  constructor(
    readonly scenario: string,
    readonly index: number,
  ) {
    this.random = new Random(seed, scenario, index);
  }

  /** Adds a fact to what a failure of this iteration prints. */
  note(fact: string): void {
    this.#notes.push(fact);
  }

  get notes(): string {
    return this.#notes.join('; ');
  }

  /** Counts messages whose arrival (number and contents) this iteration checked, for the summary. */
  checked(messages: number): void {
    this.#checked += messages;
  }

  get messagesChecked(): number {
    return this.#checked;
  }

  /** Starts fault-peer `mechanism role` with the descriptors `fds` as 4, 5, … (3 is the report). */
  spawn(mechanism: string, role: string, options: { target?: string; fds?: FdLike[] } = {}): FaultPeer {
    const peerSeed = this.random.uint32();
    const args = [mechanism, role, String(peerSeed), ...(options.target === undefined ? [] : [options.target])];
    const peer = new FaultPeer(args, options.fds ?? []);
    this.#peers.push(peer);
    this.note(`peer ${peer.pid}: fault-peer ${args.join(' ')}`);
    return peer;
  }

  /**
   * A random kill point: mostly a delay after the peer is ready or a count of its messages or rounds;
   * sometimes `early`, before it can have done anything (while it starts, or opens a FIFO).
   */
  killPoint(options: { maxCount?: number; maxDelay?: number } = {}): KillPoint {
    const { maxCount = 3000, maxDelay = 40 } = options;
    const roll = this.random.next();
    if (roll < 0.15) return { after: 'early', ms: this.random.int(0, 30) };
    return roll < 0.6
      ? { after: 'delay', ms: this.random.int(0, maxDelay) }
      : { after: 'count', count: this.random.int(0, maxCount) };
  }

  /**
   * Kills `peer` with SIGKILL at `point` and waits until it is reaped. A count not reached stops
   * waiting when `stop()` says the survivor has ended; a peer that died on its own fails the test.
   */
  async kill(peer: FaultPeer, point: KillPoint, stop: () => boolean = () => false): Promise<void> {
    if (point.after === 'early') {
      await sleep(point.ms);
    } else {
      while (peer.report.phase === Phase.starting && !peer.dead && !stop()) await sleep(1);
      if (point.after === 'delay') await sleep(point.ms);
      else while (peer.report.progress < point.count && !peer.dead && !stop()) await sleep(1);
    }
    const progress = peer.report.progress;
    peer.kill();
    const { code, signal } = await peer.exited;
    this.note(
      `killed ${describePoint(point)} (progress ${progress} at the kill, ${peer.report.progress} at its death)`,
    );
    assert.equal(
      signal,
      'SIGKILL',
      `the peer ended by itself (exit code ${code}): ${peer.report.error ?? 'no report'}`,
    );
    assert.equal(peer.report.error, undefined, `the peer found something wrong before it was killed`);
  }

  /**
   * Lets timers run every so many calls. A Promise form that completes at once settles in a microtask,
   * so a survivor looping on one would keep the kill timers (and the peer's reaping) from ever running.
   */
  async breathe(): Promise<void> {
    if (++this.#calls % 32 === 0) await yieldToLoop();
  }

  /** A survivor's work, with its rejection handled at once (it is awaited later). */
  survivor<T>(work: () => Promise<T>): { promise: Promise<T>; settled: () => boolean } {
    let done = false;
    const promise = work().finally(() => (done = true));
    promise.catch(() => {});
    return { promise, settled: () => done };
  }

  /** `promise`, or a failure if it has not settled HANG_MS after the peer's death: the survivor hangs. */
  async settles<T>(promise: Promise<T>, who: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${who} still waits ${HANG_MS / 1000} s after the peer was killed: hung`)),
        HANG_MS,
      );
    });
    try {
      return await Promise.race([promise, hung]);
    } finally {
      clearTimeout(timer);
    }
  }

  release(): void {
    for (const peer of this.#peers) peer.release();
  }

  /** Waits until every peer of this iteration has been reaped. */
  async reaped(): Promise<void> {
    await Promise.all(this.#peers.map((peer) => peer.exited));
  }
}

/** The command that replays a scenario with this seed. */
function replay(iteration: number): string {
  const file = path.relative(root, process.argv[1] ?? 'test/fault');
  return `UNIPC_FAULT_SEED=${seed} UNIPC_FAULT_ITERATIONS=${iteration + 1} node scripts/test.mjs ${file}`;
}

/**
 * Registers a test that runs `body` `iterations` times, each with a new random stream. `body` returns
 * the survivor's outcome (an error code, 'EOF', …), which must be one of `outcomes`: the documented
 * ones (docs/reliability.md). The outcomes seen are reported as a diagnostic.
 */
export function faultScenario(
  name: string,
  outcomes: readonly string[],
  body: (iteration: Iteration) => Promise<string>,
): void {
  test(name, soakTimeout, async (t) => {
    const seen = new Map<string, number>();
    let messages = 0;
    for (let index = 0; index < iterations; index++) {
      const iteration = new Iteration(name, index);
      try {
        const outcome = await body(iteration);
        assert.ok(outcomes.includes(outcome), `the survivor got ${outcome}; documented: ${outcomes.join(', ')}`);
        seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
        messages += iteration.messagesChecked;
      } catch (error) {
        const context = `fault scenario "${name}", iteration ${index}, seed ${seed}: ${iteration.notes}\n  replay: ${replay(index)}`;
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(`${message}\n  ${context}`, { cause: error });
      } finally {
        iteration.release();
      }
      await iteration.reaped();
    }
    const checked = messages > 0 ? `; ${messages} messages checked` : '';
    t.diagnostic(
      `seed ${seed}, ${iterations} iterations: ${[...seen].map(([outcome, n]) => `${outcome} ×${n}`).join(', ')}${checked}`,
    );
  });
}

/** Asserts that `received` is message `expected`. */
export function assertMessage(received: Uint8Array, expected: number): void {
  const error = messageError(received, expected);
  assert.equal(error, undefined, error);
}

/**
 * Asserts what a survivor received from a sender killed after reporting `reported` sends: every message
 * reported sent, once, in order — and possibly the one whose send() had not returned yet.
 */
export function assertAllReportedArrived(received: number, reported: number): void {
  assert.ok(
    received === reported || received === reported + 1,
    `received ${received} messages; the sender had reported ${reported} sent (so ${reported} or ${reported + 1} were due)`,
  );
}

/**
 * Asserts that the messages still queued after a receiver was killed, numbers `first` to `last`, carry
 * on where it stopped: it had checked `checked` messages (and may have taken one more), and the survivor
 * had sent `sent`.
 */
export function assertRestQueued(first: number | undefined, count: number, checked: number, sent: number): void {
  const start = first ?? sent;
  assert.ok(
    start === checked || start === checked + 1,
    `the queue resumes at message ${start}; the receiver had checked ${checked}`,
  );
  assert.equal(start + count, sent, `messages ${start}…${start + count - 1} left of ${sent} sent: some lost or extra`);
}

/**
 * Waits until a thread of this process sleeps in the kernel function `wchan` (a wait on a removed System
 * V object is EIDRM only for a call already inside it; one that comes after gets EINVAL).
 */
export async function blockedIn(wchan: string): Promise<void> {
  for (;;) {
    for (const task of fs.readdirSync('/proc/self/task')) {
      try {
        if (fs.readFileSync(`/proc/self/task/${task}/wchan`, 'utf8').startsWith(wchan)) return;
      } catch {
        // the thread ended
      }
    }
    await sleep(2);
  }
}

/** An IpcError's code, or the error itself rethrown. */
export function codeOf(error: unknown): string {
  if (error instanceof IpcError) return error.code;
  throw error;
}
