// Ways to lose a mapping under code that still uses it, each of which crashed before the region
// lifecycle kept addresses valid until nothing could point at them. One scenario per run; each prints
// a JSON report, or dies (the test then sees the signal).
//   threadpool   Node thread-pool jobs (randomFill, fs.write) over a mapping closed while they run
//   byob         a byte stream moves a worker's mapping into another buffer, posted to this thread
//   sigbus-kill  `kill -BUS` while the fault guard is installed (no file: without it): must still kill
//   scatter      writes to every other page of a large read-only mapping: bounded map count
//   racing       two threads write to the same read-only pages at once: no write lost
//   close-race   thread-pool writes into read-only mappings closed at random moments (file or System V)
//   worker-close a worker closes its mapping and ends at once: the region must still be released
//   byob-close   close() after the buffer a byte stream moved the memory into was collected
//   full         writes through a shared mapping of a sparse file on a full filesystem: SIGBUS, as in C
//                (a lost write must not be hidden as if the file had shrunk)
import { randomFill } from 'node:crypto';
import fs from 'node:fs';
import { ReadableStream } from 'node:stream/web';
import { Worker } from 'node:worker_threads';
import { Mapping, mapAnonymous, mmap, PAGE_SIZE } from '../../src/index.js';
import { until } from '../helpers.js';

const [scenario, file] = process.argv.slice(2);
// Fills a buffer from another thread. Deno's randomFill makes the bytes elsewhere and copies them in on
// this thread, and when close() detached the buffer meanwhile its TypeError escapes the callback as an
// unhandled rejection; its fs.read holds the memory in a thread of its own, as Node's randomFill does.
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno === 'object';
const random = isDeno ? fs.openSync('/dev/urandom', 'r') : -1;
function fillFromAnotherThread(bytes: Uint8Array, done: (error: Error | null) => void): void {
  if (isDeno) fs.read(random, bytes, 0, bytes.length, null, (error) => done(error));
  else randomFill(bytes, (error) => done(error));
}
const mapsCount = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').length;
const report = (value: unknown) => console.log(JSON.stringify(value));

switch (scenario) {
  case 'threadpool': {
    const size = 64 * 2 ** 20;
    const first = mapAnonymous(size);
    const filled = new Promise((resolve, reject) =>
      fillFromAnotherThread(new Uint8Array(first.buffer), (e) => (e ? reject(e) : resolve(null))),
    );
    const sink = fs.openSync('/dev/null', 'w');
    const written = new Promise((resolve, reject) =>
      fs.write(sink, new Uint8Array(first.buffer), (e) => (e ? reject(e) : resolve(null))),
    );
    first.close(); // while both jobs still use the pages
    const second = mapAnonymous(size); // must not be handed the addresses the jobs are writing to
    await Promise.all([filled, written]);
    fs.closeSync(sink);
    const bytes = new Uint8Array(second.buffer);
    let nonZero = 0;
    for (let i = 0; i < bytes.length; i += PAGE_SIZE) if (bytes[i] !== 0) nonZero++;
    second.close();
    report({ nonZero });
    break;
  }
  case 'byob': {
    const code = `
      const { parentPort } = require('node:worker_threads');
      const { ReadableStream } = require('node:stream/web');
      import('${new URL('../../dist/esm/index.js', import.meta.url).href}').then(async ({ mapAnonymous }) => {
        const mapping = mapAnonymous(65536);
        new Uint8Array(mapping.buffer)[100] = 7;
        const stream = new ReadableStream({ type: 'bytes', pull(c) { c.byobRequest.view[0] = 9; c.byobRequest.respond(1); } });
        const { value } = await stream.getReader({ mode: 'byob' }).read(new Uint8Array(mapping.buffer, 0, 200));
        parentPort.postMessage(value.buffer, [value.buffer]);
      });`;
    const worker = new Worker(code, { eval: true });
    const moved = await new Promise<ArrayBuffer>((resolve) => worker.once('message', resolve));
    await worker.terminate();
    report({ length: moved.byteLength, value: new Uint8Array(moved)[100] });
    void ReadableStream;
    break;
  }
  case 'sigbus-kill': {
    using mapping = file ? mmap(file) : undefined; // installs the fault guard
    void mapping;
    process.kill(process.pid, 'SIGBUS');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    report({ survived: true });
    break;
  }
  case 'scatter': {
    using mapping = mmap(file); // read-only, 40 MiB
    const before = mapsCount();
    const bytes = new Uint8Array(mapping.buffer);
    for (let page = 0; page < bytes.length / PAGE_SIZE; page += 2) bytes[page * PAGE_SIZE] = 1;
    report({ growth: mapsCount() - before, faulted: mapping.faultedPages, pages: bytes.length / PAGE_SIZE });
    break;
  }
  case 'racing': {
    const mapping = mmap(file); // read-only
    const pages = mapping.length / PAGE_SIZE;
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import('${new URL('../../dist/esm/index.js', import.meta.url).href}').then(({ Mapping, PAGE_SIZE }) => {
        const mapping = Mapping.fromShared(workerData.token);
        const bytes = new Uint8Array(mapping.buffer);
        Atomics.wait(workerData.gate, 0, 0);
        for (let page = 0; page < workerData.pages; page++) bytes[page * PAGE_SIZE + 1] = 2;
        parentPort.postMessage('done');
      });`;
    const worker = new Worker(code, { eval: true, workerData: { token: mapping.share(), gate, pages } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    const bytes = new Uint8Array(mapping.buffer);
    for (let page = 0; page < pages; page++) bytes[page * PAGE_SIZE] = 1;
    await new Promise((resolve) => worker.once('message', resolve));
    let lost = 0;
    for (let page = 0; page < pages; page++) {
      if (bytes[page * PAGE_SIZE] !== 1) lost++;
      if (bytes[page * PAGE_SIZE + 1] !== 2) lost++;
    }
    const faulted = mapping.faultedPages;
    await worker.terminate();
    mapping.close();
    report({ lost, pages, faulted });
    break;
  }
  case 'close-race': {
    // `file` is a path, or for System V the id of a segment the test made (and removes, crash or not).
    const kind = process.argv[4];
    const { SysvSharedMemory } = await import('../../src/index.js');
    const segment = kind === 'sysv' ? SysvSharedMemory.fromId(Number(file)) : undefined;
    for (let i = 0; i < 120; i++) {
      const mapping = segment ? segment.attach({ readOnly: true }) : mmap(file);
      const filled = new Promise((resolve) => fillFromAnotherThread(new Uint8Array(mapping.buffer), resolve));
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 8));
      mapping.close();
      await filled;
    }
    report({ survived: true });
    break;
  }
  case 'worker-close': {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import('${new URL('../../dist/esm/index.js', import.meta.url).href}').then(({ mmap }) => {
        const mapping = mmap(workerData.file);
        mapping.close();
        parentPort.postMessage('closed');
      });`;
    const worker = new Worker(code, { eval: true, workerData: { file } });
    await new Promise((resolve) => worker.once('message', resolve));
    await worker.terminate(); // before the worker's deferred finalizers could run
    const mapped = () => fs.readFileSync('/proc/self/maps', 'utf8').includes(file);
    await until(() => !mapped(), { collect: true });
    report({ mapped: mapped() });
    break;
  }
  case 'byob-close': {
    const mapping = mapAnonymous(65536);
    const stream = new ReadableStream({
      type: 'bytes',
      pull(c) {
        (c.byobRequest!.view as Uint8Array)[0] = 9;
        c.byobRequest!.respond(1);
      },
    });
    let { value } = await stream.getReader({ mode: 'byob' }).read(new Uint8Array(mapping.buffer, 0, 16));
    const seen = value![0];
    value = undefined;
    const gc = (globalThis as { gc?: () => void }).gc!;
    for (let i = 0; i < 10; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    mapping.close(); // must not throw
    report({ seen, closed: mapping.closed });
    break;
  }
  case 'full': {
    using mapping = mmap(file, { prot: 'rw' });
    const bytes = new Uint8Array(mapping.buffer);
    for (let page = 0; page < bytes.length / PAGE_SIZE; page++) bytes[page * PAGE_SIZE] = 1;
    report({ survived: true, faulted: mapping.faultedPages });
    break;
  }
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
void Mapping;
