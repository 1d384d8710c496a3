import { Tensor, matmul } from '../tensor/tensor.js';
import { activate, hasKink } from './activations.js';
import { exampleLosses, meanLoss } from './losses.js';
import type { Dataset, ForwardCache, Network } from './network.js';
import { groupOf } from './spec.js';

/**
 * Cost at θ₀ moved along one coordinate: the inner loop of every sweep.
 * `kinks` counts pre-activations of kinked activations (ReLU, leaky ReLU) whose
 * sign differs from θ₀'s after the last `costAtEntry`: such an entry's finite
 * difference straddles a non-differentiable point.
 */
export interface CostEvaluator {
  readonly theta0: Float64Array;
  readonly baseCost: number;
  costAtEntry(index: number, delta: number): number;
  costAt(theta: Float64Array): number;
  readonly kinks: number;
}

export type EvaluationMode = 'incremental' | 'full';

/**
 * Up to this fan-in, the incremental pass recomputes a changed dot product in
 * full (at most this many times the cost of the rank-one update) and so matches
 * the full pass bit for bit, as the notebook's reference figures need. Wider
 * layers take the rank-one update, whose result differs from the full pass only
 * by rounding (a few ulps of Z).
 */
export const EXACT_REPLAY_MAX_FANIN = 8;

function countSignChanges(base: Float64Array, next: Float64Array, from = 0, to = base.length): number {
  let n = 0;
  for (let i = from; i < to; i++) if (base[i]! > 0 !== next[i]! > 0) n++;
  return n;
}

/** The reference: a whole forward pass per evaluation, as the notebook does. */
export class FullEvaluator implements CostEvaluator {
  readonly baseCost: number;
  kinks = 0;
  private readonly work: Float64Array;
  private readonly base: ForwardCache;

  constructor(
    private readonly net: Network,
    readonly theta0: Float64Array,
    private readonly data: Dataset,
  ) {
    this.base = net.forward(theta0, data);
    this.baseCost = this.base.cost;
    this.work = theta0.slice();
  }

  costAtEntry(index: number, delta: number): number {
    const w = this.work;
    const original = w[index]!;
    w[index] = original + delta;
    const cache = this.net.forward(w, this.data);
    w[index] = original;
    this.kinks = 0;
    for (let l = 1; l <= this.net.layerCount; l++) {
      if (hasKink(this.net.spec.layers[l - 1]!.activation)) this.kinks += countSignChanges(this.base.Z[l]!.data, cache.Z[l]!.data);
    }
    return cache.cost;
  }

  costAt(theta: Float64Array): number {
    return this.net.cost(theta, this.data);
  }
}

/**
 * Incremental evaluation. Moving one entry of W_l or b_l changes only row i of
 * Z_l (a rank-one update: Z_l[i,:] += δ·A_{l-1}[j,:], or += δ for a bias); that
 * row changes Z_{l+1} by the outer product W_{l+1}[:,i] ⊗ ΔA_l[i,:]; and only the
 * examples whose ΔA_l[i,c] ≠ 0 change at all above layer l. Those columns are run
 * through the layers above with the same matmul as the full pass, and the cost is
 * summed over all examples in the same order, so the result matches the full
 * pass to the last few ulps.
 */
export class IncrementalEvaluator implements CostEvaluator {
  readonly baseCost: number;
  kinks = 0;
  private readonly base: ForwardCache;
  private readonly baseLosses: Float64Array;
  private readonly m: number;
  private readonly rowZ: Float64Array;
  private readonly rowA: Float64Array;
  private readonly cols: Int32Array;
  private readonly losses: Float64Array;
  private readonly subLosses: Float64Array;
  private readonly full: FullEvaluator;

  constructor(
    private readonly net: Network,
    readonly theta0: Float64Array,
    private readonly data: Dataset,
  ) {
    this.base = net.forward(theta0, data);
    this.baseCost = this.base.cost;
    this.m = data.X.cols;
    const L = net.layerCount;
    this.baseLosses = new Float64Array(this.m);
    exampleLosses(net.spec.loss, this.base.A[L]!, data.Y, this.baseLosses);
    this.rowZ = new Float64Array(this.m);
    this.rowA = new Float64Array(this.m);
    this.cols = new Int32Array(this.m);
    this.losses = new Float64Array(this.m);
    this.subLosses = new Float64Array(this.m);
    this.full = new FullEvaluator(net, theta0, data);
  }

  costAt(theta: Float64Array): number {
    return this.full.costAt(theta);
  }

  costAtEntry(index: number, delta: number): number {
    const net = this.net;
    const g = groupOf(net.groups, index);
    const l = g.layer;
    const L = net.layerCount;
    const m = this.m;
    const k = index - g.offset;
    const i = Math.floor(k / g.cols);
    // The step actually taken in floating point, as the full pass takes it.
    const step = this.theta0[index]! + delta - this.theta0[index]!;
    const Zl = this.base.Z[l]!.data;
    const Al = this.base.A[l]!.data;
    const rowZ = this.rowZ;
    const rowA = this.rowA;
    const zOff = i * m;
    if (net.weights(this.theta0, l).cols <= EXACT_REPLAY_MAX_FANIN) {
      this.replayRow(l, i, index, delta, rowZ);
    } else if (g.kind === 'bias') {
      for (let c = 0; c < m; c++) rowZ[c] = Zl[zOff + c]! + step;
    } else {
      const prev = this.base.A[l - 1]!.data;
      const pOff = (k % g.cols) * m;
      for (let c = 0; c < m; c++) rowZ[c] = Zl[zOff + c]! + step * prev[pOff + c]!;
    }
    const layer = net.spec.layers[l - 1]!;
    activate(layer, rowZ, rowA);
    this.kinks = 0;
    if (hasKink(layer.activation)) {
      for (let c = 0; c < m; c++) if (Zl[zOff + c]! > 0 !== rowZ[c]! > 0) this.kinks++;
    }
    // Examples whose layer-l output moved at all.
    let nc = 0;
    for (let c = 0; c < m; c++) if (rowA[c] !== Al[zOff + c]) this.cols[nc++] = c;
    if (nc === 0) return this.baseCost;

    let sub: Tensor; // activations of the changed columns at the current layer
    if (l === L) {
      sub = this.gather(this.base.A[L]!, nc);
      for (let t = 0; t < nc; t++) sub.data[i * nc + t] = rowA[this.cols[t]!]!;
    } else {
      const W = net.weights(this.theta0, l + 1);
      let z: Tensor;
      if (W.cols <= EXACT_REPLAY_MAX_FANIN) {
        // Narrow layer: the same dot products as the full pass, on the changed columns.
        const a = this.gather(this.base.A[l]!, nc);
        for (let t = 0; t < nc; t++) a.data[i * nc + t] = rowA[this.cols[t]!]!;
        z = matmul(W, a, net.bias(this.theta0, l + 1));
      } else {
        // Rank-one update of layer l+1 on the changed columns.
        z = this.gather(this.base.Z[l + 1]!, nc);
        for (let t = 0; t < nc; t++) {
          const c = this.cols[t]!;
          const dA = rowA[c]! - Al[zOff + c]!;
          for (let r = 0; r < W.rows; r++) z.data[r * nc + t] = z.data[r * nc + t]! + W.data[r * W.cols + i]! * dA;
        }
      }
      sub = this.activateSub(l + 1, z, nc);
      for (let q = l + 2; q <= L; q++) {
        const zq = matmul(net.weights(this.theta0, q), sub, net.bias(this.theta0, q));
        sub = this.activateSub(q, zq, nc);
      }
    }
    const ySub = this.gather(this.data.Y, nc);
    exampleLosses(net.spec.loss, sub, ySub, this.subLosses);
    const losses = this.losses;
    losses.set(this.baseLosses);
    for (let t = 0; t < nc; t++) losses[this.cols[t]!] = this.subLosses[t]!;
    return meanLoss(losses);
  }

  /**
   * Row i of Z_l recomputed with the perturbed entry, in the full pass's order
   * (Σ_p W[i,p]·A[p,c], zero weights skipped, then + b[i]): bit-identical to it.
   */
  private replayRow(l: number, i: number, index: number, delta: number, rowZ: Float64Array): void {
    const W = this.net.weights(this.theta0, l);
    const b = this.net.bias(this.theta0, l);
    const prev = this.base.A[l - 1]!.data;
    const m = this.m;
    const wOff = this.net.groups[2 * (l - 1)]!.offset + i * W.cols;
    const bIndex = this.net.groups[2 * (l - 1) + 1]!.offset + i;
    rowZ.fill(0);
    for (let p = 0; p < W.cols; p++) {
      const w = wOff + p === index ? this.theta0[index]! + delta : W.data[i * W.cols + p]!;
      if (w === 0) continue;
      const pOff = p * m;
      for (let c = 0; c < m; c++) rowZ[c] = rowZ[c]! + w * prev[pOff + c]!;
    }
    const bias = bIndex === index ? this.theta0[index]! + delta : b.data[i]!;
    if (bias !== 0) for (let c = 0; c < m; c++) rowZ[c] = rowZ[c]! + bias;
  }

  /** Columns `cols[0..nc)` of `src` as a compact rows × nc matrix. */
  private gather(src: Tensor, nc: number): Tensor {
    const out = Tensor.zeros(src.rows, nc);
    const cols = this.cols;
    for (let r = 0; r < src.rows; r++) {
      const so = r * src.cols;
      const oo = r * nc;
      for (let t = 0; t < nc; t++) out.data[oo + t] = src.data[so + cols[t]!]!;
    }
    return out;
  }

  private activateSub(layerIndex: number, z: Tensor, nc: number): Tensor {
    const layer = this.net.spec.layers[layerIndex - 1]!;
    const a = Tensor.zeros(z.rows, nc);
    activate(layer, z.data, a.data);
    if (hasKink(layer.activation)) {
      const baseZ = this.base.Z[layerIndex]!;
      const cols = this.cols;
      for (let r = 0; r < z.rows; r++) {
        for (let t = 0; t < nc; t++) if (baseZ.data[r * baseZ.cols + cols[t]!]! > 0 !== z.data[r * nc + t]! > 0) this.kinks++;
      }
    }
    return a;
  }
}

export function createEvaluator(mode: EvaluationMode, net: Network, theta0: Float64Array, data: Dataset): CostEvaluator {
  return mode === 'full' ? new FullEvaluator(net, theta0, data) : new IncrementalEvaluator(net, theta0, data);
}
