import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import canonicalize from 'canonicalize';
import type { CheckRequest } from '../../core/api/contract.js';
import { CancelledError, GradProofError, InputError, errorMessage } from '../../core/errors.js';
import type { PreparedCheck } from '../check/pipeline.js';
import { shellQuote } from '../subjects/process-connection.js';
import { projectRoot } from '../util/compiled-path.js';
import { sha256Hex } from '../util/hash.js';
import { VERSION } from '../version.js';
import { SHARD_FILE_PATTERN, decodeShardFile, settingsDigest, shardFileName } from './shard-file.js';

/**
 * A sharded check as a Slurm array job: GradProof writes the batch script (kept in the work
 * folder, submittable by hand), Slurm schedules, places and runs one array task per shard, and
 * the shard files land in the work folder for the merge. Slurm does the scheduling; GradProof
 * only submits the shards not yet computed and waits for sbatch to return.
 */

export const SCRIPT_NAME = 'gradproof-shards.sbatch';

/** The CLI that array tasks run: this installation's, by absolute path (a cluster shares it). */
export function gradproofCommand(): string[] {
  const root = projectRoot(path.dirname(fileURLToPath(import.meta.url)));
  return [process.execPath, path.join(root, 'bin', 'gradproof.js')];
}

/** Where a job's files go unless --workdir says: named by the request and the number of shards, so a rerun finds them. */
export function defaultWorkdir(request: CheckRequest, shards: number): string {
  const { workers: _workers, ...rest } = request;
  return path.resolve(`gradproof-slurm-${sha256Hex(canonicalize({ request: rest, shards })!).slice(0, 12)}`);
}

export interface ScriptOptions {
  /** `check` options that describe the job (subject, model, data, settings), as arguments. */
  checkArgs: readonly string[];
  shards: number;
  workers: number;
  workdir: string;
  /** Where the tasks start (relative paths in the options are read from here). */
  cwd: string;
  partition?: string;
  command?: readonly string[];
}

export function logPath(workdir: string, index: number, jobId: string): string {
  return path.join(workdir, 'logs', `shard-${index}-job${jobId}.log`);
}

export function sbatchScript(o: ScriptOptions): string {
  for (const p of [o.workdir, o.cwd])
    if (/\s/.test(p))
      throw new InputError(
        `${p}: Slurm's #SBATCH lines cannot hold a path with spaces; use --workdir and a folder without them`,
        'workdir',
      );
  const command = [
    ...(o.command ?? gradproofCommand()),
    'check',
    ...o.checkArgs,
    '--workers',
    String(o.workers),
    '--shard',
    `auto/${o.shards}`,
    '--out',
    `${o.workdir}/`,
  ];
  return [
    '#!/bin/bash',
    `# GradProof ${VERSION}: a sharded audit as a Slurm array job, one task per shard.`,
    '# Written by `gradproof slurm` and kept for the record. To run it by hand:',
    `#   sbatch ${path.join(o.workdir, SCRIPT_NAME)}`,
    `#   gradproof merge ${o.workdir}`,
    '#SBATCH --job-name=gradproof',
    `#SBATCH --array=0-${o.shards - 1}`,
    '#SBATCH --ntasks=1',
    `#SBATCH --cpus-per-task=${o.workers}`,
    `#SBATCH --chdir=${o.cwd}`,
    `#SBATCH --output=${path.join(o.workdir, 'logs', 'shard-%a-job%A.log')}`,
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    'set -eu',
    `exec ${command.map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
}

/** Which shards of the job the work folder already holds, whole and of this very job. */
export function computedShards(
  workdir: string,
  shards: number,
  prepared: Pick<PreparedCheck, 'provenance' | 'settings'>,
  kind: CheckRequest['implementation']['kind'],
): { done: Set<number>; stale: string[] } {
  const done = new Set<number>();
  const stale: string[] = [];
  if (!existsSync(workdir)) return { done, stale };
  const settings = settingsDigest(prepared.settings);
  const p = prepared.provenance;
  // Known before the subject starts: a subject's own model and θ₀ are checked by the merge.
  const expect: [string, string, string][] = [
    ['gradproof', VERSION, "GradProof's version"],
    ['settings', settings, 'settings'],
    ['implementation', p.implementation.sha256, 'implementation'],
    ['dataset', p.dataset.sha256, 'dataset'],
    ...(kind === 'builtin'
      ? ([
          ['model', p.model.sha256, 'model'],
          ['weights', p.weights.sha256, 'weights'],
        ] as [string, string, string][])
      : []),
  ];
  for (const f of readdirSync(workdir)) {
    const m = SHARD_FILE_PATTERN.exec(f);
    if (!m || Number(m[2]) !== shards) continue;
    const index = Number(m[1]);
    if (index >= shards) continue;
    try {
      const s = decodeShardFile(readFileSync(path.join(workdir, f)), f);
      const differs = expect
        .filter(([k, v]) => (s.job as unknown as Record<string, string>)[k] !== v)
        .map(([, , w]) => w);
      if (s.shard.index !== index || s.shard.count !== shards)
        stale.push(`${f}: it holds shard ${s.shard.index} of ${s.shard.count}`);
      else if (differs.length) stale.push(`${f}: a shard of another job (its ${differs.join(', ')} differ)`);
      else done.add(index);
    } catch (err) {
      stale.push(errorMessage(err));
    }
  }
  return { done, stale };
}

/** `0-3`, `1,5-7`: Slurm's array list for these indices. */
export function arrayList(indices: readonly number[]): string {
  const sorted = [...indices].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export interface SubmitHooks {
  signal?: AbortSignal;
  onSubmitted?: (jobId: string) => void;
  /** Called every few seconds while the job runs. */
  onTick?: () => void;
}

/**
 * `sbatch --wait --array=LIST SCRIPT`: resolves with the job id once every task has ended
 * (whatever their exit status: the shard files say which finished). Cancelling scancels the job.
 */
export async function submitAndWait(
  script: string,
  indices: readonly number[],
  hooks: SubmitHooks = {},
): Promise<string> {
  const args = ['--parsable', '--wait', `--array=${arrayList(indices)}`, script];
  let child: ChildProcess;
  try {
    child = spawn('sbatch', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new InputError(
      `sbatch could not be started (${errorMessage(err)}); run gradproof slurm where Slurm's client is installed`,
      'slurm',
    );
  }
  let stdout = '';
  let stderr = '';
  let jobId: string | undefined;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    const m = /^(\d+)/.exec(stdout);
    if (!jobId && m && stdout.includes('\n')) {
      jobId = m[1]!;
      hooks.onSubmitted?.(jobId);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const tick = setInterval(() => hooks.onTick?.(), 2000);
  const onAbort = (): void => {
    if (jobId) spawnSync('scancel', [jobId], { stdio: 'ignore', timeout: 30_000 });
    child.kill('SIGTERM');
  };
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const [code, error] = await new Promise<[number | null, Error | undefined]>((resolve) => {
      child.on('error', (err) => resolve([null, err]));
      child.on('close', (c) => resolve([c, undefined]));
    });
    hooks.onTick?.();
    if (hooks.signal?.aborted)
      throw new CancelledError(jobId ? `cancelled; Slurm job ${jobId} was cancelled (scancel)` : 'cancelled');
    if (error)
      throw new InputError(
        `sbatch could not be run (${(error as NodeJS.ErrnoException).code ?? error.message}); run gradproof slurm on a machine with Slurm's client (e.g. a login node)`,
        'slurm',
      );
    if (!jobId) {
      const why = stderr.trim().split('\n').filter(Boolean).pop() ?? `exit status ${code}`;
      throw new GradProofError(`Slurm refused the job: ${why.replace(/^sbatch: error: /, '')}`, 'input', 'slurm');
    }
    return jobId;
  } finally {
    clearInterval(tick);
    hooks.signal?.removeEventListener('abort', onAbort);
  }
}

/** The last lines of a shard's log, for the report of a failed shard. */
export function logTail(file: string, lines = 20): string {
  if (!existsSync(file)) return '(no log: the task did not start; see squeue/sacct for the job)';
  const text = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .slice(-lines);
  return text.length ? text.join('\n') : '(empty log)';
}

export function writeScript(workdir: string, text: string): string {
  mkdirSync(path.join(workdir, 'logs'), { recursive: true });
  const file = path.join(workdir, SCRIPT_NAME);
  writeFileSync(file, text, { mode: 0o755 });
  return file;
}

export function shardFile(workdir: string, index: number, shards: number): string {
  return path.join(workdir, shardFileName(index, shards));
}
