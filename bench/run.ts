// `npm run bench`: the benchmark from a checkout, through tsx (src/bench/main.ts; `unipc bench` runs the
// same code compiled). Flags: `--help`.
import { bench } from '../src/bench/main.js';

process.exitCode = await bench(process.argv.slice(2));
