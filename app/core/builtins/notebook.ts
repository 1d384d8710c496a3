import type { Dataset } from '../model/network.js';
import type { ModelSpec } from '../model/spec.js';
import { RandomState } from '../rng/random-state.js';
import { Tensor } from '../tensor/tensor.js';

/** The notebook's fraud-detection network: LINEAR→RELU→LINEAR→RELU→LINEAR→SIGMOID. */
export const NOTEBOOK_FRAUD_SPEC: ModelSpec = {
  name: 'notebook-fraud',
  description: "The gradient-checking notebook's fraud-detection network (4→5→3→1, cross-entropy).",
  inputs: 4,
  layers: [
    { units: 5, activation: 'relu' },
    { units: 3, activation: 'relu' },
    { units: 1, activation: 'sigmoid' },
  ],
  loss: 'binary_cross_entropy',
};

export interface NotebookCase {
  data: Dataset;
  theta: Float64Array;
}

/**
 * `gradient_check_n_test_case()`: one RandomState(1) stream, drawn in the
 * notebook's order, so X, Y and the parameters are numpy's exact numbers:
 * X = randn(4,3); Y = [1,1,0]; W1 = randn(5,4); b1 = randn(5,1); W2 = randn(3,5);
 * b2 = randn(3,1); W3 = randn(1,3); b3 = randn(1,1).
 */
export function notebookCase(): NotebookCase {
  const rs = new RandomState(1);
  const X = rs.randn(4, 3);
  const Y = Tensor.fromRows([[1, 1, 0]]);
  const parts = [rs.randn(5, 4), rs.randn(5, 1), rs.randn(3, 5), rs.randn(3, 1), rs.randn(1, 3), rs.randn(1, 1)];
  const theta = new Float64Array(parts.reduce((n, t) => n + t.size, 0));
  let o = 0;
  for (const t of parts) {
    theta.set(t.data, o);
    o += t.size;
  }
  return { data: { X, Y }, theta };
}
