import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, cli, cliJson } from '../helpers/cli.js';

/** Real torch: Debian's python3-torch, for /usr/bin/python3 (npm test installs it when missing). */
const PY = '/usr/bin/python3';
const EX = 'resources/examples/torch';
const FIXTURE = 'tests/fixtures/torch/subject.py';

/** A torch subject spoken to directly over the subject protocol, as GradProof's process connection does. */
class Subject {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<number, (r: any) => void>();
  private nextId = 1;
  stderr = '';

  constructor(args: string[]) {
    this.child = spawn(PY, args, {
      cwd: ROOT,
      env: { ...process.env, PYTHONPATH: path.join(ROOT, 'resources/adapters/python') },
    });
    this.child.stderr.on('data', (d) => (this.stderr += d));
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const r = JSON.parse(line);
      this.waiting.get(r.id)?.(r);
      this.waiting.delete(r.id);
    });
  }

  async call(method: string, params: Record<string, unknown> = {}): Promise<any> {
    const id = this.nextId++;
    const r = await new Promise<any>((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin.write(`${JSON.stringify({ id, method, params })}\n`);
    });
    if (r.error) throw new Error(`${method}: ${r.error.message}\n${this.stderr}`);
    return r.result;
  }

  async close(): Promise<void> {
    await this.call('exit');
    this.child.stdin.end();
  }
}

const open: Subject[] = [];
function subject(args: string[]): Subject {
  const s = new Subject(args);
  open.push(s);
  return s;
}
afterAll(async () => {
  await Promise.all(open.map((s) => s.close().catch(() => undefined)));
});

function failing(json: any): string[] {
  return json.groups.filter((g: any) => g.verdict === 'fail').map((g: any) => g.name);
}

function group(json: any, name: string): any {
  return json.groups.find((g: any) => g.name === name);
}

describe('the torch examples, checked through the CLI', () => {
  it('a module with a hand-written layer whose backward takes the mean for the sum: hidden.bias, ×1/256', () => {
    const r = cliJson(['check', '--subject', `${PY} ${EX}/hand_linear_buggy.py`]);
    expect(r.status).toBe(1);
    expect(r.json.verdict).toBe('fail');
    expect(r.json.groups.map((g: any) => [g.name, g.size])).toEqual([
      ['hidden.weight', 480],
      ['hidden.bias', 16],
      ['out.weight', 16],
      ['out.bias', 1],
    ]);
    expect(failing(r.json)).toEqual(['hidden.bias']);
    const d = group(r.json, 'hidden.bias').diagnosis;
    expect(d.kind).toBe('scale');
    expect(d.factor).toBeCloseTo(1 / 256, 7);
  });

  it('the fixed module passes', () => {
    const r = cliJson(['check', '--subject', `${PY} ${EX}/hand_linear_fixed.py`]);
    expect(r.status).toBe(0);
    expect(r.json.verdict).toBe('pass');
  });

  it('a custom Function whose backward lost a factor 2: x fails as ×0.5, y passes', () => {
    const r = cliJson(['check', '--subject', `${PY} ${EX}/sq_distance_buggy.py`]);
    expect(r.status).toBe(1);
    expect(r.json.groups.map((g: any) => [g.name, g.shape])).toEqual([
      ['x', [8, 3]],
      ['y', [5, 3]],
    ]);
    expect(failing(r.json)).toEqual(['x']);
    expect(group(r.json, 'x').diagnosis.factor).toBeCloseTo(0.5, 6);
  });

  it('the fixed Function passes', () => {
    const r = cliJson(['check', '--subject', `${PY} ${EX}/sq_distance_fixed.py`]);
    expect(r.status).toBe(0);
    expect(r.json.verdict).toBe('pass');
  });

  it('fast mode finds the module bug too, and sweeps only that group', () => {
    const r = cliJson(['check', '--subject', `${PY} ${EX}/hand_linear_buggy.py`, '--mode', 'fast']);
    expect(r.json.verdict).toBe('fail');
    expect(r.json.fast.escalated).toEqual(['hidden.bias']);
    expect(group(r.json, 'hidden.bias').diagnosis.factor).toBeCloseTo(1 / 256, 7);
  });

  it('an interpreter without torch: exit 4 and one line saying so, no traceback', () => {
    // -S leaves out site-packages, where Debian's torch lives: this interpreter has no torch.
    const r = cli(['check', '--subject', `${PY} -S ${EX}/hand_linear_buggy.py`, '--timeout', '30']);
    expect(r.status).toBe(4);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter((l) => l.includes('gradproof_torch'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\s*gradproof_torch: PyTorch is not installed for this Python \(\/usr\/bin\/python3, Python 3[.\d]+\): No module named 'torch'\. Install torch for it/,
    );
    expect(r.stderr).not.toMatch(/Traceback/);
  });
});

/** Indices spread over every group: its first, middle and last entries and a few between. */
function sample(groups: { name: string; shape: number[] }[], perGroup: number): number[] {
  const out: number[] = [];
  let offset = 0;
  for (const g of groups) {
    const n = g.shape.reduce((a, b) => a * b, 1);
    const picks = new Set([0, n - 1, ...Array.from({ length: perGroup }, (_, k) => Math.floor((k * n) / perGroup))]);
    for (const p of picks) out.push(offset + p);
    offset += n;
  }
  return out;
}

describe("the adapter's fast costs equal a plain evaluation of the model, to float64 rounding", () => {
  const cases: { title: string; args: string[]; paths: Record<string, RegExp> }[] = [
    {
      title: 'the benchmark MLP, 30→64→32→1 on 2,048 rows (rank-one updates of nn.Linear, changed rows only)',
      args: ['scripts/bench/torch_peer.py', '--serve', 'module'],
      paths: {
        '0.weight': /^chain from layer 0 \(Linear\): a rank-one update .*the rows that moved/,
        '2.weight': /^chain from layer 2 \(Linear\): a rank-one update/,
        '4.bias': /^chain from layer 4 \(Linear\): a rank-one update/,
      },
    },
    {
      title: 'a Sequential with a custom autograd.Function layer and batch norm (stacked rows, vmap)',
      args: [FIXTURE, 'custom-chain'],
      paths: {
        '0.weight': /rank-one.*the copies stacked as rows/,
        '3.weight': /^chain from layer 3 \(BatchNorm1d\): vmap over the batch/,
      },
    },
    {
      title: 'a module declaring its layer order',
      args: [FIXTURE, 'declared'],
      paths: { 'first.weight': /^chain from layer 0 \(Linear\): a rank-one update/ },
    },
    {
      title: 'a convolutional module that is not a chain (vmap over the whole model), shapes as they are',
      args: [FIXTURE, 'conv'],
      paths: { 'conv.weight': /^whole model, vmap over the batch/ },
    },
    {
      title: 'a plain differentiable function (serve_function, vmap)',
      args: [FIXTURE, 'fn'],
      paths: { input0: /^vmap over the batch/ },
    },
  ];
  for (const c of cases) {
    it(c.title, async () => {
      const s = subject(c.args);
      const d = await s.call('describe');
      expect(d.precision).toBe('float64');
      for (const [name, re] of Object.entries(c.paths)) expect(d.evaluation[name]).toMatch(re);
      const theta: number[] = d.theta;
      const entries = sample(d.groups, 12).flatMap((i) => [1e-7, -1e-7, 1e-3].map((delta) => [i, delta]));
      const fast: number[] = (await s.call('costs', { entries })).costs;
      for (const [k, [i, delta]] of entries.entries()) {
        const moved = [...theta];
        moved[i!] = moved[i!]! + delta!;
        const plain: number = (await s.call('cost', { theta: moved })).cost;
        expect(Math.abs(fast[k]! - plain), `entry ${i}, step ${delta}`).toBeLessThanOrEqual(1e-14 * Math.abs(plain));
      }
    });
  }

  it('the convolution weight is described with its real four-dimensional shape', async () => {
    const d = await subject([FIXTURE, 'conv']).call('describe');
    expect(d.groups.map((g: any) => [g.name, g.shape])).toEqual([
      ['conv.weight', [3, 2, 3, 3]],
      ['conv.bias', [3]],
      ['fc.weight', [3, 48]],
      ['fc.bias', [3]],
    ]);
  });
});

describe('train mode: randomness replayed, buffers restored, the caller untouched', () => {
  it('with dropout the cost is a deterministic function of θ, and the batched costs are the plain ones bit for bit', async () => {
    const s = subject([FIXTURE, 'dropout-train']);
    const d = await s.call('describe');
    expect(d.evaluation['0.weight']).toMatch(/replayed one perturbation at a time \(train mode\)/);
    const j0 = (await s.call('cost')).cost;
    expect((await s.call('cost')).cost).toBe(j0);
    const entries = sample(d.groups, 6).flatMap((i) => [1e-7, -1e-3].map((delta) => [i, delta]));
    const first = (await s.call('costs', { entries })).costs;
    expect((await s.call('costs', { entries })).costs).toEqual(first);
    for (const [k, [i, delta]] of entries.entries()) {
      const moved = [...d.theta];
      moved[i!] += delta!;
      expect((await s.call('cost', { theta: moved })).cost).toBe(first[k]);
    }
    // The dropout is real: another seed draws other masks, so another cost.
    const other = subject([FIXTURE, 'dropout-train', '--seed', '1']);
    expect((await other.call('cost')).cost).not.toBe(j0);
  });

  it('the dropout model passes the full check', () => {
    const r = cliJson(['check', '--subject', `${PY} ${FIXTURE} dropout-train`]);
    expect(r.json.verdict).toBe('pass');
  });

  it("batch norm in train mode passes, and the caller's model (buffers included) is bit for bit as it was", () => {
    const report = path.join(mkdtempSync(path.join(tmpdir(), 'gp-torch-')), 'report.json');
    const r = cliJson(['check', '--subject', `${PY} ${FIXTURE} bn-train --report ${report}`, '--workers', '1']);
    expect(r.json.verdict).toBe('pass');
    const after = JSON.parse(readFileSync(report, 'utf8'));
    expect(after.state).toEqual(expect.arrayContaining(['1.running_mean', '1.running_var', '1.num_batches_tracked']));
    expect(after.unchanged).toBe(true);
    expect(after.training).toBe(true);
  });
});

describe("the adapter's Python-side tests (the audited copy's buffers, the fast-path safeguard)", () => {
  it('pass', () => {
    const r = spawnSync(PY, ['-m', 'unittest', 'discover', '-s', 'tests/python', '-p', 'test_*.py'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.stderr).toMatch(/^Ran \d+ tests/m);
    expect(r.status, r.stderr).toBe(0);
  });
});
