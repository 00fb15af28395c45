'use strict';
// The package test's smoke program through `require` (checks.cjs says what it does).
const unipc = require('unipc');

require('./checks.cjs').run(unipc, __filename, 'CommonJS');
