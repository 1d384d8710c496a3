import type { ParamGroup } from '../model/spec.js';
import { type AssembleInput, assembleResult, judgeGroup, worstEntries } from './compare.js';
import { type DirectionEvaluation, directionVector, judgeGroupAlongDirections, missProbability } from './fast-mode.js';
import type { CheckSettings } from './gradient-check.js';
import { relativeDifference } from './metrics.js';
import type { CheckResult, DirectionTest, EntryReport, GroupReport, NoiseEstimate } from './result.js';
import { evaluationsPerEntry } from './schemes.js';

export const DEFAULT_DIRECTIONS = 4;
export const DEFAULT_DIRECTION_SEED = 1;
export const DEFAULT_DETECT_SIZE = 1e-3;

export interface Analytic {
  grad: Float64Array;
  cost: number;
  groups: readonly ParamGroup[];
}

/** Every (group, k) pair fast mode evaluates. */
export function fastPlan(groups: readonly ParamGroup[], k: number): { group: number; k: number }[] {
  return groups.flatMap((_, g) => Array.from({ length: k }, (_, j) => ({ group: g, k: j })));
}

export interface FastJudgement {
  reports: GroupReport[];
  tests: DirectionTest[];
  /** Groups that failed along directions: to be swept entry by entry. */
  failing: ParamGroup[];
  noise: NoiseEstimate;
  directionDifference: number;
  evaluations: number;
}

/** Judge every group along its directions; the failing ones go on to an entry sweep. */
export function judgeFast(
  settings: CheckSettings,
  analytic: Analytic,
  evaluations: readonly DirectionEvaluation[],
): FastJudgement {
  const n = analytic.grad.length;
  const seed = settings.directionSeed ?? DEFAULT_DIRECTION_SEED;
  const reports: GroupReport[] = [];
  const tests: DirectionTest[] = [];
  const failing: ParamGroup[] = [];
  const noiseSamples: number[] = [];
  analytic.groups.forEach((group, g) => {
    const mine = evaluations.filter((e) => e.group === g).sort((a, b) => a.k - b.k);
    const judged = judgeGroupAlongDirections(
      group,
      analytic.grad,
      mine,
      (k, attempt) => directionVector(n, group, g, seed, k, attempt),
      settings.threshold,
    );
    reports.push(judged.report);
    tests.push(...judged.tests);
    if (judged.noise.sampled > 0) noiseSamples.push(judged.noise.perEntry);
    if (judged.report.verdict === 'fail') failing.push(group);
  });
  // One round-off level for the run: the largest any group saw (the cautious choice).
  const noise = { perEntry: noiseSamples.length ? Math.max(...noiseSamples) : 0, sampled: evaluations.length };
  const attempts = evaluations.reduce((s, e) => s + e.attempt + 1, 0);
  return {
    reports,
    tests,
    failing,
    noise,
    directionDifference: relativeDifference(
      tests.map((t) => t.analytic),
      tests.map((t) => t.numerical),
    ),
    evaluations: 4 * attempts,
  };
}

/** Entry estimates of the escalated groups, in the order of `escalatedIndices`. */
export interface Escalation {
  indices: number[];
  approx: Float64Array;
  kinks: Uint32Array;
}

export function escalatedIndices(groups: readonly ParamGroup[]): number[] {
  return groups.flatMap((g) => Array.from({ length: g.size }, (_, i) => g.offset + i));
}

/** Fast mode's result: groups passed along directions, failing ones judged entry by entry. */
export function finishFast(
  settings: CheckSettings,
  analytic: Analytic,
  fast: FastJudgement,
  escalation: Escalation,
): CheckResult {
  const n = analytic.grad.length;
  const approx = new Float64Array(n);
  const kinks = new Uint32Array(n);
  escalation.indices.forEach((i, j) => {
    approx[i] = escalation.approx[j]!;
    kinks[i] = escalation.kinks[j]!;
  });
  const reports = [...fast.reports];
  const kinked: EntryReport[] = [];
  const escalatedNames = fast.failing.map((g) => g.name);
  for (const g of fast.failing) {
    const r = judgeGroup(
      analytic.groups,
      g,
      analytic.grad.subarray(g.offset, g.offset + g.size),
      approx.subarray(g.offset, g.offset + g.size),
      kinks.subarray(g.offset, g.offset + g.size),
      settings.threshold,
      fast.noise,
    );
    reports[analytic.groups.indexOf(g)] = {
      ...r.report,
      note: `failed along random directions; swept entry by entry${r.report.note ? `; ${r.report.note}` : ''}`,
    };
    kinked.push(...r.kinked);
  }
  // Worst entries can only be named where entries were estimated.
  const mask = new Float64Array(n);
  for (const i of escalation.indices) mask[i] = 1;
  const masked = Float64Array.from(analytic.grad, (v, i) => (mask[i] ? v : 0));
  const k = settings.directions ?? DEFAULT_DIRECTIONS;
  const detectSize = settings.detectSize ?? DEFAULT_DETECT_SIZE;
  const input: AssembleInput = {
    groups: reports,
    kinked,
    worst: escalation.indices.length ? worstEntries(analytic.groups, masked, approx, kinks, 10) : [],
    difference: fast.directionDifference,
    threshold: settings.threshold,
    epsilon: settings.epsilon,
    scheme: settings.scheme,
    parameters: n,
    evaluations: fast.evaluations + escalation.indices.length * evaluationsPerEntry(settings.scheme),
    cost: analytic.cost,
    noise: fast.noise,
    mode: 'fast',
  };
  const result = assembleResult(input);
  const miss = missProbability(k, settings.threshold, detectSize);
  result.fast = {
    directionsPerGroup: k,
    seed: settings.directionSeed ?? DEFAULT_DIRECTION_SEED,
    tolerance: settings.threshold,
    detectSize,
    missProbability: miss,
    tests: fast.tests,
    escalated: escalatedNames,
  };
  result.findings.push(
    `fast mode: ${k} random directions per group; a backward error of relative size ${detectSize} in any one group goes unnoticed with probability ${miss.toExponential(1)}`,
  );
  return result;
}
