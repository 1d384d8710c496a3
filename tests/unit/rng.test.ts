import { describe, expect, it } from 'vitest';
import { RandomState } from '../../app/core/rng/random-state.js';
import { MT19937 } from '../../app/core/rng/mt19937.js';
import { golden } from '../helpers/golden.js';

const ulp = (x: number): number => 2 ** (Math.floor(Math.log2(Math.abs(x))) - 52);

describe('RandomState matches numpy bit for bit', () => {
  for (const c of golden.rng) {
    it(`seed ${JSON.stringify(c.seed)}: rand, randn (with the cached deviate), rand again`, () => {
      const rs = new RandomState(c.seed);
      expect(Array.from(rs.rand(1, c.rand.length).data)).toEqual(c.rand);
      const draws = Array.from(rs.randn(1, c.randn.length).data);
      // Bit-for-bit, except where the C library's own log misrounded (listed by the
      // golden script, checked there against a 60-digit log): there one ulp of log
      // moves the deviate by at most two ulps after the division, square root and product.
      const exact = draws.filter((_, i) => !c.libm_misrounded.includes(i));
      expect(exact).toEqual(c.randn.filter((_, i) => !c.libm_misrounded.includes(i)));
      for (const i of c.libm_misrounded)
        expect(Math.abs(draws[i]! - c.randn[i]!)).toBeLessThanOrEqual(2 * ulp(c.randn[i]!));
      expect(c.libm_misrounded.length).toBeLessThan(8);
      // An odd randn count leaves a cached deviate that rand must not disturb.
      expect(Array.from(rs.rand(1, c.rand_after.length).data)).toEqual(c.rand_after);
    });
  }

  it('reseeding resets the cached gaussian', () => {
    const rs = new RandomState(1);
    const first = rs.standardNormal();
    rs.seed(1);
    expect(rs.standardNormal()).toBe(first);
  });

  it('refuses seeds numpy refuses', () => {
    expect(() => new RandomState(-1)).toThrow(/between 0 and 2\*\*32 - 1/);
    expect(() => new RandomState(2 ** 32)).toThrow(/between 0 and 2\*\*32 - 1/);
    expect(() => new RandomState(1.5)).toThrow();
  });

  it('MT19937 reference output for the default seed 5489', () => {
    // First output of mt19937 seeded with 5489 (the C++ std::mt19937 default): 3499211612.
    const mt = new MT19937();
    mt.seed(5489);
    expect(mt.nextUint32()).toBe(3499211612);
  });
});
