// Prints the CPU this process's main thread runs on, as the rseq word gives it and as sched_getcpu() does,
// once at the start and again for each line read on stdin: {"word": n | null, "cpu": n} (null where the
// runtime has no rseq area to lend, native.cpuIdArea()).
import { createInterface } from 'node:readline';
import { native } from '../../src/native.js';

const area = native.cpuIdArea();
const word = area === undefined ? null : new Int32Array(area, 4, 1);
const report = () => console.log(JSON.stringify({ word: word === null ? null : word[0], cpu: native.currentCpu() }));
report();
for await (const _ of createInterface({ input: process.stdin })) report();
