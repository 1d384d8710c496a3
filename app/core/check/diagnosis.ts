import { type ParamGroup, entryName, shapeText } from '../model/spec.js';
import { fmtCorrelation, fmtFactor, fmtPercent, fmtValue } from '../report/numbers.js';
import { dotProduct, norm, relativeDifference } from './metrics.js';
import type { Diagnosis, EntryReport } from './result.js';

/** Below this, ‖g − αĝ‖/‖g‖ means g is ĝ times a constant. */
const FACTOR_RESIDUAL = 1e-3;
/** Below this |cosine|, g and ĝ are called unrelated. */
const UNRELATED_CORRELATION = 0.5;
/** A fit that leaves less than this of ‖g − ĝ‖ unexplained names its term. */
const TERM_RESIDUAL = 1e-3;
/** At most this many wrong entries are named one by one. */
const FEW_ENTRIES = 5;

export interface DiagnosisInput {
  group: ParamGroup;
  groups: readonly ParamGroup[];
  /** Flat indices of the entries judged, and their analytic g and numerical ĝ. */
  indices: readonly number[];
  g: ArrayLike<number>;
  a: ArrayLike<number>;
  /** θ₀ on the same entries: a residual proportional to θ is a regulariser's. */
  theta?: ArrayLike<number>;
  /** |g − ĝ| an entry may show without any bug (its share of the group's budget). */
  entryTolerance: number;
  /** The comparison's relative error: factors are not printed finer than this. */
  resolution?: number;
}

function entry(input: DiagnosisInput, k: number): EntryReport {
  const g = input.g[k]!;
  const a = input.a[k]!;
  const absError = Math.abs(g - a);
  const den = Math.abs(g) + Math.abs(a);
  return {
    index: input.indices[k]!,
    name: entryName(input.groups, input.indices[k]!),
    group: input.group.name,
    analytic: g,
    numerical: a,
    absError,
    relError: den ? absError / den : 0,
  };
}

/** Least squares α in g ≈ α·ĝ, the cosine, and what α leaves unexplained. */
function fit(g: ArrayLike<number>, a: ArrayLike<number>): { alpha: number; correlation: number; residual: number } {
  const ng = norm(g);
  const na = norm(a);
  const gdota = dotProduct(g, a);
  const correlation = ng > 0 && na > 0 ? gdota / (ng * na) : 0;
  const alpha = na > 0 ? gdota / (na * na) : 0;
  let res = 0;
  for (let i = 0; i < g.length; i++) res += (g[i]! - alpha * a[i]!) ** 2;
  return { alpha, correlation, residual: ng > 0 ? Math.sqrt(res) / ng : 0 };
}

/** Every permutation of 0…r−1 but the identity (ranks up to 4: at most 23). */
function permutations(r: number): number[][] {
  const out: number[][] = [];
  const walk = (prefix: number[], rest: number[]): void => {
    if (rest.length === 0) {
      if (prefix.some((p, i) => p !== i)) out.push(prefix);
      return;
    }
    rest.forEach((x, i) => walk([...prefix, x], [...rest.slice(0, i), ...rest.slice(i + 1)]));
  };
  walk(
    [],
    Array.from({ length: r }, (_, i) => i),
  );
  return out;
}

/**
 * ĝ's entries poured into g's layout after permuting axes: the classic dW = A·dZᵀ bug in 2-D
 * (a transpose), or a convolution weight's axes swapped. Null where the shapes do not allow it.
 */
function permuted(a: ArrayLike<number>, shape: readonly number[], axes: number[]): Float64Array | null {
  const src = axes.map((ax) => shape[ax]!);
  const size = shape.reduce((p, n) => p * n, 1);
  const out = new Float64Array(size);
  const strides = new Array<number>(src.length);
  let s = 1;
  for (let d = src.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= src[d]!;
  }
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < size; k++) {
    // ĝ[idx] is entry idx' (idx'[d] = idx[axes[d]]) of ĝ.transpose(axes), at p in its flat layout.
    let p = 0;
    for (let d = 0; d < axes.length; d++) p += idx[axes[d]!]! * strides[d]!;
    out[p] = a[k]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Name the way a failing group's backward is wrong, from its analytic g and numerical ĝ on
 * the entries judged. The evidence (α, correlation, residual, the entries) travels with the
 * name, and the words never contradict the verdict.
 */
export function diagnoseGroup(input: DiagnosisInput): Diagnosis {
  const { group, g, a } = input;
  const name = group.name;
  const ng = norm(g);
  const na = norm(a);
  const { alpha, correlation, residual } = fit(g, a);
  const base = { correlation, residual };
  const complete = input.indices.length === group.size;

  if (na > 0 && ng <= 1e-6 * na) {
    return {
      kind: 'zero',
      ...base,
      factor: alpha,
      summary: `${name}: backward returns zero, but the cost depends on ${name} (‖∇J‖ = ${fmtValue(na)}): disconnected or never written`,
    };
  }
  if (ng > 0 && na <= input.entryTolerance * Math.sqrt(Math.max(1, g.length))) {
    return {
      kind: 'unrelated',
      ...base,
      summary: `${name}: the cost does not depend on ${name} at θ₀, yet backward returns a gradient of norm ${fmtValue(ng)}`,
    };
  }

  // A constant factor explains g when what it leaves is within 0.1% of g, or within the finite
  // differences' own error (which the factor scales along with ĝ).
  const budget = input.entryTolerance * Math.sqrt(Math.max(1, g.length));
  if (residual * ng <= Math.max(FACTOR_RESIDUAL * ng, Math.abs(alpha) * budget)) {
    if (Math.abs(alpha + 1) < 1e-3)
      return {
        kind: 'sign-flip',
        ...base,
        factor: alpha,
        summary: `${name}: backward has the wrong sign (${fmtFactor(alpha, input.resolution ?? 0)}× the true gradient)`,
      };
    return {
      kind: 'scale',
      ...base,
      factor: alpha,
      summary: `${name}: backward is ${fmtFactor(alpha, input.resolution ?? 0)}× the true gradient`,
    };
  }

  // A few wrong entries, the rest right: name them.
  const errors = Array.from({ length: g.length }, (_, k) => ({ k, e: Math.abs(g[k]! - a[k]!) })).sort(
    (x, y) => y.e - x.e,
  );
  const wrong = errors.filter(
    (x) => x.e > Math.max(4 * input.entryTolerance, 1e-6 * (Math.abs(g[x.k]!) + Math.abs(a[x.k]!))),
  );
  if (wrong.length > 0 && wrong.length <= FEW_ENTRIES && wrong.length < g.length / 2 && g.length > 1) {
    const total = errors.reduce((s, x) => s + x.e * x.e, 0);
    const named = wrong.reduce((s, x) => s + x.e * x.e, 0);
    if (named >= 0.99 * total) {
      const entries = wrong.map((x) => entry(input, x.k));
      const list = entries
        .map((e) => `${e.name} (backward ${fmtValue(e.analytic)}, finite differences ${fmtValue(e.numerical)})`)
        .join(', ');
      const rest = g.length - wrong.length;
      return {
        kind: 'entries',
        ...base,
        entries,
        summary: `${name}: ${wrong.length === 1 ? 'one entry is' : `${wrong.length} entries are`} wrong: ${list}; the other ${rest} agree`,
      };
    }
  }

  if (complete && group.shape.length >= 2 && group.shape.length <= 4) {
    for (const axes of permutations(group.shape.length)) {
      const p = permuted(a, group.shape, axes);
      if (p && relativeDifference(g, p) < 1e-4) {
        const src = axes.map((ax) => group.shape[ax]!);
        if (group.shape.length === 2) {
          return {
            kind: 'transposed',
            ...base,
            axes,
            summary: `${name}: backward holds the transpose of the true gradient (${shapeText(src)} poured into ${shapeText(group.shape)})`,
          };
        }
        return {
          kind: 'transposed',
          ...base,
          axes,
          summary: `${name}: backward holds the true gradient with its axes permuted (${axes.join(', ')}): ${shapeText(src)} poured into ${shapeText(group.shape)}`,
        };
      }
    }
  }

  // A missing or wrong term: g − ĝ = c·θ (L2) or c·sign(θ) (L1).
  if (input.theta && input.theta.length === g.length) {
    const d = Float64Array.from({ length: g.length }, (_, k) => g[k]! - a[k]!);
    const nd = norm(d);
    for (const [label, basis] of [
      ['L2', Float64Array.from(input.theta)],
      ['L1', Float64Array.from(input.theta, Math.sign)],
    ] as const) {
      const nb = norm(basis);
      if (nd === 0 || nb === 0) continue;
      const c = dotProduct(d, basis) / (nb * nb);
      let r = 0;
      for (let k = 0; k < d.length; k++) r += (d[k]! - c * basis[k]!) ** 2;
      if (Math.sqrt(r) / nd < TERM_RESIDUAL) {
        const term = label === 'L2' ? `${fmtValue(Math.abs(c))}·${name}` : `${fmtValue(Math.abs(c))}·sign(${name})`;
        const how = c < 0 ? `lacks ${term}` : `has an extra ${term}`;
        return {
          kind: 'missing-term',
          ...base,
          term: { kind: label, coefficient: -c },
          summary: `${name}: backward ${how} (its difference from the true gradient is exactly ${fmtValue(c)} × ${label === 'L2' ? name : `sign(${name})`}): an ${label} regularisation term missing or with the wrong coefficient`,
        };
      }
    }
  }

  if (Math.abs(correlation) < UNRELATED_CORRELATION) {
    return {
      kind: 'unrelated',
      ...base,
      summary: `${name}: backward is unrelated to the true gradient (correlation ${fmtCorrelation(correlation)})`,
    };
  }
  if (correlation < 0) {
    return {
      kind: 'opposed',
      ...base,
      factor: alpha,
      summary: `${name}: backward points against the true gradient (correlation ${fmtCorrelation(correlation)}, best factor ${fmtFactor(alpha, input.resolution ?? 0)}): a sign error on part of it`,
    };
  }
  const zeroed = Array.from({ length: g.length }, (_, k) => k).filter(
    (k) => g[k] === 0 && Math.abs(a[k]!) > 4 * input.entryTolerance,
  );
  if (zeroed.length > 0 && zeroed.length < g.length) {
    const restG = Array.from({ length: g.length }, (_, k) => k).filter((k) => !zeroed.includes(k));
    const restOk =
      relativeDifference(
        restG.map((k) => g[k]!),
        restG.map((k) => a[k]!),
      ) < 1e-4;
    if (restOk) {
      return {
        kind: 'dropped-path',
        ...base,
        summary: `${name}: backward is right on ${restG.length} entries and zero on ${zeroed.length} where the true gradient is not (e.g. ${entryName(input.groups, input.indices[zeroed[0]!]!)}): a path to those entries is dropped`,
      };
    }
  }
  return {
    kind: 'mismatch',
    ...base,
    factor: alpha,
    summary: `${name}: backward is partly right (correlation ${fmtCorrelation(correlation)}, best factor ${fmtFactor(alpha, input.resolution ?? 0)}, ${fmtPercent(residual)} unexplained): a missing or extra term, a dropped path or a wrong derivative`,
  };
}
