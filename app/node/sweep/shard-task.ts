import type { DirectionRef } from '../../core/check/estimator.js';
import type { Defect } from '../../core/model/defects.js';
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
  /** The forward pass at θ₀ (pre-activations and activations of layers 1…L, and the cost), computed once by the main thread. */
  base: { Z: SharedMatrix[]; A: SharedMatrix[]; cost: number };
}

export type SweepTask = JobContext &
  (
    | /** Costs of entries [start, end) at each offset. */ {
        kind: 'range';
        start: number;
        end: number;
        offsets: number[];
      }
    | /** Costs of these entries at each offset. */ { kind: 'indices'; indices: number[]; offsets: number[] }
    | /** Costs along seeded random directions at each offset (fast mode). */ {
        kind: 'directions';
        seed: number;
        directions: DirectionRef[];
        offsets: number[];
      }
    | /** The analytic gradient at θ₀ (the backward pass under audit, with its defects). */ {
        kind: 'gradient';
        defects: Defect[];
      }
  );

export type SweepTaskResult =
  | { kind: 'costs'; costs: Float64Array; kinks: Uint32Array; /** The worker's compute time. */ seconds: number }
  | { kind: 'gradient'; grad: Float64Array };

export function shareFloat64(src: Float64Array): Float64Array {
  const out = new Float64Array(new SharedArrayBuffer(src.byteLength));
  out.set(src);
  return out;
}
