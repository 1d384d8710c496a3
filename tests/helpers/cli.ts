import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
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

/**
 * Start a slow check (full evaluation of a 4,097-parameter MLP) and resolve once
 * its first progress line is on stderr: the sweep is then under way.
 */
export async function startSlowCheck(
  args: string[],
): Promise<{ child: ChildProcess; output: { stdout: string; stderr: string } }> {
  const child = spawn(
    process.execPath,
    [BIN, ...args, 'check', '--model', 'mlp:30,64,32,1', '--data', 'random:2048', '--evaluation', 'full', '--progress'],
    { cwd: ROOT },
  );
  const output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (output.stdout += d));
  await new Promise<void>((resolve) => {
    child.stderr!.on('data', (d) => {
      output.stderr += d;
      if (/entries/.test(output.stderr)) resolve();
    });
  });
  return { child, output };
}
