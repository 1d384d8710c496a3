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
 * C[i,:] += Σ_p A[aOff + p]·B[p,:] over p < k: one term at a time in p order
 * (exactly the scalar loop's rounding), four rows of B per pass over C[i,:] so C
 * is loaded and stored a quarter as often. Zero coefficients are skipped, as the
 * scalar loop does, so a ±0 or non-finite B never reaches C through them.
 */
function accumulateRows(
  C: Float64Array,
  cOff: number,
  n: number,
  A: Float64Array,
  aOff: number,
  B: Float64Array,
  k: number,
): void {
  let p = 0;
  for (; p + 4 <= k; p += 4) {
    const a0 = A[aOff + p]!;
    const a1 = A[aOff + p + 1]!;
    const a2 = A[aOff + p + 2]!;
    const a3 = A[aOff + p + 3]!;
    if (a0 === 0 || a1 === 0 || a2 === 0 || a3 === 0) {
      for (let q = p; q < p + 4; q++) {
        const a = A[aOff + q]!;
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
  for (; p < k; p++) {
    const a = A[aOff + p]!;
    if (a === 0) continue;
    const bOff = p * n;
    for (let j = 0; j < n; j++) C[cOff + j] = C[cOff + j]! + a * B[bOff + j]!;
  }
}

/**
 * C = A·B for row-major A (m×k), B (k×n), C (m×n): each C[i,j] summed over p in
 * order with zero A[i,p] skipped. Every implementation must give these bits (the
 * sweep's workers and the in-thread reference must agree, and the incremental
 * evaluator replays one row of it).
 */
export type ProductKernel = (
  A: Float64Array,
  m: number,
  k: number,
  B: Float64Array,
  n: number,
  C: Float64Array,
) => void;

function jsProduct(A: Float64Array, m: number, k: number, B: Float64Array, n: number, C: Float64Array): void {
  for (let i = 0; i < m; i++) {
    const rowOff = i * n;
    C.fill(0, rowOff, rowOff + n);
    accumulateRows(C, rowOff, n, A, i * k, B, k);
  }
}

let product: ProductKernel = jsProduct;
/** Products below this many multiply-adds stay in JavaScript (a kernel's call costs more). */
const KERNEL_MIN_WORK = 1 << 14;

/**
 * Use `kernel` for large products (the node layer installs a WebAssembly one: it
 * runs at full speed from its first call, where a fresh thread's JavaScript first
 * waits for V8 to optimise it); undefined restores the JavaScript kernel.
 */
export function useProductKernel(kernel: ProductKernel | undefined): void {
  product = kernel ?? jsProduct;
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
  const C = res.data;
  (m * k * n >= KERNEL_MIN_WORK ? product : jsProduct)(a.data, m, k, b.data, n, C);
  if (bias) {
    for (let i = 0; i < m; i++) {
      const init = bias.data[i]!;
      const rowOff = i * n;
      if (init !== 0) for (let j = 0; j < n; j++) C[rowOff + j] = C[rowOff + j]! + init;
    }
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

/** out = Aᵀ·B (dA_prev = Wᵀ·dZ): Aᵀ made once (a weight matrix: small), then matmul. */
export function matmulTransA(a: Tensor, b: Tensor): Tensor {
  assertShape(a.rows === b.rows, `matmulTransA: (${a.rows}x${a.cols})ᵀ · ${b.rows}x${b.cols} do not align`);
  return matmul(a.transpose(), b);
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
