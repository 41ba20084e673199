#!/usr/bin/env node
// The `medprov` executable (package.json "bin"): runs the TypeScript CLI through tsx, as the
// repository's other entry points do (`npm run gateway`). Usage: `medprov --help`.
'use strict';
require('tsx/cjs');
const { main } = require('./main.ts');
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`medprov: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 5;
  },
);
