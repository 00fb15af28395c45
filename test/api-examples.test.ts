// The API reference's examples cannot drift from the API: every ```ts block of every @example in src/
// is type-checked against the current sources, with the project's strict options, as a module of its
// own that imports from 'unipc' or a subpath of its exports map (mapped to src/index.ts, src/nats.ts) and
// may use top-level await. Not run: they are
// fragments (they name files, keys and peers that do not exist here). npm run docs checks that every
// exported class and function has one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { root } from './helpers.js';

interface Example {
  /** Where the block's first line of code is: src/….ts and its 1-based line. */
  file: string;
  line: number;
  code: string;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** The ```ts blocks inside the @example tags of the doc comments of one file. */
function examplesIn(file: string): Example[] {
  const examples: Example[] = [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  let inComment = false;
  let tag: string | undefined;
  let block: { line: number; code: string[] } | undefined;
  lines.forEach((raw, i) => {
    if (!inComment) {
      if (!/^\s*\/\*\*/.test(raw) || raw.includes('*/')) return;
      inComment = true;
      tag = undefined;
      return;
    }
    if (/^\s*\*\//.test(raw)) {
      if (block) throw new Error(`${file}:${block.line}: a \`\`\`ts block of an @example is not closed`);
      inComment = false;
      return;
    }
    const text = raw.replace(/^\s*\* ?/, '');
    if (block) {
      if (text.trimEnd() === '```') {
        examples.push({ file: path.relative(root, file), line: block.line, code: block.code.join('\n') });
        block = undefined;
      } else {
        block.code.push(text);
      }
      return;
    }
    const tagged = /^@(\w+)/.exec(text);
    if (tagged) tag = tagged[1];
    if (tag === 'example' && text.trimEnd() === '```ts') block = { line: i + 2, code: [] };
  });
  return examples;
}

test('every @example of the API type-checks against the current sources', () => {
  const examples = sourceFiles(path.join(root, 'src')).sort().flatMap(examplesIn);
  assert.ok(examples.length >= 30, `only ${examples.length} examples found: is the extraction broken?`);
  for (const { file, line, code } of examples) {
    assert.match(code, /from 'unipc(\/nats)?'/, `${file}:${line}: an example imports what it shows from 'unipc'`);
  }

  // The project's compiler options (tsconfig.base.json), as a program that checks and emits nothing.
  const base = ts.readConfigFile(path.join(root, 'tsconfig.base.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(base.config, ts.sys, root);
  Object.assign(options, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    noEmit: true,
    paths: { unipc: [path.join(root, 'src', 'index.ts')], 'unipc/nats': [path.join(root, 'src', 'nats.ts')] },
  });

  // Each example is a module in memory (.mts: ES module, top-level await allowed) under a directory of
  // the project that does not exist on disk, so nothing is written.
  const virtualDir = path.join(root, '.api-examples');
  const virtual = new Map<string, Example>();
  examples.forEach((example, i) => {
    const name = `${path.basename(example.file, '.ts')}-${example.line}-${i}.mts`;
    virtual.set(path.join(virtualDir, name), example);
  });
  const host = ts.createCompilerHost(options, true);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (name) => virtual.has(name) || fileExists.call(host, name);
  host.readFile = (name) => virtual.get(name)?.code ?? readFile.call(host, name);
  host.getSourceFile = (name, languageVersion, ...rest) => {
    const example = virtual.get(name);
    if (example) return ts.createSourceFile(name, example.code, languageVersion, true);
    return getSourceFile.call(host, name, languageVersion, ...rest);
  };
  const program = ts.createProgram({ rootNames: [...virtual.keys()], options, host });

  const failures = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map((d) =>
    ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  );
  for (const [name, example] of virtual) {
    const source = program.getSourceFile(name);
    assert.ok(source, `${example.file}:${example.line}: the example was not compiled`);
    for (const d of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
      const at = d.start === undefined ? 0 : source.getLineAndCharacterOfPosition(d.start).line;
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      failures.push(`${example.file}:${example.line + at}: TS${d.code}: ${message}`);
    }
  }
  assert.deepEqual(failures, [], `examples that do not type-check:\n  ${failures.join('\n  ')}`);
});
