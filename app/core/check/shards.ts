import { InputError } from '../errors.js';
import type { ParamGroup } from '../model/spec.js';
import type { Estimator } from './estimator.js';
import { relativeDifference } from './metrics.js';
import { type CheckHooks, type CheckOutput, assembleResult, completeResult, judgeRecords } from './orchestrator.js';
import { type CheckPlan, type CheckSettings, planCheck } from './plan.js';
import type { EpsilonSweep } from './result.js';
import { type EntryRecords, mergeRecords, sweepEntries } from './sweep.js';
import { runEpsilonSweep } from './epsilon-sweep.js';

/**
 * One job's sweep split into shards that run anywhere (cluster array tasks) and merge into the
 * run a single machine would have made. Every shard settles the same plan (it is a function of
 * the subject and the settings), sweeps only its range of entries, and hands back what the
 * judgement needs; the merge judges the union. For GradProof's own engine the merged result is
 * the single-machine result bit for bit.
 */

/**
 * Shard k of n: a contiguous range of the flat vector, cut so that every shard carries about
 * the same estimated cost (`groupCosts[g]`: the relative cost of one entry of group g, from the
 * plan, default 1). The same cut on every machine: it depends only on the groups, n and the plan.
 */
export function shardRange(
  groups: readonly ParamGroup[],
  k: number,
  n: number,
  groupCosts?: readonly number[],
): { start: number; end: number } {
  if (!Number.isInteger(n) || n < 1)
    throw new InputError(`--shard K/N: N must be a whole number ≥ 1 (got ${n})`, 'shard');
  if (!Number.isInteger(k) || k < 0 || k >= n)
    throw new InputError(`--shard ${k}/${n}: K must be a whole number from 0 to ${n - 1}`, 'shard');
  const weights = groups.map((_, i) => groupCosts?.[i] ?? 1);
  const total = groups.reduce((s, g, i) => s + g.size * weights[i]!, 0);
  // The cut before shard j sits where the running cost first reaches j/n of the total.
  const cut = (j: number): number => {
    if (j <= 0) return 0;
    if (j >= n) return groups.reduce((s, g) => s + g.size, 0);
    const target = (total * j) / n;
    let acc = 0;
    for (const [i, g] of groups.entries()) {
      const w = weights[i]!;
      if (acc + g.size * w >= target) return g.offset + Math.ceil((target - acc) / w);
      acc += g.size * w;
    }
    return groups.reduce((s, g) => s + g.size, 0);
  };
  return { start: cut(k), end: cut(k + 1) };
}

/** What one shard hands to the merge. */
export interface ShardOutput {
  plan: CheckPlan;
  range: { start: number; end: number };
  records: EntryRecords;
  /** The backward's gradient (each shard computes it; the merge demands they agree bit for bit). */
  gradient: Float64Array;
  evaluations: number;
  /** Shard 0 runs the ε sweep when one is asked for. */
  epsilonSweep?: EpsilonSweep;
}

/** Shard k of n of a full-mode check. */
export async function runShard(
  est: Estimator,
  settings: CheckSettings,
  k: number,
  n: number,
  hooks: CheckHooks = {},
): Promise<ShardOutput> {
  if (settings.mode !== 'full')
    throw new InputError('--shard splits a full sweep: drop --mode fast (fast mode is quick on one machine)', 'mode');
  const gradient = est.gradient();
  let grad: Float64Array | undefined;
  gradient.then((g) => (grad = g)).catch(() => undefined);
  const plan = await planCheck(est, settings, hooks);
  const range = shardRange(est.groups, k, n, plan.groupCosts);
  const records = await sweepEntries(
    est,
    plan,
    settings,
    hooks,
    est.groups.map((_, i) => i),
    range,
    () => grad,
  );
  const g = await gradient;
  const epsilonSweep =
    settings.epsilonSweep && k === 0
      ? await runEpsilonSweep(est, g, settings.scheme, plan.j0, plan.costNoise, hooks)
      : undefined;
  return { plan, range, records, gradient: g, evaluations: est.evaluations, ...(epsilonSweep ? { epsilonSweep } : {}) };
}

/**
 * The run of a job from all its shards: they must cover every entry once, have settled the
 * same plan and computed the same gradient; then the judgement is the single machine's.
 */
export async function mergeShards(
  groups: readonly ParamGroup[],
  theta: Float64Array,
  settings: CheckSettings,
  knowsKinks: boolean,
  shards: readonly ShardOutput[],
  hooks: Pick<CheckHooks, 'explain'> = {},
): Promise<CheckOutput> {
  const n = theta.length;
  if (shards.length === 0) throw new InputError('merge needs at least one shard');
  const sorted = [...shards].sort((a, b) => a.range.start - b.range.start);
  let at = 0;
  for (const s of sorted) {
    if (s.range.start > at)
      throw new InputError(`entries ${at} to ${s.range.start - 1} are in no shard: a shard is missing`);
    if (s.range.start < at)
      throw new InputError(
        `entries ${s.range.start} to ${at - 1} are in two shards: shards overlap or one is duplicated`,
      );
    at = s.range.end;
  }
  if (at !== n) throw new InputError(`entries ${at} to ${n - 1} are in no shard: a shard is missing`);
  const plan = sorted[0]!.plan;
  const planText = JSON.stringify(plan);
  for (const s of sorted) {
    if (JSON.stringify(s.plan) !== planText)
      throw new InputError(
        `the shard covering entries ${s.range.start}–${s.range.end - 1} settled another plan (J(θ₀), steps or budget sample differ): it ran another job`,
      );
    if (s.gradient.length !== n || s.gradient.some((v, i) => !Object.is(v, sorted[0]!.gradient[i]))) {
      throw new InputError(
        `the shard covering entries ${s.range.start}–${s.range.end - 1} computed another gradient: the backward under audit is not the same`,
      );
    }
  }
  const rec = mergeRecords(
    sorted.map((s) => s.records),
    n,
  );
  const grad = sorted[0]!.gradient;
  const all = groups.map((_, i) => i);
  const { reports, kinked } = judgeRecords(groups, plan, settings, knowsKinks, rec, grad, theta, all);
  const evidence = { analytic: grad, numerical: rec.first, kinks: rec.kinks };
  let result = assembleResult({
    groups,
    plan,
    settings,
    knowsKinks,
    reports,
    kinked,
    difference: relativeDifference(grad, rec.first),
    evidence,
  });
  // The ε sweep was measured by shard 0; the engine's explanations need no costs.
  result = await completeResult({} as Estimator, result, { ...settings, epsilonSweep: false }, plan, grad, hooks);
  const sweep = sorted.find((s) => s.epsilonSweep)?.epsilonSweep;
  if (sweep)
    result = {
      ...result,
      epsilonSweep: sweep,
      findings: sweep.flat ? [...result.findings, `ε sweep: ${sweep.summary}`] : result.findings,
    };
  // Every shard's work counts, the plan each of them settled included.
  result.evaluations = sorted.reduce((s, x) => s + x.evaluations, 0);
  return { result, evidence };
}
