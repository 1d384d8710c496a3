import type { CostEvaluator } from '../model/evaluator.js';

export const SCHEMES = ['forward', 'central', 'five-point'] as const;
export type Scheme = (typeof SCHEMES)[number];

/** Cost evaluations per parameter entry, beyond the one at θ₀. */
export function evaluationsPerEntry(scheme: Scheme): number {
  return scheme === 'forward' ? 1 : scheme === 'central' ? 2 : 4;
}

/** Order of the truncation error: the expected log-log slope of error against ε. */
export function schemeOrder(scheme: Scheme): number {
  return scheme === 'forward' ? 1 : scheme === 'central' ? 2 : 4;
}

export interface EntryEstimate {
  /** The finite-difference estimate of ∂J/∂θᵢ. */
  value: number;
  /** Kinked pre-activations crossed by any of the perturbations. */
  kinks: number;
}

/**
 * One entry's finite difference. Central is exactly the notebook's
 * `(J_plus - J_minus) / (2 * epsilon)`.
 */
export function estimateEntry(ev: CostEvaluator, index: number, scheme: Scheme, epsilon: number): EntryEstimate {
  const value = new Float64Array(1);
  const kinks = new Uint32Array(1);
  estimateInto(ev, index, scheme, epsilon, value, kinks, 0);
  return { value: value[0]!, kinks: kinks[0]! };
}

/** estimateEntry written into approx[at] and kinks[at]: the sweep's inner loop, which allocates nothing. */
function estimateInto(
  ev: CostEvaluator,
  index: number,
  scheme: Scheme,
  epsilon: number,
  approx: Float64Array,
  kinks: Uint32Array,
  at: number,
): void {
  switch (scheme) {
    case 'forward': {
      const jp = ev.costAtEntry(index, epsilon);
      approx[at] = (jp - ev.baseCost) / epsilon;
      kinks[at] = ev.kinks;
      return;
    }
    case 'central': {
      const jp = ev.costAtEntry(index, epsilon);
      const kp = ev.kinks;
      const jm = ev.costAtEntry(index, -epsilon);
      approx[at] = (jp - jm) / (2 * epsilon);
      kinks[at] = kp + ev.kinks;
      return;
    }
    case 'five-point': {
      const jp2 = ev.costAtEntry(index, 2 * epsilon);
      let k = ev.kinks;
      const jp = ev.costAtEntry(index, epsilon);
      k += ev.kinks;
      const jm = ev.costAtEntry(index, -epsilon);
      k += ev.kinks;
      const jm2 = ev.costAtEntry(index, -2 * epsilon);
      approx[at] = (jm2 - 8 * jm + 8 * jp - jp2) / (12 * epsilon);
      kinks[at] = k + ev.kinks;
      return;
    }
  }
}

/** Estimates for entries [start, end) into `approx` and `kinks` (indexed from `start`). */
export function estimateRange(
  ev: CostEvaluator,
  start: number,
  end: number,
  scheme: Scheme,
  epsilon: number,
  approx: Float64Array,
  kinks: Uint32Array,
): void {
  for (let i = start; i < end; i++) estimateInto(ev, i, scheme, epsilon, approx, kinks, i - start);
}

/** Estimates of `indices` at step `epsilon`, in that order, with their kink counts. */
export function estimateIndices(
  ev: CostEvaluator,
  indices: readonly number[],
  scheme: Scheme,
  epsilon: number,
): { approx: Float64Array; kinks: Uint32Array } {
  const approx = new Float64Array(indices.length);
  const kinks = new Uint32Array(indices.length);
  indices.forEach((i, j) => estimateInto(ev, i, scheme, epsilon, approx, kinks, j));
  return { approx, kinks };
}
