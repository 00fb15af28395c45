// npm run docs: the API reference (TypeDoc, typedoc.json) in docs/api/, from the TSDoc of what src/index.ts
// exports. Fails on any TypeDoc warning (an undocumented export or member, a {@link} that does not resolve,
// a type the reference mentions but does not include) and then on what TypeDoc does not check itself:
// every exported class and function must have
//   - an @example with a ```ts block that imports from 'unipc' (test/api-examples.test.ts type-checks
//     every such block against the current API), and
//   - a @see naming the man page(s) of what it wraps, e.g. `shm_open(3), mmap(2)`, or the file it
//     reads (/proc/sysvipc/…), except the few below, which make no system call and read no file.
//   node scripts/docs.mjs
import { Application, ReflectionKind, TSConfigReader, TypeDocReader } from 'typedoc';

/** Exports with no man page to name: they neither make a system call nor read a file. */
const NO_MAN_PAGE = new Map([
  ['AbortError', "an Error class of Node's shape; no system call"],
  ['mappingStats', "counts the addon's own registry of mapped regions; no system call"],
  ['waiterStats', "counts the addon's own waiter threads and waits; no system call"],
]);

// A man page reference, `mmap(2)` or `pthread_mutex_lock(3p)`, or a file or directory under /proc, /dev, /sys.
const MAN_PAGE = /\b[a-z_][a-z0-9_.]*\([1-8][a-z]*\)|\/(proc|dev|sys)\//;

const started = performance.now();
const app = await Application.bootstrapWithPlugins({}, [new TypeDocReader(), new TSConfigReader()]);
const strict = app.options.getValue('treatWarningsAsErrors');
const failed = () => app.logger.hasErrors() || (strict && app.logger.hasWarnings());

const project = await app.convert();
if (!project || failed()) finish('TypeDoc could not convert the project (see above)');
app.validate(project);
if (failed()) finish('TypeDoc found the problems above');

const problems = [];
for (const reflection of project.getReflectionsByKind(ReflectionKind.Class | ReflectionKind.Function)) {
  if (reflection.parent !== project) continue; // members are documented, not given examples
  const comment = reflection.kindOf(ReflectionKind.Function) ? reflection.signatures?.[0]?.comment : reflection.comment;
  const kind = reflection.kindOf(ReflectionKind.Class) ? 'class' : 'function';
  const name = `${kind} ${reflection.name}`;
  const text = (tag) => (comment?.getTags(tag) ?? []).map((t) => t.content.map((part) => part.text).join(''));
  const examples = text('@example');
  if (examples.length === 0) problems.push(`${name}: no @example`);
  else if (!examples.some((e) => /^```ts\n[\s\S]*from 'unipc'/m.test(e))) {
    problems.push(`${name}: no @example with a \`\`\`ts block that imports from 'unipc'`);
  }
  const sees = text('@see');
  if (NO_MAN_PAGE.has(reflection.name)) continue;
  if (sees.length === 0) problems.push(`${name}: no @see naming the man page(s) it wraps`);
  else if (!sees.some((see) => MAN_PAGE.test(see))) {
    problems.push(`${name}: its @see names no man page (such as mmap(2)) nor a file under /proc, /dev or /sys`);
  }
}
if (problems.length > 0) {
  finish(`every exported class and function needs an @example and a @see:\n  ${problems.join('\n  ')}`);
}

await app.generateOutputs(project);
if (failed()) finish('TypeDoc could not write the reference (see above)');
console.log(`docs: API reference in docs/api/ (${((performance.now() - started) / 1000).toFixed(1)} s)`);

function finish(problem) {
  console.error(`docs: ${problem}`);
  process.exit(1);
}
