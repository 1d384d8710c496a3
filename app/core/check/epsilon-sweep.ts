import type { CostEvaluator } from '../model/evaluator.js';
import { relativeDifference } from './metrics.js';
import type { EpsilonPoint, EpsilonSweep } from './result.js';
import { type Scheme, estimateEntry, schemeOrder } from './schemes.js';

/** 1e-1, 1e-2, … 1e-10: from truncation-dominated to round-off-dominated. */
export const DEFAULT_EPSILONS = Array.from({ length: 10 }, (_, k) => Number(`1e-${k + 1}`));

/** Entries used at each ε: all of a small model, an even spread of a large one. */
export function sweepIndices(parameters: number, max = 512): number[] {
  if (parameters <= max) return Array.from({ length: parameters }, (_, i) => i);
  return Array.from({ length: max }, (_, k) => Math.floor((k * parameters) / max));
}

/** The difference at one ε, over all entries and over those that cross no kink. */
export function epsilonPoint(
  ev: CostEvaluator,
  grad: Float64Array,
  indices: readonly number[],
  scheme: Scheme,
  epsilon: number,
): EpsilonPoint {
  const g: number[] = [];
  const a: number[] = [];
  const gs: number[] = [];
  const as: number[] = [];
  let kinked = 0;
  for (const i of indices) {
    const e = estimateEntry(ev, i, scheme, epsilon);
    g.push(grad[i]!);
    a.push(e.value);
    if (e.kinks > 0) kinked++;
    else {
      gs.push(grad[i]!);
      as.push(e.value);
    }
  }
  return {
    epsilon,
    difference: relativeDifference(g, a),
    smoothDifference: gs.length ? relativeDifference(gs, as) : Number.NaN,
    kinkedEntries: kinked,
  };
}

function fitSlope(points: readonly EpsilonPoint[]): number | null {
  if (points.length < 2) return null;
  const xs = points.map((p) => Math.log10(p.epsilon));
  const ys = points.map((p) => Math.log10(p.smoothDifference));
  const mx = xs.reduce((s, x) => s + x, 0) / xs.length;
  const my = ys.reduce((s, y) => s + y, 0) / ys.length;
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => {
    num += (x - mx) * (ys[i]! - my);
    den += (x - mx) ** 2;
  });
  return den > 0 ? num / den : null;
}

/**
 * Read the curve. A correct backward's difference falls as ε^p while truncation
 * dominates (p = the scheme's order), bottoms out, then rises as round-off takes
 * over; the bottom is the recommended ε. A backward with a real bug sits on a
 * flat line at the size of the bug whatever ε is.
 */
export function analyseEpsilonSweep(points: EpsilonPoint[], scheme: Scheme, entries: number): EpsilonSweep {
  const usable = points.filter((p) => Number.isFinite(p.smoothDifference) && p.smoothDifference > 0);
  const expectedSlope = schemeOrder(scheme);
  if (usable.length === 0) {
    return {
      scheme,
      entries,
      points,
      expectedSlope,
      slope: null,
      floor: Number.NaN,
      recommendedEpsilon: Number.NaN,
      flat: false,
      summary: 'no ε gave a usable difference (every entry crossed a kink)',
    };
  }
  const best = usable.reduce((a, b) => (b.smoothDifference < a.smoothDifference ? b : a));
  const floor = best.smoothDifference;
  const max = Math.max(...usable.map((p) => p.smoothDifference));
  // Less than a decade of movement over nine decades of ε: not a step-size effect.
  const flat = max < 10 * floor;
  // Truncation regime: larger ε than the floor's, clearly above the floor.
  const truncation = usable.filter((p) => p.epsilon > best.epsilon && p.smoothDifference > 10 * floor);
  const slope = flat ? null : fitSlope(truncation);
  const summary = flat
    ? `the difference stays near ${floor.toExponential(2)} from ε = ${usable[0]!.epsilon} to ${usable[usable.length - 1]!.epsilon}: a real bug in the backward, not a step-size artefact`
    : `the difference falls with slope ${slope === null ? 'n/a' : slope.toFixed(2)} (expected ${expectedSlope} for ${scheme} differences) to a round-off floor of ${floor.toExponential(2)} at ε = ${best.epsilon}; recommended ε = ${best.epsilon}`;
  return { scheme, entries, points, expectedSlope, slope, floor, recommendedEpsilon: best.epsilon, flat, summary };
}

export function runEpsilonSweep(
  ev: CostEvaluator,
  grad: Float64Array,
  scheme: Scheme,
  epsilons: readonly number[] = DEFAULT_EPSILONS,
): EpsilonSweep {
  const indices = sweepIndices(grad.length);
  const points = epsilons.map((e) => epsilonPoint(ev, grad, indices, scheme, e));
  return analyseEpsilonSweep(points, scheme, indices.length);
}
