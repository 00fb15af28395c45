// The benchmark from a checkout's TypeScript, through tsx: `node --import tsx bench/run.ts` (flags:
// `--help`), for trying a change to src/bench without a build. The figures that count come from
// `npm run bench`, which builds the package and runs the compiled code users run (`unipc bench`): tsx
// compiles each class with a `name` set after the fact, which makes V8 construct some of them slower.
import { bench } from '../src/bench/main.js';

process.exitCode = await bench(process.argv.slice(2));
