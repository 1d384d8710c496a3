import { describe, expect, it } from 'vitest';
import { Tensor, matmul, matmulTransA, matmulTransB, rowSums } from '../../app/core/tensor/tensor.js';
import { norm, relativeDifference } from '../../app/core/check/metrics.js';

const A = Tensor.fromRows([
  [1, 2, 3],
  [4, 5, 6],
]);
const B = Tensor.fromRows([
  [7, 8],
  [9, 10],
  [11, 12],
]);

describe('tensor operations', () => {
  it('matmul with broadcast bias', () => {
    const bias = Tensor.fromRows([[1], [-1]]);
    expect(matmul(A, B, bias).toRows()).toEqual([
      [59, 65],
      [138, 153],
    ]);
  });
  it('matmul refuses misaligned shapes', () => {
    expect(() => matmul(A, A)).toThrow(/do not align/);
  });
  it('A·Bᵀ and Aᵀ·B agree with explicit transposes', () => {
    expect(matmulTransB(A, A, 0.5).toRows()).toEqual(matmul(A, A.transpose()).toRows().map((r) => r.map((v) => v * 0.5)));
    expect(matmulTransA(A, A).toRows()).toEqual(matmul(A.transpose(), A).toRows());
  });
  it('row sums and norms', () => {
    expect(Array.from(rowSums(A, 0.5).data)).toEqual([3, 7.5]);
    expect(norm([3, 4])).toBe(5);
    // Rescaled where squaring would overflow or underflow.
    expect(norm([3e200, 4e200]) / 5e200).toBeCloseTo(1, 14);
    expect(norm([3e-200, 4e-200]) / 5e-200).toBeCloseTo(1, 14);
    expect(relativeDifference([0, 0], [0, 0])).toBe(0);
    expect(relativeDifference([1, 0], [0, 1])).toBeCloseTo(Math.SQRT2 / 2, 15);
  });
});
