// Runs the test suite once with the native addon built under AddressSanitizer and UndefinedBehaviorSanitizer,
// and fails if any process of the run reported anything.
//   node scripts/test-asan.mjs [test files...]        (npm run test:asan)
//
// - The instrumented addon is built in build/asan/ from a copy of binding.gyp with the sanitizer flags
//   added (scripts/addon-build.mjs), and loaded through node-gyp-build's UNIPC_PREBUILD override.
// - Node itself is not instrumented, so the ASan runtime must be the first library of every process:
//   LD_PRELOAD of gcc's libasan. Every process the tests start inherits it: Node peers (which then load
//   the instrumented addon too), and C peers, gcc, python3 and the util-linux tools, which are not
//   instrumented but get ASan's checked allocator and its interceptors of libc.
// - Reports go to files (log_path) in a directory of this run rather than to stderr, so that a report
//   from a child whose output a test swallows is still seen; the run fails if any file appears.
// - Leaks are checked for the addon only. LeakSanitizer reports at every process's exit; Node leaks by
//   design (V8 heap pages, OpenSSL state: a few KiB per process), and so do gcc's compiler passes.
//   Suppressions cannot narrow the check to the addon — they drop a leak whose stack matches anywhere,
//   and every allocation of the addon is called from Node's frames — so leaks do not fail a process
//   (exitcode=0: ASan's own errors then exit 0 too, but their report files fail the run all the same),
//   and this script keeps the leaks with a frame in unipc.node, ignoring the rest.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildAddonIn, root } from './addon-build.mjs';

const buildDir = path.join(root, 'build', 'asan');
const sanitizers = '-fsanitize=address,undefined';

function buildInstrumentedAddon() {
  // -g and frame pointers for readable stacks; -fno-sanitize-recover so that undefined behaviour stops
  // the process like an ASan report does, instead of scrolling past in a log.
  const flags = [sanitizers, '-fno-sanitize-recover=all', '-fno-omit-frame-pointer', '-g'];
  try {
    process.stdout.write(buildAddonIn(buildDir, { flags, ldflags: [sanitizers] }));
  } catch (error) {
    console.error(`test:asan: ${error.message}`);
    process.exit(1);
  }
}

const asanRuntime = spawnSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim();
if (!path.isAbsolute(asanRuntime) || !fs.existsSync(asanRuntime)) {
  console.error(`test:asan: gcc has no AddressSanitizer runtime (libasan.so: ${JSON.stringify(asanRuntime)})`);
  process.exit(1);
}

const started = Date.now();
buildInstrumentedAddon();
const builtIn = Date.now() - started;

const reports = fs.mkdtempSync(path.join(os.tmpdir(), 'unipc-asan-'));
fs.chmodSync(reports, 0o1777); // peers that run as another user write their reports here too
const env = {
  ...process.env,
  UNIPC_PREBUILD: buildDir,
  LD_PRELOAD: asanRuntime,
  ASAN_OPTIONS: [
    `log_path=${reports}/asan`,
    'detect_leaks=1',
    'exitcode=0',
    // The addon's fault guard installs SIGSEGV/SIGBUS handlers that chain to the previous ones.
    'allow_user_segv_handler=1',
    // Dying of SIGBUS is documented behaviour (a write a full filesystem cannot take, kill -BUS) that the
    // tests check for, as in C; ASan would turn it into a report and exit status 1. SIGSEGV stays ASan's.
    'handle_sigbus=0',
    'strict_init_order=1',
    'detect_stack_use_after_return=1',
  ].join(':'),
  UBSAN_OPTIONS: `log_path=${reports}/ubsan:print_stacktrace=1`,
  // Everything runs several times slower (examples.test.ts, 14 examples of two processes each, takes
  // over the normal 2 minutes per file).
  UNIPC_TEST_TIMEOUT_MS: '600000',
};
const tests = spawnSync(process.execPath, [path.join(root, 'scripts', 'test.mjs'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env,
});

// A report is a sequence of blocks separated by blank lines; a leak report's blocks each start with
// "Direct leak" or "Indirect leak" and list the allocation's stack. A leak is the addon's when the code
// that called the allocator is: the first frame below the sanitizer's own (and libc's or libstdc++'s) is
// in the addon, which is built with -g, so its frames name their sources (native/, node-addon-api, the
// C++ headers inlined there). A frame further down does not make it the addon's: V8 allocates inside
// napi_create_function when the addon's Init calls it, and keeps such objects until exit.
const outside = /libsanitizer|\b__interceptor_|\/libc\.so|\/libstdc\+\+\.so/;
const addonFrame = /\/native\/|node-addon-api|unipc\.node|\/usr\/include\/c\+\+\//;
const ours = (block) => {
  const frames = block.split('\n').filter((line) => /^\s+#\d+ /.test(line));
  const caller = frames.find((frame) => !outside.test(frame));
  return caller !== undefined && addonFrame.test(caller);
};
let found = 0;
let nodeLeaks = 0;
for (const file of fs.readdirSync(reports)) {
  const text = fs.readFileSync(path.join(reports, file), 'utf8');
  if (!text.includes('ERROR: LeakSanitizer')) {
    found++;
    console.error(`\ntest:asan: report ${file}:\n${text}`);
    continue;
  }
  const leaks = text.split(/\n\s*\n/).filter((block) => /^(Direct|Indirect) leak/m.test(block));
  const addon = leaks.filter(ours);
  nodeLeaks += leaks.length - addon.length;
  if (addon.length > 0) {
    found++;
    console.error(`\ntest:asan: leaks of the addon in ${file}:\n${addon.join('\n\n')}`);
  }
}
fs.rmSync(reports, { recursive: true, force: true });
const minutes = ((Date.now() - started) / 60000).toFixed(1);
console.log(
  `\ntest:asan: ${found} sanitizer report(s) about the addon (${nodeLeaks} leaks of Node and other programs ignored); ` +
    `instrumented build ${(builtIn / 1000).toFixed(0)} s, whole run ${minutes} min`,
);
process.exitCode = tests.status === 0 && found === 0 ? 0 : 1;
