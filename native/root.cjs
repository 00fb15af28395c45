'use strict';
// The package's root directory, for locating the compiled addon. A CommonJS file so that both the ESM
// and the CommonJS builds of src/native.ts find it the same way (through the "#root" import map).
module.exports = require('node:path').join(__dirname, '..');
