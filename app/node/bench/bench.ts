/**
 * `npm run bench`: GradProof's sweep against the notebook's own algorithm in numpy,
 * timed side by side in one run, on the same models, data and ε, with the
 * notebook's planted bugs in the backward (so the difference is large and its
 * agreement across the four implementations is a sharp check).
 *
 *   (a) numpy: gradient_check_n generalised, a full forward per perturbation
 *   (b) GradProof, full evaluation, 1 worker
 *   (c) GradProof, incremental evaluation, 1 worker
 *   (d) GradProof, incremental evaluation, all workers
 *
 * Options: --repeat N (timed runs of (a), (c), (d), interleaved; the median is
 * reported; default 3), --only notebook|fraud|wide|torch. The PyTorch section
 * (bench-torch.ts) follows the models.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../util/compiled-path.js';
import type { BenchConfig } from './bench-one.js';
import { torchSection } from './bench-torch.js';
import { shardSection } from './bench-shards.js';

interface Measured {
  label: string;
  parameters: number;
  entries: number;
  sampled: boolean;
  seconds: number;
  secondsForAll: number;
  evaluations: number;
  evaluationsPerSecond: number;
  peakRssMiB: number;
  difference: number;
  sampleDifference?: number;
  /** Seconds of every timed run, when repeated. */
  runs?: number[];
}

interface ModelCase {
  key: string;
  title: string;
  model: string;
  data: string;
  numpy: string[];
  /**
   * Entries sampled for the numpy peer and for GradProof's full mode (0 = all).
   * Samples are (k·n) div K, so a sample whose K divides another's is a subset of
   * it: every run's difference is compared on the smallest sample.
   */
  numpySample: number;
  fullSample: number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const root = projectRoot(here);
const workers = availableParallelism();

const cases: ModelCase[] = [
  {
    key: 'notebook',
    title: 'notebook case, 4→5→3→1 on 3 examples',
    model: 'builtin:notebook-fraud',
    data: 'builtin:notebook-case',
    numpy: ['--notebook'],
    numpySample: 0,
    fullSample: 0,
  },
  {
    key: 'fraud',
    title: 'fraud MLP 30→64→32→1 on 2,048 rows',
    model: 'mlp:30,64,32,1',
    data: 'random:2048',
    numpy: ['--widths', '30,64,32,1', '--rows', '2048'],
    numpySample: 0,
    fullSample: 512,
  },
  {
    key: 'wide',
    title: 'wide MLP 30→256→256→1 on 1,024 rows',
    model: 'mlp:30,256,256,1',
    data: 'random:1024',
    numpy: ['--widths', '30,256,256,1', '--rows', '1024'],
    numpySample: 512,
    fullSample: 64,
  },
];

function run(cmd: string, args: string[], label: string): Measured {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${label} failed (${cmd} ${args.join(' ')}):\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return { label, ...(JSON.parse(line) as Omit<Measured, 'label'>) };
}

function compareOn(c: ModelCase): number {
  const samples = [c.numpySample, c.fullSample].filter((k) => k > 0);
  return samples.length ? Math.min(...samples) : 0;
}

function gradproof(
  c: ModelCase,
  evaluation: 'full' | 'incremental',
  w: number,
  sample: number,
  label: string,
): Measured {
  const k = compareOn(c);
  const cfg: BenchConfig = {
    model: c.model,
    data: c.data,
    seed: 1,
    evaluation,
    workers: w,
    ...(sample ? { sample } : {}),
    ...(k ? { compareOn: k } : {}),
  };
  return run(process.execPath, [path.join(here, 'bench-one.js'), JSON.stringify(cfg)], label);
}

function fmt(x: number, digits = 3): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toPrecision(digits);
}

/** `--repeat N` (default 3): timed runs of each fast configuration, interleaved; `--only NAME` picks one model. */
function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function usage(message: string): never {
  process.stderr.write(
    `bench: ${message}\nUsage: npm run bench -- [--repeat N] [--only ${cases.map((c) => c.key).join('|')}|torch]\n`,
  );
  process.exit(2);
}
const repeat = Number(option('--repeat') ?? 3);
const only = option('--only');
if (!Number.isInteger(repeat) || repeat < 1)
  usage(`--repeat ${option('--repeat')}: give a whole number of runs, 1 or more`);
const chosen = only ? cases.filter((c) => c.key === only) : cases;
if (chosen.length === 0 && only !== 'torch')
  usage(`--only ${only}: no such model; choose one of ${cases.map((c) => c.key).join(', ')}`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Runs `make` `repeat` times per label, interleaved so that a slow spell of the machine falls on every configuration alike, and keeps each label's median run. */
function medianRuns(makers: (() => Measured)[]): Measured[] {
  const runs: Measured[][] = makers.map(() => []);
  for (let r = 0; r < repeat; r++) makers.forEach((make, j) => runs[j]!.push(make()));
  return runs.map((rs) => {
    const mid = median(rs.map((x) => x.secondsForAll));
    const pick = rs.reduce((best, x) =>
      Math.abs(x.secondsForAll - mid) < Math.abs(best.secondsForAll - mid) ? x : best,
    );
    return {
      ...pick,
      secondsForAll: mid,
      evaluationsPerSecond: (pick.evaluationsPerSecond * pick.secondsForAll) / mid,
      runs: rs.map((x) => x.secondsForAll),
    };
  });
}

const lines: string[] = [];
const say = (s = ''): void => {
  lines.push(s);
  process.stdout.write(`${s}\n`);
};
let disagreements = 0;
say(
  `GradProof benchmark: ${new Date().toISOString()}, node ${process.version}, ${workers} cores, ε = 1e-7, central differences, backward with the notebook's bugs (W2 ×2, b1 ×4)`,
);
say(
  `Each side is timed from the start of its check to its end: the gradient under audit and the sweep (for GradProof also starting and stopping its worker threads). (a), (c) and (d) are the median of ${repeat} interleaved runs; (b), the slow reference, runs once, on a sample of entries for the larger models, its whole time (start-up included) scaled to every entry.`,
);
for (const c of chosen) {
  say();
  say(`## ${c.title}`);
  const rows: Measured[] = [];
  const k = compareOn(c);
  const numpyArgs = [
    path.join(root, 'scripts', 'bench', 'numpy_peer.py'),
    ...c.numpy,
    '--buggy',
    ...(c.numpySample ? ['--sample', String(c.numpySample)] : []),
    ...(k ? ['--compare-on', String(k)] : []),
  ];
  const [numpy, one, all] = medianRuns([
    () => run('python3', numpyArgs, '(a) numpy, notebook loop'),
    () => gradproof(c, 'incremental', 1, 0, '(c) GradProof incremental, 1 worker'),
    () => gradproof(c, 'incremental', workers, 0, `(d) GradProof incremental, ${workers} workers`),
  ]);
  rows.push(numpy!, gradproof(c, 'full', 1, c.fullSample, '(b) GradProof full, 1 worker'), one!, all!);
  const peer = rows[0]!;
  say(
    `${rows[0]!.parameters.toLocaleString('en-US')} parameters, ${(2 * rows[0]!.parameters).toLocaleString('en-US')} evaluations for a full sweep`,
  );
  say('| run | entries timed | seconds (full sweep) | evaluations/s | peak RSS MiB | × numpy | difference |');
  say('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const diff = k ? r.sampleDifference! : r.difference;
    const timed = r.sampled ? `${r.entries} (scaled)` : `${r.entries} (all)`;
    say(
      `| ${r.label} | ${timed} | ${fmt(r.secondsForAll)} | ${fmt(r.evaluationsPerSecond)} | ${fmt(r.peakRssMiB)} | ${r === peer ? '1' : fmt(peer.secondsForAll / r.secondsForAll)} | ${diff.toPrecision(10)} |`,
    );
  }
  if (repeat > 1)
    say(
      `runs (s): ${rows
        .filter((r) => r.runs)
        .map((r) => `${r.label.slice(0, 3)} ${r.runs!.map((x) => fmt(x)).join(', ')}`)
        .join('; ')}`,
    );
  const diffs = rows.map((r) => (k ? r.sampleDifference! : r.difference));
  const spread = Math.max(...diffs) - Math.min(...diffs);
  // Full passes round differently (BLAS order, rank-one updates): six significant digits.
  const agree = spread <= 1e-6 * Math.max(...diffs);
  if (!agree) disagreements++;
  say(
    `agreement: the four differences ${agree ? 'agree' : 'DISAGREE'} to ${spread === 0 ? 'every digit' : `${spread.toExponential(1)} (relative ${(spread / Math.max(...diffs)).toExponential(1)})`}${k ? `, compared on ${k} evenly spaced entries (the smallest sample timed)` : ''}`,
  );
}
if (!only || only === 'torch') disagreements += torchSection({ repeat, say });
if (!only) disagreements += shardSection({ repeat, say });
say();
say(
  disagreements === 0
    ? 'All implementations agree on the difference.'
    : `${disagreements} model(s) where the implementations disagree.`,
);
process.exitCode = disagreements === 0 ? 0 : 1;
