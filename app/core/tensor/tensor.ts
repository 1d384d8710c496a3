/**
 * A dense 2-D Float64 matrix, row-major, as numpy lays out a C-contiguous array.
 * Vectors are matrices with one column (the notebook's (n, 1) shapes).
 */
export class Tensor {
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly data: Float64Array,
  ) {
    if (data.length !== rows * cols) {
      throw new RangeError(`tensor data has ${data.length} entries, shape ${rows}x${cols} needs ${rows * cols}`);
    }
  }

  static zeros(rows: number, cols: number): Tensor {
    return new Tensor(rows, cols, new Float64Array(rows * cols));
  }

  static fromRows(rows: readonly (readonly number[])[]): Tensor {
    const r = rows.length;
    const c = r === 0 ? 0 : rows[0]!.length;
    const t = Tensor.zeros(r, c);
    rows.forEach((row, i) => {
      if (row.length !== c) throw new RangeError(`row ${i} has ${row.length} entries, expected ${c}`);
      t.data.set(row, i * c);
    });
    return t;
  }

  get size(): number {
    return this.data.length;
  }

  get(i: number, j: number): number {
    return this.data[i * this.cols + j]!;
  }

  clone(): Tensor {
    return new Tensor(this.rows, this.cols, this.data.slice());
  }

  transpose(): Tensor {
    const out = Tensor.zeros(this.cols, this.rows);
    const { rows, cols, data } = this;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) out.data[j * rows + i] = data[i * cols + j]!;
    }
    return out;
  }

  toRows(): number[][] {
    const out: number[][] = [];
    for (let i = 0; i < this.rows; i++) out.push(Array.from(this.data.subarray(i * this.cols, (i + 1) * this.cols)));
    return out;
  }
}

function assertShape(cond: boolean, msg: string): void {
  if (!cond) throw new RangeError(msg);
}

/**
 * C[i,:] += Σ_p a_p·B[p,:] over p in [p0, p1), with a_p = A[aOff + p·aStride]:
 * one term at a time in p order (exactly the scalar loop's rounding), four rows
 * of B per pass over C[i,:] so C is loaded and stored a quarter as often. Zero coefficients are skipped, as
 * the scalar loop does, so a ±0 or non-finite B never reaches C through them.
 */
function accumulateRows(C: Float64Array, cOff: number, n: number, A: Float64Array, aOff: number, aStride: number, B: Float64Array, p0: number, p1: number): void {
  let p = p0;
  for (; p + 4 <= p1; p += 4) {
    const a0 = A[aOff + p * aStride]!;
    const a1 = A[aOff + (p + 1) * aStride]!;
    const a2 = A[aOff + (p + 2) * aStride]!;
    const a3 = A[aOff + (p + 3) * aStride]!;
    if (a0 === 0 || a1 === 0 || a2 === 0 || a3 === 0) {
      for (let q = p; q < p + 4; q++) {
        const a = A[aOff + q * aStride]!;
        if (a === 0) continue;
        const bOff = q * n;
        for (let j = 0; j < n; j++) C[cOff + j] = C[cOff + j]! + a * B[bOff + j]!;
      }
      continue;
    }
    const b0 = p * n;
    const b1 = b0 + n;
    const b2 = b1 + n;
    const b3 = b2 + n;
    for (let j = 0; j < n; j++) {
      C[cOff + j] = C[cOff + j]! + a0 * B[b0 + j]! + a1 * B[b1 + j]! + a2 * B[b2 + j]! + a3 * B[b3 + j]!;
    }
  }
  for (; p < p1; p++) {
    const a = A[aOff + p * aStride]!;
    if (a === 0) continue;
    const bOff = p * n;
    for (let j = 0; j < n; j++) C[cOff + j] = C[cOff + j]! + a * B[bOff + j]!;
  }
}

/**
 * out = A·B (+ bias broadcast along columns). Each C[i,j] is summed over p in
 * order, zero A[i,p] skipped, then the bias added: a fixed order, which keeps
 * results identical across workers and lets the incremental evaluator replay one
 * row bit for bit. Row i of C stays in L1 while the rows of B stream past.
 */
export function matmul(a: Tensor, b: Tensor, bias?: Tensor, out?: Tensor): Tensor {
  assertShape(a.cols === b.rows, `matmul: ${a.rows}x${a.cols} · ${b.rows}x${b.cols} do not align`);
  const m = a.rows;
  const n = b.cols;
  const k = a.cols;
  const res = out ?? Tensor.zeros(m, n);
  assertShape(res.rows === m && res.cols === n, 'matmul: output has the wrong shape');
  if (bias) assertShape(bias.rows === m && bias.cols === 1, `matmul: bias must be ${m}x1`);
  const A = a.data;
  const B = b.data;
  const C = res.data;
  for (let i = 0; i < m; i++) {
    const rowOff = i * n;
    const init = bias ? bias.data[i]! : 0;
    C.fill(0, rowOff, rowOff + n);
    const aOff = i * k;
    accumulateRows(C, rowOff, n, A, aOff, 1, B, 0, k);
    if (init !== 0) for (let j = 0; j < n; j++) C[rowOff + j] = C[rowOff + j]! + init;
  }
  return res;
}

/**
 * out = A·Bᵀ·scale (dW = dZ·A_prevᵀ/m): Bᵀ made once, then the same kernel as
 * matmul, so each entry is Σ_p A[i,p]·B[j,p] summed in p order, zero A[i,p]
 * skipped (ReLU's dZ is half zeros). One kernel for the whole backward pass also
 * means one for V8 to compile in a fresh worker.
 */
export function matmulTransB(a: Tensor, b: Tensor, scale = 1): Tensor {
  assertShape(a.cols === b.cols, `matmulTransB: ${a.rows}x${a.cols} · (${b.rows}x${b.cols})ᵀ do not align`);
  const res = matmul(a, b.transpose());
  if (scale !== 1) {
    const C = res.data;
    for (let i = 0; i < C.length; i++) C[i] = C[i]! * scale;
  }
  return res;
}

/**
 * out = Aᵀ·B (dA_prev = Wᵀ·dZ). Row i of the result is Σ_p A[p,i]·B[p,:] in p
 * order; computing it row by row keeps that row in L1 (a p-outer loop would
 * sweep the whole result once per p).
 */
export function matmulTransA(a: Tensor, b: Tensor): Tensor {
  assertShape(a.rows === b.rows, `matmulTransA: (${a.rows}x${a.cols})ᵀ · ${b.rows}x${b.cols} do not align`);
  const m = a.cols;
  const n = b.cols;
  const res = Tensor.zeros(m, n);
  const A = a.data;
  const B = b.data;
  const C = res.data;
  for (let i = 0; i < m; i++) accumulateRows(C, i * n, n, A, i, m, B, 0, a.rows);
  return res;
}

/** Sum of each row, scaled: the notebook's `scale * np.sum(x, axis=1, keepdims=True)`. */
export function rowSums(a: Tensor, scale = 1): Tensor {
  const res = Tensor.zeros(a.rows, 1);
  for (let i = 0; i < a.rows; i++) {
    let s = 0;
    for (let j = 0; j < a.cols; j++) s += a.data[i * a.cols + j]!;
    res.data[i] = s * scale;
  }
  return res;
}
