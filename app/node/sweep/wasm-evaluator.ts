import {
  type CostEvaluator,
  IncrementalEvaluator,
  type ReluIntoOutput,
  hasSigmoidCrossEntropyOutput,
  replaysExactly,
} from '../../core/model/evaluator.js';
import { type ArrayAllocator, REGION_TABLE_BYTES, type SplitTable } from '../../core/model/incremental-tables.js';
import type { Dataset, ForwardCache, Network } from '../../core/model/network.js';
import { Tensor } from '../../core/tensor/tensor.js';
import { type Kernels, instantiateKernels } from './wasm-kernels.js';

/** Beyond this the arrays stay ordinary JavaScript ones (and the JavaScript loops run). */
const MAX_ARENA_BYTES = 1 << 30;

/** A bump allocator over one fixed WebAssembly memory (never grown: growing would detach every view). */
class Arena implements ArrayAllocator {
  readonly memory: WebAssembly.Memory;
  private next = 0;
  private readonly capacity: number;

  constructor(bytes: number) {
    const pages = Math.ceil(bytes / 65536) + 1;
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.capacity = pages * 65536;
  }

  private take(bytes: number): number {
    this.next = Math.ceil(this.next / 8) * 8;
    const at = this.next;
    this.next += bytes;
    if (this.next > this.capacity)
      throw new Error(`wasm arena: ${this.next} bytes asked of ${this.capacity} (a sizing bug)`);
    return at;
  }

  f64(length: number): Float64Array {
    return new Float64Array(this.memory.buffer, this.take(length * 8), length);
  }

  i32(length: number): Int32Array {
    return new Int32Array(this.memory.buffer, this.take(length * 4), length);
  }

  copy(src: Float64Array): Float64Array {
    const a = this.f64(src.length);
    a.set(src);
    return a;
  }

  tensor(t: Tensor): Tensor {
    return new Tensor(t.rows, t.cols, this.copy(t.data));
  }
}

/** Bytes the arena needs: the data, the forward pass and every array IncrementalEvaluator and its tables allocate. */
function arenaBytes(net: Network, parameters: number, data: Dataset): number {
  const m = data.X.cols;
  const layers = net.spec.layers;
  const units = layers.reduce((s, l) => s + l.units, 0);
  const K = layers[layers.length - 1]!.units;
  let regions = 0;
  for (let l = 1; l + 2 <= layers.length; l++) {
    const bytes = layers[l - 1]!.units * (K + 1) * m * 8;
    regions += bytes <= REGION_TABLE_BYTES ? bytes : (K + 1) * m * 8;
  }
  const f64s =
    parameters +
    m * (data.X.rows + data.Y.rows + 2 * units + 6 + data.X.rows + units + units) +
    2 * Math.max(...layers.map((l) => l.units));
  return 8 * f64s + 4 * units * m + regions + 64 * 16 + (1 << 20);
}

/**
 * The incremental evaluator with its innermost loops in WebAssembly (kernels.wat):
 * it overrides the leaves IncrementalEvaluator's paths end in (a ReLU row over its
 * active examples, the rank-one step into one ReLU-fed output, a row of a rank-one
 * update, the moved output row,
 * the sigmoid/cross-entropy loss change), so which path an entry takes is decided
 * in one place. Each leaf gives the JavaScript one's bits. The data, the forward pass
 * and the evaluator's tables live in one WebAssembly memory.
 */
export class WasmIncrementalEvaluator extends IncrementalEvaluator {
  private readonly k: Kernels;

  /**
   * Whether the kernels serve this model and data: one sigmoid/cross-entropy output,
   * some layer too wide to replay (an all-narrow network, like the notebook's, has only
   * the exact JavaScript path), and a memory of at most MAX_ARENA_BYTES.
   */
  static fits(net: Network, data: Dataset): boolean {
    return (
      hasSigmoidCrossEntropyOutput(net) &&
      !replaysExactly(net) &&
      arenaBytes(net, net.parameterCount, data) <= MAX_ARENA_BYTES
    );
  }

  /**
   * The fast evaluator when it fits, else the JavaScript one. The arrays given are
   * only read (copied into the evaluator's memory), so they may be shared ones.
   */
  static create(net: Network, theta0: Float64Array, data: Dataset, base: ForwardCache): CostEvaluator {
    if (!WasmIncrementalEvaluator.fits(net, data)) return new IncrementalEvaluator(net, theta0, data, base);
    const arena = new Arena(arenaBytes(net, net.parameterCount, data));
    const X = arena.tensor(data.X);
    const local: ForwardCache = {
      cost: base.cost,
      Z: [X, ...base.Z.slice(1).map((t) => arena.tensor(t))],
      A: [X, ...base.A.slice(1).map((t) => arena.tensor(t))],
    };
    return new WasmIncrementalEvaluator(net, arena.copy(theta0), { X, Y: arena.tensor(data.Y) }, local, arena);
  }

  private constructor(net: Network, theta0: Float64Array, data: Dataset, base: ForwardCache, arena: Arena) {
    super(net, theta0, data, base, arena);
    this.k = instantiateKernels(arena.memory);
    const k = this.k;
    this.tables.marginRows = (a) =>
      k.marginRows({
        Zt: a.Zt.byteOffset,
        R: a.R,
        inv: a.inv.byteOffset,
        cs: a.cs.byteOffset,
        from: a.from,
        to: a.to,
        margin: a.margin.byteOffset + a.offset * 8,
      });
  }

  /** Byte offset of row `row` (of `width` doubles) of an array in the arena. */
  private static at(a: Float64Array, row = 0, width = 0): number {
    return a.byteOffset + row * width * 8;
  }

  protected override moveActive(l: number, i: number, prevRow: number, step: number, split: SplitTable): number {
    const m = this.m;
    const nc = this.k.moveActive({
      active: split.active.byteOffset,
      from: split.offsets[i]!,
      to: split.offsets[i + 1]!,
      zl: WasmIncrementalEvaluator.at(this.base.Z[l]!.data, i, m),
      prev: prevRow < 0 ? this.ones.byteOffset : WasmIncrementalEvaluator.at(this.base.A[l - 1]!.data, prevRow, m),
      step,
      cols: this.cols.byteOffset,
      dA: this.dA.byteOffset,
    });
    this.kinks = this.k.kinks.value as number;
    return nc;
  }

  protected override reluIntoSingleOutput(a: ReluIntoOutput): number {
    return this.k.reluIntoSingleOutput({
      nc: a.nc,
      cols: a.cols.byteOffset,
      dA: a.dA.byteOffset,
      margin: a.margin.byteOffset + a.offset * 8,
      slope: a.slope.byteOffset + a.offset * 8,
      ZL: a.ZL.byteOffset,
      Zt: a.Zt.byteOffset,
      R: a.R,
      wcol: a.wcol.byteOffset,
      wl: a.wl.byteOffset,
      b: a.b,
      zL: a.zL.byteOffset,
    });
  }

  protected override rankOneRow(
    nc: number,
    Zb: Float64Array,
    zo: number,
    w: number,
    out: Float64Array,
    so: number,
  ): void {
    this.k.rankOneRow(nc, this.cols.byteOffset, this.dA.byteOffset, Zb.byteOffset + zo * 8, w, out.byteOffset + so * 8);
  }

  protected override collectMovedOutput(l: number, i: number, prevRow: number, step: number): number {
    const m = this.m;
    const prev = prevRow < 0 ? this.ones.byteOffset : WasmIncrementalEvaluator.at(this.base.A[l - 1]!.data, prevRow, m);
    return this.k.outputMoved(
      m,
      WasmIncrementalEvaluator.at(this.base.Z[l]!.data, i, m),
      prev,
      step,
      this.cols.byteOffset,
      this.zBuf[l]!.byteOffset,
    );
  }

  protected override sigmoidCrossEntropyCost(zL: Float64Array, nc: number): number {
    const L = this.net.layerCount;
    const delta = this.k.sigmoidCrossEntropyDelta({
      nc,
      cols: this.cols.byteOffset,
      zL: zL.byteOffset,
      ZL: this.base.Z[L]!.data.byteOffset,
      q: this.outQ!.byteOffset,
      sign: this.outSign!.byteOffset,
      Y: this.data.Y.data.byteOffset,
      base: this.baseLosses.byteOffset,
    });
    return (1 / this.m) * (this.baseLossSum + delta);
  }
}
