#!/usr/bin/env node
// The unipc command: `unipc tour` shows every mechanism between real processes; `unipc bench` measures
// them against C and Node's own; `unipc ls` and `unipc rm` list and remove IPC objects; `unipc bridge`
// carries a local Channel or queue over NATS JetStream.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import packageRoot from '#root';
import { ls } from './ls.js';
import { runPeer } from './peer.js';
import { rm } from './rm.js';
import { tour } from './tour.js';

const HELP = `unipc — Unix inter-process communication for Node.js

Usage: unipc <command> [options]

Commands:
  tour          run every mechanism between two real processes and show, per step,
                what was sent, what arrived and how long it took (npm start)
  bench         measure every mechanism between two pinned processes, next to Node's
                own and C compiled on the spot (--quick: under a minute)
  ls            list every IPC object (System V and POSIX) and whether each is provably stale
  rm            remove IPC objects by id, key or name, or the provably stale ones (--stale)
  bridge        move messages between a local Channel or queue and a NATS JetStream subject
                (needs the optional NATS client packages)
  help          show this text

unipc <command> --help shows a command's options.

Options:
  -h, --help     show this text
  -v, --version  print the version
`;

function version(): string {
  return JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version;
}

const MAIN_OPTIONS = { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } } as const;

async function main(argv: string[]): Promise<number> {
  if (argv[0] === '__peer') {
    await runPeer(argv[1], argv.slice(2));
    return 0;
  }
  // Commands with options of their own parse them themselves.
  if (argv[0] === 'ls') return ls(argv.slice(1));
  if (argv[0] === 'rm') return rm(argv.slice(1));
  if (argv[0] === 'bridge') {
    const { bridgeCommand } = await import('./bridge.js');
    return bridgeCommand(argv.slice(1));
  }
  if (argv[0] === 'bench') {
    // Loaded only when asked for, so that the other commands start as fast as before.
    const { bench } = await import('../bench/main.js');
    return bench(argv.slice(1));
  }
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof MAIN_OPTIONS }>>;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: MAIN_OPTIONS });
  } catch (error) {
    process.stderr.write(`unipc: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const [command = 'help', ...rest] = positionals;
  if (values.help || command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (command === 'tour' && rest.length === 0) return tour();
  process.stderr.write(`unipc: unknown command '${[command, ...rest].join(' ')}'\n\n${HELP}`);
  return 2;
}

// A reader that stops early (`unipc bench --list | head -1`) closes the pipe, and Node, which ignores
// SIGPIPE, reports EPIPE as an error event: unhandled, a stack trace. The command finishes quietly
// instead: its output is dropped (a stream destroyed by the error drops later writes), and it still
// cleans up after itself (the tour's temporary objects, the rest of an rm), which exiting here would skip.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

// Until main() settles: a command whose event loop ran dry with work still pending must not look successful.
process.exitCode = 1;
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`unipc: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
