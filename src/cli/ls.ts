// `unipc ls`: every IPC object on the machine — what `ipcs` shows, plus POSIX shared memory, named
// semaphores and queues — and whether each is provably stale. `--json` prints list()'s records.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { IPC_OBJECT_TYPES, type IpcObject, type IpcObjectType, type Staleness } from '../index.js';
import { survey } from '../list.js';

export const LS_HELP = `Usage: unipc ls [--type TYPE[,TYPE…]] [--mine] [--stale] [--json]

Lists every IPC object of this machine (its IPC namespace), and whether each is provably stale:
its creator is gone and no process has it attached, open or mapped (docs/security.md says how that
is proven, and why semaphore sets and queues never are).

Options:
  -t, --type TYPE  only these kinds: ${IPC_OBJECT_TYPES.join(', ')}
  --mine           only objects unipc created (its creator mark: POSIX shared memory and named semaphores)
  --stale          only provably stale objects (what \`unipc rm --stale\` would remove)
  --json           print the records of list(), as JSON, instead of tables
  -h, --help       show this text
`;

const TITLES: Record<IpcObjectType, string> = {
  'sysv-queue': 'System V message queues (ipcs -q)',
  'sysv-semaphores': 'System V semaphore sets (ipcs -s)',
  'sysv-shm': 'System V shared memory (ipcs -m)',
  'posix-shm': 'POSIX shared memory (/dev/shm)',
  'posix-semaphore': 'POSIX named semaphores (/dev/shm/sem.*)',
  'posix-queue': 'POSIX message queues',
};

/** The --type values: repeated and/or comma-separated, each one of IPC_OBJECT_TYPES. */
export function parseTypes(values: string[] | undefined): IpcObjectType[] | string {
  if (values === undefined) return [...IPC_OBJECT_TYPES];
  const types = values.flatMap((value) => value.split(',')).map((value) => value.trim());
  const unknown = types.find((type) => !(IPC_OBJECT_TYPES as readonly string[]).includes(type));
  if (unknown !== undefined) return `unknown type '${unknown}' (types: ${IPC_OBJECT_TYPES.join(', ')})`;
  return IPC_OBJECT_TYPES.filter((type) => types.includes(type));
}

let userNames: Map<number, string> | undefined;

/** The user name of a uid, from /etc/passwd, or the number. */
export function userName(uid: number): string {
  if (userNames === undefined) {
    userNames = new Map();
    try {
      for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const [name, , id] = line.split(':');
        if (name && id !== undefined && !userNames.has(Number(id))) userNames.set(Number(id), name);
      }
    } catch {
      // numbers only
    }
  }
  return userNames.get(uid) ?? String(uid);
}

/**
 * A name as it is safe to print. A name may hold anything but '/' and NUL: control characters (a
 * terminal escape sequence, a newline faking another line), invisible or direction-changing ones, spaces
 * that blur columns, bytes that are not UTF-8 (decoded as U+FFFD). Such a name is printed quoted, with
 * those characters escaped as in JavaScript strings.
 */
export function printable(name: string): string {
  if (!/[\p{C}\p{Z}\uFFFD"\\]/u.test(name)) return name;
  const escaped = [...name].map((character) => {
    if (character === '"' || character === '\\') return `\\${character}`;
    if (character !== ' ' && /[\p{C}\p{Z}]/u.test(character)) {
      const code = character.codePointAt(0)!;
      return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
    }
    return character;
  });
  return `"${escaped.join('')}"`;
}

/** A name or argument for a message: quoted, escaped if it needs to be (printable()). */
export function quoted(text: string): string {
  const shown = printable(text);
  return shown.startsWith('"') ? shown : `'${shown}'`;
}

export function hexKey(key: number): string {
  return `0x${key.toString(16).padStart(8, '0')}`;
}

function octal(mode: number): string {
  return mode.toString(8).padStart(3, '0');
}

function time(date: Date | null): string {
  if (date === null) return '-';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function pid(value: number): string {
  return value === 0 ? '-' : String(value);
}

function stale(staleness: Staleness | undefined): [string, string] {
  if (staleness === undefined) return ['', ''];
  const unprovable = staleness.reason.startsWith('not provable: ');
  return [
    staleness.stale ? 'yes' : unprovable ? '?' : 'no',
    unprovable ? staleness.reason.slice('not provable: '.length) : staleness.reason,
  ];
}

function count(n: number | null, what: string): string {
  return n === null ? `? ${what}s` : `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** One line that says which object a record is, for rm's confirmation and results. */
export function describe(object: IpcObject): string {
  const owner = `owner ${userName(object.uid)}, mode ${octal(object.mode)}`;
  switch (object.type) {
    case 'sysv-queue':
      return `System V message queue id ${object.id} key ${hexKey(object.key)} (${count(object.messages, 'message')}, ${count(object.bytes, 'byte')}; ${owner})`;
    case 'sysv-semaphores':
      return `System V semaphore set id ${object.id} key ${hexKey(object.key)} (${count(object.count, 'semaphore')}; ${owner})`;
    case 'sysv-shm':
      return `System V shared memory id ${object.id} key ${hexKey(object.key)} (${count(object.size, 'byte')}, ${object.attachments} attached; ${owner})`;
    case 'posix-shm':
      return `POSIX shared memory ${printable(object.name)} (${count(object.size, 'byte')}; ${owner})`;
    case 'posix-semaphore':
      return `POSIX named semaphore ${printable(object.name)} (${owner})`;
    case 'posix-queue':
      return `POSIX message queue ${printable(object.name)} (${count(object.messages, 'message')}; ${owner})`;
  }
}

// Each kind's columns: a header and a cell per record.
type Column = [header: string, cell: (object: never) => string];
const COLUMNS: Record<IpcObjectType, Column[]> = {
  'sysv-queue': [
    ['key', (o: { key: number }) => hexKey(o.key)],
    ['id', (o: { id: number }) => String(o.id)],
    ['owner', (o: { uid: number }) => userName(o.uid)],
    ['perms', (o: { mode: number }) => octal(o.mode)],
    ['messages', (o: { messages: number }) => String(o.messages)],
    ['bytes', (o: { bytes: number }) => String(o.bytes)],
    ['send pid', (o: { lastSendPid: number }) => pid(o.lastSendPid)],
    ['receive pid', (o: { lastReceivePid: number }) => pid(o.lastReceivePid)],
    ['changed', (o: { lastChange: Date }) => time(o.lastChange)],
  ],
  'sysv-semaphores': [
    ['key', (o: { key: number }) => hexKey(o.key)],
    ['id', (o: { id: number }) => String(o.id)],
    ['owner', (o: { uid: number }) => userName(o.uid)],
    ['perms', (o: { mode: number }) => octal(o.mode)],
    ['semaphores', (o: { count: number }) => String(o.count)],
    ['last op', (o: { lastOp: Date | null }) => time(o.lastOp)],
    ['changed', (o: { lastChange: Date }) => time(o.lastChange)],
  ],
  'sysv-shm': [
    ['key', (o: { key: number }) => hexKey(o.key)],
    ['id', (o: { id: number }) => String(o.id)],
    ['owner', (o: { uid: number }) => userName(o.uid)],
    ['perms', (o: { mode: number }) => octal(o.mode)],
    ['bytes', (o: { size: number }) => String(o.size)],
    ['attached', (o: { attachments: number }) => String(o.attachments)],
    ['creator', (o: { creatorPid: number }) => pid(o.creatorPid)],
    ['last pid', (o: { lastPid: number }) => pid(o.lastPid)],
    [
      'status',
      (o: { markedForRemoval: boolean; locked: boolean }) =>
        [o.markedForRemoval ? 'removed' : '', o.locked ? 'locked' : ''].filter(Boolean).join(',') || '-',
    ],
    ['stale', (o: { staleness?: Staleness }) => stale(o.staleness)[0]],
    ['why', (o: { staleness?: Staleness }) => stale(o.staleness)[1]],
  ],
  'posix-shm': [
    ['name', (o: { name: string }) => printable(o.name)],
    ['owner', (o: { uid: number }) => userName(o.uid)],
    ['perms', (o: { mode: number }) => octal(o.mode)],
    ['bytes', (o: { size: number }) => String(o.size)],
    ['modified', (o: { lastModification: Date }) => time(o.lastModification)],
    ['creator', (o: { mark: { pid: number } | null }) => (o.mark ? String(o.mark.pid) : '-')],
    ['stale', (o: { staleness?: Staleness }) => stale(o.staleness)[0]],
    ['why', (o: { staleness?: Staleness }) => stale(o.staleness)[1]],
  ],
  'posix-semaphore': [
    ['name', (o: { name: string }) => printable(o.name)],
    ['owner', (o: { uid: number }) => userName(o.uid)],
    ['perms', (o: { mode: number }) => octal(o.mode)],
    ['modified', (o: { lastModification: Date }) => time(o.lastModification)],
    ['creator', (o: { mark: { pid: number } | null }) => (o.mark ? String(o.mark.pid) : '-')],
    ['stale', (o: { staleness?: Staleness }) => stale(o.staleness)[0]],
    ['why', (o: { staleness?: Staleness }) => stale(o.staleness)[1]],
  ],
  'posix-queue': [
    ['name', (o: { name: string }) => printable(o.name)],
    ['owner', (o: { uid: number }) => userName(o.uid)],
    ['perms', (o: { mode: number }) => octal(o.mode)],
    ['messages', (o: { messages: number | null }) => (o.messages === null ? '?' : String(o.messages))],
    ['bytes', (o: { bytes: number | null }) => (o.bytes === null ? '?' : String(o.bytes))],
    ['max messages', (o: { maxMessages: number | null }) => (o.maxMessages === null ? '?' : String(o.maxMessages))],
    ['message size', (o: { messageSize: number | null }) => (o.messageSize === null ? '?' : String(o.messageSize))],
    ['modified', (o: { lastModification: Date }) => time(o.lastModification)],
  ],
};

// The staleness verdict every object of these kinds gets, said once under the table instead of per row.
const KIND_NOTES: Partial<Record<IpcObjectType, string>> = {
  'sysv-queue': 'never provably stale: the kernel records no creator of a queue, nor who holds its id',
  'sysv-semaphores': 'never provably stale: the kernel records no creator of a set, nor who holds its id',
  'posix-queue': 'never provably stale: no creator is recorded, and the mqueue filesystem takes no mark',
};

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    `  ${cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`.trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

const LS_OPTIONS = {
  type: { type: 'string', short: 't', multiple: true },
  mine: { type: 'boolean' },
  stale: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function ls(args: string[]): number {
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof LS_OPTIONS }>>['values'];
  try {
    ({ values } = parseArgs({ args, options: LS_OPTIONS }));
  } catch (error) {
    process.stderr.write(`unipc ls: ${(error as Error).message}\n\n${LS_HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(LS_HELP);
    return 0;
  }
  const types = parseTypes(values.type);
  if (typeof types === 'string') {
    process.stderr.write(`unipc ls: ${types}\n`);
    return 2;
  }
  const { objects: found, unlisted } = survey({ type: types, mine: values.mine ?? false, staleness: true });
  const objects = values.stale ? found.filter((object) => object.staleness!.stale) : found;
  const notes = unlisted.map(({ type, reason }) => `${TITLES[type]}: not listed: ${reason}`);
  if (values.mine && types.some((type) => !type.startsWith('posix-s'))) {
    notes.push(
      "--mine: only POSIX shared memory and named semaphores can carry unipc's creator mark; System V objects and POSIX queues have no place for one",
    );
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(objects, null, 2)}\n`);
    for (const note of notes) process.stderr.write(`unipc ls: ${note}\n`);
    return 0;
  }
  const sections: string[] = [];
  for (const type of types) {
    if (unlisted.some((u) => u.type === type)) continue;
    const ofType = objects.filter((object) => object.type === type);
    const columns = COLUMNS[type];
    let section = `${TITLES[type]}: ${ofType.length}`;
    if (ofType.length > 0) {
      section += `\n${table(
        columns.map(([header]) => header),
        ofType.map((object) => columns.map(([, cell]) => (cell as (o: IpcObject) => string)(object))),
      )}`;
      if (KIND_NOTES[type] !== undefined) section += `\n  (${KIND_NOTES[type]})`;
    }
    sections.push(section);
  }
  process.stdout.write(`${sections.join('\n\n')}\n`);
  if (notes.length > 0) process.stdout.write(`\n${notes.join('\n')}\n`);
  return 0;
}
