import { type ProductKernel, useProductKernel } from '../../core/tensor/tensor.js';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';

/**
 * reluIntoSingleOutput's operands (see ReluIntoOutput in evaluator.ts) as byte offsets into the
 * kernels' memory; `margin` and `slope` point at the unit's region row.
 */
export interface ReluIntoOutputPointers {
  nc: number;
  cols: number;
  dA: number;
  margin: number;
  slope: number;
  ZL: number;
  Zt: number;
  R: number;
  wcol: number;
  wl: number;
  b: number;
  zL: number;
}

/** moveActive's operands: unit i's active examples active[from … to), its Z row, the input row (or ones), the step, and where the changed examples go. */
export interface MoveActivePointers {
  active: number;
  from: number;
  to: number;
  zl: number;
  prev: number;
  step: number;
  cols: number;
  dA: number;
}

/** sigmoidCrossEntropyDelta's operands: the nc changed examples (cols) and their new outputs (zL), and per example at θ₀ its output, q, series sign, label and loss. */
export interface CrossEntropyPointers {
  nc: number;
  cols: number;
  zL: number;
  ZL: number;
  q: number;
  sign: number;
  Y: number;
  base: number;
}

/** The kernels of kernels.wat; pointers are byte offsets into the memory they were given. */
export interface Kernels {
  /** Kinks counted by the last moveActive or reluIntoSingleOutput. */
  kinks: WebAssembly.Global;
  moveActive(p: MoveActivePointers): number;
  reluIntoSingleOutput(p: ReluIntoOutputPointers): number;
  rankOneRow(nc: number, cols: number, dA: number, Zb: number, w: number, zL: number): void;
  outputMoved(m: number, zb: number, prev: number, step: number, cols: number, zL: number): number;
  sigmoidCrossEntropyDelta(p: CrossEntropyPointers): number;
  product(A: number, m: number, k: number, B: number, n: number, C: number): void;
  /** IncrementalTables' MarginRows: `margin` points at the unit's region row. */
  marginRows(p: { Zt: number; R: number; inv: number; cs: number; from: number; to: number; margin: number }): void;
  /** product by register tiles (the same bits); `panel` has room for k × 4 doubles. */
  productTiled(A: number, m: number, k: number, B: number, n: number, C: number, panel: number): void;
}

/** The module's exports as WebAssembly gives them: positional, as its functions are declared. */
interface Exports {
  kinks: WebAssembly.Global;
  marginRows(...args: number[]): void;
  moveActive(...args: number[]): number;
  reluIntoSingleOutput(...args: number[]): number;
  rankOneRow(nc: number, cols: number, dA: number, Zb: number, w: number, zL: number): void;
  outputMoved(m: number, zb: number, prev: number, step: number, cols: number, zL: number): number;
  sigmoidCrossEntropyDelta(...args: number[]): number;
  product(A: number, m: number, k: number, B: number, n: number, C: number): void;
  productTiled(A: number, m: number, k: number, B: number, n: number, C: number, panel: number): void;
}

let compiled: WebAssembly.Module | undefined;

/** The kernels working on `memory`. The module is compiled once per thread; instances are cheap. */
export function instantiateKernels(memory: WebAssembly.Memory): Kernels {
  compiled ??= new WebAssembly.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
  const x = new WebAssembly.Instance(compiled, { env: { memory }, math: { exp: Math.exp, log: Math.log } })
    .exports as unknown as Exports;
  // Named operands here, the module's parameter order in one place.
  return {
    kinks: x.kinks,
    moveActive: (p) => x.moveActive(p.active, p.from, p.to, p.zl, p.prev, p.step, p.cols, p.dA),
    reluIntoSingleOutput: (p) =>
      x.reluIntoSingleOutput(p.nc, p.cols, p.dA, p.margin, p.slope, p.ZL, p.Zt, p.R, p.wcol, p.wl, p.b, p.zL),
    rankOneRow: x.rankOneRow,
    outputMoved: x.outputMoved,
    sigmoidCrossEntropyDelta: (p) => x.sigmoidCrossEntropyDelta(p.nc, p.cols, p.zL, p.ZL, p.q, p.sign, p.Y, p.base),
    product: x.product,
    marginRows: (p) => x.marginRows(p.Zt, p.R, p.inv, p.cs, p.from, p.to, p.margin),
    productTiled: x.productTiled,
  };
}

/**
 * tensor.ts's ProductKernel in WebAssembly, with its own memory (grown as needed):
 * operands are copied in and the product out, which costs little beside the
 * product itself and saves a fresh thread the wait for V8 to optimise the
 * JavaScript loop.
 */
export function wasmProductKernel(): ProductKernel {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const k = instantiateKernels(memory);
  return (A, m, kk, B, n, C) => {
    const a = 0;
    const b = a + m * kk;
    const c = b + kk * n;
    const panel = c + m * n;
    const bytes = 8 * (panel + 4 * kk);
    if (bytes > memory.buffer.byteLength) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
    const f64 = new Float64Array(memory.buffer);
    f64.set(A.subarray(0, m * kk), a);
    f64.set(B.subarray(0, kk * n), b);
    k.productTiled(a * 8, m, kk, b * 8, n, c * 8, panel * 8);
    C.set(f64.subarray(c, c + m * n));
  };
}

let installed = false;

/** Large matrix products of this thread in WebAssembly (same bits as the JavaScript kernel). */
export function installWasmProducts(): void {
  if (installed) return;
  useProductKernel(wasmProductKernel());
  installed = true;
}
