import { availableParallelism } from 'node:os';
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { Piscina } from 'piscina';
import { type BuiltinJob, type CheckSettings, analyticGradient, finishCheck } from '../../core/check/gradient-check.js';
import type { CheckResult } from '../../core/check/result.js';
import { evaluationsPerEntry } from '../../core/check/schemes.js';
import { compiledSibling } from '../util/compiled-path.js';
import { CancelledError } from '../util/errors.js';
import { type Progress, ProgressMeter } from './progress.js';
import { type ShardResult, type ShardTask, shareFloat64 } from './shard-task.js';

export interface SweepOptions {
  /** Worker threads; default: the number of cores. */
  workers?: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Entries per task; default chosen so each worker gets ~16 tasks (for balance and progress). */
  shardSize?: number;
}

export function defaultWorkers(): number {
  return availableParallelism();
}

export function planShards(parameters: number, workers: number, shardSize?: number): [number, number][] {
  const size = shardSize ?? Math.max(1, Math.min(4096, Math.ceil(parameters / (workers * 16))));
  const shards: [number, number][] = [];
  for (let s = 0; s < parameters; s += size) shards.push([s, Math.min(parameters, s + size)]);
  return shards;
}

/**
 * The perturbation sweep of a built-in subject across a pool of worker threads.
 * Each entry's estimate depends only on θ₀ and the entry, so the result is the
 * same bit for bit whatever the worker count or the order shards finish in.
 */
export async function runBuiltinSweep(job: BuiltinJob, settings: CheckSettings, options: SweepOptions = {}): Promise<CheckResult> {
  const workers = Math.max(1, options.workers ?? defaultWorkers());
  const analytic = analyticGradient(job);
  const n = analytic.net.parameterCount;
  const approx = new Float64Array(n);
  const kinks = new Uint32Array(n);
  const meter = new ProgressMeter(n, evaluationsPerEntry(settings.scheme));
  const shards = planShards(n, workers, options.shardSize);
  const base = {
    jobKey: randomUUID(),
    spec: job.spec,
    theta: shareFloat64(job.theta),
    X: { rows: job.data.X.rows, cols: job.data.X.cols, data: shareFloat64(job.data.X.data) },
    Y: { rows: job.data.Y.rows, cols: job.data.Y.cols, data: shareFloat64(job.data.Y.data) },
    evaluation: settings.evaluation,
    scheme: settings.scheme,
    epsilon: settings.epsilon,
  };
  const pool = new Piscina<ShardTask, ShardResult>({
    filename: compiledSibling(import.meta.url, 'sweep-worker'),
    minThreads: workers,
    maxThreads: workers,
    idleTimeout: 60_000,
  });
  const abort = new AbortController();
  // Every in-flight task listens on this one signal.
  setMaxListeners(shards.length + 16, abort.signal);
  const onAbort = (): void => abort.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let done = 0;
  try {
    if (options.signal?.aborted) throw new CancelledError();
    await Promise.all(
      shards.map(async ([start, end]) => {
        const r = await pool.run({ ...base, start, end }, { signal: abort.signal });
        approx.set(r.approx, r.start);
        kinks.set(r.kinks, r.start);
        done += end - start;
        options.onProgress?.(meter.at(done));
      }),
    );
  } catch (err) {
    abort.abort();
    if (options.signal?.aborted) throw new CancelledError('sweep cancelled');
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await pool.destroy();
  }
  options.onProgress?.(meter.at(n, 'noise'));
  return finishCheck(job, settings, analytic, approx, kinks);
}
