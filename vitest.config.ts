import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Worker-thread and child-process tests share two cores; files run one by one.
    fileParallelism: false,
    // No test touches the user's own database.
    env: { GRADPROOF_DB: path.join(mkdtempSync(path.join(tmpdir(), 'gp-vitest-')), 'gradproof.db') },
  },
});
