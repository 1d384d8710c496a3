import { describe, expect, it } from 'vitest';
import { initParameters, parseMlpSpec, randomDataset } from '../../app/core/builtins/synthetic.js';
import { EngineEstimator, builtinHooks } from '../../app/core/check/builtin.js';
import type { CostBatch, DirectionRef, EntrySet, Estimator, OnCosts } from '../../app/core/check/estimator.js';
import { runGradientCheck } from '../../app/core/check/orchestrator.js';
import { mergeShards, runShard, shardRange } from '../../app/core/check/shards.js';
import { parseDefect } from '../../app/core/model/defects.js';
import { SETTINGS } from '../helpers/check.js';

const spec = parseMlpSpec('mlp:6,10,7,1');
const job = {
  spec,
  theta: initParameters(spec, 5),
  data: randomDataset(spec, 48, 5),
  defects: [parseDefect('W2:scale:1.5'), parseDefect('b1:flip')],
};

/** The engine seen from outside: costs only, no kink counts, as a subject is. */
class Opaque implements Estimator {
  readonly knowsKinks = false;
  readonly subject = true;
  readonly precision = { precision: 'unknown', source: 'unknown' } as const;
  constructor(private readonly inner: EngineEstimator) {}
  get groups() {
    return this.inner.groups;
  }
  get theta0() {
    return this.inner.theta0;
  }
  get evaluations() {
    return this.inner.evaluations;
  }
  gradient = () => this.inner.gradient();
  cost0 = () => this.inner.cost0();
  async entryCosts(set: EntrySet, offsets: readonly number[], on?: OnCosts): Promise<CostBatch> {
    const b = await this.inner.entryCosts(set, offsets, on && ((n, p) => on(n, { ...p, kinks: null })));
    return { costs: b.costs, kinks: null };
  }
  async directionCosts(
    d: readonly DirectionRef[],
    seed: number,
    offsets: readonly number[],
    on?: OnCosts,
  ): Promise<CostBatch> {
    const b = await this.inner.directionCosts(d, seed, offsets, on && ((n, p) => on(n, { ...p, kinks: null })));
    return { costs: b.costs, kinks: null };
  }
  close = () => this.inner.close();
}

const strip = <T extends { evaluations: number }>(r: T): Omit<T, 'evaluations'> => {
  const { evaluations: _e, ...rest } = r;
  return rest;
};

describe('a sweep in shards merges into the single-machine run', () => {
  it('cuts the vector into contiguous ranges that cover it once, the same way every time', () => {
    const groups = new EngineEstimator(job).groups;
    const n = groups.reduce((s, g) => s + g.size, 0);
    for (const N of [1, 2, 3, 7, n]) {
      const ranges = Array.from({ length: N }, (_, k) => shardRange(groups, k, N));
      expect(ranges[0]!.start).toBe(0);
      expect(ranges.at(-1)!.end).toBe(n);
      ranges.slice(1).forEach((r, k) => expect(r.start).toBe(ranges[k]!.end));
      expect(ranges.map((r, k) => shardRange(groups, k, N))).toEqual(ranges);
    }
    expect(() => shardRange(groups, 3, 3)).toThrow(/K must be a whole number from 0 to 2/);
  });

  it("balances the engine's cost, not its entry count: a lower layer's entries cost more", () => {
    const est = new EngineEstimator(job);
    const costs = est.groupCosts!;
    expect(costs[0]).toBeGreaterThan(costs[costs.length - 1]!);
    const cost = (r: { start: number; end: number }): number => {
      let c = 0;
      for (let i = r.start; i < r.end; i++)
        c += costs[est.groups.findIndex((g) => i >= g.offset && i < g.offset + g.size)]!;
      return c;
    };
    const total = cost({ start: 0, end: est.theta0.length });
    for (let k = 0; k < 4; k++)
      expect(Math.abs(cost(shardRange(est.groups, k, 4, costs)) - total / 4)).toBeLessThanOrEqual(Math.max(...costs));
    // With every entry alike (a subject), the cut is by count.
    expect(shardRange(est.groups, 0, 2).end).toBe(Math.ceil(est.theta0.length / 2));
  });

  for (const kind of ['engine', 'subject'] as const) {
    for (const N of [1, 3, 7]) {
      it(`${kind}: ${N} shard${N === 1 ? '' : 's'} give the same verdict, groups, diagnosis and evidence bit for bit`, async () => {
        const make = (): Estimator =>
          kind === 'engine' ? new EngineEstimator(job) : new Opaque(new EngineEstimator(job));
        const single = await runGradientCheck(make(), SETTINGS, kind === 'engine' ? builtinHooks(job) : {});
        const shards = await Promise.all(Array.from({ length: N }, (_, k) => runShard(make(), SETTINGS, k, N)));
        const est = make();
        const merged = await mergeShards(
          est.groups,
          est.theta0,
          SETTINGS,
          est.knowsKinks,
          shards,
          kind === 'engine' ? builtinHooks(job) : {},
        );
        expect(strip(merged.result)).toEqual(strip(single.result));
        expect(merged.result.difference).toBe(single.result.difference);
        expect(
          Buffer.from(merged.evidence.numerical.buffer).equals(Buffer.from(single.evidence.numerical.buffer)),
        ).toBe(true);
        expect(Array.from(merged.evidence.kinks)).toEqual(Array.from(single.evidence.kinks));
        expect(single.result.verdict).toBe('fail');
      });
    }
  }

  it('refuses a missing shard, a duplicated one, and a shard of another job', async () => {
    const est = new EngineEstimator(job);
    const shards = await Promise.all([0, 1, 2].map((k) => runShard(new EngineEstimator(job), SETTINGS, k, 3)));
    const merge = (s: typeof shards) => mergeShards(est.groups, est.theta0, SETTINGS, true, s);
    await expect(merge([shards[0]!, shards[2]!])).rejects.toThrow(/are in no shard: a shard is missing/);
    await expect(merge([...shards, shards[1]!])).rejects.toThrow(/in two shards/);
    const other = await runShard(new EngineEstimator({ ...job, defects: [] }), SETTINGS, 1, 3);
    await expect(merge([shards[0]!, other, shards[2]!])).rejects.toThrow(/another gradient/);
    const otherStep = await runShard(new EngineEstimator(job), { ...SETTINGS, epsilon: 2e-7 }, 1, 3);
    await expect(merge([shards[0]!, otherStep, shards[2]!])).rejects.toThrow(/another plan/);
  });
});
