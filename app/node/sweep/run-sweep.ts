import { availableParallelism } from 'node:os';
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { Piscina } from 'piscina';
import { type BuiltinJob, type CheckSettings, analyticGradient, finishCheck, noisePlan } from '../../core/check/gradient-check.js';
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

/**
 * Rough seconds to estimate one entry, to size shards so each takes ~0.1 s:
 * short enough for smooth progress, long enough that messaging is negligible.
 * (A full pass is ~2·m·Σ fan-in·units flops at ~0.5 GFLOP/s; an incremental one
 * touches a few rows of m examples.)
 */
export function entrySeconds(job: BuiltinJob, settings: CheckSettings): number {
  const m = job.data.X.cols;
  let fan = job.spec.inputs;
  let flops = 0;
  let widest = 0;
  for (const layer of job.spec.layers) {
    flops += 2 * m * fan * layer.units;
    widest = Math.max(widest, layer.units);
    fan = layer.units;
  }
  const perEvaluation = settings.evaluation === 'full' ? flops / 5e8 : (m * (widest + 40)) / 5e8;
  return perEvaluation * evaluationsPerEntry(settings.scheme);
}

export function planShards(parameters: number, workers: number, shardSize?: number, secondsPerEntry = 0): [number, number][] {
  const byCount = Math.ceil(parameters / (workers * 16));
  const byTime = secondsPerEntry > 0 ? Math.ceil(0.1 / secondsPerEntry) : byCount;
  const size = shardSize ?? Math.max(1, Math.min(4096, byCount, byTime));
  const shards: [number, number][] = [];
  for (let s = 0; s < parameters; s += size) shards.push([s, Math.min(parameters, s + size)]);
  return shards;
}

export interface EntrySweep {
  analytic: ReturnType<typeof analyticGradient>;
  /** Estimates of every entry (or of `sample`'s entries, in that order). */
  approx: Float64Array;
  kinks: Uint32Array;
  /** The noise sample re-estimated at √2·ε (empty for a sampled sweep). */
  wider: Float64Array;
}

/**
 * The perturbation sweep of a built-in subject across a pool of worker threads.
 * Each entry's estimate depends only on θ₀ and the entry, so the result is the
 * same bit for bit whatever the worker count or the order shards finish in.
 * With `sample`, only those entries are estimated (benchmarks on huge models).
 */
export async function sweepEntries(job: BuiltinJob, settings: CheckSettings, options: SweepOptions = {}, sample?: readonly number[]): Promise<EntrySweep> {
  const workers = Math.max(1, options.workers ?? defaultWorkers());
  // Workers boot while this thread computes the analytic gradient.
  const pool = new Piscina<ShardTask, ShardResult>({
    filename: compiledSibling(import.meta.url, 'sweep-worker'),
    minThreads: workers,
    maxThreads: workers,
    idleTimeout: 60_000,
  });
  let analytic: ReturnType<typeof analyticGradient>;
  try {
    analytic = analyticGradient(job);
  } catch (err) {
    await pool.destroy(); // never leave threads behind on bad input
    throw err;
  }
  const n = sample ? sample.length : analytic.net.parameterCount;
  const approx = new Float64Array(n);
  const kinks = new Uint32Array(n);
  const meter = new ProgressMeter(n, evaluationsPerEntry(settings.scheme));
  const shards = planShards(n, workers, options.shardSize, entrySeconds(job, settings));
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
  const abort = new AbortController();
  // Every in-flight task listens on this one signal.
  setMaxListeners(shards.length + 16, abort.signal);
  const onAbort = (): void => abort.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let done = 0;
  let wider: Float64Array = new Float64Array(0);
  try {
    if (options.signal?.aborted) throw new CancelledError();
    const plan = noisePlan(analytic.net.parameterCount, settings.epsilon);
    const noiseTask = sample ? undefined : pool.run({ ...base, epsilon: plan.epsilon, start: 0, end: 0, indices: plan.indices }, { signal: abort.signal });
    // Awaited together: a rejected noise task must never be left unhandled.
    const [noise] = await Promise.all([
      noiseTask,
      ...shards.map(async ([start, end]) => {
        const task: ShardTask = sample ? { ...base, start: 0, end: 0, indices: sample.slice(start, end) } : { ...base, start, end };
        const r = await pool.run(task, { signal: abort.signal });
        approx.set(r.approx, start);
        if (!sample) kinks.set(r.kinks, start);
        done += end - start;
        options.onProgress?.(meter.at(done));
      }),
    ]);
    if (noise) wider = noise.approx;
  } catch (err) {
    abort.abort();
    if (options.signal?.aborted) throw new CancelledError('sweep cancelled');
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await pool.destroy();
  }
  return { analytic, approx, kinks, wider };
}

/** The whole check of a built-in subject: the sweep on worker threads, then the verdicts. */
export async function runBuiltinSweep(job: BuiltinJob, settings: CheckSettings, options: SweepOptions = {}): Promise<CheckResult> {
  const s = await sweepEntries(job, settings, options);
  return finishCheck(settings, s.analytic, s.approx, s.kinks, s.wider);
}
