import type { ParamGroup } from '../model/spec.js';
import { MT19937 } from '../rng/mt19937.js';
import { dotProduct, norm } from './metrics.js';

/**
 * Fast mode's random directions. Direction k of group G (attempt a) is standard normal on G's
 * entries and zero elsewhere, drawn from MT19937 seeded with [seed, G, k, a], so that any worker
 * or process rebuilds the same vector from its reference. The normals come by Box–Muller (two
 * per pair of uniforms): a direction of a million entries is drawn in milliseconds, where the
 * polar method with a correctly rounded log (kept for numpy's own draws) took half a second.
 * These draws need not match numpy's, only each other's.
 */
function fillNormals(
  out: Float64Array,
  at: number,
  count: number,
  seed: number,
  groupIndex: number,
  k: number,
  attempt: number,
): void {
  const mt = new MT19937();
  mt.seedArray([seed, groupIndex, k, attempt]);
  for (let i = 0; i < count; i += 2) {
    // 1 − U keeps the log's argument in (0, 1].
    const r = Math.sqrt(-2 * Math.log(1 - mt.nextDouble()));
    const t = 2 * Math.PI * mt.nextDouble();
    out[at + i] = r * Math.cos(t);
    if (i + 1 < count) out[at + i + 1] = r * Math.sin(t);
  }
}

export function directionVector(
  parameters: number,
  group: ParamGroup,
  groupIndex: number,
  seed: number,
  k: number,
  attempt = 0,
): Float64Array {
  const u = new Float64Array(parameters);
  fillNormals(u, group.offset, group.size, seed, groupIndex, k, attempt);
  return u;
}

/** A direction's entries on its own group only (what gᵀu needs). */
export function groupDirection(
  group: ParamGroup,
  groupIndex: number,
  seed: number,
  k: number,
  attempt = 0,
): Float64Array {
  const u = new Float64Array(group.size);
  fillNormals(u, 0, group.size, seed, groupIndex, k, attempt);
  return u;
}

/** gᵀu for a direction of `group`. */
export function projectGradient(grad: Float64Array, group: ParamGroup, u: Float64Array): number {
  return dotProduct(grad.subarray(group.offset, group.offset + group.size), u);
}

/** Regularised lower incomplete gamma P(s, x), by its power series (converges for every x used here). */
export function lowerGammaP(s: number, x: number): number {
  if (x <= 0) return 0;
  let term = 1 / s;
  let sum = term;
  for (let n = 1; n < 10_000; n++) {
    term *= x / (s + n);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return Math.min(1, Math.exp(s * Math.log(x) - x - logGamma(s)) * sum);
}

function logGamma(z: number): number {
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
}

/**
 * The chance that k Gaussian directions all miss a backward error e with ‖e‖ = ρ·‖g‖. Each
 * eᵀu is N(0, ‖e‖²), so ‖(eᵀu_j)‖² / ‖e‖² is χ²_k whatever e's structure (one wrong entry or a
 * wrong factor alike); the group passes when ‖gᵀU − D‖ ≤ tolerance, which an error alone
 * passes when χ²_k ≤ (tolerance / (ρ‖g‖))².
 */
export function missProbability(k: number, tolerance: number, rho: number, gradNorm: number): number {
  if (rho <= 0 || gradNorm <= 0) return 1;
  const bound = tolerance / (rho * gradNorm);
  return lowerGammaP(k / 2, (bound * bound) / 2);
}

/**
 * The tolerance of the threshold along k directions: formula (3) on the projections at the
 * threshold, with ‖gᵀU‖ ≈ ‖D‖ ≈ ‖g‖·√k replaced by that value itself so that the tolerance
 * does not depend on the random directions (which makes the miss probability exact).
 */
export function thresholdTolerance(threshold: number, gradNorm: number, k: number): number {
  return 2 * threshold * gradNorm * Math.sqrt(k);
}

export { norm };
