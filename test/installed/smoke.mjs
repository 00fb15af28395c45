// The package test's smoke program through `import` (checks.cjs says what it does).
import { fileURLToPath } from 'node:url';
import * as unipc from 'unipc';
import checks from './checks.cjs';

await checks.run(unipc, fileURLToPath(import.meta.url), 'ESM');
