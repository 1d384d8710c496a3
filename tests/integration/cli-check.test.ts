import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliJson } from '../helpers/cli.js';
import { sameDigits } from '../helpers/golden.js';

describe('gradproof check (the CLI, as a user runs it)', () => {
  it('--backprop notebook-buggy --json: difference 0.285093156781, verdict fail, exit 1', () => {
    const { status, json } = cliJson(['check', '--backprop', 'notebook-buggy']);
    expect(status).toBe(1);
    expect(json.verdict).toBe('fail');
    expect(sameDigits(json.difference, 0.285093156781, 9)).toBe(true);
    for (const k of ['threshold', 'epsilon', 'parameters', 'evaluations', 'seconds'])
      expect(typeof json[k]).toBe('number');
    expect(json.threshold).toBe(2e-7);
    expect(json.epsilon).toBe(1e-7);
    expect(json.parameters).toBe(47);
    expect(json.evaluations).toBeGreaterThanOrEqual(94);
    const groups = json.groups as { name: string; size: number; difference: number; verdict: string }[];
    expect(groups.map((g) => [g.name, g.size])).toEqual([
      ['W1', 20],
      ['b1', 5],
      ['W2', 15],
      ['b2', 3],
      ['W3', 3],
      ['b3', 1],
    ]);
    const byName = Object.fromEntries(groups.map((g) => [g.name, g]));
    const others = ['W1', 'b2', 'W3', 'b3'].map((n) => byName[n]!.difference);
    expect(Math.min(byName.W2!.difference, byName.b1!.difference)).toBeGreaterThan(1e5 * Math.max(...others));
  });

  it('--backprop correct passes below 2e-7, exit 0', () => {
    const { status, json } = cliJson(['check', '--backprop', 'correct']);
    expect(status).toBe(0);
    expect(json.verdict).toBe('pass');
    expect(json.difference).toBeLessThan(2e-7);
  });

  it('human output says the verdict in words, the difference, threshold, counts and time', () => {
    const r = cli(['check', '--backprop', 'notebook-buggy']);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAIL\s+There is a mistake in the backward pass: b1 and W2 disagree/);
    expect(r.stdout).toMatch(/difference\s+0\.2851 /);
    expect(r.stdout).toMatch(/threshold 2e-7/);
    expect(r.stdout).toMatch(/47 parameters, \d+ cost evaluations, \d+\.\d+ s/);
    expect(r.stdout).toMatch(/W2\s+3×5\s+0\.3333\s+FAIL\s+backward is 2\.000× the true gradient/);
  });

  it('check-1d --x 2 --theta 4: J = 8, dθ = 2, difference ≈ 2.919e-10, pass', () => {
    const r = cli(['check-1d', '--x', '2', '--theta', '4']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/J = 8\s+dθ = 2/);
    expect(r.stdout).toMatch(/difference\s+2\.919e-10/);
    const j = cliJson(['check-1d', '--x', '2', '--theta', '4']).json;
    expect(j.J).toBe(8);
    expect(j.verdict).toBe('pass');
  });

  it('--defect and --model mlp / --data random work together', () => {
    const { status, json } = cliJson([
      'check',
      '--model',
      'mlp:5,7,1',
      '--data',
      'random:20',
      '--defect',
      'W1:scale:3',
      '--workers',
      '2',
    ]);
    expect(status).toBe(1);
    expect(json.groups.find((g: any) => g.name === 'W1').diagnosis.factor).toBeCloseTo(3, 3);
    expect(json.workers).toBe(2);
  });

  it('--json carries the diagnosis, worst entries, inconclusive entries and the scheme', () => {
    const { json } = cliJson(['check', '--backprop', 'notebook-buggy']);
    const w2 = json.groups.find((g: any) => g.name === 'W2');
    expect(w2.diagnosis).toMatchObject({ kind: 'scale' });
    expect(w2.diagnosis.factor).toBeCloseTo(2, 3);
    expect(w2.diagnosis.correlation).toBeCloseTo(1, 6);
    expect(json.groups.find((g: any) => g.name === 'b1').diagnosis.factor).toBeCloseTo(4, 3);
    expect(json.worst[0]).toMatchObject({ name: 'b1[0,0]', group: 'b1' });
    expect(json.inconclusive).toMatchObject({ entries: 0 });
    expect(json.scheme).toBe('central');
    expect(json.epsilonSweep).toBeUndefined();
  });

  it('--epsilon-sweep, --scheme, --mode fast and --directions reach the result', () => {
    const sweep = cliJson(['check', '--epsilon-sweep', '--scheme', 'forward']).json;
    expect(sweep.scheme).toBe('forward');
    expect(sweep.epsilonSweep.points).toHaveLength(10);
    expect(sweep.epsilonSweep.expectedSlope).toBe(1);
    const fast = cliJson(['check', '--backprop', 'notebook-buggy', '--mode', 'fast', '--directions', '3']);
    expect(fast.status).toBe(1);
    expect(fast.json.mode).toBe('fast');
    expect(fast.json.fast.directionsPerGroup).toBe(3);
    expect(fast.json.fast.escalated.sort()).toEqual(['W2', 'b1']);
    expect(typeof fast.json.fast.missProbability).toBe('number');
    const human = cli(['check', '--defect', 'layer1:drop-derivative']);
    expect(human.stdout).toMatch(/W1: backward leaves out layer 1's relu derivative/);
  });

  describe('bad usage: one line, exit 2, never a stack trace', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gp-cli-'));
    const badSpec = path.join(dir, 'bad.json');
    writeFileSync(
      badSpec,
      JSON.stringify({
        name: 'x',
        inputs: 4,
        layers: [{ units: 1, activation: 'softplus' }],
        loss: 'binary_cross_entropy',
      }),
    );
    const cases: [string, string[], RegExp][] = [
      ['unknown flag', ['check', '--frobnicate'], /unknown option '--frobnicate'/],
      ['negative epsilon', ['check', '--epsilon', '-1'], /--epsilon -1: ε must be greater than 0/],
      ['huge epsilon', ['check', '--epsilon', '1e300'], /--epsilon 1e\+300: ε above 1 is no longer a small step/],
      [
        'tiny epsilon',
        ['check', '--epsilon', '1e-20', '--subject', 'python3 resources/examples/notebook/notebook_fixed.py'],
        /--epsilon 1e-20 is too small for θ₀/,
      ],
      ['non-numeric epsilon', ['check', '--epsilon', 'abc'], /--epsilon abc: give a number such as 1e-7, or auto/],
      [
        'missing model file',
        ['check', '--model', path.join(dir, 'nope.json')],
        /model spec .*nope\.json: cannot read it \(no such file\)/,
      ],
      ['invalid model spec', ['check', '--model', badSpec], /field layers\[0\]\.activation/],
      ['unknown defect group', ['check', '--defect', 'W9:flip'], /no such parameter group/],
      ['bad defect', ['check', '--defect', 'W2:scale'], /scale needs a numeric factor/],
      ['unknown command', ['chekc'], /unknown command 'chekc'/],
      ['data that does not fit', ['check', '--model', 'mlp:3,2,1'], /does not fit/],
      ['bad random rows', ['check', '--data', 'random:zero'], /random:ROWS/],
      [
        'bad scheme',
        ['check', '--scheme', 'backward'],
        /--scheme backward: choose one of forward, central, five-point/,
      ],
      ['bad mode', ['check', '--mode', 'quick'], /--mode quick: choose one of full, fast/],
      [
        'timeout past an hour',
        ['check', '--subject', 'python3 x.py', '--timeout', '3000000'],
        /--timeout 3000000: a subject may take at most 3600 s/,
      ],
      ['too many workers', ['check', '--workers', '256'], /--workers 256: at most 64 workers/],
      [
        'model with a subject',
        ['check', '--subject', 'python3 x.py', '--model', 'mlp:3,2,1'],
        /--subject brings its own model and backward: drop --model/,
      ],
      ['zero directions', ['check', '--directions', '0'], /--directions 0: at least one direction/],
    ];
    for (const [what, args, message] of cases) {
      it(what, () => {
        const r = cli(args);
        expect(r.status).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
        expect(
          r.stderr
            .trim()
            .split('\n')
            .filter((l) => l.startsWith('gradproof:') || l.startsWith('error:')).length,
        ).toBe(1);
        expect(r.stdout).toBe('');
      });
    }
  });
});
