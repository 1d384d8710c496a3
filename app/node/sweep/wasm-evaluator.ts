import { type CostEvaluator, EXACT_REPLAY_MAX_FANIN, IncrementalEvaluator } from '../../core/model/evaluator.js';
import { type ArrayAllocator, REGION_TABLE_BYTES } from '../../core/model/incremental-tables.js';
import type { Dataset, ForwardCache, Network } from '../../core/model/network.js';
import { groupOf } from '../../core/model/spec.js';
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
    if (this.next > this.capacity) throw new Error(`wasm arena: ${this.next} bytes asked of ${this.capacity} (a sizing bug)`);
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
function arenaBytes(net: Network, theta: Float64Array, data: Dataset): number {
  const m = data.X.cols;
  const layers = net.spec.layers;
  const units = layers.reduce((s, l) => s + l.units, 0);
  const K = layers[layers.length - 1]!.units;
  let regions = 0;
  for (let l = 1; l + 2 <= layers.length; l++) {
    const bytes = layers[l - 1]!.units * (K + 1) * m * 8;
    regions += bytes <= REGION_TABLE_BYTES ? bytes : (K + 1) * m * 8;
  }
  const f64s = theta.length + m * (data.X.rows + data.Y.rows + 2 * units + 6 + data.X.rows + units + units) + Math.max(...layers.map((l) => l.units));
  return 8 * f64s + 4 * units * m + regions + 64 * 16 + (1 << 20);
}

/**
 * The incremental evaluator with its innermost loops in WebAssembly (kernels.wat)
 * for ReLU rows that feed one sigmoid output with cross-entropy; every other case
 * goes to the JavaScript evaluator it extends. Both give the same bits. The data,
 * the forward pass and the evaluator's tables live in one WebAssembly memory.
 */
export class WasmIncrementalEvaluator extends IncrementalEvaluator {
  private readonly k: Kernels;
  private readonly ptrCols: number;
  private readonly ptrDA: number;
  private readonly ptrOnes: number;
  private readonly ptrZL: number;
  private readonly ptrZLBase: number;
  private readonly ptrY: number;
  private readonly ptrQ: number;
  private readonly ptrSign: number;
  private readonly ptrBaseLosses: number;

  /** The fast evaluator when the model has that shape and fits, else the JavaScript one. */
  static create(net: Network, theta0: Float64Array, data: Dataset, base: ForwardCache): CostEvaluator {
    const L = net.layerCount;
    const out = net.spec.layers[L - 1]!;
    const shaped = out.units === 1 && out.activation === 'sigmoid' && net.spec.loss === 'binary_cross_entropy';
    // Every layer narrow enough to replay (the notebook): the exact JavaScript path is the only one.
    const exact = net.spec.layers.every((_, q) => net.weights(theta0, q + 1).cols <= EXACT_REPLAY_MAX_FANIN);
    const bytes = arenaBytes(net, theta0, data);
    if (!shaped || exact || bytes > MAX_ARENA_BYTES) return new IncrementalEvaluator(net, theta0, data, base);
    const arena = new Arena(bytes);
    const X = arena.tensor(data.X);
    const local: ForwardCache = { cost: base.cost, Z: [X, ...base.Z.slice(1).map((t) => arena.tensor(t))], A: [X, ...base.A.slice(1).map((t) => arena.tensor(t))] };
    return new WasmIncrementalEvaluator(net, arena.copy(theta0), { X, Y: arena.tensor(data.Y) }, local, arena);
  }

  private constructor(net: Network, theta0: Float64Array, data: Dataset, base: ForwardCache, arena: Arena) {
    super(net, theta0, data, base, arena);
    this.k = instantiateKernels(arena.memory);
    const L = net.layerCount;
    this.ptrCols = this.cols.byteOffset;
    this.ptrDA = this.dA.byteOffset;
    this.ptrOnes = this.ones.byteOffset;
    this.ptrZL = this.zBuf[L]!.byteOffset;
    this.ptrZLBase = this.base.Z[L]!.data.byteOffset;
    this.ptrY = this.data.Y.data.byteOffset;
    this.ptrQ = this.outQ!.byteOffset;
    this.ptrSign = this.outSign!.byteOffset;
    this.ptrBaseLosses = this.baseLosses.byteOffset;
  }

  override costAtEntry(index: number, delta: number): number {
    const g = groupOf(this.net.groups, index);
    const l = g.layer;
    const L = this.net.layerCount;
    const path = this.paths[l]!;
    const k = index - g.offset;
    const i = Math.floor(k / g.cols);
    const prevRow = g.kind === 'weight' ? k % g.cols : -1;
    const step = this.theta0[index]! + delta - this.theta0[index]!;
    const m = this.m;
    if (!path.replay && path.activation === 'relu' && (path.above === 'into-output' ? this.net.spec.layers[l]!.activation === 'relu' : path.above === 'rank-one' && l + 1 === L)) {
      // As IncrementalEvaluator.costAtEntry: only the active examples can move while the
      // step cannot reach the kink of any other.
      const reach = Math.abs(step) * (prevRow < 0 ? 1 : this.tables.bound(l, prevRow));
      const split = this.tables.split(l);
      if (reach * (1 + 2 ** -50) < split.gaps[i]!) {
        const prev = prevRow < 0 ? this.ptrOnes : this.base.A[l - 1]!.data.byteOffset + prevRow * m * 8;
        const zl = this.base.Z[l]!.data.byteOffset + i * m * 8;
        const nc = this.k.moveActive(split.active.byteOffset, split.offsets[i]!, split.offsets[i + 1]!, zl, prev, step, this.ptrCols, this.ptrDA);
        this.kinks = this.k.kinks.value as number;
        if (nc === 0) return this.baseCost;
        if (path.above === 'into-output') {
          const W = this.W[l + 1]!;
          const R = W.rows;
          const wcol = this.wcol;
          for (let r = 0; r < R; r++) wcol[r] = W.data[r * W.cols + i]!;
          const slot = this.tables.regionSlot(l, i);
          const region = this.tables.regionTable(l);
          const at = slot * m * 8;
          this.kinks += this.k.reluIntoSingleOutput(
            nc,
            this.ptrCols,
            this.ptrDA,
            region.margin.byteOffset + at,
            region.slope.byteOffset + at,
            this.ptrZLBase,
            this.tables.exampleMajor(l + 1).byteOffset,
            R,
            wcol.byteOffset,
            this.W[L]!.data.byteOffset,
            this.b[L]!.data[0]!,
            this.ptrZL,
          );
        } else {
          this.k.rankOneToOutput(nc, this.ptrCols, this.ptrDA, this.ptrZLBase, this.W[L]!.data[i]!, this.ptrZL);
        }
        return this.tail(nc);
      }
    } else if (l === L && !path.replay) {
      const prev = prevRow < 0 ? this.ptrOnes : this.base.A[l - 1]!.data.byteOffset + prevRow * m * 8;
      const nc = this.k.outputMoved(m, this.ptrZLBase, prev, step, this.ptrCols, this.ptrZL);
      this.kinks = 0;
      return nc === 0 ? this.baseCost : this.tail(nc);
    }
    return super.costAtEntry(index, delta);
  }

  /** IncrementalEvaluator.sigmoidCrossEntropyCost on the output now in zBuf[L]. */
  private tail(nc: number): number {
    const delta = this.k.sigmoidCrossEntropyDelta(nc, this.ptrCols, this.ptrZL, this.ptrZLBase, this.ptrQ, this.ptrSign, this.ptrY, this.ptrBaseLosses);
    return (1 / this.m) * (this.baseLossSum + delta);
  }
}
