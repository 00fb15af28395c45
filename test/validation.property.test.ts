// Property tests of argument validation: every public function and every option, given a value of the
// wrong type or out of range, must fail with Node's error shape (TypeError ERR_INVALID_ARG_TYPE,
// RangeError ERR_OUT_OF_RANGE, TypeError ERR_INVALID_ARG_VALUE) naming the argument, before any system
// call. Promise-returning functions reject; …Sync ones throw.
//
// Safety: no generated value is ever a valid path outside the scratch directory. Path slots get
// non-strings, or strings whose part before the first NUL lies in the scratch directory; fixtures are set
// up so that a call that slipped through validation settles at once (EOF, EPIPE, ENOENT) instead of
// blocking, and fast-check stops at the first failure (endOnFailure) so a slip is never repeated.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  connect,
  connectSync,
  FdHandle,
  type IpcError,
  listen,
  mkfifo,
  openFifo,
  openFifoSync,
  PipeReader,
  PipeWriter,
  pipe,
  socketpair,
  spawn,
  type UnixServer,
  UnixSocket,
  waiterStats,
} from '../src/index.js';
import { tempDir } from './helpers.js';
import {
  argumentChecks,
  hasFd,
  integerSlots,
  type Kind,
  MAX_INT32,
  MAX_TIMEOUT,
  expectNoSideEffects as noSideEffects,
  notArray,
  notBoolean,
  notBytes,
  notFdLike,
  notIntegerIn,
  notNumber,
  notOneOf,
  notOptions,
  notPathLike,
  notSignal,
  notString,
  pathsWithNul,
  type Slot,
  show,
  signalSlot,
  timeoutSlots,
} from './property.js';

const RUNS = 120;
const params = { numRuns: RUNS, endOnFailure: true };
const MAX_SIZE = 2 ** 30;
const NOT_THERE = '/nonexistent/unipc-validation-test/must-not-run';

// A call that slipped through validation may have returned descriptors or a child process: release()
// closes and kills them.
const { release, throwsArgError, rejectsArgError, optionProperties } = argumentChecks({ params });

const refSlot: Slot = { key: 'ref', kind: 'type', values: notBoolean };
const asyncWaitSlots = [signalSlot, ...timeoutSlots];

// ---------------------------------------------------------------------------------------------------
// Observing that nothing happened

/** The file status flags of a descriptor (O_NONBLOCK etc.), from /proc/self/fdinfo. */
function fdFlags(fd: number): number {
  const match = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  assert.ok(match, `no flags for fd ${fd}`);
  return Number.parseInt(match[1], 8);
}
const O_NONBLOCK = 0o4000;

/** The scratch directory, in which no invalid call may create anything. */
let scratch: ReturnType<typeof tempDir>;

/**
 * Inside a describe(): after each test, nothing was created in the scratch directory, no descriptor was
 * left open, no thread wait is pending, and `extra` (checks on the suite's fixtures) holds.
 */
const expectNoSideEffects = (extra?: () => void) => noSideEffects(() => scratch.path, { extra });

/** A path inside the scratch directory followed by a NUL and arbitrary text: if the NUL check were
 * missing, the kernel would see only the part in the scratch directory. */
const pathWithNul = pathsWithNul(() => scratch.path);

before(() => {
  scratch = tempDir('validation-');
});

after(() => {
  assert.deepEqual(fs.readdirSync(scratch.path), []);
  scratch[Symbol.dispose]();
});

// ---------------------------------------------------------------------------------------------------

describe('pipe(options)', () => {
  expectNoSideEffects();

  optionProperties('pipe()', 'sync', (options) => pipe(options as never), integerSlots('size', 1, MAX_INT32));

  test('exact messages', () => {
    assert.throws(() => pipe({ size: 'big' as never }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: `The "options.size" property must be of type number. Received type string ('big')`,
    });
    assert.throws(() => pipe({ size: 0 }), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
      message: 'The value of "options.size" is out of range. It must be >= 1 && <= 2147483647. Received 0',
    });
    assert.throws(() => pipe({ size: 4096.5 }), {
      code: 'ERR_OUT_OF_RANGE',
      message: 'The value of "options.size" is out of range. It must be an integer. Received 4096.5',
    });
    assert.throws(() => pipe(65536 as never), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "options" argument must be of type object. Received type number (65536)',
    });
    assert.throws(() => pipe(null as never), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "options" argument must be of type object. Received null',
    });
  });
});

describe('mkfifo(path, options)', () => {
  expectNoSideEffects();

  test('path of the wrong type (including undefined)', () => {
    fc.assert(
      fc.property(notPathLike, (v) => throwsArgError(() => mkfifo(v as never), 'type', 'path')),
      params,
    );
  });

  test('path with a NUL byte, as a string or an encoded file: URL', () => {
    fc.assert(
      fc.property(pathWithNul, (p) => throwsArgError(() => mkfifo(p), 'value', 'path')),
      params,
    );
    fc.assert(
      // (no '/' in the tail: an encoded '/' is Node's own ERR_INVALID_FILE_URL_PATH, checked below)
      fc.property(fc.stringMatching(/^[a-z0-9]{1,12}$/), fc.string({ maxLength: 10 }), (name, tail) =>
        throwsArgError(
          () => mkfifo(new URL(`file://${scratch.path}/${name}%00${encodeURIComponent(tail.replaceAll('/', ''))}`)),
          'value',
          'path',
        ),
      ),
      params,
    );
  });

  test('URLs that are not file: URLs', () => {
    const urls = fc
      .tuple(fc.constantFrom('http:', 'https:', 'ftp:', 'data:', 'blob:', 'ws:', 'unix:', 'fifo:'), fc.webPath())
      .map(([scheme, path]) => new URL(`${scheme}//localhost${path.startsWith('/') ? path : `/${path}`}`));
    fc.assert(
      fc.property(urls, (url) => throwsArgError(() => mkfifo(url), 'value', 'path')),
      params,
    );
  });

  optionProperties(
    'mkfifo()',
    'sync',
    (options) => mkfifo(scratch.file('fifo'), options as never),
    integerSlots('mode', 0, 0o7777),
  );

  test('exact messages', () => {
    assert.throws(() => mkfifo(42 as never), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "path" argument must be of type string or an instance of URL. Received type number (42)',
    });
    assert.throws(() => mkfifo(`${scratch.path}/a\0b`), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: `The argument 'path' must be a string or URL without null bytes. Received '${scratch.path}/a\\x00b'`,
    });
    assert.throws(() => mkfifo(scratch.file('fifo'), { mode: 0o10000 }), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
      message: 'The value of "options.mode" is out of range. It must be >= 0 && <= 4095. Received 4096',
    });
    assert.throws(() => mkfifo(new URL('https://example.com/fifo')), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /^The argument 'path' must be a file: URL\. Received /,
    });
    // file: URLs the kernel could not see as a local path: Node's own errors from fileURLToPath(), as in fs.
    assert.throws(() => mkfifo(new URL(`file://${scratch.path}/a%2Fb`)), {
      name: 'TypeError',
      code: 'ERR_INVALID_FILE_URL_PATH',
    });
    assert.throws(() => mkfifo(new URL(`file://elsewhere${scratch.path}/fifo`)), {
      name: 'TypeError',
      code: 'ERR_INVALID_FILE_URL_HOST',
    });
  });
});

describe('openFifo(path, access, options) and openFifoSync()', () => {
  expectNoSideEffects();

  // A path that does not exist: a call that slipped through fails with ENOENT at once.
  const missing = () => scratch.file('no-such-fifo');

  test('path of the wrong type', async () => {
    fc.assert(
      fc.property(notPathLike, (v) => throwsArgError(() => openFifoSync(v as never, 'r'), 'type', 'path')),
      params,
    );
    await fc.assert(
      fc.asyncProperty(notPathLike, (v) => rejectsArgError(() => openFifo(v as never, 'r'), 'type', 'path')),
      params,
    );
  });

  test('path with a NUL byte', async () => {
    fc.assert(
      fc.property(pathWithNul, fc.constantFrom('r', 'w' as const), (p, a) =>
        throwsArgError(() => openFifoSync(p, a), 'value', 'path'),
      ),
      params,
    );
    await fc.assert(
      fc.asyncProperty(pathWithNul, fc.constantFrom('r', 'w' as const), (p, a) =>
        rejectsArgError(() => openFifo(p, a), 'value', 'path'),
      ),
      params,
    );
  });

  test('access other than r or w (including undefined)', async () => {
    const bad = notOneOf(['r', 'w'], false);
    fc.assert(
      fc.property(bad, (v) => throwsArgError(() => openFifoSync(missing(), v as never), 'value', 'access')),
      params,
    );
    await fc.assert(
      fc.asyncProperty(bad, async (v) => {
        const pending = waiterStats().pending;
        const settled = rejectsArgError(() => openFifo(missing(), v as never), 'value', 'access');
        assert.equal(waiterStats().pending, pending, 'openFifo() started a thread wait before validating');
        await settled;
      }),
      params,
    );
  });

  optionProperties('openFifo()', 'async', (options) => openFifo(missing(), 'r', options as never), [
    ...asyncWaitSlots,
    refSlot,
  ]);
  optionProperties('openFifoSync()', 'sync', (options) => openFifoSync(missing(), 'w', options as never), timeoutSlots);

  test('exact messages', async () => {
    await assert.rejects(openFifo(missing(), 'rw' as never), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: "The argument 'access' must be one of: 'r', 'w'. Received 'rw'",
    });
    await assert.rejects(openFifo(missing(), 'r', { ref: 'no' as never }), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: `The "options.ref" property must be of type boolean. Received type string ('no')`,
    });
    await assert.rejects(openFifo(missing(), 'r', { signal: {} as never }), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "options.signal" property must be an instance of AbortSignal. Received an instance of Object',
    });
    assert.throws(() => openFifoSync(missing(), 'r', { timeout: -1 }), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
      message: 'The value of "options.timeout" is out of range. It must be >= 0 && <= 2147483647. Received -1',
    });
    assert.throws(() => openFifoSync(missing(), 'r', { timeout: NaN }), {
      code: 'ERR_OUT_OF_RANGE',
      message: /Received NaN$/,
    });
    assert.throws(() => openFifoSync(missing(), 'r', { timeout: Infinity }), {
      code: 'ERR_OUT_OF_RANGE',
      message: /Received Infinity$/,
    });
  });
});

describe('fromFd(fd): PipeReader, PipeWriter, UnixSocket', () => {
  expectNoSideEffects();

  const adopters = [
    ['PipeReader.fromFd', (fd: unknown) => PipeReader.fromFd(fd as never)],
    ['PipeWriter.fromFd', (fd: unknown) => PipeWriter.fromFd(fd as never)],
    ['UnixSocket.fromFd', (fd: unknown) => UnixSocket.fromFd(fd as never)],
  ] as const;

  for (const [label, adopt] of adopters) {
    test(`${label}: fd of the wrong type (including undefined)`, () => {
      fc.assert(
        fc.property(notFdLike, (v) => throwsArgError(() => adopt(v), 'type', 'fd')),
        params,
      );
    });

    test(`${label}: fd out of range or not an integer`, () => {
      fc.assert(
        fc.property(notIntegerIn(0, MAX_INT32), (v) => throwsArgError(() => adopt(v), 'range', 'fd')),
        params,
      );
    });

    // BUG (src/pipe.ts fromFd, src/socket.ts fromFd): fdOf() accepts { fd } objects, but its result is
    // thrown away and the object itself goes on to fs.fstatSync()/native.getsockoptInt().
    test(`${label}: an object with an fd property is the wrong type`, () => {
      using p = pipe();
      for (const value of [{ fd: p.reader.fd }, { fd: p.writer.fd }, p.reader, p.writer]) {
        throwsArgError(() => adopt(value), 'type', 'fd');
      }
    });
  }

  test('exact messages', () => {
    assert.throws(() => PipeReader.fromFd('3' as never), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: `The "fd" argument must be of type number. Received type string ('3')`,
    });
    assert.throws(() => UnixSocket.fromFd(-1), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
      message: 'The value of "fd" is out of range. It must be >= 0 && <= 2147483647. Received -1',
    });
    assert.throws(() => PipeWriter.fromFd(2 ** 53), {
      code: 'ERR_OUT_OF_RANGE',
      message: /It must be an integer|It must be >= 0/,
    });
  });
});

describe('PipeReader read() and readSync()', () => {
  // The writer is closed, so a read that slipped through validation returns null at once.
  let reader: PipeReader;
  before(() => {
    const p = pipe();
    p.writer.close();
    reader = p.reader;
  });
  after(() => reader.close());
  expectNoSideEffects(() => {
    assert.equal(fdFlags(reader.fd) & O_NONBLOCK, 0, 'an invalid read() set up the descriptor for waiting');
  });

  optionProperties('read()', 'async', (options) => reader.read(options as never), [
    ...asyncWaitSlots,
    ...integerSlots('maxSize', 1, MAX_SIZE),
  ]);
  optionProperties('readSync()', 'sync', (options) => reader.readSync(options as never), [
    ...timeoutSlots,
    ...integerSlots('maxSize', 1, MAX_SIZE),
  ]);

  test('exact messages', async () => {
    await assert.rejects(reader.read({ maxSize: 0 }), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
      message: 'The value of "options.maxSize" is out of range. It must be >= 1 && <= 1073741824. Received 0',
    });
    assert.throws(() => reader.readSync({ maxSize: 1.5 }), {
      code: 'ERR_OUT_OF_RANGE',
      message: 'The value of "options.maxSize" is out of range. It must be an integer. Received 1.5',
    });
    await assert.rejects(reader.read({ timeout: NaN }), {
      code: 'ERR_OUT_OF_RANGE',
      message: 'The value of "options.timeout" is out of range. It must be >= 0 && <= 2147483647. Received NaN',
    });
    assert.throws(() => reader.readSync({ maxSize: 2 ** 30 + 1 }), { code: 'ERR_OUT_OF_RANGE' });
  });

  test('the edges of the ranges are accepted', async () => {
    // With the writer closed these return the end of data at once.
    assert.equal(reader.readSync({ maxSize: 1, timeout: 0 }), null);
    assert.equal(reader.readSync({ maxSize: 65536, timeout: MAX_TIMEOUT }), null);
    assert.equal(reader.readSync({ timeout: 0.5, maxSize: undefined }), null);
    assert.equal(await reader.read({ maxSize: 1, timeout: -0, signal: undefined }), null);
    // read() has now made the descriptor non-blocking; the after() check must not see that.
    const p = pipe();
    p.writer.close();
    reader.close();
    reader = p.reader;
  });
});

describe('PipeWriter write() and writeSync()', () => {
  // The reader is closed, so a write that slipped through validation fails with EPIPE at once.
  let writer: PipeWriter;
  before(() => {
    const p = pipe();
    p.reader.close();
    writer = p.writer;
  });
  after(() => writer.close());
  expectNoSideEffects(() => {
    assert.equal(fdFlags(writer.fd) & O_NONBLOCK, 0, 'an invalid write() set up the descriptor for waiting');
  });

  test('data of the wrong type (including undefined)', async () => {
    fc.assert(
      fc.property(notBytes, (v) => throwsArgError(() => writer.writeSync(v as never), 'type', 'data')),
      params,
    );
    await fc.assert(
      fc.asyncProperty(notBytes, (v) => rejectsArgError(() => writer.write(v as never), 'type', 'data')),
      params,
    );
  });

  optionProperties('write()', 'async', (options) => writer.write('x', options as never), asyncWaitSlots);
  optionProperties('writeSync()', 'sync', (options) => writer.writeSync('x', options as never), timeoutSlots);

  test('exact messages', async () => {
    await assert.rejects(writer.write(123 as never), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message:
        'The "data" argument must be of type string or an instance of Buffer, TypedArray, DataView or ArrayBuffer. Received type number (123)',
    });
    // data is checked before the options
    assert.throws(() => writer.writeSync(null as never, { timeout: -1 }), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: /^The "data" argument/,
    });
  });
});

describe('spawn(command, args, { fds })', () => {
  // The command does not exist, so even a call that slipped through could not run anything.
  let p: ReturnType<typeof pipe>;
  before(() => {
    p = pipe();
  });
  after(() => p.close());
  expectNoSideEffects(() => {
    assert.equal(p.reader.closed, false, 'spawn() closed an end although it failed');
  });

  const spawnWith = (options: unknown) => spawn(NOT_THERE, [], options as never);

  test('options of the wrong type', () => {
    fc.assert(
      fc.property(notOptions, (v) => throwsArgError(() => spawnWith(v), 'type', 'options')),
      params,
    );
  });

  test('options.fds not an array', () => {
    fc.assert(
      fc.property(notArray, (v) => throwsArgError(() => spawnWith({ fds: v }), 'type', 'options.fds')),
      params,
    );
  });

  test('options.fds not an array: rejected before spawning (whatever the code)', () => {
    fc.assert(
      fc.property(notArray, (v) => {
        let result: unknown;
        try {
          result = spawnWith({ fds: v });
        } catch (error) {
          assert.ok(error instanceof TypeError, show(error));
          assert.match((error as unknown as { code: string }).code, /^ERR_INVALID_ARG_(TYPE|VALUE)$/);
          assert.match(error.message, /'options\.fds'|"options\.fds"/);
          return;
        }
        release(result);
        assert.fail(`spawn() accepted fds ${show(v)}`);
      }),
      params,
    );
  });

  // One bad entry at a random position among good ones (plain numbers: nothing is prepared or closed).
  const entries = <T>(bad: fc.Arbitrary<T>) =>
    fc.tuple(
      fc.array(fc.constantFrom(0, 1, 2), { maxLength: 4 }),
      bad,
      fc.array(fc.constantFrom(0, 1, 2), { maxLength: 4 }),
    );

  test('an entry of options.fds of the wrong type', () => {
    fc.assert(
      fc.property(entries(notFdLike), ([head, bad, tail]) =>
        throwsArgError(() => spawnWith({ fds: [...head, bad, ...tail] }), 'type', `options.fds[${head.length}]`),
      ),
      params,
    );
  });

  test('an entry of options.fds out of range', () => {
    fc.assert(
      fc.property(entries(notIntegerIn(0, MAX_INT32)), ([head, bad, tail]) =>
        throwsArgError(() => spawnWith({ fds: [...head, bad, ...tail] }), 'range', `options.fds[${head.length}]`),
      ),
      params,
    );
  });

  test('an { fd } entry whose fd is invalid', () => {
    fc.assert(
      fc.property(entries(notNumber(false)), ([head, bad, tail]) =>
        throwsArgError(
          () => spawnWith({ fds: [...head, { fd: bad }, ...tail] }),
          'type',
          `options.fds[${head.length}]`,
        ),
      ),
      params,
    );
    fc.assert(
      fc.property(entries(notIntegerIn(0, MAX_INT32)), ([head, bad, tail]) =>
        throwsArgError(
          () => spawnWith({ fds: [...head, { fd: bad }, ...tail] }),
          'range',
          `options.fds[${head.length}]`,
        ),
      ),
      params,
    );
  });

  test('an unipc object before a bad entry is neither touched nor closed', async () => {
    const q = pipe();
    try {
      // An async read makes the descriptor non-blocking; spawn() makes it blocking again for the child.
      await assert.rejects(q.reader.read({ timeout: 1 }), { code: 'ETIMEDOUT' });
      assert.equal(fdFlags(q.reader.fd) & O_NONBLOCK, O_NONBLOCK);
      throwsArgError(() => spawnWith({ fds: [q.reader, 'bad'] }), 'type', 'options.fds[1]');
      assert.equal(q.reader.closed, false);
      assert.equal(
        fdFlags(q.reader.fd) & O_NONBLOCK,
        O_NONBLOCK,
        'a failed spawn() changed the flags of a descriptor it was given',
      );
    } finally {
      q.close();
    }
  });

  test('command of the wrong type (including undefined), empty or with a NUL byte', () => {
    fc.assert(
      fc.property(notString(false), (v) =>
        throwsArgError(() => spawn(v as never, [], { fds: [p.reader] }), 'type', 'command', 'must be of type string'),
      ),
      params,
    );
    const nul = fc
      .tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }))
      .map(([a, b]) => `${NOT_THERE}${a}\0${b}`);
    fc.assert(
      fc.property(fc.oneof(fc.constant(''), nul), (v) =>
        throwsArgError(() => spawn(v, [], { fds: [p.reader] }), 'value', 'command'),
      ),
      params,
    );
  });

  test('args not an array, or an entry that is no string or has a NUL byte', () => {
    fc.assert(
      fc.property(notArray, (v) =>
        throwsArgError(() => spawn(NOT_THERE, v as never, { fds: [p.reader] }), 'type', 'args', 'must be an array'),
      ),
      params,
    );
    const strings = () =>
      fc.array(
        fc.string({ maxLength: 8 }).map((a) => a.replaceAll('\0', '')),
        { maxLength: 4 },
      );
    fc.assert(
      fc.property(strings(), notString(false), strings(), (head, bad, tail) =>
        throwsArgError(
          () => spawn(NOT_THERE, [...head, bad, ...tail] as never, { fds: [p.reader] }),
          'type',
          `args[${head.length}]`,
        ),
      ),
      params,
    );
    fc.assert(
      fc.property(strings(), fc.string({ maxLength: 8 }), strings(), (head, a, tail) =>
        throwsArgError(
          () => spawn(NOT_THERE, [...head, `${a}\0`, ...tail], { fds: [p.reader] }),
          'value',
          `args[${head.length}]`,
        ),
      ),
      params,
    );
  });

  test("an option Node's child_process.spawn() refuses leaves the ends open, with their flags", async () => {
    const q = pipe();
    try {
      await assert.rejects(q.reader.read({ timeout: 1 }), { code: 'ETIMEDOUT' }); // makes it non-blocking
      const refused = [
        { cwd: 42 },
        { env: { A: 'x\0y' } },
        { uid: 'root' },
        { shell: 3 },
        { argv0: {} },
        { detached: 'yes' },
      ];
      for (const options of refused) {
        assert.throws(
          () => spawnWith({ ...options, fds: [q.reader, q.writer] }),
          (error: Error & { code?: string }) => {
            assert.ok(error instanceof TypeError || error instanceof RangeError, show(error));
            assert.match(String(error.code), /^ERR_INVALID_ARG_(TYPE|VALUE)$|^ERR_OUT_OF_RANGE$/, show(error));
            return true;
          },
        );
        assert.equal(q.reader.closed, false);
        assert.equal(q.writer.closed, false);
        assert.equal(
          fdFlags(q.reader.fd) & O_NONBLOCK,
          O_NONBLOCK,
          `a refused spawn(${show(options)}) changed the flags of a descriptor it was given`,
        );
      }
    } finally {
      q.close();
    }
  });

  test('exact messages', () => {
    assert.throws(() => spawn(42 as never), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "command" argument must be of type string. Received type number (42)',
    });
    assert.throws(() => spawn(NOT_THERE, ['a', 7 as never]), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "args[1]" argument must be of type string. Received type number (7)',
    });
    assert.throws(() => spawn(''), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: "The argument 'command' cannot be empty. Received ''",
    });
    assert.throws(() => spawnWith({ fds: [p.reader, -3] }), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
      message: 'The value of "options.fds[1]" is out of range. It must be >= 0 && <= 2147483647. Received -3',
    });
    assert.throws(() => spawnWith({ fds: ['3'] }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: `The "options.fds[0]" property must be of type number. Received type string ('3')`,
    });
  });
});

describe('socketpair(type)', () => {
  expectNoSideEffects();

  test('type other than stream, dgram or seqpacket', () => {
    fc.assert(
      fc.property(notOneOf(['stream', 'dgram', 'seqpacket'], true), (v) =>
        throwsArgError(() => socketpair(v as never), 'value', 'type'),
      ),
      params,
    );
  });

  test('exact messages', () => {
    assert.throws(() => socketpair('bogus' as never), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: "The argument 'type' must be one of: 'stream', 'dgram', 'seqpacket'. Received 'bogus'",
    });
    assert.throws(() => socketpair(null as never), { code: 'ERR_INVALID_ARG_VALUE', message: /Received null$/ });
    assert.throws(() => socketpair(1 as never), { code: 'ERR_INVALID_ARG_VALUE', message: /Received 1$/ });
  });
});

describe('UnixSocket send(), sendSync(), receive(), receiveSync(), shutdown()', () => {
  // Each socket's peer is closed: a send that slipped through fails with EPIPE, a receive returns null.
  const sockets: Record<'stream' | 'seqpacket', UnixSocket> = {} as never;
  let p: ReturnType<typeof pipe>;
  before(() => {
    for (const type of ['stream', 'seqpacket'] as const) {
      const [a, b] = socketpair(type);
      b.close();
      sockets[type] = a;
    }
    p = pipe();
  });
  after(() => {
    for (const socket of Object.values(sockets)) socket.close();
    p.close();
  });
  expectNoSideEffects(() => {
    for (const socket of Object.values(sockets)) {
      assert.equal(fdFlags(socket.fd) & O_NONBLOCK, 0, 'an invalid call set up the socket for waiting');
    }
  });

  const fdsSlots = (): Slot[] => [{ key: 'fds', kind: 'type', values: notArray }];

  for (const type of ['stream', 'seqpacket'] as const) {
    const socket = () => sockets[type];

    test(`${type}: data of the wrong type`, async () => {
      fc.assert(
        fc.property(notBytes, (v) => throwsArgError(() => socket().sendSync(v as never), 'type', 'data')),
        params,
      );
      await fc.assert(
        fc.asyncProperty(notBytes, (v) => rejectsArgError(() => socket().send(v as never), 'type', 'data')),
        params,
      );
    });

    optionProperties(`${type} send()`, 'async', (options) => socket().send('x', options as never), [
      ...asyncWaitSlots,
      ...fdsSlots(),
    ]);
    optionProperties(`${type} sendSync()`, 'sync', (options) => socket().sendSync('x', options as never), [
      ...timeoutSlots,
      ...fdsSlots(),
    ]);
    optionProperties(`${type} receive()`, 'async', (options) => socket().receive(options as never), [
      ...asyncWaitSlots,
      ...integerSlots('maxSize', 1, MAX_SIZE),
    ]);
    optionProperties(`${type} receiveSync()`, 'sync', (options) => socket().receiveSync(options as never), [
      ...timeoutSlots,
      ...integerSlots('maxSize', 1, MAX_SIZE),
    ]);

    test(`${type}: a bad entry of options.fds`, async () => {
      const good = () => fc.array(fc.constantFrom<unknown>(0, 1, 2, p.reader, p.writer, { fd: 0 }), { maxLength: 4 });
      const cases: Array<[Kind, fc.Arbitrary<unknown>]> = [
        ['type', notFdLike],
        ['range', notIntegerIn(0, MAX_INT32)],
        ['type', notNumber(false).map((fd) => ({ fd }))],
        ['range', notIntegerIn(0, MAX_INT32).map((fd) => ({ fd }))],
      ];
      for (const [kind, bad] of cases) {
        fc.assert(
          fc.property(good(), bad, good(), (head, v, tail) =>
            throwsArgError(
              () => socket().sendSync('x', { fds: [...head, v, ...tail] as never }),
              kind,
              `options.fds[${head.length}]`,
            ),
          ),
          params,
        );
        await fc.assert(
          fc.asyncProperty(good(), bad, good(), (head, v, tail) =>
            rejectsArgError(
              () => socket().send('x', { fds: [...head, v, ...tail] as never }),
              kind,
              `options.fds[${head.length}]`,
            ),
          ),
          params,
        );
      }
    });

    test(`${type}: more than 253 descriptors`, async () => {
      const tooMany = fc.integer({ min: 254, max: 2000 }).map((n) => new Array<number>(n).fill(0));
      fc.assert(
        fc.property(tooMany, (fds) => throwsArgError(() => socket().sendSync('x', { fds }), 'value', 'options.fds')),
        { ...params, numRuns: 20 },
      );
      await fc.assert(
        fc.asyncProperty(tooMany, (fds) => rejectsArgError(() => socket().send('x', { fds }), 'value', 'options.fds')),
        { ...params, numRuns: 20 },
      );
    });

    test(`${type}: shutdown(how) other than read, write or both`, () => {
      fc.assert(
        fc.property(notOneOf(['read', 'write', 'both'], true), (v) =>
          throwsArgError(() => socket().shutdown(v as never), 'value', 'how'),
        ),
        params,
      );
    });

    test(`${type}: messages() validates its options on the first next()`, async () => {
      await fc.assert(
        fc.asyncProperty(notIntegerIn(1, MAX_SIZE), (v) =>
          rejectsArgError(() => socket().messages({ maxSize: v }).next(), 'range', 'options.maxSize'),
        ),
        params,
      );
      await fc.assert(
        fc.asyncProperty(notSignal, (v) =>
          rejectsArgError(
            () =>
              socket()
                .messages({ signal: v as never })
                .next(),
            'type',
            'options.signal',
          ),
        ),
        params,
      );
    });
  }

  test('exact messages', async () => {
    const stream = sockets.stream;
    await assert.rejects(stream.send('', { fds: [0] }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: /^The argument 'data' must not be empty when descriptors are sent on a 'stream' socket\. Received /,
    });
    assert.throws(() => stream.sendSync(new Uint8Array(0), { fds: [p.reader] }), { code: 'ERR_INVALID_ARG_VALUE' });
    await assert.rejects(stream.send('x', { fds: 3 as never }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "options.fds" property must be an array. Received type number (3)',
    });
    assert.throws(() => stream.sendSync('x', { fds: new Array(254).fill(0) }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /^The property 'options\.fds' must hold at most 253 descriptors\./,
    });
    assert.throws(() => stream.shutdown('sideways' as never), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: "The argument 'how' must be one of: 'read', 'write', 'both'. Received 'sideways'",
    });
    await assert.rejects(sockets.seqpacket.receive({ maxSize: -1 }), {
      code: 'ERR_OUT_OF_RANGE',
      message: /"options\.maxSize".*Received -1$/,
    });
  });
});

describe('listen(path, options), connect(path, options), connectSync()', () => {
  expectNoSideEffects();

  // A socket path in the scratch directory that does not exist: a connect that slipped through fails
  // with ENOENT; a listen that slipped through leaves a file the after() check finds.
  const target = () => scratch.file('s.sock');

  test('path of the wrong type (URLs included: socket paths are strings)', async () => {
    const bad = notString(false);
    fc.assert(
      fc.property(bad, (v) => throwsArgError(() => listen(v as never), 'type', 'path')),
      params,
    );
    fc.assert(
      fc.property(bad, (v) => throwsArgError(() => connectSync(v as never), 'type', 'path')),
      params,
    );
    await fc.assert(
      fc.asyncProperty(bad, (v) => rejectsArgError(() => connect(v as never), 'type', 'path')),
      params,
    );
  });

  // Invalid socket paths: empty, a NUL inside a filesystem path or an abstract name, too long.
  const tooLongFile = fc
    .string({ unit: 'binary', minLength: 1, maxLength: 200 })
    .map((s) => `${scratch.path}/${s.replace(/[\0/]/g, '_')}`)
    .map((s) => s + 'x'.repeat(Math.max(0, 108 - Buffer.byteLength(s))));
  const tooLongAbstract = fc
    .string({ unit: 'binary', minLength: 1, maxLength: 200 })
    .map((s) => `\0unipc-validation-${s.replace(/\0/g, '_')}`)
    .map((s) => s + 'x'.repeat(Math.max(0, 109 - Buffer.byteLength(s))));
  const abstractWithNul = fc
    .tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }))
    .map(([a, b]) => `\0unipc-validation-${a.replace(/\0/g, '')}\0${b}`);
  const badSocketPath = fc.oneof(fc.constant(''), pathWithNul, abstractWithNul, tooLongFile, tooLongAbstract);

  test('invalid socket paths', async () => {
    fc.assert(
      fc.property(badSocketPath, (v) => throwsArgError(() => listen(v), 'value', 'path')),
      params,
    );
    fc.assert(
      fc.property(badSocketPath, (v) => throwsArgError(() => connectSync(v), 'value', 'path')),
      params,
    );
    await fc.assert(
      fc.asyncProperty(badSocketPath, (v) => rejectsArgError(() => connect(v), 'value', 'path')),
      params,
    );
  });

  const connectionType = (): Slot => ({
    key: 'type',
    kind: 'value',
    values: notOneOf(['stream', 'seqpacket', 'dgram'], true),
  });
  const dgramType: Slot = {
    key: 'type',
    kind: 'value',
    values: fc.constant('dgram'),
    note: "'dgram' (no connections)",
  };

  optionProperties('listen()', 'sync', (options) => listen(target(), options as never), [
    connectionType(),
    dgramType,
    ...integerSlots('backlog', 0, MAX_INT32),
    ...integerSlots('mode', 0, 0o7777),
  ]);
  optionProperties('connect()', 'async', (options) => connect(target(), options as never), [
    connectionType(),
    dgramType,
    ...asyncWaitSlots,
  ]);
  optionProperties('connectSync()', 'sync', (options) => connectSync(target(), options as never), [
    connectionType(),
    dgramType,
    ...timeoutSlots,
  ]);

  test('the longest paths are accepted, one byte more is not', () => {
    const dir = tempDir('len-');
    try {
      const base = `${dir.path}/`;
      const longest = base + 'p'.repeat(107 - Buffer.byteLength(base));
      assert.equal(Buffer.byteLength(longest), 107);
      const server = listen(longest);
      const client = connectSync(longest);
      client.close();
      server.close();
      assert.throws(() => listen(`${longest}q`), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARG_VALUE',
        message: /^The argument 'path' must be at most 107 bytes long\. Received /,
      });
      const abstract = `\0unipc-v-${process.pid}-`;
      const longestAbstract = abstract + 'a'.repeat(108 - abstract.length);
      const abstractServer = listen(longestAbstract);
      abstractServer.close();
      assert.throws(() => connectSync(`${longestAbstract}b`), {
        code: 'ERR_INVALID_ARG_VALUE',
        message: /must be at most 108 bytes long/,
      });
      assert.deepEqual(fs.readdirSync(dir.path), []);
    } finally {
      dir[Symbol.dispose]();
    }
  });

  test('exact messages', async () => {
    assert.throws(() => listen(target(), { type: 'dgram' }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: "The property 'options.type' must be one of: 'stream', 'seqpacket'. Received 'dgram'",
    });
    assert.throws(() => listen(target(), { backlog: -1 }), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
      message: 'The value of "options.backlog" is out of range. It must be >= 0 && <= 2147483647. Received -1',
    });
    assert.throws(() => listen(''), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: `The argument 'path' must be a non-empty path without null bytes, or '\\0' and an abstract name. Received ''`,
    });
    assert.throws(() => listen(new URL(`file://${target()}`) as never), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "path" argument must be of type string. Received an instance of URL',
    });
    await assert.rejects(connect(target(), { timeout: 'soon' as never }), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: `The "options.timeout" property must be of type number. Received type string ('soon')`,
    });
  });
});

describe('UnixServer accept() and acceptSync()', () => {
  let dir: ReturnType<typeof tempDir>;
  // accept() on a server nobody connects to: a call that slipped through stays pending (caught by
  // rejectsArgError's deadline). acceptSync() on a server with one queued connection: a call that slipped
  // through returns at once (and endOnFailure stops there).
  let server: UnixServer;
  let syncServer: UnixServer;
  let queued: UnixSocket;
  before(() => {
    dir = tempDir('accept-');
    server = listen(dir.file('a.sock'));
    syncServer = listen(dir.file('b.sock'));
    queued = connectSync(dir.file('b.sock'));
  });
  expectNoSideEffects(() => {
    assert.deepEqual(fs.readdirSync(dir.path).sort(), ['a.sock', 'b.sock']);
  });
  after(() => {
    queued.close();
    server.close();
    syncServer.close();
    assert.deepEqual(fs.readdirSync(dir.path), []);
    dir[Symbol.dispose]();
  });

  optionProperties('accept()', 'async', (options) => server.accept(options as never), asyncWaitSlots);
  optionProperties('acceptSync()', 'sync', (options) => syncServer.acceptSync(options as never), timeoutSlots);

  test('connections() validates its options on the first next()', async () => {
    await fc.assert(
      fc.asyncProperty(notSignal, (v) =>
        rejectsArgError(() => server.connections({ signal: v as never }).next(), 'type', 'options.signal'),
      ),
      params,
    );
  });

  test('exact messages', async () => {
    await assert.rejects(server.accept({ timeout: 2 ** 31 }), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
      message: 'The value of "options.timeout" is out of range. It must be >= 0 && <= 2147483647. Received 2147483648',
    });
    assert.throws(() => syncServer.acceptSync([] as never), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "options" argument must be of type object. Received an instance of Array',
    });
  });
});

describe('validated values are the values used', () => {
  // An options object with a getter: valid when validated, garbage when read again. Node reads each
  // option once; here the timeout is read again after validation and the garbage reaches poll(2).
  test('readSync() uses the timeout it validated', () => {
    const p = pipe();
    try {
      let reads = 0;
      const options = {
        get timeout(): number {
          reads += 1;
          return (reads === 1 ? 30 : 'garbage') as number;
        },
      };
      assert.throws(
        () => p.reader.readSync(options),
        (error: IpcError) => {
          assert.equal(error.code, 'ETIMEDOUT');
          assert.equal(error.message, 'ETIMEDOUT: timed out after 30 ms, read');
          return true;
        },
      );
      assert.equal(reads, 1, 'options.timeout was read more than once');
    } finally {
      p.close();
    }
  });
});

describe('exported constructors (documented @internal, but reachable)', () => {
  // new PipeReader(fd) takes the number unchecked; the native layer reads it with Int32Value(), which
  // wraps 2**32 + n to n, so close() closes descriptor n. Only a descriptor of this test is at stake.
  test('new PipeReader(fd) refuses a descriptor number out of range', () => {
    const fd = fs.openSync('/dev/null', 'r');
    try {
      throwsArgError(() => new PipeReader(2 ** 32 + fd), 'range', 'fd');
    } finally {
      try {
        fs.closeSync(fd);
      } catch {
        // closed by the unvalidated object
      }
    }
  });
});

// FdHandle is exported for instanceof checks; make sure a test of fds entries never hands one over
// as "invalid" by accident.
test('the invalid-descriptor arbitrary never yields a descriptor-like value', () => {
  fc.assert(
    fc.property(notFdLike, (v) => {
      assert.ok(!(v instanceof FdHandle));
      assert.ok(typeof v !== 'number' && !hasFd(v));
    }),
    params,
  );
});
