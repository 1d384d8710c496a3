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
  let kinks = 0;
  const at = (delta: number): number => {
    const j = ev.costAtEntry(index, delta);
    kinks += ev.kinks;
    return j;
  };
  switch (scheme) {
    case 'forward': {
      const jp = at(epsilon);
      return { value: (jp - ev.baseCost) / epsilon, kinks };
    }
    case 'central': {
      const jp = at(epsilon);
      const jm = at(-epsilon);
      return { value: (jp - jm) / (2 * epsilon), kinks };
    }
    case 'five-point': {
      const jp2 = at(2 * epsilon);
      const jp = at(epsilon);
      const jm = at(-epsilon);
      const jm2 = at(-2 * epsilon);
      return { value: (jm2 - 8 * jm + 8 * jp - jp2) / (12 * epsilon), kinks };
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
  for (let i = start; i < end; i++) {
    const e = estimateEntry(ev, i, scheme, epsilon);
    approx[i - start] = e.value;
    kinks[i - start] = e.kinks;
  }
}

/** Estimates of `indices` at step `epsilon`, in that order, with their kink counts. */
export function estimateIndices(ev: CostEvaluator, indices: readonly number[], scheme: Scheme, epsilon: number): { approx: Float64Array; kinks: Uint32Array } {
  const approx = new Float64Array(indices.length);
  const kinks = new Uint32Array(indices.length);
  indices.forEach((i, j) => {
    const e = estimateEntry(ev, i, scheme, epsilon);
    approx[j] = e.value;
    kinks[j] = e.kinks;
  });
  return { approx, kinks };
}
