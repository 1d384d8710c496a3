/**
 * One benchmark configuration, run in its own process so that its peak memory is
 * its own. Prints one JSON line. Used by bench.ts; not a user command.
 */
import { relativeDifference } from '../../core/check/metrics.js';
import { applyStencil, layoutOffsets } from '../../core/check/schemes.js';
import { NOTEBOOK_BUGS } from '../../core/model/defects.js';
import { loadDataset } from '../data/datasets.js';
import { resolveModel } from '../subjects/resolve.js';
import { SweepSession } from '../sweep/run-sweep.js';

export interface BenchConfig {
  model: string;
  data: string;
  seed: number;
  evaluation: 'incremental' | 'full';
  workers: number;
  /** Estimate only K evenly spaced entries (numpy's sample: (k·n) div K) and scale. */
  sample?: number;
  /** Also report the difference over this many evenly spaced entries, to compare with a sampled peer. */
  compareOn?: number;
}

export function sampleIndices(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, j) => Math.floor((j * n) / k));
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]!) as BenchConfig;
  const model = resolveModel(cfg.model, cfg.seed);
  const { data } = loadDataset(cfg.data, { seed: cfg.seed, spec: model.spec });
  const n = model.theta.length;
  const sample = cfg.sample && cfg.sample < n ? sampleIndices(n, cfg.sample) : undefined;
  const epsilon = 1e-7;
  // The notebook's loop: the gradient, then (J(θ+εeᵢ) − J(θ−εeᵢ)) / 2ε for every entry.
  const t0 = performance.now();
  const session = new SweepSession(
    { spec: model.spec, theta: model.theta, data, defects: NOTEBOOK_BUGS },
    cfg.evaluation,
    { workers: cfg.workers },
  );
  let grad: Float64Array;
  let costs: Float64Array;
  try {
    [grad, { costs }] = await Promise.all([
      session.gradient(),
      session.entryCosts(sample ? { indices: sample } : { start: 0, end: n }, layoutOffsets(epsilon, 2)),
    ]);
  } finally {
    await session.close();
  }
  const j0 = session.forward.cost;
  const entries = sample ?? Array.from({ length: n }, (_, i) => i);
  const approx = Float64Array.from(entries, (_, k) => applyStencil('central', epsilon, j0, costs, 2 * k));
  const seconds = (performance.now() - t0) / 1000;
  const s = { approx };
  const g = Float64Array.from(entries, (i) => grad[i]!);
  const evaluations = entries.length * 2;
  let sampleDifference: number | undefined;
  if (cfg.compareOn) {
    const idx = sampleIndices(n, cfg.compareOn);
    const pos = new Map(entries.map((e, j) => [e, j]));
    sampleDifference = relativeDifference(
      Float64Array.from(idx, (i) => grad[i]!),
      Float64Array.from(idx, (i) => s.approx[pos.get(i)!]!),
    );
  }
  process.stdout.write(
    `${JSON.stringify({
      parameters: n,
      entries: entries.length,
      sampled: Boolean(sample),
      seconds,
      secondsForAll: (seconds * n) / entries.length,
      evaluations,
      evaluationsPerSecond: evaluations / seconds,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      difference: relativeDifference(g, s.approx),
      sampleDifference,
    })}\n`,
  );
}

await main();
