import { fmtEpsilon, fmtResolution, fmtValue } from '../report/numbers.js';
import {
  NOISE_SIGMAS,
  RESOLUTION_LIMIT,
  TRUNCATION_MARGIN,
  fourthDifference,
  groupCostNoise,
  spreadOfTwoSteps,
  stencilNoiseGain,
  lowPrecision,
} from './budget.js';
import { groupDirection, missProbability, projectGradient, thresholdTolerance } from './directions.js';
import type { DirectionRef, Estimator } from './estimator.js';
import { kinkedByCosts, secondDifference } from './kinks.js';
import { norm, normOfDifference, relativeDifference } from './metrics.js';
import { type CheckHooks, type CheckPlan, type CheckSettings, checkAborted, finiteOrThrow } from './plan.js';
import { ProgressMeter } from './progress.js';
import type { DirectionTest, FastGroupReport, GroupReport, Verdict } from './result.js';
import { applyStencil, layoutOffsets } from './schemes.js';

/** Attempts per direction before a kinked direction is given up (its group is then swept entry by entry). */
export const DIRECTION_ATTEMPTS = 4;

/** Fast mode: k random directions per group; a group that fails along them is swept entry by entry. */
export async function fastDirections(
  est: Estimator,
  plan: CheckPlan,
  settings: CheckSettings,
  hooks: CheckHooks,
  gradient: () => Promise<Float64Array>,
): Promise<{
  reports: (GroupReport | null)[];
  tests: DirectionTest[];
  fastGroups: FastGroupReport[];
  failing: number[];
  kinked: number[];
  difference: number;
}> {
  const groups = est.groups;
  const { j0 } = plan;
  const k = settings.directions;
  const seed = settings.seed;
  const width = 4; // J(±ε), J(±2ε): the estimate, its truncation, and the kink test
  /** Each direction's costs at the layout [±h, ±2h], the step h they were taken at, and its kinks. */
  const results = new Map<
    string,
    { ref: DirectionRef; costs: Float64Array; kinks: number; h: number; localNoise?: number }
  >();
  let pending: DirectionRef[] = groups.flatMap((_, g) =>
    Array.from({ length: k }, (_, j) => ({ group: g, k: j, attempt: 0 })),
  );
  const meter = new ProgressMeter(pending.length, width, 'directions');
  let done = 0;
  const total = pending.length;
  // A direction moves every entry of its group, so on a wide layer it nearly always moves a few of
  // its many pre-activations across zero; what matters is whether that bends the cost along it.
  // GradProof's engine counts the crossings; a direction is set aside only when the costs also
  // show a kink's tent (its fourth difference beyond rounding and a quarter of its second): a
  // crossing that does not bend the cost is inside the direction's measured error.
  const isKinked = (c: Float64Array, engineKinks: number): boolean =>
    (!est.knowsKinks || engineKinks > 0) &&
    kinkedByCosts(fourthDifference(j0, c[0]!, c[1]!, c[2]!, c[3]!), secondDifference(j0, c[0]!, c[1]!), plan.costNoise);
  for (let attempt = 0; attempt < DIRECTION_ATTEMPTS && pending.length; attempt++) {
    const byStep = new Map<number, DirectionRef[]>();
    for (const r of pending) byStep.set(plan.eps[r.group]!, [...(byStep.get(plan.eps[r.group]!) ?? []), r]);
    const batches = await Promise.all(
      [...byStep].map(async ([h, refs]) => {
        checkAborted(hooks.signal);
        const b = await est.directionCosts(refs, seed, layoutOffsets(h, width), (items) => {
          if (attempt === 0) {
            done += items;
            hooks.onProgress?.(meter.at(done));
          }
        });
        finiteOrThrow(
          est,
          b,
          (i) =>
            `θ₀ moved along random direction ${refs[Math.floor(i / width)]!.k} of ${groups[refs[Math.floor(i / width)]!.group]!.name}`,
        );
        return { refs, b };
      }),
    );
    const next: DirectionRef[] = [];
    let flagged: { ref: DirectionRef; c: Float64Array; h: number }[] = [];
    for (const { refs, b } of batches) {
      refs.forEach((ref, i) => {
        const c = b.costs.slice(i * width, (i + 1) * width);
        const kk = b.kinks ? b.kinks.subarray(i * width, (i + 1) * width).reduce((s, x) => s + x, 0) : 0;
        const kinked = isKinked(c, kk);
        results.set(`${ref.group}:${ref.k}`, {
          ref,
          costs: c,
          kinks: kinked ? Math.max(1, kk) : 0,
          h: plan.eps[ref.group]!,
        });
        if (kinked) flagged.push({ ref, c, h: plan.eps[ref.group]! });
      });
    }
    // A kinked direction is measured again, the same direction, at ε/10 and ε/100: a crossing
    // within ±2h clears once the step is short of it, as for entries. For subjects the first of
    // these also tells rounding from a kink: a kink's tent shrinks with the step, rounding does
    // not, so differences as large at a tenth of the step were this direction's own rounding
    // (kept at ε, with that rounding allowed for). What no step clears goes to a fresh direction.
    for (const factor of [0.1, 0.01]) {
      if (flagged.length === 0) break;
      const still: typeof flagged = [];
      const byH = new Map<number, typeof flagged>();
      for (const f of flagged) byH.set(f.h * factor, [...(byH.get(f.h * factor) ?? []), f]);
      for (const [h, list] of byH) {
        const refs = list.map((f) => f.ref);
        const b = await est.directionCosts(refs, seed, layoutOffsets(h, width));
        finiteOrThrow(
          est,
          b,
          (i) =>
            `θ₀ moved along random direction ${refs[Math.floor(i / width)]!.k} of ${groups[refs[Math.floor(i / width)]!.group]!.name}`,
        );
        list.forEach((f, i) => {
          const c = b.costs.slice(i * width, (i + 1) * width);
          const kk = b.kinks ? b.kinks.subarray(i * width, (i + 1) * width).reduce((x, y) => x + y, 0) : 0;
          if (!est.knowsKinks && factor === 0.1) {
            const s0 = secondDifference(j0, f.c[0]!, f.c[1]!);
            const q0 = fourthDifference(j0, f.c[0]!, f.c[1]!, f.c[2]!, f.c[3]!);
            const s1 = secondDifference(j0, c[0]!, c[1]!);
            const q1 = fourthDifference(j0, c[0]!, c[1]!, c[2]!, c[3]!);
            if (Math.abs(s1) > 0.3 * Math.abs(s0) && Math.abs(q1) > 0.3 * Math.abs(q0)) {
              const localNoise = Math.max(Math.abs(q1), Math.abs(q0)) / Math.sqrt(70);
              results.set(`${f.ref.group}:${f.ref.k}`, { ref: f.ref, costs: f.c, kinks: 0, h: f.h, localNoise });
              return;
            }
          }
          if (isKinked(c, kk)) still.push({ ...f, c });
          else results.set(`${f.ref.group}:${f.ref.k}`, { ref: f.ref, costs: c, kinks: 0, h });
        });
      }
      flagged = still;
    }
    for (const f of flagged) if (attempt + 1 < DIRECTION_ATTEMPTS) next.push({ ...f.ref, attempt: attempt + 1 });
    pending = next;
  }
  if (done < total) hooks.onProgress?.(meter.at(total));

  const grad = await gradient();
  const tests: DirectionTest[] = [];
  const reports: (GroupReport | null)[] = [];
  const fastGroups: FastGroupReport[] = [];
  const failing: number[] = [];
  /** Groups whose every direction crossed a kink: swept entry by entry, like failing ones. */
  const escalate: number[] = [];
  const allA: number[] = [];
  const allD: number[] = [];
  groups.forEach((group, gi) => {
    const h = plan.eps[gi]!;
    const gs = grad.subarray(group.offset, group.offset + group.size);
    const ng = norm(gs);
    const a: number[] = [];
    const d: number[] = [];
    let trunc2 = 0;
    let local2 = 0;
    let kinked = 0;
    const qg: number[] = [];
    const steps: number[] = [];
    for (let j = 0; j < k; j++) {
      const r = results.get(`${gi}:${j}`)!;
      const u = groupDirection(group, gi, seed, j, r.ref.attempt);
      const an = projectGradient(grad, group, u);
      const dn = applyStencil('central', r.h, j0, r.costs);
      const d2 = applyStencil('central', 2 * r.h, j0, r.costs, 2);
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
      if (r.h === h) qg.push(fourthDifference(j0, r.costs[0]!, r.costs[1]!, r.costs[2]!, r.costs[3]!));
      trunc2 += spreadOfTwoSteps(dn, d2) ** 2;
      steps.push(r.h);
      if (r.localNoise !== undefined) local2 += ((r.localNoise * stencilNoiseGain('central')) / r.h) ** 2;
    }
    const smooth = a.length;
    // As for entries: round-off from σ_J as this group's directions see it (and as single directions
    // saw it, where worse), and each direction's own spread between ε and 2ε.
    const sigma = plan.noisyCost ? plan.costNoise : Math.max(plan.costNoise, groupCostNoise(qg));
    // Each direction's round-off at the step it was judged at (a re-measured one at ε/10 carries ten times more).
    const noise2 = steps.reduce((acc, st) => acc + ((sigma * stencilNoiseGain('central')) / st) ** 2, 0) + local2;
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
        fix = lowPrecision(plan.precision.precision)
          ? 'rerun with --epsilon 1e-3 or --epsilon auto'
          : 'rerun with --epsilon auto, or make the cost deterministic';
      }
    } else if (resolution > RESOLUTION_LIMIT && err <= 3 * tolerance) {
      verdict = 'inconclusive';
      note = `along random directions, the finite differences' error (${fmtValue(budget)}) is too large to judge ${group.name}`;
      fix = lowPrecision(plan.precision.precision)
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
