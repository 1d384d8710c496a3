import type { CostEvaluator } from '../model/evaluator.js';

export const SCHEMES = ['forward', 'central', 'five-point'] as const;
export type Scheme = (typeof SCHEMES)[number];

/** Order of the truncation error: the expected log-log slope of error against ε. */
export function schemeOrder(scheme: Scheme): number {
  return scheme === 'forward' ? 1 : scheme === 'central' ? 2 : 4;
}

/**
 * The one stencil. Every finite difference in GradProof reads the costs of one entry (or one
 * direction) laid out as [J(+h), J(−h), J(+2h), J(−2h)], truncated to what is needed, plus J(θ₀):
 * the same layout at step 2h is [J(+2h), J(−2h), J(+4h), J(−4h)], so the same function gives the
 * estimate at h and at 2h. Central is exactly the notebook's `(J_plus - J_minus) / (2 * epsilon)`.
 */
export function applyStencil(scheme: Scheme, h: number, j0: number, c: ArrayLike<number>, at = 0): number {
  switch (scheme) {
    case 'forward':
      return (c[at]! - j0) / h;
    case 'central':
      return (c[at]! - c[at + 1]!) / (2 * h);
    case 'five-point':
      return (c[at + 3]! - 8 * c[at + 1]! + 8 * c[at]! - c[at + 2]!) / (12 * h);
  }
}

/** How many costs of the layout [+h, −h, +2h, −2h] a scheme reads. */
export function stencilWidth(scheme: Scheme): number {
  return scheme === 'forward' ? 1 : scheme === 'central' ? 2 : 4;
}

/** The first `width` offsets of the layout at step h. */
export function layoutOffsets(h: number, width: number): number[] {
  return [h, -h, 2 * h, -2 * h].slice(0, width);
}

/**
 * Costs at θ₀ + d·e_index for each offset d, written at out[at …]; kink crossings per offset
 * (when the evaluator sees them) at kinks[at …]. The sweep's inner loop: it allocates nothing.
 */
export function costsAtEntry(
  ev: CostEvaluator,
  index: number,
  offsets: readonly number[],
  out: Float64Array,
  kinks: Uint32Array,
  at: number,
): void {
  for (let j = 0; j < offsets.length; j++) {
    out[at + j] = ev.costAtEntry(index, offsets[j]!);
    kinks[at + j] = ev.kinks;
  }
}
