import { type CostEvaluator, type EvaluationMode, createEvaluator } from '../model/evaluator.js';
import { type Defect, validateDefects } from '../model/defects.js';
import { type Dataset, type ForwardCache, Network } from '../model/network.js';
import type { ModelSpec } from '../model/spec.js';
import { compareGradients } from './compare.js';
import { runEpsilonSweep } from './epsilon-sweep.js';
import { evaluateDirection } from './fast-mode.js';
import {
  DEFAULT_DIRECTIONS,
  DEFAULT_DIRECTION_SEED,
  escalatedIndices,
  fastPlan,
  finishFast,
  judgeFast,
} from './fast-check.js';
import { explainByReproduction } from './hypotheses.js';
import { NOISE_STEP_RATIO, estimateNoise, noiseSampleIndices } from './noise.js';
import type { CheckResult } from './result.js';
import { type Scheme, estimateIndices, estimateRange, evaluationsPerEntry } from './schemes.js';

export interface CheckSettings {
  epsilon: number;
  threshold: number;
  scheme: Scheme;
  evaluation: EvaluationMode;
  /** full: every entry; fast: k random directions per group, failing groups swept entry by entry. */
  mode?: 'full' | 'fast';
  /** Fast mode: directions per group (k), their seed, and the error size whose miss chance is stated. */
  directions?: number;
  directionSeed?: number;
  detectSize?: number;
  /** Also record the difference across ε = 1e-1 … 1e-10. */
  epsilonSweep?: boolean;
}

export const DEFAULT_SETTINGS: CheckSettings = {
  epsilon: 1e-7,
  threshold: 2e-7,
  scheme: 'central',
  evaluation: 'incremental',
};

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

/** Entries re-estimated at √2·ε to measure round-off, and that step. */
export function noisePlan(parameters: number, epsilon: number): { indices: number[]; epsilon: number } {
  return { indices: noiseSampleIndices(parameters), epsilon: epsilon * NOISE_STEP_RATIO };
}

/**
 * Compare once the sweep has filled `approx` and `kinks` and the noise sample
 * has been re-estimated at √2·ε (`wider`, in `noisePlan` order).
 */
export function finishCheck(
  settings: CheckSettings,
  analytic: { grad: Float64Array; cost: number; net: Network },
  approx: Float64Array,
  kinks: Uint32Array,
  wider: Float64Array,
): CheckResult {
  const n = analytic.net.parameterCount;
  const plan = noisePlan(n, settings.epsilon);
  const noise = estimateNoise(
    plan.indices.map((i) => approx[i]!),
    Array.from(wider),
  );
  const perEntry = evaluationsPerEntry(settings.scheme);
  return compareGradients({
    groups: analytic.net.groups,
    grad: analytic.grad,
    approx,
    kinks,
    threshold: settings.threshold,
    epsilon: settings.epsilon,
    scheme: settings.scheme,
    evaluations: (n + plan.indices.length) * perEntry + (settings.scheme === 'forward' ? 1 : 0),
    cost: analytic.cost,
    noise,
  });
}

/** What every mode adds at the end: the ε sweep if asked, and bugs reproduced by hypothesis. */
export function completeCheck(
  result: CheckResult,
  job: BuiltinJob,
  settings: CheckSettings,
  grad: Float64Array,
  ev?: CostEvaluator,
): CheckResult {
  let out = explainByReproduction(result, job, grad);
  if (settings.epsilonSweep) {
    const evaluator = ev ?? createEvaluator(settings.evaluation, new Network(job.spec), job.theta, job.data);
    const sweep = runEpsilonSweep(evaluator, grad, settings.scheme);
    out = {
      ...out,
      epsilonSweep: sweep,
      evaluations: out.evaluations + sweep.entries * sweep.points.length * evaluationsPerEntry(settings.scheme),
    };
    if (sweep.flat) out.findings = [...out.findings, `ε sweep: ${sweep.summary}`];
  }
  return out;
}

/** The whole check on the current thread: the reference the worker sweep must reproduce. */
export function checkBuiltin(job: BuiltinJob, settings: CheckSettings = DEFAULT_SETTINGS): CheckResult {
  const analytic = analyticGradient(job);
  const n = analytic.net.parameterCount;
  const ev = createEvaluator(settings.evaluation, analytic.net, job.theta, job.data);
  if (settings.mode === 'fast') {
    const plan = fastPlan(analytic.net.groups, settings.directions ?? DEFAULT_DIRECTIONS);
    const evaluations = plan.map(({ group, k }) =>
      evaluateDirection(
        ev,
        analytic.net.groups,
        group,
        settings.directionSeed ?? DEFAULT_DIRECTION_SEED,
        k,
        settings.epsilon,
      ),
    );
    const a = { grad: analytic.grad, cost: analytic.cost, groups: analytic.net.groups };
    const fast = judgeFast(settings, a, evaluations);
    const indices = escalatedIndices(fast.failing);
    return completeCheck(
      finishFast(settings, a, fast, { indices, ...estimateIndices(ev, indices, settings.scheme, settings.epsilon) }),
      job,
      settings,
      analytic.grad,
      ev,
    );
  }
  const approx = new Float64Array(n);
  const kinks = new Uint32Array(n);
  estimateRange(ev, 0, n, settings.scheme, settings.epsilon, approx, kinks);
  const plan = noisePlan(n, settings.epsilon);
  const result = finishCheck(
    settings,
    analytic,
    approx,
    kinks,
    estimateIndices(ev, plan.indices, settings.scheme, plan.epsilon).approx,
  );
  return completeCheck(result, job, settings, analytic.grad, ev);
}
