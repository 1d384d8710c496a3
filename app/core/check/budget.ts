import type { Precision, PrecisionSource } from './estimator.js';
import type { Scheme } from './schemes.js';

/**
 * Error budgets: how far a finite difference may sit from the true derivative without any
 * bug, measured from the cost itself. Two parts: round-off (the cost's own rounding or noise,
 * divided by the step) and truncation (the scheme's error from curvature, which grows with the
 * step). A group is judged against its budget, and a budget too large to see a real error is
 * said to be one: such a group is inconclusive, never a pass.
 */

/** A precision coarser than float64: its costs need larger steps. */
export function lowPrecision(p: Precision): boolean {
  return p === 'float32' || p === 'float16' || p === 'bfloat16';
}

/** Unit round-off of a precision (the relative spacing of its numbers near 1, halved). */
export function unitRoundoff(precision: Precision): number {
  switch (precision) {
    case 'float16':
      return 2 ** -11;
    case 'bfloat16':
      return 2 ** -8;
    case 'float32':
      return 2 ** -24;
    default:
      return 2 ** -53;
  }
}

/** Whether a number needs more than 8 significant bits (a "round" cost like 0.5 does not). */
function finelyRounded(c: number): boolean {
  if (c === 0 || !Number.isFinite(c)) return false;
  const m = Math.abs(c) / 2 ** Math.floor(Math.log2(Math.abs(c)));
  return !Number.isInteger(m * 256);
}

/**
 * A cost computed in float32 and handed over as float64 is always a float32 number; a float64
 * cost almost never is (a finely rounded one has a 2⁻²⁹ chance). Detected from the costs seen:
 * float32 when every one is a float32 number and at least one is finely rounded (so that
 * "round" costs such as 0.5 prove nothing), float64 as soon as one is not.
 */
export function detectPrecision(costs: ArrayLike<number>): { precision: Precision; source: PrecisionSource } {
  let fine = false;
  for (let i = 0; i < costs.length; i++) {
    const c = costs[i]!;
    if (!Number.isFinite(c)) continue;
    if (Math.fround(c) !== c) return { precision: 'float64', source: 'detected' };
    fine ||= finelyRounded(c);
  }
  return fine && costs.length >= 3
    ? { precision: 'float32', source: 'detected' }
    : { precision: 'unknown', source: 'unknown' };
}

/**
 * The floor of a cost's rounding: one unit of round-off of |J|, the rounding of the value
 * itself. A cost that does not move at all under a step still carries this much; costs that
 * round worse show it in their fourth differences, which then take over.
 */
export function costRoundoffFloor(precision: Precision, j0: number): number {
  return unitRoundoff(precision === 'unknown' ? 'float64' : precision) * Math.max(Math.abs(j0), Number.MIN_VALUE);
}

/**
 * The cost's round-off σ_J measured from fourth differences of smooth entries:
 * q = J(2h) − 4J(h) + 6J(0) − 4J(−h) + J(−2h) is ~h⁴·J⁗ (nothing) for a smooth cost and pure
 * rounding otherwise, with standard deviation σ_J·√70. The median is robust to the few entries
 * that straddle a kink.
 */
export function costNoiseFromFourthDifferences(q: readonly number[]): number {
  if (q.length === 0) return 0;
  const a = q.map(Math.abs).sort((x, y) => x - y);
  const median = a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2;
  return (1.4826 * median) / Math.sqrt(70);
}

/**
 * σ_J as one group's entries see it: the RMS of their fourth differences (not the median: the
 * few entries whose perturbation brings out worse rounding are exactly the ones to allow for).
 */
export function groupCostNoise(q: readonly number[]): number {
  if (q.length === 0) return 0;
  return Math.sqrt(q.reduce((s, x) => s + x * x, 0) / q.length / 70);
}

/** q for one entry from costs at the layout [+h, −h] and [+2h, −2h] and J(θ₀). */
export function fourthDifference(j0: number, jp: number, jm: number, jp2: number, jm2: number): number {
  return jp2 - 4 * jp + 6 * j0 - 4 * jm + jm2;
}

/** How the stencil's weights amplify a cost error of σ_J at step h: σ_D = σ_J·gain/h. */
export function stencilNoiseGain(scheme: Scheme): number {
  switch (scheme) {
    case 'forward':
      return Math.SQRT2; // (J₊ − J₀)/h
    case 'central':
      return Math.SQRT1_2; // (J₊ − J₋)/2h
    case 'five-point':
      return Math.sqrt(130) / 12; // (J₋₂ − 8J₋ + 8J₊ − J₊₂)/12h
  }
}

/**
 * An entry's measured error at h: |D(2h) − D(h)|, which holds its truncation (at least, for
 * every order) and the round-off of both estimates, including round-off that only this entry's
 * perturbation brings out (a loss near log(0), say) and that no cost-wide σ shows.
 */
export function spreadOfTwoSteps(atH: number, at2H: number): number {
  return Math.abs(at2H - atH);
}

/**
 * The largest relative error a group's comparison can hide and still be called a pass: a
 * finite difference whose budget is above 1% of the gradient cannot vouch for it.
 */
export const RESOLUTION_LIMIT = 1e-2;

/** Multiples of the measured σ and truncation that make a budget (errors of a few σ are round-off). */
export const NOISE_SIGMAS = 4;
export const TRUNCATION_MARGIN = 2;

export interface GroupBudgetInput {
  scheme: Scheme;
  /** σ_J, the cost's round-off (or noise) per evaluation. */
  costNoise: number;
  /** Steps of the entries judged (an entry re-estimated at a smaller step carries more round-off). */
  steps: readonly number[];
  /**
   * Each judged entry's measured error: |D(2ε) − D(ε)| where it was sampled (truncation and
   * round-off both show there), its curvature's truncation for forward differences, else the
   * largest of its group's sample.
   */
  entryErrors: readonly number[];
}

/**
 * ‖error‖ the judged entries' finite differences may carry together: NOISE_SIGMAS times their
 * round-off from σ_J, and TRUNCATION_MARGIN times their measured errors, in quadrature.
 */
export function groupBudget(input: GroupBudgetInput): number {
  const gain = stencilNoiseGain(input.scheme);
  let noise2 = 0;
  for (const h of input.steps) noise2 += ((input.costNoise * gain) / h) ** 2;
  let err2 = 0;
  for (const e of input.entryErrors) err2 += e * e;
  return Math.sqrt(NOISE_SIGMAS ** 2 * noise2 + TRUNCATION_MARGIN ** 2 * err2);
}

/**
 * The smallest step the parameters can take: θᵢ + h rounds to a different step when h is
 * below θᵢ's spacing. Returns the worst relative error of the steps actually taken.
 */
export function stepRepresentationError(
  theta: ArrayLike<number>,
  h: number,
  from = 0,
  to = theta.length,
): { error: number; index: number } {
  let worst = 0;
  let index = -1;
  for (let i = from; i < to; i++) {
    const t = theta[i]!;
    const e = Math.max(Math.abs(t + h - t - h), Math.abs(t - h - t + h)) / h;
    if (e > worst) {
      worst = e;
      index = i;
    }
  }
  return { error: worst, index };
}
