/**
 * One benchmark configuration, run in its own process so that its peak memory is
 * its own. Prints one JSON line. Used by bench.ts; not a user command.
 */
import type { CheckSettings } from '../../core/check/gradient-check.js';
import { relativeDifference } from '../../core/check/metrics.js';
import { evaluationsPerEntry } from '../../core/check/schemes.js';
import { NOTEBOOK_BUGS } from '../../core/model/defects.js';
import { loadDataset } from '../data/datasets.js';
import { resolveModel } from '../subjects/resolve.js';
import { sweepEntries } from '../sweep/run-sweep.js';

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
  const settings: CheckSettings = { epsilon: 1e-7, threshold: 2e-7, scheme: 'central', evaluation: cfg.evaluation };
  const n = model.theta.length;
  const sample = cfg.sample && cfg.sample < n ? sampleIndices(n, cfg.sample) : undefined;
  const t0 = performance.now();
  const s = await sweepEntries(
    { spec: model.spec, theta: model.theta, data, defects: NOTEBOOK_BUGS },
    settings,
    { workers: cfg.workers },
    sample,
  );
  const seconds = (performance.now() - t0) / 1000;
  const grad = s.analytic.grad;
  const entries = sample ?? Array.from({ length: n }, (_, i) => i);
  const g = Float64Array.from(entries, (i) => grad[i]!);
  const evaluations = entries.length * evaluationsPerEntry('central');
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
