import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../app/node/store/database.js';
import { getEntries, getRun } from '../../app/node/store/runs.js';
import { BIN, ROOT, TEST_DB, type CliRun } from '../helpers/cli.js';
import { type SlurmCluster, startSlurmCluster } from '../helpers/slurm-cluster.js';

/**
 * `gradproof slurm` against a real Slurm: a one-node cluster started for this file (munged,
 * slurmctld, slurmd), array jobs submitted with sbatch, the merged run compared with the run
 * one machine makes. Nothing here is a stand-in for Slurm.
 */
let cluster: SlurmCluster;
const work = mkdtempSync(path.join(tmpdir(), 'gp-slurm-work-'));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * The CLI as a user runs it, against the test cluster. A run that outlives `seconds` gets
 * SIGTERM (it scancels its job and exits), and SIGKILL 30 s later if it is still there.
 */
function gradproof(args: string[], seconds = 240): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...cluster.env, NO_COLOR: '1', GRADPROOF_DB: TEST_DB },
    });
    let stdout = '';
    let stderr = '';
    let late = '';
    const term = setTimeout(() => {
      late = `(ended by SIGTERM after ${seconds} s)`;
      child.kill('SIGTERM');
    }, seconds * 1000);
    const kill = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve({ status, stdout, stderr: late ? `${stderr}\n${late}` : stderr });
    });
  });
}

/** Why a run did not do what was expected: its output and the daemons' logs. */
const why = (r: CliRun): string => `exit ${r.status}\n${r.stdout}\n${r.stderr}\n${cluster.logs()}`;

/** What a run's verdict rests on, without what differs by construction (its id, timing, evaluations, workers). */
function judged(j: Record<string, any>): Record<string, unknown> {
  return {
    verdict: j.verdict,
    difference: j.difference,
    threshold: j.threshold,
    epsilon: j.epsilon,
    parameters: j.parameters,
    groups: j.groups,
    worst: j.worst,
    inconclusive: j.inconclusive,
    noise: j.noise,
    precision: j.precision,
    findings: j.findings,
  };
}

function entries(runId: string) {
  const store = openStore(TEST_DB, { readonly: true });
  try {
    return { run: getRun(store, runId)!, entries: getEntries(store, runId)! };
  } finally {
    store.db.close();
  }
}

const bytes = (a: Float64Array | Uint32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

beforeAll(async () => {
  cluster = await startSlurmCluster();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  rmSync(work, { recursive: true, force: true });
  expect(existsSync(cluster.dir)).toBe(false);
}, 60_000);

describe('gradproof slurm on a one-node Slurm cluster', () => {
  it("the 4,097-parameter MLP in 4 shards: the single machine's verdict, groups and diagnosis, its difference and entries bit for bit", async () => {
    const job = ['--model', 'mlp:30,64,32,1', '--data', 'random:2048', '--backprop', 'notebook-buggy'];
    const workdir = path.join(work, 'mlp');
    const r = await gradproof(['slurm', '--shards', '4', ...job, '--workdir', workdir, '--json']);
    expect(r.status, why(r)).toBe(1);
    const merged = JSON.parse(r.stdout);
    expect(r.stderr).toMatch(/submitted Slurm job \d+ \(array 0-3\); waiting for it…/);
    const single = JSON.parse((await gradproof(['check', ...job, '--json'])).stdout);

    expect(judged(merged)).toEqual(judged(single));
    expect(merged.difference).toBe(single.difference);
    expect(merged.verdict).toBe('fail');
    const diagnosed = merged.groups
      .filter((g: any) => g.verdict === 'fail')
      .map((g: any) => [g.name, g.diagnosis.kind]);
    expect(diagnosed).toEqual([
      ['b1', 'scale'],
      ['W2', 'scale'],
    ]);
    const a = entries(merged.runId);
    const b = entries(single.runId);
    for (const k of ['analytic', 'numerical', 'kinks'] as const)
      expect(bytes(a.entries[k]).equals(bytes(b.entries[k]))).toBe(true);
    expect(a.entries.sha256).toBe(b.entries.sha256);

    // The record: the script (submittable by hand), one log per shard, each shard file by its digest.
    const script = readFileSync(merged.slurm.script, 'utf8');
    expect(script).toContain('#SBATCH --array=0-3');
    expect(script).toMatch(
      / check --model 'mlp:30,64,32,1' --data random:2048 --backprop notebook-buggy --workers 1 --shard auto\/4 --out \S+\/mlp\/$/m,
    );
    const files = merged.provenance.shards.files as { index: number; sha256: string; host: string }[];
    expect(files.map((f) => f.index)).toEqual([0, 1, 2, 3]);
    for (const f of files) {
      expect(f.sha256).toBe(sha(readFileSync(path.join(workdir, `shard-${f.index}-of-4.json`))));
      expect(f.host).toBe(cluster.node);
      expect(existsSync(path.join(workdir, 'logs', `shard-${f.index}-job${merged.slurm.jobId}.log`))).toBe(true);
    }
    expect((a.run.settings as any).shards).toEqual(merged.provenance.shards);
  }, 300_000);

  it('a partition Slurm does not have is refused by Slurm, in its words, exit 2', async () => {
    const r = await gradproof([
      'slurm',
      '--shards',
      '2',
      '--partition',
      'nosuch',
      '--workdir',
      path.join(work, 'nosuch'),
    ]);
    expect(r.status, why(r)).toBe(2);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^gradproof: Slurm refused the job: .*partition/i);
  }, 60_000);

  it("a subject: a failing shard is named with its log, the rerun submits only it, and the run is the single machine's", async () => {
    // The notebook's own buggy code, run through a wrapper that fails as array task 2 until told not to.
    const flaky = path.join(work, 'flaky.py');
    const fixed = path.join(work, 'fixed');
    writeFileSync(
      flaky,
      [
        'import os, runpy, sys',
        `if os.environ.get("SLURM_ARRAY_TASK_ID") == "2" and not os.path.exists(${JSON.stringify(fixed)}):`,
        '    sys.stderr.write("flaky: shard 2 fails on purpose\\n")',
        '    sys.exit(3)',
        'runpy.run_path(sys.argv[1], run_name="__main__")',
        '',
      ].join('\n'),
    );
    const subject = ['--subject', `python3 ${flaky} resources/examples/notebook/notebook_buggy.py`];
    const workdir = path.join(work, 'subject');
    const args = ['slurm', '--shards', '4', ...subject, '--workdir', workdir];

    const first = await gradproof([...args, '--json']);
    expect(first.status, why(first)).toBe(4);
    expect(first.stdout).toBe('');
    const lines = first.stderr.split('\n');
    const at = lines.findIndex((l) =>
      /^gradproof: shard 2 of 4 failed; its log \S+\/logs\/shard-2-job\d+\.log ends:$/.test(l),
    );
    expect(at, first.stderr).toBeGreaterThanOrEqual(0);
    expect(lines.slice(at + 1).join('\n')).toContain('flaky: shard 2 fails on purpose');
    expect(lines).toContain(
      'gradproof: the check could not be run: shard 2 of 4 failed (its log is above); run the same command again to submit only that one',
    );
    const kept = [0, 1, 3].map((k) => readFileSync(path.join(workdir, `shard-${k}-of-4.json`)));
    expect(existsSync(path.join(workdir, 'shard-2-of-4.json'))).toBe(false);

    writeFileSync(fixed, '');
    const again = await gradproof([...args, '--json']);
    expect(again.status, why(again)).toBe(1);
    expect(again.stderr).toContain('shards 0-1,3 are computed already; submitting 2');
    expect(again.stderr).toMatch(/submitted Slurm job \d+ \(array 2\); waiting for it…/);
    [0, 1, 3].forEach((k, i) =>
      expect(readFileSync(path.join(workdir, `shard-${k}-of-4.json`)).equals(kept[i]!)).toBe(true),
    );
    const merged = JSON.parse(again.stdout);

    const single = JSON.parse((await gradproof(['check', ...subject, '--json'])).stdout);
    expect(judged(merged)).toEqual(judged(single));
    expect(merged.difference).toBe(single.difference);
    expect(merged.verdict).toBe('fail');
    expect(merged.groups.filter((g: any) => g.verdict === 'fail').map((g: any) => g.name)).toEqual(['b1', 'W2']);
    const a = entries(merged.runId);
    const b = entries(single.runId);
    expect(bytes(a.entries.numerical).equals(bytes(b.entries.numerical))).toBe(true);

    // Nothing left to compute: the same command merges what the folder holds.
    const third = await gradproof([...args, '--no-save']);
    expect(third.status, why(third)).toBe(1);
    expect(third.stderr).toContain('all 4 shards are computed already: merging');
    expect(third.stdout).toMatch(/^merged 4 shards of job [0-9a-f]{12}…/m);
  }, 300_000);
});
