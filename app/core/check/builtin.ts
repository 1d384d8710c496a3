import { type CostEvaluator, type EvaluationMode, createEvaluator } from '../model/evaluator.js';
import { type Defect, validateDefects } from '../model/defects.js';
import { type Dataset, type ForwardCache, Network } from '../model/network.js';
import type { ModelSpec, ParamGroup } from '../model/spec.js';
import type { CostBatch, DirectionRef, EntrySet, Estimator, OnCosts } from './estimator.js';
import { entryCount } from './estimator.js';
import { explainByReproduction } from './hypotheses.js';
import { type CheckHooks, type CheckOutput, type CheckSettings, runGradientCheck } from './orchestrator.js';
import { evaluatorDirectionCosts, evaluatorEntryCosts } from './engine-costs.js';

/** A built-in subject: GradProof's engine, its parameters, data, and any injected defects. */
export interface BuiltinJob {
  spec: ModelSpec;
  theta: Float64Array;
  data: Dataset;
  defects: readonly Defect[];
}

/** The gradient under audit, with the forward pass at θ₀ it was taken at. */
export interface AnalyticGradient {
  grad: Float64Array;
  cost: number;
  net: Network;
  cache: ForwardCache;
}

/**
 * The engine for a job and its forward pass at θ₀, after checking the data and the
 * defects against the model: everything before the backward pass. Throws on bad input.
 */
export function forwardAt(job: BuiltinJob): { net: Network; cache: ForwardCache } {
  const net = new Network(job.spec);
  net.checkData(job.data);
  validateDefects(job.defects, net.groups);
  return { net, cache: net.forward(job.theta, job.data) };
}

export function analyticGradient(job: BuiltinJob): AnalyticGradient {
  const { net, cache } = forwardAt(job);
  return { grad: net.backward(job.theta, job.data, cache, job.defects), cost: cache.cost, net, cache };
}

/**
 * GradProof's engine as an estimator on the current thread: the reference that the worker
 * sweep (app/node/sweep) must reproduce bit for bit, and the estimator of small checks and tests.
 */
export class EngineEstimator implements Estimator {
  readonly groups;
  readonly theta0: Float64Array;
  readonly precision = { precision: 'float64', source: 'engine' } as const;
  readonly knowsKinks = true;
  readonly subject = false;
  readonly groupCosts: readonly number[] | undefined;
  evaluations = 0;
  private readonly analytic: AnalyticGradient;
  private readonly ev: CostEvaluator;

  constructor(
    readonly job: BuiltinJob,
    evaluation: EvaluationMode = 'incremental',
  ) {
    this.analytic = analyticGradient(job);
    this.groups = this.analytic.net.groups;
    this.theta0 = job.theta;
    this.ev = createEvaluator(evaluation, this.analytic.net, job.theta, job.data, this.analytic.cache);
    this.groupCosts = engineGroupCosts(job.spec, this.groups, evaluation);
  }

  async gradient(): Promise<Float64Array> {
    return this.analytic.grad;
  }

  async cost0(): Promise<number> {
    return this.analytic.cost;
  }

  async entryCosts(set: EntrySet, offsets: readonly number[], onCosts?: OnCosts): Promise<CostBatch> {
    const b = evaluatorEntryCosts(this.ev, set, offsets);
    this.evaluations += b.costs.length;
    onCosts?.(entryCount(set), { first: 0, ...b });
    return b;
  }

  async directionCosts(
    directions: readonly DirectionRef[],
    seed: number,
    offsets: readonly number[],
    onCosts?: OnCosts,
  ): Promise<CostBatch> {
    const b = evaluatorDirectionCosts(this.ev, this.analytic.net, directions, seed, offsets);
    this.evaluations += b.costs.length;
    onCosts?.(directions.length, { first: 0, ...b });
    return b;
  }

  async close(): Promise<void> {}
}

/**
 * How much one entry of each group costs the engine relative to the others. Evaluated
 * incrementally, a step in layer l moves a row of Z_l and then every unit above it, so an
 * entry's cost grows with the units of the layers above (the examples, the same for all,
 * drop out); evaluated in full, every entry is one forward pass.
 */
export function engineGroupCosts(
  spec: ModelSpec,
  groups: readonly ParamGroup[],
  evaluation: EvaluationMode,
): number[] | undefined {
  if (evaluation === 'full') return undefined;
  return groups.map((g) => 1 + spec.layers.slice(g.layer).reduce((s, l) => s + l.units, 0));
}

/** The explanation only GradProof's own engine can give: failing groups reproduced by hypothesised bugs. */
export function builtinHooks(job: BuiltinJob, hooks: CheckHooks = {}): CheckHooks {
  return { ...hooks, explain: (result, grad) => explainByReproduction(result, job, grad) };
}

/** The whole check of a built-in job on the current thread. */
export function checkBuiltin(
  job: BuiltinJob,
  settings: CheckSettings,
  evaluation: EvaluationMode = 'incremental',
  hooks: CheckHooks = {},
): Promise<CheckOutput> {
  const est = new EngineEstimator(job, evaluation);
  return runGradientCheck(est, settings, builtinHooks(job, hooks)).finally(() => est.close());
}
