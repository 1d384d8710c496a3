import type { ParamGroup } from '../model/spec.js';

/** The floating-point precision a subject computes its cost in. */
export type Precision = 'float64' | 'float32' | 'bfloat16' | 'float16' | 'unknown';

/** Where GradProof learned a subject's precision. */
export type PrecisionSource = 'engine' | 'declared' | 'detected' | 'unknown';

/** A set of parameter entries: a contiguous range of the flat vector, or a list of indices. */
export type EntrySet = { start: number; end: number } | { indices: readonly number[] };

export function entryCount(set: EntrySet): number {
  return 'indices' in set ? set.indices.length : set.end - set.start;
}

export function entryAt(set: EntrySet, k: number): number {
  return 'indices' in set ? set.indices[k]! : set.start + k;
}

/** One random direction of fast mode, identified so that every process can rebuild it. */
export interface DirectionRef {
  group: number;
  k: number;
  attempt: number;
}

/** Costs of a batch, entry- (or direction-) major: item i's offset j at costs[i·offsets + j]. */
export interface CostBatch {
  costs: Float64Array;
  /**
   * Per cost, how many pre-activations of a kinked activation changed sign: known only to
   * GradProof's own engine (null for subjects, whose kinks are found from costs alone).
   */
  kinks: Uint32Array | null;
}

/** Items finished so far, for progress. */
export type OnCosts = (items: number, batch: { first: number; costs: Float64Array; kinks: Uint32Array | null }) => void;

/**
 * Everything the orchestrator needs of the implementation under audit, whatever it is
 * (GradProof's engine on worker threads, a process speaking the subject protocol, a JS
 * module): its parameter groups and θ₀, the gradient it claims, and costs at perturbed
 * points. The orchestrator decides which costs; an estimator only computes them, in
 * parallel where it can.
 */
export interface Estimator {
  readonly groups: readonly ParamGroup[];
  readonly theta0: Float64Array;
  readonly precision: { precision: Precision; source: PrecisionSource };
  /** Whether `kinks` in a CostBatch are given (the engine counts sign changes exactly). */
  readonly knowsKinks: boolean;
  /** The implementation is the user's: a cost it cannot give is its failure (no verdict), not bad input. */
  readonly subject: boolean;
  /** The backward pass under audit at θ₀. */
  gradient(): Promise<Float64Array>;
  /** J(θ₀). */
  cost0(): Promise<number>;
  /** J(θ₀ + d·e_i) for every entry i of `set` and every d of `offsets`. */
  entryCosts(set: EntrySet, offsets: readonly number[], onCosts?: OnCosts): Promise<CostBatch>;
  /** J(θ₀ + d·u) for every direction u of `directions` (seeded, see directions.ts) and d of `offsets`. */
  directionCosts(
    directions: readonly DirectionRef[],
    seed: number,
    offsets: readonly number[],
    onCosts?: OnCosts,
  ): Promise<CostBatch>;
  /**
   * The relative cost of evaluating one entry of each group, where entries differ (GradProof's
   * engine: an entry of a lower layer moves everything above it); absent when they cost alike.
   */
  readonly groupCosts?: readonly number[];
  /** Cost evaluations made so far. */
  readonly evaluations: number;
  /** Ends every worker, thread or process the estimator started; always called. */
  close(): Promise<void>;
}
