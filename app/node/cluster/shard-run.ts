import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { CheckRequest } from '../../core/api/contract.js';
import type { Progress } from '../../core/check/progress.js';
import { runShard } from '../../core/check/shards.js';
import { InputError } from '../../core/errors.js';
import { prepareCheck } from '../check/pipeline.js';
import { sha256Hex } from '../util/hash.js';
import { encodeShardFile, jobIdentity, shardFileName } from './shard-file.js';

/** The cluster engines' array index variables, in the order they are read for `--shard auto/N`. */
export const INDEX_VARIABLES = ['SLURM_ARRAY_TASK_ID', 'JOB_COMPLETION_INDEX'] as const;

/** `--shard K/N`, or `auto/N` with K from the engine's environment. */
export function parseShardSpec(spec: string, env: NodeJS.ProcessEnv = process.env): { index: number; count: number } {
  const m = /^\s*(\d+|auto)\s*\/\s*(\d+)\s*$/.exec(spec);
  if (!m)
    throw new InputError(
      `--shard ${spec}: give K/N, the shard's number from 0 and the number of shards (e.g. --shard 0/4), or auto/N on a cluster`,
      'shard',
    );
  const count = Number(m[2]);
  if (count < 1) throw new InputError(`--shard ${spec}: N must be at least 1`, 'shard');
  let index: number;
  if (m[1] === 'auto') {
    const name = INDEX_VARIABLES.find((v) => env[v] !== undefined && env[v] !== '');
    if (!name)
      throw new InputError(
        `--shard auto/${count}: neither SLURM_ARRAY_TASK_ID (a Slurm array job) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; outside a cluster give the shard's number, e.g. --shard 0/${count}`,
        'shard',
      );
    const text = env[name]!;
    if (!/^\d+$/.test(text.trim()))
      throw new InputError(`--shard auto/${count}: ${name} is "${text}", not a whole number`, 'shard');
    index = Number(text);
    if (index >= count)
      throw new InputError(
        `--shard auto/${count}: ${name} is ${index}, but the shards are numbered 0 to ${count - 1}; submit the array as 0-${count - 1}`,
        'shard',
      );
  } else {
    index = Number(m[1]);
    if (index >= count)
      throw new InputError(`--shard ${spec}: K must be a whole number from 0 to ${count - 1}`, 'shard');
  }
  return { index, count };
}

/** `--out`: a file, or a folder (existing, or written with a trailing slash) that gets shard-K-of-N.json. */
export function shardOutPath(out: string, index: number, count: number): string {
  const isDir = /[/\\]$/.test(out) || (existsSync(out) && statSync(out).isDirectory());
  return path.resolve(isDir ? path.join(out, shardFileName(index, count)) : out);
}

export interface ShardSummary {
  file: string;
  sha256: string;
  job: string;
  index: number;
  count: number;
  start: number;
  end: number;
  parameters: number;
  evaluations: number;
  seconds: number;
}

/**
 * Shard `index` of `count` of the check a request describes: the subject resolved and started
 * as `gradproof check` would, only the shard's range swept, and its shard file written (whole
 * or not at all: a shard killed midway leaves no file to be mistaken for a finished one).
 */
export async function runShardToFile(
  request: CheckRequest,
  shard: { index: number; count: number },
  out: string,
  hooks: { signal?: AbortSignal; onProgress?: (p: Progress) => void } = {},
): Promise<ShardSummary> {
  if (request.mode !== 'full')
    throw new InputError('--shard splits a full sweep: drop --mode fast (fast mode is quick on one machine)', 'mode');
  const file = shardOutPath(out, shard.index, shard.count);
  mkdirSync(path.dirname(file), { recursive: true });
  const prepared = prepareCheck(request, hooks.signal);
  const t0 = performance.now();
  const est = await prepared.estimator();
  let text: string;
  let summary: Omit<ShardSummary, 'file' | 'sha256'>;
  try {
    const output = await runShard(
      est,
      prepared.settings,
      shard.index,
      shard.count,
      prepared.hooks({
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const provenance = prepared.finalProvenance(est);
    const job = jobIdentity(provenance, prepared.settings);
    text = encodeShardFile({
      job,
      shard: { ...shard, ...output.range },
      request,
      settings: prepared.settings,
      provenance,
      context: { ...prepared.context, seconds },
      defects: prepared.defects,
      knowsKinks: est.knowsKinks,
      groups: [...est.groups],
      theta0: est.theta0,
      output,
      host: hostname(),
      createdAt: new Date().toISOString(),
    });
    summary = {
      job: job.id,
      ...shard,
      ...output.range,
      parameters: est.theta0.length,
      evaluations: output.evaluations,
      seconds,
    };
  } finally {
    await est.close();
  }
  const partial = `${file}.partial-${process.pid}`;
  writeFileSync(partial, text);
  renameSync(partial, file);
  return { file, sha256: sha256Hex(text), ...summary };
}
