import { describe, expect, it } from 'vitest';
import type { GroupReport } from '../../app/core/check/result.js';
import { type ComparableRun, compareRuns } from '../../app/core/report/compare-runs.js';

const run = (id: string, startedAt: string, verdict: 'pass' | 'fail', b1: number, impl = 'a'): ComparableRun => ({
  id,
  startedAt,
  status: 'completed',
  verdict,
  difference: b1,
  settings: { epsilon: 1e-7 },
  provenance: {
    model: { name: 'm', sha256: 'M' },
    weights: { source: 'w', sha256: 'W' },
    dataset: { ref: 'd', sha256: 'D' },
    implementation: { ref: 'i', sha256: impl },
  },
  environment: { node: '20' },
  result: {
    groups: [
      { name: 'W1', difference: 1e-9, verdict: 'pass' } as GroupReport,
      { name: 'b1', difference: b1, verdict } as GroupReport,
    ],
  },
});

describe('compareRuns', () => {
  const buggy = run('run-old', '2026-01-01T00:00:00Z', 'fail', 0.6, 'buggy');
  const fixed = run('run-new', '2026-01-02T00:00:00Z', 'pass', 1e-8, 'fixed');

  it('reads from the oldest run by default, whatever order the runs are given in', () => {
    for (const order of [
      [buggy, fixed],
      [fixed, buggy],
    ]) {
      const c = compareRuns(order);
      expect(c.runs).toEqual(['run-old', 'run-new']);
      expect(c.baseline).toBe('run-old');
      expect(c.headline).toBe('Fixed: fail → pass');
      expect(c.verdictChange).toBe('fail → pass');
    }
  });

  it('a chosen baseline turns the reading around', () => {
    const c = compareRuns([buggy, fixed], { baseline: 'run-new' });
    expect(c.runs).toEqual(['run-new', 'run-old']);
    expect(c.headline).toBe('Regressed: pass → fail');
    expect(() => compareRuns([buggy, fixed], { baseline: 'run-x' })).toThrow(/not among the runs/);
  });

  it('marks what differs, but never the start time, and shows the difference in its one format', () => {
    const c = compareRuns([buggy, fixed]);
    const f = Object.fromEntries(c.fields.map((x) => [x.field, x]));
    expect(f['implementation sha256']!.differs).toBe(true);
    expect(f['model sha256']!.differs).toBe(false);
    expect(f.started!.differs).toBe(false);
    expect(f.difference!.values).toEqual(['0.6', '1.000e-8']);
    expect(c.groups.find((g) => g.name === 'b1')!.changed).toBe(true);
    expect(c.groups.find((g) => g.name === 'W1')!.changed).toBe(false);
    expect(c.groups.every((g) => !g.missing)).toBe(true);
  });

  it('a group only some runs have is marked missing, not changed', () => {
    const other = run('run-other', '2026-01-03T00:00:00Z', 'pass', 1e-8);
    other.result = { groups: [{ name: 'W1', difference: 1e-9, verdict: 'pass' } as GroupReport] };
    const c = compareRuns([fixed, other]);
    const b1 = c.groups.find((g) => g.name === 'b1')!;
    expect([b1.changed, b1.missing]).toEqual([false, true]);
  });

  it('several candidates are counted by how they moved', () => {
    const third = run('run-3', '2026-01-03T00:00:00Z', 'fail', 0.5);
    const c = compareRuns([fixed, third, buggy]);
    expect(c.changes.map((x) => [x.run, x.move])).toEqual([
      ['run-new', 'fixed'],
      ['run-3', 'unchanged'],
    ]);
    expect(c.headline).toBe('Against the baseline (fail): 1 fixed, 1 unchanged');
  });
});
