import { describe, expect, it } from 'vitest';
import {
  fmtDifference,
  fmtEpsilon,
  fmtFactor,
  fmtLogTick,
  fmtPercent,
  fmtShortHash,
  fmtThreshold,
  fmtUtc,
} from '../../app/core/report/numbers.js';

describe('one format per quantity', () => {
  it('a difference has 4 significant digits, plain between 1e-3 and 1e3', () => {
    expect(fmtDifference(0.28509315677616237)).toBe('0.2851');
    expect(fmtDifference(1.1890913025888268e-7)).toBe('1.189e-7');
    expect(fmtDifference(null)).toBe('—');
    expect(fmtDifference(0)).toBe('0');
  });

  it('settings read as typed: ε and threshold with as few digits as they need', () => {
    expect(fmtEpsilon(1e-7)).toBe('1e-7');
    expect(fmtEpsilon(2.5e-4)).toBe('2.5e-4');
    expect(fmtThreshold(2e-7)).toBe('2e-7');
    expect(fmtThreshold(0.001)).toBe('0.001');
  });

  it('a factor off 1 by 1e-6 is never ×1.000', () => {
    expect(fmtFactor(1.000001)).toMatch(/^1\.00000100?$/);
    expect(fmtFactor(2.0000001)).toBe('2.000');
    expect(fmtFactor(1.000001, 1e-3)).toBe('1.000');
  });

  it('log ticks read alike at every decade', () => {
    expect([-10, -3, -1, 0, 2].map(fmtLogTick)).toEqual(['1e-10', '1e-3', '1e-1', '1', '1e2']);
  });

  it('percentages, instants and hashes', () => {
    expect(fmtPercent(0.00065)).toBe('0.065%');
    expect(fmtPercent(0.312)).toBe('31.2%');
    expect(fmtPercent(6.5e-7)).toBe('6.5e-5%');
    expect(fmtUtc('2026-05-01T12:00:03.123Z')).toBe('2026-05-01 12:00:03 UTC');
    expect(fmtShortHash('0123456789abcdef0123')).toBe('0123456789ab…');
  });
});
