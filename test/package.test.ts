// The package as users get it: the built ESM and CommonJS entry points through the exports map.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { root } from './helpers.js';

const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

test('package.json: engines, exports map with types for import and require, a bin', () => {
  assert.equal(manifest.name, 'unipc');
  assert.equal(manifest.type, 'module');
  assert.equal(manifest.engines.node, '20.x || 22.x || 24.x || 26.x', 'the majors npm run test:node-matrix tests');
  const entry = manifest.exports['.'];
  for (const condition of ['import', 'require']) {
    for (const file of [entry[condition].types, entry[condition].default]) {
      assert.ok(fs.existsSync(path.join(root, file)), `${file} is built`);
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
