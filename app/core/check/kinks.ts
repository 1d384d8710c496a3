/**
 * Kinks, one logic for every subject. GradProof's own engine counts the pre-activations whose
 * sign a step changes (exact); for a subject GradProof cannot see inside, a kink is found from
 * costs alone. Around θ₀, with s = J(h) + J(−h) − 2J(0) (a second difference) and
 * q = J(2h) − 4J(h) + 6J(0) − 4J(−h) + J(−2h) (a fourth difference):
 * - a smooth cost has s ≈ h²·J″ and q ≈ h⁴·J⁗, so |q| ≪ |s| (curvature is not a kink);
 * - a kink within ±2h (slope jump Δ) puts a tent into the second differences: |q| and |s| are
 *   both of order Δ·h, so |q| is comparable to |s| or larger.
 * So: an entry is kinked when |q| stands above the cost's rounding and above a quarter of |s|.
 */

/** Multiples of q's round-off σ_J·√70 above which q is more than rounding. */
const Q_SIGMAS = 6;
/** |q| / |s| above this is a kink's tent, not curvature. */
const TENT_RATIO = 0.25;

export function secondDifference(j0: number, jp: number, jm: number): number {
  return jp + jm - 2 * j0;
}

/** Whether the costs around an entry (or direction) show a kink within ±2h. */
export function kinkedByCosts(q: number, s: number, costNoise: number): boolean {
  return Math.abs(q) > Q_SIGMAS * costNoise * Math.sqrt(70) && Math.abs(q) > TENT_RATIO * Math.abs(s);
}

/**
 * A cheap first look with J(±h) only: a second difference above rounding may be a kink (or
 * just curvature); such entries get J(±2h) and the test above. Below rounding, a kink there
 * would move the estimate by less than its own round-off.
 */
export function kinkSuspect(s: number, costNoise: number): boolean {
  return Math.abs(s) > Q_SIGMAS * costNoise * Math.sqrt(6);
}

/** Steps at which an entry found at a kink is re-estimated: a kink at distance d ≠ 0 clears once 2h < |d|. */
export const KINK_RETRY_FACTORS = [0.1, 0.01] as const;

/**
 * At a kink that no smaller step clears (a pre-activation exactly at 0), the derivative does
 * not exist, and a correct backward returns one of the one-sided derivatives: relu′(0) = 0
 * gives the side where the unit stays off, relu′(0) = 1 the side where it turns on. A value
 * strictly between them is not accepted: a wrong factor could land there.
 */
export function oneSidedMatch(g: number, left: number, right: number, tolerance: number): 'left' | 'right' | null {
  if (Math.abs(g - left) <= tolerance) return 'left';
  if (Math.abs(g - right) <= tolerance) return 'right';
  return null;
}

export const ENGINE_KINK_CAUSE =
  'the perturbation changes the sign of a ReLU pre-activation, where the derivative is undefined';
export const COST_KINK_CAUSE =
  'the costs around θ₀ bend as a kink does (their fourth difference is as large as their second), not as curvature would';
