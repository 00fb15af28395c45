// The README and docs/ are documentation a newcomer copies from: every code block in them must work.
//
// Each fenced block of README.md and docs/**/*.md is one of:
// - a program (```ts, typescript, mts, js, javascript, mjs): written to a file of its own, its
//   `from 'unipc'` pointed at this checkout's src/index.ts, and run as a real process (node --import
//   tsx) that must exit with 0. A `// prints: TEXT` comment says a line of its output (`…` stands for any
//   text), and a ```text output block right after it says several, in order. The TypeScript ones are also
//   type-checked together, since a misspelt option would run without complaint (options objects are not
//   closed);
// - unipc commands (```sh, shell, bash, console, every line `unipc …`): run with src/cli/main.ts;
// - text (```text): output and layouts, never run;
// - anything else — a fragment, a C or Python snippet needing a peer, an install command — must be marked
//   `<!-- not run: why -->` on the line before its fence, or this test fails. Marked blocks show as skipped.
//
// Programs run where TMPDIR is a directory of their own, which must be empty again when they exit (but
// for tsx's cache): what a program makes it removes, as the leak check of the runner also demands of the
// IPC objects they create (names carry process.pid; each program removes its objects in a finally).
//
// Also: README.md stays under 2,500 words (every whitespace-separated word, code blocks and comments
// included), and every relative link and image of these files reaches an existing file and heading.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { root, tempDir } from './helpers.js';

const run = promisify(execFile);

const README_WORD_LIMIT = 2500;
const PROGRAM_TIMEOUT_MS = 60_000;
const PROGRAM_LANGUAGES = new Set(['ts', 'typescript', 'mts', 'js', 'javascript', 'mjs']);
const TYPESCRIPT = new Set(['ts', 'typescript', 'mts']);
const SHELL_LANGUAGES = new Set(['sh', 'shell', 'bash', 'console']);
const NOT_RUN = /^\s*<!--\s*not run:\s*(\S.*?)\s*-->\s*$/;
const PRINTS = /\/\/ prints: (.*)$/;

// The loader every program (and every process it spawns with process.execArgv) runs under, by URL, so
// that it resolves from any directory.
const TSX = import.meta.resolve('tsx');
const INDEX = path.join(root, 'src', 'index.ts');
const CLI = path.join(root, 'src', 'cli', 'main.ts');

interface Block {
  /** The file, relative to the root, and the line of the opening fence (1-based). */
  file: string;
  line: number;
  language: string;
  info: string;
  code: string;
  notRun: string | undefined;
  /** The lines of a ```text output block that follows it directly. */
  output: string[] | undefined;
}

function markdownFiles(): string[] {
  const docs = fs
    .readdirSync(path.join(root, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => path.join('docs', name))
    .sort();
  return ['README.md', ...docs];
}

function blocksOf(file: string): Block[] {
  const lines = fs.readFileSync(path.join(root, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  let previous: Block | undefined; // the last block, while nothing but blank lines came after it
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]!);
    if (!open) {
      if (lines[i]!.trim() !== '') previous = undefined;
      continue;
    }
    const indent = open[1]!;
    const fence = open[2]!;
    const info = open[3]!;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length; i++) {
      const line = lines[i]!;
      const close = /^\s*(`{3,}|~{3,})\s*$/.exec(line);
      if (close && close[1]![0] === fence[0] && close[1]!.length >= fence.length) break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    assert.ok(i < lines.length, `${file}:${start + 1}: a code block that is never closed`);
    const language = info.split(/\s+/)[0]!.toLowerCase();
    if (info.trim() === 'text output') {
      assert.ok(previous, `${file}:${start + 1}: a \`text output\` block must follow the block whose output it is`);
      previous.output = body.filter((line) => line.trim() !== '');
      previous = undefined;
      continue;
    }
    let before = start - 1;
    while (before >= 0 && lines[before]!.trim() === '') before--;
    const marker = before >= 0 ? NOT_RUN.exec(lines[before]!) : null;
    const block: Block = {
      file,
      line: start + 1,
      language,
      info: info.trim(),
      code: `${body.join('\n')}\n`,
      notRun: marker?.[1],
      output: undefined,
    };
    blocks.push(block);
    previous = block;
  }
  return blocks;
}

const files = markdownFiles();
const blocks = files.flatMap(blocksOf);

// The command lines of a shell block, when every one is a unipc command; undefined otherwise.
function unipcCommands(code: string): string[][] | undefined {
  const commands: string[][] = [];
  for (const raw of code.split('\n')) {
    const line = raw
      .replace(/^\s*\$\s*/, '')
      .replace(/\s#.*$/, '')
      .trim();
    if (line === '' || line.startsWith('#')) continue;
    const words = line.split(/\s+/);
    if (words[0] !== 'unipc' || /["'`$|&;<>()\\]/.test(line)) return undefined;
    commands.push(words.slice(1));
  }
  return commands.length > 0 ? commands : undefined;
}

function kindOf(block: Block): 'program' | 'commands' | 'text' | 'other' {
  if (PROGRAM_LANGUAGES.has(block.language)) return 'program';
  if (SHELL_LANGUAGES.has(block.language) && unipcCommands(block.code)) return 'commands';
  if (block.language === 'text') return 'text';
  return 'other';
}

/** The program as it runs here: `unipc` is this checkout's source. */
function programSource(block: Block): string {
  return block.code.replace(/(from\s+|import\s*\(\s*|require\s*\(\s*)(['"])unipc\2/g, (_, prefix: string) => {
    return `${prefix}${JSON.stringify(INDEX)}`;
  });
}

function programName(block: Block): string {
  const stem = block.file.replace(/\.md$/, '').replace(/[/\\]/g, '-');
  return `${stem}-line-${block.line}.${TYPESCRIPT.has(block.language) ? 'mts' : 'mjs'}`;
}

const where = (block: Block) => `${block.file}:${block.line}`;

// `…` in an expected line stands for any text.
function linePattern(expected: string): RegExp {
  const parts = expected
    .trim()
    .split('…')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`);
}

function assertOutput(block: Block, stdout: string): void {
  const lines = stdout.split('\n').map((line) => line.trimEnd());
  for (const source of block.code.split('\n')) {
    const prints = PRINTS.exec(source);
    if (!prints) continue;
    const pattern = linePattern(prints[1]!);
    assert.ok(
      lines.some((line) => pattern.test(line)),
      `${where(block)}: the program should print a line ${JSON.stringify(prints[1])}; it printed:\n${stdout}`,
    );
  }
  if (block.output) {
    let next = 0;
    for (const expected of block.output) {
      const pattern = linePattern(expected);
      while (next < lines.length && !pattern.test(lines[next]!)) next++;
      assert.ok(
        next < lines.length,
        `${where(block)}: the output block says ${JSON.stringify(expected)} (after the lines before it); ` +
          `the program printed:\n${stdout}`,
      );
      next++;
    }
  }
}

async function runProgram(block: Block): Promise<void> {
  using dir = tempDir('docs-');
  const file = path.join(dir.path, programName(block));
  fs.writeFileSync(file, programSource(block));
  const tmp = path.join(dir.path, 'tmp');
  fs.mkdirSync(tmp);
  let result: { stdout: string; stderr: string };
  try {
    const running = run(process.execPath, ['--import', TSX, file], {
      cwd: tmp,
      timeout: PROGRAM_TIMEOUT_MS,
      env: { ...process.env, TMPDIR: tmp },
    });
    running.child.stdin?.end(); // nothing to read: a program waiting for input must not hang here
    result = await running;
  } catch (error) {
    const { code, signal, stdout, stderr } = error as {
      code: unknown;
      signal: unknown;
      stdout: string;
      stderr: string;
    };
    assert.fail(
      `${where(block)}: the program failed (exit code ${code}, signal ${signal})\n` +
        `--- stdout\n${stdout}--- stderr\n${stderr}`,
    );
  }
  assertOutput(block, result.stdout);
  const left = fs.readdirSync(tmp).filter((name) => !name.startsWith('tsx-'));
  assert.deepEqual(left, [], `${where(block)}: the program left files in its TMPDIR`);
}

async function runCommands(block: Block): Promise<void> {
  using dir = tempDir('docs-');
  for (const args of unipcCommands(block.code)!) {
    try {
      const running = run(process.execPath, ['--import', TSX, CLI, ...args], {
        cwd: dir.path,
        timeout: PROGRAM_TIMEOUT_MS,
        env: { ...process.env, TMPDIR: dir.path },
      });
      // stdin at its end, as from a terminal's ^D: every unipc command reads stdin as long as it is open
      // (src/cli/main.ts loads the tour's peer, which listens on it), and would not exit before.
      running.child.stdin?.end();
      await running;
    } catch (error) {
      const { code, stdout, stderr } = error as { code: unknown; stdout: string; stderr: string };
      assert.fail(
        `${where(block)}: unipc ${args.join(' ')} exited with ${code}\n--- stdout\n${stdout}--- stderr\n${stderr}`,
      );
    }
  }
}

const suiteOptions = { concurrency: Math.max(2, os.availableParallelism()), timeout: 15 * 60_000 };
describe('code blocks of README.md and docs/', suiteOptions, () => {
  for (const block of blocks) {
    const kind = kindOf(block);
    const name = `${where(block)} (${block.info || 'no language'})`;
    if (block.notRun !== undefined) {
      test(name, { skip: `not run: ${block.notRun}` }, () => {});
    } else if (kind === 'program') {
      test(name, () => runProgram(block));
    } else if (kind === 'commands') {
      test(name, () => runCommands(block));
    } else if (kind === 'other') {
      test(name, () => {
        assert.fail(
          `${where(block)}: a \`${block.info || 'no language'}\` block that is neither run nor marked: make it a ` +
            'complete program or unipc commands, or put `<!-- not run: why -->` on the line before its fence',
        );
      });
    }
  }
});

test('the TypeScript programs of README.md and docs/ type-check', { timeout: 120_000 }, async () => {
  const programs = blocks.filter(
    (b) => b.notRun === undefined && kindOf(b) === 'program' && TYPESCRIPT.has(b.language),
  );
  assert.ok(programs.length > 0);
  using dir = tempDir('docs-types-');
  for (const block of programs) fs.writeFileSync(path.join(dir.path, programName(block)), programSource(block));
  const base = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.base.json'), 'utf8')) as {
    compilerOptions: Record<string, unknown>;
  };
  const config = {
    compilerOptions: {
      ...base.compilerOptions,
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      noEmit: true,
      allowImportingTsExtensions: true,
      typeRoots: [path.join(root, 'node_modules', '@types')],
    },
    include: ['*.mts'],
  };
  fs.writeFileSync(path.join(dir.path, 'tsconfig.json'), JSON.stringify(config));
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    await run(process.execPath, [tsc, '-p', dir.path], { cwd: dir.path, timeout: 110_000 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout: string; stderr: string };
    // Name the document lines, not the temporary files.
    const report = `${stdout}${stderr}`.replace(
      /\S*?([\w.-]+)-line-(\d+)\.mts\((\d+),(\d+)\)/g,
      (_, stem, line, row) => {
        const doc = files.find((f) => f.replace(/\.md$/, '').replace(/[/\\]/g, '-') === stem) ?? stem;
        return `${doc}:${Number(line) + Number(row)} (line ${row} of the block at ${line})`;
      },
    );
    assert.fail(`the programs of the docs do not type-check:\n${report}`);
  }
});

test(`README.md is under ${README_WORD_LIMIT} words (all of it: prose, code, comments)`, () => {
  const words = fs.readFileSync(path.join(root, 'README.md'), 'utf8').split(/\s+/).filter(Boolean).length;
  assert.ok(words < README_WORD_LIMIT, `README.md has ${words} words; move detail to docs/`);
});

test('the README has programs to run, and this test finds them', () => {
  const programs = blocks.filter((b) => b.file === 'README.md' && b.notRun === undefined && kindOf(b) === 'program');
  assert.ok(programs.length >= 10, `only ${programs.length} programs found in README.md`);
});

// GitHub's anchor for a heading: its text, lowercased, without punctuation, spaces as hyphens.
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fence: string | undefined;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence === undefined ? marker : undefined;
      continue;
    }
    if (fence !== undefined) continue;
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

test('every relative link and image of README.md and docs/ reaches a file and heading', () => {
  const broken: string[] = [];
  for (const file of files) {
    const full = path.join(root, file);
    // Links outside code: fenced blocks and code spans are dropped first.
    const text = fs
      .readFileSync(full, 'utf8')
      .replace(/^[ \t]*(`{3,}|~{3,})[^\n]*\n[\s\S]*?^[ \t]*\1[ \t]*$/gm, '')
      .replace(/`[^`\n]*`/g, '');
    for (const match of text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = match[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [pathPart, anchor] = target.split('#') as [string, string | undefined];
      const resolved = pathPart === '' ? full : path.resolve(path.dirname(full), decodeURIComponent(pathPart));
      if (!fs.existsSync(resolved)) {
        broken.push(`${file}: ${target} (no ${path.relative(root, resolved)})`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor)) {
        broken.push(`${file}: ${target} (no heading with that anchor in ${path.relative(root, resolved)})`);
      }
    }
  }
  assert.deepEqual(broken, []);
});
