/**
 * The PyTorch section of `npm run bench`: one MLP (GradProof's `mlp:` recipe as an
 * nn.Sequential, float64, the same θ and rows as the numpy peer), its autograd backward
 * checked five ways, side by side in one run:
 *
 *   (i)   GradProof, full check, the torch subject through gradproof_torch.serve_module
 *   (ii)  GradProof, full check, the same network through the generic numpy-style
 *         gradproof_adapter.serve(cost, gradient, θ₀, groups), torch doing each evaluation
 *   (iii) torch.autograd.gradcheck, default mode, on every parameter
 *   (iv)  torch.autograd.gradcheck, fast_mode=True
 *   (v)   GradProof, --mode fast, the torch subject
 *
 * Each is timed as a user waits for it: from starting the command to its verdict (Python's
 * start and torch's import included on every side). (i), (iv) and (v) are the median of
 * `repeat` interleaved runs; (ii) and (iii), the slow ones, run once.
 *
 * Run alone: node dist/app/node/bench/bench-torch.js [--widths 30,64,32,1] [--rows 2048] [--repeat N]
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { projectRoot } from '../util/compiled-path.js';
import { PEER_ENV, PEER_ENV_TEXT } from './peer-env.js';

export interface TorchBenchOptions {
  repeat: number;
  say: (line?: string) => void;
  widths?: string;
  rows?: number;
  /** A Python with torch and numpy; default GRADPROOF_BENCH_PYTHON, else Debian's /usr/bin/python3. */
  python?: string;
}

interface TorchRun {
  label: string;
  seconds: number;
  runs?: number[];
  verdict: string;
  difference?: number;
  evaluations?: number;
  note?: string;
}

const root = projectRoot(path.dirname(fileURLToPath(import.meta.url)));
const PEER = path.join('scripts', 'bench', 'torch_peer.py');

function timed(cmd: string, args: string[], label: string): { stdout: string; seconds: number } {
  const t0 = performance.now();
  // Every side with the peers' tuned allocator: the Python subjects GradProof starts inherit it too.
  const env = { ...process.env, ...PEER_ENV };
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, env });
  const seconds = (performance.now() - t0) / 1000;
  // GradProof exits 1 on a failing verdict; that is a result, not a failure of the run.
  if (r.status !== 0 && r.status !== 1) throw new Error(`${label} failed (${cmd} ${args.join(' ')}):\n${r.stderr}`);
  return { stdout: r.stdout, seconds };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toPrecision(3);
}

/** Prints the section's table; returns the number of disagreements (verdicts that differ). */
export function torchSection(o: TorchBenchOptions): number {
  const python = o.python ?? process.env.GRADPROOF_BENCH_PYTHON ?? '/usr/bin/python3';
  const widths = o.widths ?? '30,64,32,1';
  const rows = o.rows ?? 2048;
  const net = ['--widths', widths, '--rows', String(rows)];
  const { say } = o;
  say();
  say(
    `## PyTorch: MLP ${widths.split(',').join('→')} on ${rows.toLocaleString('en-US')} rows, float64, autograd's backward`,
  );
  const probe = spawnSync(python, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    say(`skipped: ${python} cannot import torch and numpy (on Debian: apt-get install python3-torch)`);
    return 0;
  }
  const workers = availableParallelism();
  const gradproof = (serve: string, extra: string[], label: string) => (): TorchRun => {
    const subject = `${python} ${PEER} --serve ${serve} ${net.join(' ')}`;
    const cli = [
      path.join(root, 'bin', 'gradproof.js'),
      'check',
      '--subject',
      subject,
      '--json',
      '--no-save',
      ...extra,
    ];
    const r = timed(process.execPath, cli, label);
    const j = JSON.parse(r.stdout) as { verdict: string; difference: number; evaluations: number };
    return { label, seconds: r.seconds, verdict: j.verdict, difference: j.difference, evaluations: j.evaluations };
  };
  const gradcheck = (fast: boolean, label: string) => (): TorchRun => {
    const r = timed(python, [PEER, '--gradcheck', ...(fast ? ['--fast-mode'] : []), ...net], label);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { verdict: string; seconds: number };
    return { label, seconds: r.seconds, verdict: j.verdict, note: `gradcheck itself ${fmt(j.seconds)} s` };
  };
  const makers = {
    i: gradproof('module', [], `(i) GradProof full, gradproof_torch, ${workers} workers`),
    ii: gradproof('generic', [], `(ii) GradProof full, generic serve(), ${workers} workers`),
    iii: gradcheck(false, '(iii) torch gradcheck, default mode'),
    iv: gradcheck(true, '(iv) torch gradcheck, fast_mode=True'),
    v: gradproof('module', ['--mode', 'fast'], `(v) GradProof --mode fast, gradproof_torch, ${workers} workers`),
  };
  // The fast ones interleaved, so that a slow spell of the machine falls on each alike.
  const repeated: Record<'i' | 'iv' | 'v', TorchRun[]> = { i: [], iv: [], v: [] };
  for (let r = 0; r < o.repeat; r++) for (const k of ['i', 'iv', 'v'] as const) repeated[k].push(makers[k]());
  const mid = (runs: TorchRun[]): TorchRun => {
    const m = median(runs.map((x) => x.seconds));
    const pick = runs.reduce((best, x) => (Math.abs(x.seconds - m) < Math.abs(best.seconds - m) ? x : best));
    return { ...pick, seconds: m, runs: runs.map((x) => x.seconds) };
  };
  const table = [mid(repeated.i), makers.ii(), makers.iii(), mid(repeated.iv), mid(repeated.v)];
  const [i, ii, iii] = table as [TorchRun, TorchRun, TorchRun];
  say(
    `torch ${probe.stdout.trim()} (${python}); every side timed from starting its command to its verdict; ${PEER_ENV_TEXT} for every process`,
  );
  say('| run | seconds | (i) is × faster | verdict | difference | cost evaluations | note |');
  say('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of table) {
    say(
      `| ${r.label} | ${fmt(r.seconds)} | ${r === i ? '1' : fmt(r.seconds / i.seconds)} | ${r.verdict} | ${r.difference === undefined ? '—' : r.difference.toPrecision(4)} | ${r.evaluations ?? '—'} | ${r.note ?? ''} |`,
    );
  }
  if (o.repeat > 1)
    say(
      `runs (s): ${table
        .filter((r) => r.runs)
        .map((r) => `${r.label.split(' ')[0]} ${r.runs!.map(fmt).join(', ')}`)
        .join('; ')}`,
    );
  say(
    `(i) against the generic serve(): ${fmt(ii.seconds / i.seconds)}× (target 5×); against gradcheck's default mode: ${fmt(iii.seconds / i.seconds)}× (target 10×)`,
  );
  const verdicts = new Set(table.map((r) => r.verdict));
  say(
    verdicts.size === 1
      ? `agreement: all five say ${[...verdicts][0]}`
      : `agreement: the verdicts DISAGREE (${table.map((r) => `${r.label.split(' ')[0]} ${r.verdict}`).join(', ')})`,
  );
  return verdicts.size === 1 ? 0 : 1;
}

function option(name: string): string | undefined {
  const k = process.argv.indexOf(name);
  return k >= 0 ? process.argv[k + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const repeat = Number(option('--repeat') ?? 3);
  const rows = Number(option('--rows') ?? 2048);
  if (!Number.isInteger(repeat) || repeat < 1 || !Number.isInteger(rows) || rows < 1) {
    process.stderr.write('Usage: bench-torch.js [--widths 30,64,32,1] [--rows 2048] [--repeat N]\n');
    process.exit(2);
  }
  const disagreements = torchSection({
    repeat,
    rows,
    widths: option('--widths'),
    say: (s = '') => process.stdout.write(`${s}\n`),
  });
  process.exitCode = disagreements === 0 ? 0 : 1;
}
