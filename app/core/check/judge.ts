import { type ParamGroup, entryName } from '../model/spec.js';
import { fmtDifference, fmtEpsilon, fmtResolution, fmtValue } from '../report/numbers.js';
import { RESOLUTION_LIMIT, groupBudget, lowPrecision, stencilNoiseGain, unitRoundoff } from './budget.js';
import { diagnoseGroup } from './diagnosis.js';
import type { Precision } from './estimator.js';
import { norm, normOfDifference, relativeDifference } from './metrics.js';
import type { EntryReport, EntryStatus, GroupReport, KinkCounts, Verdict } from './result.js';
import type { Scheme } from './schemes.js';

/** Everything measured about one group, entry by entry, for its judgement. */
export interface GroupEvidence {
  group: ParamGroup;
  /** The group's step. */
  epsilon: number;
  /** g, the backward's gradient on the group. */
  grad: Float64Array;
  /** ĝ at the group's step (formula 3's input, the notebook's figure). */
  first: Float64Array;
  /** The value each entry is judged by: ĝ, or a re-estimate at a smaller step past a kink. */
  judged: Float64Array;
  status: EntryStatus[];
  /** The step each judged value was taken at. */
  steps: Float64Array;
  /** Kink crossings per entry at the group's step (engine counts, or 1 where the costs show one). */
  kinks: Uint32Array;
  oneSided: Map<number, { left: number; right: number }>;
  /** Each entry's measured error at its step (see GroupBudgetInput.entryErrors). */
  entryErrors: Float64Array;
  /** σ_J as this group's perturbations see it (a loss near log 0 rounds worse for the entries that move it). */
  costNoise: number;
  /** θ₀ on the group. */
  theta: Float64Array;
}

export interface JudgeContext {
  groups: readonly ParamGroup[];
  scheme: Scheme;
  threshold: number;
  /** σ_J, the cost's round-off per evaluation. */
  costNoise: number;
  precision: Precision;
  /** The cost is not a deterministic function of θ (its evaluations at θ₀ differ). */
  noisyCost: boolean;
  j0: number;
  /** RMS entry of the whole run's gradient (g or ĝ, the larger): what a group's gradient typically is. */
  gradientScale: number;
  /** The kinks' cause, in words, for notes. */
  kinkCause: string;
}

export interface GroupJudgement {
  report: GroupReport;
  /** Entries at kinks (resolved or not), for the run's list of inconclusive entries. */
  kinked: EntryReport[];
}

function entryReport(ctx: JudgeContext, ev: GroupEvidence, k: number): EntryReport {
  const g = ev.grad[k]!;
  const a = ev.judged[k]!;
  const absError = Math.abs(g - a);
  const den = Math.abs(g) + Math.abs(a);
  const index = ev.group.offset + k;
  const os = ev.oneSided.get(k);
  return {
    index,
    name: entryName(ctx.groups, index),
    group: ev.group.name,
    analytic: g,
    numerical: a,
    absError,
    relError: den === 0 ? 0 : absError / den,
    ...(ev.kinks[k] ? { kinks: ev.kinks[k] } : {}),
    status: ev.status[k]!,
    ...(ev.steps[k] !== ev.epsilon ? { epsilon: ev.steps[k]! } : {}),
    ...(os ? { oneSided: os } : {}),
  };
}

/** Why a group's finite differences cannot vouch for it, and what to do, in words. */
function explainUnresolvable(
  ctx: JudgeContext,
  ev: GroupEvidence,
  budget: number,
  ng: number,
): { note: string; fix: string } {
  const name = ev.group.name;
  const h = ev.epsilon;
  if (ctx.noisyCost) {
    return {
      note: `${name}: the cost is not a deterministic function of θ (repeated evaluations at θ₀ differ by ~${fmtValue(ctx.costNoise)}), which at ε = ${fmtEpsilon(h)} hides every error smaller than ${fmtResolution(budget / ng)}`,
      fix: 'make the cost deterministic (eval mode, dropout off or seeded, no sampling), then rerun',
    };
  }
  const u = unitRoundoff(ctx.precision === 'unknown' ? 'float64' : ctx.precision);
  const typicalMove = (h * ng) / Math.sqrt(Math.max(1, ev.group.size));
  if (typicalMove < 16 * u * Math.abs(ctx.j0)) {
    const looks = lowPrecision(ctx.precision) ? `; the cost is computed in ${ctx.precision}` : '';
    const suggest = lowPrecision(ctx.precision)
      ? ctx.precision === 'float32'
        ? '1e-3'
        : '1e-2'
      : fmtEpsilon(Math.min(1e-2, h * 100));
    return {
      note: `${name}: the cost moves by less than its rounding at ε = ${fmtEpsilon(h)} (a step moves J by ~${fmtValue(typicalMove)}, its rounding is ~${fmtValue(u * Math.abs(ctx.j0))})${looks}`,
      fix: `rerun with --epsilon ${suggest} or --epsilon auto`,
    };
  }
  const roundoff = ((ctx.costNoise * stencilNoiseGain(ctx.scheme)) / h) * Math.sqrt(ev.group.size);
  if (roundoff < budget / 2) {
    return {
      note: `${name}: at ε = ${fmtEpsilon(h)} the ${ctx.scheme} differences' truncation error (${fmtValue(budget)}) hides every error smaller than ${fmtResolution(budget / ng)}`,
      fix: `rerun with a smaller --epsilon, --scheme central or five-point, or --epsilon auto`,
    };
  }
  return {
    note: `${name}: its gradient (‖g‖ = ${fmtValue(ng)}) is below what finite differences resolve at ε = ${fmtEpsilon(h)} (their error is ~${fmtValue(budget)})`,
    fix: `rerun with --epsilon auto, or check this group at parameters where its gradient is larger`,
  };
}

/**
 * One group judged on its own slice, against its measured error budget:
 * - difference at or below the threshold: pass;
 * - ‖g − ĝ‖ within the budget: pass if the budget can still see a 1% error, else inconclusive
 *   (the finite differences carry no usable signal: never a pass);
 * - beyond the budget: fail (with a budget too coarse to vouch for anything, only when far beyond it).
 * Entries at kinks are judged by their re-estimates; a valid subgradient at a kink does not
 * fail a group; a kink that could not be resolved makes an otherwise passing group inconclusive.
 */
export function judgeGroup(ctx: JudgeContext, ev: GroupEvidence): GroupJudgement {
  const g = ev.group;
  const n = g.size;
  const judgedIdx: number[] = [];
  const counts: KinkCounts = { crossed: 0, resolved: 0, subgradient: 0, unresolved: 0 };
  for (let k = 0; k < n; k++) {
    const s = ev.status[k]!;
    if (s !== 'smooth') counts.crossed++;
    if (s === 'kink-resolved') counts.resolved++;
    else if (s === 'kink-subgradient') counts.subgradient++;
    else if (s === 'kink-unresolved') counts.unresolved++;
    if (s === 'smooth' || s === 'kink-resolved') judgedIdx.push(k);
  }
  const gj = Float64Array.from(judgedIdx, (k) => ev.grad[k]!);
  const aj = Float64Array.from(judgedIdx, (k) => ev.judged[k]!);
  const steps = Array.from(judgedIdx, (k) => ev.steps[k]!);
  const budget = groupBudget({
    scheme: ctx.scheme,
    costNoise: ev.costNoise,
    steps,
    entryErrors: judgedIdx.map((k) => ev.entryErrors[k]!),
  });
  const ng = norm(gj);
  const na = norm(aj);
  const err = normOfDifference(gj, aj);
  const judgedDifference = relativeDifference(gj, aj);
  const resolution = ng + na > 0 ? budget / (ng + na) : Number.POSITIVE_INFINITY;
  let verdict: Verdict;
  let note: string | undefined;
  let fix: string | undefined;

  if (judgedIdx.length === 0) {
    if (counts.unresolved === 0) {
      verdict = 'pass';
      note = `every entry of ${g.name} sits exactly at a kink, where backward returns the one-sided derivative (as relu′(0) = 0 or 1 gives)`;
    } else {
      verdict = 'inconclusive';
      note = `every entry of ${g.name} sits at a kink (${ctx.kinkCause}), and ${counts.unresolved} of them could not be judged`;
      fix = 'rerun at parameters or data where its pre-activations are not exactly at the kink';
    }
  } else if (ng <= budget && na <= budget && judgedDifference > ctx.threshold) {
    // Nothing measurably moves and backward says nothing moves (zero, or rounding away from it):
    // right, if the budget could have seen a gradient of the size the rest of the model has.
    if (budget / Math.sqrt(judgedIdx.length) <= RESOLUTION_LIMIT * ctx.gradientScale) {
      verdict = 'pass';
      note = `the cost does not depend on ${g.name} at θ₀ (e.g. dead units, or a bias a normalisation cancels), and backward returns ${ng === 0 ? 'zero' : `~0 (‖g‖ = ${fmtValue(ng)})`}`;
    } else {
      verdict = 'inconclusive';
      ({ note, fix } = explainUnresolvable(ctx, ev, budget, na));
    }
  } else if (judgedDifference <= ctx.threshold) {
    verdict = 'pass';
  } else if (err <= budget) {
    if (resolution <= RESOLUTION_LIMIT) {
      verdict = 'pass';
      note = `difference ${fmtDifference(judgedDifference)} is above ${ctx.threshold} but within the finite differences' measured error (‖g−ĝ‖ ${fmtValue(err)} ≤ ${fmtValue(budget)}); a relative error above ${fmtDifference(resolution)} would show`;
    } else {
      verdict = 'inconclusive';
      ({ note, fix } = explainUnresolvable(ctx, ev, budget, Math.max(ng, na)));
    }
  } else if (resolution > RESOLUTION_LIMIT && err <= 3 * budget) {
    verdict = 'inconclusive';
    ({ note, fix } = explainUnresolvable(ctx, ev, budget, Math.max(ng, na)));
  } else {
    verdict = 'fail';
  }

  if (verdict === 'pass' && counts.unresolved > 0) {
    verdict = 'inconclusive';
    note = `${counts.unresolved} of ${n} entries sit at a kink that a smaller step did not resolve (${ctx.kinkCause}), where backward's value is neither one-sided derivative; the other ${judgedIdx.length} agree`;
    fix = 'look at the entries listed; rerun at parameters or data where they are off the kink';
  } else if (verdict === 'pass' && counts.crossed > 0 && judgedIdx.length > 0) {
    const parts = [
      counts.resolved ? `${counts.resolved} re-estimated at a smaller step` : '',
      counts.subgradient
        ? `${counts.subgradient} exactly at a kink, where backward returns the one-sided derivative (as relu′(0) = 0 or 1 gives)`
        : '',
    ].filter(Boolean);
    const kinkNote = `${counts.crossed} of ${n} entries crossed a kink at ε = ${fmtEpsilon(ev.epsilon)}: ${parts.join('; ')}`;
    note = note ? `${note}; ${kinkNote}` : kinkNote;
  }

  const report: GroupReport = {
    name: g.name,
    shape: [...g.shape],
    size: n,
    difference: relativeDifference(ev.grad, ev.first),
    verdict,
    method: 'entries',
    kinkEntries: counts.crossed,
    ...(counts.crossed ? { kinks: counts } : {}),
    normAnalytic: norm(ev.grad),
    normNumerical: norm(ev.first),
    epsilon: ev.epsilon,
    budget,
    resolution,
    ...(note ? { note } : {}),
    ...(fix ? { fix } : {}),
  };
  if (verdict === 'fail') {
    report.diagnosis = diagnoseGroup({
      group: g,
      groups: ctx.groups,
      indices: judgedIdx.map((k) => g.offset + k),
      g: gj,
      a: aj,
      theta: Float64Array.from(judgedIdx, (k) => ev.theta[k]!),
      entryTolerance: budget / Math.sqrt(Math.max(1, judgedIdx.length)),
      resolution,
    });
  }
  const kinked: EntryReport[] = [];
  for (let k = 0; k < n; k++) if (ev.status[k] !== 'smooth') kinked.push(entryReport(ctx, ev, k));
  return { report, kinked };
}

/** The largest |g − ĝ| entries of the whole vector, by name (without sorting every entry). */
export function worstEntries(
  groups: readonly ParamGroup[],
  grad: Float64Array,
  approx: Float64Array,
  kinks: Uint32Array,
  count: number,
): EntryReport[] {
  const best: { i: number; e: number }[] = [];
  for (let i = 0; i < grad.length; i++) {
    const a = approx[i]!;
    if (Number.isNaN(a)) continue;
    const e = Math.abs(grad[i]! - a);
    if (best.length < count || e > best[best.length - 1]!.e) {
      best.push({ i, e });
      best.sort((x, y) => y.e - x.e || x.i - y.i);
      if (best.length > count) best.pop();
    }
  }
  return best.map(({ i }) => {
    const g = groups.find((x) => i >= x.offset && i < x.offset + x.size)!;
    const absError = Math.abs(grad[i]! - approx[i]!);
    const den = Math.abs(grad[i]!) + Math.abs(approx[i]!);
    return {
      index: i,
      name: entryName(groups, i),
      group: g.name,
      analytic: grad[i]!,
      numerical: approx[i]!,
      absError,
      relError: den === 0 ? 0 : absError / den,
      ...(kinks[i] ? { kinks: kinks[i] } : {}),
    };
  });
}
