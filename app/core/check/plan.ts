import type { CheckRequest } from '../api/contract.js';
import { CancelledError, InputError, SubjectError } from '../errors.js';
import { entryName } from '../model/spec.js';
import { fmtEpsilon } from '../report/numbers.js';
import {
  costNoiseFromFourthDifferences,
  costRoundoffFloor,
  detectPrecision,
  fourthDifference,
  spreadOfTwoSteps,
  stepRepresentationError,
} from './budget.js';
import { chooseEpsilons } from './epsilon-sweep.js';
import type { CostBatch, EntrySet, Estimator, Precision, PrecisionSource } from './estimator.js';
import { kinkedByCosts, secondDifference } from './kinks.js';
import type { Progress } from './progress.js';
import type { CheckResult, NoiseEstimate } from './result.js';
import { applyStencil, layoutOffsets } from './schemes.js';

/** How a check is run: the API contract's settings (declared there once, with their defaults). */
export type CheckSettings = Pick<
  CheckRequest,
  'scheme' | 'epsilon' | 'threshold' | 'mode' | 'directions' | 'detect' | 'epsilonSweep' | 'seed'
>;

/** The settings part of a request. */
export function settingsOf(r: CheckRequest): CheckSettings {
  return {
    scheme: r.scheme,
    epsilon: r.epsilon,
    threshold: r.threshold,
    mode: r.mode,
    directions: r.directions,
    detect: r.detect,
    epsilonSweep: r.epsilonSweep,
    seed: r.seed,
  };
}

export interface CheckHooks {
  signal?: { readonly aborted: boolean };
  onProgress?: (p: Progress) => void;
  /** GradProof's own engine explains failing groups it can reproduce (e.g. a dropped activation derivative). */
  explain?: (result: CheckResult, grad: Float64Array) => CheckResult;
}

/** One entry of the budget sample: its error between ε and 2ε, its fourth difference, whether it sits at a kink. */
export interface SampledEntry {
  index: number;
  group: number;
  spread: number;
  q: number | null;
  kinked: boolean;
}

/**
 * Everything a check settles before its entries are swept, the same on every machine for the
 * same subject and settings: J(θ₀), whether the cost is deterministic and in what precision,
 * each group's step, and the budget sample (the cost's round-off from its fourth differences,
 * each sampled entry's error between ε and 2ε). Shards of one job each compute it and must agree.
 */
export interface CheckPlan {
  j0: number;
  eps: number[];
  costNoise: number;
  noiseSource: NoiseEstimate['source'];
  noisyCost: boolean;
  precision: { precision: Precision; source: PrecisionSource };
  samples: SampledEntry[];
  /** Relative cost of one entry of each group (the estimator's), for cutting a sweep into shards of equal cost. */
  groupCosts?: number[];
  epsilonChoice?: { group: string; epsilon: number; error: number }[];
}

/**
 * Entries of each group measured at ε and 2ε for the budget: 32 for a full sweep; fast mode,
 * which exists to spend little, takes 4 (its directions measure their own spread).
 */
export const SAMPLE_PER_GROUP = { full: 32, fast: 4 } as const;
/** Steps that θ₀ cannot take within this relative error are refused. */
const STEP_ERROR_LIMIT = 1e-2;

export function evenSample(size: number, count: number): number[] {
  if (size <= count) return Array.from({ length: size }, (_, i) => i);
  return Array.from({ length: count }, (_, k) => Math.floor(((k + 0.5) * size) / count));
}

export function checkAborted(signal?: { readonly aborted: boolean }): void {
  if (signal?.aborted) throw new CancelledError('cancelled');
}

/**
 * Costs that are not finite, or too large to take differences of, end the run with an error
 * naming where: the subject's failure (no verdict) when the implementation is the user's, bad
 * input (weights, data) when it is GradProof's engine.
 */
export function finiteOrThrow(est: Pick<Estimator, 'subject'>, batch: CostBatch, what: (i: number) => string): void {
  const c = batch.costs;
  for (let i = 0; i < c.length; i++) {
    const v = c[i]!;
    if (!Number.isFinite(v) || Math.abs(v) > 1e300) {
      const message = `the cost is ${v} at ${what(i)}: a cost must be a finite number small enough to take differences of (|J| ≤ 1e300)`;
      throw est.subject ? new SubjectError(message) : new InputError(message);
    }
  }
}

/** An estimator's costs of entries, checked finite. */
export async function entryCosts(
  est: Estimator,
  hooks: CheckHooks,
  set: EntrySet,
  offsets: readonly number[],
  onItems?: (items: number, part: { first: number; costs: Float64Array; kinks: Uint32Array | null }) => void,
): Promise<CostBatch> {
  checkAborted(hooks.signal);
  const batch = await est.entryCosts(set, offsets, onItems);
  finiteOrThrow(est, batch, (i) => {
    const k = Math.floor(i / offsets.length);
    const index = 'indices' in set ? set.indices[k]! : set.start + k;
    const d = offsets[i % offsets.length]!;
    return `θ₀ ${d >= 0 ? '+' : '−'} ${Math.abs(d)}·e(${entryName(est.groups, index)})`;
  });
  return batch;
}

/** σ_J: the largest of the precision's floor and the sample's fourth differences (median: robust to kinks). */
function costNoiseOf(
  precision: Precision,
  j0: number,
  q: readonly number[],
): { sigma: number; source: NoiseEstimate['source'] } {
  const floor = costRoundoffFloor(precision, j0);
  const measured = costNoiseFromFourthDifferences(q);
  return measured > floor
    ? { sigma: measured, source: 'fourth-differences' }
    : { sigma: floor, source: 'precision-floor' };
}

/**
 * The plan of a check (see CheckPlan). The budget sample takes each sampled entry at
 * [±ε, ±2ε] (and ±4ε for five-point differences, whose estimate at 2ε needs them).
 */
export async function planCheck(est: Estimator, settings: CheckSettings, hooks: CheckHooks = {}): Promise<CheckPlan> {
  const groups = est.groups;
  const n = est.theta0.length;
  const scheme = settings.scheme;
  const j0 = await est.cost0();
  if (!Number.isFinite(j0) || Math.abs(j0) > 1e300) {
    const message = `the cost is ${j0} at θ₀: a cost must be a finite number small enough to take differences of (|J| ≤ 1e300)`;
    throw est.subject ? new SubjectError(message) : new InputError(message);
  }
  // A cost that is not a function of θ alone (dropout, sampling) shows when J(θ₀) is asked again.
  const again = await entryCosts(est, hooks, { indices: [0, n - 1, 0] }, [0]);
  const repeats = [j0, ...again.costs];
  let precision = est.precision.precision === 'unknown' ? detectPrecision(repeats) : est.precision;
  let costNoise = costRoundoffFloor(precision.precision, j0);
  let noiseSource: NoiseEstimate['source'] = 'precision-floor';
  let noisyCost = false;
  if (Math.max(...repeats) > Math.min(...repeats)) {
    const mean = repeats.reduce((s, x) => s + x, 0) / repeats.length;
    costNoise = Math.sqrt(repeats.reduce((s, x) => s + (x - mean) ** 2, 0) / (repeats.length - 1));
    noisyCost = true;
    noiseSource = 'repeated-evaluations';
  }

  let eps: number[];
  let epsilonChoice: CheckPlan['epsilonChoice'];
  if (settings.epsilon === 'auto') {
    const chosen = await chooseEpsilons(est, j0, scheme, costNoise, hooks);
    eps = chosen.map((c) => c.epsilon);
    epsilonChoice = chosen.map((c, g) => ({ group: groups[g]!.name, epsilon: c.epsilon, error: c.error }));
  } else {
    const h = settings.epsilon;
    eps = groups.map(() => h);
    for (const g of groups) {
      const r = stepRepresentationError(est.theta0, h, g.offset, g.offset + g.size);
      if (r.error > STEP_ERROR_LIMIT) {
        throw new InputError(
          `--epsilon ${fmtEpsilon(h)} is too small for θ₀: ${entryName(groups, r.index)} = ${est.theta0[r.index]} cannot move by ε in float64 (the step taken would be off by ${(100 * r.error).toPrecision(2)}%); use --epsilon ${fmtEpsilon(Math.max(h * 1000, 1e-10))} or larger, or --epsilon auto`,
          'epsilon',
        );
      }
    }
  }

  // The budget sample, each group at its own step.
  const width = scheme === 'five-point' ? 6 : 4;
  const raw: { index: number; group: number; c: Float64Array; engineKinked: boolean }[] = [];
  const seen: number[] = [...repeats];
  await Promise.all(
    groups.map(async (g, gi) => {
      const h = eps[gi]!;
      const idx = evenSample(g.size, SAMPLE_PER_GROUP[settings.mode]).map((k) => g.offset + k);
      const offsets = [...layoutOffsets(h, 4), ...(width === 6 ? [4 * h, -4 * h] : [])];
      const b = await entryCosts(est, hooks, { indices: idx }, offsets);
      idx.forEach((index, k) => {
        const c = b.costs.slice(k * width, (k + 1) * width);
        const engineKinked = b.kinks ? b.kinks.subarray(k * width, (k + 1) * width).some((x) => x > 0) : false;
        raw.push({ index, group: gi, c, engineKinked });
        if (seen.length < 4096) seen.push(...c);
      });
    }),
  );
  raw.sort((a, b) => a.index - b.index);
  if (precision.precision === 'unknown') {
    precision = detectPrecision(seen);
    if (!noisyCost) costNoise = costRoundoffFloor(precision.precision, j0);
  }
  const qs = raw.map((r) => fourthDifference(j0, r.c[0]!, r.c[1]!, r.c[2]!, r.c[3]!));
  if (!noisyCost) {
    ({ sigma: costNoise, source: noiseSource } = costNoiseOf(
      precision.precision,
      j0,
      qs.filter((_, k) => !raw[k]!.engineKinked),
    ));
  }
  const samples: SampledEntry[] = raw.map((r, k) => {
    const h = eps[r.group]!;
    const q = qs[k]!;
    const kinked = est.knowsKinks
      ? r.engineKinked
      : kinkedByCosts(q, secondDifference(j0, r.c[0]!, r.c[1]!), costNoise);
    const atH = applyStencil(scheme, h, j0, r.c, 0);
    const at2H = applyStencil(scheme, 2 * h, j0, r.c, 2);
    return { index: r.index, group: r.group, spread: spreadOfTwoSteps(atH, at2H), q, kinked };
  });
  return {
    j0,
    eps,
    costNoise,
    noiseSource,
    noisyCost,
    precision,
    samples,
    ...(est.groupCosts ? { groupCosts: [...est.groupCosts] } : {}),
    ...(epsilonChoice ? { epsilonChoice } : {}),
  };
}
