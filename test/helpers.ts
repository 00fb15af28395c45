// Shared by the tests: private temporary paths, Node peer processes, C peer programs.
import { type ChildProcess, execFileSync, spawn as spawnRaw, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ftok, IpcError, PosixQueue, type SpawnOptions, spawn } from '../src/index.js';
import { constants, native, runtime } from '../src/native.js';

export const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The running Node's major version: some of Node's own behaviour the tests meet changed between majors. */
export const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const peers = path.join(root, 'test', 'peers');

/** A fresh directory for FIFOs and sockets; the runner checks that tests empty it. */
export function tempDir(prefix = 't-'): { path: string; file(name: string): string; [Symbol.dispose](): void } {
  const base = process.env.UNIPC_TEST_TMPDIR ?? os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, prefix));
  return {
    path: dir,
    file: (name) => path.join(dir, name),
    [Symbol.dispose]: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The arguments that make this runtime (process.execPath) run a TypeScript file: Node through tsx (after
 * `nodeFlags`), Bun as it is, Deno with every permission and Node's resolution of './x.js' to x.ts. Of
 * Node's flags only --expose-gc has a meaning on Bun and Deno (Deno's --v8-flags=--expose-gc).
 */
export function runTs(file: string, nodeFlags: string[] = []): string[] {
  return argumentsFor(runtime, file, nodeFlags);
}

function argumentsFor(on: 'node' | 'bun' | 'deno', file: string, nodeFlags: string[]): string[] {
  const exposeGc = nodeFlags.includes('--expose-gc');
  const others = nodeFlags.filter((flag) => flag !== '--expose-gc');
  if (on !== 'node' && others.length > 0) throw new Error(`Node's flags ${others.join(' ')} on ${on}`);
  if (on === 'bun') return [...(exposeGc ? ['--expose-gc'] : []), file];
  if (on === 'deno') return ['run', '-A', '--sloppy-imports', ...(exposeGc ? ['--v8-flags=--expose-gc'] : []), file];
  return [...nodeFlags, '--import', 'tsx', file];
}

/**
 * The runtime the tests' peers run on: this one, or the one UNIPC_TEST_PEERS names (`bun:<binary>` or
 * `deno:<binary>`), so that the suites, run on Node, have each mechanism talk to Bun or Deno processes
 * (npm run test:runtimes).
 */
const PEERS = (() => {
  const setting = process.env.UNIPC_TEST_PEERS;
  if (!setting) return { runtime, binary: process.execPath };
  const [name, binary] = setting.split(/:(.*)/s);
  if ((name !== 'bun' && name !== 'deno') || !binary) {
    throw new Error(`UNIPC_TEST_PEERS=${setting}: expected bun:<binary> or deno:<binary>`);
  }
  return { runtime: name, binary } as const;
})();

/** The runtime the peers run on (above). */
export const peerRuntime: 'node' | 'bun' | 'deno' = PEERS.runtime;

/** The command that runs a TypeScript peer on the peers' runtime (above): [executable, ...arguments]. */
export function peerCommand(file: string): [string, string[]] {
  return [PEERS.binary, argumentsFor(PEERS.runtime, file, [])];
}

/**
 * For a test's `skip` option: on Bun and Deno, why the test cannot run there (docs/runtimes.md, "Tests",
 * lists every such test with this reason); false on Node.
 */
export function nodeOnly(reason: string): string | false {
  return runtime === 'node' ? false : `not on ${runtime}: ${reason}`;
}

/**
 * The kernel's id of the calling thread (gettid), read from /proc/thread-self: the pid on the main thread
 * of a process run by Node, Bun or `deno run`, but not under `deno test`, which runs the tests' JavaScript
 * on a thread of its own.
 */
export function callingThreadId(): number {
  return Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
}

/**
 * A kernel descriptor of `path` (open(2) through the addon, close-on-exec): Deno's fs.openSync gives a
 * resource id of its own, which unipc cannot use. `flags` as fs.openSync's numeric ones; read-write by
 * default.
 */
export function openDescriptor(path: string, flags: number = fs.constants.O_RDWR): number {
  const fd = native.open(path, flags | constants.O_CLOEXEC, 0, -1);
  if (fd < 0) throw new IpcError(-fd, 'open', { path });
  return fd;
}

/** Spawns test/peers/<name>.ts in a new process of the peers' runtime, handing it `fds` as 3, 4, … */
export function spawnPeer(name: string, args: string[] = [], options: SpawnOptions = {}): ChildProcess {
  const [command, runArguments] = peerCommand(path.join(peers, `${name}.ts`));
  return spawn(command, [...runArguments, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    cwd: root,
    ...options,
  });
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
}

/**
 * Collects a child's stdout and waits for it to exit and close its output. Safe to call after awaiting
 * something else: a child that is already gone (its 'close' may have been emitted before anyone
 * listened) settles at once, with whatever stdout it still had unread.
 */
export function finished(child: ChildProcess): Promise<Finished> {
  let stdout = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => (stdout += chunk));
  return new Promise((resolve, reject) => {
    // Node emits 'close' once the process has exited and every output stream (stdio past stdin) closed.
    const exited = child.exitCode !== null || child.signalCode !== null;
    const outputsClosed = child.stdio.slice(1).every((stream) => !stream || stream.closed);
    if (exited && outputsClosed) {
      resolve({ code: child.exitCode, signal: child.signalCode, stdout });
      return;
    }
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout }));
  });
}

/** Waits until the child prints a line containing `text` on stdout. */
export function lineFrom(child: ChildProcess, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const line = seen.split('\n').find((l) => l.includes(text));
      if (line !== undefined) {
        child.stdout!.off('data', onData);
        resolve(line);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`peer exited (${code}) before printing ${text}; it printed ${JSON.stringify(seen)}`)),
    );
  });
}

/**
 * Compiles test/peers/<name>.c with the machine's gcc (once per source version) and returns the
 * executable's path. Built under build/, which git ignores.
 */
export function compilePeer(name: string): string {
  const source = path.join(peers, `${name}.c`);
  const outDir = path.join(root, 'build', 'test-peers');
  const output = path.join(outDir, name);
  fs.mkdirSync(outDir, { recursive: true });
  const headers = path.join(root, 'include', 'unipc');
  const inputs = [
    source,
    ...[peers, headers].flatMap((dir) =>
      fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.h'))
        .map((f) => path.join(dir, f)),
    ),
  ];
  const newest = Math.max(...inputs.map((f) => fs.statSync(f).mtimeMs));
  const fresh = fs.existsSync(output) && fs.statSync(output).mtimeMs >= newest;
  if (!fresh) {
    const temporary = `${output}.${process.pid}`;
    execFileSync(
      'gcc',
      ['-O2', '-Wall', '-Wextra', '-Werror', '-I', path.join(root, 'include'), '-o', temporary, source],
      { stdio: 'inherit' },
    );
    fs.renameSync(temporary, output);
  }
  return output;
}

/** The garbage collector, for tests about what collection must (not) do. */
export function collector(): () => void {
  // Bun (JavaScriptCore) has its own; Deno's tests run with --v8-flags=--expose-gc (scripts/test.mjs).
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun) return () => bun.gc(true);
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/**
 * A duplicate of an object's descriptor, close-on-exec, to hand to a peer or to open a second end
 * (fromFd() takes it over). The addon's own, not node:fs's: on Deno a descriptor from fs.openSync() stays
 * the runtime's resource, which it closes again later, whatever then has that number.
 */
export function dup(owner: { fd: number }): number {
  const fd = native.fcntl(owner.fd, constants.F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw new IpcError(-fd, 'fcntl', { fd: owner.fd });
  return fd;
}

/** What test/peers/cpu-peer.ts prints: its CPU by the rseq word (null: none) and sched_getcpu(), and what it told. */
export interface CpuReport<Told> {
  word: number | null;
  cpu: number;
  told: Told;
}

/**
 * test/peers/cpu-peer.ts (with `args`) pinned to CPU 0: its first report; `moved()` moves it to CPU 1 with
 * `taskset -p` and returns its next; `end()` lets it exit and returns its exit code.
 */
export async function cpuPeer<Told>(args: string[] = []) {
  const [command, runArguments] = peerCommand(path.join(root, 'test', 'peers', 'cpu-peer.ts'));
  const child = spawnRaw('taskset', ['-c', '0', command, ...runArguments, ...args], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string) as CpuReport<Told>;
  return {
    first: await next(),
    async moved(): Promise<CpuReport<Told>> {
      if (spawnSync('taskset', ['-p', '-c', '1', String(child.pid)]).status !== 0) throw new Error('taskset -p failed');
      child.stdin!.write('\n');
      return next();
    },
    async end(): Promise<number | null> {
      child.stdin!.end();
      return (await finished(child)).code;
    },
  };
}

export interface UntilOptions {
  /** Collect garbage each round: for a condition a finalizer makes true. */
  collect?: boolean;
  /** Give up after this many ms, with an error naming the condition. */
  within?: number;
  /** Wait this many ms between rounds; 0 waits for the next turn of the event loop only. */
  pause?: number;
}

/**
 * Polls `condition` until it holds; throws if it does not within `within` ms (20 s by default). A finalizer
 * runs as a task some time after the collection that found its object dead, later on a busy machine and on
 * another runtime, and a peer or a thread takes its time to get somewhere: a test that gave either a fixed
 * number of short rounds could fail there with nothing wrong.
 */
export async function until(
  condition: () => boolean,
  { collect = false, within = 20_000, pause = collect ? 10 : 2 }: UntilOptions = {},
): Promise<void> {
  const gc = collect ? collector() : undefined;
  const giveUp = performance.now() + within;
  while (!condition()) {
    if (performance.now() > giveUp) throw new Error(`gave up after ${within} ms waiting for ${condition.toString()}`);
    gc?.();
    await new Promise((resolve) => (pause === 0 ? setImmediate(resolve) : setTimeout(resolve, pause)));
  }
}

// Descriptors this process has for reasons of its own, not unipc's: the event loops' (libuv opens and
// closes these as it likes; from Node 22 on each loop has an io_uring, set up when first used) and tsx's
// cache directory and files (read and written as modules load). unipc makes none of these kinds.
const NOT_UNIPC_DESCRIPTOR = /^anon_inode:\[(eventpoll|io_uring|eventfd)\]$|\/tsx-[^/]+(\/|$)/;

/** How many descriptors this process has open, but for those that are not unipc's to manage. */
export function openFdCount(): number {
  return descriptors().size;
}

/** This process's descriptors as "<fd> <target>", but for those that are not unipc's (above). */
export function descriptors(): Set<string> {
  const open = new Set<string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (!NOT_UNIPC_DESCRIPTOR.test(target)) open.add(`${fd} ${target}`);
    } catch {
      // the directory readdirSync read, closed since
    }
  }
  return open;
}

/**
 * The descriptors open now that were not in `before` (by number and target): what a test leaked. The
 * runtime's own closing some meanwhile does not count (Bun closes its children's pipes when it likes).
 */
export function newDescriptors(before: Set<string>): string[] {
  return [...descriptors()].filter((entry) => !before.has(entry));
}

// tsx starts its esbuild service as a test file loads and closes a few descriptors of that start-up
// soon after (from Node 22 on, as the tests begin): let the count settle once before any test counts.
{
  let last = -1;
  for (let stable = 0, waited = 0; stable < 5 && waited < 5000; waited += 20) {
    const now = openFdCount();
    stable = now === last ? stable + 1 : 0;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Threads of this process, from /proc/self/task. */
export function threadCount(): number {
  return fs.readdirSync('/proc/self/task').length;
}

/**
 * A random System V key of this test run, never IPC_PRIVATE: bits 16–30 are the run's tag
 * (UNIPC_TEST_KEY_TAG, set by scripts/test.mjs), by which the runner's leak check tells this run's objects
 * from other programs' where the suite cannot have an IPC namespace of its own. With `highBit`, a key
 * that is negative as a C key_t.
 */
export function testKey({ highBit = false } = {}): number {
  const tag = Number(process.env.UNIPC_TEST_KEY_TAG ?? 0x7fff) & 0x7fff;
  return ((highBit ? 0x8000 : 0) | tag) * 0x10000 + randomInt(1, 0x10000);
}

/**
 * A new empty file in `dir` whose ftok() key for each of `projects` no System V segment has now: a key
 * keeps only part of the inode and device, so another program's segment may have it.
 */
export function ftokAnchor(dir: string, projects: number[]): string {
  const taken = new Set(
    fs
      .readFileSync('/proc/sysvipc/shm', 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => Number(line.trim().split(/\s+/)[0]) >>> 0),
  );
  for (let attempt = 0; attempt < 100; attempt++) {
    const file = path.join(dir, `anchor-${attempt}`);
    fs.writeFileSync(file, '');
    if (projects.every((project) => !taken.has(ftok(file, project)))) return file;
  }
  throw new Error(`no file in ${dir} has free ftok keys for projects ${projects.join(', ')}`);
}

let nobody: string | false | undefined;
/**
 * Why a peer cannot run here as another user (nobody, uid 65534), or false when it can: that takes root,
 * and a checkout that user may read (not one under a mode-700 home, say). For `skip` in a test's options.
 */
export function cannotRunAsNobody(): string | false {
  if (nobody === undefined) {
    if (process.getuid?.() !== 0) {
      nobody = 'needs root to run a peer as another user';
    } else {
      const env = { ...process.env, HOME: '/tmp' };
      const probe = spawnSync(process.execPath, ['--import', 'tsx', '-e', 'process.stdout.write("ok")'], {
        cwd: root,
        uid: 65534,
        gid: 65534,
        env,
        encoding: 'utf8',
      });
      nobody =
        probe.stdout === 'ok' ? false : 'a Node peer cannot run as uid 65534 here (is the checkout readable to it?)';
    }
  }
  return nobody;
}

let nameCounter = 0;
/**
 * This test run's token (UNIPC_TEST_RUN, set by scripts/test.mjs), in every POSIX IPC name the tests make:
 * by it the runner's leak check tells this run's objects from other programs' (another run's included)
 * where the suite cannot have an IPC namespace of its own.
 */
export const RUN = process.env.UNIPC_TEST_RUN ?? 'run0';

/** A POSIX IPC name, `unipc-<family>-<RUN>-…` without the slash, that no other test file or run can be using. */
export function uniqueIpcName(family: string): string {
  return `unipc-${family}-${RUN}-${process.pid}-${++nameCounter}-${randomBytes(4).toString('hex')}`;
}

/**
 * Why this kernel or container has no POSIX message queues (ENOSYS from a probe queue, unlinked at once),
 * or undefined when it has them: a describe()'s `skip`.
 */
export function posixQueuesUnavailable(): string | undefined {
  const name = `/${uniqueIpcName('mq')}`;
  try {
    PosixQueue.open(name, { create: true, exclusive: true }).close();
    PosixQueue.unlink(name);
    return undefined;
  } catch (error) {
    if (error instanceof IpcError && error.code === 'ENOSYS') return error.message;
    throw error;
  }
}

/**
 * Runs a cleanup (remove, unlink) and ignores the errors that mean the object is gone already, so that
 * cleanup never masks the test's own failure.
 */
export function quietly(cleanup: () => void, gone: readonly string[] = ['ENOENT', 'EINVAL', 'EIDRM']): void {
  try {
    cleanup();
  } catch (error) {
    if (!(error instanceof IpcError && gone.includes(error.code))) throw error;
  }
}
