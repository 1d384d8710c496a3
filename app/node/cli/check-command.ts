import { type Command, Option } from 'commander';
import { type CheckRequest, type CheckRequestInput, checkRequestSchema } from '../../core/api/contract.js';
import type { CheckResult } from '../../core/check/result.js';
import { SCHEMES } from '../../core/check/schemes.js';
import { InputError } from '../../core/errors.js';
import { parseDefect } from '../../core/model/defects.js';
import type { CheckOutcome } from '../check/pipeline.js';

/** The contract's defaults, read once from its schema (so help text cannot drift from them). */
const DEFAULTS = checkRequestSchema.parse({});
const BUILTIN_DEFAULTS = DEFAULTS.implementation as Extract<CheckRequest['implementation'], { kind: 'builtin' }>;

/** What commander hands over for `check`: only the options the user gave (defaults are the contract's). */
export interface CheckFlags {
  model?: string;
  weights?: string;
  data?: string;
  label?: string;
  standardize?: boolean;
  subject?: string;
  python?: string;
  timeout?: string;
  backprop?: 'correct' | 'notebook-buggy';
  defect?: string[];
  epsilon?: string;
  threshold?: string;
  scheme?: string;
  evaluation?: string;
  mode?: string;
  directions?: string;
  detect?: string;
  epsilonSweep?: boolean;
  workers?: string;
  seed?: string;
  json?: boolean;
  progress?: boolean;
  save?: boolean;
  /** One shard of a cluster job (`--shard K/N --out FILE`, app/node/cluster). */
  shard?: string;
  out?: string;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** The options of `check`, each mapped onto a field of the API's CheckRequest. */
export function addCheckOptions(cmd: Command): Command {
  return cmd
    .option(
      '--model <ref>',
      `builtin:notebook-fraud, builtin:payments-mlp, mlp:IN,HIDDEN…,OUT, or a JSON model spec file (default ${BUILTIN_DEFAULTS.model})`,
    )
    .option(
      '--weights <file>',
      'parameters for --model: .npz (numpy.savez), .safetensors or .json, by group name (default: drawn from --seed)',
    )
    .option(
      '--data <ref>',
      `builtin:notebook-case, builtin:payments, random:ROWS, or a .csv, .npy, .npz or .json file (default ${BUILTIN_DEFAULTS.data})`,
    )
    .option('--label <column>', 'the label column of a CSV (by name; default "label") or .npy (by index; default -1)')
    .option('--standardize', 'scale every feature to mean 0, sd 1 after loading')
    .option(
      '--subject <subject>',
      'audit your own implementation: a command speaking the subject protocol (e.g. "python3 my_model.py"), module:PATH.js|.ts, or pytorch:PATH.py',
    )
    .option(
      '--python <interpreter>',
      'the Python that runs a pytorch: subject (default: GRADPROOF_PYTHON, else python3)',
    )
    .option('--timeout <seconds>', 'how long a subject may take to answer one request (default 120, at most 3600)')
    .addOption(
      new Option(
        '--backprop <kind>',
        "the built-in backward: correct, or the notebook's buggy one (W2 ×2, b1 ×4)",
      ).choices(['correct', 'notebook-buggy']),
    )
    .option(
      '--defect <GROUP:KIND[:FACTOR]>',
      'inject a defect into the backward (repeatable): W2:scale:2, b1:flip, W1:zero, W2:transpose, layer1:drop-derivative',
      collect,
    )
    .option(
      '--epsilon <e>',
      `perturbation size ε, or "auto" to choose one per parameter group (default ${DEFAULTS.epsilon})`,
    )
    .option('--threshold <t>', `largest difference that passes (default ${DEFAULTS.threshold}, the notebook's)`)
    .option('--scheme <s>', `finite-difference scheme: ${SCHEMES.join(', ')} (default ${DEFAULTS.scheme})`)
    .option(
      '--evaluation <mode>',
      'incremental (reuses cached activations; default) or full (a whole forward pass per evaluation)',
    )
    .option(
      '--mode <mode>',
      'full (every entry; default) or fast (k random directions per group; failing groups swept entry by entry)',
    )
    .option('--directions <k>', `fast mode: random directions per parameter group (default ${DEFAULTS.directions})`)
    .option(
      '--detect <size>',
      `fast mode: relative error size whose chance of being missed is stated (default ${DEFAULTS.detect})`,
    )
    .option('--epsilon-sweep', 'also record the difference for ε = 1e-1 … 1e-10, its slope and the round-off floor')
    .option('--workers <n>', 'worker threads or subject processes (default: the number of cores; at most 64)')
    .option('--seed <n>', `seed for synthetic weights, data and fast mode's directions (default ${DEFAULTS.seed})`)
    .option('--json', 'print one JSON object on stdout')
    .option('--progress', 'show the progress bar even with --json')
    .option('--no-save', 'do not save the run in the database');
}

/** `check --shard K/N --out FILE`: compute one shard of a sweep that a cluster runs in parts. */
export function addShardOptions(cmd: Command): Command {
  return cmd
    .option(
      '--shard <K/N>',
      'compute only shard K of N of a full sweep and write it for gradproof merge (auto/N: K from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)',
    )
    .option('--out <file>', 'with --shard: the shard file to write (a folder ending in / gets shard-K-of-N.json)');
}

/** Where a contract field comes from on the command line, for errors that name the flag. */
const FLAG_OF: Record<string, string> = {
  'implementation.model': '--model',
  'implementation.weights': '--weights',
  'implementation.data': '--data',
  'implementation.label': '--label',
  'implementation.backprop': '--backprop',
  'implementation.defects': '--defect',
  'implementation.evaluation': '--evaluation',
  'implementation.command': '--subject',
  'implementation.path': '--subject',
  'implementation.script': '--subject',
  'implementation.python': '--python',
  'implementation.timeout': '--timeout',
  epsilonSweep: '--epsilon-sweep',
};

function flagOf(path: string): string {
  if (FLAG_OF[path]) return FLAG_OF[path]!;
  const top = path.split('.')[0]!;
  return `--${top.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** A number as the contract wants it; anything else is left for its schema to refuse with the flag's name. */
function numeric(v: string | undefined): number | string | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) ? n : v;
}

/** The command line as the API's CheckRequest, validated by the contract's own schema. */
export function requestFromFlags(f: CheckFlags): CheckRequest {
  const builtinOnly = (['model', 'weights', 'backprop', 'defect', 'evaluation'] as const).filter(
    (k) => f[k] !== undefined,
  );
  let implementation: Record<string, unknown>;
  if (f.subject !== undefined) {
    if (builtinOnly.length) {
      throw new InputError(
        `--subject brings its own model and backward: drop ${builtinOnly.map((k) => `--${k}`).join(', ')}`,
        'implementation',
      );
    }
    const s = f.subject;
    if (s.startsWith('module:')) {
      implementation = {
        kind: 'module',
        path: s.slice('module:'.length),
        ...(f.data ? { data: f.data } : {}),
        ...(f.label ? { label: f.label } : {}),
        ...(f.standardize ? { standardize: true } : {}),
      };
    } else {
      if (f.data !== undefined)
        throw new InputError(
          '--data goes with built-in models and module: subjects; a process or pytorch: subject loads its own data: drop --data',
          'implementation.data',
        );
      implementation = s.startsWith('pytorch:')
        ? { kind: 'pytorch', script: s.slice('pytorch:'.length), ...(f.python ? { python: f.python } : {}) }
        : { kind: 'process', command: s };
    }
    if (f.timeout !== undefined) implementation.timeout = numeric(f.timeout);
    if (f.python !== undefined && implementation.kind !== 'pytorch')
      throw new InputError('--python goes with --subject pytorch:SCRIPT.py', 'implementation.python');
  } else {
    if (f.timeout !== undefined || f.python !== undefined)
      throw new InputError(
        `${f.timeout !== undefined ? '--timeout' : '--python'} goes with --subject`,
        'implementation',
      );
    implementation = {
      kind: 'builtin',
      ...(f.model !== undefined ? { model: f.model } : {}),
      ...(f.weights !== undefined ? { weights: f.weights } : {}),
      ...(f.data !== undefined ? { data: f.data } : {}),
      ...(f.label !== undefined ? { label: f.label } : {}),
      ...(f.standardize ? { standardize: true } : {}),
      ...(f.backprop !== undefined ? { backprop: f.backprop } : {}),
      ...(f.defect !== undefined ? { defects: f.defect } : {}),
      ...(f.evaluation !== undefined ? { evaluation: f.evaluation } : {}),
    };
  }
  for (const d of f.defect ?? []) parseDefect(d); // says what is wrong with a defect in its own words
  const input: Record<string, unknown> = {
    implementation,
    ...(f.scheme !== undefined ? { scheme: f.scheme } : {}),
    ...(f.epsilon !== undefined ? { epsilon: f.epsilon.trim() === 'auto' ? 'auto' : numeric(f.epsilon) } : {}),
    ...(f.threshold !== undefined ? { threshold: numeric(f.threshold) } : {}),
    ...(f.mode !== undefined ? { mode: f.mode } : {}),
    ...(f.directions !== undefined ? { directions: numeric(f.directions) } : {}),
    ...(f.detect !== undefined ? { detect: numeric(f.detect) } : {}),
    ...(f.epsilonSweep ? { epsilonSweep: true } : {}),
    ...(f.workers !== undefined ? { workers: numeric(f.workers) } : {}),
    ...(f.seed !== undefined ? { seed: numeric(f.seed) } : {}),
  };
  const r = checkRequestSchema.safeParse(input as CheckRequestInput);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.map(String).join('.');
    const flag = flagOf(path);
    const given = path
      .split('.')
      .reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), input);
    const message = issue.message
      .replace(/^Invalid input: expected (number|int), received (string|NaN)$/, 'give a number')
      .replace(
        /^Invalid option: expected one of (.*)$/,
        (_, list: string) => `choose one of ${list.replace(/"/g, '').split('|').join(', ')}`,
      );
    throw new InputError(`${flag}${given !== undefined ? ` ${String(given)}` : ''}: ${message}`, path);
  }
  return r.data;
}

/** The `--json` object: the fields scripts may rely on come first. */
export function checkJson(o: CheckOutcome & { runId?: string }, request: CheckRequest): Record<string, unknown> {
  const r = o.result;
  return {
    verdict: r.verdict,
    difference: r.difference,
    threshold: r.threshold,
    epsilon: r.epsilon,
    parameters: r.parameters,
    evaluations: r.evaluations,
    seconds: o.context.seconds,
    groups: r.groups,
    scheme: r.scheme,
    mode: r.mode,
    precision: r.precision,
    worst: r.worst,
    inconclusive: r.inconclusive,
    noise: r.noise,
    findings: r.findings,
    ...(o.runId ? { runId: o.runId } : {}),
    ...(r.fast ? { fast: r.fast } : {}),
    ...(r.epsilonSweep ? { epsilonSweep: r.epsilonSweep } : {}),
    ...(r.epsilonChoice ? { epsilonChoice: r.epsilonChoice } : {}),
    cost: r.cost,
    provenance: o.provenance,
    model: o.context.model,
    data: o.context.data,
    backprop: request.implementation.kind === 'builtin' ? request.implementation.backprop : 'subject',
    defects: o.defects,
    evaluation: o.context.evaluation,
    workers: o.context.workers,
    seed: request.seed,
  };
}

export function exitCodeFor(r: CheckResult): number {
  return r.verdict === 'pass' ? 0 : r.verdict === 'fail' ? 1 : 3;
}
