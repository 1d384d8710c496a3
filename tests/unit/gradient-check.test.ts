import { describe, expect, it } from 'vitest';
import { NOTEBOOK_FRAUD_SPEC, notebookCase } from '../../app/core/builtins/notebook.js';
import { initParameters, parseMlpSpec, randomDataset } from '../../app/core/builtins/synthetic.js';
import { checkEngine } from '../helpers/check.js';
import { checkOneD } from '../../app/core/check/one-d.js';
import { NOTEBOOK_BUGS, parseDefect } from '../../app/core/model/defects.js';
import { golden, sameDigits } from '../helpers/golden.js';

const job = (defects = NOTEBOOK_BUGS) => ({ spec: NOTEBOOK_FRAUD_SPEC, ...notebookCase(), defects });

describe("the notebook's gradient check", () => {
  for (const mode of ['full', 'incremental'] as const) {
    it(`buggy backward: difference 0.285093156781 and fail (${mode})`, async () => {
      const r = await checkEngine(job(), {}, mode);
      expect(r.verdict).toBe('fail');
      expect(sameDigits(r.difference, 0.285093156781, 9)).toBe(true);
      // Same floating-point operations as numpy's notebook: agreement far past 9 digits.
      expect(Math.abs(r.difference - golden.notebook.buggy.difference)).toBeLessThan(1e-14);
      expect(r.parameters).toBe(47);
    });

    it(`fixed backward passes below 2e-7 (${mode})`, async () => {
      const r = await checkEngine(job([]), {}, mode);
      expect(r.verdict).toBe('pass');
      expect(r.difference).toBeLessThan(2e-7);
      expect(Math.abs(r.difference - golden.notebook.fixed.difference)).toBeLessThan(1e-12);
    });
  }

  it('per-group differences put W2 and b1 far above every other group, diagnosed ×2 and ×4', async () => {
    const r = await checkEngine(job());
    const d = Object.fromEntries(r.groups.map((g) => [g.name, g]));
    for (const other of ['W1', 'b2', 'W3', 'b3']) {
      expect(d[other]!.difference).toBeLessThan(1e-6);
      expect(d[other]!.verdict).toBe('pass');
      expect(d.W2!.difference).toBeGreaterThan(1e4 * d[other]!.difference);
      expect(d.b1!.difference).toBeGreaterThan(1e4 * d[other]!.difference);
    }
    expect(d.W2!.verdict).toBe('fail');
    expect(d.b1!.verdict).toBe('fail');
    expect(d.W2!.diagnosis).toMatchObject({ kind: 'scale' });
    expect(d.W2!.diagnosis!.factor!.toFixed(3)).toBe('2.000');
    expect(d.b1!.diagnosis!.factor!.toFixed(3)).toBe('4.000');
    expect(r.worst[0]!.name).toBe('b1[0,0]');
  });

  it('the 1-D case: J = 8, dθ = 2, difference ≈ 2.919e-10, pass', async () => {
    const r = checkOneD(2, 4);
    expect(r.J).toBe(8);
    expect(r.dtheta).toBe(2);
    expect(r.difference).toBeCloseTo(2.9193358103083e-10, 15);
    expect(sameDigits(r.difference, 2.919335883291695e-10, 12)).toBe(true);
    expect(r.verdict).toBe('pass');
    expect(checkOneD(2, 4, 1e-7, 1e-12).verdict).toBe('fail');
  });

  it('a single flipped bias fails even when the global difference passes', async () => {
    // 33,153 parameters; the output bias is one of them. Globally its error is diluted
    // to ~0.05, under a lenient threshold of 0.1; judged on its own it is 1.0.
    const spec = parseMlpSpec('mlp:30,128,128,1');
    const theta = initParameters(spec, 1);
    const data = randomDataset(spec, 128, 1);
    const r = await checkEngine(
      { spec, theta, data, defects: [parseDefect('b3:flip')] },
      { epsilon: 1e-6, threshold: 0.1 },
    );
    expect(r.difference).toBeLessThan(0.1);
    const b3 = r.groups.find((g) => g.name === 'b3')!;
    expect(b3.size).toBe(1);
    expect(b3.difference).toBeCloseTo(1, 6);
    expect(b3.verdict).toBe('fail');
    expect(b3.diagnosis!.kind).toBe('sign-flip');
    expect(r.groups.filter((g) => g.verdict === 'fail').map((g) => g.name)).toEqual(['b3']);
    expect(r.verdict).toBe('fail');
  });
});
