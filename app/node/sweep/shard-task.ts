import type { EvaluationMode } from '../../core/model/evaluator.js';
import type { ModelSpec } from '../../core/model/spec.js';
import type { Scheme } from '../../core/check/schemes.js';

/** A matrix whose storage every worker shares (a SharedArrayBuffer), never copied per task. */
export interface SharedMatrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** What a worker needs to evaluate entries [start, end) of one sweep. */
export interface ShardTask {
  /** Identifies the sweep; a worker builds its evaluator once per key and reuses it. */
  jobKey: string;
  spec: ModelSpec;
  theta: Float64Array;
  X: SharedMatrix;
  Y: SharedMatrix;
  evaluation: EvaluationMode;
  scheme: Scheme;
  epsilon: number;
  start: number;
  end: number;
  /** Instead of [start, end): these entries at step `epsilon` (the noise sample). */
  indices?: number[];
}

export interface ShardResult {
  start: number;
  approx: Float64Array;
  kinks: Uint32Array;
}

export function shareFloat64(src: Float64Array): Float64Array {
  const out = new Float64Array(new SharedArrayBuffer(src.byteLength));
  out.set(src);
  return out;
}
