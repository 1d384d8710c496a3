import type { CheckRequest } from '../api/contract.js';
import { CancelledError, InputError } from '../errors.js';
import type { ParamGroup } from '../model/spec.js';
import { entryName } from '../model/spec.js';
import { fmtEpsilon, fmtProbability, fmtResolution, fmtValue } from '../report/numbers.js';
import {
  NOISE_SIGMAS,
  RESOLUTION_LIMIT,
  TRUNCATION_MARGIN,
  costNoiseFromFourthDifferences,
  costRoundoffFloor,
  detectPrecision,
  fourthDifference,
  groupCostNoise,
  stencilNoiseGain,
  spreadOfTwoSteps,
  stepRepresentationError,
} from './budget.js';
import { groupDirection, missProbability, projectGradient, thresholdTolerance } from './directions.js';
import { chooseEpsilons, runEpsilonSweep } from './epsilon-sweep.js';
import type { CostBatch, DirectionRef, EntrySet, Estimator, Precision } from './estimator.js';
import { type GroupEvidence, type JudgeContext, judgeGroup, worstEntries } from './judge.js';
import {
  COST_KINK_CAUSE,
  ENGINE_KINK_CAUSE,
  KINK_RETRY_FACTORS,
  oneSidedMatch,
  kinkSuspect,
  kinkedByCosts,
  secondDifference,
} from './kinks.js';
import { norm, normOfDifference, relativeDifference } from './metrics.js';
import { type Progress, ProgressMeter } from './progress.js';
import type {
  CheckResult,
  DirectionTest,
  EntryReport,
  EntryStatus,
  FastGroupReport,
  GroupReport,
  NoiseEstimate,
  Verdict,
} from './result.js';
import { applyStencil, layoutOffsets, stencilWidth } from './schemes.js';

/** How a check is run: the API contract's settings (declared there once, with their defaults). */
export type CheckSettings = Pick<
  CheckRequest,
  'scheme' | 'epsilon' | 'threshold' | 'mode' | 'directions' | 'detect' | 'epsilonSweep' | 'seed'
>;

/** The settings part of a request. */
export function settingsOf(r: CheckRequest): CheckSettings {
  return {
    scheme: r.scheme,
    epsilon: r.epsilon,
    threshold: r.threshold,
    mode: r.mode,
    directions: r.directions,
    detect: r.detect,
    epsilonSweep: r.epsilonSweep,
    seed: r.seed,
  };
}

export interface CheckHooks {
  signal?: { readonly aborted: boolean };
  onProgress?: (p: Progress) => void;
  /** GradProof's own engine explains failing groups it can reproduce (e.g. a dropped activation derivative). */
  explain?: (result: CheckResult, grad: Float64Array) => CheckResult;
}

/** Per-entry evidence kept with a saved run: the gradient under audit, the estimates at ε (NaN where none was made), kinks. */
export interface EntryEvidence {
  analytic: Float64Array;
  numerical: Float64Array;
  kinks: Uint32Array;
}

export interface CheckOutput {
  result: CheckResult;
  evidence: EntryEvidence;
}

/** Entries of each group re-estimated at 2ε to measure truncation and round-off. */
const SAMPLE_PER_GROUP = 32;
/** Attempts per direction before a kinked direction is left inconclusive. */
export const DIRECTION_ATTEMPTS = 4;
/** Steps that θ₀ cannot take within this relative error are refused. */
const STEP_ERROR_LIMIT = 1e-2;

function evenSample(size: number, count: number): number[] {
  if (size <= count) return Array.from({ length: size }, (_, i) => i);
  return Array.from({ length: count }, (_, k) => Math.floor(((k + 0.5) * size) / count));
}

/** Groups sharing a step, merged into contiguous ranges, so a uniform ε is one sweep over the whole vector. */
function rangesByStep(
  groups: readonly ParamGroup[],
  which: readonly number[],
  eps: readonly number[],
): { set: EntrySet; h: number }[] {
  const out: { set: { start: number; end: number }; h: number }[] = [];
  for (const gi of which) {
    const g = groups[gi]!;
    const last = out[out.length - 1];
    if (last && last.h === eps[gi] && last.set.end === g.offset) last.set.end = g.offset + g.size;
    else out.push({ set: { start: g.offset, end: g.offset + g.size }, h: eps[gi]! });
  }
  return out;
}

function checkAborted(signal?: { readonly aborted: boolean }): void {
  if (signal?.aborted) throw new CancelledError('cancelled');
}

function finiteOrThrow(batch: CostBatch, what: (i: number) => string): void {
  const c = batch.costs;
  for (let i = 0; i < c.length; i++) {
    const v = c[i]!;
    if (!Number.isFinite(v) || Math.abs(v) > 1e300) {
      throw new InputError(
        `the cost is ${v} at ${what(i)}: a cost must be a finite number small enough to take differences of (|J| ≤ 1e300)`,
      );
    }
  }
}

/** State shared by the passes of one check. */
interface Run {
  est: Estimator;
  settings: CheckSettings;
  hooks: CheckHooks;
  groups: readonly ParamGroup[];
  n: number;
  j0: number;
  eps: number[];
  /** σ_J so far (the floor until costs are measured). */
  costNoise: number;
  noiseSource: NoiseEstimate['source'];
  noisyCost: boolean;
  precision: { precision: Precision; source: CheckResult['precision']['source'] };
  gradient: Promise<Float64Array>;
  grad?: Float64Array;
  sampledQ: number[];
}

/** Costs of entries, checked finite, with progress. */
async function entryCosts(
  run: Run,
  set: EntrySet,
  offsets: readonly number[],
  onItems?: (items: number) => void,
): Promise<CostBatch> {
  checkAborted(run.hooks.signal);
  const batch = await run.est.entryCosts(set, offsets, onItems ? (items) => onItems(items) : undefined);
  finiteOrThrow(batch, (i) => {
    const k = Math.floor(i / offsets.length);
    const index = 'indices' in set ? set.indices[k]! : set.start + k;
    return `θ₀ ${offsets[i % offsets.length]! >= 0 ? '+' : '−'} ${Math.abs(offsets[i % offsets.length]!)}·e(${entryName(run.groups, index)})`;
  });
  return batch;
}

interface SweepOutcome {
  evidence: GroupEvidence[];
  /** Per flat entry: the estimate at the group's ε and its kink count (engine) or flag (costs). */
  first: Float64Array;
  kinks: Uint32Array;
}

/**
 * Every entry of the given groups, judged entry by entry: the estimate at ε, a sample at 2ε
 * (truncation and round-off), kinks found (engine counts, or the costs' fourth differences) and
 * re-estimated at smaller steps, subgradients tested where no step clears a kink.
 */
async function sweepEntries(run: Run, which: readonly number[]): Promise<SweepOutcome> {
  const { est, settings, groups, n, j0 } = run;
  const scheme = settings.scheme;
  const opaque = !est.knowsKinks;
  // Forward differences also take J(θ−ε): the curvature gives each entry its truncation allowance.
  const width = scheme === 'forward' ? 2 : stencilWidth(scheme);
  const width2 = scheme === 'five-point' ? 4 : 2;
  const first = new Float64Array(n).fill(Number.NaN);
  const kinks = new Uint32Array(n);
  const firstCosts = new Float64Array(n * width);
  const secondCosts = new Map<number, Float64Array>();
  const total = which.reduce((s, gi) => s + groups[gi]!.size, 0);
  const meter = new ProgressMeter(total, width, 'sweep');
  let done = 0;
  const filled = new Uint8Array(n);
  let lastPartial = 0;
  const report = (): void => {
    if (!run.hooks.onProgress) return;
    const p = meter.at(done);
    const grad = run.grad;
    if (grad && (Date.now() - lastPartial > 250 || done === total)) {
      lastPartial = Date.now();
      p.groups = which.map((gi) => {
        const g = groups[gi]!;
        const gi2: number[] = [];
        const ai: number[] = [];
        for (let i = g.offset; i < g.offset + g.size; i++) {
          if (filled[i]) {
            gi2.push(grad[i]!);
            ai.push(first[i]!);
          }
        }
        return { name: g.name, difference: relativeDifference(gi2, ai), done: gi2.length, size: g.size };
      });
    }
    run.hooks.onProgress(p);
  };

  // The budget sample at 2ε runs alongside the sweep.
  const sampleIdx = which.map((gi) =>
    evenSample(groups[gi]!.size, SAMPLE_PER_GROUP).map((k) => groups[gi]!.offset + k),
  );
  const samplePass = Promise.all(
    which.map(async (gi, w) => {
      const h2 = 2 * run.eps[gi]!;
      const b = await entryCosts(run, { indices: sampleIdx[w]! }, layoutOffsets(h2, width2));
      return { gi, batch: b };
    }),
  );
  samplePass.catch(() => undefined);
  const firstPass = Promise.all(
    rangesByStep(groups, which, run.eps).map(async ({ set, h }) => {
      const r = set as { start: number; end: number };
      const b = await run.est.entryCosts(set, layoutOffsets(h, width), (items, part) => {
        const at = r.start + part.first;
        const count = part.costs.length / width;
        for (let k = 0; k < count; k++) {
          const i = at + k;
          first[i] = applyStencil(scheme, h, j0, part.costs, k * width);
          filled[i] = 1;
        }
        done += items;
        report();
      });
      finiteOrThrow(b, (i) => `θ₀ ± ${h}·e(${entryName(groups, r.start + Math.floor(i / width))})`);
      firstCosts.set(b.costs, r.start * width);
      for (let k = 0; k < r.end - r.start; k++) {
        const i = r.start + k;
        first[i] = applyStencil(scheme, h, j0, b.costs, k * width);
        if (b.kinks) {
          let c = 0;
          for (let j = 0; j < width; j++) c += b.kinks[k * width + j]!;
          kinks[i] = c;
        }
      }
    }),
  );
  const [, samples] = await Promise.all([firstPass, samplePass]);
  checkAborted(run.hooks.signal);
  if (run.precision.precision === 'unknown')
    run.precision = detectPrecision([j0, ...(firstCosts.length > 4096 ? firstCosts.subarray(0, 4096) : firstCosts)]);

  // Round-off from the sample's fourth differences (median: robust to the few at a kink), never below
  // the precision's floor; each sampled entry's own error is its spread between ε and 2ε.
  const sampled = new Map<number, { gi: number; q: number | undefined; spread: number; kinked2: boolean }>();
  for (const { gi, batch } of samples) {
    const h = run.eps[gi]!;
    sampleIdx[which.indexOf(gi)]!.forEach((i, k) => {
      const c2 = batch.costs.subarray(k * width2, (k + 1) * width2);
      secondCosts.set(i, c2);
      const kinked2 = batch.kinks ? batch.kinks.subarray(k * width2, (k + 1) * width2).some((x) => x > 0) : false;
      const c1 = firstCosts.subarray(i * width, (i + 1) * width);
      const q = width >= 2 ? fourthDifference(j0, c1[0]!, c1[1]!, c2[0]!, c2[1]!) : undefined;
      if (q !== undefined && !kinked2 && !kinks[i]) run.sampledQ.push(q);
      sampled.set(i, { gi, q, spread: spreadOfTwoSteps(first[i]!, applyStencil(scheme, 2 * h, j0, c2)), kinked2 });
    });
  }
  updateCostNoise(run);

  // Subjects: kinks from the costs (five-point has J(±2ε) already; others confirm suspects). The
  // second and fourth differences each decision was taken on are kept for the retries.
  const lastS = new Map<number, number>();
  const lastQ = new Map<number, number>();
  const flag = (i: number, s: number, q: number): void => {
    if (!kinkedByCosts(q, s, run.costNoise)) return;
    kinks[i] = 1;
    lastS.set(i, s);
    lastQ.set(i, q);
  };
  if (opaque) {
    const suspects: number[] = [];
    for (const gi of which) {
      const g = groups[gi]!;
      for (let i = g.offset; i < g.offset + g.size; i++) {
        const c1 = firstCosts.subarray(i * width, (i + 1) * width);
        const s = secondDifference(j0, c1[0]!, c1[1]!);
        if (width === 4) flag(i, s, fourthDifference(j0, c1[0]!, c1[1]!, c1[2]!, c1[3]!));
        else if (kinkSuspect(s, run.costNoise)) {
          const c2 = secondCosts.get(i);
          if (c2) flag(i, s, fourthDifference(j0, c1[0]!, c1[1]!, c2[0]!, c2[1]!));
          else suspects.push(i);
        }
      }
    }
    const byStep = new Map<number, number[]>();
    for (const i of suspects) {
      const h = run.eps[groupIndexOf(groups, i)]!;
      byStep.set(h, [...(byStep.get(h) ?? []), i]);
    }
    for (const [h, idx] of byStep) {
      const b = await entryCosts(run, { indices: idx }, [2 * h, -2 * h]);
      idx.forEach((i, k) => {
        const c1 = firstCosts.subarray(i * width, (i + 1) * width);
        flag(
          i,
          secondDifference(j0, c1[0]!, c1[1]!),
          fourthDifference(j0, c1[0]!, c1[1]!, b.costs[2 * k]!, b.costs[2 * k + 1]!),
        );
      });
    }
  }

  // Each group's sample, kinks left out: the spreads and the σ_J its own perturbations see.
  const spread = new Float64Array(n).fill(Number.NaN);
  const groupSpread = new Map<number, number>();
  const groupQ = new Map<number, number[]>();
  for (const [i, x] of sampled) {
    if (x.kinked2 || kinks[i]) continue;
    spread[i] = x.spread;
    groupSpread.set(x.gi, Math.max(groupSpread.get(x.gi) ?? 0, x.spread));
    if (x.q !== undefined) groupQ.set(x.gi, [...(groupQ.get(x.gi) ?? []), x.q]);
  }

  // Kinked entries re-estimated at smaller steps; what no step clears is tested as a subgradient.
  const judged = Float64Array.from(first);
  const steps = new Float64Array(n);
  const status: EntryStatus[] = new Array(n).fill('smooth');
  for (const gi of which) {
    const g = groups[gi]!;
    steps.fill(run.eps[gi]!, g.offset, g.offset + g.size);
  }
  let open: number[] = [];
  for (const gi of which) {
    const g = groups[gi]!;
    for (let i = g.offset; i < g.offset + g.size; i++) if (kinks[i]) open.push(i);
  }
  for (const i of open) status[i] = 'kink-unresolved';
  const oneSided = new Map<number, { left: number; right: number }>();
  /** σ_J seen by single entries whose rounding is worse than their group's. */
  const localNoise = new Map<number, number>();
  const retryWidth = opaque ? 4 : Math.max(2, stencilWidth(scheme));
  const kinkMeter = new ProgressMeter(open.length * KINK_RETRY_FACTORS.length, retryWidth, 'kinks');
  let kinkDone = 0;
  for (const factor of KINK_RETRY_FACTORS) {
    if (open.length === 0) break;
    const still: number[] = [];
    const byStep = new Map<number, number[]>();
    for (const i of open) {
      const h = run.eps[groupIndexOf(groups, i)]! * factor;
      byStep.set(h, [...(byStep.get(h) ?? []), i]);
    }
    for (const [h, idx] of byStep) {
      const b = await entryCosts(run, { indices: idx }, layoutOffsets(h, retryWidth));
      idx.forEach((i, k) => {
        const c = b.costs.subarray(k * retryWidth, (k + 1) * retryWidth);
        oneSided.set(i, { left: (j0 - c[1]!) / h, right: (c[0]! - j0) / h });
        if (b.kinks) {
          if (b.kinks.subarray(k * retryWidth, (k + 1) * retryWidth).some((x) => x > 0)) return void still.push(i);
        } else {
          // A kink's tent shrinks with the step (s and q scale as Δ·h); rounding does not. Second and
          // fourth differences as large at a tenth of the step were this entry's own rounding, worse
          // than its group's: the entry is smooth, judged at ε with that rounding allowed for.
          const s = secondDifference(j0, c[0]!, c[1]!);
          const q = fourthDifference(j0, c[0]!, c[1]!, c[2]!, c[3]!);
          if (Math.abs(s) > 0.3 * Math.abs(lastS.get(i)!) && Math.abs(q) > 0.3 * Math.abs(lastQ.get(i)!)) {
            status[i] = 'smooth';
            kinks[i] = 0;
            localNoise.set(i, Math.max(Math.abs(q), Math.abs(lastQ.get(i)!)) / Math.sqrt(70));
            return;
          }
          lastS.set(i, s);
          lastQ.set(i, q);
          if (kinkedByCosts(q, s, run.costNoise)) return void still.push(i);
        }
        judged[i] = applyStencil(scheme, h, j0, c);
        steps[i] = h;
        status[i] = 'kink-resolved';
      });
      kinkDone += idx.length;
      run.hooks.onProgress?.(kinkMeter.at(kinkDone));
    }
    open = still;
  }

  const grad = run.grad ?? (run.grad = await run.gradient);
  for (const i of open) {
    const os = oneSided.get(i)!;
    const h = steps[i]! * KINK_RETRY_FACTORS[KINK_RETRY_FACTORS.length - 1]!;
    const tol =
      (6 * run.costNoise * Math.SQRT2) / h + 1e-6 * Math.max(Math.abs(os.left), Math.abs(os.right), Math.abs(grad[i]!));
    status[i] = oneSidedMatch(grad[i]!, os.left, os.right, tol) ? 'kink-subgradient' : 'kink-unresolved';
  }

  const evidence = which.map((gi): GroupEvidence => {
    const g = groups[gi]!;
    const h = run.eps[gi]!;
    const sl = (a: Float64Array): Float64Array => a.subarray(g.offset, g.offset + g.size);
    // Each entry's error: its own spread between ε and 2ε where sampled (and not moved past a kink);
    // forward differences know every entry's truncation from its curvature; else the sample's worst.
    const worst = groupSpread.get(gi) ?? 0;
    const entryErrors = new Float64Array(g.size);
    for (let k = 0; k < g.size; k++) {
      const i = g.offset + k;
      const own = status[i] === 'smooth' ? spread[i]! : Number.NaN;
      const local = localNoise.get(i);
      if (local !== undefined)
        entryErrors[k] = Math.max(Number.isNaN(own) ? worst : own, (2 * local * stencilNoiseGain(scheme)) / h);
      else if (!Number.isNaN(own)) entryErrors[k] = own;
      else if (scheme === 'forward' && status[i] === 'smooth') {
        const c1 = firstCosts.subarray(i * width, (i + 1) * width);
        entryErrors[k] = Math.abs(secondDifference(j0, c1[0]!, c1[1]!)) / (2 * h);
      } else entryErrors[k] = worst;
    }
    const os = new Map<number, { left: number; right: number }>();
    for (let k = 0; k < g.size; k++) {
      const v = oneSided.get(g.offset + k);
      if (v && status[g.offset + k] !== 'smooth' && status[g.offset + k] !== 'kink-resolved') os.set(k, v);
    }
    return {
      group: g,
      epsilon: h,
      grad: sl(grad),
      first: sl(first),
      judged: sl(judged),
      status: status.slice(g.offset, g.offset + g.size),
      steps: sl(steps),
      kinks: kinks.subarray(g.offset, g.offset + g.size),
      oneSided: os,
      entryErrors,
      costNoise: run.noisyCost ? run.costNoise : Math.max(run.costNoise, groupCostNoise(groupQ.get(gi) ?? [])),
      theta: run.est.theta0.subarray(g.offset, g.offset + g.size),
    };
  });
  return { evidence, first, kinks };
}

function groupIndexOf(groups: readonly ParamGroup[], i: number): number {
  for (let g = 0; g < groups.length; g++)
    if (i >= groups[g]!.offset && i < groups[g]!.offset + groups[g]!.size) return g;
  throw new RangeError(`entry ${i} is outside the parameters`);
}

/** σ_J: the largest of the precision's floor, the sample's fourth differences and repeated evaluations at θ₀. */
function updateCostNoise(run: Run): void {
  const floor = costRoundoffFloor(run.precision.precision, run.j0);
  const measured = costNoiseFromFourthDifferences(run.sampledQ);
  if (run.noisyCost) return;
  if (measured > floor) {
    run.costNoise = measured;
    run.noiseSource = 'fourth-differences';
  } else {
    run.costNoise = floor;
    run.noiseSource = 'precision-floor';
  }
}

function judgeContext(run: Run, grad: Float64Array, first: Float64Array): JudgeContext {
  const finite = Array.from(first).filter((x) => !Number.isNaN(x));
  const scale = Math.max(
    norm(grad) / Math.sqrt(Math.max(1, grad.length)),
    norm(finite) / Math.sqrt(Math.max(1, finite.length)),
  );
  return {
    groups: run.groups,
    scheme: run.settings.scheme,
    threshold: run.settings.threshold,
    costNoise: run.costNoise,
    precision: run.precision.precision,
    noisyCost: run.noisyCost,
    j0: run.j0,
    gradientScale: scale,
    kinkCause: run.est.knowsKinks ? ENGINE_KINK_CAUSE : COST_KINK_CAUSE,
  };
}

/** Fast mode: k random directions per group; a group that fails along them is swept entry by entry. */
async function fastDirections(run: Run): Promise<{
  reports: (GroupReport | null)[];
  tests: DirectionTest[];
  fastGroups: FastGroupReport[];
  failing: number[];
  kinked: number[];
  difference: number;
}> {
  const { est, settings, groups, j0 } = run;
  const k = settings.directions;
  const seed = settings.seed;
  const width = 4; // J(±ε), J(±2ε): the estimate, its truncation, and the kink test
  const results = new Map<string, { ref: DirectionRef; costs: Float64Array; kinks: number }>();
  let pending: DirectionRef[] = groups.flatMap((_, g) =>
    Array.from({ length: k }, (_, j) => ({ group: g, k: j, attempt: 0 })),
  );
  const meter = new ProgressMeter(pending.length, width, 'directions');
  let done = 0;
  const total = pending.length;
  const qs: number[] = [];
  const isKinked = (ref: DirectionRef, c: Float64Array, engineKinks: number): boolean =>
    est.knowsKinks
      ? engineKinks > 0
      : kinkedByCosts(
          fourthDifference(j0, c[0]!, c[1]!, c[2]!, c[3]!),
          secondDifference(j0, c[0]!, c[1]!),
          run.costNoise,
        );
  for (let attempt = 0; attempt < DIRECTION_ATTEMPTS && pending.length; attempt++) {
    const byStep = new Map<number, DirectionRef[]>();
    for (const r of pending) byStep.set(run.eps[r.group]!, [...(byStep.get(run.eps[r.group]!) ?? []), r]);
    const batches = await Promise.all(
      [...byStep].map(async ([h, refs]) => {
        checkAborted(run.hooks.signal);
        const b = await est.directionCosts(refs, seed, layoutOffsets(h, width), (items) => {
          if (attempt === 0) {
            done += items;
            run.hooks.onProgress?.(meter.at(done));
          }
        });
        finiteOrThrow(
          b,
          (i) =>
            `θ₀ moved along random direction ${refs[Math.floor(i / width)]!.k} of ${groups[refs[Math.floor(i / width)]!.group]!.name}`,
        );
        return { refs, b };
      }),
    );
    if (attempt === 0) {
      for (const { b } of batches) {
        for (let i = 0; i < b.costs.length / width; i++) {
          const c = b.costs.subarray(i * width, (i + 1) * width);
          if (!b.kinks) qs.push(fourthDifference(j0, c[0]!, c[1]!, c[2]!, c[3]!));
        }
      }
      if (!est.knowsKinks) {
        run.sampledQ.push(...qs);
        updateCostNoise(run);
      }
      if (run.precision.precision === 'unknown')
        run.precision = detectPrecision(batches.flatMap(({ b }) => Array.from(b.costs)));
    }
    const next: DirectionRef[] = [];
    for (const { refs, b } of batches) {
      refs.forEach((ref, i) => {
        const c = b.costs.slice(i * width, (i + 1) * width);
        const kk = b.kinks ? b.kinks.subarray(i * width, (i + 1) * width).reduce((s, x) => s + x, 0) : 0;
        const kinked = isKinked(ref, c, kk);
        results.set(`${ref.group}:${ref.k}`, { ref, costs: c, kinks: kinked ? Math.max(1, kk) : 0 });
        if (kinked && attempt + 1 < DIRECTION_ATTEMPTS) next.push({ ...ref, attempt: attempt + 1 });
      });
    }
    pending = next;
  }
  if (done < total) run.hooks.onProgress?.(meter.at(total));

  const grad = run.grad ?? (run.grad = await run.gradient);
  const tests: DirectionTest[] = [];
  const reports: (GroupReport | null)[] = [];
  const fastGroups: FastGroupReport[] = [];
  const failing: number[] = [];
  /** Groups whose every direction crossed a kink: swept entry by entry, like failing ones. */
  const escalate: number[] = [];
  const allA: number[] = [];
  const allD: number[] = [];
  groups.forEach((group, gi) => {
    const h = run.eps[gi]!;
    const gs = grad.subarray(group.offset, group.offset + group.size);
    const ng = norm(gs);
    const a: number[] = [];
    const d: number[] = [];
    let trunc2 = 0;
    let kinked = 0;
    const qg: number[] = [];
    for (let j = 0; j < k; j++) {
      const r = results.get(`${gi}:${j}`)!;
      const u = groupDirection(group, gi, seed, j, r.ref.attempt);
      const an = projectGradient(grad, group, u);
      const dn = applyStencil('central', h, j0, r.costs);
      const d2 = applyStencil('central', 2 * h, j0, r.costs, 2);
      tests.push({
        group: group.name,
        analytic: an,
        numerical: dn,
        error: ng > 0 ? Math.abs(an - dn) / ng : Math.abs(an - dn),
        kinks: r.kinks,
        attempt: r.ref.attempt,
      });
      allA.push(an);
      allD.push(dn);
      if (r.kinks) {
        kinked++;
        continue;
      }
      a.push(an);
      d.push(dn);
      qg.push(fourthDifference(j0, r.costs[0]!, r.costs[1]!, r.costs[2]!, r.costs[3]!));
      trunc2 += spreadOfTwoSteps(dn, d2) ** 2;
    }
    const smooth = a.length;
    // As for entries: round-off from σ_J as this group's directions see it, and each direction's
    // own spread between ε and 2ε (truncation, and round-off no cost-wide σ shows).
    const sigma = run.noisyCost ? run.costNoise : Math.max(run.costNoise, groupCostNoise(qg));
    const noise2 = smooth * ((sigma * stencilNoiseGain('central')) / h) ** 2;
    const budget = Math.sqrt(NOISE_SIGMAS ** 2 * noise2 + TRUNCATION_MARGIN ** 2 * trunc2);
    const tolerance = Math.max(thresholdTolerance(settings.threshold, ng, smooth), budget);
    const err = normOfDifference(a, d);
    const resolution = ng > 0 && smooth > 0 ? tolerance / (ng * Math.sqrt(smooth)) : Number.POSITIVE_INFINITY;
    let verdict: Verdict;
    let note: string;
    let fix: string | undefined;
    if (smooth === 0) {
      // Directions cannot step around a kink that every one of them crosses: the entries can.
      verdict = 'fail';
      note = `every direction crossed a kink at ε = ${fmtEpsilon(h)}, after ${DIRECTION_ATTEMPTS} attempts each`;
      escalate.push(gi);
    } else if (ng === 0 && norm(d) <= budget) {
      verdict = 'pass';
      note = `the cost does not depend on ${group.name} at θ₀ along ${smooth} random directions, and backward returns zero`;
    } else if (err <= tolerance) {
      if (resolution <= RESOLUTION_LIMIT) {
        verdict = 'pass';
        note = `${smooth} random direction${smooth === 1 ? '' : 's'} agree${kinked ? `; ${kinked} crossed a kink in every attempt` : ''}`;
      } else {
        verdict = 'inconclusive';
        note = `along random directions, the finite differences' error (${fmtValue(budget)}) hides every error smaller than ${fmtResolution(resolution)}`;
        fix =
          run.precision.precision === 'float32'
            ? 'rerun with --epsilon 1e-3 or --epsilon auto'
            : 'rerun with --epsilon auto, or make the cost deterministic';
      }
    } else if (resolution > RESOLUTION_LIMIT && err <= 3 * tolerance) {
      verdict = 'inconclusive';
      note = `along random directions, the finite differences' error (${fmtValue(budget)}) is too large to judge ${group.name}`;
      fix =
        run.precision.precision === 'float32'
          ? 'rerun with --epsilon 1e-3 or --epsilon auto'
          : 'rerun with --epsilon auto, or make the cost deterministic';
    } else {
      verdict = 'fail';
      note = `fails along ${smooth} random directions`;
    }
    const miss = verdict === 'pass' ? missProbability(smooth, tolerance, settings.detect, ng) : 1;
    fastGroups.push({ group: group.name, tolerance, missProbability: miss, directions: smooth });
    if (verdict === 'fail' && !escalate.includes(gi)) failing.push(gi);
    reports.push({
      name: group.name,
      shape: [...group.shape],
      size: group.size,
      difference: relativeDifference(a, d),
      verdict,
      note,
      ...(fix ? { fix } : {}),
      method: 'directions',
      kinkEntries: 0,
      normAnalytic: ng,
      normNumerical: norm(d),
      epsilon: h,
      budget: tolerance,
      resolution,
    });
  });
  return { reports, tests, fastGroups, failing, kinked: escalate, difference: relativeDifference(allA, allD) };
}

/**
 * The gradient check of any subject, in the mode its settings ask for. One logic for every
 * kind of implementation: the estimator only computes costs (and, for GradProof's engine,
 * counts kinks); the steps, the stencil, the error budget, the kinks and the judgement are here.
 */
export async function runGradientCheck(
  est: Estimator,
  settings: CheckSettings,
  hooks: CheckHooks = {},
): Promise<CheckOutput> {
  const groups = est.groups;
  const n = est.theta0.length;
  const gradient = est.gradient();
  gradient.catch(() => undefined); // awaited below; a failure also ends the sweep's tasks
  const j0 = await est.cost0();
  if (!Number.isFinite(j0) || Math.abs(j0) > 1e300)
    throw new InputError(`the cost at θ₀ is ${j0}: a cost must be a finite number small enough to take differences of`);
  const run: Run = {
    est,
    settings,
    hooks,
    groups,
    n,
    j0,
    eps: [],
    costNoise: costRoundoffFloor(est.precision.precision, j0),
    noiseSource: 'precision-floor',
    noisyCost: false,
    precision: est.precision,
    gradient,
    sampledQ: [],
  };
  // Progress shows the per-group picture as soon as the gradient is in.
  gradient.then((g) => (run.grad = g)).catch(() => undefined);

  // A cost that is not a function of θ alone (dropout, sampling) shows when J(θ₀) is asked again.
  const again = await entryCosts(run, { indices: [0, n - 1, 0] }, [0]);
  const repeats = [j0, ...again.costs];
  if (run.precision.precision === 'unknown') {
    run.precision = detectPrecision(repeats);
    run.costNoise = costRoundoffFloor(run.precision.precision, j0);
  }
  const spread = Math.max(...repeats) - Math.min(...repeats);
  if (spread > 0) {
    const mean = repeats.reduce((s, x) => s + x, 0) / repeats.length;
    run.costNoise = Math.sqrt(repeats.reduce((s, x) => s + (x - mean) ** 2, 0) / (repeats.length - 1));
    run.noisyCost = true;
    run.noiseSource = 'repeated-evaluations';
  }

  let epsilonChoice: CheckResult['epsilonChoice'];
  if (settings.epsilon === 'auto') {
    const chosen = await chooseEpsilons(est, j0, settings.scheme, run.costNoise, hooks);
    run.eps = chosen.map((c) => c.epsilon);
    epsilonChoice = chosen.map((c, g) => ({ group: groups[g]!.name, epsilon: c.epsilon, error: c.error }));
  } else {
    const h = settings.epsilon;
    run.eps = groups.map(() => h);
    for (const g of groups) {
      const r = stepRepresentationError(est.theta0, h, g.offset, g.offset + g.size);
      if (r.error > STEP_ERROR_LIMIT) {
        throw new InputError(
          `--epsilon ${fmtEpsilon(h)} is too small for θ₀: ${entryName(groups, r.index)} = ${est.theta0[r.index]} cannot move by ε in float64 (the step taken would be off by ${(100 * r.error).toPrecision(2)}%); use --epsilon ${fmtEpsilon(Math.max(h * 1000, 1e-10))} or larger, or --epsilon auto`,
          'epsilon',
        );
      }
    }
  }

  let evidence: EntryEvidence;
  let reports: GroupReport[];
  let kinkedEntries: EntryReport[] = [];
  let fastReport: CheckResult['fast'];
  let difference: number;
  let grad: Float64Array;
  let ctx: JudgeContext;

  if (settings.mode === 'fast') {
    const fast = await fastDirections(run);
    grad = run.grad!;
    const numerical = new Float64Array(n).fill(Number.NaN);
    const kinks = new Uint32Array(n);
    const merged = [...fast.reports];
    const escalated = [...fast.failing, ...fast.kinked].sort((a, b) => a - b);
    if (escalated.length) {
      const swept = await sweepEntries(run, escalated);
      ctx = judgeContext(run, grad, swept.first);
      swept.evidence.forEach((ev, w) => {
        const gi = escalated[w]!;
        const j = judgeGroup(ctx, ev);
        const why = fast.kinked.includes(gi)
          ? 'every random direction crossed a kink'
          : 'failed along random directions';
        merged[gi] = { ...j.report, note: `${why}; swept entry by entry${j.report.note ? `; ${j.report.note}` : ''}` };
        kinkedEntries.push(...j.kinked);
        numerical.set(ev.first, ev.group.offset);
        kinks.set(ev.kinks, ev.group.offset);
      });
    } else ctx = judgeContext(run, grad, numerical);
    reports = merged as GroupReport[];
    difference = fast.difference;
    evidence = { analytic: grad, numerical, kinks };
    const passedAlong = fast.fastGroups.filter(
      (_, gi) => reports[gi]!.method === 'directions' && reports[gi]!.verdict === 'pass',
    );
    const miss = passedAlong.length ? passedAlong.reduce((m, f) => Math.max(m, f.missProbability), 0) : null;
    fastReport = {
      directionsPerGroup: settings.directions,
      seed: settings.seed,
      detectSize: settings.detect,
      missProbability: miss,
      groups: fast.fastGroups,
      tests: fast.tests,
      escalated: escalated.map((gi) => groups[gi]!.name),
    };
  } else {
    const swept = await sweepEntries(
      run,
      groups.map((_, i) => i),
    );
    grad = run.grad!;
    ctx = judgeContext(run, grad, swept.first);
    reports = [];
    for (const ev of swept.evidence) {
      const j = judgeGroup(ctx, ev);
      reports.push(j.report);
      kinkedEntries.push(...j.kinked);
    }
    difference = relativeDifference(grad, swept.first);
    evidence = { analytic: grad, numerical: swept.first, kinks: swept.kinks };
  }
  kinkedEntries = kinkedEntries.sort((a, b) => a.index - b.index);

  const verdict: Verdict = reports.some((g) => g.verdict === 'fail')
    ? 'fail'
    : reports.some((g) => g.verdict === 'inconclusive')
      ? 'inconclusive'
      : 'pass';
  const findings: string[] = [];
  for (const g of reports)
    if (g.verdict === 'fail')
      findings.push(
        g.diagnosis?.summary ?? `${g.name}: backward disagrees with the finite differences (${g.note ?? ''})`,
      );
  for (const g of reports)
    if (g.verdict === 'inconclusive')
      findings.push(`${g.note ?? `${g.name}: inconclusive`}${g.fix ? `: ${g.fix}` : ''}`);
  const unresolved = kinkedEntries.filter((e) => e.status === 'kink-unresolved');
  if (kinkedEntries.length) {
    const names = kinkedEntries
      .slice(0, 5)
      .map((e) => e.name)
      .join(', ');
    const resolved = kinkedEntries.filter((e) => e.status === 'kink-resolved').length;
    const sub = kinkedEntries.filter((e) => e.status === 'kink-subgradient').length;
    findings.push(
      `${kinkedEntries.length} entr${kinkedEntries.length === 1 ? 'y' : 'ies'} crossed a kink at ε (${names}${kinkedEntries.length > 5 ? ', …' : ''}): ${resolved} re-estimated at a smaller step, ${sub} valid subgradients at the kink, ${unresolved.length} unresolved`,
    );
  }
  if (run.precision.precision === 'float32')
    findings.push(
      `the cost is computed in float32 (${run.precision.source}): its rounding is ~${fmtValue(2 ** -24 * Math.abs(j0))}`,
    );
  if (fastReport) {
    const passed = fastReport.groups.filter(
      (_, gi) => reports[gi]!.method === 'directions' && reports[gi]!.verdict === 'pass',
    ).length;
    findings.push(
      fastReport.missProbability === null
        ? `fast mode: ${settings.directions} random directions per group; no group passed along them`
        : `fast mode: ${settings.directions} random directions per group; in the ${passed} group${passed === 1 ? '' : 's'} that passed along them, a backward error of relative size ${settings.detect} goes unnoticed with probability at most ${fmtProbability(fastReport.missProbability)}`,
    );
  }
  const perEntry =
    (run.costNoise * stencilNoiseGain(settings.scheme)) /
    (typeof settings.epsilon === 'number' ? settings.epsilon : Math.min(...run.eps));
  let result: CheckResult = {
    verdict,
    difference,
    threshold: settings.threshold,
    epsilon: settings.epsilon,
    scheme: settings.scheme,
    mode: settings.mode,
    parameters: n,
    evaluations: 0,
    cost: j0,
    precision: run.precision,
    groups: reports,
    worst: worstEntries(groups, grad, evidence.numerical, evidence.kinks, 10),
    inconclusive: {
      entries: unresolved.length,
      reason: unresolved.length ? (est.knowsKinks ? ENGINE_KINK_CAUSE : COST_KINK_CAUSE) : '',
      examples: kinkedEntries.slice(0, 20),
    },
    noise: { perEntry, cost: run.costNoise, source: run.noiseSource, sampled: run.sampledQ.length },
    findings,
    ...(fastReport ? { fast: fastReport } : {}),
    ...(epsilonChoice ? { epsilonChoice } : {}),
  };
  if (hooks.explain) result = hooks.explain(result, grad);
  if (settings.epsilonSweep) {
    const sweep = await runEpsilonSweep(est, grad, settings.scheme, j0, run.costNoise, hooks);
    result.epsilonSweep = sweep;
    if (sweep.flat) result.findings.push(`ε sweep: ${sweep.summary}`);
  }
  result.evaluations = est.evaluations;
  return { result, evidence };
}
