import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { golden, sameDigits } from '../helpers/golden.js';

/** The notebook's buggy case as GradProof computes it (numpy's own last digit varies with its BLAS). */
const GRADPROOF_BUGGY_DIFFERENCE = 0.28509315677616237;

const BENCH = path.join(ROOT, 'dist/app/node/bench/bench.js');
const ONE = path.join(ROOT, 'dist/app/node/bench/bench-one.js');
const PEER = path.join(ROOT, 'scripts/bench/numpy_peer.py');

function run(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the benchmark (npm run bench)', () => {
  it('the numpy peer and GradProof give the notebook difference on its own case', () => {
    const peer = run('python3', [PEER, '--notebook', '--buggy']);
    expect(peer.status).toBe(0);
    const p = JSON.parse(peer.stdout);
    // A peer's last digits depend on its BLAS and CPU: compared to 9 significant digits.
    expect(sameDigits(p.difference, golden.notebook.buggy.difference, 9)).toBe(true);
    expect(p.parameters).toBe(47);
    expect(p.seconds).toBeGreaterThan(0);
    for (const evaluation of ['incremental', 'full']) {
      const one = run(process.execPath, [
        ONE,
        JSON.stringify({
          model: 'builtin:notebook-fraud',
          data: 'builtin:notebook-case',
          seed: 1,
          evaluation,
          workers: 2,
        }),
      ]);
      expect(one.status).toBe(0);
      const g = JSON.parse(one.stdout);
      expect(g.entries).toBe(47);
      // GradProof's own arithmetic is the same on every machine, to the bit.
      expect(g.difference).toBe(GRADPROOF_BUGGY_DIFFERENCE);
      expect(sameDigits(g.difference, p.difference, 9)).toBe(true);
    }
  });

  it('prints the four-way table with ratios and checks agreement, one model, repeated runs', () => {
    const r = run(process.execPath, [BENCH, '--only', 'notebook', '--repeat', '2']);
    expect(r.status).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\| \([abcd]\)/.test(l));
    expect(rows.map((l) => l.slice(2, 5))).toEqual(['(a)', '(b)', '(c)', '(d)']);
    for (const row of rows) expect(row).toMatch(/\| 0\.2850931568 \|$/);
    expect(r.stdout).toMatch(/^runs \(s\): \(a\) [\d.]+, [\d.]+; \(c\) [\d.]+, [\d.]+; \(d\) [\d.]+, [\d.]+$/m);
    expect(r.stdout).toContain('All implementations agree on the difference.');
  });

  it('refuses unknown options with the usage', () => {
    const r = run(process.execPath, [BENCH, '--only', 'huge']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--only huge: no such model; choose one of notebook, fraud, wide\nUsage: npm run bench/);
  });
});
