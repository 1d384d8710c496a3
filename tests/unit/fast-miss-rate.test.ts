import { describe, expect, it } from 'vitest';
import { directionVector, missProbability } from '../../app/core/check/directions.js';
import type { CostBatch, DirectionRef, EntrySet, Estimator } from '../../app/core/check/estimator.js';
import { entryAt, entryCount } from '../../app/core/check/estimator.js';
import { runGradientCheck } from '../../app/core/check/orchestrator.js';
import type { ParamGroup } from '../../app/core/model/spec.js';
import { RandomState } from '../../app/core/rng/random-state.js';
import { SETTINGS } from '../helpers/check.js';

/**
 * Fast mode states the chance that an error of a given relative size goes unnoticed. The
 * experiment: a cost whose finite differences are exact (a quadratic), a backward with an
 * error planted in one group at that size, and fast mode run with hundreds of direction seeds;
 * the share of runs in which the group still passes must match the stated probability.
 */
const SIZES = [20, 24, 12];
const groups: ParamGroup[] = [];
let offset = 0;
SIZES.forEach((size, i) => {
  groups.push({ name: `G${i}`, shape: [size], rows: size, cols: 1, offset, size, layer: i + 1, kind: 'weight' });
  offset += size;
});
const n = offset;
const rs = new RandomState(7);
const M = Array.from({ length: n * n }, () => rs.standardNormal() / Math.sqrt(n));
const A = new Float64Array(n * n); // symmetric positive definite
for (let i = 0; i < n; i++)
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += M[i * n + k]! * M[j * n + k]!;
    A[i * n + j] = s + (i === j ? 1 : 0);
  }
const b = Float64Array.from({ length: n }, () => rs.standardNormal());
const theta0 = Float64Array.from({ length: n }, () => rs.standardNormal());
const J = (t: Float64Array): number => {
  let s = 0;
  for (let i = 0; i < n; i++) {
    let ai = 0;
    for (let j = 0; j < n; j++) ai += A[i * n + j]! * t[j]!;
    s += 0.5 * t[i]! * ai + b[i]! * t[i]!;
  }
  return s;
};
const trueGrad = Float64Array.from({ length: n }, (_, i) => {
  let s = b[i]!;
  for (let j = 0; j < n; j++) s += A[i * n + j]! * theta0[j]!;
  return s;
});

class Quadratic implements Estimator {
  readonly groups = groups;
  readonly theta0 = theta0;
  readonly precision = { precision: 'float64', source: 'engine' } as const;
  readonly knowsKinks = true;
  readonly subject = false;
  evaluations = 0;
  constructor(private readonly g: Float64Array) {}
  async gradient(): Promise<Float64Array> {
    return this.g;
  }
  async cost0(): Promise<number> {
    return J(theta0);
  }
  async entryCosts(set: EntrySet, offsets: readonly number[]): Promise<CostBatch> {
    const out = new Float64Array(entryCount(set) * offsets.length);
    for (let k = 0; k < entryCount(set); k++)
      offsets.forEach((d, j) => {
        const t = theta0.slice();
        t[entryAt(set, k)] = t[entryAt(set, k)]! + d;
        out[k * offsets.length + j] = J(t);
      });
    this.evaluations += out.length;
    return { costs: out, kinks: new Uint32Array(out.length) };
  }
  async directionCosts(dirs: readonly DirectionRef[], seed: number, offsets: readonly number[]): Promise<CostBatch> {
    const out = new Float64Array(dirs.length * offsets.length);
    dirs.forEach((d, k) => {
      const u = directionVector(n, groups[d.group]!, d.group, seed, d.k, d.attempt);
      offsets.forEach((h, j) => (out[k * offsets.length + j] = J(Float64Array.from(theta0, (x, i) => x + h * u[i]!))));
    });
    this.evaluations += out.length;
    return { costs: out, kinks: new Uint32Array(out.length) };
  }
  async close(): Promise<void> {}
}

/** ∇J plus an error in group G1 of the given structure with ‖e‖ = ρ·‖g_G1‖ (g the backward's gradient). */
function planted(structure: 'dense' | 'single' | 'factor', rho: number): Float64Array {
  const g1 = groups[1]!;
  const t = trueGrad.subarray(g1.offset, g1.offset + g1.size);
  const r = new RandomState(11);
  const dir = new Float64Array(g1.size);
  if (structure === 'dense') for (let i = 0; i < g1.size; i++) dir[i] = r.standardNormal();
  if (structure === 'single') dir[3] = 1;
  if (structure === 'factor') dir.set(t);
  const nd = Math.hypot(...dir);
  for (let i = 0; i < g1.size; i++) dir[i]! /= nd;
  // c = ρ‖t + c·dir‖, solved for c > 0.
  const td = t.reduce((s, x, i) => s + x * dir[i]!, 0);
  const tt = t.reduce((s, x) => s + x * x, 0);
  const a = 1 - rho * rho;
  const c = (2 * rho * rho * td + Math.sqrt(4 * rho ** 4 * td * td + 4 * a * rho * rho * tt)) / (2 * a);
  const g = trueGrad.slice();
  for (let i = 0; i < g1.size; i++) g[g1.offset + i]! += c * dir[i]!;
  return g;
}

describe('fast mode: the stated chance of missing an error holds', () => {
  // A lenient threshold, so that an error of a few tenths of a per cent is missed often enough to count.
  const settings = { ...SETTINGS, mode: 'fast' as const, directions: 4, threshold: 4e-3, epsilon: 1e-4 };
  const RUNS = 300;
  for (const structure of ['dense', 'single', 'factor'] as const) {
    it(`${structure} error of relative size 1.2%: misses in ${RUNS} seeds match the stated probability`, async () => {
      const rho = 0.012;
      const g = planted(structure, rho);
      let misses = 0;
      let stated = 0;
      for (let seed = 1; seed <= RUNS; seed++) {
        const { result } = await runGradientCheck(new Quadratic(g), { ...settings, seed, detect: rho });
        const report = result.groups[1]!;
        const f = result.fast!.groups[1]!;
        const ng = Math.hypot(...g.subarray(groups[1]!.offset, groups[1]!.offset + groups[1]!.size));
        stated = missProbability(f.directions, f.tolerance, rho, ng);
        if (report.method === 'directions' && report.verdict === 'pass') misses++;
        // The groups without an error always pass.
        expect(result.groups[0]!.verdict).toBe('pass');
        expect(result.groups[2]!.verdict).toBe('pass');
      }
      const observed = misses / RUNS;
      const sd = Math.sqrt((stated * (1 - stated)) / RUNS);
      if (process.env.GRADPROOF_PRINT_MISS_RATE)
        process.stdout.write(
          `miss rate, ${structure}: observed ${observed.toFixed(3)}, stated ${stated.toFixed(3)} ± ${sd.toFixed(3)}\n`,
        );
      expect(stated).toBeGreaterThan(0.05);
      expect(stated).toBeLessThan(0.6);
      // Within four standard deviations of the stated probability, both ways: the bound is exact here.
      expect(Math.abs(observed - stated)).toBeLessThan(4 * sd);
    });
  }

  it('an error far above the stated size is never missed, and the miss probability says so', async () => {
    const g = planted('dense', 0.2);
    for (let seed = 1; seed <= 50; seed++) {
      const { result } = await runGradientCheck(new Quadratic(g), { ...settings, seed });
      expect(result.groups[1]!.verdict).toBe('fail');
      expect(result.fast!.escalated).toEqual(['G1']);
    }
  });
});
