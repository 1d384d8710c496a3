import { describe, expect, it } from 'vitest';
import { correctlyRoundedLog } from '../../app/core/rng/correctly-rounded-log.js';

describe('correctlyRoundedLog', () => {
  it('agrees with known correctly rounded values', () => {
    // 60-digit references rounded to double (Python's decimal): see scripts/make-golden.py.
    expect(correctlyRoundedLog(0.68846618569303164)).toBe(-0.37328907502890574);
    expect(correctlyRoundedLog(0.4584947183793)).toBe(-0.7798065066991849);
    expect(correctlyRoundedLog(1)).toBe(0);
    expect(correctlyRoundedLog(2)).toBe(Math.LN2);
    expect(correctlyRoundedLog(Math.E)).toBe(1);
  });
  it('is within one ulp of Math.log everywhere it is sampled', () => {
    for (let i = 1; i < 20000; i++) {
      const x = (i / 20000) ** 3 * 7.3 + 1e-300 * i;
      const a = correctlyRoundedLog(x);
      const b = Math.log(x);
      expect(Math.abs(a - b)).toBeLessThanOrEqual(Math.abs(b) * 2.3e-16 + 1e-320);
    }
  });
  it('handles the edges', () => {
    expect(correctlyRoundedLog(0)).toBe(-Infinity);
    expect(correctlyRoundedLog(-1)).toBeNaN();
    expect(correctlyRoundedLog(5e-324)).toBeCloseTo(-744.4400719213812, 12);
    expect(correctlyRoundedLog(1.7976931348623157e308)).toBeCloseTo(709.782712893384, 12);
  });
});
