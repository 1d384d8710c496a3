import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Piscina } from 'piscina';
import { type BuiltinJob, forwardAt } from '../../core/check/builtin.js';
import type { CostBatch, DirectionRef, EntrySet, Estimator, OnCosts } from '../../core/check/estimator.js';
import { entryCount } from '../../core/check/estimator.js';
import { CancelledError } from '../../core/errors.js';
import type { EvaluationMode } from '../../core/model/evaluator.js';
import type { ForwardCache, Network } from '../../core/model/network.js';
import { compiledSibling } from '../util/compiled-path.js';
import { type JobContext, type SweepTask, type SweepTaskResult, shareFloat64 } from './shard-task.js';
import { installWasmProducts } from './wasm-kernels.js';

export interface SweepOptions {
  /** Worker threads; default: the number of cores. */
  workers?: number;
  signal?: AbortSignal;
  /** Entries per task; default sized so a task takes ~0.1 s. */
  shardSize?: number;
}

export function defaultWorkers(): number {
  return availableParallelism();
}

/**
 * Rough seconds for one cost evaluation, to size shards so each takes ~0.1 s: short enough
 * for smooth progress and cancelling, long enough that messaging is negligible. (A full pass
 * is ~2·m·Σ fan-in·units flops at ~0.5 GFLOP/s; an incremental one touches a few rows of m examples.)
 */
export function evaluationSeconds(job: BuiltinJob, evaluation: EvaluationMode): number {
  const m = job.data.X.cols;
  let fan = job.spec.inputs;
  let flops = 0;
  let widest = 0;
  for (const layer of job.spec.layers) {
    flops += 2 * m * fan * layer.units;
    widest = Math.max(widest, layer.units);
    fan = layer.units;
  }
  return evaluation === 'full' ? flops / 5e8 : (m * (widest + 40)) / 5e8;
}

export function planShards(count: number, workers: number, shardSize?: number, secondsPerItem = 0): [number, number][] {
  const byCount = Math.ceil(count / (workers * 16));
  const byTime = secondsPerItem > 0 ? Math.ceil(0.1 / secondsPerItem) : byCount;
  const size = shardSize ?? Math.max(1, Math.min(4096, byCount, byTime));
  const shards: [number, number][] = [];
  for (let s = 0; s < count; s += size) shards.push([s, Math.min(count, s + size)]);
  return shards;
}

/**
 * GradProof's engine as an estimator on a pool of worker threads. Workers boot while this
 * thread takes the forward pass at θ₀, which they all start from; the backward pass (the
 * gradient under audit) is the pool's first task, so this thread's event loop stays free to
 * hand out shards. Every task is a pure function of θ₀ and the task, so costs are the same bit
 * for bit whatever the number of workers or the order tasks finish in, and the same as
 * EngineEstimator's on one thread. Cancelling (the signal) stops every worker at once;
 * `close` must always be called.
 */
export class SweepSession implements Estimator {
  readonly net: Network;
  readonly forward: ForwardCache;
  readonly workers: number;
  readonly groups;
  readonly theta0: Float64Array;
  readonly precision = { precision: 'float64', source: 'engine' } as const;
  readonly knowsKinks = true;
  readonly subject = false;
  evaluations = 0;
  private readonly pool: Piscina<SweepTask, SweepTaskResult>;
  private readonly context: JobContext;
  private readonly abort = new AbortController();
  private readonly onAbort = (): void => this.abort.abort();
  private readonly grad: Promise<Float64Array>;
  private readonly secondsPerEvaluation: number;

  constructor(
    readonly job: BuiltinJob,
    readonly evaluation: EvaluationMode,
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
    this.groups = this.net.groups;
    this.theta0 = job.theta;
    this.secondsPerEvaluation = evaluationSeconds(job, evaluation);
    const forward = this.forward;
    this.context = {
      jobKey: randomUUID(),
      spec: job.spec,
      theta: shareFloat64(job.theta),
      X: { rows: job.data.X.rows, cols: job.data.X.cols, data: shareFloat64(job.data.X.data) },
      Y: { rows: job.data.Y.rows, cols: job.data.Y.cols, data: shareFloat64(job.data.Y.data) },
      evaluation,
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
    this.grad = this.run(async () => {
      const r = await this.task({ ...this.context, kind: 'gradient', defects: [...job.defects] });
      if (r.kind !== 'gradient') throw new Error('worker answered a gradient task with something else');
      return r.grad;
    });
    this.grad.catch(() => undefined); // awaited by gradient(); a failure also ends the sweep's tasks
  }

  gradient(): Promise<Float64Array> {
    return this.grad;
  }

  async cost0(): Promise<number> {
    return this.forward.cost;
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.options.signal?.aborted) throw new CancelledError('cancelled');
    try {
      return await work();
    } catch (err) {
      this.abort.abort();
      if (this.options.signal?.aborted) throw new CancelledError('cancelled');
      throw err;
    }
  }

  private task(t: SweepTask): Promise<SweepTaskResult> {
    return this.pool.run(t, { signal: this.abort.signal });
  }

  /** Items split into shards for the pool, their costs assembled in order, progress per shard. */
  private sharded(
    count: number,
    width: number,
    secondsPerItem: number,
    make: (start: number, end: number) => SweepTask,
    onCosts?: OnCosts,
  ): Promise<CostBatch> {
    return this.run(async () => {
      const costs = new Float64Array(count * width);
      const kinks = new Uint32Array(count * width);
      await Promise.all(
        planShards(count, this.workers, this.options.shardSize, secondsPerItem).map(async ([start, end]) => {
          const r = await this.task(make(start, end));
          if (r.kind !== 'costs') throw new Error('worker answered a cost task with a gradient');
          costs.set(r.costs, start * width);
          kinks.set(r.kinks, start * width);
          this.evaluations += r.costs.length;
          onCosts?.(end - start, { first: start, costs: r.costs, kinks: r.kinks });
        }),
      );
      return { costs, kinks };
    });
  }

  entryCosts(set: EntrySet, offsets: readonly number[], onCosts?: OnCosts): Promise<CostBatch> {
    const w = offsets.length;
    const perItem = this.secondsPerEvaluation * w;
    const off = [...offsets];
    if ('indices' in set) {
      const idx = set.indices;
      return this.sharded(
        idx.length,
        w,
        perItem,
        (s, e) => ({ ...this.context, kind: 'indices', indices: idx.slice(s, e), offsets: off }),
        onCosts,
      );
    }
    return this.sharded(
      entryCount(set),
      w,
      perItem,
      (s, e) => ({ ...this.context, kind: 'range', start: set.start + s, end: set.start + e, offsets: off }),
      onCosts,
    );
  }

  directionCosts(
    directions: readonly DirectionRef[],
    seed: number,
    offsets: readonly number[],
    onCosts?: OnCosts,
  ): Promise<CostBatch> {
    // A direction moves every entry of its group: a whole forward pass each, whatever the evaluation.
    const perItem = evaluationSeconds(this.job, 'full') * offsets.length;
    const off = [...offsets];
    return this.sharded(
      directions.length,
      offsets.length,
      perItem,
      (s, e) => ({ ...this.context, kind: 'directions', seed, directions: directions.slice(s, e), offsets: off }),
      onCosts,
    );
  }

  async close(): Promise<void> {
    this.options.signal?.removeEventListener('abort', this.onAbort);
    await this.pool.destroy();
  }
}
