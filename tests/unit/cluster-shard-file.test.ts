import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { shardRange } from '../../app/core/check/shards.js';
import { type CheckOutcome, runCheck } from '../../app/node/check/pipeline.js';
import { requestFromFlags } from '../../app/node/cli/check-command.js';
import { ShardRefusal, mergeShardFiles } from '../../app/node/cluster/merge.js';
import {
  type ShardFile,
  decodeShardFile,
  encodeShardFile,
  fromJsonSafe,
  toJsonSafe,
} from '../../app/node/cluster/shard-file.js';
import { parseShardSpec, runShardToFile, shardOutPath } from '../../app/node/cluster/shard-run.js';
import { arrayList, sbatchScript } from '../../app/node/cluster/slurm.js';
import { createReport } from '../../app/node/reports/reports.js';
import { createIdentity } from '../../app/node/signing/identities.js';
import { openStore } from '../../app/node/store/database.js';
import { getRun } from '../../app/node/store/runs.js';

/** The notebook's network with its buggy backward: 47 parameters, two wrong groups. */
const request = requestFromFlags({ backprop: 'notebook-buggy', workers: '1' });
const dir = mkdtempSync(path.join(tmpdir(), 'gp-shards-'));
const shardsDir = path.join(dir, 'job');
const file = (k: number): string => path.join(shardsDir, `shard-${k}-of-3.json`);
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const bits = (a: Float64Array | Uint32Array | Uint8Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
let single: CheckOutcome;

/** A variant of shard k written as a file with a valid digest: what a careless or hostile edit looks like. */
function variant(k: number, name: string, edit: (s: ShardFile) => void): string {
  const s = decodeShardFile(readFileSync(file(k)), file(k));
  edit(s);
  const out = path.join(dir, name);
  writeFileSync(out, encodeShardFile(s));
  return out;
}

/** The lines a merge of these files is refused with. */
async function refusal(files: string[]): Promise<readonly string[]> {
  try {
    await mergeShardFiles(files);
  } catch (err) {
    if (err instanceof ShardRefusal) return err.lines;
    throw err;
  }
  throw new Error('the merge was not refused');
}

beforeAll(async () => {
  for (let k = 0; k < 3; k++) await runShardToFile(request, { index: k, count: 3 }, `${shardsDir}/`);
  single = await runCheck(request);
}, 120_000);

describe('shard files', () => {
  it('keep numbers and typed arrays to the bit, NaN payloads, −0 and infinities included', () => {
    const odd = new Float64Array([
      Number.NaN,
      -0,
      0,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      1e-310,
      Math.PI,
    ]);
    new DataView(odd.buffer).setUint32(4, 0x7ff80001, true); // a NaN with its own payload
    const value = {
      a: Number.NaN,
      b: -0,
      c: [Number.POSITIVE_INFINITY, 1.5],
      d: odd,
      e: new Uint32Array([0, 2 ** 32 - 1]),
    };
    const back = fromJsonSafe(JSON.parse(JSON.stringify(toJsonSafe(value)))) as typeof value;
    expect(Number.isNaN(back.a)).toBe(true);
    expect(Object.is(back.b, -0)).toBe(true);
    expect(back.c).toEqual([Number.POSITIVE_INFINITY, 1.5]);
    expect(bits(back.d).equals(bits(odd))).toBe(true);
    expect(Array.from(back.e)).toEqual([0, 2 ** 32 - 1]);
  });

  it("hold the job's identity, the shard's range and its records, and read back to the same bytes", () => {
    const first = decodeShardFile(readFileSync(file(0)), file(0));
    for (let k = 0; k < 3; k++) {
      const bytes = readFileSync(file(k));
      const raw = JSON.parse(bytes.toString('utf8'));
      expect(raw.format).toBe('gradproof-shard/1');
      expect(raw.sha256).toMatch(/^[0-9a-f]{64}$/);
      for (const key of ['id', 'model', 'weights', 'dataset', 'implementation', 'settings'])
        expect(raw.job[key]).toMatch(/^[0-9a-f]{64}$/);
      expect(raw.job.gradproof).toMatch(/^\d+\.\d+\.\d+/);
      expect(typeof raw.output.records.first.$f64).toBe('string');
      const s = decodeShardFile(bytes, file(k));
      expect(s.job).toEqual(first.job);
      const want = shardRange(s.groups, k, 3, s.output.plan.groupCosts);
      expect({ start: s.shard.start, end: s.shard.end }).toEqual(want);
      expect(s.output.range).toEqual(want);
      // Only the range is recorded; outside it the records say "not swept".
      for (let i = 0; i < 47; i++) expect(s.output.records.covered[i]).toBe(i >= want.start && i < want.end ? 1 : 0);
      expect(bits(s.output.gradient).equals(bits(single.evidence.analytic))).toBe(true);
      // Written again from what was read: the same bytes, so nothing was lost or rounded.
      expect(encodeShardFile(s)).toBe(bytes.toString('utf8'));
    }
  });

  it('merge into the single-machine run: same verdict, groups, diagnosis, and difference bit for bit', async () => {
    const merged = await mergeShardFiles([shardsDir]);
    const { evaluations: _m, ...m } = merged.result;
    const { evaluations: _s, ...s } = single.result;
    expect(m).toEqual(s);
    expect(merged.result.difference).toBe(single.result.difference);
    expect(merged.result.verdict).toBe('fail');
    expect(merged.result.groups.filter((g) => g.verdict === 'fail').map((g) => g.name)).toEqual(['b1', 'W2']);
    for (const k of ['analytic', 'numerical', 'kinks'] as const)
      expect(bits(merged.evidence[k]).equals(bits(single.evidence[k]))).toBe(true);
    // Each shard repeats the plan: the merged run counts every shard's evaluations.
    expect(merged.result.evaluations).toBeGreaterThan(single.result.evaluations);
  });

  it("are saved as one run with each shard file's digest, and a report is prepared from it", async () => {
    const store = openStore(path.join(dir, 'store.db'));
    try {
      const merged = await mergeShardFiles([file(2), file(0), file(1)], store);
      const run = getRun(store, merged.runId!)!;
      expect(run.status).toBe('completed');
      expect(run.integrity).toEqual({ ok: true });
      expect(run.difference).toBe(single.result.difference);
      const shards = (
        run.settings as unknown as {
          shards: { job: string; count: number; files: { index: number; sha256: string }[] };
        }
      ).shards;
      expect(shards.count).toBe(3);
      expect(shards.files.map((f) => f.index)).toEqual([0, 1, 2]);
      for (const f of shards.files) expect(f.sha256).toBe(sha(readFileSync(file(f.index))));
      expect(merged.provenance.shards).toEqual(shards);
      // Read back from the store, the run's provenance names its shards too.
      expect(run.provenance.shards).toEqual(shards);
      createIdentity(store, 'Shard Engineer', 'engineer', 'a long enough passphrase');
      const report = createReport(store, merged.runId!, 'Shard Engineer');
      const body = (store.db.prepare('SELECT body FROM reports WHERE id = ?').get(report.id) as { body: Buffer }).body;
      const statement = JSON.parse(body.toString('utf8'));
      expect(statement.predicate.settings.shards).toEqual(shards);
    } finally {
      store.db.close();
    }
  });
});

describe('the merge refuses, one line per problem, naming the file', () => {
  it('an altered shard file, and accepts one only reformatted', async () => {
    const text = readFileSync(file(1), 'utf8');
    const raw = JSON.parse(text);
    const b64: string = raw.output.records.first.$f64;
    raw.output.records.first.$f64 = `${b64[0] === 'A' ? 'B' : 'A'}${b64.slice(1)}`;
    const altered = path.join(dir, 'altered.json');
    writeFileSync(altered, JSON.stringify(raw, null, 1));
    const lines = await refusal([file(0), altered, file(2)]);
    expect(lines).toEqual([
      expect.stringMatching(/^\S+altered\.json: altered: its contents no longer match the digest/),
    ]);
    const reformatted = path.join(dir, 'reformatted.json');
    writeFileSync(reformatted, JSON.stringify(JSON.parse(text)));
    expect((await mergeShardFiles([file(0), reformatted, file(2)])).result.difference).toBe(single.result.difference);
  });

  it('a missing shard, a duplicated one, and one given twice', async () => {
    expect(await refusal([file(0), file(2)])).toEqual(['shard 1 of 3 (entries 11–21) is missing']);
    const copy = path.join(dir, 'copy-of-1.json');
    copyFileSync(file(1), copy);
    expect(await refusal([file(0), file(1), copy, file(2)])).toEqual([
      `${file(1)}, ${copy}: each is shard 1 of 3 (duplicated): give one of them`,
    ]);
    expect(await refusal([shardsDir, file(1)])).toEqual([`${file(1)}: given 2 times`]);
  });

  it('a shard of another job, naming what differs, and one of another split', async () => {
    const other = path.join(dir, 'other');
    await runShardToFile(requestFromFlags({ backprop: 'correct', workers: '1' }), { index: 1, count: 3 }, `${other}/`);
    const lines = await refusal([file(0), path.join(other, 'shard-1-of-3.json'), file(2)]);
    expect(lines[0]).toMatch(
      /shard-1-of-3\.json: a shard of another job: its implementation [0-9a-f]{12}… where \S+shard-0-of-3\.json has [0-9a-f]{12}…$/,
    );
    expect(lines[1]).toBe('shard 1 of 3 (entries 11–21) is missing');
    await runShardToFile(request, { index: 0, count: 2 }, `${other}/`);
    expect(await refusal([...[0, 1, 2].map(file), path.join(other, 'shard-0-of-2.json')])).toEqual([
      expect.stringMatching(
        /shard-0-of-2\.json: shard 0 of 2, but \S+ is of 3: shards of different splits of the job$/,
      ),
    ]);
  });

  it('a shard whose range overlaps its neighbour', async () => {
    const zero = decodeShardFile(readFileSync(file(0)), file(0));
    const wide = variant(1, 'wide.json', (s) => {
      const i = s.shard.start - 1;
      for (const k of Object.keys(s.output.records) as (keyof typeof s.output.records)[])
        (s.output.records[k] as Float64Array)[i] = (zero.output.records[k] as Float64Array)[i]!;
      s.shard.start = i;
      s.output.range = { start: i, end: s.shard.end };
    });
    expect(await refusal([file(0), wide, file(2)])).toEqual([
      `${wide}: entries 10–21 are not shard 1 of 3's (11–21): its range overlaps another shard's or leaves entries out`,
    ]);
  });

  it('shards that settled another plan, computed another gradient or started from another θ₀', async () => {
    const plan = variant(1, 'plan.json', (s) => (s.output.plan.j0 += 1e-12));
    expect(await refusal([file(0), plan, file(2)])).toEqual([
      expect.stringMatching(
        /plan\.json settled another plan \(J\(θ₀\), steps or budget sample differ\): it ran another job$/,
      ),
    ]);
    const grad = variant(2, 'grad.json', (s) => (s.output.gradient[3] = 0));
    expect(await refusal([file(0), file(1), grad])).toEqual([
      expect.stringMatching(/grad\.json computed another gradient: the backward under audit is not the same$/),
    ]);
    const theta = variant(1, 'theta.json', (s) => (s.theta0[0] = s.theta0[0]! + 1));
    expect(await refusal([file(0), theta, file(2)])).toEqual([
      `${theta}: its θ₀ is not ${file(0)}'s: the subject started from other parameters`,
    ]);
  });

  it('files that are not shard files, paths that do not exist and empty folders, all at once', async () => {
    const notJson = path.join(dir, 'notes.txt');
    writeFileSync(notJson, 'hello');
    const json = path.join(dir, 'other.json');
    writeFileSync(json, '{"format": "something else"}');
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    expect(await refusal([notJson, json, path.join(dir, 'nowhere.json'), empty])).toEqual([
      `${path.join(dir, 'nowhere.json')}: no such file`,
      `${empty}: a folder with no shard files (shard-K-of-N.json) in it`,
      `${notJson}: not a GradProof shard file (not JSON); shard files are what check --shard K/N --out writes`,
      `${json}: not a GradProof shard file (no "format": "gradproof-shard/1")`,
    ]);
  });
});

describe('--shard and the Slurm script', () => {
  it('reads K/N, or K from Slurm or Kubernetes for auto/N, and says what is wrong otherwise', () => {
    expect(parseShardSpec('2/5', {})).toEqual({ index: 2, count: 5 });
    expect(parseShardSpec('auto/4', { SLURM_ARRAY_TASK_ID: '3' })).toEqual({ index: 3, count: 4 });
    expect(parseShardSpec('auto/4', { JOB_COMPLETION_INDEX: '1' })).toEqual({ index: 1, count: 4 });
    expect(() => parseShardSpec('auto/4', {})).toThrow(
      /^--shard auto\/4: neither SLURM_ARRAY_TASK_ID \(a Slurm array job\) nor JOB_COMPLETION_INDEX \(a Kubernetes Indexed Job\) is set/,
    );
    expect(() => parseShardSpec('auto/4', { SLURM_ARRAY_TASK_ID: '4' })).toThrow(
      /numbered 0 to 3; submit the array as 0-3/,
    );
    expect(() => parseShardSpec('5/5', {})).toThrow(/K must be a whole number from 0 to 4/);
    expect(() => parseShardSpec('1-4', {})).toThrow(/give K\/N/);
    expect(shardOutPath('/x/shards/', 2, 5)).toBe('/x/shards/shard-2-of-5.json');
    expect(shardOutPath('/x/mine.json', 2, 5)).toBe('/x/mine.json');
  });

  it('writes an array script that runs each shard with auto/N, and submits only what is listed', () => {
    expect(arrayList([7, 0, 1, 3, 5, 6])).toBe('0-1,3,5-7');
    expect(arrayList([2])).toBe('2');
    const script = sbatchScript({
      checkArgs: ['--subject', 'python3 my model.py', '--epsilon', '1e-6'],
      shards: 4,
      workers: 2,
      workdir: '/scratch/job',
      cwd: '/home/me',
      partition: 'cpu',
      command: ['/usr/bin/node', '/opt/gradproof/bin/gradproof.js'],
    });
    expect(script).toMatch(/^#!\/bin\/bash\n/);
    for (const line of [
      '#SBATCH --array=0-3',
      '#SBATCH --cpus-per-task=2',
      '#SBATCH --chdir=/home/me',
      '#SBATCH --partition=cpu',
      '#SBATCH --output=/scratch/job/logs/shard-%a-job%A.log',
      "exec /usr/bin/node /opt/gradproof/bin/gradproof.js check --subject 'python3 my model.py' --epsilon 1e-6 --workers 2 --shard auto/4 --out /scratch/job/",
    ])
      expect(script.split('\n')).toContain(line);
    expect(() => sbatchScript({ checkArgs: [], shards: 2, workers: 1, workdir: '/my jobs/x', cwd: '/' })).toThrow(
      /path with spaces/,
    );
  });
});
