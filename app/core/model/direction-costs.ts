import { Tensor, matmul } from '../tensor/tensor.js';
import { DEFAULT_LEAKY_ALPHA, activate, hasKink } from './activations.js';
import type { Dataset, ForwardCache, Network } from './network.js';
import type { LayerSpec } from './spec.js';

/** Memory allowed for the slope table of the layer two below the output (see DirectionCosts). */
const SLOPE_TABLE_BYTES = 64 << 20;

/**
 * The cost from new output pre-activations: `zL` holds Z_L of every example, unit-major
 * (K × m), and the cost is J at those outputs. The evaluator that owns the losses at θ₀
 * supplies it.
 */
export type OutputCost = (zL: Tensor) => number;

/** A piecewise-linear activation's slope on each side of 0: (right, left). */
function sides(layer: LayerSpec): [number, number] | undefined {
  switch (layer.activation) {
    case 'relu':
      return [1, 0];
    case 'leaky_relu':
      return [1, layer.alpha ?? DEFAULT_LEAKY_ALPHA];
    case 'linear':
      return [1, 1];
    default:
      return undefined;
  }
}

function transposed(t: Tensor): Tensor {
  return t.transpose();
}

/** evaluator.ts's crossesKink: a sign change, or landing on or leaving 0. */
function crossesKink(zb: number, z: number): boolean {
  return zb * z <= 0 && zb !== z;
}

/**
 * J(θ₀ + δ·u) for a direction u that moves one parameter group, at several δ, evaluated as the
 * incremental evaluator evaluates an entry: the same cost, exactly up to rounding, without a
 * forward pass per δ.
 *
 * A direction on W_l (or b_l) moves only layer l's pre-activations, and linearly in δ:
 * ΔZ_l = δ·P_l with P_l = U·A_{l−1} (or u broadcast over the examples), computed once per
 * direction for every δ. Above it, a piecewise-linear layer (ReLU, leaky ReLU, linear) is exactly
 * linear in each example column where none of its pre-activations crosses 0, so there
 * ΔZ_{q+1} = δ·P_{q+1} with P_{q+1} = W_{q+1}·(f′(Z_q) ⊙ P_q), again once per direction. Every
 * pre-activation of every kinked layer is tested for a crossing at every δ (the kink count is
 * exact); a column where one crosses, or any column above a smooth activation (tanh, sigmoid), is
 * carried up exactly for that δ alone: A′ = f(Z + ΔZ), ΔZ_{q+1} = W_{q+1}·(A′ − A). The output
 * pre-activations then go through the real loss (never a linearisation of it).
 *
 * For the layer just below a single-layer output (L − 1 piecewise-linear with a kink), the product
 * P_{L−1} is replaced where it provably changes nothing: column c of layer L − 1 cannot cross
 * while |δ|·‖ΔA_{L−2}[:,c]‖ < ½·min_r |Z_{L−1}[r,c]| / ‖W_{L−1}[r,:]‖ (Cauchy–Schwarz, with a
 * factor 2 to spare for rounding), and there the output moves by δ·S[:,c]·(f′ ⊙ P_{L−2})[:,c]
 * with S[p,c] = Σ_r W_L[k,r]·f′(Z_{L−1}[r,c])·W_{L−1}[r,p] (the layer's exact linear map on
 * that column, built once). Other columns take the product, column by column.
 *
 * Everything is kept example-major (example c's units contiguous) so that each product's left
 * operand is the sparse one (ReLU zeros are skipped) and a column is a contiguous row.
 */
export class DirectionCosts {
  private readonly m: number;
  private readonly L: number;
  /** Z_q, A_q at θ₀ example-major (m × units), by layer; A_0 = Xᵀ. Made on first use. */
  private readonly Zt: (Tensor | undefined)[] = [];
  private readonly At: (Tensor | undefined)[] = [];
  /** W_qᵀ by layer, made on first use. */
  private readonly Wt: (Tensor | undefined)[] = [];
  private slope: { S: Tensor[]; margin: Float64Array } | null | undefined;
  kinks = 0;

  constructor(
    private readonly net: Network,
    private readonly theta0: Float64Array,
    private readonly data: Dataset,
    private readonly base: ForwardCache,
    private readonly outputCost: OutputCost,
  ) {
    this.m = data.X.cols;
    this.L = net.layerCount;
  }

  private zt(q: number): Tensor {
    return (this.Zt[q] ??= transposed(this.base.Z[q]!));
  }

  private at(q: number): Tensor {
    return (this.At[q] ??= transposed(q === 0 ? this.data.X : this.base.A[q]!));
  }

  private wt(q: number): Tensor {
    return (this.Wt[q] ??= transposed(this.net.weights(this.theta0, q)));
  }

  /**
   * The slope table of layer L − 2's units (see the class comment), or null when the shape has
   * none: L − 1 must have a kink, and the table must fit SLOPE_TABLE_BYTES.
   */
  private slopeTable(): { S: Tensor[]; margin: Float64Array } | null {
    if (this.slope !== undefined) return this.slope;
    const L = this.L;
    const layers = this.net.spec.layers;
    const q = L - 1;
    const s = q >= 2 ? sides(layers[q - 1]!) : undefined;
    const K = layers[L - 1]!.units;
    const P = q >= 2 ? layers[q - 2]!.units : 0;
    if (!s || !hasKink(layers[q - 1]!.activation) || K * P * this.m * 8 > SLOPE_TABLE_BYTES) {
      this.slope = null;
      return null;
    }
    const W = this.net.weights(this.theta0, q);
    const WL = this.net.weights(this.theta0, L);
    const R = W.rows;
    const Zt = this.zt(q);
    const m = this.m;
    // margin[c] = min_r |Z_q[r,c]| / ‖W_q[r,:]‖ over rows that can move at all.
    const inv = new Float64Array(R);
    for (let r = 0; r < R; r++) {
      let n2 = 0;
      for (let p = 0; p < W.cols; p++) n2 += W.data[r * W.cols + p]! ** 2;
      inv[r] = n2 > 0 ? 1 / Math.sqrt(n2) : 0;
    }
    const margin = new Float64Array(m);
    for (let c = 0; c < m; c++) {
      let mn = Infinity;
      for (let r = 0; r < R; r++) {
        if (inv[r] === 0) continue;
        const v = Math.abs(Zt.data[c * R + r]!) * inv[r]!;
        // A NaN pre-activation leaves no margin (NaN fails every test below).
        mn = v < mn || v !== v ? v : mn;
      }
      margin[c] = mn;
    }
    // S_k = M_k · W_q with M_k[c,r] = W_L[k,r]·f′(Z_q[r,c]): zero where a ReLU unit is off.
    const S: Tensor[] = [];
    const M = Tensor.zeros(m, R);
    for (let k = 0; k < K; k++) {
      for (let c = 0; c < m; c++) {
        for (let r = 0; r < R; r++) {
          const z = Zt.data[c * R + r]!;
          M.data[c * R + r] = WL.data[k * R + r]! * (z > 0 ? s[0] : s[1]);
        }
      }
      S.push(matmul(M, W));
    }
    this.slope = { S, margin };
    return this.slope;
  }

  /**
   * Costs J(θ₀ + d·u) for each d of `offsets` into costs[at + j], and each one's kink count into
   * kinks[at + j]. `groupIndex` is the moved group; `u` holds its entries only (row-major).
   */
  costsAlong(
    groupIndex: number,
    u: Float64Array,
    offsets: readonly number[],
    costs: Float64Array,
    kinks: Uint32Array,
    at: number,
  ): void {
    const net = this.net;
    const g = net.groups[groupIndex]!;
    const l = g.layer;
    const L = this.L;
    const m = this.m;
    const layers = net.spec.layers;
    // P_l (example-major): A_{l−1}ᵀ·Uᵀ for a weight, u on every row for a bias.
    let Pt: Tensor;
    if (g.kind === 'weight') Pt = matmul(this.at(l - 1), new Tensor(g.rows, g.cols, u).transpose());
    else {
      Pt = Tensor.zeros(m, g.rows);
      for (let c = 0; c < m; c++) Pt.data.set(u.subarray(0, g.rows), c * g.rows);
    }
    // The linear map carried up, once per direction: P[q] for q = l … L (undefined above a smooth
    // layer). With the slope table, P[L−1] exists only for the columns that may cross (`near`).
    const P: (Tensor | undefined)[] = [];
    P[l] = Pt;
    const slope = l <= L - 2 ? this.slopeTable() : null;
    const maxStep = offsets.reduce((a, d) => Math.max(a, Math.abs(d)), 0);
    let near: Int32Array | undefined;
    for (let q = l; q < L; q++) {
      const s = sides(layers[q - 1]!);
      if (!s || !P[q]) break;
      const V = this.slopeApplied(q, P[q]!, s);
      if (slope && q === L - 2) {
        const R = layers[q]!.units;
        const P1 = Tensor.zeros(m, R);
        const K = layers[L - 1]!.units;
        const PL = Tensor.zeros(m, K);
        const closeCols: number[] = [];
        const Vd = V.data;
        const width = V.cols;
        for (let c = 0; c < m; c++) {
          let n2 = 0;
          for (let p = 0; p < width; p++) n2 += Vd[c * width + p]! ** 2;
          if (maxStep * Math.sqrt(n2) * (1 + 1e-9) < 0.5 * slope.margin[c]!) {
            for (let k = 0; k < K; k++) {
              const Sd = slope.S[k]!.data;
              let acc = 0;
              for (let p = 0; p < width; p++) acc += Sd[c * width + p]! * Vd[c * width + p]!;
              PL.data[c * K + k] = acc;
            }
          } else closeCols.push(c);
        }
        // Columns that may cross: the product itself, and the output's map from it.
        const Wq1 = net.weights(this.theta0, q + 1);
        const s1 = sides(layers[q]!)!;
        const WL = net.weights(this.theta0, L);
        const Zq1 = this.zt(q + 1);
        for (const c of closeCols) {
          for (let r = 0; r < R; r++) {
            let acc = 0;
            for (let p = 0; p < width; p++) acc += Wq1.data[r * width + p]! * Vd[c * width + p]!;
            P1.data[c * R + r] = acc;
          }
          for (let k = 0; k < K; k++) {
            let acc = 0;
            for (let r = 0; r < R; r++) {
              const f = Zq1.data[c * R + r]! > 0 ? s1[0] : s1[1];
              acc += WL.data[k * R + r]! * f * P1.data[c * R + r]!;
            }
            PL.data[c * K + k] = acc;
          }
        }
        near = Int32Array.from(closeCols);
        P[q + 1] = P1;
        P[L] = PL;
        break;
      }
      P[q + 1] = matmul(V, this.wt(q + 1));
    }
    for (let j = 0; j < offsets.length; j++) {
      costs[at + j] = this.costAt(l, P, offsets[j]!, near);
      kinks[at + j] = this.kinks;
    }
  }

  /** f′(Z_q) ⊙ P_q, example-major. */
  private slopeApplied(q: number, Pq: Tensor, s: [number, number]): Tensor {
    if (s[0] === 1 && s[1] === 1) return Pq;
    const Zt = this.zt(q);
    const V = Tensor.zeros(Pq.rows, Pq.cols);
    const z = Zt.data;
    const p = Pq.data;
    for (let i = 0; i < p.length; i++) V.data[i] = z[i]! > 0 ? p[i]! : s[1] === 0 ? 0 : s[1] * p[i]!;
    return V;
  }

  /**
   * J(θ₀ + δ·u) from the carried maps P: columns stay linear (Z + δ·P) until a pre-activation of
   * theirs crosses a kink or meets a smooth activation, then are carried exactly. Sets `kinks`.
   * `near`: with the slope table, the columns of layer L − 1 that may cross (the others cannot).
   */
  private costAt(l: number, P: (Tensor | undefined)[], delta: number, near: Int32Array | undefined): number {
    const net = this.net;
    const L = this.L;
    const m = this.m;
    const layers = net.spec.layers;
    // exact.get(c): column c's pre-activations at the layer being processed, carried exactly.
    let exact = new Map<number, Float64Array>();
    let kinks = 0;
    for (let q = l; q <= L; q++) {
      const layer = layers[q - 1]!;
      const units = layer.units;
      const Zt = this.zt(q).data;
      const kinked = hasKink(layer.activation);
      // Columns carried in exactly from below: their crossings here.
      if (kinked) {
        for (const [c, z] of exact) {
          const o = c * units;
          for (let r = 0; r < units; r++) kinks += crossesKink(Zt[o + r]!, z[r]!) ? 1 : 0;
        }
      }
      // Linear columns: Z + δ·P. A crossing, or a smooth activation below the output, makes the
      // column exact from here on. At L − 1 with the slope table only the columns near a kink
      // have P and need the test: the others provably do not cross.
      const Pq = P[q];
      const toExact = kinked || (sides(layer) === undefined && q < L);
      if (Pq && toExact) {
        const p = Pq.data;
        const visit = q === L - 1 ? near : undefined;
        const count = visit ? visit.length : m;
        const smooth = !kinked;
        for (let t = 0; t < count; t++) {
          const c = visit ? visit[t]! : t;
          if (exact.has(c)) continue;
          const o = c * units;
          let crossed = 0;
          if (kinked)
            for (let r = 0; r < units; r++) crossed += crossesKink(Zt[o + r]!, Zt[o + r]! + delta * p[o + r]!) ? 1 : 0;
          if (crossed || smooth) {
            kinks += crossed;
            const z = new Float64Array(units);
            for (let r = 0; r < units; r++) z[r] = Zt[o + r]! + delta * p[o + r]!;
            exact.set(c, z);
          }
        }
      }
      if (q === L) break;
      // Exact columns up one layer, all in one product (which skips the units that did not
      // move): Z_{q+1} + (f(Z′) − A)·W_{q+1}ᵀ. Above a smooth layer that is every column.
      const next = new Map<number, Float64Array>();
      if (exact.size > 0) {
        const cols = [...exact.keys()];
        const R = layers[q]!.units;
        const A = this.at(q).data;
        const D = Tensor.zeros(cols.length, units);
        const a = new Float64Array(units);
        cols.forEach((c, t) => {
          activate(layer, exact.get(c)!, a);
          const o = c * units;
          for (let r = 0; r < units; r++) D.data[t * units + r] = a[r]! - A[o + r]!;
        });
        const dZ = matmul(D, this.wt(q + 1)).data;
        const Z1 = this.zt(q + 1).data;
        cols.forEach((c, t) => {
          const z1 = dZ.subarray(t * R, (t + 1) * R);
          for (let r = 0; r < R; r++) z1[r] = Z1[c * R + r]! + z1[r]!;
          next.set(c, z1);
        });
      }
      exact = next;
    }
    this.kinks = kinks;
    // The output: linear columns Z_L + δ·P_L, exact ones as carried.
    const K = layers[L - 1]!.units;
    const ZL = this.base.Z[L]!.data;
    const out = Tensor.zeros(K, m);
    const PL = P[L]?.data;
    for (let c = 0; c < m; c++) {
      const z = exact.get(c);
      for (let k = 0; k < K; k++) {
        if (z) out.data[k * m + c] = z[k]!;
        else if (PL) out.data[k * m + c] = ZL[k * m + c]! + delta * PL[c * K + k]!;
        else throw new Error('direction costs: a column has neither a linear map nor an exact value');
      }
    }
    return this.outputCost(out);
  }
}
