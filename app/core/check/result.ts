import type { Scheme } from './schemes.js';

export type Verdict = 'pass' | 'fail' | 'inconclusive';

export type DiagnosisKind = 'scale' | 'sign-flip' | 'zero' | 'transposed' | 'unrelated' | 'mismatch';

export interface Diagnosis {
  kind: DiagnosisKind;
  /** α in g ≈ αĝ (least squares), when the relation is a constant factor. */
  factor?: number;
  /** Cosine between g and ĝ. */
  correlation: number;
  /** ‖g − αĝ‖ / ‖g‖: what a constant factor leaves unexplained. */
  residual: number;
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
  parameters: number;
  evaluations: number;
  cost: number;
  groups: GroupReport[];
  worst: EntryReport[];
  inconclusive: { entries: number; reason: string; examples: EntryReport[] };
  noise: NoiseEstimate;
  /** Plain sentences that explain the verdict, worst first. */
  findings: string[];
}
