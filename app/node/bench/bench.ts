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
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../util/compiled-path.js';
import type { BenchConfig } from './bench-one.js';

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
}

interface ModelCase {
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
  { title: 'notebook case, 4→5→3→1 on 3 examples', model: 'builtin:notebook-fraud', data: 'builtin:notebook-case', numpy: ['--notebook'], numpySample: 0, fullSample: 0 },
  { title: 'fraud MLP 30→64→32→1 on 2,048 rows', model: 'mlp:30,64,32,1', data: 'random:2048', numpy: ['--widths', '30,64,32,1', '--rows', '2048'], numpySample: 0, fullSample: 512 },
  { title: 'wide MLP 30→256→256→1 on 1,024 rows', model: 'mlp:30,256,256,1', data: 'random:1024', numpy: ['--widths', '30,256,256,1', '--rows', '1024'], numpySample: 512, fullSample: 64 },
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

function gradproof(c: ModelCase, evaluation: 'full' | 'incremental', w: number, sample: number, label: string): Measured {
  const k = compareOn(c);
  const cfg: BenchConfig = { model: c.model, data: c.data, seed: 1, evaluation, workers: w, ...(sample ? { sample } : {}), ...(k ? { compareOn: k } : {}) };
  return run(process.execPath, [path.join(here, 'bench-one.js'), JSON.stringify(cfg)], label);
}

function fmt(x: number, digits = 3): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toPrecision(digits);
}

const lines: string[] = [];
const say = (s = ''): void => {
  lines.push(s);
  process.stdout.write(`${s}\n`);
};
let disagreements = 0;
say(`GradProof benchmark: ${new Date().toISOString()}, node ${process.version}, ${workers} cores, ε = 1e-7, central differences, backward with the notebook's bugs (W2 ×2, b1 ×4)`);
for (const c of cases) {
  say();
  say(`## ${c.title}`);
  const rows: Measured[] = [];
  const k = compareOn(c);
  const numpyArgs = [path.join(root, 'scripts', 'bench', 'numpy_peer.py'), ...c.numpy, '--buggy', ...(c.numpySample ? ['--sample', String(c.numpySample)] : []), ...(k ? ['--compare-on', String(k)] : [])];
  rows.push(run('python3', numpyArgs, '(a) numpy, notebook loop'));
  rows.push(gradproof(c, 'full', 1, c.fullSample, '(b) GradProof full, 1 worker'));
  rows.push(gradproof(c, 'incremental', 1, 0, '(c) GradProof incremental, 1 worker'));
  rows.push(gradproof(c, 'incremental', workers, 0, `(d) GradProof incremental, ${workers} workers`));
  const peer = rows[0]!;
  say(`${rows[0]!.parameters.toLocaleString('en-US')} parameters, ${(2 * rows[0]!.parameters).toLocaleString('en-US')} evaluations for a full sweep`);
  say('| run | entries timed | seconds (full sweep) | evaluations/s | peak RSS MiB | × numpy | difference |');
  say('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const diff = k ? r.sampleDifference! : r.difference;
    const timed = r.sampled ? `${r.entries} (scaled)` : `${r.entries} (all)`;
    say(`| ${r.label} | ${timed} | ${fmt(r.secondsForAll)} | ${fmt(r.evaluationsPerSecond)} | ${fmt(r.peakRssMiB)} | ${r === peer ? '1' : fmt(peer.secondsForAll / r.secondsForAll)} | ${diff.toPrecision(10)} |`);
  }
  const diffs = rows.map((r) => (k ? r.sampleDifference! : r.difference));
  const spread = Math.max(...diffs) - Math.min(...diffs);
  // Full passes round differently (BLAS order, rank-one updates): six significant digits.
  const agree = spread <= 1e-6 * Math.max(...diffs);
  if (!agree) disagreements++;
  say(
    `agreement: the four differences ${agree ? 'agree' : 'DISAGREE'} to ${spread === 0 ? 'every digit' : `${spread.toExponential(1)} (relative ${(spread / Math.max(...diffs)).toExponential(1)})`}${k ? `, compared on ${k} evenly spaced entries (the smallest sample timed)` : ''}`,
  );
}
say();
say(disagreements === 0 ? 'All implementations agree on the difference.' : `${disagreements} model(s) where the implementations disagree.`);
process.exitCode = disagreements === 0 ? 0 : 1;
