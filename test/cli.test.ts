// The unipc command, as installed (the built bin).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { root } from './helpers.js';

const bin = path.join(root, 'dist', 'esm', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });

test('--version prints the package version; --help and no command print usage', () => {
  const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  assert.equal(run('--version').stdout.trim(), version);
  assert.equal(run('-v').stdout.trim(), version);
  for (const args of [['--help'], ['-h'], ['help'], []]) {
    const result = run(...args);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /Usage: unipc <command>/);
    assert.match(result.stdout, /tour/);
  }
});

test('a command ends while its stdin is a pipe still open (as execFile and CI steps leave it)', async () => {
  for (const args of [['--version'], ['ls', '--type', 'sysv-shm', '--json']]) {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
    const [code] = await once(child, 'exit');
    child.stdin.end();
    assert.equal(code, 0, `unipc ${args.join(' ')}`);
  }
});

test('an unknown command or option fails with usage on stderr and exit code 2', () => {
  for (const args of [['bogus'], ['--bogus']]) {
    const result = run(...args);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /^unipc: /);
    assert.match(result.stderr, /Usage:/);
  }
});

test('the tour runs every step between real processes and passes', () => {
  const result = run('tour');
  assert.equal(result.status, 0, result.stdout + result.stderr);
  for (const mechanism of [
    'pipe(): parent → child',
    'pipe(): child → parent',
    'pipe() as Node streams',
    'mkfifo(): unrelated processes',
    "socketpair('stream')",
    "socketpair('seqpacket')",
    "socketpair('dgram')",
    'SCM_RIGHTS: an open file',
    'SCM_RIGHTS: a pipe end',
    'listen()/connect() by path',
    'mmap() of a file, shared',
    'memfd handed to a child',
    'shm_open() by name',
    'shmget()/shmat() (System V)',
    'shared counter, no lock',
    'shared counter, Mutex',
    'robust Mutex after kill -9',
    'semop() SEM_UNDO after kill -9',
    'sem_open() named, Node ↔ C',
    'msgrcv() by type (System V)',
    'mq_send() priorities (POSIX)',
    'Channel (shared-memory ring)',
  ]) {
    assert.ok(result.stdout.includes(mechanism), `the tour shows ${mechanism}`);
  }
  assert.match(result.stdout, /All 22 steps passed\./);
  assert.doesNotMatch(result.stdout, /FAILED/);
  assert.doesNotMatch(result.stdout, /…/, 'no cell cut short: long ones wrap');
  assert.ok(result.stdout.includes('markConsistent()'));
});
