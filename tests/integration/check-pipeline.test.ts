import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliJson } from '../helpers/cli.js';

// Issue 13 as a user meets it on the command line: one pipeline for the engine and for
// subjects, verdicts that are never empty, words that never contradict them.
const SUITE = 'tests/fixtures/subjects/suite';

describe('the ε sweep and --epsilon auto work for subjects too', () => {
  it('--epsilon-sweep on a process subject: the curve, its slope and the recommended ε', () => {
    const r = cliJson(['check', '--subject', `python3 ${SUITE}/tanh_sigmoid_xent.py`, '--epsilon-sweep', '--no-save']);
    expect(r.status).toBe(0);
    expect(r.json.epsilonSweep.points).toHaveLength(10);
    expect(r.json.epsilonSweep.slope).toBeGreaterThan(1.5);
    expect(r.json.epsilonSweep.slope).toBeLessThan(2.5);
  });

  it('--epsilon auto chooses and records a step per group, and makes a float32 subject judgeable', () => {
    const r = cliJson([
      'check',
      '--subject',
      `python3 ${SUITE}/float32_dW2_doubled.py`,
      '--epsilon',
      'auto',
      '--no-save',
    ]);
    expect(r.json.epsilon).toBe('auto');
    expect(r.json.precision).toEqual({ precision: 'float32', source: 'detected' });
    expect(r.json.epsilonChoice.map((c: any) => c.group)).toEqual(r.json.groups.map((g: any) => g.name));
    for (const c of r.json.epsilonChoice) expect(c.epsilon).toBeGreaterThanOrEqual(1e-4);
    expect(r.json.verdict).toBe('fail');
    expect(r.json.groups.find((g: any) => g.name === 'W2').diagnosis.kind).toBe('scale');
  });
});

describe('verdicts that are never empty', () => {
  it('a float32 cost at ε = 1e-7 is inconclusive with the reason and the fix, never a pass', () => {
    const r = cli(['check', '--subject', `python3 ${SUITE}/float32_correct.py`, '--no-save']);
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/the cost moves by less than its rounding at ε = 1e-7/);
    expect(r.stdout).toMatch(/rerun with --epsilon 1e-3 or --epsilon auto/);
  });

  it('a step θ₀ cannot even take is refused (exit 2), naming the parameter and the fix', () => {
    const r = cli(['check', '--backprop', 'notebook-buggy', '--epsilon', '1e-15', '--no-save']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /--epsilon 1e-15 is too small for θ₀: W1\[0,2\] = 1\.13\d+ cannot move by ε in float64 .*use --epsilon 1e-10 or larger, or --epsilon auto/,
    );
  });

  it('a step the cost can barely resolve is judged with that said, never a silent pass', () => {
    const r = cliJson(['check', '--epsilon', '1e-12', '--no-save']);
    expect(['pass', 'inconclusive']).toContain(r.json.verdict);
    for (const g of r.json.groups) {
      if (g.verdict === 'pass' && g.difference > 2e-7)
        expect(g.note).toMatch(/within the finite differences' measured error/);
      if (g.verdict === 'inconclusive') expect(g.fix).toBeTruthy();
    }
  });

  it('a W1 ×1.000001 defect fails, and the words say 1.0000011×, not 1.000×', () => {
    const r = cliJson(['check', '--defect', 'W1:scale:1.000001', '--no-save']);
    expect(r.json.verdict).toBe('fail');
    const w1 = r.json.groups.find((g: any) => g.name === 'W1');
    expect(w1.diagnosis.summary).toMatch(/backward is 1\.000001\d*× the true gradient/);
    expect(r.json.findings.join(' ')).not.toMatch(/1\.000×/);
  });
});

describe('groups of any rank', () => {
  it('a convolution weight (4, 2, 3, 3) is accepted, named with every index, and passes', () => {
    const r = cliJson(['check', '--subject', `python3 ${SUITE}/conv4d_correct.py`, '--no-save']);
    expect(r.status).toBe(0);
    const w = r.json.groups.find((g: any) => g.shape.length === 4);
    expect(w.shape).toEqual([4, 2, 3, 3]);
    expect(r.json.worst.some((e: any) => /\[\d+,\d+,\d+,\d+\]$/.test(e.name))).toBe(true);
  });
});

describe('one request, one set of defaults', () => {
  it('the CLI refuses what the contract refuses, naming the flag', () => {
    expect(cli(['check', '--epsilon', '2']).stderr).toMatch(
      /^gradproof: --epsilon 2: ε above 1 is no longer a small step/m,
    );
    expect(cli(['check', '--workers', '0']).stderr).toMatch(/--workers 0: at least one worker/);
    expect(cli(['check', '--python', '/usr/bin/python3']).stderr).toMatch(/--python goes with --subject/);
    expect(cli(['check', '--subject', 'python3 x.py', '--data', 'random:10']).stderr).toMatch(
      /loads its own data: drop --data/,
    );
  });

  it('PyTorch is an implementation kind: the script served through gradproof_torch, run by --python or GRADPROOF_PYTHON', () => {
    const buggy = cliJson([
      'check',
      '--subject',
      'pytorch:resources/examples/torch/sq_distance_buggy.py',
      '--python',
      '/usr/bin/python3',
      '--no-save',
    ]);
    expect(buggy.json.verdict).toBe('fail');
    expect(buggy.json.groups.find((g: any) => g.name === 'x').diagnosis).toMatchObject({ kind: 'scale' });
    expect(buggy.json.groups.find((g: any) => g.name === 'x').diagnosis.factor).toBeCloseTo(0.5, 6);
    const fixed = cli(
      ['check', '--subject', 'pytorch:resources/examples/torch/hand_linear_fixed.py', '--no-save', '--json'],
      {
        GRADPROOF_PYTHON: '/usr/bin/python3',
      },
    );
    expect(JSON.parse(fixed.stdout).verdict).toBe('pass');
    expect(JSON.parse(fixed.stdout).provenance.implementation.ref).toBe(
      'pytorch:resources/examples/torch/hand_linear_fixed.py',
    );
  });

  it('a PyTorch subject whose interpreter has no torch is refused at once, naming the interpreter', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gp-notorch-'));
    const script = path.join(dir, 'm.py');
    writeFileSync(script, 'from gradproof_torch import serve_module\n');
    const r = cli(['check', '--subject', `pytorch:${script}`, '--python', 'python3', '--no-save']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /--python python3: torch does not import there \(ModuleNotFoundError: No module named 'torch'\)/,
    );
  });
});
