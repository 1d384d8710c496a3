import type { SubjectGroup } from '../../core/subjects/protocol.js';
import { SubjectError } from '../../core/errors.js';

/** What a subject says about itself: its parameter groups, θ₀ and (if it knows) its precision. */
export interface SubjectDescription {
  groups: SubjectGroup[];
  theta: Float64Array;
  precision?: 'float16' | 'bfloat16' | 'float32' | 'float64';
}

/**
 * One live instance of a subject under audit (a child process, or a module in a
 * worker thread). Several run side by side for a parallel sweep.
 */
export interface SubjectConnection {
  describe(): Promise<SubjectDescription>;
  /** The backward pass under audit, at θ₀. */
  gradient(): Promise<Float64Array>;
  /** J(θ₀) */
  cost(): Promise<number>;
  /** J(θ₀ + delta·e_index) for each [index, delta]. */
  costs(entries: [number, number][]): Promise<Float64Array>;
  /** J(θ₀ + delta·u) for each delta. */
  costsAlong(u: Float64Array, deltas: number[]): Promise<Float64Array>;
  /** Ends the subject; never leaves a process or thread behind. */
  close(): Promise<void>;
}

/** Finite numbers or a SubjectError naming which value was not. */
export function finiteArray(
  values: readonly (number | null)[],
  subject: string,
  what: (i: number) => string,
): Float64Array {
  const out = new Float64Array(values.length);
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v))
      throw new SubjectError(
        `subject ${subject} returned ${v === null ? 'NaN or Infinity' : v} for ${what(i)}; a cost and its gradient must be finite numbers`,
      );
    out[i] = v;
  });
  return out;
}
