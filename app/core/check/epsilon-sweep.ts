import { fmtEpsilon } from '../report/numbers.js';
import {
  NOISE_SIGMAS,
  TRUNCATION_MARGIN,
  costRoundoffFloor,
  detectPrecision,
  fourthDifference,
  spreadOfTwoSteps,
  stencilNoiseGain,
  stepRepresentationError,
} from './budget.js';
import type { Estimator } from './estimator.js';
import { kinkedByCosts, secondDifference } from './kinks.js';
import { relativeDifference } from './metrics.js';
import { ProgressMeter } from './progress.js';
import type { CheckHooks } from './orchestrator.js';
import type { EpsilonPoint, EpsilonSweep } from './result.js';
import { type Scheme, applyStencil, layoutOffsets, schemeOrder } from './schemes.js';

/** 1e-1, 1e-2, … 1e-10: from truncation-dominated to round-off-dominated. */
export const DEFAULT_EPSILONS = Array.from({ length: 10 }, (_, k) => Number(`1e-${k + 1}`));

/** Steps `--epsilon auto` chooses among: 1e-2, 3e-3, 1e-3, … 1e-9. */
export const AUTO_EPSILONS = Array.from({ length: 15 }, (_, k) =>
  Number(((k % 2 ? 3 : 1) * 10 ** -(2 + Math.ceil(k / 2))).toPrecision(1)),
);

/** Entries of each group that `--epsilon auto` estimates at every candidate step. */
const AUTO_SAMPLE = 16;

/** Entries used at each ε: all of a small model, an even spread of a large one. */
export function sweepIndices(parameters: number, max = 512): number[] {
  if (parameters <= max) return Array.from({ length: parameters }, (_, i) => i);
  return Array.from({ length: max }, (_, k) => Math.floor((k * parameters) / max));
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
    ? `the difference stays near ${floor.toExponential(2)} from ε = ${fmtEpsilon(usable[0]!.epsilon)} to ${fmtEpsilon(usable[usable.length - 1]!.epsilon)}: a real bug in the backward, not a step-size artefact`
    : `the difference falls with slope ${slope === null ? 'n/a' : slope.toFixed(2)} (expected ${expectedSlope} for ${scheme} differences) to a round-off floor of ${floor.toExponential(2)} at ε = ${fmtEpsilon(best.epsilon)}; recommended ε = ${fmtEpsilon(best.epsilon)}`;
  return { scheme, entries, points, expectedSlope, slope, floor, recommendedEpsilon: best.epsilon, flat, summary };
}

/** Costs at [±h, ±2h] for `indices`: the estimate at h and 2h and the kink test, for any subject. */
async function probe(
  est: Estimator,
  indices: readonly number[],
  h: number,
  j0: number,
  scheme: Scheme,
  costNoise: number,
) {
  const width = 4;
  const b = await est.entryCosts({ indices }, layoutOffsets(h, width));
  const points = indices.map((_, k) => {
    const c = b.costs.subarray(k * width, (k + 1) * width);
    const kinked = b.kinks
      ? b.kinks.subarray(k * width, (k + 1) * width).some((x) => x > 0)
      : kinkedByCosts(fourthDifference(j0, c[0]!, c[1]!, c[2]!, c[3]!), secondDifference(j0, c[0]!, c[1]!), costNoise);
    const finite = Array.from(c).every((x) => Number.isFinite(x));
    const atH = applyStencil(scheme, h, j0, c);
    // The scheme at 2h needs J(±4h) for five-point; the central pair at 2h stands in for its truncation.
    const at2H =
      scheme === 'five-point' ? applyStencil('central', 2 * h, j0, c, 2) : applyStencil(scheme, 2 * h, j0, c, 2);
    return { value: atH, at2H, kinked, finite };
  });
  return { points, costs: b.costs };
}

/**
 * `--epsilon auto`: for each group, the step among 1e-2 … 1e-9 at which a few of its entries'
 * estimates carry the smallest error relative to their size. An estimate's error is the larger
 * of what shows between h and 2h (truncation, and round-off that happened to show) and the
 * round-off its precision must carry at h (so a cost that does not move at all is never
 * "exact"). Steps θ₀ cannot take exactly are skipped; ties go to the larger step.
 */
export async function chooseEpsilons(
  est: Estimator,
  j0: number,
  scheme: Scheme,
  costNoise: number,
  hooks: CheckHooks,
): Promise<{ epsilon: number; error: number }[]> {
  const meter = new ProgressMeter(est.groups.length * AUTO_EPSILONS.length, 4 * AUTO_SAMPLE, 'epsilon');
  let done = 0;
  const probes: { g: number; h: number; points: Awaited<ReturnType<typeof probe>>['points'] }[] = [];
  const seen: number[] = [j0];
  for (const [gi, g] of est.groups.entries()) {
    const count = Math.min(AUTO_SAMPLE, g.size);
    const idx = Array.from({ length: count }, (_, k) => g.offset + Math.floor(((k + 0.5) * g.size) / count));
    for (const h of AUTO_EPSILONS) {
      if (hooks.signal?.aborted) break;
      done++;
      if (stepRepresentationError(est.theta0, h, g.offset, g.offset + g.size).error > 1e-3) continue;
      const p = await probe(est, idx, h, j0, scheme, costNoise);
      if (seen.length < 4096) seen.push(...p.costs);
      probes.push({ g: gi, h, points: p.points });
      hooks.onProgress?.(meter.at(done));
    }
  }
  const precision = est.precision.precision === 'unknown' ? detectPrecision(seen).precision : est.precision.precision;
  const sigma = Math.max(costNoise, costRoundoffFloor(precision, j0));
  return est.groups.map((_, gi) => {
    let best = { epsilon: 1e-6, error: Number.POSITIVE_INFINITY };
    for (const { h, points } of probes.filter((p) => p.g === gi)) {
      const p = points.filter((x) => !x.kinked && x.finite);
      if (p.length === 0) continue;
      // As the judgement will weigh it: round-off from σ_J, and the worst spread between h and 2h,
      // doubled because the group's other entries may spread more than these few.
      const noise = (NOISE_SIGMAS * sigma * stencilNoiseGain(scheme)) / h;
      const worst = p.reduce((m, x) => Math.max(m, spreadOfTwoSteps(x.value, x.at2H)), 0);
      const size = Math.sqrt(p.reduce((s, x) => s + x.value * x.value, 0) / p.length);
      const err = Math.sqrt(noise * noise + (2 * TRUNCATION_MARGIN * worst) ** 2);
      const score = size > 0 ? err / size : Number.POSITIVE_INFINITY;
      if (score < best.error * 0.9) best = { epsilon: h, error: score };
    }
    return Number.isFinite(best.error) ? best : { epsilon: 1e-6, error: Number.NaN };
  });
}

/** The difference at each ε of the sweep on an even sample of entries, for any subject. */
export async function runEpsilonSweep(
  est: Estimator,
  grad: Float64Array,
  scheme: Scheme,
  j0: number,
  costNoise: number,
  hooks: CheckHooks,
  epsilons: readonly number[] = DEFAULT_EPSILONS,
): Promise<EpsilonSweep> {
  const indices = sweepIndices(grad.length);
  const meter = new ProgressMeter(epsilons.length, indices.length * 4, 'epsilon');
  const points: EpsilonPoint[] = [];
  for (const [k, h] of epsilons.entries()) {
    const { points: p } = await probe(est, indices, h, j0, scheme, costNoise);
    const g = indices.map((i) => grad[i]!);
    const a = p.map((x) => x.value);
    const smooth = p.map((x, j) => ({ x, j })).filter(({ x }) => !x.kinked && x.finite);
    points.push({
      epsilon: h,
      difference: relativeDifference(g, a),
      smoothDifference: smooth.length
        ? relativeDifference(
            smooth.map(({ j }) => g[j]!),
            smooth.map(({ x }) => x.value),
          )
        : Number.NaN,
      kinkedEntries: p.length - smooth.length,
    });
    hooks.onProgress?.(meter.at(k + 1));
  }
  return analyseEpsilonSweep(points, scheme, indices.length);
}
