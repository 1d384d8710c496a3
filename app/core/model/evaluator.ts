import { Tensor, matmul } from '../tensor/tensor.js';
import { DEFAULT_LEAKY_ALPHA, activate, hasKink, sigmoid } from './activations.js';
import { exampleLosses, meanLoss } from './losses.js';
import type { Dataset, ForwardCache, Network } from './network.js';
import { type ArrayAllocator, HEAP, IncrementalTables, type SplitTable } from './incremental-tables.js';
import { type Activation, groupOf } from './spec.js';
import { DirectionCosts } from './direction-costs.js';

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
  /**
   * J(θ₀ + d·u) for each d of `offsets` into costs[at + j] and its kink count into kinks[at + j],
   * for a direction u that moves only group `group` (`u` holds that group's entries). Where
   * absent, costAlong is called per offset.
   */
  costsAlongGroup?(
    group: number,
    u: Float64Array,
    offsets: readonly number[],
    costs: Float64Array,
    kinks: Uint32Array,
    at: number,
  ): void;
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

/**
 * Output moves up to this size take the series for the change of a sigmoid
 * cross-entropy loss (see sigmoidCrossEntropyCost): a step of ε = 1e-7 moves an
 * output by ~1e-8 to 2e-6; an ε sweep's large steps take exp and log.
 */
const SERIES_STEP = 4e-6;

/** Every layer narrow enough to replay: incremental results equal the full pass bit for bit. */
export function replaysExactly(net: Network): boolean {
  return net.groups.every((g) => g.kind !== 'weight' || g.cols <= EXACT_REPLAY_MAX_FANIN);
}

/** One sigmoid output with binary cross-entropy: the shape whose loss change has a closed series. */
export function hasSigmoidCrossEntropyOutput(net: Network): boolean {
  const out = net.spec.layers[net.layerCount - 1]!;
  return out.units === 1 && out.activation === 'sigmoid' && net.spec.loss === 'binary_cross_entropy';
}

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
  protected readonly base: ForwardCache;

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
      if (hasKink(this.net.spec.layers[l - 1]!.activation))
        this.kinks += countSignChanges(this.base.Z[l]!.data, cache.Z[l]!.data);
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
      if (hasKink(this.net.spec.layers[l - 1]!.activation))
        this.kinks += countSignChanges(this.base.Z[l]!.data, cache.Z[l]!.data);
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
  protected readonly base: ForwardCache;
  protected readonly baseLosses: Float64Array;
  protected readonly baseLossSum: number;
  /** Every layer narrow enough to replay: results equal the full pass bit for bit. */
  protected readonly exact: boolean;
  protected readonly m: number;
  private readonly rowZ: Float64Array;
  private readonly rowA: Float64Array;
  /** New activations A_l[i,c] of the changed examples, in `cols` order. */
  private readonly aMoved: Float64Array;
  protected readonly cols: Int32Array;
  private readonly losses: Float64Array;
  private readonly subLosses: Float64Array;
  private full: FullEvaluator | undefined;
  private directions: DirectionCosts | undefined;
  protected readonly dA: Float64Array;
  protected readonly ones: Float64Array;
  protected readonly zBuf: Float64Array[];
  private readonly aBuf: Float64Array[];
  private readonly yBuf: Float64Array;
  protected readonly wcol: Float64Array;
  /** Which layer's and unit's weights wcol holds (l·2²⁰ + i; −1: none). */
  private wcolOf = -1;
  private readonly aTmp: Float64Array;
  /** reluIntoSingleOutput's operands, refilled per call. */
  private readonly into: ReluIntoOutput;
  /** Per layer l (1-based): how a change in its row is made and carried to the cost. */
  protected readonly paths: (
    { replay: boolean; activation: Activation; above: 'output' | 'narrow' | 'into-output' | 'rank-one' } | undefined
  )[];
  /** One sigmoid output with binary cross-entropy: the fused tail applies. */
  private readonly sigmoidCrossEntropy: boolean;
  protected readonly outQ: Float64Array | undefined;
  protected readonly outSign: Float64Array | undefined;
  protected readonly tables: IncrementalTables;
  /** W_l and b_l at θ₀ (views into it), by layer, made once rather than per evaluation. */
  protected readonly W: Tensor[];
  protected readonly b: Tensor[];

  /**
   * `base`: the forward pass at θ₀ when it is already known (computed once, shared by
   * every worker); `alloc`: where the arrays the inner loops read are made.
   */
  constructor(
    protected readonly net: Network,
    readonly theta0: Float64Array,
    protected readonly data: Dataset,
    base?: ForwardCache,
    alloc: ArrayAllocator = HEAP,
  ) {
    this.base = base ?? net.forward(theta0, data);
    this.tables = new IncrementalTables(net, theta0, this.base, alloc);
    this.W = [Tensor.zeros(0, 0), ...net.spec.layers.map((_, q) => net.weights(theta0, q + 1))];
    this.b = [Tensor.zeros(0, 0), ...net.spec.layers.map((_, q) => net.bias(theta0, q + 1))];
    this.baseCost = this.base.cost;
    this.m = data.X.cols;
    const L = net.layerCount;
    this.baseLosses = alloc.f64(this.m);
    exampleLosses(net.spec.loss, this.base.A[L]!, data.Y, this.baseLosses);
    this.baseLossSum = this.baseLosses.reduce((a, b) => a + b, 0);
    this.exact = replaysExactly(net);
    this.rowZ = new Float64Array(this.m);
    this.rowA = new Float64Array(this.m);
    this.aMoved = new Float64Array(this.m);
    this.cols = alloc.i32(this.m);
    this.losses = new Float64Array(this.m);
    this.subLosses = new Float64Array(this.m);
    this.dA = alloc.f64(this.m);
    this.ones = alloc.f64(this.m).fill(1);
    // Work buffers per layer, sized for all examples, reused by every evaluation.
    this.zBuf = this.base.Z.map((z) => alloc.f64(z.rows * this.m));
    this.aBuf = this.base.A.map((a) => new Float64Array(a.rows * this.m));
    this.yBuf = new Float64Array(data.Y.rows * this.m);
    this.wcol = alloc.f64(Math.max(...net.spec.layers.map((x) => x.units)));
    const layers = net.spec.layers;
    this.paths = [
      undefined,
      ...layers.map((layer, q) => {
        const l = q + 1;
        const above =
          l === L
            ? 'output'
            : net.weights(theta0, l + 1).cols <= EXACT_REPLAY_MAX_FANIN
              ? 'narrow'
              : l + 2 === L && hasKink(layers[l]!.activation)
                ? 'into-output'
                : 'rank-one';
        return {
          replay: net.weights(theta0, l).cols <= EXACT_REPLAY_MAX_FANIN,
          activation: layer.activation,
          above,
        } as const;
      }),
    ];
    // The per-layer tables every sweep reads, built up front: the hot paths then never
    // meet a first-use branch after V8 has optimised them (each such meeting costs a
    // deoptimisation and a recompile per worker). Linear regions stay per unit.
    for (let l = 1; l <= L; l++) {
      const path = this.paths[l]!;
      if (!path.replay && path.activation === 'relu') {
        this.tables.split(l);
        for (let p = 0; p < this.base.A[l - 1]!.rows; p++) this.tables.bound(l, p);
      }
      if (path.above === 'into-output') this.tables.exampleMajor(l + 1);
    }
    this.sigmoidCrossEntropy = hasSigmoidCrossEntropyOutput(net);
    if (this.sigmoidCrossEntropy && !this.exact) {
      // Per example: q (σ(z) or σ(−z), each without cancellation) and the sign s of
      // the series in sigmoidCrossEntropyCost; s = 0 marks a soft label.
      const z = this.base.Z[L]!.data;
      const y = data.Y.data;
      this.outQ = alloc.f64(this.m);
      this.outSign = alloc.f64(this.m);
      for (let c = 0; c < this.m; c++) {
        const hard = y[c] === 0 || y[c] === 1;
        this.outSign[c] = !hard ? 0 : y[c] === 1 ? -1 : 1;
        this.outQ[c] = sigmoid(y[c] === 1 ? -z[c]! : z[c]!);
      }
    }
    this.aTmp = new Float64Array(this.wcol.length);
    const L1 = net.layerCount;
    this.into = {
      nc: 0,
      cols: this.cols,
      dA: this.dA,
      margin: this.dA,
      slope: this.dA,
      offset: 0,
      ZL: this.base.Z[L1]!.data,
      Zt: this.dA,
      R: 0,
      wcol: this.wcol,
      wl: this.wcol,
      b: 0,
      zL: this.zBuf[L1]!,
    };
  }

  private fullEvaluator(): FullEvaluator {
    this.full ??= new FullEvaluator(this.net, this.theta0, this.data);
    return this.full;
  }

  costAt(theta: Float64Array): number {
    return this.fullEvaluator().costAt(theta);
  }

  /** A direction that may move every parameter: nothing to reuse, so a full pass. */
  costAlong(u: Float64Array, delta: number): number {
    const full = this.fullEvaluator();
    const j = full.costAlong(u, delta);
    this.kinks = full.kinks;
    return j;
  }

  /**
   * A direction on one group, incrementally (see DirectionCosts). Networks narrow enough to
   * replay take the full pass, whose bits the notebook's figures need (and which costs little).
   */
  costsAlongGroup(
    group: number,
    u: Float64Array,
    offsets: readonly number[],
    costs: Float64Array,
    kinks: Uint32Array,
    at: number,
  ): void {
    if (this.exact) {
      const g = this.net.groups[group]!;
      const full = new Float64Array(this.theta0.length);
      full.set(u, g.offset);
      for (let j = 0; j < offsets.length; j++) {
        costs[at + j] = this.costAlong(full, offsets[j]!);
        kinks[at + j] = this.kinks;
      }
      return;
    }
    this.directions ??= new DirectionCosts(this.net, this.theta0, this.data, this.base, (zL) => this.costOfOutputs(zL));
    this.directions.costsAlong(group, u, offsets, costs, kinks, at);
    this.kinks = this.directions.kinks;
  }

  /** J from new output pre-activations of every example (K × m): the changes of the losses added to their sum at θ₀. */
  private costOfOutputs(zL: Tensor): number {
    const m = this.m;
    if (this.sigmoidCrossEntropy) {
      const z = this.zBuf[this.net.layerCount]!;
      z.set(zL.data.subarray(0, m));
      for (let c = 0; c < m; c++) this.cols[c] = c;
      return this.sigmoidCrossEntropyCost(z, m);
    }
    const layer = this.net.spec.layers[this.net.layerCount - 1]!;
    const a = Tensor.zeros(zL.rows, zL.cols);
    activate(layer, zL.data, a.data);
    exampleLosses(this.net.spec.loss, a, this.data.Y, this.losses);
    let delta = 0;
    for (let c = 0; c < m; c++) delta += this.losses[c]! - this.baseLosses[c]!;
    return (1 / m) * (this.baseLossSum + delta);
  }

  /**
   * Each path below is its own small method: V8 optimises them one by one as the
   * sweep reaches them, instead of throwing away one large function's optimised
   * code every time the sweep enters a group that takes a branch not yet seen.
   */
  costAtEntry(index: number, delta: number): number {
    const g = groupOf(this.net.groups, index);
    const l = g.layer;
    const k = index - g.offset;
    const i = Math.floor(k / g.cols);
    // The step actually taken in floating point, as the full pass takes it.
    const step = this.theta0[index]! + delta - this.theta0[index]!;
    const prevRow = g.kind === 'weight' ? k % g.cols : -1;
    const path = this.paths[l]!;
    let nc: number;
    if (path.replay) {
      this.replayRow(l, i, index, delta, this.rowZ);
      nc = this.moveRow(l, i, this.rowZ);
    } else if (path.activation === 'relu') {
      // An inactive example (z ≤ 0) stays at exactly 0 unless the step reaches its
      // kink: when |step·A_{l-1}[p,c]| ≤ reach < −z, the rounded sum z + step·A keeps
      // z's sign and is non-zero. So when the step's reach is below the smallest −z of
      // unit i's inactive examples, only its active ones need visiting (about half).
      // The factor 1 + 2⁻⁵⁰ covers the rounding of step·A with room to spare.
      const reach = Math.abs(step) * (prevRow < 0 ? 1 : this.tables.bound(l, prevRow));
      const split = this.tables.split(l);
      // (The paths that read the new activations themselves take the whole row.)
      const activeOnly =
        reach * (1 + 2 ** -50) < split.gaps[i]! && (path.above === 'into-output' || path.above === 'rank-one');
      nc = activeOnly ? this.moveActive(l, i, prevRow, step, split) : this.moveKinked(l, i, prevRow, step);
    } else if (path.activation === 'leaky_relu') {
      nc = this.moveKinked(l, i, prevRow, step);
    } else {
      if (path.above === 'output' && this.outQ) return this.outputMoved(l, i, prevRow, step);
      this.shiftRow(l, i, prevRow, step, this.rowZ);
      nc = this.moveRow(l, i, this.rowZ);
    }
    if (nc === 0) return this.baseCost;
    switch (path.above) {
      case 'output':
        return this.lossAtTop(i, nc);
      case 'narrow':
        return this.lossFrom(l + 1, this.narrowNext(l, i, nc), nc);
      case 'into-output':
        return this.lossOfOutput(this.rankOneIntoOutput(l, i, nc), nc);
      case 'rank-one':
        return this.lossFrom(l + 1, this.rankOneNext(l, i, nc), nc);
    }
  }

  /** Row i of Z_l moved by the step: += step·A_{l-1}[p,:] for a weight, += step for a bias. */
  private shiftRow(l: number, i: number, prevRow: number, step: number, rowZ: Float64Array): void {
    const Zl = this.base.Z[l]!.data;
    const m = this.m;
    const zOff = i * m;
    if (prevRow < 0) {
      for (let c = 0; c < m; c++) rowZ[c] = Zl[zOff + c]! + step;
    } else {
      const prev = this.base.A[l - 1]!.data;
      const pOff = prevRow * m;
      for (let c = 0; c < m; c++) rowZ[c] = Zl[zOff + c]! + step * prev[pOff + c]!;
    }
  }

  /** Row i of Z_l given in full: activate it, count kinks, collect the examples whose activation moved. */
  private moveRow(l: number, i: number, rowZ: Float64Array): number {
    const layer = this.net.spec.layers[l - 1]!;
    const Zl = this.base.Z[l]!.data;
    const Al = this.base.A[l]!.data;
    const rowA = this.rowA;
    const cols = this.cols;
    const dA = this.dA;
    const m = this.m;
    const zOff = i * m;
    activate(layer, rowZ, rowA);
    let kinks = 0;
    if (hasKink(layer.activation)) {
      for (let c = 0; c < m; c++) if (Zl[zOff + c]! * rowZ[c]! <= 0 && Zl[zOff + c]! !== rowZ[c]!) kinks++;
    }
    this.kinks = kinks;
    // Branch-free: whether an example moved is a coin toss.
    let nc = 0;
    const moved = this.aMoved;
    for (let c = 0; c < m; c++) {
      cols[nc] = c;
      moved[nc] = rowA[c]!;
      dA[nc] = rowA[c]! - Al[zOff + c]!;
      nc += rowA[c] !== Al[zOff + c] ? 1 : 0;
    }
    return nc;
  }

  /**
   * A (leaky) ReLU row moved by the step (rank-one), activated, kinks counted and the
   * examples whose output moved collected with their ΔA, in one branch-free pass.
   */
  private moveKinked(l: number, i: number, prevRow: number, step: number): number {
    const layer = this.net.spec.layers[l - 1]!;
    const alpha = layer.activation === 'leaky_relu' ? (layer.alpha ?? DEFAULT_LEAKY_ALPHA) : 0;
    const m = this.m;
    const Zl = this.base.Z[l]!.data;
    const Al = this.base.A[l]!.data;
    const zOff = i * m;
    // A bias moves every example by the same step: the same loop with a row of ones.
    const prev = prevRow >= 0 ? this.base.A[l - 1]!.data : this.ones;
    const pOff = prevRow >= 0 ? prevRow * m : 0;
    const moved = this.aMoved;
    const cols = this.cols;
    const dA = this.dA;
    let nc = 0;
    let kinks = 0;
    for (let c = 0; c < m; c++) {
      const zb = Zl[zOff + c]!;
      const z = zb + step * prev[pOff + c]!;
      kinks += zb * z <= 0 && zb !== z ? 1 : 0;
      const a = alpha === 0 ? Math.max(z, 0) : Math.max(z, alpha * z);
      moved[nc] = a;
      const ab = Al[zOff + c]!;
      cols[nc] = c;
      dA[nc] = a - ab;
      nc += a !== ab ? 1 : 0;
    }
    this.kinks = kinks;
    return nc;
  }

  /**
   * `moveKinked` for a ReLU row over its active examples only, when no other can
   * move, for the rank-one paths above (which read ΔA only: one store fewer per
   * example, the loop's cost).
   */
  protected moveActive(l: number, i: number, prevRow: number, step: number, split: SplitTable): number {
    const active = split.active;
    const to = split.offsets[i + 1]!;
    const m = this.m;
    const Zl = this.base.Z[l]!.data;
    const zOff = i * m;
    const prev = prevRow >= 0 ? this.base.A[l - 1]!.data : this.ones;
    const pOff = prevRow >= 0 ? prevRow * m : 0;
    const cols = this.cols;
    const dA = this.dA;
    let nc = 0;
    let kinks = 0;
    // Here zb > 0, so A_l = zb exactly, and z is finite (the step's reach is), so
    // max(z, 0) is z > 0 ? z : 0.
    for (let t = split.offsets[i]!; t < to; t++) {
      const c = active[t]!;
      const zb = Zl[zOff + c]!;
      const z = zb + step * prev[pOff + c]!;
      const a = z > 0 ? z : 0;
      kinks += z > 0 ? 0 : 1;
      cols[nc] = c;
      dA[nc] = a - zb;
      nc += a !== zb ? 1 : 0;
    }
    this.kinks = kinks;
    return nc;
  }

  /** The moved unit is the sigmoid cross-entropy output: row i of Z_L is in rowZ; the loss changes where it moved. */
  private outputMoved(l: number, i: number, prevRow: number, step: number): number {
    const nc = this.collectMovedOutput(l, i, prevRow, step);
    this.kinks = 0;
    return nc === 0 ? this.baseCost : this.sigmoidCrossEntropyCost(this.zBuf[l]!, nc);
  }

  /** Row i of Z_L moved by the step; the examples whose output changed, into cols and zBuf[L]. Returns their count. */
  protected collectMovedOutput(l: number, i: number, prevRow: number, step: number): number {
    this.shiftRow(l, i, prevRow, step, this.rowZ);
    const zb = this.base.Z[l]!.data;
    const rowZ = this.rowZ;
    const z = this.zBuf[l]!;
    const cols = this.cols;
    const m = this.m;
    const zOff = i * m;
    let nc = 0;
    for (let c = 0; c < m; c++) {
      cols[nc] = c;
      z[nc] = rowZ[c]!;
      nc += rowZ[c] !== zb[zOff + c] ? 1 : 0;
    }
    return nc;
  }

  /** The moved unit is an output: its new activations swapped into the changed columns. */
  private lossAtTop(i: number, nc: number): number {
    const L = this.net.layerCount;
    const sub = this.gather(this.base.A[L]!, nc, this.aBuf[L]!);
    for (let t = 0; t < nc; t++) sub.data[i * nc + t] = this.aMoved[t]!;
    return this.finishLoss(sub, nc);
  }

  /** Narrow layer l+1: the same dot products as the full pass, on the changed columns; returns A_{l+1} there. */
  private narrowNext(l: number, i: number, nc: number): Tensor {
    const net = this.net;
    const W = this.W[l + 1]!;
    const a = this.gather(this.base.A[l]!, nc, this.aBuf[l]!);
    for (let t = 0; t < nc; t++) a.data[i * nc + t] = this.aMoved[t]!;
    const z = matmul(W, a, this.b[l + 1]!, new Tensor(W.rows, nc, this.zBuf[l + 1]!.subarray(0, W.rows * nc)));
    return l + 1 === net.layerCount ? z : this.activateSub(l + 1, z, nc);
  }

  /**
   * Rank-one update of layer l+1 on the changed columns: Z' = Z + W[:,i] ⊗ ΔA_l[i,:],
   * fused with a (leaky) ReLU and its kink count so the block is walked once.
   * Returns A_{l+1} on those columns, or Z_L when l+1 is the output layer.
   */
  private rankOneNext(l: number, i: number, nc: number): Tensor {
    const net = this.net;
    const W = this.W[l + 1]!;
    const next = net.spec.layers[l]!;
    const aBuf = this.aBuf[l + 1]!;
    const zBuf = this.zBuf[l + 1]!;
    const Zb = this.base.Z[l + 1]!.data;
    const Wd = W.data;
    const wc = W.cols;
    const m = this.m;
    const cols = this.cols;
    const dA = this.dA;
    // Fused with the activation below the output; at the output Z_L is what the loss takes.
    const leaky =
      l + 1 === net.layerCount
        ? -1
        : next.activation === 'leaky_relu'
          ? (next.alpha ?? DEFAULT_LEAKY_ALPHA)
          : next.activation === 'relu'
            ? 0
            : -1;
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
        this.rankOneRow(nc, Zb, zo, w, zBuf, so);
      }
    }
    this.kinks += kinks;
    if (leaky >= 0) return new Tensor(W.rows, nc, aBuf.subarray(0, W.rows * nc));
    const z = new Tensor(W.rows, nc, zBuf.subarray(0, W.rows * nc));
    return l + 1 === net.layerCount ? z : this.activateSub(l + 1, z, nc);
  }

  /**
   * The cost from layer q's values on the changed columns: A_q below the output
   * (carried up with the same matmul as the full pass), Z_L at the output.
   */
  private lossFrom(q: number, values: Tensor, nc: number): number {
    const net = this.net;
    const L = net.layerCount;
    let sub = values;
    for (let p = q + 1; p <= L; p++) {
      const W = this.W[p]!;
      const z = matmul(W, sub, this.b[p]!, new Tensor(W.rows, nc, this.zBuf[p]!.subarray(0, W.rows * nc)));
      sub = p === L ? z : this.activateSub(p, z, nc);
    }
    return this.lossOfOutput(sub, nc);
  }

  /** The cost from the output pre-activations Z_L of the changed columns. */
  private lossOfOutput(zL: Tensor, nc: number): number {
    if (this.sigmoidCrossEntropy && !this.exact) return this.sigmoidCrossEntropyCost(zL.data, nc);
    return this.finishLoss(this.activateSub(this.net.layerCount, zL, nc), nc);
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
   * One sigmoid output with cross-entropy: the change of each changed example's
   * loss, summed. For a 0/1 label y and an output moved from z to z + δ,
   *   ℓ(z + δ) − ℓ(z) = log1p(q·expm1(s·δ)),  s = −1, q = 1 − σ(z) for y = 1;
   *                                            s = +1, q = σ(z)     for y = 0
   * (ℓ₁ = log(1 + e^−z), ℓ₀ = log(1 + e^z)). While |δ| ≤ SERIES_STEP both are
   * cubic series (|w| ≤ |δ|(1 + |δ|)) whose truncation, about (1/24 + 1/4)·|δ|³
   * relative to the change itself, stays below 2e-17 of it: below its last bit, and
   * far below the rounding of the loss. So this is the same cost, evaluated more
   * accurately than exp and log at z + δ would, and without them: they were half
   * of every evaluation.
   * Larger moves, and soft labels, take exp and log at z + δ.
   */
  protected sigmoidCrossEntropyCost(zL: Float64Array, nc: number): number {
    const cols = this.cols;
    const Y = this.data.Y.data;
    const base = this.baseLosses;
    const ZL = this.base.Z[this.net.layerCount]!.data;
    const q = this.outQ!;
    const sign = this.outSign!;
    let delta = 0;
    for (let t = 0; t < nc; t++) {
      const c = cols[t]!;
      const z = zL[t]!;
      const d = z - ZL[c]!;
      const s = sign[c]!;
      if (s !== 0 && Math.abs(d) <= SERIES_STEP) {
        const x = s * d;
        const e = x * (1 + x * (0.5 + x * (1 / 6))); // expm1(x)
        const w = q[c]! * e;
        delta += w * (1 - w * (0.5 - w * (1 / 3))); // log1p(w)
        continue;
      }
      const a = 1 / (1 + Math.exp(-z)); // sigmoid(), as the forward pass computes it
      const y = Y[c]!;
      const loss =
        y === 0 || y === 1 ? -Math.log(y * a + (1 - y) * (1 - a)) : -Math.log(a) * y + -Math.log(1 - a) * (1 - y);
      delta += 0 + loss - base[c]!;
    }
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
    const W = this.W[l + 1]!;
    const R = W.rows;
    const WL = this.W[L]!;
    const bL = this.b[L]!.data;
    const K = WL.rows;
    const wl = WL.data;
    const layer = net.spec.layers[l]!;
    const alpha = layer.activation === 'leaky_relu' ? (layer.alpha ?? DEFAULT_LEAKY_ALPHA) : 0;
    const wcol = this.wcol;
    // Column i of W_{l+1}, strided in memory: gathered once per unit, not per evaluation.
    if (this.wcolOf !== l * 0x100000 + i) {
      for (let r = 0; r < R; r++) wcol[r] = W.data[r * W.cols + i]!;
      this.wcolOf = l * 0x100000 + i;
    }
    const Zt = this.tables.exampleMajor(l + 1);
    const cols = this.cols;
    const dA = this.dA;
    const zL = this.zBuf[L]!;
    const aTmp = this.aTmp;
    const slot = this.tables.regionSlot(l, i);
    const region = this.tables.regionTable(l);
    const margin = region.margin;
    const slope = region.slope;
    const ZL = this.base.Z[L]!.data;
    const m = this.m;
    const mo = slot * m;
    const so = slot * K * m;
    if (K === 1 && alpha === 0) {
      // The common case, in its own small function so V8 compiles it quickly.
      const into = this.into;
      into.nc = nc;
      into.margin = margin;
      into.slope = slope;
      into.offset = mo;
      into.ZL = ZL;
      into.Zt = Zt;
      into.R = R;
      into.wl = wl;
      into.b = bL[0]!;
      this.kinks += this.reluIntoSingleOutput(into);
      return new Tensor(1, nc, zL.subarray(0, nc));
    }
    let kinks = 0;
    // A kink is a sign change of the pre-activation (zb·z ≤ 0 with z moved).
    for (let t = 0; t < nc; t++) {
      const c = cols[t]!;
      const d = dA[t]!;
      if (Math.abs(d) < 0.5 * margin[mo + c]!) {
        // Inside the linear region: no unit of layer l+1 changes side, so the output
        // moves by exactly d·slope (see IncrementalTables.regionSlot).
        for (let k = 0; k < K; k++) zL[k * nc + t] = ZL[k * m + c]! + d * slope[so + k * m + c]!;
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
    return new Tensor(K, nc, zL.subarray(0, K * nc));
  }

  /** out[so + t] = Zb[zo + cols[t]] + w·dA[t] over the changed examples: one row of a rank-one update. */
  protected rankOneRow(nc: number, Zb: Float64Array, zo: number, w: number, out: Float64Array, so: number): void {
    const cols = this.cols;
    const dA = this.dA;
    for (let t = 0; t < nc; t++) out[so + t] = Zb[zo + cols[t]!]! + w * dA[t]!;
  }

  /** The loop of reluIntoSingleOutput (on this evaluator's changed examples); returns the kinks. */
  protected reluIntoSingleOutput(a: ReluIntoOutput): number {
    return reluIntoSingleOutput(a);
  }

  /**
   * Row i of Z_l recomputed with the perturbed entry, in the full pass's order
   * (Σ_p W[i,p]·A[p,c], zero weights skipped, then + b[i]): bit-identical to it.
   */
  private replayRow(l: number, i: number, index: number, delta: number, rowZ: Float64Array): void {
    const W = this.W[l]!;
    const b = this.b[l]!;
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
        for (let t = 0; t < nc; t++)
          if (bz[bo + cols[t]!]! * zd[so + t]! <= 0 && bz[bo + cols[t]!]! !== zd[so + t]!) kinks++;
      }
      this.kinks += kinks;
    }
    return a;
  }
}

export function createEvaluator(
  mode: EvaluationMode,
  net: Network,
  theta0: Float64Array,
  data: Dataset,
  base?: ForwardCache,
): CostEvaluator {
  return mode === 'full'
    ? new FullEvaluator(net, theta0, data, base)
    : new IncrementalEvaluator(net, theta0, data, base);
}

/**
 * The operands of reluIntoSingleOutput: the nc changed examples (cols) and the change of the
 * moved unit's activation on each (dA); their linear regions (margin and slope from `offset`);
 * the output's pre-activations at θ₀ (ZL); the R units in between, example-major at θ₀ (Zt),
 * with the moved unit's weights into them (wcol) and theirs into the output (wl, bias b); and
 * where the new output pre-activations go (zL, compact). One object per evaluator, refilled per
 * call: the kernel's arguments by name, without an allocation in the sweep's inner loop.
 */
export interface ReluIntoOutput {
  nc: number;
  cols: Int32Array;
  dA: Float64Array;
  margin: Float64Array;
  slope: Float64Array;
  offset: number;
  ZL: Float64Array;
  Zt: Float64Array;
  R: number;
  wcol: Float64Array;
  wl: Float64Array;
  b: number;
  zL: Float64Array;
}

/**
 * rankOneIntoOutput for one output above a ReLU layer, the innermost loop of most
 * sweeps. Per changed example c (ΔA = dA[t]): inside its linear region the output
 * moves by exactly d·slope; otherwise the R pre-activations of layer l+1 are
 * updated, activated and folded into the output in matmul's order, kinks counted
 * (a sign change, zb·z ≤ 0 with z moved, as one comparison). Returns the kinks.
 */
function reluIntoSingleOutput(a: ReluIntoOutput): number {
  const { nc, cols, dA, margin, offset: mo, slope, ZL, Zt, R, wcol, wl, b, zL } = a;
  let kinks = 0;
  for (let t = 0; t < nc; t++) {
    const c = cols[t]!;
    const d = dA[t]!;
    if (Math.abs(d) < 0.5 * margin[mo + c]!) {
      zL[t] = ZL[c]! + d * slope[mo + c]!;
      continue;
    }
    const base = c * R;
    let acc = 0;
    for (let r = 0; r < R; r++) {
      const zb = Zt[base + r]!;
      const z = zb + wcol[r]! * d;
      if (zb * z <= 0 && zb !== z) kinks++;
      acc += wl[r]! * Math.max(z, 0);
    }
    zL[t] = b !== 0 ? acc + b : acc;
  }
  return kinks;
}
