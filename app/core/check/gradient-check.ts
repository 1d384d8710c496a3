import { type CostEvaluator, type EvaluationMode, createEvaluator } from '../model/evaluator.js';
import type { Defect } from '../model/defects.js';
import { type Dataset, Network } from '../model/network.js';
import type { ModelSpec } from '../model/spec.js';
import { compareGradients } from './compare.js';
import { NOISE_STEP_RATIO, estimateNoise, noiseSampleIndices } from './noise.js';
import type { CheckResult, NoiseEstimate } from './result.js';
import { type Scheme, estimateEntry, estimateRange, evaluationsPerEntry } from './schemes.js';

export interface CheckSettings {
  epsilon: number;
  threshold: number;
  scheme: Scheme;
  evaluation: EvaluationMode;
}

export const DEFAULT_SETTINGS: CheckSettings = { epsilon: 1e-7, threshold: 2e-7, scheme: 'central', evaluation: 'incremental' };

/** A built-in subject: GradProof's engine, its parameters, data, and any injected defects. */
export interface BuiltinJob {
  spec: ModelSpec;
  theta: Float64Array;
  data: Dataset;
  defects: readonly Defect[];
}

export function analyticGradient(job: BuiltinJob): { grad: Float64Array; cost: number; net: Network } {
  const net = new Network(job.spec);
  net.checkData(job.data);
  const cache = net.forward(job.theta, job.data);
  return { grad: net.backward(job.theta, job.data, cache, job.defects), cost: cache.cost, net };
}

/** Round-off estimate from a sample of entries (2 × evaluationsPerEntry evaluations each). */
export function sampleNoise(ev: CostEvaluator, parameters: number, scheme: Scheme, epsilon: number): { noise: NoiseEstimate; evaluations: number } {
  const idx = noiseSampleIndices(parameters);
  const a = idx.map((i) => estimateEntry(ev, i, scheme, epsilon).value);
  const b = idx.map((i) => estimateEntry(ev, i, scheme, epsilon * NOISE_STEP_RATIO).value);
  return { noise: estimateNoise(a, b), evaluations: 2 * idx.length * evaluationsPerEntry(scheme) };
}

/** Round-off estimate and comparison, once the sweep has filled `approx` and `kinks`. */
export function finishCheck(
  job: BuiltinJob,
  settings: CheckSettings,
  analytic: { grad: Float64Array; cost: number; net: Network },
  approx: Float64Array,
  kinks: Uint32Array,
  ev: CostEvaluator = createEvaluator(settings.evaluation, analytic.net, job.theta, job.data),
): CheckResult {
  const n = analytic.net.parameterCount;
  const { noise, evaluations } = sampleNoise(ev, n, settings.scheme, settings.epsilon);
  return compareGradients({
    groups: analytic.net.groups,
    grad: analytic.grad,
    approx,
    kinks,
    threshold: settings.threshold,
    epsilon: settings.epsilon,
    scheme: settings.scheme,
    evaluations: n * evaluationsPerEntry(settings.scheme) + evaluations + (settings.scheme === 'forward' ? 1 : 0),
    cost: analytic.cost,
    noise,
  });
}

/** The whole check on the current thread: the reference the worker sweep must reproduce. */
export function checkBuiltin(job: BuiltinJob, settings: CheckSettings = DEFAULT_SETTINGS): CheckResult {
  const analytic = analyticGradient(job);
  const n = analytic.net.parameterCount;
  const ev = createEvaluator(settings.evaluation, analytic.net, job.theta, job.data);
  const approx = new Float64Array(n);
  const kinks = new Uint32Array(n);
  estimateRange(ev, 0, n, settings.scheme, settings.epsilon, approx, kinks);
  return finishCheck(job, settings, analytic, approx, kinks, ev);
}
