#!/usr/bin/env node
// better-sqlite3 is a native module: `npm start` rebuilds it for Electron's ABI, and
// tests need it built for Node's. Rebuild for Node only when the current build does not load.
import { execSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
try {
  const Database = require('better-sqlite3');
  new Database(':memory:').close();
} catch (err) {
  if (
    !/NODE_MODULE_VERSION|was compiled against a different Node.js version|invalid ELF|Could not locate the bindings/.test(
      String(err),
    )
  )
    throw err;
  process.stderr.write('better-sqlite3 was built for another runtime (Electron?); rebuilding it for this Node…\n');
  execSync('npm rebuild better-sqlite3', { stdio: 'inherit' });
}
