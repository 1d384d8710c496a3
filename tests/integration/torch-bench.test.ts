import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const SECTION = path.join(ROOT, 'dist/app/node/bench/bench-torch.js');

describe("the benchmark's PyTorch section (npm run bench -- --only torch), on a small network", () => {
  it('prints the five ways side by side, each with its verdict, and checks that they agree', () => {
    const r = spawnSync(process.execPath, [SECTION, '--widths', '4,5,3,1', '--rows', '64', '--repeat', '2'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^## PyTorch: MLP 4→5→3→1 on 64 rows, float64, autograd's backward$/m);
    const rows = r.stdout.split('\n').filter((l) => /^\| \(i+v?\)|^\| \(v\)/.test(l));
    expect(rows.map((l) => l.split(' ')[1])).toEqual(['(i)', '(ii)', '(iii)', '(iv)', '(v)']);
    for (const row of rows) expect(row.split(' | ')[3]).toBe('pass');
    // GradProof's rows carry its difference and evaluation count; gradcheck's, its own time.
    expect(rows[0]).toMatch(/\| pass \| \d\.\d{3}e-\d+ \| \d+ \|/);
    expect(rows[2]).toMatch(/gradcheck itself [\d.]+ s/);
    expect(r.stdout).toMatch(/^runs \(s\): \(i\) [\d.]+, [\d.]+; \(iv\) [\d.]+, [\d.]+; \(v\) [\d.]+, [\d.]+$/m);
    expect(r.stdout).toMatch(/^\(i\) against the generic serve\(\): [\d.]+× \(target 5×\)/m);
    expect(r.stdout).toContain('agreement: all five say pass');
  }, 300_000);
});
