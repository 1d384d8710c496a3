import type { NoiseEstimate } from './result.js';

/** Ratio between the two step sizes used to expose round-off. */
export const NOISE_STEP_RATIO = Math.SQRT2;

/** Entries sampled evenly across the vector (every group gets a share in order). */
export function noiseSampleIndices(parameters: number, count = 64): number[] {
  if (parameters <= count) return Array.from({ length: parameters }, (_, i) => i);
  const out: number[] = [];
  for (let k = 0; k < count; k++) out.push(Math.floor(((k + 0.5) * parameters) / count));
  return out;
}

/**
 * Round-off of one finite-difference entry, from the same entries estimated at
 * ε and at √2·ε. For a smooth cost the two differ by far less than their
 * rounding errors (whose size goes as 1/ε), so the spread between them is noise:
 * var(ĝ_ε − ĝ_√2ε) = σ²(1 + 1/2).
 */
export function estimateNoise(atEpsilon: readonly number[], atWider: readonly number[]): NoiseEstimate {
  const n = Math.min(atEpsilon.length, atWider.length);
  if (n === 0) return { perEntry: 0, sampled: 0 };
  let s = 0;
  for (let i = 0; i < n; i++) s += (atEpsilon[i]! - atWider[i]!) ** 2;
  const rms = Math.sqrt(s / n);
  return { perEntry: rms / Math.sqrt(1 + 1 / (NOISE_STEP_RATIO * NOISE_STEP_RATIO)), sampled: n };
}
