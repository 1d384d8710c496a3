import type { Scheme } from './schemes.js';

export type Verdict = 'pass' | 'fail' | 'inconclusive';

export type DiagnosisKind =
  'scale' | 'sign-flip' | 'zero' | 'transposed' | 'missing-activation-derivative' | 'unrelated' | 'mismatch';

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
  /** One sentence for people, e.g. "W2: backward is 2.000× the true gradient". */
  summary: string;
}

export interface EntryReport {
  index: number;
  name: string;
  group: string;
  analytic: number;
  numerical: number;
  absError: number;
  relError: number;
  kinks?: number;
}

export interface GroupReport {
  name: string;
  shape: [number, number];
  size: number;
  difference: number;
  verdict: Verdict;
  /** Why a group passed despite a difference above the threshold, or why it is inconclusive. */
  note?: string;
  /** Entries whose perturbation crossed a ReLU kink. */
  kinkEntries: number;
  /** How the group was judged: entry by entry, or (fast mode) along random directions. */
  method: 'entries' | 'directions';
  normAnalytic: number;
  normNumerical: number;
  diagnosis?: Diagnosis;
}

export interface NoiseEstimate {
  /** Estimated standard deviation of one finite-difference entry from round-off. */
  perEntry: number;
  sampled: number;
}

export interface CheckResult {
  verdict: Verdict;
  difference: number;
  threshold: number;
  epsilon: number;
  scheme: Scheme;
  mode: 'full' | 'fast';
  parameters: number;
  evaluations: number;
  cost: number;
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
}

export interface FastReport {
  directionsPerGroup: number;
  seed: number;
  /** Largest per-direction error that passes (threshold, or round-off if larger). */
  tolerance: number;
  /** A backward whose relative error is at least this size … */
  detectSize: number;
  /** … goes unnoticed by every direction of a group with this probability. */
  missProbability: number;
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
