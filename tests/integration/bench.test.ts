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
    // Whole-process and in-run ratios; the peer at its best, with the thread counts tried, stated.
    expect(r.stdout).toMatch(/\| × numpy in-run \| × numpy whole process \| difference \|/);
    expect(r.stdout).toMatch(
      /^numpy at its best: glibc allocator tuned \(MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=268435456\); BLAS threads \(OPENBLAS_NUM_THREADS, OMP_NUM_THREADS\) tried in this run: 1 → [\d.]+ s(, \d+ → [\d.]+ s)?; the fastest, \d+, is row \(a\)$/m,
    );
  });

  it('times fast against full mode through the check pipeline, side by side, with the ratio', () => {
    const r = run(process.execPath, [
      BENCH,
      '--only',
      'fast-full',
      '--check-model',
      'mlp:10,24,12,1',
      '--check-data',
      'random:96',
      '--repeat',
      '1',
    ]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(
      '## fast vs full mode: mlp:10,24,12,1 on random:96, through the check pipeline (runCheck)',
    );
    const rows = r.stdout.split('\n').filter((l) => /^\| (full|fast) \|/.test(l));
    expect(rows.map((l) => l.split(' | ')[0])).toEqual(['| full', '| fast']);
    for (const row of rows) expect(row.split(' | ')[1]).toBe('pass');
    // Full mode judges every group entry by entry; fast mode along random directions.
    expect(rows[0]).not.toContain('(directions)');
    expect(rows[1]).toContain('W1 pass (directions)');
    expect(r.stdout).toMatch(/^fast is [\d.]+× faster than full in-run, [\d.]+× for the whole process/m);
    expect(r.stdout).toContain('agreement: both say pass');
  });

  it('refuses unknown options with the usage', () => {
    const r = run(process.execPath, [BENCH, '--only', 'huge']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /--only huge: no such model; choose one of notebook, fraud, wide, fast-full, torch\nUsage: npm run bench/,
    );
  });
});
