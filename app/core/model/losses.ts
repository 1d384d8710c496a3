import type { Loss } from './spec.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * Per-example losses ℓ_c of the output columns `cols` (all when omitted), written
 * into `into[c]`. J = (1/m) Σ_c ℓ_c, summed in example order (see `meanLoss`), which
 * for one output is exactly the notebook's `1./m * np.sum(logprobs)`.
 */
export function exampleLosses(loss: Loss, out: Tensor, y: Tensor, into: Float64Array): void {
  const m = out.cols;
  const k = out.rows;
  const A = out.data;
  const Y = y.data;
  for (let c = 0; c < m; c++) {
    let s = 0;
    switch (loss) {
      case 'binary_cross_entropy':
        for (let r = 0; r < k; r++) {
          const a = A[r * m + c]!;
          const t = Y[r * m + c]!;
          // For a 0/1 label one term is multiplied by exactly 0 and adds ±0: taking only the
          // other log gives the same bits (and a finite loss where numpy would get inf·0 = NaN).
          // t·a + (1−t)·(1−a) selects a or 1−a exactly, without a branch on a coin-toss label.
          if (t === 0 || t === 1) s += -Math.log(t * a + (1 - t) * (1 - a));
          else s += -Math.log(a) * t + -Math.log(1 - a) * (1 - t);
        }
        break;
      case 'mean_squared_error':
        for (let r = 0; r < k; r++) {
          const d = A[r * m + c]! - Y[r * m + c]!;
          s += d * d;
        }
        s /= k;
        break;
      case 'softmax_cross_entropy': {
        let max = -Infinity;
        for (let r = 0; r < k; r++) max = Math.max(max, A[r * m + c]!);
        let se = 0;
        for (let r = 0; r < k; r++) se += Math.exp(A[r * m + c]! - max);
        const lse = max + Math.log(se);
        for (let r = 0; r < k; r++) s += Y[r * m + c]! * (lse - A[r * m + c]!);
        break;
      }
    }
    into[c] = s;
  }
}

export function meanLoss(losses: Float64Array): number {
  let sum = 0;
  for (let c = 0; c < losses.length; c++) sum += losses[c]!;
  return (1 / losses.length) * sum;
}

export function lossValue(loss: Loss, out: Tensor, y: Tensor): number {
  const l = new Float64Array(out.cols);
  exampleLosses(loss, out, y, l);
  return meanLoss(l);
}

/**
 * m · ∂J/∂Z_L for the output layer: the notebook's dZ3 = A3 − Y, which carries
 * no 1/m (the 1/m is applied when forming dW and db).
 */
export function outputDelta(loss: Loss, activation: string, out: Tensor, z: Tensor, y: Tensor): Tensor {
  const res = Tensor.zeros(out.rows, out.cols);
  const A = out.data;
  const Y = y.data;
  const D = res.data;
  const k = out.rows;
  const m = out.cols;
  switch (loss) {
    case 'binary_cross_entropy':
      if (activation === 'sigmoid') {
        for (let i = 0; i < A.length; i++) D[i] = A[i]! - Y[i]!;
        return res;
      }
      throw new Error('binary_cross_entropy requires a sigmoid output');
    case 'mean_squared_error':
      for (let i = 0; i < A.length; i++) D[i] = (2 * (A[i]! - Y[i]!)) / k;
      return res; // caller multiplies by the output activation's derivative
    case 'softmax_cross_entropy':
      for (let j = 0; j < m; j++) {
        let max = -Infinity;
        for (let r = 0; r < k; r++) max = Math.max(max, z.data[r * m + j]!);
        let se = 0;
        for (let r = 0; r < k; r++) se += Math.exp(z.data[r * m + j]! - max);
        let ysum = 0;
        for (let r = 0; r < k; r++) ysum += Y[r * m + j]!;
        for (let r = 0; r < k; r++) D[r * m + j] = (Math.exp(z.data[r * m + j]! - max) / se) * ysum - Y[r * m + j]!;
      }
      return res;
  }
}

/** True when `outputDelta` already includes the output activation's derivative. */
export function deltaIncludesActivation(loss: Loss): boolean {
  return loss !== 'mean_squared_error';
}
