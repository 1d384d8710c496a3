import { describe, expect, it } from 'vitest';
import { NOTEBOOK_FRAUD_SPEC, notebookCase } from '../../app/core/builtins/notebook.js';
import { initParameters, parseMlpSpec, randomDataset } from '../../app/core/builtins/synthetic.js';
import { missProbability, thresholdTolerance } from '../../app/core/check/directions.js';
import type { CheckSettings } from '../../app/core/check/orchestrator.js';
import { checkEngine } from '../helpers/check.js';
import { NOTEBOOK_BUGS, parseDefect } from '../../app/core/model/defects.js';
import { Network } from '../../app/core/model/network.js';

const spec = parseMlpSpec('mlp:6,8,5,1');
const theta = initParameters(spec, 4);
const data = randomDataset(spec, 40, 4);
const check = (defect: string, extra: Partial<CheckSettings> = {}) =>
  checkEngine({ spec, theta, data, defects: defect ? [parseDefect(defect)] : [] }, extra);

describe('diagnosis: each injected defect is found and named for what it is', () => {
  const cases: [string, string, string[], Record<string, unknown>][] = [
    ['W2:scale:3', 'scale', ['W2'], { factor: 3 }],
    ['b2:scale:0.5', 'scale', ['b2'], { factor: 0.5 }],
    ['W1:flip', 'sign-flip', ['W1'], { factor: -1 }],
    ['b3:zero', 'zero', ['b3'], {}],
    ['W2:transpose', 'transposed', ['W2'], {}],
    ['layer1:drop-derivative', 'missing-activation-derivative', ['W1', 'b1'], { layer: 1 }],
    ['layer2:drop-derivative', 'missing-activation-derivative', ['W1', 'b1', 'W2', 'b2'], { layer: 2 }],
  ];
  for (const [defect, kind, groups, evidence] of cases) {
    it(`${defect} → ${kind} on ${groups.join(', ')}`, async () => {
      const r = await check(defect);
      expect(r.verdict).toBe('fail');
      const failing = r.groups.filter((g) => g.verdict === 'fail');
      expect(failing.map((g) => g.name)).toEqual(groups);
      for (const g of failing) {
        expect(g.diagnosis!.kind).toBe(kind);
        for (const [k, v] of Object.entries(evidence)) {
          if (typeof v === 'number' && k === 'factor') expect(g.diagnosis!.factor!).toBeCloseTo(v, 3);
          else expect((g.diagnosis as unknown as Record<string, unknown>)[k]).toBe(v);
        }
        expect(typeof g.diagnosis!.correlation).toBe('number');
        expect(typeof g.diagnosis!.residual).toBe('number');
      }
      for (const g of r.groups.filter((x) => !groups.includes(x.name))) expect(g.verdict).toBe('pass');
    });
  }

  it('the correct network passes with no diagnosis', async () => {
    const r = await check('');
    expect(r.verdict).toBe('pass');
    expect(r.groups.every((g) => !g.diagnosis)).toBe(true);
  });

  it('worst entries are named by group and index with analytic, numerical and both errors', async () => {
    const r = await check('W2:scale:3');
    const w = r.worst[0]!;
    expect(w.name).toMatch(/^W2\[\d,\d\]$/);
    expect(w.absError).toBeCloseTo(Math.abs(w.analytic - w.numerical), 12);
    expect(w.relError).toBeCloseTo(0.5, 3); // |3x − x| / (3|x| + |x|)
  });
});

describe('kink awareness', () => {
  it('a correct ReLU network within ε of a kink: those entries are named, re-estimated at a smaller step, and it passes', async () => {
    const c = notebookCase();
    const net = new Network(NOTEBOOK_FRAUD_SPEC);
    const z1 = net.forward(c.theta, c.data).Z[1]!;
    // Move b1[1] so that unit 1's pre-activation for example 2 sits 3e-8 below zero.
    const theta = c.theta.slice();
    theta[21] = theta[21]! - z1.get(1, 2) - 3e-8;
    const r = await checkEngine({ spec: NOTEBOOK_FRAUD_SPEC, theta, data: c.data, defects: [] });
    expect(r.verdict).toBe('pass');
    const kinked = r.inconclusive.examples;
    expect(kinked.map((e) => e.name)).toContain('b1[1,0]');
    expect(kinked.every((e) => /^(W1\[1,\d\]|b1\[1,0\])$/.test(e.name))).toBe(true);
    // At ε/10 the step no longer reaches the kink: judged there, not left aside.
    expect(kinked.every((e) => e.status === 'kink-resolved' && e.epsilon === 1e-8)).toBe(true);
    expect(r.inconclusive.entries).toBe(0);
    expect(r.findings.join(' ')).toMatch(/crossed a kink at ε.*re-estimated at a smaller step/);
  });

  it('a pre-activation exactly at the kink: backward returns the one-sided derivative, and the group passes', async () => {
    const c = notebookCase();
    const net = new Network(NOTEBOOK_FRAUD_SPEC);
    const z1 = net.forward(c.theta, c.data).Z[1]!;
    const theta = c.theta.slice();
    theta[21] = theta[21]! - z1.get(1, 2); // Z1[1,2] = 0 to the last bit
    const z = net.forward(theta, c.data).Z[1]!.get(1, 2);
    const r = await checkEngine({ spec: NOTEBOOK_FRAUD_SPEC, theta, data: c.data, defects: [] });
    if (z === 0) {
      const b1 = r.inconclusive.examples.find((e) => e.name === 'b1[1,0]')!;
      expect(b1.status).toBe('kink-subgradient');
      expect(Math.abs(b1.analytic - b1.oneSided!.left)).toBeLessThan(1e-6 * Math.abs(b1.analytic) + 1e-9);
    }
    expect(r.verdict).toBe('pass');
  });

  it('a wrong factor at a kink is no subgradient: the group fails or is inconclusive, never passes', async () => {
    const c = notebookCase();
    const net = new Network(NOTEBOOK_FRAUD_SPEC);
    const z1 = net.forward(c.theta, c.data).Z[1]!;
    const theta = c.theta.slice();
    theta[21] = theta[21]! - z1.get(1, 2);
    const r = await checkEngine({
      spec: NOTEBOOK_FRAUD_SPEC,
      theta,
      data: c.data,
      defects: [parseDefect('b1:scale:1.5')],
    });
    expect(r.groups.find((g) => g.name === 'b1')!.verdict).toBe('fail');
  });

  it('the same network with a real bug still fails: kinks never hide a bug', async () => {
    const c = notebookCase();
    const net = new Network(NOTEBOOK_FRAUD_SPEC);
    const z1 = net.forward(c.theta, c.data).Z[1]!;
    const theta = c.theta.slice();
    theta[21] = theta[21]! - z1.get(1, 2) - 3e-8;
    const r = await checkEngine({ spec: NOTEBOOK_FRAUD_SPEC, theta, data: c.data, defects: NOTEBOOK_BUGS });
    expect(r.verdict).toBe('fail');
  });
});

describe('schemes and the ε sweep', () => {
  const smooth = {
    spec: parseMlpSpec('mlp:4,6,1'),
    theta: initParameters(parseMlpSpec('mlp:4,6,1'), 1),
    data: randomDataset(parseMlpSpec('mlp:4,6,1'), 20, 1),
    defects: [],
  };
  for (const [scheme, expected] of [
    ['central', 2],
    ['forward', 1],
    ['five-point', 4],
  ] as const) {
    it(`${scheme}: a correct network's difference falls with slope ≈ ${expected}, then a round-off floor`, async () => {
      const r = await checkEngine(smooth, { scheme, epsilonSweep: true });
      expect(r.verdict).toBe('pass');
      const sw = r.epsilonSweep!;
      expect(sw.points.map((p) => p.epsilon)).toEqual([1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]);
      expect(sw.flat).toBe(false);
      expect(sw.slope!).toBeGreaterThan(expected * 0.85);
      expect(sw.slope!).toBeLessThan(expected * 1.15);
      expect(sw.floor).toBeLessThan(1e-7);
      expect(sw.recommendedEpsilon).toBeGreaterThan(1e-9);
      expect(sw.recommendedEpsilon).toBeLessThan(1e-2);
    });
  }

  it("the notebook's buggy backward is a flat line: named a real bug", async () => {
    const r = await checkEngine(
      { spec: NOTEBOOK_FRAUD_SPEC, ...notebookCase(), defects: NOTEBOOK_BUGS },
      { epsilonSweep: true },
    );
    const sw = r.epsilonSweep!;
    expect(sw.flat).toBe(true);
    expect(sw.summary).toMatch(/real bug/);
    for (const p of sw.points.slice(1)) expect(p.smoothDifference).toBeCloseTo(0.2851, 3);
  });
});

describe('fast mode', () => {
  it("catches the notebook's bugs along random directions and sweeps only W2 and b1 entry by entry", async () => {
    const r = await checkEngine(
      { spec: NOTEBOOK_FRAUD_SPEC, ...notebookCase(), defects: NOTEBOOK_BUGS },
      { mode: 'fast', directions: 4 },
    );
    expect(r.mode).toBe('fast');
    expect(r.verdict).toBe('fail');
    expect(r.fast!.escalated.sort()).toEqual(['W2', 'b1']);
    const byName = Object.fromEntries(r.groups.map((g) => [g.name, g]));
    expect(byName.W2!.method).toBe('entries');
    expect(byName.W2!.diagnosis!.factor!.toFixed(3)).toBe('2.000');
    expect(byName.b1!.diagnosis!.factor!.toFixed(3)).toBe('4.000');
    expect(byName.W1!.method).toBe('directions');
    expect(byName.W1!.verdict).toBe('pass');
    expect(r.fast!.tests).toHaveLength(6 * 4);
    expect(r.fast!.missProbability).toBeLessThan(1e-6);
  });

  it('passes a correct network in far fewer evaluations than a full sweep', async () => {
    const big = parseMlpSpec('mlp:20,40,20,1');
    const job = { spec: big, theta: initParameters(big, 2), data: randomDataset(big, 64, 2), defects: [] };
    const r = await checkEngine(job, { mode: 'fast', directions: 3 });
    expect(r.verdict).toBe('pass');
    expect(r.evaluations).toBeLessThan(0.1 * 2 * r.parameters);
    expect(r.fast!.escalated).toEqual([]);
  });

  it('a single flipped bias is caught in fast mode too', async () => {
    const r = await check('b3:flip', { mode: 'fast' });
    expect(r.verdict).toBe('fail');
    expect(r.fast!.escalated).toEqual(['b3']);
    expect(r.groups.find((g) => g.name === 'b3')!.diagnosis!.kind).toBe('sign-flip');
  });

  it('states the chance of missing an error: smaller with more directions and larger errors', () => {
    const miss = (k: number, rho: number): number => missProbability(k, thresholdTolerance(2e-7, 1, k), rho, 1);
    const p4 = miss(4, 1e-3);
    expect(p4).toBeGreaterThan(0);
    expect(p4).toBeLessThan(1e-10);
    expect(miss(8, 1e-3)).toBeLessThan(p4);
    expect(miss(4, 1e-5)).toBeGreaterThan(p4);
    // an error the size of the threshold is hard to see along few directions
    expect(miss(1, 2e-7)).toBeGreaterThan(0.5);
  });
});
