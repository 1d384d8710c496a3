import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliJson } from '../helpers/cli.js';
import { sameDigits } from '../helpers/golden.js';

const NB = 'resources/examples/notebook';
const MIS = 'tests/fixtures/subjects/misbehaving.py';

function leftovers(marker: string): string[] {
  const r = spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' });
  return r.stdout.trim().split('\n').filter(Boolean);
}

describe("process subjects: the notebook's own functions, audited through the Python adapter", () => {
  for (const [file, backprop] of [
    ['notebook_buggy.py', 'notebook-buggy'],
    ['notebook_fixed.py', 'correct'],
  ] as const) {
    it(`${file} with 2 workers gives the built-in engine's verdict and difference (9 digits)`, () => {
      const subject = cliJson(['check', '--subject', `python3 ${NB}/${file}`, '--workers', '2']);
      const builtin = cliJson(['check', '--backprop', backprop, '--evaluation', 'full']);
      expect(subject.json.verdict).toBe(builtin.json.verdict);
      expect(subject.status).toBe(builtin.status);
      expect(sameDigits(subject.json.difference, builtin.json.difference, 9)).toBe(true);
      expect(subject.json.groups.map((g: any) => [g.name, g.size, g.verdict])).toEqual(
        builtin.json.groups.map((g: any) => [g.name, g.size, g.verdict]),
      );
      if (backprop === 'notebook-buggy') {
        expect(sameDigits(subject.json.difference, 0.285093156781, 9)).toBe(true);
        expect(subject.json.groups.find((g: any) => g.name === 'W2').diagnosis.factor).toBeCloseTo(2, 3);
      }
      expect(subject.json.provenance.implementation).toMatchObject({ kind: 'process' });
      expect(subject.json.provenance.implementation.sha256).toMatch(/^[0-9a-f]{64}$/);
    });
  }

  it('fast mode works on a process subject too', () => {
    const r = cliJson(['check', '--subject', `python3 ${NB}/notebook_buggy.py`, '--mode', 'fast']);
    expect(r.json.verdict).toBe('fail');
    expect(r.json.fast.escalated.sort()).toEqual(['W2', 'b1']);
  });
});

describe('a subject that misbehaves mid-sweep ends the run with a clear error and leaves nothing behind', () => {
  const cases: [string, RegExp][] = [
    ['exit', /exited with code 3 while computing costs/],
    ['hang', /did not answer "costs" within 2 s \(hung\?\); it was killed/],
    ['garbage', /wrote something that is not GradProof protocol JSON on stdout: "Traceback\? no: this is not JSON"/],
    ['nan', /returned NaN or Infinity for the cost at/],
    ['raise', /failed on "costs": RuntimeError: simulated failure inside cost\(\)/],
  ];
  for (const [mode, message] of cases) {
    it(`${mode}: exit 4 (no verdict), the subject named, within the timeout`, () => {
      const marker = `gp-marker-${mode}-${process.pid}`;
      const t0 = performance.now();
      const r = cli(['check', '--subject', `python3 ${MIS} ${mode} ${marker}`, '--timeout', '2', '--workers', '2']);
      // Liveness, not speed: a 2 s timeout must end the run long before this generous bound.
      expect(performance.now() - t0).toBeLessThan(60_000);
      expect(r.status).toBe(4);
      // A slow machine may print a progress line first; the error is a line of its own.
      expect(r.stderr).toMatch(
        /^gradproof: the check could not be run: subject "python3 tests\/fixtures\/subjects\/misbehaving\.py/m,
      );
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
      expect(leftovers(marker)).toEqual([]);
    });
  }

  it('the run is recorded as failed to execute, with the reason and no verdict', () => {
    const db = path.join(mkdtempSync(path.join(tmpdir(), 'gp-failrun-')), 'f.db');
    expect(
      cli(['--db', db, 'check', '--subject', `python3 ${MIS} exit gp-marker-record-${process.pid}`, '--timeout', '2'])
        .status,
    ).toBe(4);
    const runs = JSON.parse(cli(['--db', db, 'runs', 'list', '--json']).stdout);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'failed', verdict: null });
    const shown = JSON.parse(cli(['--db', db, 'runs', 'show', runs[0].id, '--json']).stdout);
    expect(shown.error).toMatch(/exited with code 3/);
    expect(shown.result).toBeNull();
  });

  it('a command that does not exist is a clear error too', () => {
    const r = cli(['check', '--subject', 'definitely-not-a-command-xyz', '--timeout', '5']);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/exited with code 127|not found/);
  });
});

describe('module subjects', () => {
  it('a JS module with its own backward passes; the same with a planted bug is diagnosed', () => {
    const ok = cliJson(['check', '--subject', 'module:resources/examples/js/tiny-mlp.mjs']);
    expect(ok.json.verdict).toBe('pass');
    const r = spawnSync(
      process.execPath,
      ['bin/gradproof.js', 'check', '--subject', 'module:resources/examples/js/tiny-mlp.mjs', '--json'],
      { encoding: 'utf8', env: { ...process.env, TINY_MLP_BUG: '1' } },
    );
    const bad = JSON.parse(r.stdout);
    expect(bad.verdict).toBe('fail');
    expect(bad.groups.find((g: any) => g.name === 'b1').diagnosis.factor).toBeCloseTo(0.5, 3);
  });

  it('a TypeScript module loads too', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gp-ts-'));
    const file = path.join(dir, 'quad.ts');
    execFileSync('sh', [
      '-c',
      `cat > ${file} <<'EOF'
export const parameters: Record<string, number[][]> = { W1: [[1.5, -2], [0.5, 3]] };
export function forward(p: Record<string, number[][]>): number {
  return p.W1!.flat().reduce((s, v) => s + v * v * v, 0);
}
export function backward(p: Record<string, number[][]>): Record<string, number[][]> {
  return { dW1: p.W1!.map((r) => r.map((v) => 3 * v * v)) };
}
EOF`,
    ]);
    const r = cliJson(['check', '--subject', `module:${file}`]);
    expect(r.json.verdict).toBe('pass');
    expect(r.json.parameters).toBe(4);
  });

  it('a module that does not export forward is refused with the fix', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gp-mod-'));
    const file = path.join(dir, 'bad.mjs');
    execFileSync('sh', ['-c', `echo 'export const parameters = { W1: [[1]] };' > ${file}`]);
    const r = cli(['check', '--subject', `module:${file}`]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/must export a function "forward"/);
  });
});

describe('the payments dataset, a 30→64→32→1 spec and .npz weights written by numpy', () => {
  it('passes', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gp-npz-'));
    const npz = path.join(dir, 'weights.npz');
    execFileSync('python3', [
      '-c',
      `import numpy as np
rs = np.random.RandomState(7)
ws = {}
for l, (i, o) in enumerate([(30, 64), (64, 32), (32, 1)], start=1):
    ws[f"W{l}"] = rs.randn(o, i) * np.sqrt(2 / i)
    ws[f"b{l}"] = 0.01 * rs.randn(o, 1)
np.savez("${npz}", **ws)`,
    ]);
    const r = cliJson([
      'check',
      '--model',
      'resources/models/payments-mlp.json',
      '--weights',
      npz,
      '--data',
      'builtin:payments',
    ]);
    expect(r.status).toBe(0);
    expect(r.json.verdict).toBe('pass');
    expect(r.json.parameters).toBe(4097);
    expect(r.json.provenance.dataset).toMatchObject({ ref: 'builtin:payments', examples: 20000, features: 30 });
    expect(r.json.provenance.weights.source).toBe(`weights ${npz}`);
  });
});
