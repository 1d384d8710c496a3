import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ROOT, cli } from '../helpers/cli.js';

const MLP = ['--model', 'mlp:30,64,32,1', '--data', 'random:2048', '--backprop', 'notebook-buggy'];
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const errorLines = (stderr: string): string[] => stderr.trimEnd().split('\n');

describe('check --shard and merge, as a user runs them', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gp-cluster-cli-'));

  it('writes shards K of N and merges them into a saved run that prepares a report', () => {
    for (const k of [0, 1]) {
      const r = cli(['check', '--backprop', 'notebook-buggy', '--shard', `${k}/2`, '--out', `${dir}/job/`]);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(`^shard ${k} of 2: entries \\d+–\\d+ \\(\\d+ of 47\\), \\d+ cost evaluations`),
      );
      expect(r.stdout).toContain(`written to ${dir}/job/shard-${k}-of-2.json (sha256 `);
    }
    const m = cli(['merge', `${dir}/job`, '--json']);
    expect(m.status).toBe(1); // the buggy backward fails, as on one machine
    const json = JSON.parse(m.stdout);
    expect(json.verdict).toBe('fail');
    expect(json.runId).toMatch(/^run-/);
    const one = JSON.parse(cli(['check', '--backprop', 'notebook-buggy', '--json', '--no-save']).stdout);
    expect(json.difference).toBe(one.difference);
    expect(json.groups).toEqual(one.groups);
    expect(json.provenance.shards.files.map((f: { sha256: string }) => f.sha256)).toEqual(
      [0, 1].map((k) => sha(readFileSync(`${dir}/job/shard-${k}-of-2.json`))),
    );
    const human = cli(['merge', `${dir}/job`, '--no-save']);
    expect(human.stdout).toMatch(/^FAIL\s+There is a mistake in the backward pass\./m);
    expect(human.stdout).toMatch(/^merged 2 shards of job [0-9a-f]{12}… from 1 host/m);
    const env = { GRADPROOF_PASSPHRASE: 'cluster test passphrase' };
    expect(cli(['identity', 'create', '--name', 'Cluster Engineer', '--role', 'engineer'], env).status).toBe(0);
    const report = cli(['report', 'create', json.runId, '--as', 'Cluster Engineer'], env);
    expect(report.status).toBe(0);
  });

  it('takes K from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID with --shard auto/N', () => {
    const a = cli(['check', '--shard', 'auto/2', '--out', `${dir}/auto/`, '--json'], { JOB_COMPLETION_INDEX: '1' });
    expect(a.status).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject({ index: 1, count: 2, file: `${dir}/auto/shard-1-of-2.json` });
    const b = cli(['check', '--shard', 'auto/2', '--out', `${dir}/auto/`, '--json'], { SLURM_ARRAY_TASK_ID: '0' });
    expect(JSON.parse(b.stdout)).toMatchObject({ index: 0, count: 2 });
  });

  it('refuses bad shard options with one line and exit 2', () => {
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [
        ['--shard', 'auto/3', '--out', dir],
        { SLURM_ARRAY_TASK_ID: '', JOB_COMPLETION_INDEX: '' },
        /--shard auto\/3: neither SLURM_ARRAY_TASK_ID .* nor JOB_COMPLETION_INDEX .* is set/,
      ],
      [['--shard', '3/3', '--out', dir], {}, /--shard 3\/3: K must be a whole number from 0 to 2/],
      [['--shard', '0/3'], {}, /--shard 0\/3 needs --out FILE/],
      [['--out', dir], {}, /--out goes with --shard K\/N/],
      [['--mode', 'fast', '--shard', '0/3', '--out', dir], {}, /--shard splits a full sweep: drop --mode fast/],
    ];
    for (const [args, env, message] of cases) {
      const r = cli(['check', ...args], env);
      expect(r.status).toBe(2);
      expect(errorLines(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^gradproof: ${message.source}`))]);
    }
  });

  it('gradproof slurm refuses fast mode, and says so when Slurm is not there', () => {
    const fast = cli(['slurm', '--shards', '2', '--mode', 'fast', '--workdir', `${dir}/slurm`]);
    expect(fast.status).toBe(2);
    expect(errorLines(fast.stderr)).toEqual([
      'gradproof: gradproof slurm splits a full sweep: drop --mode fast (fast mode is quick on one machine)',
    ]);
    const none = cli(['slurm', '--shards', '2', '--workdir', `${dir}/slurm`], { PATH: path.join(dir, 'no-such-bin') });
    expect(none.status).toBe(2);
    expect(errorLines(none.stderr).at(-1)).toBe(
      "gradproof: sbatch could not be run (ENOENT); run gradproof slurm on a machine with Slurm's client (e.g. a login node)",
    );
    // The script is written before anything is submitted, for the record and to submit by hand.
    expect(readFileSync(`${dir}/slurm/gradproof-shards.sbatch`, 'utf8')).toContain('#SBATCH --array=0-1');
  });

  it('refuses shards that cannot be merged, each problem on its own line, exit 2', () => {
    const r = cli(['merge', `${dir}/job/shard-0-of-2.json`, `${dir}/auto/shard-1-of-2.json`, `${dir}/nowhere.json`]);
    expect(r.status).toBe(2);
    expect(errorLines(r.stderr)).toEqual([`gradproof: ${dir}/nowhere.json: no such file`]);
    // The default notebook run (backward correct) is another job than the buggy one.
    const mixed = cli(['merge', `${dir}/job/shard-0-of-2.json`, `${dir}/auto/shard-1-of-2.json`]);
    expect(mixed.status).toBe(2);
    expect(errorLines(mixed.stderr)).toEqual([
      expect.stringMatching(/^gradproof: \S+auto\/shard-1-of-2\.json: a shard of another job: its implementation/),
      expect.stringMatching(/^gradproof: shard 1 of 2 \(entries \d+–46\) is missing$/),
    ]);
  });
});

describe('the Kubernetes manifests', () => {
  const folder = path.join(ROOT, 'resources/deploy/kubernetes');
  type Doc = Record<string, any>;
  const docs = (f: string): Doc[] =>
    parseAllDocuments(readFileSync(path.join(folder, f), 'utf8')).map((d) => {
      if (d.errors.length) throw new Error(`${f}: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() as Doc;
    });
  const shards = docs('shards-job.yaml');
  const merge = docs('merge-job.yaml');
  const job = shards.find((d) => d.kind === 'Job')!;
  const claim = shards.find((d) => d.kind === 'PersistentVolumeClaim')!;
  const mergeJob = merge.find((d) => d.kind === 'Job')!;
  const shardPod = job.spec.template.spec;
  const mergePod = mergeJob.spec.template.spec;
  const args: string[] = shardPod.containers[0].args;
  const n = Number(/^auto\/(\d+)$/.exec(args[args.indexOf('--shard') + 1]!)![1]);

  it('an Indexed Job of N pods, each shard JOB_COMPLETION_INDEX of N, on a volume the merge job reads', () => {
    expect(readdirSync(folder).sort()).toEqual([
      'Dockerfile',
      'Dockerfile.dockerignore',
      'merge-job.yaml',
      'shards-job.yaml',
    ]);
    expect(job.apiVersion).toBe('batch/v1');
    expect(job.spec.completionMode).toBe('Indexed');
    expect(job.spec.completions).toBe(n);
    expect(job.spec.parallelism).toBeLessThanOrEqual(n);
    expect(shardPod.restartPolicy).toBe('Never');
    expect(args[0]).toBe('check');
    expect(claim.spec.accessModes).toEqual(['ReadWriteMany']);
    for (const pod of [shardPod, mergePod]) {
      expect(pod.volumes).toEqual([{ name: 'shards', persistentVolumeClaim: { claimName: claim.metadata.name } }]);
      expect(pod.containers[0].volumeMounts).toEqual([{ name: 'shards', mountPath: '/shards' }]);
      expect(pod.containers[0].image).toBe(shardPod.containers[0].image);
    }
    expect(args[args.indexOf('--out') + 1]).toBe('/shards/');
    expect(mergePod.containers[0].args.slice(0, 2)).toEqual(['merge', '/shards']);
  });

  it("its commands, run as its pods would (JOB_COMPLETION_INDEX 0…N−1, the volume a folder), give the single machine's run", () => {
    const volume = mkdtempSync(path.join(tmpdir(), 'gp-k8s-volume-'));
    const onVolume = (a: string[]): string[] => a.map((x) => x.replace(/^\/shards/, volume));
    for (let k = 0; k < n; k++) {
      const r = cli(onVolume(args), { JOB_COMPLETION_INDEX: String(k) });
      expect(r.status, r.stderr).toBe(0);
    }
    const env = Object.fromEntries(
      (mergePod.containers[0].env as { name: string; value: string }[]).map((e) => [
        e.name,
        e.value.replace(/^\/shards/, volume),
      ]),
    );
    const merged = cli(onVolume(mergePod.containers[0].args), env);
    expect(merged.status).toBe(1);
    const m = JSON.parse(merged.stdout);
    expect(m.provenance.shards.count).toBe(n);
    expect(readdirSync(volume)).toContain('gradproof.db');
    const single = cli(['check', ...MLP, '--json', '--no-save']);
    const s = JSON.parse(single.stdout);
    expect(args).toEqual(expect.arrayContaining(MLP));
    expect(m.verdict).toBe(s.verdict);
    expect(m.difference).toBe(s.difference);
    expect(m.groups).toEqual(s.groups);
  });
});
