// `unipc rm`: removes IPC objects named by id, key or name, or those that are provably stale; asks
// first unless --yes, and refuses to guess when it cannot ask.
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { IPC_OBJECT_TYPES, IpcError, type IpcObject, remove, removeStale } from '../index.js';
import { survey } from '../list.js';
import { describe, parseTypes, quoted } from './ls.js';

export const RM_HELP = `Usage: unipc rm [--type TYPE[,TYPE…]] [--yes] TARGET…
       unipc rm --stale [--type TYPE[,TYPE…]] [--yes] [TARGET…]

Removes IPC objects: a System V object by IPC_RMID, a POSIX one by unlinking its name. Lists what it
will remove and asks first, unless --yes; when stdin is not a terminal, it removes nothing without --yes.

TARGET is an id (decimal: 491573), a key (hex: 0x1c4e14eb) or a POSIX name (/name; write /123 for a
name made of digits). A target that matches objects of several kinds needs --type.

Options:
  --stale          remove the provably stale objects: those whose creator is gone and that no process
                   has attached, open or mapped, judged again at removal (see \`unipc ls\`); with
                   TARGETs, only those of them
  -t, --type TYPE  only these kinds: ${IPC_OBJECT_TYPES.join(', ')}
  -y, --yes        do not ask
  -h, --help       show this text

Exit status: 0 done (or nothing to do), 1 an object could not be removed or a target matched nothing,
2 a usage error, 3 not confirmed (declined, or no terminal to ask and no --yes).
`;

const NOT_CONFIRMED = 3;

type Target =
  | { kind: 'id'; id: number; text: string }
  | { kind: 'key'; key: number; text: string }
  | { kind: 'name'; name: string; text: string };

function parseTarget(text: string): Target | string {
  if (/^\d+$/.test(text)) {
    const id = Number(text);
    return id <= 2 ** 31 - 1 ? { kind: 'id', id, text } : `${quoted(text)} is too large for an id`;
  }
  if (/^0x[0-9a-f]+$/i.test(text)) {
    const key = Number.parseInt(text.slice(2), 16);
    if (key > 0xffffffff) return `${quoted(text)} is too large for a key (32 bits)`;
    if (key === 0) return '0x00000000 is IPC_PRIVATE, the key of every private object: name the object by its id';
    return { kind: 'key', key, text };
  }
  const bare = text.startsWith('/') ? text.slice(1) : text;
  if (bare === '' || bare.includes('/') || bare.includes('\0'))
    return `${quoted(text)} is neither an id, a key (0x…) nor a POSIX name (/name)`;
  return { kind: 'name', name: `/${bare}`, text };
}

function matches(target: Target, object: IpcObject): boolean {
  switch (target.kind) {
    case 'id':
      return 'id' in object && object.id === target.id;
    case 'key':
      return 'key' in object && object.key === target.key;
    case 'name':
      return 'name' in object && object.name === target.name;
  }
}

async function confirmed(question: string): Promise<boolean> {
  const prompt = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string | undefined>((resolve) => {
      prompt.once('close', () => resolve(undefined));
      prompt.question(question, resolve);
    });
    return answer !== undefined && /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    prompt.close();
  }
}

const RM_OPTIONS = {
  stale: { type: 'boolean' },
  type: { type: 'string', short: 't', multiple: true },
  yes: { type: 'boolean', short: 'y' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function rm(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof RM_OPTIONS }>>;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: RM_OPTIONS });
  } catch (error) {
    process.stderr.write(`unipc rm: ${(error as Error).message}\n\n${RM_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(RM_HELP);
    return 0;
  }
  const usage = (message: string) => {
    process.stderr.write(`unipc rm: ${message}\n`);
    return 2;
  };
  const types = parseTypes(values.type);
  if (typeof types === 'string') return usage(types);
  if (positionals.length === 0 && !values.stale) return usage(`name what to remove, or use --stale\n\n${RM_HELP}`);
  const targets: Target[] = [];
  for (const text of positionals) {
    const target = parseTarget(text);
    if (typeof target === 'string') return usage(target);
    targets.push(target);
  }

  const stale = values.stale ?? false;
  const { objects, unlisted } = survey({ type: types, staleness: stale });
  let chosen: IpcObject[] = [];
  let failed = false;
  for (const target of targets) {
    const found = objects.filter((object) => matches(target, object));
    if (found.length === 0) {
      const where = unlisted.length > 0 ? ` (not listed here: ${unlisted.map((u) => u.type).join(', ')})` : '';
      process.stderr.write(`unipc rm: no object matches ${quoted(target.text)}${where}\n`);
      failed = true;
    } else if (found.length > 1) {
      return usage(
        `${quoted(target.text)} matches ${found.length} objects; say which with --type:\n${found.map((o) => `  ${o.type}: ${describe(o)}`).join('\n')}`,
      );
    } else if (!chosen.includes(found[0]!)) {
      chosen.push(found[0]!);
    }
  }
  if (targets.length === 0) chosen = objects;
  if (stale) {
    const kept = chosen.filter((object) => !object.staleness!.stale);
    chosen = chosen.filter((object) => object.staleness!.stale);
    if (targets.length > 0) {
      for (const object of kept) process.stdout.write(`kept ${describe(object)}: ${object.staleness!.reason}\n`);
    } else if (kept.length > 0) {
      process.stdout.write(
        `${kept.length} object${kept.length === 1 ? ' is' : 's are'} not provably stale (\`unipc ls\` says why)\n`,
      );
    }
    if (chosen.length === 0) {
      process.stdout.write('nothing provably stale to remove\n');
      return failed ? 1 : 0;
    }
  }
  if (chosen.length === 0) return 1;

  const plan = chosen
    .map((object) => `  ${describe(object)}${stale ? `: ${object.staleness!.reason}` : ''}`)
    .join('\n');
  if (!values.yes) {
    if (!process.stdin.isTTY) {
      process.stderr.write(
        `unipc rm: would remove:\n${plan}\nunipc rm: not removing anything: stdin is not a terminal to ask on; add --yes to remove without asking\n`,
      );
      return NOT_CONFIRMED;
    }
    process.stderr.write(`unipc rm: about to remove:\n${plan}\n`);
    const count = `${chosen.length} object${chosen.length === 1 ? '' : 's'}`;
    if (!(await confirmed(`Remove ${count}? [y/N] `))) {
      process.stderr.write('unipc rm: nothing removed\n');
      return NOT_CONFIRMED;
    }
  }

  if (stale) {
    for (const { object, removed, reason, error } of removeStale(chosen)) {
      if (removed) process.stdout.write(`removed ${describe(object)}\n`);
      else if (error !== undefined) {
        process.stderr.write(`unipc rm: cannot remove ${describe(object)}: ${reason}\n`);
        failed = true;
      } else process.stdout.write(`kept ${describe(object)}: ${reason}\n`);
    }
  } else {
    for (const object of chosen) {
      try {
        remove(object);
        process.stdout.write(`removed ${describe(object)}\n`);
      } catch (error) {
        if (!(error instanceof IpcError)) throw error;
        process.stderr.write(`unipc rm: cannot remove ${describe(object)}: ${error.message}\n`);
        failed = true;
      }
    }
  }
  return failed ? 1 : 0;
}
