import type { DirectionEvaluation } from '../../core/check/fast-mode.js';
import type { Defect } from '../../core/model/defects.js';
import type { Scheme } from '../../core/check/schemes.js';
import type { EvaluationMode } from '../../core/model/evaluator.js';
import type { ModelSpec } from '../../core/model/spec.js';

/** A matrix whose storage every worker shares (a SharedArrayBuffer), never copied per task. */
export interface SharedMatrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** What every task of one sweep shares; a worker builds its evaluator once per `jobKey`. */
export interface JobContext {
  jobKey: string;
  spec: ModelSpec;
  theta: Float64Array;
  X: SharedMatrix;
  Y: SharedMatrix;
  evaluation: EvaluationMode;
  scheme: Scheme;
  epsilon: number;
  /** The forward pass at θ₀ (pre-activations and activations of layers 1…L, and the cost), computed once by the main thread. */
  base: { Z: SharedMatrix[]; A: SharedMatrix[]; cost: number };
}

export type SweepTask = JobContext &
  (
    | { kind: 'range'; start: number; end: number }
    /** These entries (at this task's `epsilon`, which may differ from the sweep's). */
    | { kind: 'indices'; indices: number[] }
    /** Central differences along random directions of the given groups (fast mode). */
    | { kind: 'directions'; seed: number; items: { group: number; k: number }[] }
    /** The analytic gradient at θ₀ (the backward pass under audit, with its defects). */
    | { kind: 'gradient'; defects: Defect[] }
  );

export type SweepTaskResult =
  | { kind: 'entries'; approx: Float64Array; kinks: Uint32Array }
  | { kind: 'directions'; evaluations: DirectionEvaluation[] }
  | { kind: 'gradient'; grad: Float64Array };

export function shareFloat64(src: Float64Array): Float64Array {
  const out = new Float64Array(new SharedArrayBuffer(src.byteLength));
  out.set(src);
  return out;
}
