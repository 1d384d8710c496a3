import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Piscina } from 'piscina';
import { type BuiltinJob, engineGroupCosts, forwardAt } from '../../core/check/builtin.js';
import type { CostBatch, DirectionRef, EntrySet, Estimator, OnCosts } from '../../core/check/estimator.js';
import { entryCount } from '../../core/check/estimator.js';
import { CancelledError } from '../../core/errors.js';
import type { EvaluationMode } from '../../core/model/evaluator.js';
import type { ForwardCache, Network } from '../../core/model/network.js';
import { compiledSibling } from '../util/compiled-path.js';
import { type JobContext, type SweepTask, type SweepTaskResult, shareFloat64 } from './shard-task.js';
import { ShardPlanner } from './shard-plan.js';
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
 * Rough seconds for one cost evaluation, for the first shard of each group before any is
 * measured (a full pass is ~2·m·Σ fan-in·units flops at ~1 GFLOP/s; an incremental one touches
 * a few rows of m examples).
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
  return evaluation === 'full' ? flops / 1e9 : (m * 8) / 1e9;
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
  readonly groupCosts: readonly number[] | undefined;
  evaluations = 0;
  private readonly pool: Piscina<SweepTask, SweepTaskResult>;
  private readonly context: JobContext;
  private readonly abort = new AbortController();
  private readonly onAbort = (): void => this.stop();
  private destroyed: Promise<void> | undefined;
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
    this.groupCosts = engineGroupCosts(job.spec, this.groups, evaluation);
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
      this.stop();
      if (this.options.signal?.aborted) throw new CancelledError('cancelled');
      throw err;
    }
  }

  /**
   * Cancelling or a failed task ends every worker at once: the pool is destroyed (which rejects
   * every task in flight). Tasks carry no abort signal of their own: Piscina answers an aborted
   * running task by ending its worker and starting a replacement, which a destroy under way
   * could miss and leave running.
   */
  private stop(): void {
    this.abort.abort();
    this.destroyed ??= this.pool.destroy();
    this.destroyed.catch(() => undefined);
  }

  private task(t: SweepTask): Promise<SweepTaskResult> {
    return this.pool.run(t);
  }

  /**
   * Items split into shards for the pool, handed out as workers free up (two in flight per
   * worker, so none waits for its next task) and sized from measured times; costs assembled in
   * order, progress per shard. `ends`: where the items' segments (parameter groups) end.
   */
  private sharded(
    count: number,
    width: number,
    secondsPerItem: number,
    ends: readonly number[],
    make: (start: number, end: number) => SweepTask,
    onCosts?: OnCosts,
  ): Promise<CostBatch> {
    return this.run(async () => {
      const costs = new Float64Array(count * width);
      const kinks = new Uint32Array(count * width);
      const plan = new ShardPlanner(count, this.workers, ends, this.options.shardSize, secondsPerItem);
      const lane = async (): Promise<void> => {
        // No new task once the run is cancelled or failed: the pool is being torn down.
        for (let shard = plan.take(); shard && !this.abort.signal.aborted; shard = plan.take()) {
          const [start, end] = shard;
          const r = await this.task(make(start, end));
          if (r.kind !== 'costs') throw new Error('worker answered a cost task with a gradient');
          plan.measured(start, end, r.seconds);
          costs.set(r.costs, start * width);
          kinks.set(r.kinks, start * width);
          this.evaluations += r.costs.length;
          onCosts?.(end - start, { first: start, costs: r.costs, kinks: r.kinks });
        }
      };
      await Promise.all(Array.from({ length: 2 * this.workers }, lane));
      return { costs, kinks };
    });
  }

  /** Where the parameter groups end inside the entries [start, end), relative to start. */
  private groupEnds(start: number, end: number): number[] {
    const ends = this.groups.map((g) => g.offset + g.size - start).filter((e) => e > 0 && e < end - start);
    return [...ends, end - start];
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
        [idx.length],
        (s, e) => ({ ...this.context, kind: 'indices', indices: idx.slice(s, e), offsets: off }),
        onCosts,
      );
    }
    return this.sharded(
      entryCount(set),
      w,
      perItem,
      this.groupEnds(set.start, set.end),
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
    const ends = directions.flatMap((d, i) =>
      i + 1 === directions.length || directions[i + 1]!.group !== d.group ? [i + 1] : [],
    );
    return this.sharded(
      directions.length,
      offsets.length,
      perItem,
      ends,
      (s, e) => ({ ...this.context, kind: 'directions', seed, directions: directions.slice(s, e), offsets: off }),
      onCosts,
    );
  }

  async close(): Promise<void> {
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.destroyed ??= this.pool.destroy();
    await this.destroyed;
  }
}
