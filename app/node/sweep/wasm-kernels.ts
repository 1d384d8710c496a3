import { type ProductKernel, useProductKernel } from '../../core/tensor/tensor.js';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';

/** The exports of kernels.wat; pointers are byte offsets into the memory it was given. */
export interface Kernels {
  kinks: WebAssembly.Global;
  moveActive(
    active: number,
    from: number,
    to: number,
    zl: number,
    prev: number,
    step: number,
    cols: number,
    dA: number,
  ): number;
  reluIntoSingleOutput(
    nc: number,
    cols: number,
    dA: number,
    margin: number,
    slope: number,
    ZL: number,
    Zt: number,
    R: number,
    wcol: number,
    wl: number,
    b: number,
    zL: number,
  ): number;
  rankOneRow(nc: number, cols: number, dA: number, Zb: number, w: number, zL: number): void;
  outputMoved(m: number, zb: number, prev: number, step: number, cols: number, zL: number): number;
  sigmoidCrossEntropyDelta(
    nc: number,
    cols: number,
    zL: number,
    ZL: number,
    q: number,
    sign: number,
    Y: number,
    base: number,
  ): number;
  product(A: number, m: number, k: number, B: number, n: number, C: number): void;
}

let compiled: WebAssembly.Module | undefined;

/** The kernels working on `memory`. The module is compiled once per thread; instances are cheap. */
export function instantiateKernels(memory: WebAssembly.Memory): Kernels {
  compiled ??= new WebAssembly.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
  return new WebAssembly.Instance(compiled, { env: { memory }, math: { exp: Math.exp, log: Math.log } })
    .exports as unknown as Kernels;
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
    const bytes = 8 * (c + m * n);
    if (bytes > memory.buffer.byteLength) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
    const f64 = new Float64Array(memory.buffer);
    f64.set(A.subarray(0, m * kk), a);
    f64.set(B.subarray(0, kk * n), b);
    k.product(a * 8, m, kk, b * 8, n, c * 8);
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
