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
 * The numpy peer runs at its best: glibc's allocator tuned (PEER_ENV) and, of one BLAS
 * thread and one per core, the faster in this same run. Ratios are given in-run (each
 * side's check from its start to its end) and for the whole process (start-up included).
 *
 * Then fast vs full mode on the 1.1M-parameter MLP, both through the check pipeline
 * (runCheck with a CheckRequest, bench-check.ts), and the PyTorch section (bench-torch.ts).
 *
 * Options: --repeat N (timed runs of (a), (c), (d) and of each mode, interleaved; the median
 * is reported; default 3), --only notebook|fraud|wide|fast-full|torch, --check-model REF and
 * --check-data REF (the fast-vs-full model; default mlp:100,1000,1000,1 on random:1024).
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../util/compiled-path.js';
import type { CheckBenchResult } from './bench-check.js';
import type { BenchConfig } from './bench-one.js';
import { torchSection } from './bench-torch.js';
import { shardSection } from './bench-shards.js';
import { PEER_ENV, PEER_ENV_TEXT } from './peer-env.js';

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
  /** The whole process, from spawning it to its exit, with its check scaled like secondsForAll. */
  processForAll: number;
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

function spawnTimed(
  cmd: string,
  args: string[],
  label: string,
  env?: NodeJS.ProcessEnv,
): { line: string; wall: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, ...(env ? { env } : {}) });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${label} failed (${cmd} ${args.join(' ')}):\n${r.stderr}`);
  return { line: r.stdout.trim().split('\n').pop()!, wall, stdout: r.stdout };
}

function run(cmd: string, args: string[], label: string, env?: NodeJS.ProcessEnv): Measured {
  const { line, wall } = spawnTimed(cmd, args, label, env);
  const m = JSON.parse(line) as Omit<Measured, 'label' | 'processForAll'>;
  // Start-up and exit as measured; the check itself scaled to every entry as in secondsForAll.
  return { label, ...m, processForAll: wall - m.seconds + m.secondsForAll };
}

/** The numpy peer's environment with `threads` BLAS threads (OpenBLAS and OpenMP alike). */
function peerEnv(threads: number): NodeJS.ProcessEnv {
  const t = String(threads);
  return { ...process.env, ...PEER_ENV, OPENBLAS_NUM_THREADS: t, OMP_NUM_THREADS: t, MKL_NUM_THREADS: t };
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
    `bench: ${message}\nUsage: npm run bench -- [--repeat N] [--only ${cases.map((c) => c.key).join('|')}|fast-full|torch] [--check-model REF] [--check-data REF]\n`,
  );
  process.exit(2);
}
const repeat = Number(option('--repeat') ?? 3);
const only = option('--only');
if (!Number.isInteger(repeat) || repeat < 1)
  usage(`--repeat ${option('--repeat')}: give a whole number of runs, 1 or more`);
const chosen = only ? cases.filter((c) => c.key === only) : cases;
if (chosen.length === 0 && only !== 'torch' && only !== 'fast-full')
  usage(`--only ${only}: no such model; choose one of ${cases.map((c) => c.key).join(', ')}, fast-full, torch`);
const checkModel = option('--check-model') ?? 'mlp:100,1000,1000,1';
const checkData = option('--check-data') ?? 'random:1024';

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
      processForAll: median(rs.map((x) => x.processForAll)),
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
  `In-run: each side is timed from the start of its check to its end: the gradient under audit and the sweep (for GradProof also starting and stopping its worker threads). Whole process: from spawning the process to its exit (interpreter start-up, imports, data). (a), (c) and (d) are the median of ${repeat} interleaved runs; (b), the slow reference, runs once, on a sample of entries for the larger models, its check scaled to every entry.`,
);
const blasThreads = [...new Set([1, workers])];
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
  // The peer at its best: every BLAS thread count tried in the same interleaved runs, the fastest kept.
  const measured = medianRuns([
    ...blasThreads.map(
      (t) => () =>
        run('python3', numpyArgs, `(a) numpy, notebook loop, ${t} BLAS thread${t === 1 ? '' : 's'}`, peerEnv(t)),
    ),
    () => gradproof(c, 'incremental', 1, 0, '(c) GradProof incremental, 1 worker'),
    () => gradproof(c, 'incremental', workers, 0, `(d) GradProof incremental, ${workers} workers`),
  ]);
  const peers = measured.slice(0, blasThreads.length);
  const [one, all] = measured.slice(blasThreads.length);
  const numpy = peers.reduce((best, x) => (x.secondsForAll < best.secondsForAll ? x : best));
  rows.push(numpy, gradproof(c, 'full', 1, c.fullSample, '(b) GradProof full, 1 worker'), one!, all!);
  const peer = numpy;
  say(
    `${rows[0]!.parameters.toLocaleString('en-US')} parameters, ${(2 * rows[0]!.parameters).toLocaleString('en-US')} evaluations for a full sweep`,
  );
  say(
    '| run | entries timed | in-run seconds (full sweep) | whole process seconds | evaluations/s | peak RSS MiB | × numpy in-run | × numpy whole process | difference |',
  );
  say('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const diff = k ? r.sampleDifference! : r.difference;
    const timed = r.sampled ? `${r.entries} (scaled)` : `${r.entries} (all)`;
    say(
      `| ${r.label} | ${timed} | ${fmt(r.secondsForAll)} | ${fmt(r.processForAll)} | ${fmt(r.evaluationsPerSecond)} | ${fmt(r.peakRssMiB)} | ${r === peer ? '1' : fmt(peer.secondsForAll / r.secondsForAll)} | ${r === peer ? '1' : fmt(peer.processForAll / r.processForAll)} | ${diff.toPrecision(10)} |`,
    );
  }
  say(
    `numpy at its best: ${PEER_ENV_TEXT}; BLAS threads (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS) tried in this run: ${peers.map((p, j) => `${blasThreads[j]} → ${fmt(p.secondsForAll)} s`).join(', ')}; the fastest, ${blasThreads[peers.indexOf(numpy)]}, is row (a)`,
  );
  if (repeat > 1)
    say(
      `runs (s): ${[numpy, one!, all!]
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
if (!only || only === 'fast-full') disagreements += fastFullSection();
if (!only || only === 'torch') disagreements += torchSection({ repeat, say });
if (!only) disagreements += shardSection({ repeat, say });
say();
say(
  disagreements === 0
    ? 'All implementations agree on the difference.'
    : `${disagreements} model(s) where the implementations disagree.`,
);
process.exitCode = disagreements === 0 ? 0 : 1;

/**
 * Fast vs full mode on one model, both through the check pipeline (runCheck), each in its own
 * process, interleaved. Returns 1 when the verdicts differ.
 */
function fastFullSection(): number {
  say();
  say(`## fast vs full mode: ${checkModel} on ${checkData}, through the check pipeline (runCheck)`);
  const check = (mode: 'fast' | 'full') => (): CheckBenchResult & { wall: number } => {
    const request = { implementation: { kind: 'builtin', model: checkModel, data: checkData }, mode };
    const r = spawnTimed(process.execPath, [path.join(here, 'bench-check.js'), JSON.stringify(request)], mode);
    return { ...(JSON.parse(r.line) as CheckBenchResult), wall: r.wall };
  };
  const runs: Record<'full' | 'fast', (CheckBenchResult & { wall: number })[]> = { full: [], fast: [] };
  for (let r = 0; r < repeat; r++) for (const mode of ['full', 'fast'] as const) runs[mode].push(check(mode)());
  const mid = (rs: (CheckBenchResult & { wall: number })[]) => {
    const m = median(rs.map((x) => x.seconds));
    const pick = rs.reduce((best, x) => (Math.abs(x.seconds - m) < Math.abs(best.seconds - m) ? x : best));
    return { ...pick, seconds: m, wall: median(rs.map((x) => x.wall)) };
  };
  const full = mid(runs.full);
  const fast = mid(runs.fast);
  say(
    `${full.parameters.toLocaleString('en-US')} parameters, ${full.workers} workers, central differences, ε = 1e-7, the correct backward; median of ${repeat} interleaved runs`,
  );
  say('| mode | verdict | in-run seconds | whole process seconds | cost evaluations | how the groups were judged |');
  say('| --- | --- | --- | --- | --- | --- |');
  for (const [label, r] of [
    ['full', full],
    ['fast', fast],
  ] as const) {
    const how = r.groups.map((g) => `${g.name} ${g.verdict}${g.method === 'directions' ? ' (directions)' : ''}`);
    say(`| ${label} | ${r.verdict} | ${fmt(r.seconds)} | ${fmt(r.wall)} | ${r.evaluations} | ${how.join(', ')} |`);
  }
  say(
    `fast is ${fmt(full.seconds / fast.seconds)}× faster than full in-run, ${fmt(full.wall / fast.wall)}× for the whole process${fast.missProbability !== null ? `; fast mode's stated miss probability ${fast.missProbability.toPrecision(2)}` : ''}`,
  );
  say(
    `runs (s): full ${runs.full.map((x) => fmt(x.seconds)).join(', ')}; fast ${runs.fast.map((x) => fmt(x.seconds)).join(', ')}`,
  );
  const agree = full.verdict === fast.verdict;
  say(
    `agreement: ${agree ? `both say ${full.verdict}` : `the verdicts DISAGREE (full ${full.verdict}, fast ${fast.verdict})`}`,
  );
  return agree ? 0 : 1;
}
