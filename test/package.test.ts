// The package as users get it: the built ESM and CommonJS entry points through the exports map.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { root, tempDir } from './helpers.js';

const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

test('package.json: engines, exports map with types for import and require, a bin', () => {
  assert.equal(manifest.name, 'unipc');
  assert.equal(manifest.type, 'module');
  assert.equal(manifest.engines.node, '20.x || 22.x || 24.x || 26.x', 'the majors npm run test:node-matrix tests');
  for (const entry of [manifest.exports['.'], manifest.exports['./nats']]) {
    for (const condition of ['import', 'require']) {
      for (const file of [entry[condition].types, entry[condition].default]) {
        assert.ok(fs.existsSync(path.join(root, file)), `${file} is built`);
      }
    }
  }
  assert.ok(fs.existsSync(path.join(root, manifest.bin.unipc)));
});

test('import and require both load the package, with the same API', async () => {
  const esm = await import('unipc');
  const cjs = createRequire(import.meta.url)('unipc');
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  for (const api of [esm, cjs]) {
    const { reader, writer } = api.pipe();
    writer.writeSync('both ways');
    assert.equal(reader.readSync().toString(), 'both ways');
    reader.close();
    writer.close();
    assert.throws(() => api.mkfifo('/'), api.IpcError);
  }
});

test('a CommonJS program using the package in a fresh process', async () => {
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      "const u = require('unipc'); const [a, b] = u.socketpair('seqpacket'); a.sendSync('cjs'); console.log(b.receiveSync().data.toString()); a.close(); b.close();",
    ],
    { cwd: root, encoding: 'utf8' },
  );
  assert.equal(out.trim(), 'cjs');
});

test('where no native binary fits, or the one found does not load, the import throws ERR_UNIPC_NO_BINARY saying what to do', async () => {
  const { spawnSync } = await import('node:child_process');
  using empty = tempDir('no-binary-');
  using broken = tempDir('broken-binary-');
  fs.mkdirSync(broken.file('build/Release'), { recursive: true });
  fs.writeFileSync(broken.file('build/Release/unipc.node'), 'not an ELF file');
  const load = (how: 'import' | 'require', env: Record<string, string>) =>
    spawnSync(
      process.execPath,
      how === 'import' ? ['--input-type=module', '-e', "await import('unipc')"] : ['-e', "require('unipc')"],
      { cwd: root, encoding: 'utf8', env: { ...process.env, ...env } },
    );
  for (const how of ['import', 'require'] as const) {
    // UNIPC_PREBUILD points node-gyp-build at a directory with no binary; LIBC is node-gyp-build's own override.
    const musl = load(how, { UNIPC_PREBUILD: empty.path, LIBC: 'musl' });
    assert.notEqual(musl.status, 0);
    for (const text of [
      "code: 'ERR_UNIPC_NO_BINARY'",
      `unipc: no native binary for this system: linux-${process.arch}, musl libc, Node ${process.version}`,
      `UNIPC_PREBUILD=${empty.path} is set`,
      'musl libc (Alpine) has no prebuilt binary',
      'apk add build-base python3 linux-headers',
      'npm rebuild unipc',
      'npm install-scripts approve unipc',
      'No native build was found', // node-gyp-build's message, as the cause
    ]) {
      assert.ok(musl.stderr.includes(text), `${how}: ${text} in\n${musl.stderr}`);
    }
    const loadFails = load(how, { UNIPC_PREBUILD: broken.path });
    assert.notEqual(loadFails.status, 0);
    for (const text of [
      "code: 'ERR_UNIPC_NO_BINARY'",
      `unipc: its native binary ${broken.file('build/Release/unipc.node')} does not load on this system`,
      'npm rebuild unipc',
    ]) {
      assert.ok(loadFails.stderr.includes(text), `${how}: ${text} in\n${loadFails.stderr}`);
    }
    assert.ok(!loadFails.stderr.includes('musl'), 'glibc is found');
  }
});
