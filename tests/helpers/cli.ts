import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Every CLI run in the tests uses a throwaway database, never the user's. */
export const TEST_DB = path.join(mkdtempSync(path.join(tmpdir(), 'gp-db-')), 'test.db');

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/gradproof.js', import.meta.url));

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the built CLI as a user would (npm test builds dist/ first). */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', GRADPROOF_DB: TEST_DB, ...env },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function cliJson(args: string[]): { status: number | null; json: Record<string, any>; stderr: string } {
  const r = cli([...args, '--json']);
  return { status: r.status, json: JSON.parse(r.stdout), stderr: r.stderr };
}
