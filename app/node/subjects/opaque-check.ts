import { compareGradients } from '../../core/check/compare.js';
import { directionVector } from '../../core/check/fast-mode.js';
import {
  DEFAULT_DIRECTIONS,
  DEFAULT_DIRECTION_SEED,
  escalatedIndices,
  fastPlan,
  finishFast,
  judgeFast,
} from '../../core/check/fast-check.js';
import type { CheckSettings } from '../../core/check/gradient-check.js';
import { NOISE_STEP_RATIO, estimateNoise, noiseSampleIndices } from '../../core/check/noise.js';
import type { CheckResult } from '../../core/check/result.js';
import { type Scheme, evaluationsPerEntry } from '../../core/check/schemes.js';
import type { ParamGroup } from '../../core/model/spec.js';
import { type Progress, ProgressMeter } from '../sweep/progress.js';
import type { EntryEvidence } from '../sweep/run-sweep.js';
import { type SubjectConnection, type SubjectDescription } from './connection.js';
import { CancelledError, SubjectError } from '../../core/errors.js';

export interface OpaqueOptions {
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Entries per request: fewer round trips, coarser progress. */
  batch?: number;
}

/** Groups of a subject that described itself, laid out as the flat vector holds them. */
export function groupsFromDescription(d: SubjectDescription): ParamGroup[] {
  let offset = 0;
  return d.groups.map((g, i) => {
    const rows = g.shape[0]!;
    const cols = g.shape[1] ?? 1;
    const group: ParamGroup = {
      name: g.name,
      rows,
      cols,
      offset,
      size: rows * cols,
      layer: i + 1,
      kind: /^b/i.test(g.name) ? 'bias' : 'weight',
    };
    offset += rows * cols;
    return group;
  });
}

function offsets(scheme: Scheme, epsilon: number): number[] {
  return scheme === 'forward'
    ? [epsilon]
    : scheme === 'central'
      ? [epsilon, -epsilon]
      : [2 * epsilon, epsilon, -epsilon, -2 * epsilon];
}

function combine(scheme: Scheme, epsilon: number, j0: number, c: ArrayLike<number>): number {
  switch (scheme) {
    case 'forward':
      return (c[0]! - j0) / epsilon;
    case 'central':
      return (c[0]! - c[1]!) / (2 * epsilon);
    case 'five-point':
      return (c[3]! - 8 * c[2]! + 8 * c[1]! - c[0]!) / (12 * epsilon);
  }
}

/** Hand out work to the connections, each taking the next batch when it is free. */
async function runQueue<T>(
  conns: SubjectConnection[],
  items: T[],
  signal: AbortSignal | undefined,
  work: (c: SubjectConnection, item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    conns.map(async (c) => {
      while (next < items.length) {
        if (signal?.aborted) throw new CancelledError('sweep cancelled');
        const item = items[next++]!;
        await work(c, item);
      }
    }),
  );
}

/**
 * The gradient check of a subject GradProof cannot see inside (a process or a
 * module): only costs and the gradient under audit cross the boundary. Each
 * connection is a separate instance, so the sweep runs in parallel across them.
 * Kinks are found from the costs alone: where the one-sided slopes disagree by
 * more than round-off, and the disagreement is not curvature (the slopes a step
 * further out agree with their neighbours), the entry is inconclusive.
 */
export async function runOpaqueCheck(
  conns: SubjectConnection[],
  settings: CheckSettings,
  options: OpaqueOptions = {},
): Promise<{ result: CheckResult; description: SubjectDescription; entries: EntryEvidence }> {
  const { signal } = options;
  const onAbort = (): void => {
    for (const c of conns) void c.close();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const cancelled = (err: unknown): never => {
      if (signal?.aborted) throw new CancelledError('sweep cancelled');
      throw err;
    };
    const first = conns[0]!;
    const description = await first.describe().catch(cancelled);
    const groups = groupsFromDescription(description);
    const n = description.theta.length;
    const size = groups.reduce((s, g) => s + g.size, 0);
    if (size !== n) throw new SubjectError(`the subject's groups hold ${size} parameters but its θ₀ has ${n}`);
    const grad = await first.gradient().catch(cancelled);
    if (grad.length !== n)
      throw new SubjectError(`the subject's gradient has ${grad.length} entries but it has ${n} parameters`);
    const j0 = await first.cost().catch(cancelled);
    const eps = settings.epsilon;
    let evaluations = 2;

    if (settings.mode === 'fast') {
      const seed = settings.directionSeed ?? DEFAULT_DIRECTION_SEED;
      const plan = fastPlan(groups, settings.directions ?? DEFAULT_DIRECTIONS);
      const w = eps * NOISE_STEP_RATIO;
      const meter = new ProgressMeter(plan.length, 4);
      const evals: { group: number; k: number; attempt: number; numerical: number; wider: number; kinks: number }[] =
        [];
      await runQueue(conns, plan, signal, async (c, item) => {
        const u = directionVector(n, groups[item.group]!, item.group, seed, item.k);
        const j = await c.costsAlong(u, [eps, -eps, w, -w]);
        evals.push({
          ...item,
          attempt: 0,
          numerical: (j[0]! - j[1]!) / (2 * eps),
          wider: (j[2]! - j[3]!) / (2 * w),
          kinks: 0,
        });
        options.onProgress?.(meter.at(evals.length));
      }).catch(cancelled);
      const analytic = { grad, cost: j0, groups };
      const fast = judgeFast(settings, analytic, evals);
      const indices = escalatedIndices(fast.failing);
      const esc = await sweepEntries(conns, indices, settings, j0, options).catch(cancelled);
      const numerical = new Float64Array(n).fill(Number.NaN);
      indices.forEach((i, j) => (numerical[i] = esc.approx[j]!));
      return {
        result: finishFast(settings, analytic, fast, { indices, approx: esc.approx, kinks: esc.kinks }),
        description,
        entries: { analytic: grad, numerical, kinks: new Uint32Array(n) },
      };
    }

    const all = Array.from({ length: n }, (_, i) => i);
    const sweep = await sweepEntries(conns, all, settings, j0, options).catch(cancelled);
    evaluations += n * evaluationsPerEntry(settings.scheme);
    // Round-off: the noise sample again at √2·ε.
    const sample = noiseSampleIndices(n);
    const wider = await sweepEntries(conns, sample, { ...settings, epsilon: eps * NOISE_STEP_RATIO }, j0, {}).catch(
      cancelled,
    );
    evaluations += sample.length * evaluationsPerEntry(settings.scheme);
    const noise = estimateNoise(
      sample.map((i) => sweep.approx[i]!),
      Array.from(wider.approx),
    );
    // Kinks, from costs alone: one-sided slopes that disagree beyond round-off …
    const kinks = new Uint32Array(n);
    if (settings.scheme !== 'forward') {
      const jump = 10 * Math.sqrt(12) * noise.perEntry;
      const suspects = all.filter((i) => {
        const c = sweep.costs[i]!;
        const [jp, jm] = settings.scheme === 'central' ? [c[0]!, c[1]!] : [c[1]!, c[2]!];
        const f = (jp - j0) / eps;
        const b = (j0 - jm) / eps;
        return Math.abs(f - b) > jump;
      });
      // … and not explained by curvature: the slopes one step further out agree instead.
      if (suspects.length > 0 && suspects.length <= Math.max(64, n / 10)) {
        const outer = await sweepEntries(conns, suspects, { ...settings, scheme: 'five-point' }, j0, {}).catch(
          cancelled,
        );
        evaluations += suspects.length * 4;
        suspects.forEach((i, k) => {
          const c5 = outer.costs[k]!; // J(+2ε), J(+ε), J(−ε), J(−2ε)
          const f = (c5[1]! - j0) / eps;
          const b = (j0 - c5[2]!) / eps;
          const f2 = (c5[0]! - c5[1]!) / eps;
          const b2 = (c5[2]! - c5[3]!) / eps;
          if (Math.abs(f - b) > 3 * Math.max(Math.abs(f2 - f), Math.abs(b - b2), jump)) kinks[i] = 1;
        });
      }
    }
    const result = compareGradients({
      groups,
      grad,
      approx: sweep.approx,
      kinks,
      threshold: settings.threshold,
      epsilon: eps,
      scheme: settings.scheme,
      evaluations,
      cost: j0,
      noise,
    });
    if (result.inconclusive.entries > 0) {
      result.inconclusive.reason =
        'the one-sided differences J(θ+ε)−J(θ) and J(θ)−J(θ−ε) disagree beyond round-off, and not as curvature would: a kink lies within ε';
    }
    return { result, description, entries: { analytic: grad, numerical: sweep.approx, kinks } };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Costs for `indices` under the scheme, batched across the connections, with progress. */
async function sweepEntries(
  conns: SubjectConnection[],
  indices: number[],
  settings: CheckSettings,
  j0: number,
  options: OpaqueOptions,
): Promise<{ approx: Float64Array; kinks: Uint32Array; costs: Float64Array[] }> {
  const eps = settings.epsilon;
  const offs = offsets(settings.scheme, eps);
  const batch = options.batch ?? Math.max(1, Math.min(256, Math.ceil(indices.length / (conns.length * 8))));
  const approx = new Float64Array(indices.length);
  const costs: Float64Array[] = new Array(indices.length);
  const batches: number[][] = [];
  for (let s = 0; s < indices.length; s += batch)
    batches.push(Array.from({ length: Math.min(batch, indices.length - s) }, (_, k) => s + k));
  const meter = new ProgressMeter(indices.length, offs.length);
  let done = 0;
  await runQueue(conns, batches, options.signal, async (c, positions) => {
    const entries: [number, number][] = positions.flatMap((p) => offs.map((d) => [indices[p]!, d] as [number, number]));
    const j = await c.costs(entries);
    positions.forEach((p, k) => {
      const cs = j.subarray(k * offs.length, (k + 1) * offs.length);
      costs[p] = cs;
      approx[p] = combine(settings.scheme, eps, j0, cs);
    });
    done += positions.length;
    options.onProgress?.(meter.at(done));
  });
  return { approx, kinks: new Uint32Array(indices.length), costs };
}
