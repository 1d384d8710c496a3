import type { ParamGroup } from '../model/spec.js';
import { fourthDifference, groupCostNoise, stencilNoiseGain } from './budget.js';
import type { Estimator } from './estimator.js';
import type { GroupEvidence } from './judge.js';
import { KINK_RETRY_FACTORS, kinkSuspect, kinkedByCosts, oneSidedMatch, secondDifference } from './kinks.js';
import { relativeDifference } from './metrics.js';
import {
  type CheckHooks,
  type CheckPlan,
  type CheckSettings,
  checkAborted,
  entryCosts,
  finiteOrThrow,
} from './plan.js';
import { ProgressMeter } from './progress.js';
import type { EntryStatus } from './result.js';
import { applyStencil, layoutOffsets, stencilWidth } from './schemes.js';

/** Where an entry stands after the sweep, before its gradient is seen. */
export const ENTRY_SMOOTH = 0;
export const ENTRY_RESOLVED = 1;
/** At a kink no smaller step cleared: judged against its one-sided slopes once the gradient is known. */
export const ENTRY_AT_KINK = 2;

/**
 * What the sweep measured of each entry, over the whole vector (entries a sweep did not cover
 * are marked so): enough to judge, and what a shard of a job writes for the merge.
 */
export interface EntryRecords {
  covered: Uint8Array;
  /** The estimate at the group's ε: formula (3)'s input. */
  first: Float64Array;
  /** Kink crossings at ε (engine counts, or 1 where the costs show one). */
  kinks: Uint32Array;
  /** The value the entry is judged by: `first`, or a re-estimate at a smaller step past a kink. */
  judged: Float64Array;
  steps: Float64Array;
  state: Uint8Array;
  /** One-sided slopes at the smallest step tried, for entries left at a kink. */
  left: Float64Array;
  right: Float64Array;
  /** σ_J as an entry saw it when its rounding was worse than its group's (NaN otherwise). */
  localNoise: Float64Array;
  /** Forward differences: each entry's truncation from its curvature (NaN otherwise). */
  curvature: Float64Array;
}

export function emptyRecords(n: number): EntryRecords {
  const nan = (): Float64Array => new Float64Array(n).fill(Number.NaN);
  return {
    covered: new Uint8Array(n),
    first: nan(),
    kinks: new Uint32Array(n),
    judged: nan(),
    steps: nan(),
    state: new Uint8Array(n),
    left: nan(),
    right: nan(),
    localNoise: nan(),
    curvature: nan(),
  };
}

/** Records of disjoint sweeps (the shards of one job) as one. */
export function mergeRecords(parts: readonly EntryRecords[], n: number): EntryRecords {
  const out = emptyRecords(n);
  for (const p of parts) {
    for (let i = 0; i < n; i++) {
      if (!p.covered[i]) continue;
      out.covered[i] = 1;
      out.first[i] = p.first[i]!;
      out.kinks[i] = p.kinks[i]!;
      out.judged[i] = p.judged[i]!;
      out.steps[i] = p.steps[i]!;
      out.state[i] = p.state[i]!;
      out.left[i] = p.left[i]!;
      out.right[i] = p.right[i]!;
      out.localNoise[i] = p.localNoise[i]!;
      out.curvature[i] = p.curvature[i]!;
    }
  }
  return out;
}

/** The part of each listed group inside [start, end), as contiguous ranges grouped by step. */
function ranges(
  groups: readonly ParamGroup[],
  which: readonly number[],
  eps: readonly number[],
  start: number,
  end: number,
) {
  const out: { set: { start: number; end: number }; h: number }[] = [];
  for (const gi of which) {
    const g = groups[gi]!;
    const s = Math.max(start, g.offset);
    const e = Math.min(end, g.offset + g.size);
    if (s >= e) continue;
    const last = out[out.length - 1];
    if (last && last.h === eps[gi] && last.set.end === s) last.set.end = e;
    else out.push({ set: { start: s, end: e }, h: eps[gi]! });
  }
  return out;
}

export function groupIndexOf(groups: readonly ParamGroup[], i: number): number {
  for (let g = 0; g < groups.length; g++)
    if (i >= groups[g]!.offset && i < groups[g]!.offset + groups[g]!.size) return g;
  throw new RangeError(`entry ${i} is outside the parameters`);
}

function byStep(
  groups: readonly ParamGroup[],
  eps: readonly number[],
  entries: readonly number[],
  factor = 1,
): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const i of entries) {
    const h = eps[groupIndexOf(groups, i)]! * factor;
    const list = out.get(h);
    if (list) list.push(i);
    else out.set(h, [i]);
  }
  return out;
}

/**
 * The entries of the given groups inside [start, end) (all of them by default): each at its
 * group's ε, kinks found (engine counts, or the costs' fourth differences against the plan's
 * σ_J) and re-estimated at ε/10 and ε/100; what no step clears is left for the one-sided test.
 * Progress reports the running per-group difference once `gradient()` answers.
 */
export async function sweepEntries(
  est: Estimator,
  plan: CheckPlan,
  settings: CheckSettings,
  hooks: CheckHooks,
  which: readonly number[],
  range: { start: number; end: number } = { start: 0, end: est.theta0.length },
  gradient?: () => Float64Array | undefined,
): Promise<EntryRecords> {
  const groups = est.groups;
  const n = est.theta0.length;
  const { j0 } = plan;
  const scheme = settings.scheme;
  const opaque = !est.knowsKinks;
  // Forward differences also take J(θ−ε): the curvature gives each entry its truncation allowance.
  const width = scheme === 'forward' ? 2 : stencilWidth(scheme);
  const rec = emptyRecords(n);
  const firstCosts = new Map<number, Float64Array>();
  const spans = ranges(groups, which, plan.eps, range.start, range.end);
  const total = spans.reduce((s, r) => s + r.set.end - r.set.start, 0);
  const meter = new ProgressMeter(total, width, 'sweep');
  let done = 0;
  let lastPartial = 0;
  const report = (): void => {
    if (!hooks.onProgress) return;
    const p = meter.at(done);
    const grad = gradient?.();
    if (grad && (Date.now() - lastPartial > 250 || done === total)) {
      lastPartial = Date.now();
      p.groups = which.map((gi) => {
        const g = groups[gi]!;
        const gs: number[] = [];
        const as: number[] = [];
        for (let i = g.offset; i < g.offset + g.size; i++) {
          if (rec.covered[i]) {
            gs.push(grad[i]!);
            as.push(rec.first[i]!);
          }
        }
        return { name: g.name, difference: relativeDifference(gs, as), done: gs.length, size: g.size };
      });
    }
    hooks.onProgress(p);
  };

  await Promise.all(
    spans.map(async ({ set, h }) => {
      const b = await est.entryCosts(set, layoutOffsets(h, width), (items, part) => {
        const at = set.start + part.first;
        for (let k = 0; k < part.costs.length / width; k++) {
          rec.first[at + k] = applyStencil(scheme, h, j0, part.costs, k * width);
          rec.covered[at + k] = 1;
        }
        done += items;
        report();
      });
      finiteOrThrow(
        est,
        b,
        (i) => `θ₀ ± ${h}·e(${groups[groupIndexOf(groups, set.start + Math.floor(i / width))]!.name})`,
      );
      for (let k = 0; k < set.end - set.start; k++) {
        const i = set.start + k;
        const c = b.costs.subarray(k * width, (k + 1) * width);
        rec.covered[i] = 1;
        rec.first[i] = applyStencil(scheme, h, j0, c);
        rec.judged[i] = rec.first[i]!;
        rec.steps[i] = h;
        if (scheme === 'forward') rec.curvature[i] = Math.abs(secondDifference(j0, c[0]!, c[1]!)) / (2 * h);
        if (b.kinks) {
          let count = 0;
          for (let j = 0; j < width; j++) count += b.kinks[k * width + j]!;
          rec.kinks[i] = count;
        } else firstCosts.set(i, c);
      }
    }),
  );
  checkAborted(hooks.signal);

  // Subjects: kinks from the costs. Five-point differences have J(±2ε) already; others screen on the
  // second difference and take J(±2ε) for the suspects. The differences each decision was taken on
  // are kept for the retries.
  const lastS = new Map<number, number>();
  const lastQ = new Map<number, number>();
  const flag = (i: number, s: number, q: number): void => {
    if (!kinkedByCosts(q, s, plan.costNoise)) return;
    rec.kinks[i] = 1;
    lastS.set(i, s);
    lastQ.set(i, q);
  };
  if (opaque) {
    const suspects: number[] = [];
    for (const [i, c] of firstCosts) {
      const s = secondDifference(j0, c[0]!, c[1]!);
      if (width === 4) flag(i, s, fourthDifference(j0, c[0]!, c[1]!, c[2]!, c[3]!));
      else if (kinkSuspect(s, plan.costNoise)) suspects.push(i);
    }
    for (const [h, idx] of byStep(
      groups,
      plan.eps,
      suspects.sort((a, b) => a - b),
    )) {
      const b = await entryCosts(est, hooks, { indices: idx }, [2 * h, -2 * h]);
      idx.forEach((i, k) => {
        const c = firstCosts.get(i)!;
        flag(
          i,
          secondDifference(j0, c[0]!, c[1]!),
          fourthDifference(j0, c[0]!, c[1]!, b.costs[2 * k]!, b.costs[2 * k + 1]!),
        );
      });
    }
  }

  // Kinked entries re-estimated at smaller steps.
  let open: number[] = [];
  for (let i = range.start; i < range.end; i++) if (rec.covered[i] && rec.kinks[i]) open.push(i);
  for (const i of open) rec.state[i] = ENTRY_AT_KINK;
  const retryWidth = opaque ? 4 : Math.max(2, stencilWidth(scheme));
  const kinkMeter = new ProgressMeter(open.length * KINK_RETRY_FACTORS.length, retryWidth, 'kinks');
  let kinkDone = 0;
  for (const factor of KINK_RETRY_FACTORS) {
    if (open.length === 0) break;
    const still: number[] = [];
    for (const [h, idx] of byStep(groups, plan.eps, open, factor)) {
      const b = await entryCosts(est, hooks, { indices: idx }, layoutOffsets(h, retryWidth));
      idx.forEach((i, k) => {
        const c = b.costs.subarray(k * retryWidth, (k + 1) * retryWidth);
        rec.left[i] = (j0 - c[1]!) / h;
        rec.right[i] = (c[0]! - j0) / h;
        if (b.kinks) {
          if (b.kinks.subarray(k * retryWidth, (k + 1) * retryWidth).some((x) => x > 0)) return void still.push(i);
        } else {
          // A kink's tent shrinks with the step (s and q scale as Δ·h); rounding does not. Second and
          // fourth differences as large at a tenth of the step were this entry's own rounding, worse
          // than its group's: the entry is smooth, judged at ε with that rounding allowed for.
          const s = secondDifference(j0, c[0]!, c[1]!);
          const q = fourthDifference(j0, c[0]!, c[1]!, c[2]!, c[3]!);
          if (Math.abs(s) > 0.3 * Math.abs(lastS.get(i)!) && Math.abs(q) > 0.3 * Math.abs(lastQ.get(i)!)) {
            rec.state[i] = ENTRY_SMOOTH;
            rec.kinks[i] = 0;
            rec.localNoise[i] = Math.max(Math.abs(q), Math.abs(lastQ.get(i)!)) / Math.sqrt(70);
            return;
          }
          lastS.set(i, s);
          lastQ.set(i, q);
          if (kinkedByCosts(q, s, plan.costNoise)) return void still.push(i);
        }
        rec.judged[i] = applyStencil(scheme, h, j0, c);
        rec.steps[i] = h;
        rec.state[i] = ENTRY_RESOLVED;
      });
      kinkDone += idx.length;
      hooks.onProgress?.(kinkMeter.at(kinkDone));
    }
    open = still;
  }
  return rec;
}

/**
 * Each group's evidence for judgement, from the plan and the records, once the gradient is
 * known: entries left at a kink are accepted where backward returns a one-sided derivative;
 * each entry's error is its own spread between ε and 2ε where it was sampled, its curvature for
 * forward differences, its own rounding where worse than its group's, else its group's worst.
 */
export function groupEvidence(
  groups: readonly ParamGroup[],
  plan: CheckPlan,
  settings: CheckSettings,
  rec: EntryRecords,
  grad: Float64Array,
  theta: Float64Array,
  which: readonly number[],
): GroupEvidence[] {
  const scheme = settings.scheme;
  const spread = new Map<number, number>();
  const groupWorst = new Map<number, number>();
  const groupQ = new Map<number, number[]>();
  for (const s of plan.samples) {
    if (s.kinked || rec.kinks[s.index]) continue;
    spread.set(s.index, s.spread);
    groupWorst.set(s.group, Math.max(groupWorst.get(s.group) ?? 0, s.spread));
    if (s.q !== null) groupQ.set(s.group, [...(groupQ.get(s.group) ?? []), s.q]);
  }
  return which.map((gi): GroupEvidence => {
    const g = groups[gi]!;
    const h = plan.eps[gi]!;
    const status: EntryStatus[] = new Array(g.size);
    const entryErrors = new Float64Array(g.size);
    const oneSided = new Map<number, { left: number; right: number }>();
    const worst = groupWorst.get(gi) ?? 0;
    for (let k = 0; k < g.size; k++) {
      const i = g.offset + k;
      const state = rec.state[i]!;
      if (state === ENTRY_AT_KINK) {
        const os = { left: rec.left[i]!, right: rec.right[i]! };
        oneSided.set(k, os);
        const step = rec.steps[i]! * KINK_RETRY_FACTORS[KINK_RETRY_FACTORS.length - 1]!;
        const tol =
          (6 * plan.costNoise * Math.SQRT2) / step +
          1e-6 * Math.max(Math.abs(os.left), Math.abs(os.right), Math.abs(grad[i]!));
        status[k] = oneSidedMatch(grad[i]!, os.left, os.right, tol) ? 'kink-subgradient' : 'kink-unresolved';
      } else status[k] = state === ENTRY_RESOLVED ? 'kink-resolved' : 'smooth';
      const own = status[k] === 'smooth' ? spread.get(i) : undefined;
      const local = rec.localNoise[i]!;
      const curvature = rec.curvature[i]!;
      if (!Number.isNaN(local)) entryErrors[k] = Math.max(own ?? worst, (2 * local * stencilNoiseGain(scheme)) / h);
      else if (own !== undefined) entryErrors[k] = own;
      else if (status[k] === 'smooth' && !Number.isNaN(curvature)) entryErrors[k] = curvature;
      else entryErrors[k] = worst;
    }
    const sl = (a: Float64Array): Float64Array => a.subarray(g.offset, g.offset + g.size);
    return {
      group: g,
      epsilon: h,
      grad: sl(grad),
      first: sl(rec.first),
      judged: sl(rec.judged),
      status,
      steps: sl(rec.steps),
      kinks: rec.kinks.subarray(g.offset, g.offset + g.size),
      oneSided,
      entryErrors,
      costNoise: plan.noisyCost ? plan.costNoise : Math.max(plan.costNoise, groupCostNoise(groupQ.get(gi) ?? [])),
      theta: theta.subarray(g.offset, g.offset + g.size),
    };
  });
}
