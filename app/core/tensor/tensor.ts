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
 * out = A·B (+ bias broadcast along columns). The k-loop is innermost over a
 * contiguous row of B so that V8 keeps it in registers; summation order is
 * fixed, which keeps results identical across workers.
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
    for (let j = 0; j < n; j++) C[rowOff + j] = 0;
    for (let p = 0; p < k; p++) {
      const aip = A[i * k + p]!;
      if (aip === 0) continue;
      const bOff = p * n;
      for (let j = 0; j < n; j++) C[rowOff + j] = C[rowOff + j]! + aip * B[bOff + j]!;
    }
    if (init !== 0) for (let j = 0; j < n; j++) C[rowOff + j] = C[rowOff + j]! + init;
  }
  return res;
}

/** out = A·Bᵀ (used for dW = dZ·A_prevᵀ without materialising the transpose). */
export function matmulTransB(a: Tensor, b: Tensor, scale = 1): Tensor {
  assertShape(a.cols === b.cols, `matmulTransB: ${a.rows}x${a.cols} · (${b.rows}x${b.cols})ᵀ do not align`);
  const m = a.rows;
  const n = b.rows;
  const k = a.cols;
  const res = Tensor.zeros(m, n);
  const A = a.data;
  const B = b.data;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += A[i * k + p]! * B[j * k + p]!;
      res.data[i * n + j] = s * scale;
    }
  }
  return res;
}

/** out = Aᵀ·B (used for dA_prev = Wᵀ·dZ). */
export function matmulTransA(a: Tensor, b: Tensor): Tensor {
  assertShape(a.rows === b.rows, `matmulTransA: (${a.rows}x${a.cols})ᵀ · ${b.rows}x${b.cols} do not align`);
  const m = a.cols;
  const n = b.cols;
  const res = Tensor.zeros(m, n);
  const A = a.data;
  const B = b.data;
  const C = res.data;
  for (let p = 0; p < a.rows; p++) {
    const bOff = p * n;
    for (let i = 0; i < m; i++) {
      const api = A[p * m + i]!;
      if (api === 0) continue;
      const cOff = i * n;
      for (let j = 0; j < n; j++) C[cOff + j] = C[cOff + j]! + api * B[bOff + j]!;
    }
  }
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
