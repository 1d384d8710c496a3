import type { ParamGroup } from '../model/spec.js';
import { entryName } from '../model/spec.js';
import { diagnoseGroup } from './diagnosis.js';
import { norm, normOfDifference, relativeDifference } from './metrics.js';
import type { CheckResult, EntryReport, GroupReport, NoiseEstimate, Verdict } from './result.js';
import type { Scheme } from './schemes.js';

export interface CompareInput {
  groups: readonly ParamGroup[];
  grad: Float64Array;
  approx: Float64Array;
  /** Per entry, how many kinked pre-activations its perturbations crossed (0: none). */
  kinks?: Uint32Array;
  threshold: number;
  epsilon: number;
  scheme: Scheme;
  evaluations: number;
  cost: number;
  noise: NoiseEstimate;
  worstCount?: number;
}

/**
 * How far a group's ‖g − ĝ‖ may sit above the threshold and still be blamed on
 * floating point: 4σ√n, the norm of n round-off errors of size σ with margin.
 * It only ever excuses differences this small in absolute terms.
 */
export function roundoffAllowance(noise: NoiseEstimate, size: number): number {
  return 4 * noise.perEntry * Math.sqrt(size);
}

function entryReport(
  groups: readonly ParamGroup[],
  group: string,
  index: number,
  g: number,
  a: number,
  kinks?: number,
): EntryReport {
  const absError = Math.abs(g - a);
  const den = Math.abs(g) + Math.abs(a);
  return {
    index,
    name: entryName(groups, index),
    group,
    analytic: g,
    numerical: a,
    absError,
    relError: den === 0 ? 0 : absError / den,
    ...(kinks ? { kinks } : {}),
  };
}

/** One group judged on its own slice: its verdict, note, kinked entries and diagnosis. */
export function judgeGroup(
  groups: readonly ParamGroup[],
  g: ParamGroup,
  gs: Float64Array,
  as: Float64Array,
  ks: Uint32Array,
  threshold: number,
  noise: NoiseEstimate,
): { report: GroupReport; kinked: EntryReport[] } {
  // Judge the group on its smooth entries; kinked ones can neither pass nor fail it.
  const clean: number[] = [];
  const kinkedIdx: number[] = [];
  ks.forEach((k, i) => (k > 0 ? kinkedIdx : clean).push(i));
  const cg = Float64Array.from(clean, (i) => gs[i]!);
  const ca = Float64Array.from(clean, (i) => as[i]!);
  const difference = relativeDifference(gs, as);
  const cleanDifference = relativeDifference(cg, ca);
  const allowance = roundoffAllowance(noise, clean.length);
  let verdict: Verdict;
  let note: string | undefined;
  const cleanPasses = cleanDifference <= threshold || normOfDifference(cg, ca) <= allowance;
  if (!cleanPasses) verdict = 'fail';
  else if (
    kinkedIdx.length > 0 &&
    difference > threshold &&
    normOfDifference(gs, as) > roundoffAllowance(noise, g.size)
  ) {
    verdict = 'inconclusive';
    note = `${kinkedIdx.length} of ${g.size} entries straddle a ReLU kink; the rest agree`;
  } else {
    verdict = 'pass';
    if (cleanDifference > threshold) {
      note = `difference above ${threshold} is within floating-point round-off (‖g−ĝ‖ ${normOfDifference(cg, ca).toExponential(2)} ≤ ${allowance.toExponential(2)})`;
    }
  }
  const report: GroupReport = {
    name: g.name,
    shape: [g.rows, g.cols],
    size: g.size,
    difference,
    verdict,
    method: 'entries',
    kinkEntries: kinkedIdx.length,
    normAnalytic: norm(gs),
    normNumerical: norm(as),
    ...(note ? { note } : {}),
  };
  if (verdict === 'fail')
    report.diagnosis = diagnoseGroup(g, clean.length === gs.length ? gs : cg, clean.length === gs.length ? as : ca);
  const kinked = kinkedIdx.map((i) => entryReport(groups, g.name, g.offset + i, gs[i]!, as[i]!, ks[i]));
  return { report, kinked };
}

export interface AssembleInput {
  groups: GroupReport[];
  kinked: EntryReport[];
  worst: EntryReport[];
  difference: number;
  threshold: number;
  epsilon: number;
  scheme: Scheme;
  parameters: number;
  evaluations: number;
  cost: number;
  noise: NoiseEstimate;
  mode?: CheckResult['mode'];
}

/** The run's verdict from its groups: any fail fails; else any inconclusive; else pass. */
export function assembleResult(input: AssembleInput): CheckResult {
  const { groups: groupReports, threshold, difference } = input;
  const kinkTotal = input.kinked.length;
  const anyFail = groupReports.some((g) => g.verdict === 'fail');
  const anyInconclusive = groupReports.some((g) => g.verdict === 'inconclusive');
  const verdict: Verdict = anyFail ? 'fail' : anyInconclusive ? 'inconclusive' : 'pass';
  const findings: string[] = [];
  for (const g of groupReports) {
    if (g.verdict === 'fail')
      findings.push(g.diagnosis?.summary ?? `${g.name}: backward disagrees with the finite differences`);
  }
  if (kinkTotal > 0) {
    const names = input.kinked
      .slice(0, 5)
      .map((e) => e.name)
      .join(', ');
    findings.push(
      `${kinkTotal} entr${kinkTotal === 1 ? 'y straddles' : 'ies straddle'} a ReLU kink at ε = ${input.epsilon} (${names}${kinkTotal > 5 ? ', …' : ''}): inconclusive, not failed`,
    );
  }
  if (!anyFail && difference > threshold)
    findings.push(
      `global difference ${difference.toExponential(3)} is above ${threshold}, but every group is within round-off or kinks`,
    );
  return {
    verdict,
    difference,
    threshold,
    epsilon: input.epsilon,
    scheme: input.scheme,
    mode: input.mode ?? 'full',
    parameters: input.parameters,
    evaluations: input.evaluations,
    cost: input.cost,
    groups: groupReports,
    worst: input.worst,
    inconclusive: {
      entries: kinkTotal,
      reason:
        kinkTotal > 0
          ? 'the perturbation θ±ε changes the sign of a ReLU pre-activation, where the derivative is undefined'
          : '',
      examples: input.kinked.slice(0, 20),
    },
    noise: input.noise,
    findings,
  };
}

/** Judge the analytic gradient against the finite differences: globally and group by group. */
export function compareGradients(input: CompareInput): CheckResult {
  const { groups, grad, approx, threshold, noise } = input;
  const kinks = input.kinks ?? new Uint32Array(grad.length);
  const reports: GroupReport[] = [];
  const kinked: EntryReport[] = [];
  for (const g of groups) {
    const r = judgeGroup(
      groups,
      g,
      grad.subarray(g.offset, g.offset + g.size),
      approx.subarray(g.offset, g.offset + g.size),
      kinks.subarray(g.offset, g.offset + g.size),
      threshold,
      noise,
    );
    reports.push(r.report);
    kinked.push(...r.kinked);
  }
  return assembleResult({
    groups: reports,
    kinked,
    worst: worstEntries(groups, grad, approx, kinks, input.worstCount ?? 10),
    difference: relativeDifference(grad, approx),
    threshold,
    epsilon: input.epsilon,
    scheme: input.scheme,
    parameters: grad.length,
    evaluations: input.evaluations,
    cost: input.cost,
    noise,
  });
}

export function worstEntries(
  groups: readonly ParamGroup[],
  grad: Float64Array,
  approx: Float64Array,
  kinks: Uint32Array,
  count: number,
): EntryReport[] {
  // Keep a small sorted list rather than sorting every entry of a large model.
  const best: { i: number; e: number }[] = [];
  for (let i = 0; i < grad.length; i++) {
    const e = Math.abs(grad[i]! - approx[i]!);
    if (best.length < count || e > best[best.length - 1]!.e) {
      best.push({ i, e });
      best.sort((a, b) => b.e - a.e || a.i - b.i);
      if (best.length > count) best.pop();
    }
  }
  return best.map(({ i }) => {
    const g = groups.find((x) => i >= x.offset && i < x.offset + x.size)!;
    return entryReport(groups, g.name, i, grad[i]!, approx[i]!, kinks[i]);
  });
}
