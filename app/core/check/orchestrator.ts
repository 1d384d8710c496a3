import type { ParamGroup } from '../model/spec.js';
import { fmtProbability, fmtValue } from '../report/numbers.js';
import { lowPrecision, stencilNoiseGain, unitRoundoff } from './budget.js';
import { runEpsilonSweep } from './epsilon-sweep.js';
import type { Estimator } from './estimator.js';
import { fastDirections } from './fast.js';
import { type JudgeContext, judgeGroup, worstEntries } from './judge.js';
import { COST_KINK_CAUSE, ENGINE_KINK_CAUSE } from './kinks.js';
import { norm, relativeDifference } from './metrics.js';
import { type CheckHooks, type CheckPlan, type CheckSettings, planCheck } from './plan.js';
import type { CheckResult, EntryReport, GroupReport, Verdict } from './result.js';
import { type EntryRecords, groupEvidence, sweepEntries } from './sweep.js';

export { type CheckHooks, type CheckPlan, type CheckSettings, planCheck, settingsOf } from './plan.js';

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

function judgeContext(
  groups: readonly ParamGroup[],
  plan: CheckPlan,
  settings: CheckSettings,
  knowsKinks: boolean,
  grad: Float64Array,
  first: Float64Array,
): JudgeContext {
  const finite = Array.from(first).filter((x) => !Number.isNaN(x));
  const scale = Math.max(
    norm(grad) / Math.sqrt(Math.max(1, grad.length)),
    norm(finite) / Math.sqrt(Math.max(1, finite.length)),
  );
  return {
    groups,
    scheme: settings.scheme,
    threshold: settings.threshold,
    costNoise: plan.costNoise,
    precision: plan.precision.precision,
    noisyCost: plan.noisyCost,
    j0: plan.j0,
    gradientScale: scale,
    kinkCause: knowsKinks ? ENGINE_KINK_CAUSE : COST_KINK_CAUSE,
  };
}

/** The groups judged entry by entry from the sweep's records. */
export function judgeRecords(
  groups: readonly ParamGroup[],
  plan: CheckPlan,
  settings: CheckSettings,
  knowsKinks: boolean,
  rec: EntryRecords,
  grad: Float64Array,
  theta: Float64Array,
  which: readonly number[],
): { reports: GroupReport[]; kinked: EntryReport[] } {
  const ctx = judgeContext(groups, plan, settings, knowsKinks, grad, rec.first);
  const reports: GroupReport[] = [];
  const kinked: EntryReport[] = [];
  for (const ev of groupEvidence(groups, plan, settings, rec, grad, theta, which)) {
    const j = judgeGroup(ctx, ev);
    reports.push(j.report);
    kinked.push(...j.kinked);
  }
  return { reports, kinked };
}

export interface AssembleInput {
  groups: readonly ParamGroup[];
  plan: CheckPlan;
  settings: CheckSettings;
  knowsKinks: boolean;
  reports: GroupReport[];
  kinked: EntryReport[];
  difference: number;
  evidence: EntryEvidence;
  fast?: CheckResult['fast'];
}

/** The run's verdict, findings and figures from its judged groups: any fail fails, else any inconclusive, else pass. */
export function assembleResult(a: AssembleInput): CheckResult {
  const { plan, settings, reports } = a;
  const kinked = [...a.kinked].sort((x, y) => x.index - y.index);
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
  const unresolved = kinked.filter((e) => e.status === 'kink-unresolved');
  if (kinked.length) {
    const names = kinked
      .slice(0, 5)
      .map((e) => e.name)
      .join(', ');
    const resolved = kinked.filter((e) => e.status === 'kink-resolved').length;
    const sub = kinked.filter((e) => e.status === 'kink-subgradient').length;
    findings.push(
      `${kinked.length} entr${kinked.length === 1 ? 'y' : 'ies'} crossed a kink at ε (${names}${kinked.length > 5 ? ', …' : ''}): ${resolved} re-estimated at a smaller step, ${sub} exactly at a kink where backward returns a one-sided derivative, ${unresolved.length} unresolved`,
    );
  }
  if (lowPrecision(plan.precision.precision))
    findings.push(
      `the cost is computed in ${plan.precision.precision} (${plan.precision.source}): its rounding is ~${fmtValue(unitRoundoff(plan.precision.precision) * Math.abs(plan.j0))}`,
    );
  if (a.fast) {
    const passed = a.fast.groups.filter(
      (_, gi) => reports[gi]!.method === 'directions' && reports[gi]!.verdict === 'pass',
    ).length;
    findings.push(
      a.fast.missProbability === null
        ? `fast mode: ${settings.directions} random directions per group; no group passed along them`
        : `fast mode: ${settings.directions} random directions per group; in the ${passed} group${passed === 1 ? '' : 's'} that passed along them, a backward error of relative size ${settings.detect} goes unnoticed with probability at most ${fmtProbability(a.fast.missProbability)}`,
    );
  }
  const step = typeof settings.epsilon === 'number' ? settings.epsilon : Math.min(...plan.eps);
  return {
    verdict,
    difference: a.difference,
    threshold: settings.threshold,
    epsilon: settings.epsilon,
    scheme: settings.scheme,
    mode: settings.mode,
    parameters: a.evidence.analytic.length,
    evaluations: 0,
    cost: plan.j0,
    precision: plan.precision,
    groups: reports,
    worst: worstEntries(a.groups, a.evidence.analytic, a.evidence.numerical, a.evidence.kinks, 10),
    inconclusive: {
      entries: unresolved.length,
      reason: unresolved.length ? (a.knowsKinks ? ENGINE_KINK_CAUSE : COST_KINK_CAUSE) : '',
      examples: kinked.slice(0, 20),
    },
    noise: {
      perEntry: (plan.costNoise * stencilNoiseGain(settings.scheme)) / step,
      cost: plan.costNoise,
      source: plan.noiseSource,
      sampled: plan.samples.length,
    },
    findings,
    ...(a.fast ? { fast: a.fast } : {}),
    ...(plan.epsilonChoice ? { epsilonChoice: plan.epsilonChoice } : {}),
  };
}

/** What every mode adds at the end: the engine's own explanations, and the ε sweep if asked. */
export async function completeResult(
  est: Estimator,
  result: CheckResult,
  settings: CheckSettings,
  plan: CheckPlan,
  grad: Float64Array,
  hooks: CheckHooks,
): Promise<CheckResult> {
  let out = hooks.explain ? hooks.explain(result, grad) : result;
  if (settings.epsilonSweep) {
    const sweep = await runEpsilonSweep(est, grad, settings.scheme, plan.j0, plan.costNoise, hooks);
    out = {
      ...out,
      epsilonSweep: sweep,
      findings: sweep.flat ? [...out.findings, `ε sweep: ${sweep.summary}`] : out.findings,
    };
  }
  return out;
}

/**
 * The gradient check of any subject, in the mode its settings ask for. One logic for every
 * kind of implementation: the estimator only computes costs (and, for GradProof's engine,
 * counts kinks); the plan (steps, round-off, budget sample), the sweep (kinks and their
 * re-estimates), the judgement and the words are the same for all.
 */
export async function runGradientCheck(
  est: Estimator,
  settings: CheckSettings,
  hooks: CheckHooks = {},
): Promise<CheckOutput> {
  const groups = est.groups;
  const n = est.theta0.length;
  let grad: Float64Array | undefined;
  const gradient = est.gradient();
  gradient.then((g) => (grad = g)).catch(() => undefined); // awaited below; progress shows per-group figures once it is in
  const plan = await planCheck(est, settings, hooks);
  const all = groups.map((_, i) => i);
  let reports: GroupReport[];
  let kinked: EntryReport[];
  let difference: number;
  let evidence: EntryEvidence;
  let fast: CheckResult['fast'];
  if (settings.mode === 'fast') {
    const along = await fastDirections(est, plan, settings, hooks, () => gradient);
    const g = await gradient;
    const escalated = [...along.failing, ...along.kinked].sort((a, b) => a - b);
    const numerical = new Float64Array(n).fill(Number.NaN);
    const kinks = new Uint32Array(n);
    reports = along.reports as GroupReport[];
    kinked = [];
    if (escalated.length) {
      const rec = await sweepEntries(est, plan, settings, hooks, escalated, undefined, () => grad);
      const judged = judgeRecords(groups, plan, settings, est.knowsKinks, rec, g, est.theta0, escalated);
      judged.reports.forEach((r, w) => {
        const gi = escalated[w]!;
        const why = along.kinked.includes(gi)
          ? 'every random direction crossed a kink'
          : 'failed along random directions';
        reports[gi] = { ...r, note: `${why}; swept entry by entry${r.note ? `; ${r.note}` : ''}` };
        const grp = groups[gi]!;
        numerical.set(rec.first.subarray(grp.offset, grp.offset + grp.size), grp.offset);
        kinks.set(rec.kinks.subarray(grp.offset, grp.offset + grp.size), grp.offset);
      });
      kinked = judged.kinked;
    }
    difference = along.difference;
    evidence = { analytic: g, numerical, kinks };
    const passedAlong = along.fastGroups.filter(
      (_, gi) => reports[gi]!.method === 'directions' && reports[gi]!.verdict === 'pass',
    );
    fast = {
      directionsPerGroup: settings.directions,
      seed: settings.seed,
      detectSize: settings.detect,
      missProbability: passedAlong.length ? passedAlong.reduce((m, f) => Math.max(m, f.missProbability), 0) : null,
      groups: along.fastGroups,
      tests: along.tests,
      escalated: escalated.map((gi) => groups[gi]!.name),
    };
  } else {
    const rec = await sweepEntries(est, plan, settings, hooks, all, undefined, () => grad);
    const g = await gradient;
    ({ reports, kinked } = judgeRecords(groups, plan, settings, est.knowsKinks, rec, g, est.theta0, all));
    difference = relativeDifference(g, rec.first);
    evidence = { analytic: g, numerical: rec.first, kinks: rec.kinks };
  }
  const result = await completeResult(
    est,
    assembleResult({
      groups,
      plan,
      settings,
      knowsKinks: est.knowsKinks,
      reports,
      kinked,
      difference,
      evidence,
      ...(fast ? { fast } : {}),
    }),
    settings,
    plan,
    evidence.analytic,
    hooks,
  );
  result.evaluations = est.evaluations;
  return { result, evidence };
}
