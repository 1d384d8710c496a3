import { Tensor, matmul } from '../tensor/tensor.js';
import { DEFAULT_LEAKY_ALPHA, activate, hasKink } from './activations.js';
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
  /** J(θ₀ + δ·u) for a whole direction u; sets `kinks` like costAtEntry. */
  costAlong(u: Float64Array, delta: number): number;
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

/** Memory allowed for cached linear regions of one layer's units. */
const REGION_CACHE_BYTES = 64 << 20;

/**
 * A perturbation crosses the kink at 0 when the pre-activation changes sign or
 * lands on or leaves 0 (zb·z ≤ 0 and it moved): one comparison in the common case.
 */
export function crossesKink(zb: number, z: number): boolean {
  return zb * z <= 0 && zb !== z;
}

function countSignChanges(base: Float64Array, next: Float64Array, from = 0, to = base.length): number {
  let n = 0;
  for (let i = from; i < to; i++) if (crossesKink(base[i]!, next[i]!)) n++;
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
    base?: ForwardCache,
  ) {
    this.base = base ?? net.forward(theta0, data);
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

  costAlong(u: Float64Array, delta: number): number {
    const w = this.work;
    for (let i = 0; i < w.length; i++) w[i] = this.theta0[i]! + delta * u[i]!;
    const cache = this.net.forward(w, this.data);
    w.set(this.theta0);
    this.kinks = 0;
    for (let l = 1; l <= this.net.layerCount; l++) {
      if (hasKink(this.net.spec.layers[l - 1]!.activation)) this.kinks += countSignChanges(this.base.Z[l]!.data, cache.Z[l]!.data);
    }
    return cache.cost;
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
  private readonly baseLossSum: number;
  /** Every layer narrow enough to replay: results equal the full pass bit for bit. */
  private readonly exact: boolean;
  private readonly m: number;
  private readonly rowZ: Float64Array;
  private readonly rowA: Float64Array;
  private readonly cols: Int32Array;
  private readonly losses: Float64Array;
  private readonly subLosses: Float64Array;
  private full: FullEvaluator | undefined;
  private readonly dA: Float64Array;
  private readonly ones: Float64Array;
  private readonly zBuf: Float64Array[];
  private readonly aBuf: Float64Array[];
  private readonly yBuf: Float64Array;
  private readonly wcol: Float64Array;
  private readonly aTmp: Float64Array;
  private readonly zT: (Float64Array | undefined)[] = [];
  private readonly regions = new Map<number, { margin: Float64Array; slope: Float64Array }>();
  private regionLayer = 0;

  /** `base`: the forward pass at θ₀ when it is already known (computed once, shared by every worker). */
  constructor(
    private readonly net: Network,
    readonly theta0: Float64Array,
    private readonly data: Dataset,
    base?: ForwardCache,
  ) {
    this.base = base ?? net.forward(theta0, data);
    this.baseCost = this.base.cost;
    this.m = data.X.cols;
    const L = net.layerCount;
    this.baseLosses = new Float64Array(this.m);
    exampleLosses(net.spec.loss, this.base.A[L]!, data.Y, this.baseLosses);
    this.baseLossSum = this.baseLosses.reduce((a, b) => a + b, 0);
    this.exact = net.spec.layers.every((_, q) => net.weights(theta0, q + 1).cols <= EXACT_REPLAY_MAX_FANIN);
    this.rowZ = new Float64Array(this.m);
    this.rowA = new Float64Array(this.m);
    this.cols = new Int32Array(this.m);
    this.losses = new Float64Array(this.m);
    this.subLosses = new Float64Array(this.m);
    this.dA = new Float64Array(this.m);
    this.ones = new Float64Array(this.m).fill(1);
    // Work buffers per layer, sized for all examples, reused by every evaluation.
    this.zBuf = this.base.Z.map((z) => new Float64Array(z.rows * this.m));
    this.aBuf = this.base.A.map((a) => new Float64Array(a.rows * this.m));
    this.yBuf = new Float64Array(data.Y.rows * this.m);
    this.wcol = new Float64Array(Math.max(...net.spec.layers.map((x) => x.units)));
    this.aTmp = new Float64Array(this.wcol.length);
  }

  private fullEvaluator(): FullEvaluator {
    this.full ??= new FullEvaluator(this.net, this.theta0, this.data);
    return this.full;
  }

  costAt(theta: Float64Array): number {
    return this.fullEvaluator().costAt(theta);
  }

  /** A direction moves every parameter: nothing to reuse, so a full pass. */
  costAlong(u: Float64Array, delta: number): number {
    const full = this.fullEvaluator();
    const j = full.costAlong(u, delta);
    this.kinks = full.kinks;
    return j;
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
    const layer = net.spec.layers[l - 1]!;
    const colsOut = this.cols;
    const dA = this.dA;
    let nc = 0;
    let kinks = 0;
    const replay = net.weights(this.theta0, l).cols <= EXACT_REPLAY_MAX_FANIN;
    if (!replay && hasKink(layer.activation)) {
      // One pass for the common case: row i of Z_l moved by the step (rank-one),
      // activated, kinks counted, and the examples whose output moved collected
      // with their ΔA (branch-free where the outcome is a coin toss).
      const alpha = layer.activation === 'leaky_relu' ? (layer.alpha ?? DEFAULT_LEAKY_ALPHA) : 0;
      // A bias moves every example by the same step: the same loop with a row of ones.
      const prev = g.kind === 'weight' ? this.base.A[l - 1]!.data : this.ones;
      const pOff = g.kind === 'weight' ? (k % g.cols) * m : 0;
      for (let c = 0; c < m; c++) {
        const zb = Zl[zOff + c]!;
        const z = zb + step * prev[pOff + c]!;
        kinks += zb * z <= 0 && zb !== z ? 1 : 0;
        const a = alpha === 0 ? Math.max(z, 0) : Math.max(z, alpha * z);
        rowA[c] = a;
        const ab = Al[zOff + c]!;
        colsOut[nc] = c;
        dA[nc] = a - ab;
        nc += a !== ab ? 1 : 0;
      }
    } else {
      if (replay) {
        this.replayRow(l, i, index, delta, rowZ);
      } else if (g.kind === 'bias') {
        for (let c = 0; c < m; c++) rowZ[c] = Zl[zOff + c]! + step;
      } else {
        const prev = this.base.A[l - 1]!.data;
        const pOff = (k % g.cols) * m;
        for (let c = 0; c < m; c++) rowZ[c] = Zl[zOff + c]! + step * prev[pOff + c]!;
      }
      activate(layer, rowZ, rowA);
      if (hasKink(layer.activation)) {
        for (let c = 0; c < m; c++) if (Zl[zOff + c]! * rowZ[c]! <= 0 && Zl[zOff + c]! !== rowZ[c]!) kinks++;
      }
      // Examples whose layer-l output moved at all (branch-free, as above).
      for (let c = 0; c < m; c++) {
        colsOut[nc] = c;
        dA[nc] = rowA[c]! - Al[zOff + c]!;
        nc += rowA[c] !== Al[zOff + c] ? 1 : 0;
      }
    }
    this.kinks = kinks;
    if (nc === 0) return this.baseCost;

    const cols = this.cols;
    let sub: Tensor; // activations of the changed columns at the current layer
    if (l === L) {
      sub = this.gather(this.base.A[L]!, nc, this.aBuf[L]!);
      for (let t = 0; t < nc; t++) sub.data[i * nc + t] = rowA[cols[t]!]!;
    } else {
      const W = net.weights(this.theta0, l + 1);
      const zBuf = this.zBuf[l + 1]!;
      if (W.cols <= EXACT_REPLAY_MAX_FANIN) {
        // Narrow layer: the same dot products as the full pass, on the changed columns.
        const a = this.gather(this.base.A[l]!, nc, this.aBuf[l]!);
        for (let t = 0; t < nc; t++) a.data[i * nc + t] = rowA[cols[t]!]!;
        const z = matmul(W, a, net.bias(this.theta0, l + 1), new Tensor(W.rows, nc, zBuf.subarray(0, W.rows * nc)));
        sub = this.activateSub(l + 1, z, nc);
      } else {
        // Rank-one update of layer l+1 on the changed columns: Z' = Z + W[:,i] ⊗ ΔA_l[i,:],
        // fused with the activation and the kink count so the block is walked once.
        if (l + 2 === L && hasKink(net.spec.layers[l]!.activation)) {
          sub = this.rankOneIntoOutput(l, i, nc);
          return this.finishLoss(sub, nc);
        }
        const next = net.spec.layers[l]!;
        const aBuf = this.aBuf[l + 1]!;
        const Zb = this.base.Z[l + 1]!.data;
        const Wd = W.data;
        const wc = W.cols;
        const leaky = next.activation === 'leaky_relu' ? (next.alpha ?? DEFAULT_LEAKY_ALPHA) : next.activation === 'relu' ? 0 : -1;
        let kinks = 0;
        for (let r = 0; r < W.rows; r++) {
          const w = Wd[r * wc + i]!;
          const zo = r * m;
          const so = r * nc;
          if (leaky >= 0) {
            for (let t = 0; t < nc; t++) {
              const zb = Zb[zo + cols[t]!]!;
              const z = zb + w * dA[t]!;
              if (zb * z <= 0 && zb !== z) kinks++;
              aBuf[so + t] = z > 0 ? z : z !== z ? z : leaky === 0 ? 0 : leaky * z;
            }
          } else {
            for (let t = 0; t < nc; t++) zBuf[so + t] = Zb[zo + cols[t]!]! + w * dA[t]!;
          }
        }
        this.kinks += kinks;
        if (leaky >= 0) sub = new Tensor(W.rows, nc, aBuf.subarray(0, W.rows * nc));
        else sub = this.activateSub(l + 1, new Tensor(W.rows, nc, zBuf.subarray(0, W.rows * nc)), nc);
      }
      for (let q = l + 2; q <= L; q++) {
        const Wq = net.weights(this.theta0, q);
        const zq = matmul(Wq, sub, net.bias(this.theta0, q), new Tensor(Wq.rows, nc, this.zBuf[q]!.subarray(0, Wq.rows * nc)));
        sub = this.activateSub(q, zq, nc);
      }
    }
    return this.finishLoss(sub, nc);
  }

  /** Mean loss with the changed examples' losses swapped in, summed in example order. */
  private finishLoss(out: Tensor, nc: number): number {
    const cols = this.cols;
    const ySub = this.gather(this.data.Y, nc, this.yBuf);
    exampleLosses(this.net.spec.loss, out, ySub, this.subLosses);
    if (this.exact) {
      // Bit-for-bit with the full pass: every example's loss, summed in example order.
      const losses = this.losses;
      losses.set(this.baseLosses);
      for (let t = 0; t < nc; t++) losses[cols[t]!] = this.subLosses[t]!;
      return meanLoss(losses);
    }
    // Wide layers already differ from the full pass by rounding; here the changed
    // examples' losses are added as differences to the base sum, O(changed) not O(m).
    let delta = 0;
    for (let t = 0; t < nc; t++) delta += this.subLosses[t]! - this.baseLosses[cols[t]!]!;
    return (1 / this.m) * (this.baseLossSum + delta);
  }

  /**
   * The common case of a weight or bias feeding a (leaky) ReLU layer just below the
   * output: example by example, the R pre-activations of layer l+1 are updated
   * (Z + W[:,i]·ΔA), activated, checked for kinks and folded straight into the
   * output pre-activations in matmul's order, without writing the R × nc block.
   * Base Z_{l+1} is kept example-major so each example's R values are contiguous.
   */
  private rankOneIntoOutput(l: number, i: number, nc: number): Tensor {
    const net = this.net;
    const L = l + 2;
    const W = net.weights(this.theta0, l + 1);
    const R = W.rows;
    const WL = net.weights(this.theta0, L);
    const bL = net.bias(this.theta0, L).data;
    const K = WL.rows;
    const wl = WL.data;
    const layer = net.spec.layers[l]!;
    const alpha = layer.activation === 'leaky_relu' ? (layer.alpha ?? DEFAULT_LEAKY_ALPHA) : 0;
    const wcol = this.wcol;
    for (let r = 0; r < R; r++) wcol[r] = W.data[r * W.cols + i]!;
    const Zt = this.zExampleMajor(l + 1);
    const cols = this.cols;
    const dA = this.dA;
    const zL = this.zBuf[L]!;
    const aTmp = this.aTmp;
    const region = this.linearRegion(l, i);
    const margin = region.margin;
    const slope = region.slope;
    const ZL = this.base.Z[L]!.data;
    const m = this.m;
    let kinks = 0;
    // Loops specialised by hand: this is the innermost loop of most sweeps. A kink is
    // a sign change of the pre-activation (zb·z ≤ 0 with z moved), tested as one
    // comparison so the branch predicts well.
    for (let t = 0; t < nc; t++) {
      const c = cols[t]!;
      const d = dA[t]!;
      if (Math.abs(d) < 0.5 * margin[c]!) {
        // Inside the linear region: no unit of layer l+1 changes side, so the output
        // moves by exactly d·slope (see linearRegion).
        for (let k = 0; k < K; k++) zL[k * nc + t] = ZL[k * m + c]! + d * slope[k * m + c]!;
        continue;
      }
      const base = c * R;
      if (K === 1) {
        let acc = 0;
        if (alpha === 0) {
          for (let r = 0; r < R; r++) {
            const zb = Zt[base + r]!;
            const z = zb + wcol[r]! * d;
            if (zb * z <= 0 && zb !== z) kinks++;
            acc += wl[r]! * Math.max(z, 0);
          }
        } else {
          for (let r = 0; r < R; r++) {
            const zb = Zt[base + r]!;
            const z = zb + wcol[r]! * d;
            if (zb * z <= 0 && zb !== z) kinks++;
            acc += wl[r]! * Math.max(z, alpha * z);
          }
        }
        const b = bL[0]!;
        zL[t] = b !== 0 ? acc + b : acc;
      } else {
        for (let r = 0; r < R; r++) {
          const zb = Zt[base + r]!;
          const z = zb + wcol[r]! * d;
          if (zb * z <= 0 && zb !== z) kinks++;
          aTmp[r] = alpha === 0 ? Math.max(z, 0) : Math.max(z, alpha * z);
        }
        for (let k = 0; k < K; k++) {
          let acc = 0;
          const ko = k * R;
          for (let r = 0; r < R; r++) acc += wl[ko + r]! * aTmp[r]!;
          const b = bL[k]!;
          zL[k * nc + t] = b !== 0 ? acc + b : acc;
        }
      }
    }
    this.kinks += kinks;
    return this.activateSub(L, new Tensor(K, nc, zL.subarray(0, K * nc)), nc);
  }

  /**
   * A ReLU layer is linear on each side of its kinks. For unit i of layer l and
   * example c, as long as no unit r of layer l+1 changes side, moving A_l[i,c] by d
   * moves the output pre-activations by exactly d·slope[k,c], where
   * slope[k,c] = Σ_r W_L[k,r]·f'(Z_{l+1}[r,c])·W_{l+1}[r,i] (f' = 1 or α per side);
   * and no unit changes side while |d| < margin[c] = min_r |Z_{l+1}[r,c]| / |W_{l+1}[r,i]|.
   * Both are built once per unit and shared by all its incoming weights and its
   * bias; examples closer to a kink than half the margin take the exact loop.
   * The loss itself is always evaluated in full at the perturbed output.
   */
  private linearRegion(l: number, i: number): { margin: Float64Array; slope: Float64Array } {
    if (this.regionLayer !== l) {
      this.regions.clear();
      this.regionLayer = l;
    }
    const cached = this.regions.get(i);
    if (cached) return cached;
    const net = this.net;
    const W = net.weights(this.theta0, l + 1);
    const WL = net.weights(this.theta0, l + 2);
    const Z = this.base.Z[l + 1]!.data;
    const layer = net.spec.layers[l]!;
    const alpha = layer.activation === 'leaky_relu' ? (layer.alpha ?? DEFAULT_LEAKY_ALPHA) : 0;
    const m = this.m;
    const K = WL.rows;
    const margin = new Float64Array(m).fill(Infinity);
    const slope = new Float64Array(K * m);
    for (let r = 0; r < W.rows; r++) {
      const w = W.data[r * W.cols + i]!;
      if (w === 0) continue;
      const aw = Math.abs(w);
      const zo = r * m;
      for (let c = 0; c < m; c++) {
        const mc = Math.abs(Z[zo + c]!) / aw;
        if (mc < margin[c]!) margin[c] = mc;
      }
      for (let k = 0; k < K; k++) {
        const wk = WL.data[k * WL.cols + r]! * w;
        const ko = k * m;
        if (alpha === 0) {
          // Branch-free: whether a unit is active is a coin toss per example.
          for (let c = 0; c < m; c++) slope[ko + c] = slope[ko + c]! + wk * +(Z[zo + c]! > 0);
        } else {
          for (let c = 0; c < m; c++) slope[ko + c] = slope[ko + c]! + (Z[zo + c]! > 0 ? wk : alpha * wk);
        }
      }
    }
    const region = { margin, slope };
    // Keep every unit's region of this layer (a unit's weights and its bias are
    // swept apart) unless that would take more than REGION_CACHE_BYTES.
    if ((this.regions.size + 1) * (K + 1) * m * 8 > REGION_CACHE_BYTES) this.regions.clear();
    this.regions.set(i, region);
    return region;
  }

  /** Base Z_l transposed to examples × units, built on first use. */
  private zExampleMajor(l: number): Float64Array {
    let t = this.zT[l];
    if (!t) {
      const z = this.base.Z[l]!;
      t = new Float64Array(z.size);
      for (let r = 0; r < z.rows; r++) for (let c = 0; c < z.cols; c++) t[c * z.rows + r] = z.data[r * z.cols + c]!;
      this.zT[l] = t;
    }
    return t;
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

  /** Columns `cols[0..nc)` of `src` as a compact rows × nc matrix in `buf`. */
  private gather(src: Tensor, nc: number, buf: Float64Array): Tensor {
    const out = buf.subarray(0, src.rows * nc);
    const cols = this.cols;
    const sd = src.data;
    const sc = src.cols;
    for (let r = 0; r < src.rows; r++) {
      const so = r * sc;
      const oo = r * nc;
      for (let t = 0; t < nc; t++) out[oo + t] = sd[so + cols[t]!]!;
    }
    return new Tensor(src.rows, nc, out);
  }

  private activateSub(layerIndex: number, z: Tensor, nc: number): Tensor {
    const layer = this.net.spec.layers[layerIndex - 1]!;
    const a = new Tensor(z.rows, nc, this.aBuf[layerIndex]!.subarray(0, z.rows * nc));
    activate(layer, z.data, a.data);
    if (hasKink(layer.activation)) {
      const bz = this.base.Z[layerIndex]!.data;
      const zd = z.data;
      const cols = this.cols;
      const m = this.m;
      let kinks = 0;
      for (let r = 0; r < z.rows; r++) {
        const bo = r * m;
        const so = r * nc;
        for (let t = 0; t < nc; t++) if (bz[bo + cols[t]!]! * zd[so + t]! <= 0 && bz[bo + cols[t]!]! !== zd[so + t]!) kinks++;
      }
      this.kinks += kinks;
    }
    return a;
  }
}

export function createEvaluator(mode: EvaluationMode, net: Network, theta0: Float64Array, data: Dataset, base?: ForwardCache): CostEvaluator {
  return mode === 'full' ? new FullEvaluator(net, theta0, data, base) : new IncrementalEvaluator(net, theta0, data, base);
}
