import { DEFAULT_LEAKY_ALPHA } from './activations.js';
import type { ForwardCache, Network } from './network.js';
import { Tensor, matmul } from '../tensor/tensor.js';

/**
 * Where the incremental evaluator keeps the arrays its inner loops read: ordinary
 * typed arrays by default, or views into one WebAssembly memory so that compiled
 * kernels can read them too (app/node/sweep/wasm-evaluator.ts).
 */
export interface ArrayAllocator {
  f64(length: number): Float64Array;
  i32(length: number): Int32Array;
}

export const HEAP: ArrayAllocator = { f64: (n) => new Float64Array(n), i32: (n) => new Int32Array(n) };

/**
 * For each active example c = cs[t], t in [from, to): margin[offset + c] = min over r < R of
 * |Zt[c·R + r]|·inv[r] (Zt example-major), NaN sticking. Every array in one memory.
 */
export type MarginRows = (a: {
  Zt: Float64Array;
  R: number;
  inv: Float64Array;
  cs: Int32Array;
  from: number;
  to: number;
  margin: Float64Array;
  offset: number;
}) => void;

/** Memory allowed for the linear regions of one layer's units. */
export const REGION_TABLE_BYTES = 64 << 20;

/**
 * The active examples (z > 0) of every unit of one ReLU layer, unit after unit
 * (unit i's are active[offsets[i] … offsets[i+1])), and per unit the smallest −z
 * of its other examples (−∞ if any z is NaN).
 */
export interface SplitTable {
  offsets: Int32Array;
  active: Int32Array;
  gaps: Float64Array;
}

/**
 * Linear regions of the units of one layer (see IncrementalTables.regionSlot):
 * margin[s·m + c] and slope[(s·K + k)·m + c] for slot s; `owner[s]` is the unit
 * whose region slot s holds (−1: none yet).
 */
export interface RegionTable {
  margin: Float64Array;
  slope: Float64Array;
  owner: Int32Array;
  /** Every unit's slope is filled in (see IncrementalTables.allSlopes). */
  allSlopes?: boolean;
}

/**
 * Tables the incremental evaluator reads, each a function of the forward pass at θ₀
 * alone, built on first use. (Building them all on the sweep's main thread while
 * the workers boot, and sharing them, was measured: no faster on 2 cores, and it
 * would hold up the workers on wide models.)
 */
export class IncrementalTables {
  private readonly m: number;
  private readonly bounds: (Float64Array | null)[];
  private readonly zT: (Float64Array | null)[];
  private readonly splits: (SplitTable | null)[];
  private readonly regions: (RegionTable | null)[];

  constructor(
    private readonly net: Network,
    private readonly theta0: Float64Array,
    private readonly base: ForwardCache,
    private readonly alloc: ArrayAllocator = HEAP,
  ) {
    this.m = base.A[0]!.cols;
    const slots = net.layerCount + 1;
    this.bounds = new Array<null>(slots).fill(null);
    this.zT = new Array<null>(slots).fill(null);
    this.splits = new Array<null>(slots).fill(null);
    this.regions = new Array<null>(slots).fill(null);
  }

  /** max_c |A_{l-1}[p,c]|: the largest input row p of W_l carries to Z_l per unit of step; NaN if that row is not finite. */
  bound(l: number, p: number): number {
    let b = this.bounds[l];
    if (!b) {
      const A = this.base.A[l - 1]!;
      b = new Float64Array(A.rows).fill(-1);
      this.bounds[l] = b;
    }
    if (b[p]! < 0) {
      const A = this.base.A[l - 1]!;
      let mx = 0;
      for (let c = 0; c < A.cols; c++) {
        const v = Math.abs(A.data[p * A.cols + c]!);
        mx = v > mx || v !== v ? v : mx;
      }
      b[p] = mx === Infinity || mx !== mx ? Number.NaN : mx;
    }
    return b[p]!;
  }

  /** The split of every unit of ReLU layer l into active examples and the rest (see SplitTable). */
  split(l: number): SplitTable {
    let s = this.splits[l];
    if (!s) {
      const Z = this.base.Z[l]!;
      const m = this.m;
      const offsets = new Int32Array(Z.rows + 1);
      const gaps = new Float64Array(Z.rows);
      const all = this.alloc.i32(Z.size);
      const zd = Z.data;
      let total = 0;
      for (let i = 0; i < Z.rows; i++) {
        let gap = Infinity;
        for (let c = 0; c < m; c++) {
          const z = zd[i * m + c]!;
          // Branch-free: whether a unit is active is a coin toss per example.
          all[total] = c;
          total += z > 0 ? 1 : 0;
          gap = z > 0 || -z >= gap ? gap : z !== z ? -Infinity : -z;
        }
        gaps[i] = gap;
        offsets[i + 1] = total;
      }
      s = { offsets, active: all.subarray(0, total), gaps };
      this.splits[l] = s;
    }
    return s;
  }

  /** Base Z_l transposed to examples × units, so one example's units are contiguous. */
  exampleMajor(l: number): Float64Array {
    let t = this.zT[l];
    if (!t) {
      const z = this.base.Z[l]!;
      t = this.alloc.f64(z.size);
      for (let r = 0; r < z.rows; r++) for (let c = 0; c < z.cols; c++) t[c * z.rows + r] = z.data[r * z.cols + c]!;
      this.zT[l] = t;
    }
    return t;
  }

  private regionBytes(l: number): number {
    return this.base.Z[l]!.rows * (this.base.Z[this.net.layerCount]!.rows + 1) * this.m * 8;
  }

  /**
   * A ReLU layer is linear on each side of its kinks. For unit i of layer l (two
   * below the output L) and example c, as long as no unit r of layer l+1 changes
   * side, moving A_l[i,c] by d moves the output pre-activations by exactly
   * d·slope[k,c], where slope[k,c] = Σ_r W_L[k,r]·f'(Z_{l+1}[r,c])·W_{l+1}[r,i]
   * (f' = 1 or α per side); and no unit changes side while
   * |d| < margin[c] = min_r |Z_{l+1}[r,c]| / |W_{l+1}[r,i]|. Built once per unit and
   * shared by all its incoming weights and its bias. Returns the slot of the
   * region table (regions[l]) that holds unit i's: one slot per unit while the
   * layer's regions fit in REGION_TABLE_BYTES, else one slot, rebuilt per unit.
   */
  regionSlot(l: number, i: number): number {
    let table = this.regions[l];
    const m = this.m;
    const K = this.base.Z[this.net.layerCount]!.rows;
    if (!table) {
      const slots = this.regionBytes(l) <= REGION_TABLE_BYTES ? this.base.Z[l]!.rows : 1;
      table = {
        margin: this.alloc.f64(slots * m),
        slope: this.alloc.f64(slots * K * m),
        owner: new Int32Array(slots).fill(-1),
      };
      this.regions[l] = table;
    }
    const slot = table.owner.length === 1 ? 0 : i;
    if (table.owner[slot] === i) return slot;
    const net = this.net;
    const W = net.weights(this.theta0, l + 1);
    const WL = net.weights(this.theta0, l + 2);
    const Z = this.base.Z[l + 1]!.data;
    const layer = net.spec.layers[l]!;
    const alpha = layer.activation === 'leaky_relu' ? (layer.alpha ?? DEFAULT_LEAKY_ALPHA) : 0;
    // Only examples whose A_l[i,c] can move need a region. Of a ReLU unit, small steps
    // move only the active ones; the rest keep margin 0, which sends them down the
    // exact loop should a large step move them.
    const relu = net.spec.layers[l - 1]!.activation === 'relu';
    const split = relu ? this.split(l) : undefined;
    const from = split ? split.offsets[i]! : 0;
    const to = split ? split.offsets[i + 1]! : m;
    const cs = split?.active;
    const mo = slot * m;
    const margin = table.margin;
    const slope = table.slope;
    if (K === 1 && alpha === 0 && cs && table.owner.length > 1) {
      // One slot per unit: every unit's slope in one product, then this unit's margins.
      this.allSlopes(l, table);
      margin.fill(0, mo, mo + m);
      for (let t = from; t < to; t++) margin[mo + cs[t]!] = Infinity;
      if (!this.marginRows || !this.marginRowsOf(l, i, cs, from, to, margin, mo))
        marginOfReluUnit({ W: W.data, wCols: W.cols, R: W.rows, i, Z, m }, cs, from, to, { margin, offset: mo });
      table.owner[slot] = i;
      return slot;
    }
    margin.fill(0, mo, mo + m);
    slope.fill(0, slot * K * m, (slot + 1) * K * m);
    for (let t = from; t < to; t++) margin[mo + (cs ? cs[t]! : t)] = Infinity;
    if (K === 1 && alpha === 0 && cs) {
      regionOfReluUnit(
        { W: W.data, wCols: W.cols, R: W.rows, i, WL: WL.data, Zt: this.exampleMajor(l + 1) },
        cs,
        from,
        to,
        {
          margin,
          slope,
          offset: mo,
        },
      );
      table.owner[slot] = i;
      return slot;
    }
    for (let r = 0; r < W.rows; r++) {
      const w = W.data[r * W.cols + i]!;
      if (w === 0) continue;
      // A reciprocal and a product (the margin is halved before use, so its last bit
      // does not matter); a NaN margin (0·∞) fails every test and so means "exact".
      const inv = 1 / Math.abs(w);
      const zo = r * m;
      for (let t = from; t < to; t++) {
        const c = cs ? cs[t]! : t;
        const mc = Math.abs(Z[zo + c]!) * inv;
        if (!(mc >= margin[mo + c]!)) margin[mo + c] = mc;
      }
      for (let k = 0; k < K; k++) {
        const wk = WL.data[k * WL.cols + r]! * w;
        const so = (slot * K + k) * m;
        // Branch-free: whether a unit is active is a coin toss per example.
        for (let t = from; t < to; t++) {
          const c = cs ? cs[t]! : t;
          const z = Z[zo + c]!;
          slope[so + c] = slope[so + c]! + (alpha === 0 ? wk * +(z > 0) : z > 0 ? wk : alpha * wk);
        }
      }
    }
    table.owner[slot] = i;
    return slot;
  }

  /**
   * A compiled marginOfReluUnit for examples stored example-major (the WebAssembly evaluator
   * sets one): the same minimum, which no order changes. Used when no weight into unit i is 0.
   */
  marginRows: MarginRows | undefined;
  private invRows: Float64Array | undefined;

  private marginRowsOf(
    l: number,
    i: number,
    cs: Int32Array,
    from: number,
    to: number,
    margin: Float64Array,
    offset: number,
  ): boolean {
    const W = this.net.weights(this.theta0, l + 1);
    const R = W.rows;
    this.invRows ??= this.alloc.f64(Math.max(...this.net.spec.layers.map((x) => x.units)));
    const inv = this.invRows;
    for (let r = 0; r < R; r++) {
      const w = W.data[r * W.cols + i]!;
      if (w === 0) return false;
      inv[r] = 1 / Math.abs(w);
    }
    this.marginRows!({ Zt: this.exampleMajor(l + 1), R, inv, cs, from, to, margin, offset });
    return true;
  }

  /**
   * The slopes of every unit of layer l at once (regionSlot's common case, one output and ReLU
   * layers): slope[i,c] = Σ_r W_{l+1}[r,i]·(W_L[r]·[Z_{l+1}[r,c] > 0]) is the product
   * W_{l+1}ᵀ·M, summed over r in order with the rows whose W_{l+1}[r,i] = 0 skipped, as
   * regionOfReluUnit sums it one unit at a time (the same bits), but as one matrix product
   * instead of a gather per term. Examples where unit i is inactive get a slope too; their
   * margin stays 0, so it is never read.
   */
  private allSlopes(l: number, table: RegionTable): void {
    if (table.allSlopes) return;
    const W = this.net.weights(this.theta0, l + 1);
    const WL = this.net.weights(this.theta0, l + 2).data;
    const Z = this.base.Z[l + 1]!.data;
    const m = this.m;
    const M = new Tensor(W.rows, m, new Float64Array(W.rows * m));
    for (let r = 0; r < W.rows; r++) {
      const w = WL[r]!;
      for (let c = 0; c < m; c++) M.data[r * m + c] = w * +(Z[r * m + c]! > 0);
    }
    matmul(W.transpose(), M, undefined, new Tensor(W.cols, m, table.slope.subarray(0, W.cols * m)));
    table.allSlopes = true;
  }

  /** The region table of layer l (after regionSlot). */
  regionTable(l: number): RegionTable {
    return this.regions[l]!;
  }
}

/**
 * regionSlot's common case, one output and a ReLU layer below it, over unit i's
 * active examples cs[from … to) (unit: W_{l+1} (R × wCols), unit i, W_L and Z_{l+1}
 * example-major; into: the region row at `offset`): per example, its R pre-activations of layer l+1
 * are contiguous in Zt (example-major), so margin and slope are each one register
 * accumulation over the rows r with W_{l+1}[r,i] ≠ 0, in r order. The slope term
 * is added branch-free (whether a unit is active is a coin toss); a NaN in the
 * margin sticks (Math.min), and a NaN margin fails every test, meaning "exact".
 */
function regionOfReluUnit(
  unit: { W: Float64Array; wCols: number; R: number; i: number; WL: Float64Array; Zt: Float64Array },
  cs: Int32Array,
  from: number,
  to: number,
  into: { margin: Float64Array; slope: Float64Array; offset: number },
): void {
  const { W, wCols, R, i, WL, Zt } = unit;
  const { margin, slope, offset: mo } = into;
  const rows: number[] = [];
  const inv: number[] = [];
  const wk: number[] = [];
  for (let r = 0; r < R; r++) {
    const w = W[r * wCols + i]!;
    if (w === 0) continue;
    rows.push(r);
    // A reciprocal and a product: the margin is halved before use, so its last bit does not matter.
    inv.push(1 / Math.abs(w));
    wk.push(WL[r]! * w);
  }
  const n = rows.length;
  const rr = Int32Array.from(rows);
  const ri = Float64Array.from(inv);
  const rw = Float64Array.from(wk);
  for (let t = from; t < to; t++) {
    const c = cs[t]!;
    const zo = c * R;
    let mn = Infinity;
    let sl = 0;
    for (let q = 0; q < n; q++) {
      const z = Zt[zo + rr[q]!]!;
      mn = Math.min(mn, Math.abs(z) * ri[q]!);
      sl += rw[q]! * +(z > 0);
    }
    margin[mo + c] = mn;
    slope[mo + c] = sl;
  }
}

/**
 * regionOfReluUnit's margins alone, row by row: for each r with W_{l+1}[r,i] ≠ 0, the active
 * examples' |Z_{l+1}[r,c]| / |W_{l+1}[r,i]| folded into margin[offset + c] with Math.min (a
 * minimum in any order is the same number, and a NaN sticks). Z is unit-major, so each row's
 * values are read from one contiguous row.
 */
function marginOfReluUnit(
  unit: { W: Float64Array; wCols: number; R: number; i: number; Z: Float64Array; m: number },
  cs: Int32Array,
  from: number,
  to: number,
  into: { margin: Float64Array; offset: number },
): void {
  const { W, wCols, R, i, Z, m } = unit;
  const { margin, offset: mo } = into;
  for (let r = 0; r < R; r++) {
    const w = W[r * wCols + i]!;
    if (w === 0) continue;
    const inv = 1 / Math.abs(w);
    const zo = r * m;
    for (let t = from; t < to; t++) {
      const c = cs[t]!;
      margin[mo + c] = Math.min(margin[mo + c]!, Math.abs(Z[zo + c]!) * inv);
    }
  }
}
