/**
 * The sharding section of `npm run bench`: what it costs to split a full check into N shards
 * (`check --shard K/N`, then `merge`) against one run, on this machine, with one worker per
 * process so that the figures are compute, not parallelism. Every shard settles the same plan
 * (J(θ₀), the budget sample, the gradient) and pays a process start; the merge reads the files
 * and judges. Each is timed as a user waits for it (process start to exit), and the merged
 * difference must equal the single run's to the bit.
 *
 * Run alone: node dist/app/node/bench/bench-shards.js [--shards 2,4,8] [--repeat N]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { projectRoot } from '../util/compiled-path.js';

export interface ShardBenchOptions {
  repeat: number;
  say: (line?: string) => void;
  shards?: number[];
}

const MODELS = [
  { title: 'fraud MLP 30→64→32→1 on 2,048 rows (4,097 parameters)', model: 'mlp:30,64,32,1', data: 'random:2048' },
  { title: 'wide MLP 30→256→256→1 on 1,024 rows (73,985 parameters)', model: 'mlp:30,256,256,1', data: 'random:1024' },
];
const jobArgs = (m: (typeof MODELS)[number]): string[] => [
  '--model',
  m.model,
  '--data',
  m.data,
  '--backprop',
  'notebook-buggy',
  '--workers',
  '1',
];
const root = projectRoot(path.dirname(fileURLToPath(import.meta.url)));
const bin = path.join(root, 'bin', 'gradproof.js');

interface Timed {
  wall: number;
  json: Record<string, unknown>;
}

function gradproof(args: string[]): Timed {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [bin, ...args, '--json'], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  const wall = (performance.now() - t0) / 1000;
  // check exits 1 for the failing backward this bench audits; anything else is a failure of the bench.
  if (r.status !== 0 && r.status !== 1) throw new Error(`gradproof ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return { wall, json: JSON.parse(r.stdout) as Record<string, unknown> };
}

interface Row {
  label: string;
  processes: number;
  wall: number;
  checkSeconds: number;
  evaluations: number;
  difference: number;
  runs: number[];
}

function single(job: string[]): Row {
  const r = gradproof(['check', ...job, '--no-save']);
  return {
    label: 'one run',
    processes: 1,
    wall: r.wall,
    checkSeconds: r.json.seconds as number,
    evaluations: r.json.evaluations as number,
    difference: r.json.difference as number,
    runs: [],
  };
}

function sharded(job: string[], n: number): Row {
  const dir = mkdtempSync(path.join(tmpdir(), 'gp-bench-shards-'));
  try {
    let wall = 0;
    let checkSeconds = 0;
    for (let k = 0; k < n; k++) {
      const s = gradproof(['check', ...job, '--shard', `${k}/${n}`, '--out', `${dir}/`]);
      wall += s.wall;
      checkSeconds += s.json.seconds as number;
    }
    const m = gradproof(['merge', dir, '--no-save']);
    return {
      label: `${n} shards + merge`,
      processes: n + 1,
      wall: wall + m.wall,
      checkSeconds,
      evaluations: m.json.evaluations as number,
      difference: m.json.difference as number,
      runs: [],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toPrecision(3);
}

/** Prints the section; returns the number of disagreements (a merged difference that is not the single run's, to the bit). */
export function shardSection(o: ShardBenchOptions): number {
  const counts = o.shards ?? [2, 4, 8];
  o.say();
  o.say('## Sharding: N shards and their merge on this machine, against one run');
  o.say(
    `The notebook's bugs in the backward, 1 worker per process, every process after the other: the sum is what the shards cost in computing, not how long a cluster takes. The median of ${o.repeat} interleaved runs. "check s": each process's own timing of its check (without Node's start-up and the shard file).`,
  );
  let disagreements = 0;
  for (const model of MODELS) {
    const job = jobArgs(model);
    const makers = [() => single(job), ...counts.map((n) => () => sharded(job, n))];
    const runs: Row[][] = makers.map(() => []);
    // Interleaved, so that a slow spell of the machine falls on every configuration alike.
    for (let r = 0; r < o.repeat; r++) makers.forEach((make, j) => runs[j]!.push(make()));
    const rows = runs.map((rs) => {
      const mid = median(rs.map((x) => x.wall));
      const pick = rs.reduce((best, x) => (Math.abs(x.wall - mid) < Math.abs(best.wall - mid) ? x : best));
      return { ...pick, wall: mid, runs: rs.map((x) => x.wall) };
    });
    const one = rows[0]!;
    o.say();
    o.say(`### ${model.title}`);
    o.say(
      '| run | processes | seconds, all processes | × one run | check s | cost evaluations | × one run | difference |',
    );
    o.say('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows)
      o.say(
        `| ${r.label} | ${r.processes} | ${fmt(r.wall)} | ${(r.wall / one.wall).toFixed(2)} | ${fmt(r.checkSeconds)} | ${r.evaluations.toLocaleString('en-US')} | ${(r.evaluations / one.evaluations).toFixed(3)} | ${r.difference.toPrecision(17)} |`,
      );
    if (o.repeat > 1) o.say(`runs (s): ${rows.map((r) => `${r.label} ${r.runs.map(fmt).join(', ')}`).join('; ')}`);
    const differ = rows.filter((r) => !Object.is(r.difference, one.difference));
    o.say(
      differ.length === 0
        ? 'agreement: every merged run has the single run’s difference, to the bit'
        : `agreement: ${differ.map((r) => r.label).join(', ')} DISAGREE with the single run`,
    );
    if (differ.length) disagreements++;
  }
  return disagreements;
}

// Run alone.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const option = (name: string): string | undefined => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const repeat = Number(option('--repeat') ?? 3);
  const shards = (option('--shards') ?? '2,4,8').split(',').map(Number);
  if (!Number.isInteger(repeat) || repeat < 1 || shards.some((n) => !Number.isInteger(n) || n < 1)) {
    process.stderr.write('Usage: node dist/app/node/bench/bench-shards.js [--shards 2,4,8] [--repeat N]\n');
    process.exit(2);
  }
  process.exitCode = shardSection({ repeat, shards, say: (l = '') => process.stdout.write(`${l}\n`) });
}
