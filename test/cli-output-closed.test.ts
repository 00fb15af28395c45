// The unipc command (the built bin) when whoever reads its output stops early.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { pipe } from '../src/index.js';
import { root } from './helpers.js';

const bin = path.join(root, 'dist', 'esm', 'cli', 'main.js');

test('every command writing into a pipe whose reader is gone exits 0, with nothing on stderr but its notices', () => {
  for (const args of [
    ['bench', '--list'],
    ['bench', '--help'],
    ['ls'],
    ['ls', '--json'],
    ['ls', '--help'],
    ['rm', '--help'],
    ['--help'],
    ['--version'],
  ]) {
    // The reader is closed before the command starts, so that its first write already meets EPIPE
    // (its whole output would fit in the pipe, so a reader closed after a line may come too late).
    const { reader, writer } = pipe();
    reader.close();
    try {
      const result = spawnSync(process.execPath, [bin, ...args], {
        cwd: root,
        stdio: ['ignore', writer.fd, 'pipe'],
        encoding: 'utf8',
      });
      // `ls` says on stderr which kinds it cannot list here (POSIX queues, where no mqueue filesystem is
      // mounted): a notice of the machine's, not of the closed output.
      const notices = /^unipc ls: [^\n]*: not listed: [^\n]*\n/gm;
      assert.equal(result.stderr.replace(notices, ''), '', `unipc ${args.join(' ')}`);
      assert.deepEqual([result.status, result.signal], [0, null], `unipc ${args.join(' ')}`);
    } finally {
      writer.close();
    }
  }
});

test('unipc bench --list | head -1: one line, and the command ends quietly', () => {
  const result = spawnSync(
    'sh',
    ['-c', '{ "$0" "$1" bench --list; echo "unipc exited with $?" >&2; } | head -1', process.execPath, bin],
    { cwd: root, encoding: 'utf8' },
  );
  assert.equal(result.status, 0);
  assert.match(result.stdout, /^c\/pipe +C pipe\(\) read\/write\n$/);
  assert.equal(result.stderr, 'unipc exited with 0\n');
});
