import type { ParamGroup } from '../model/spec.js';
import { dotProduct, norm, relativeDifference } from './metrics.js';
import type { Diagnosis } from './result.js';

/** Below this, ‖g − αĝ‖/‖g‖ means g is ĝ times a constant. */
const FACTOR_RESIDUAL = 1e-3;
/** Below this cosine, g and ĝ are called unrelated. */
const UNRELATED_CORRELATION = 0.5;

function fmt(x: number): string {
  return x.toFixed(3);
}

/**
 * Name the way a failing group's backward is wrong, from its analytic g and
 * numerical ĝ. The evidence (α, correlation, residual) travels with the name.
 */
export function diagnoseGroup(group: ParamGroup, g: ArrayLike<number>, a: ArrayLike<number>): Diagnosis {
  const ng = norm(g);
  const na = norm(a);
  const gdota = dotProduct(g, a);
  const correlation = ng > 0 && na > 0 ? gdota / (ng * na) : 0;
  const alpha = na > 0 ? gdota / (na * na) : 0;
  let res = 0;
  for (let i = 0; i < g.length; i++) res += (g[i]! - alpha * a[i]!) ** 2;
  const residual = ng > 0 ? Math.sqrt(res) / ng : 0;
  const base = { correlation, residual };
  const name = group.name;

  if (na > 0 && ng <= 1e-6 * na) {
    return {
      kind: 'zero',
      ...base,
      factor: alpha,
      summary: `${name}: backward returns zero where the true gradient is not (disconnected or never written)`,
    };
  }
  if (na === 0 && ng > 0) {
    return {
      kind: 'unrelated',
      ...base,
      summary: `${name}: the cost does not depend on ${name} at all, yet backward returns a non-zero gradient`,
    };
  }
  if (residual < FACTOR_RESIDUAL) {
    if (Math.abs(alpha + 1) < 1e-3) {
      return {
        kind: 'sign-flip',
        ...base,
        factor: alpha,
        summary: `${name}: backward has the wrong sign (−1.000× the true gradient)`,
      };
    }
    return { kind: 'scale', ...base, factor: alpha, summary: `${name}: backward is ${fmt(alpha)}× the true gradient` };
  }
  if (group.rows > 1 && group.cols > 1 && g.length === group.size) {
    // The classic dW = A_prev·dZᵀ bug: ĝᵀ's entries poured into W's row-major slot.
    const t = new Float64Array(group.size);
    for (let i = 0; i < group.rows; i++)
      for (let j = 0; j < group.cols; j++) t[j * group.rows + i] = a[i * group.cols + j]!;
    if (relativeDifference(g, t) < 1e-4) {
      return {
        kind: 'transposed',
        ...base,
        summary: `${name}: backward holds the transpose of the true gradient (${group.cols}x${group.rows} poured into ${group.rows}x${group.cols})`,
      };
    }
  }
  if (Math.abs(correlation) < UNRELATED_CORRELATION) {
    return {
      kind: 'unrelated',
      ...base,
      summary: `${name}: backward is unrelated to the true gradient (correlation ${fmt(correlation)})`,
    };
  }
  return {
    kind: 'mismatch',
    ...base,
    factor: alpha,
    summary: `${name}: backward is partly right (correlation ${fmt(correlation)}, best factor ${fmt(alpha)}, ${(residual * 100).toFixed(1)}% unexplained): a missing or wrong term`,
  };
}
