import type { CostEvaluator } from '../model/evaluator.js';
import type { ParamGroup } from '../model/spec.js';
import { RandomState } from '../rng/random-state.js';
import { dotProduct, norm, normOfDifference, relativeDifference } from './metrics.js';
import { NOISE_STEP_RATIO, estimateNoise } from './noise.js';
import type { DirectionTest, GroupReport, NoiseEstimate } from './result.js';

/** Attempts per direction before a kinked direction is given up as inconclusive. */
export const DIRECTION_ATTEMPTS = 4;

/**
 * Direction k of group G: standard normal on G's entries, zero elsewhere, drawn
 * from RandomState([seed, G, k, attempt]) so it is the same on any worker.
 */
export function directionVector(
  parameters: number,
  group: ParamGroup,
  groupIndex: number,
  seed: number,
  k: number,
  attempt = 0,
): Float64Array {
  const u = new Float64Array(parameters);
  const rs = new RandomState([seed, groupIndex, k, attempt]);
  for (let i = 0; i < group.size; i++) u[group.offset + i] = rs.standardNormal();
  return u;
}

export interface DirectionEvaluation {
  group: number;
  k: number;
  attempt: number;
  /** Central difference along u at ε, and at √2·ε (for the round-off estimate). */
  numerical: number;
  wider: number;
  kinks: number;
}

/** Central differences along a direction, retried with a fresh u if it crosses a kink. */
export function evaluateDirection(
  ev: CostEvaluator,
  groups: readonly ParamGroup[],
  groupIndex: number,
  seed: number,
  k: number,
  epsilon: number,
): DirectionEvaluation {
  const n = ev.theta0.length;
  let last: DirectionEvaluation | undefined;
  for (let attempt = 0; attempt < DIRECTION_ATTEMPTS; attempt++) {
    const u = directionVector(n, groups[groupIndex]!, groupIndex, seed, k, attempt);
    let kinks = 0;
    const at = (d: number): number => {
      const j = ev.costAlong(u, d);
      kinks += ev.kinks;
      return j;
    };
    const numerical = (at(epsilon) - at(-epsilon)) / (2 * epsilon);
    const w = epsilon * NOISE_STEP_RATIO;
    const wider = (at(w) - at(-w)) / (2 * w);
    last = { group: groupIndex, k, attempt, numerical, wider, kinks };
    if (kinks === 0) return last;
  }
  return last!;
}

/** Regularised lower incomplete gamma P(s, x), by its power series (x small here). */
function lowerGammaP(s: number, x: number): number {
  if (x <= 0) return 0;
  let term = 1 / s;
  let sum = term;
  for (let n = 1; n < 500; n++) {
    term *= x / (s + n);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  const logGamma = (z: number): number => {
    // Lanczos approximation, ample for the half-integers used here.
    const g = 7;
    const c = [
      0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
      12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];
    if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
    z -= 1;
    let a = c[0]!;
    const t = z + g + 0.5;
    for (let i = 1; i < g + 2; i++) a += c[i]! / (z + i);
    return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
  };
  return Math.min(1, Math.exp(s * Math.log(x) - x - logGamma(s)) * sum);
}

/**
 * Chance that k directions all miss a backward error of relative size ρ.
 * With e = g − ∇J, each eᵀu is N(0, ‖e‖²), so ‖(eᵀu_k)‖² / ‖e‖² is χ²_k; the
 * group passes when ‖gᵀU − D‖ ≤ threshold·(‖gᵀU‖ + ‖D‖) ≈ threshold·2‖g‖√k, so it
 * misses when χ²_k ≤ (2·threshold·√k / ρ)².
 */
export function missProbability(k: number, threshold: number, rho: number): number {
  const bound = (2 * threshold * Math.sqrt(k)) / rho;
  return lowerGammaP(k / 2, (bound * bound) / 2);
}

/**
 * A group judged along its k directions with formula (3) on the projections:
 * ‖gᵀU − D‖ / (‖gᵀU‖ + ‖D‖), which for an error of relative size ρ is about ρ/2,
 * like the entry-wise difference, so the same threshold applies.
 */
export function judgeGroupAlongDirections(
  group: ParamGroup,
  grad: Float64Array,
  evaluations: readonly DirectionEvaluation[],
  directions: (k: number, attempt: number) => Float64Array,
  threshold: number,
): { report: GroupReport; tests: DirectionTest[]; noise: NoiseEstimate } {
  const gs = grad.subarray(group.offset, group.offset + group.size);
  const ng = norm(gs);
  const analytic: number[] = [];
  const numerical: number[] = [];
  const tests: DirectionTest[] = [];
  const smoothA: number[] = [];
  const smoothD: number[] = [];
  const wideD: number[] = [];
  for (const e of evaluations) {
    const u = directions(e.k, e.attempt).subarray(group.offset, group.offset + group.size);
    const a = dotProduct(gs, u);
    analytic.push(a);
    numerical.push(e.numerical);
    tests.push({
      group: group.name,
      analytic: a,
      numerical: e.numerical,
      error: ng > 0 ? Math.abs(a - e.numerical) / ng : Math.abs(a - e.numerical),
      kinks: e.kinks,
    });
    if (e.kinks === 0) {
      smoothA.push(a);
      smoothD.push(e.numerical);
      wideD.push(e.wider);
    }
  }
  const noise = estimateNoise(smoothD, wideD);
  const difference = relativeDifference(analytic, numerical);
  const smoothDifference = relativeDifference(smoothA, smoothD);
  const allowance = 4 * noise.perEntry * Math.sqrt(Math.max(1, smoothA.length));
  const kinked = evaluations.length - smoothA.length;
  let verdict: GroupReport['verdict'];
  let note: string | undefined;
  if (smoothA.length === 0) {
    verdict = 'inconclusive';
    note = `every direction crossed a ReLU kink at this ε`;
  } else if (smoothDifference <= threshold || normOfDifference(smoothA, smoothD) <= allowance) {
    verdict = 'pass';
    note = `${smoothA.length} random direction${smoothA.length === 1 ? '' : 's'} agree${kinked ? `; ${kinked} crossed a kink` : ''}`;
  } else {
    verdict = 'fail';
    note = `fails along ${smoothA.length} random directions`;
  }
  const report: GroupReport = {
    name: group.name,
    shape: [group.rows, group.cols],
    size: group.size,
    difference,
    verdict,
    method: 'directions',
    kinkEntries: 0,
    normAnalytic: ng,
    normNumerical: norm(numerical),
    note,
  };
  return { report, tests, noise };
}
