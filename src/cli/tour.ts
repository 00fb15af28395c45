// `unipc tour` (npm start): every mechanism unipc has, each between this process and another real one,
// with what was sent, what arrived and how long it took. Later mechanisms add their steps here.
import { spawn as spawnChild, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  Channel,
  type FdLike,
  IPC_PRIVATE,
  listen,
  type Mapping,
  MemoryFile,
  MessageQueue,
  Mutex,
  mkfifo,
  mmap,
  NamedSemaphore,
  PAGE_SIZE,
  PosixQueue,
  pipe,
  SemaphoreSet,
  SharedMemory,
  type SocketType,
  SysvSharedMemory,
  socketpair,
  spawn,
} from '../index.js';

const cli = fileURLToPath(new URL('./main.js', import.meta.url));

interface Row {
  mechanism: string;
  sent: string;
  arrived: string;
  ms: number;
  note?: string;
}

// What runs the other process of each step: this runtime, or the one UNIPC_TOUR_PEERS names (the words
// of a command, e.g. "/usr/local/bin/bun" or "/usr/local/bin/deno run -A"), so that the tour also shows
// two runtimes talking (npm run test:runtimes runs it so; docs/runtimes.md).
const PEER_COMMAND = process.env.UNIPC_TOUR_PEERS?.trim()
  ? process.env.UNIPC_TOUR_PEERS.trim().split(/\s+/)
  : [process.execPath];

// The other process of a step: `unipc __peer <role>`, reporting JSON lines on stdout.
class Peer {
  readonly pid: number;
  readonly #child;
  readonly #lines: AsyncIterator<string>;
  readonly #exited: Promise<number | null>;

  constructor(role: string, args: string[] = [], fds: FdLike[] = []) {
    const [command, ...before] = PEER_COMMAND;
    this.#child = spawn(command!, [...before, cli, '__peer', role, ...args], {
      stdio: ['pipe', 'pipe', 'inherit'],
      fds,
    });
    this.pid = this.#child.pid!;
    this.#lines = readline.createInterface({ input: this.#child.stdout! })[Symbol.asyncIterator]();
    this.#exited = new Promise((resolve) => this.#child.once('exit', resolve));
  }

  /** The next JSON line the peer prints. */
  async next<T = Record<string, unknown>>(): Promise<T> {
    const { value, done } = await this.#lines.next();
    if (done) throw new Error(`peer ${this.pid} ended without reporting (exit ${await this.#exited})`);
    return JSON.parse(value) as T;
  }

  ready(): Promise<unknown> {
    return this.next();
  }

  go(): void {
    this.#child.stdin!.write('go\n');
  }

  async exit(): Promise<void> {
    this.#child.stdin!.end();
    const code = await this.#exited;
    if (code !== 0) throw new Error(`peer ${this.pid} exited with ${code}`);
  }
}

function quote(text: string): string {
  return JSON.stringify(text);
}

function bytes(n: number): string {
  return n >= 1024 * 1024
    ? `${(n / 1024 / 1024).toFixed(0)} MiB`
    : n >= 1024
      ? `${(n / 1024).toFixed(1)} KiB`
      : `${n} B`;
}

async function timed(run: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

async function pipeToChild(): Promise<Row> {
  const { reader, writer } = pipe();
  const peer = new Peer('pipe-read', [], [reader]);
  await peer.ready();
  const text = `hello child, from pid ${process.pid}`;
  let report: { text: string; pid: number } | undefined;
  const ms = await timed(async () => {
    await writer.write(text);
    writer.close();
    report = await peer.next();
  });
  await peer.exit();
  return {
    mechanism: 'pipe(): parent → child',
    sent: quote(text),
    arrived: `${quote(report!.text)} in pid ${report!.pid}`,
    ms,
  };
}

async function pipeFromChild(): Promise<Row> {
  const { reader, writer } = pipe();
  const text = 'hello parent, from your child';
  const peer = new Peer('pipe-write', [text], [writer]);
  await peer.ready();
  const chunks: Buffer[] = [];
  const ms = await timed(async () => {
    peer.go();
    for (let chunk = await reader.read(); chunk !== null; chunk = await reader.read()) chunks.push(chunk);
  });
  reader.close();
  await peer.next();
  await peer.exit();
  return {
    mechanism: 'pipe(): child → parent',
    sent: `${quote(text)} (pid ${peer.pid})`,
    arrived: quote(Buffer.concat(chunks).toString()),
    ms,
  };
}

async function pipeBulk(): Promise<Row> {
  const { reader, writer } = pipe();
  const data = randomBytes(16 * 1024 * 1024);
  const peer = new Peer('pipe-read', [], [reader]);
  await peer.ready();
  let report: { bytes: number } | undefined;
  const ms = await timed(async () => {
    await new Promise<void>((resolve, reject) => writer.stream.on('error', reject).end(data, resolve));
    report = await peer.next();
  });
  const { sha256 } = await peer.next<{ sha256: string }>();
  await peer.exit();
  const matches = sha256 === createHash('sha256').update(data).digest('hex');
  if (!matches || report!.bytes !== data.length) throw new Error('the child received different bytes');
  const rate = `${(data.length / (ms / 1000) / 1e9).toFixed(2)} GB/s with one end.write()`;
  return {
    mechanism: 'pipe() as Node streams',
    sent: `${bytes(data.length)} of random bytes`,
    arrived: `${bytes(report!.bytes)}, SHA-256 matches`,
    ms,
    note: rate,
  };
}

async function fifo(dir: string): Promise<Row> {
  const fifoPath = path.join(dir, 'fifo');
  mkfifo(fifoPath);
  const text = 'through the named pipe';
  const readerPeer = new Peer('fifo-read', [fifoPath]);
  const writerPeer = new Peer('fifo-write', [fifoPath, text]);
  await Promise.all([readerPeer.ready(), writerPeer.ready()]);
  let report: { text: string } | undefined;
  const ms = await timed(async () => {
    writerPeer.go();
    report = await readerPeer.next();
  });
  await writerPeer.next();
  await Promise.all([readerPeer.exit(), writerPeer.exit()]);
  fs.rmSync(fifoPath);
  return {
    mechanism: 'mkfifo(): unrelated processes',
    sent: `${quote(text)} (pid ${writerPeer.pid})`,
    arrived: `${quote(report!.text)} in pid ${readerPeer.pid}`,
    ms,
    note: 'open() waited for the other side',
  };
}

async function socketEcho(type: SocketType, sizes: number[]): Promise<Row> {
  const [mine, theirs] = socketpair(type);
  const peer = new Peer('echo', [String(sizes.length)], [theirs]);
  await peer.ready();
  const messages = sizes.map((size) => randomBytes(size));
  const echoed: number[] = [];
  const ms = await timed(async () => {
    for (const message of messages) {
      await mine.send(message);
      const back = await mine.receive({ timeout: 30_000 });
      if (!back?.data.equals(message)) throw new Error('the echo differs');
      echoed.push(back.data.length);
    }
  });
  mine.close();
  const report = await peer.next<{ sizes: number[] }>();
  await peer.exit();
  const list = (values: number[]) => values.map(bytes).join(', ');
  return {
    mechanism: `socketpair('${type}')`,
    sent: `${sizes.length === 1 ? '1 message' : `${sizes.length} messages`}: ${list(sizes)}`,
    arrived: `child got ${list(report.sizes)}, echoed intact`,
    ms,
    note: type === 'stream' ? 'round trip, full duplex' : 'round trips, boundaries kept',
  };
}

async function passFile(dir: string): Promise<Row> {
  const file = path.join(dir, 'note.txt');
  const text = 'only reachable through the descriptor';
  fs.writeFileSync(file, text);
  const fd = fs.openSync(file, 'r');
  fs.rmSync(file);
  const [mine, theirs] = socketpair('seqpacket');
  const peer = new Peer('use-fds', [], [theirs]);
  await peer.ready();
  let report: { used: string[] } | undefined;
  const ms = await timed(async () => {
    await mine.send('a file for you', { fds: [fd] });
    report = await peer.next();
  });
  fs.closeSync(fd);
  mine.close();
  await peer.exit();
  return {
    mechanism: 'SCM_RIGHTS: an open file',
    sent: `fd ${fd} of a deleted file`,
    arrived: `read ${quote(report!.used[0])}`,
    ms,
  };
}

async function passPipeEnd(): Promise<Row> {
  const { reader, writer } = pipe();
  const [mine, theirs] = socketpair('seqpacket');
  const peer = new Peer('use-fds', [], [theirs]);
  await peer.ready();
  let received = '';
  const ms = await timed(async () => {
    await mine.send('a pipe end for you', { fds: [writer] });
    writer.close();
    for (let chunk = await reader.read(); chunk !== null; chunk = await reader.read()) received += chunk.toString();
  });
  reader.close();
  mine.close();
  await peer.next();
  await peer.exit();
  return { mechanism: 'SCM_RIGHTS: a pipe end', sent: 'the write end of a new pipe', arrived: quote(received), ms };
}

async function unixPath(dir: string): Promise<Row> {
  const socketPath = path.join(dir, 'tour.sock');
  const server = listen(socketPath, { type: 'seqpacket' });
  const peer = new Peer('connect', [socketPath]);
  await peer.ready();
  let hello = '';
  let credentials = { pid: 0, uid: 0, gid: 0 };
  const ms = await timed(async () => {
    peer.go();
    const connection = await server.accept({ timeout: 30_000 });
    credentials = connection.peerCredentials();
    hello = (await connection.receive({ timeout: 30_000 }))?.data.toString() ?? '';
    await connection.send('welcome');
    connection.close();
  });
  server.close();
  await peer.next();
  await peer.exit();
  return {
    mechanism: 'listen()/connect() by path',
    sent: quote(hello),
    arrived: `SO_PEERCRED: pid ${credentials.pid}, uid ${credentials.uid}, gid ${credentials.gid}`,
    ms,
  };
}

// One process writes at offset 0 of shared memory, the other reads it there and answers at offset 64:
// no read(), no write(), no copy through the kernel.
async function sharedMemory(
  mechanism: string,
  setup: () => { mapping: Mapping; args: string[]; fds: FdLike[]; sent: string; cleanup(): void },
): Promise<Row> {
  const { mapping, args, fds, sent, cleanup } = setup();
  try {
    const peer = new Peer('memory', args, fds);
    await peer.ready();
    const bytes = Buffer.from(mapping.buffer);
    const text = `hello from pid ${process.pid}`;
    let report: { seen: string } | undefined;
    const ms = await timed(async () => {
      bytes.write(text, 0);
      peer.go();
      report = await peer.next();
    });
    await peer.exit();
    const answer = bytes.subarray(64, 128).toString().replace(/\0+$/, '');
    const read = report!.seen === text ? 'child read it' : `child read ${quote(report!.seen)}`;
    return {
      mechanism,
      sent: `${quote(text)} at offset 0`,
      arrived: `${read}; wrote ${quote(answer)} at 64`,
      ms,
      note: sent,
    };
  } finally {
    mapping.close();
    cleanup();
  }
}

function fileMapping(dir: string): Promise<Row> {
  return sharedMemory('mmap() of a file, shared', () => {
    const file = path.join(dir, 'mapped.bin');
    fs.writeFileSync(file, Buffer.alloc(PAGE_SIZE));
    return {
      mapping: mmap(file, { prot: 'rw' }),
      args: ['file', file],
      fds: [],
      sent: 'a 4 KiB file',
      cleanup: () => fs.rmSync(file),
    };
  });
}

function memoryFile(): Promise<Row> {
  return sharedMemory('memfd handed to a child', () => {
    const file = MemoryFile.create('unipc-tour', { size: PAGE_SIZE });
    return {
      mapping: file.map(),
      args: ['memfd'],
      fds: [file.fd],
      sent: 'fd 3 in the child',
      cleanup: () => file.close(),
    };
  });
}

function posixShm(): Promise<Row> {
  const name = `/unipc-tour-${process.pid}`;
  return sharedMemory('shm_open() by name', () => {
    const memory = SharedMemory.open(name, { create: true, exclusive: true, size: PAGE_SIZE });
    return {
      mapping: memory.map(),
      args: ['posix', name],
      fds: [],
      sent: name,
      cleanup: () => {
        memory.close();
        SharedMemory.unlink(name);
      },
    };
  });
}

function sysvShm(): Promise<Row> {
  return sharedMemory('shmget()/shmat() (System V)', () => {
    const segment = SysvSharedMemory.get(IPC_PRIVATE, { size: PAGE_SIZE, create: true });
    return {
      mapping: segment.attach(),
      args: ['sysv', String(segment.id)],
      fds: [],
      sent: `segment id ${segment.id}`,
      cleanup: () => segment.remove(),
    };
  });
}

// Both processes add 1 to one counter in shared memory `n` times, as `counter = counter + 1`: without a
// lock, two read the same value and one update is lost; under unipc's Mutex none is.
async function sharedCounter(locked: boolean): Promise<Row> {
  const n = locked ? 200_000 : 5_000_000;
  using file = MemoryFile.create('unipc-tour-counter', { size: PAGE_SIZE });
  using mapping = file.map();
  const counter = new Int32Array(mapping.buffer, 64, 1);
  const mutex = new Mutex(mapping, 0);
  const peer = new Peer('count', [locked ? 'mutex' : 'plain', String(n)], [file.fd]);
  await peer.ready();
  const ms = await timed(async () => {
    Atomics.store(new Int32Array(mapping.buffer, 128, 1), 0, 1);
    for (let i = 0; i < n; i++) {
      if (locked) {
        using _ = mutex.lockSync();
        counter[0] = counter[0] + 1;
      } else {
        counter[0] = counter[0] + 1;
      }
    }
    await peer.next();
  });
  await peer.exit();
  const total = counter[0];
  const lost = 2 * n - total;
  if (locked && lost !== 0) throw new Error(`${lost} updates lost under the mutex`);
  return {
    mechanism: locked ? 'shared counter, Mutex' : 'shared counter, no lock',
    sent: `2 processes × ${n.toLocaleString('en-US')} increments`,
    arrived: `counter = ${total.toLocaleString('en-US')}: ${lost === 0 ? 'none lost' : `${lost.toLocaleString('en-US')} lost`}`,
    ms,
    note: locked
      ? 'lockSync() around each increment'
      : lost === 0
        ? 'no overlap this time: the races are real but need both on a CPU at once'
        : 'the lost updates a lock prevents',
  };
}

// A child takes the Mutex and is killed with SIGKILL while holding it: the next locker is told.
async function robustMutex(): Promise<Row> {
  using file = MemoryFile.create('unipc-tour-robust', { size: PAGE_SIZE });
  using mapping = file.map();
  const mutex = new Mutex(mapping, 0);
  const peer = new Peer('hold-mutex', [], [file.fd]);
  await peer.next();
  let ownerDied = false;
  const ms = await timed(async () => {
    process.kill(peer.pid, 'SIGKILL');
    using guard = await mutex.lock({ timeout: 10_000 });
    ownerDied = guard.ownerDied;
    new Int32Array(mapping.buffer, 64, 1)[0] = 0; // repair what the dead holder half-wrote
    guard.markConsistent();
  });
  if (!ownerDied) throw new Error('the next locker was not told that the owner died');
  return {
    mechanism: 'robust Mutex after kill -9',
    sent: `pid ${peer.pid} killed holding the mutex`,
    arrived: 'lock() resolved with ownerDied: repaired, markConsistent()',
    ms,
  };
}

// A child takes a System V semaphore with SEM_UNDO and is killed holding it: the kernel gives it back.
async function semUndo(): Promise<Row> {
  const set = SemaphoreSet.get(IPC_PRIVATE, { count: 1, create: true });
  try {
    set.set(0, 1);
    const peer = new Peer('sem-undo-hold', [String(set.id)]);
    await peer.next();
    const held = set.get(0);
    let after = -1;
    const ms = await timed(async () => {
      process.kill(peer.pid, 'SIGKILL');
      await set.wait(0, { timeout: 10_000 }); // returns once the kernel has undone the child's P
      after = set.get(0) + 1;
      set.post(0);
    });
    if (held !== 0 || after !== 1) throw new Error(`value ${held} while held, ${after} after the kill`);
    return {
      mechanism: 'semop() SEM_UNDO after kill -9',
      sent: `pid ${peer.pid} took the semaphore (value 0), was killed`,
      arrived: 'the kernel undid its P: value back to 1',
      ms,
    };
  } finally {
    set.remove();
  }
}

// The other side of the named-semaphore step: a C program with sem_open/sem_wait/sem_post, compiled here.
const NAMED_SEMAPHORE_PEER = `#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  sem_t *ping = sem_open(argv[1], 0), *pong = sem_open(argv[2], 0);
  if (ping == SEM_FAILED || pong == SEM_FAILED) { perror("sem_open"); return 1; }
  printf("ready\\n");
  fflush(stdout);
  if (sem_wait(ping) != 0) { perror("sem_wait"); return 1; }
  printf("pid %d: sem_wait returned\\n", (int)getpid());
  fflush(stdout);
  if (sem_post(pong) != 0) { perror("sem_post"); return 1; }
  return 0;
}
`;

// Node posts a named semaphore a C program waits on; the C program posts another that Node waits on.
async function namedSemaphore(dir: string): Promise<Row> {
  const source = path.join(dir, 'named_semaphore.c');
  const binary = path.join(dir, 'named_semaphore');
  fs.writeFileSync(source, NAMED_SEMAPHORE_PEER);
  const compiled = spawnSync('cc', ['-O2', '-o', binary, source, '-pthread'], { encoding: 'utf8' });
  if ((compiled.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    // An install from a prebuilt binary needs no compiler: show the step as not run rather than failed.
    return { mechanism: 'sem_open() named, Node ↔ C', sent: '—', arrived: 'not run: no C compiler (cc) here', ms: 0 };
  }
  if (compiled.error || compiled.status !== 0) {
    throw new Error(`could not compile the C peer (cc: ${compiled.error?.message ?? compiled.stderr.trim()})`);
  }
  const names = [`/unipc-tour-ping-${process.pid}`, `/unipc-tour-pong-${process.pid}`];
  using ping = NamedSemaphore.open(names[0], { create: true, exclusive: true });
  using pong = NamedSemaphore.open(names[1], { create: true, exclusive: true });
  try {
    const child = spawnChild(binary, names, { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    await lines.next();
    let reply = '';
    const ms = await timed(async () => {
      ping.post();
      await pong.wait({ timeout: 10_000 });
      reply = String((await lines.next()).value);
    });
    const code = await exited;
    if (code !== 0) throw new Error(`the C peer exited with ${code}`);
    return {
      mechanism: 'sem_open() named, Node ↔ C',
      sent: `sem_post(${names[0]}) from Node`,
      arrived: `C ${reply}, sem_post back: Node's wait() returned`,
      ms,
      note: 'a C program compiled with cc',
    };
  } finally {
    for (const name of names) NamedSemaphore.unlink(name);
  }
}

// Messages of types 3, 1, 2, … go into one System V queue; for each selection rule a child takes what its
// rule picks, in the order msgrcv gives it. One child at a time, so the rules do not compete.
async function sysvQueue(): Promise<Row> {
  const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
  const sent: Array<[number, string]> = [
    [3, 'c1'],
    [1, 'a1'],
    [2, 'b1'],
    [3, 'c2'],
    [1, 'a2'],
    [2, 'b2'],
  ];
  const rules: Array<{ label: string; type: number; except?: boolean; count: number }> = [
    { label: '0', type: 0, count: 6 },
    { label: '2', type: 2, count: 2 },
    { label: '-2', type: -2, count: 4 },
    { label: '1 except', type: 1, except: true, count: 4 },
  ];
  const seen: string[] = [];
  let ms = 0; // from the first message sent to the child's report, summed over the children
  try {
    for (const rule of rules) {
      const peer = new Peer('msg-receive', [
        String(queue.id),
        String(rule.type),
        String(rule.except ?? false),
        String(rule.count),
      ]);
      await peer.ready();
      let types: number[] = [];
      ms += await timed(async () => {
        peer.go();
        for (const [type, text] of sent) await queue.send(type, text);
        ({ types } = await peer.next<{ types: number[] }>());
      });
      await peer.exit();
      seen.push(`${rule.label}→${types.join('')}`);
      while (queue.stat().messages > 0) queue.receiveSync({ nowait: true });
    }
    return {
      mechanism: 'msgrcv() by type (System V)',
      sent: `types ${sent.map(([type]) => type).join(',')} to each child`,
      arrived: seen.join(' '),
      ms,
      note: 'rules 0, >0, <0, except',
    };
  } finally {
    queue.remove();
  }
}

async function posixQueue(): Promise<Row> {
  const name = `/unipc-tour-${process.pid}`;
  const queue = PosixQueue.open(name, { create: true, exclusive: true, maxMessages: 8, messageSize: 64 });
  try {
    const sent = [0, 10, 0, 31, 10];
    const peer = new Peer('mq-receive', [name, String(sent.length)]);
    await peer.ready();
    let report: { priorities: number[] } | undefined;
    const ms = await timed(async () => {
      for (const [i, priority] of sent.entries()) await queue.send(`message ${i}`, { priority });
      peer.go();
      report = await peer.next();
    });
    await peer.exit();
    return {
      mechanism: 'mq_send() priorities (POSIX)',
      sent: `priorities ${sent.join(', ')}`,
      arrived: `child got ${report!.priorities.join(', ')}`,
      ms,
      note: 'highest first',
    };
  } finally {
    queue.close();
    PosixQueue.unlink(name);
  }
}

// The shared-memory channel: 100,000 messages of 64 bytes through a ring in a memfd; the child checks
// order and a digest of everything.
async function channelStep(): Promise<Row> {
  const count = 100_000;
  using channel = Channel.create({ capacity: 1 << 16 });
  const peer = new Peer('channel-consume', [], [channel.fd]);
  await peer.ready();
  const hash = createHash('sha256');
  const message = Buffer.alloc(64);
  let report: { n: number; ordered: boolean; sha256: string } | undefined;
  const ms = await timed(async () => {
    peer.go();
    for (let i = 0; i < count; i++) {
      message.writeUInt32LE(i, 0);
      message.fill(i & 255, 4);
      hash.update(message);
      await channel.send(message);
    }
    channel.close();
    report = await peer.next();
  });
  await peer.exit();
  const intact = report!.n === count && report!.ordered && report!.sha256 === hash.digest('hex');
  return {
    mechanism: 'Channel (shared-memory ring)',
    sent: `${count.toLocaleString('en-US')} messages of 64 B, then close()`,
    arrived: intact
      ? `all ${report!.n.toLocaleString('en-US')}, in order, sha256 matches`
      : `child got ${report!.n}, ordered ${report!.ordered}, digest ${intact ? 'ok' : 'differs'}`,
    ms,
    note: `${Math.round(count / (ms / 1000)).toLocaleString('en-US')} messages/s`,
  };
}

const COLUMNS = [
  { title: 'mechanism', width: 30 },
  { title: 'sent', width: 44 },
  { title: 'arrived', width: 52 },
  { title: 'time', width: 10 },
];

// The lines of a cell, wrapped at spaces (a word longer than the column is cut where it must be): a
// cell is never cut short.
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(' ')) {
    const joined = current === '' ? word : `${current} ${word}`;
    if (joined.length <= width) {
      current = joined;
      continue;
    }
    if (current !== '') lines.push(current);
    current = word;
    while (current.length > width) {
      lines.push(current.slice(0, width));
      current = current.slice(width);
    }
  }
  lines.push(current);
  return lines;
}

// A row of the table; `note` follows the first line, after the time.
function line(values: string[], note = ''): string {
  const cells = values.map((value, i) => wrap(value, COLUMNS[i].width));
  const height = Math.max(...cells.map((lines) => lines.length));
  const rows: string[] = [];
  for (let row = 0; row < height; row++) {
    const text = cells.map((lines, i) => (lines[row] ?? '').padEnd(COLUMNS[i].width)).join('  ');
    rows.push(`${text.trimEnd()}${row === 0 && note !== '' ? `  (${note})` : ''}`);
  }
  return rows.join('\n');
}

function formatMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(1)} ms`;
}

export async function tour(): Promise<number> {
  const out = process.stdout;
  out.write(`unipc tour: each step runs between this process (pid ${process.pid}) and another real process.\n`);
  out.write(`"time" runs from the first byte sent until the other side confirmed what arrived.\n\n`);
  out.write(`${line(COLUMNS.map((c) => c.title))}\n${line(COLUMNS.map((c) => '-'.repeat(c.width)))}\n`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-tour-'));
  const steps: Array<[string, () => Promise<Row>]> = [
    ['pipe(): parent → child', pipeToChild],
    ['pipe(): child → parent', pipeFromChild],
    ['pipe() stream', pipeBulk],
    ['mkfifo()', () => fifo(dir)],
    ["socketpair('stream')", () => socketEcho('stream', [4096])],
    ["socketpair('seqpacket')", () => socketEcho('seqpacket', [0, 1, 1000, 60000])],
    ["socketpair('dgram')", () => socketEcho('dgram', [1, 1000, 60000])],
    ['SCM_RIGHTS: an open file', () => passFile(dir)],
    ['SCM_RIGHTS: a pipe end', passPipeEnd],
    ['listen()/connect()', () => unixPath(dir)],
    ['mmap() of a file', () => fileMapping(dir)],
    ['memfd', memoryFile],
    ['shm_open()', posixShm],
    ['System V shared memory', sysvShm],
    ['shared counter, no lock', () => sharedCounter(false)],
    ['shared counter, Mutex', () => sharedCounter(true)],
    ['robust Mutex after kill -9', robustMutex],
    ['SEM_UNDO after kill -9', semUndo],
    ['named semaphore, Node ↔ C', () => namedSemaphore(dir)],
    ['System V message queue', sysvQueue],
    ['POSIX message queue', posixQueue],
    ['Channel (shared-memory ring)', channelStep],
  ];
  let failures = 0;
  try {
    for (const [name, step] of steps) {
      try {
        const row = await step();
        out.write(`${line([row.mechanism, row.sent, row.arrived, formatMs(row.ms)], row.note)}\n`);
      } catch (error) {
        failures++;
        out.write(`${line([name, '', `FAILED: ${(error as Error).message}`, ''])}\n`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  out.write(
    failures === 0 ? `\nAll ${steps.length} steps passed.\n` : `\n${failures} of ${steps.length} steps failed.\n`,
  );
  return failures === 0 ? 0 : 1;
}
