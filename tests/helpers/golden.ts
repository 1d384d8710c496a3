import { readFileSync } from 'node:fs';

export interface Golden {
  numpy: string;
  rng: { seed: number | number[]; rand: number[]; randn: number[]; rand_after: number[]; libm_misrounded: number[] }[];
  notebook: {
    X: number[][];
    theta: number[];
    cost: number;
    Z1: number[][];
    A3: number[][];
    buggy: { grad: number[]; gradapprox: number[]; difference: number };
    fixed: { grad: number[]; gradapprox: number[]; difference: number };
  };
}

/** Made by scripts/make-golden.py with numpy; see that script. */
export const golden: Golden = JSON.parse(readFileSync(new URL('../fixtures/golden.json', import.meta.url), 'utf8'));

/** Equal to about `digits` significant digits (a relative tolerance, so no rounding boundary can split them). */
export function sameDigits(a: number, b: number, digits: number): boolean {
  return Math.abs(a - b) <= 5 * 10 ** -digits * Math.max(Math.abs(a), Math.abs(b));
}
