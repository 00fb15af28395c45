// The fan-out figures: one publisher process and N subscriber processes on one topic, which the
// two-process cases cannot express. The orchestrator (main.ts) runs
//   fanout publisher <FanoutConfig JSON>
// which makes a 'block' topic, spawns N `fanout subscriber <config JSON>` processes with the topic's
// descriptor as fd 3, and prints one JSON line: the figures of the run (FanoutRun), or { error }.
//
// Every message is 64 bytes: bytes 0–7 a CLOCK_MONOTONIC time in ns (process.hrtime.bigint(), the same
// clock in every process), byte 8 the step it belongs to. The steps, in order:
//   0. untimed messages as fast as the topic takes them (V8 optimises both loops);
//   1. timed messages as fast as the topic takes them: the publisher notes the time before the first,
//      each subscriber the time it received the last, and says so on stdout;
//   2. untimed, then 3. timed messages one interval apart, stamped just before sendSync: each subscriber
//      takes now − stamp, the one-way latency of a delivery.
// The publisher starts step 1 once every subscriber is attached, and step 2 once every subscriber said
// it received all of step 1 (so no latency message waits behind the throughput ones). Its close() ends
// the topic; each subscriber then prints its latency samples and exits.
//
// The processes are not pinned: a run has up to five of them and this machine may have two CPUs.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { spawn } from '../index.js';
import { Topic } from '../topic.js';
import { FANOUT_MESSAGE, type FanoutConfig } from './plan.js';
import { type FanoutRun, sampleStats } from './report.js';

const STEP = 8;
const WARMUP = 0;
const TIMED = 1;
const LATENCY_WARMUP = 2;
const LATENCY = 3;

/** How long the publisher waits for its subscribers to attach, and for each of their reports. */
const PATIENCE_MS = 60_000;

function say(value: unknown): void {
  fs.writeSync(1, `${JSON.stringify(value)}\n`);
}

// Ends this process when its parent is gone: a subscriber blocked in receiveSync() would see the
// publisher's death anyway ('EPIPE' after 100 ms), a publisher blocked in sendSync() a dead subscriber
// after 100 to 200 ms; this covers the rest (a publisher whose orchestrator was killed).
function watchdog(): void {
  const source = `
    const { workerData } = require('node:worker_threads');
    setInterval(() => { if (process.ppid !== workerData.parent) process.kill(workerData.self, 'SIGKILL'); }, 500);`;
  new Worker(source, { eval: true, workerData: { parent: process.ppid, self: process.pid } }).unref();
}

// ---------------------------------------------------------------------------------------------------
// Subscriber

interface SubscriberReport {
  /** Step 1 received in full: when, ns as a decimal string. */
  throughputEndNs?: string;
  /** At the end: the latency samples, µs, and the messages this subscriber lost (0 under 'block'). */
  samples?: number[];
  missed?: number;
  error?: string;
}

function runSubscriber(config: FanoutConfig): void {
  const topic = Topic.fromFd(3, { role: 'subscriber' });
  const samples = new Float64Array(config.latencyMessages);
  let timed = 0;
  let measured = 0;
  for (let message = topic.receiveSync(); message !== null; message = topic.receiveSync()) {
    const step = message[STEP];
    if (step === TIMED) {
      if (++timed === config.messages) {
        const end = process.hrtime.bigint();
        say({ throughputEndNs: String(end) } satisfies SubscriberReport);
      }
    } else if (step === LATENCY) {
      const now = process.hrtime.bigint();
      if (measured < samples.length) samples[measured++] = Number(now - message.readBigInt64LE(0)) / 1000;
    }
  }
  const missed = topic.missed;
  topic.close();
  const kept = Array.from(samples.subarray(0, measured), (v) => Math.round(v * 1000) / 1000);
  say({ samples: kept, missed } satisfies SubscriberReport);
}

// ---------------------------------------------------------------------------------------------------
// Publisher

/** The JSON lines of one subscriber, in the order they come. */
class Reports {
  readonly #lines: SubscriberReport[] = [];
  #waiting: (() => void) | undefined;
  #ended = false;

  constructor(child: ChildProcess) {
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith('{')) this.#lines.push(JSON.parse(line) as SubscriberReport);
      }
      this.#wake();
    });
    child.once('close', () => {
      this.#ended = true;
      this.#wake();
    });
  }

  /** The next report that has `key`, waiting at most PATIENCE_MS. */
  async next<K extends keyof SubscriberReport>(
    key: K,
    who: string,
  ): Promise<SubscriberReport & Required<Pick<SubscriberReport, K>>> {
    const deadline = performance.now() + PATIENCE_MS;
    for (;;) {
      const index = this.#lines.findIndex((line) => line[key] !== undefined || line.error !== undefined);
      if (index >= 0) {
        const [line] = this.#lines.splice(index, 1);
        if (line!.error !== undefined) throw new Error(`${who}: ${line!.error}`);
        return line as SubscriberReport & Required<Pick<SubscriberReport, K>>;
      }
      if (this.#ended) throw new Error(`${who} ended before reporting ${key}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${who} did not report ${key} within ${PATIENCE_MS / 1000} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }
}

async function runPublisher(config: FanoutConfig): Promise<FanoutRun> {
  const topic = Topic.create({
    capacity: config.capacity,
    maxMessageSize: FANOUT_MESSAGE,
    policy: 'block',
    role: 'publisher',
  });
  const self = fileURLToPath(import.meta.url);
  const children: ChildProcess[] = [];
  try {
    const reports: Reports[] = [];
    for (let i = 0; i < config.subscribers; i++) {
      const child = spawn(process.execPath, [...process.execArgv, self, 'subscriber', JSON.stringify(config)], {
        stdio: ['ignore', 'pipe', 'inherit'],
        fds: [topic.fd], // a number, not the Topic: this process keeps its end
      });
      children.push(child);
      reports.push(new Reports(child));
    }
    const attachBy = performance.now() + PATIENCE_MS;
    while (topic.subscribers < config.subscribers) {
      if (performance.now() > attachBy)
        throw new Error(`${topic.subscribers} of ${config.subscribers} subscribers attached`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }

    const message = Buffer.alloc(FANOUT_MESSAGE, 0x5a);
    message.writeBigInt64LE(0n, 0);
    message[STEP] = WARMUP;
    for (let i = 0; i < config.warmup; i++) topic.sendSync(message);
    message[STEP] = TIMED;
    const start = process.hrtime.bigint();
    for (let i = 0; i < config.messages; i++) topic.sendSync(message);
    const ends = await Promise.all(reports.map((r, i) => r.next('throughputEndNs', `subscriber ${i + 1}`)));
    const perSubscriber = ends.map(({ throughputEndNs }) => {
      const seconds = Number(BigInt(throughputEndNs) - start) / 1e9;
      return config.messages / seconds;
    });
    const seconds = Math.max(...ends.map(({ throughputEndNs }) => Number(BigInt(throughputEndNs) - start) / 1e9));

    // One message per interval: the thread sleeps between them (Atomics.wait), leaving the CPUs to the
    // subscribers, and the stamp is taken just before the send, so a late wake-up delays the message but
    // does not count in its latency.
    const pause = new Int32Array(new SharedArrayBuffer(4));
    const intervalMs = config.intervalUs / 1000;
    const paced = (count: number, step: number) => {
      message[STEP] = step;
      for (let i = 0; i < count; i++) {
        Atomics.wait(pause, 0, 0, intervalMs);
        message.writeBigInt64LE(process.hrtime.bigint(), 0);
        topic.sendSync(message);
      }
    };
    paced(config.latencyWarmup, LATENCY_WARMUP);
    const pacedStart = performance.now();
    paced(config.latencyMessages, LATENCY);
    const sentPerSecond = config.latencyMessages / ((performance.now() - pacedStart) / 1000);
    topic.close();

    const finals = await Promise.all(reports.map((r, i) => r.next('samples', `subscriber ${i + 1}`)));
    const pooled = new Float64Array(finals.reduce((n, f) => n + f.samples.length, 0));
    let at = 0;
    for (const f of finals) {
      pooled.set(f.samples, at);
      at += f.samples.length;
    }
    const expected = config.latencyMessages * config.subscribers;
    if (pooled.length !== expected) throw new Error(`${pooled.length} latency samples of ${expected} deliveries`);
    await Promise.all(
      children.map((child) =>
        child.exitCode !== null || child.signalCode !== null
          ? undefined
          : new Promise((resolve) => child.once('exit', resolve)),
      ),
    );
    return {
      subscribers: config.subscribers,
      messages: config.messages,
      seconds,
      messagesPerSecond: config.messages / seconds,
      perSubscriber,
      latency: sampleStats(pooled),
      intervalUs: config.intervalUs,
      sentPerSecond,
      missed: finals.reduce((n, f) => n + (f.missed ?? 0), 0),
    };
  } finally {
    topic.close();
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

const [role, configText] = process.argv.slice(2);
watchdog();
try {
  const config = JSON.parse(configText!) as FanoutConfig;
  if (role === 'publisher') say(await runPublisher(config));
  else if (role === 'subscriber') runSubscriber(config);
  else throw new Error('usage: fanout publisher|subscriber <config>');
  process.exit(0); // nothing is left to do: the subscribers' pipes need not close first
} catch (error) {
  say({ error: error instanceof Error ? error.message : String(error) });
  process.stderr.write(
    `bench fanout ${role}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
}
