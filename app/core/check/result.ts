import type { Precision, PrecisionSource } from './estimator.js';
import type { Scheme } from './schemes.js';

export type Verdict = 'pass' | 'fail' | 'inconclusive';

export type DiagnosisKind =
  | 'scale'
  | 'sign-flip'
  | 'zero'
  | 'transposed'
  | 'entries'
  | 'missing-term'
  | 'missing-activation-derivative'
  | 'dropped-path'
  | 'opposed'
  | 'unrelated'
  | 'mismatch';

export interface Diagnosis {
  kind: DiagnosisKind;
  /** α in g ≈ αĝ (least squares), when the relation is a constant factor. */
  factor?: number;
  /** Cosine between g and ĝ. */
  correlation: number;
  /** ‖g − αĝ‖ / ‖g‖: what a constant factor leaves unexplained. */
  residual: number;
  /** For a missing activation derivative: the layer whose derivative is left out. */
  layer?: number;
  /** For wrong entries: each of them, with both values. */
  entries?: EntryReport[];
  /** For a transposed gradient: the axes it was permuted by. */
  axes?: number[];
  /** For a missing or wrong term: which, and the coefficient the backward is short by. */
  term?: { kind: 'L1' | 'L2'; coefficient: number };
  /** One sentence for people, e.g. "W2: backward is 2.000× the true gradient". */
  summary: string;
}

/** How an entry was judged: its first estimate, re-estimated at a smaller step past a kink, or left at a kink. */
export type EntryStatus = 'smooth' | 'kink-resolved' | 'kink-subgradient' | 'kink-unresolved';

export interface EntryReport {
  index: number;
  name: string;
  group: string;
  analytic: number;
  numerical: number;
  absError: number;
  relError: number;
  kinks?: number;
  status?: EntryStatus;
  /** The step the numerical value was taken at, where it differs from the group's. */
  epsilon?: number;
  /** One-sided slopes at the smallest step tried, for an entry left at a kink. */
  oneSided?: { left: number; right: number };
}

export interface KinkCounts {
  /** Entries whose perturbation crossed a kink at the group's ε. */
  crossed: number;
  /** … re-estimated cleanly at a smaller step. */
  resolved: number;
  /** … still at a kink, where the backward's value lies between the one-sided slopes (a valid subgradient). */
  subgradient: number;
  /** … still at a kink, not judged. */
  unresolved: number;
}

export interface GroupReport {
  name: string;
  /** The tensor's own shape, any rank. */
  shape: number[];
  size: number;
  /** Formula (3) over every entry of the group at its ε (the notebook's figure). */
  difference: number;
  verdict: Verdict;
  /** Why the group passed despite a difference above the threshold, why it is inconclusive, or how it was judged. */
  note?: string;
  /** What to do about an inconclusive group. */
  fix?: string;
  /** Entries whose perturbation crossed a kink (see `kinks` for what became of them). */
  kinkEntries: number;
  kinks?: KinkCounts;
  /** How the group was judged: entry by entry, or (fast mode) along random directions. */
  method: 'entries' | 'directions';
  normAnalytic: number;
  normNumerical: number;
  /** The step this group was judged at. */
  epsilon: number;
  /** ‖error‖ its finite differences may carry without any bug (round-off and truncation, measured). */
  budget: number;
  /** The smallest relative error this group's comparison can see: budget / (‖g‖ + ‖ĝ‖). */
  resolution: number;
  diagnosis?: Diagnosis;
}

export interface NoiseEstimate {
  /** Standard deviation of one finite-difference entry at the run's ε from round-off. */
  perEntry: number;
  /** The cost's own round-off or noise σ_J per evaluation. */
  cost: number;
  /** How σ_J was found: from fourth differences of smooth entries, from repeated evaluations at θ₀ (a noisy cost), or the precision's floor. */
  source: 'fourth-differences' | 'repeated-evaluations' | 'precision-floor';
  sampled: number;
}

export interface CheckResult {
  verdict: Verdict;
  difference: number;
  threshold: number;
  /** The step asked for: a number, or 'auto' (each group's own in groups[].epsilon). */
  epsilon: number | 'auto';
  scheme: Scheme;
  mode: 'full' | 'fast';
  parameters: number;
  evaluations: number;
  cost: number;
  /** The precision the cost is computed in, and how GradProof knows it. */
  precision: { precision: Precision; source: PrecisionSource };
  groups: GroupReport[];
  worst: EntryReport[];
  inconclusive: { entries: number; reason: string; examples: EntryReport[] };
  noise: NoiseEstimate;
  /** Plain sentences that explain the verdict, worst first. */
  findings: string[];
  /** Fast mode: the directional tests and the chance they missed an error. */
  fast?: FastReport;
  /** The difference as ε shrinks, when asked for. */
  epsilonSweep?: EpsilonSweep;
  /** --epsilon auto: the step chosen for each group and why. */
  epsilonChoice?: { group: string; epsilon: number; error: number }[];
}

export interface DirectionTest {
  group: string;
  /** gᵀu from the backward under audit. */
  analytic: number;
  /** (J(θ+εu) − J(θ−εu)) / 2ε. */
  numerical: number;
  /** |gᵀu − D_u| / ‖g_group‖: the relative error this direction exposes. */
  error: number;
  kinks: number;
  attempt: number;
}

export interface FastGroupReport {
  group: string;
  /** Largest ‖gᵀU − D‖ that passes: the threshold's, or the finite differences' budget if larger. */
  tolerance: number;
  /** The chance that a backward error of relative size detectSize in this group went unnoticed. */
  missProbability: number;
  directions: number;
}

export interface FastReport {
  directionsPerGroup: number;
  seed: number;
  /** A backward whose relative error is at least this size … */
  detectSize: number;
  /** … goes unnoticed by every direction of the weakest group that passed along them with this probability (null: none did). */
  missProbability: number | null;
  groups: FastGroupReport[];
  tests: DirectionTest[];
  /** Groups that failed along directions and were re-checked entry by entry. */
  escalated: string[];
}

export interface EpsilonPoint {
  epsilon: number;
  difference: number;
  /** The difference over entries whose perturbation crosses no kink at this ε. */
  smoothDifference: number;
  kinkedEntries: number;
}

export interface EpsilonSweep {
  scheme: Scheme;
  /** Entries estimated at each ε (all, or an even sample of a large model). */
  entries: number;
  points: EpsilonPoint[];
  /** Expected log-log slope of the truncation error (1 forward, 2 central, 4 five-point). */
  expectedSlope: number;
  /** Fitted slope where truncation dominates (null when too few points lie there). */
  slope: number | null;
  /** Smallest difference reached, and where. */
  floor: number;
  recommendedEpsilon: number;
  /** The difference hardly moves across the sweep: a real bug, not a step-size artefact. */
  flat: boolean;
  summary: string;
}
