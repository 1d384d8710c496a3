import { describe, expect, it } from 'vitest';
import { Tensor, matmul, matmulTransA, matmulTransB, rowSums } from '../../app/core/tensor/tensor.js';
import { norm, relativeDifference } from '../../app/core/check/metrics.js';
import { RandomState } from '../../app/core/rng/random-state.js';

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
    expect(matmulTransB(A, A, 0.5).toRows()).toEqual(
      matmul(A, A.transpose())
        .toRows()
        .map((r) => r.map((v) => v * 0.5)),
    );
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

/** The plain triple loop, one term at a time in p order: the rounding every kernel must keep. */
function naive(a: Tensor, b: Tensor, bias?: Tensor): Tensor {
  const out = Tensor.zeros(a.rows, b.cols);
  for (let i = 0; i < a.rows; i++) {
    for (let j = 0; j < b.cols; j++) {
      let s = 0;
      for (let p = 0; p < a.cols; p++) if (a.get(i, p) !== 0) s += a.get(i, p) * b.get(p, j);
      const init = bias ? bias.data[i]! : 0;
      out.data[i * b.cols + j] = init !== 0 ? s + init : s;
    }
  }
  return out;
}

describe('blocked kernels', () => {
  // Sizes that are not multiples of the 4-way blocking, and zeros (ReLU outputs) in A.
  const rs = new RandomState(11);
  const rand = (r: number, c: number, zeros = 0): Tensor => {
    const t = rs.randn(r, c);
    const u = rs.rand(r, c);
    for (let i = 0; i < t.size; i++) if (u.data[i]! < zeros) t.data[i] = 0;
    return t;
  };
  it("give the scalar loop's result bit for bit", () => {
    for (const [m, k, n] of [
      [7, 13, 9],
      [5, 4, 1],
      [1, 1, 3],
      [9, 30, 33],
    ] as const) {
      const a = rand(m, k, 0.3);
      const b = rand(k, n);
      const bias = rand(m, 1);
      expect(Array.from(matmul(a, b, bias).data)).toEqual(Array.from(naive(a, b, bias).data));
      const bt = b.transpose();
      expect(Array.from(matmulTransB(a, bt, 0.25).data)).toEqual(Array.from(naive(a, b).data, (v) => v * 0.25));
      const at = a.transpose();
      expect(Array.from(matmulTransA(at, b).data)).toEqual(Array.from(naive(a, b).data));
    }
  });
});
