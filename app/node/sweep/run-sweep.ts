import { availableParallelism } from 'node:os';
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { Piscina } from 'piscina';
import type { DirectionEvaluation } from '../../core/check/fast-mode.js';
import {
  DEFAULT_DIRECTIONS,
  DEFAULT_DIRECTION_SEED,
  escalatedIndices,
  fastPlan,
  finishFast,
  judgeFast,
} from '../../core/check/fast-check.js';
import {
  type AnalyticGradient,
  type BuiltinJob,
  type CheckSettings,
  completeCheck,
  finishCheck,
  forwardAt,
  noisePlan,
} from '../../core/check/gradient-check.js';
import type { ForwardCache, Network } from '../../core/model/network.js';
import type { CheckResult } from '../../core/check/result.js';
import { evaluationsPerEntry } from '../../core/check/schemes.js';
import { relativeDifference } from '../../core/check/metrics.js';
import { compiledSibling } from '../util/compiled-path.js';
import { type Progress, ProgressMeter } from './progress.js';
import { type JobContext, type SweepTask, type SweepTaskResult, shareFloat64 } from './shard-task.js';
import { installWasmProducts } from './wasm-kernels.js';
import { CancelledError } from '../../core/errors.js';

export interface SweepOptions {
  /** Worker threads; default: the number of cores. */
  workers?: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Entries per task; default sized so a task takes ~0.1 s. */
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

export function planShards(
  count: number,
  workers: number,
  shardSize?: number,
  secondsPerEntry = 0,
): [number, number][] {
  const byCount = Math.ceil(count / (workers * 16));
  const byTime = secondsPerEntry > 0 ? Math.ceil(0.1 / secondsPerEntry) : byCount;
  const size = shardSize ?? Math.max(1, Math.min(4096, byCount, byTime));
  const shards: [number, number][] = [];
  for (let s = 0; s < count; s += size) shards.push([s, Math.min(count, s + size)]);
  return shards;
}

export interface EntrySweep {
  approx: Float64Array;
  kinks: Uint32Array;
}

/**
 * A pool of worker threads for one built-in subject. Workers boot while this
 * thread takes the forward pass at θ₀, which they all start from; the backward
 * pass (the gradient under audit) is the pool's first task, so this thread's
 * event loop stays free to hand out shards. Every task is a pure function of θ₀
 * and the task, so results are the same bit for bit whatever the number of
 * workers or the order tasks finish in. Cancelling (the signal) stops every
 * worker at once; `close` must always be called.
 */
export class SweepSession {
  readonly net: Network;
  readonly forward: ForwardCache;
  readonly workers: number;
  private readonly pool: Piscina<SweepTask, SweepTaskResult>;
  private readonly context: JobContext;
  private readonly abort = new AbortController();
  private readonly onAbort = (): void => this.abort.abort();
  private readonly gradient: Promise<Float64Array>;
  /** The gradient once the backward task has answered (progress reports use it). */
  private grad: Float64Array | undefined;

  constructor(
    readonly job: BuiltinJob,
    readonly settings: CheckSettings,
    private readonly options: SweepOptions = {},
  ) {
    this.workers = Math.max(1, options.workers ?? defaultWorkers());
    if (this.workers >= availableParallelism()) {
      // With every core running a worker, V8's background optimiser has no core of its
      // own and hot loops wait in the interpreter; optimising on the worker's own thread
      // finished a 4,097-parameter sweep ~15% sooner with JavaScript loops, and a few per
      // cent sooner now that the innermost ones are WebAssembly (paired runs, 2 cores).
      setFlagsFromString('--no-concurrent-recompilation');
    }
    installWasmProducts(); // the forward pass below, in WebAssembly from its first call
    this.pool = new Piscina<SweepTask, SweepTaskResult>({
      filename: compiledSibling(import.meta.url, 'sweep-worker'),
      minThreads: this.workers,
      maxThreads: this.workers,
      idleTimeout: 60_000,
    });
    try {
      ({ net: this.net, cache: this.forward } = forwardAt(job));
    } catch (err) {
      void this.pool.destroy(); // never leave threads behind on bad input
      throw err;
    }
    const forward = this.forward;
    this.context = {
      jobKey: randomUUID(),
      spec: job.spec,
      theta: shareFloat64(job.theta),
      X: { rows: job.data.X.rows, cols: job.data.X.cols, data: shareFloat64(job.data.X.data) },
      Y: { rows: job.data.Y.rows, cols: job.data.Y.cols, data: shareFloat64(job.data.Y.data) },
      evaluation: settings.evaluation,
      scheme: settings.scheme,
      epsilon: settings.epsilon,
      // Workers start from this thread's forward pass instead of each repeating it.
      base: {
        cost: forward.cost,
        Z: forward.Z.slice(1).map((t) => ({ rows: t.rows, cols: t.cols, data: shareFloat64(t.data) })),
        A: forward.A.slice(1).map((t) => ({ rows: t.rows, cols: t.cols, data: shareFloat64(t.data) })),
      },
    };
    setMaxListeners(1 << 20, this.abort.signal); // every in-flight task listens on it
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
    // Queued before any shard, so the first worker up takes it.
    this.gradient = this.run(async () => {
      const r = await this.task({ ...this.context, kind: 'gradient', defects: [...job.defects] });
      if (r.kind !== 'gradient') throw new Error('worker answered a gradient task with something else');
      this.grad = r.grad;
      return r.grad;
    });
    this.gradient.catch(() => undefined); // awaited by analytic(); a failure also ends the sweep's tasks
  }

  /** The gradient under audit (computed by the pool's first task) and the forward pass at θ₀. */
  async analytic(): Promise<AnalyticGradient> {
    return { grad: await this.gradient, cost: this.forward.cost, net: this.net, cache: this.forward };
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.options.signal?.aborted) throw new CancelledError('sweep cancelled');
    try {
      return await work();
    } catch (err) {
      this.abort.abort();
      if (this.options.signal?.aborted) throw new CancelledError('sweep cancelled');
      throw err;
    }
  }

  private task(t: SweepTask): Promise<SweepTaskResult> {
    return this.pool.run(t, { signal: this.abort.signal });
  }

  /** Estimates of every entry (`indices` omitted) or of `indices`, in that order, with progress. */
  entries(indices?: readonly number[], epsilon = this.settings.epsilon, report = true): Promise<EntrySweep> {
    return this.run(async () => {
      const n = indices ? indices.length : this.net.parameterCount;
      const approx = new Float64Array(n);
      const kinks = new Uint32Array(n);
      const meter = new ProgressMeter(n, evaluationsPerEntry(this.settings.scheme));
      let done = 0;
      const filled = indices ? undefined : new Uint8Array(n);
      let lastPartial = 0;
      await Promise.all(
        planShards(n, this.workers, this.options.shardSize, entrySeconds(this.job, this.settings)).map(
          async ([start, end]) => {
            const t: SweepTask = indices
              ? { ...this.context, epsilon, kind: 'indices', indices: indices.slice(start, end) }
              : { ...this.context, epsilon, kind: 'range', start, end };
            const r = await this.task(t);
            if (r.kind !== 'entries') throw new Error('worker answered an entry task with directions');
            approx.set(r.approx, start);
            kinks.set(r.kinks, start);
            done += end - start;
            filled?.fill(1, start, end);
            if (report && this.options.onProgress) {
              const p = meter.at(done);
              // The per-group picture so far, at most 4 times a second (it costs a pass over the vector).
              const grad = this.grad;
              if (filled && grad && (performance.now() - lastPartial > 250 || done === n)) {
                lastPartial = performance.now();
                p.groups = this.net.groups.map((g) => {
                  const gi: number[] = [];
                  const ai: number[] = [];
                  for (let i = g.offset; i < g.offset + g.size; i++) {
                    if (filled[i]) {
                      gi.push(grad[i]!);
                      ai.push(approx[i]!);
                    }
                  }
                  return { name: g.name, difference: relativeDifference(gi, ai), done: gi.length, size: g.size };
                });
              }
              this.options.onProgress(p);
            }
          },
        ),
      );
      return { approx, kinks };
    });
  }

  /** Central differences along the given (group, k) directions. */
  directions(items: { group: number; k: number }[], seed: number): Promise<DirectionEvaluation[]> {
    return this.run(async () => {
      const meter = new ProgressMeter(items.length, 4);
      let done = 0;
      const chunks = planShards(
        items.length,
        this.workers,
        undefined,
        4 * entrySeconds(this.job, { ...this.settings, evaluation: 'full' }),
      );
      const parts = await Promise.all(
        chunks.map(async ([start, end]) => {
          const r = await this.task({ ...this.context, kind: 'directions', seed, items: items.slice(start, end) });
          if (r.kind !== 'directions') throw new Error('worker answered a direction task with entries');
          done += end - start;
          this.options.onProgress?.(meter.at(done));
          return r.evaluations;
        }),
      );
      return parts.flat();
    });
  }

  async close(): Promise<void> {
    this.options.signal?.removeEventListener('abort', this.onAbort);
    await this.pool.destroy();
  }
}

/** Per-entry evidence kept with a saved run: the gradient under audit, the estimates (NaN where none was made), kinks. */
export interface EntryEvidence {
  analytic: Float64Array;
  numerical: Float64Array;
  kinks: Uint32Array;
}

/** The whole check of a built-in subject on worker threads, in the mode its settings ask for. */
export async function runBuiltinCheck(
  job: BuiltinJob,
  settings: CheckSettings,
  options: SweepOptions = {},
): Promise<{ result: CheckResult; entries: EntryEvidence }> {
  const session = new SweepSession(job, settings, options);
  try {
    const { net } = session;
    const n = net.parameterCount;
    let result: CheckResult;
    let analytic: AnalyticGradient;
    const numerical = new Float64Array(n).fill(Number.NaN);
    const kinks = new Uint32Array(n);
    if (settings.mode === 'fast') {
      const seed = settings.directionSeed ?? DEFAULT_DIRECTION_SEED;
      const directions = session.directions(fastPlan(net.groups, settings.directions ?? DEFAULT_DIRECTIONS), seed);
      analytic = await session.analytic();
      const a = { grad: analytic.grad, cost: analytic.cost, groups: net.groups };
      const fast = judgeFast(settings, a, await directions);
      const indices = escalatedIndices(fast.failing);
      const escalation = indices.length
        ? await session.entries(indices)
        : { approx: new Float64Array(0), kinks: new Uint32Array(0) };
      indices.forEach((i, j) => {
        numerical[i] = escalation.approx[j]!;
        kinks[i] = escalation.kinks[j]!;
      });
      result = finishFast(settings, a, fast, { indices, ...escalation });
    } else {
      const plan = noisePlan(n, settings.epsilon);
      // The noise sample is queued first so it runs alongside the sweep.
      const [wider, sweep, a] = await Promise.all([
        session.entries(plan.indices, plan.epsilon, false),
        session.entries(),
        session.analytic(),
      ]);
      analytic = a;
      numerical.set(sweep.approx);
      kinks.set(sweep.kinks);
      result = finishCheck(settings, analytic, sweep.approx, sweep.kinks, wider.approx);
    }
    return {
      result: completeCheck(result, job, settings, analytic.grad),
      entries: { analytic: analytic.grad, numerical, kinks },
    };
  } finally {
    await session.close();
  }
}

export async function runBuiltinSweep(
  job: BuiltinJob,
  settings: CheckSettings,
  options: SweepOptions = {},
): Promise<CheckResult> {
  return (await runBuiltinCheck(job, settings, options)).result;
}

/** Entry estimates only (benchmarks): every entry, or the sampled ones. */
export async function sweepEntries(
  job: BuiltinJob,
  settings: CheckSettings,
  options: SweepOptions = {},
  sample?: readonly number[],
): Promise<EntrySweep & { analytic: AnalyticGradient }> {
  const session = new SweepSession(job, settings, options);
  try {
    const [sweep, analytic] = await Promise.all([session.entries(sample), session.analytic()]);
    return { analytic, ...sweep };
  } finally {
    await session.close();
  }
}
