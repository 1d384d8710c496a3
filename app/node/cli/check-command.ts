import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Provenance } from '../../core/api/contract.js';
import type { CheckSettings } from '../../core/check/gradient-check.js';
import type { CheckResult } from '../../core/check/result.js';
import type { Scheme } from '../../core/check/schemes.js';
import { type Defect, NOTEBOOK_BUGS, describeDefect, validateDefects } from '../../core/model/defects.js';
import type { EvaluationMode } from '../../core/model/evaluator.js';
import { paramGroups } from '../../core/model/spec.js';
import { type LoadedDataset, loadDataset } from '../data/datasets.js';
import type { SubjectConnection } from '../subjects/connection.js';
import { ModuleConnection } from '../subjects/module-connection.js';
import { runOpaqueCheck } from '../subjects/opaque-check.js';
import { ProcessConnection } from '../subjects/process-connection.js';
import { resolveModel } from '../subjects/resolve.js';
import { type EntryEvidence, defaultWorkers, runBuiltinCheck } from '../sweep/run-sweep.js';
import type { Store } from '../store/database.js';
import { beginRun, endRun, finishRun } from '../store/runs.js';
import { VERSION } from '../version.js';
import type { CheckContext } from './format.js';
import { ProgressBar } from './progress-bar.js';
import type { Progress } from '../sweep/progress.js';
import { sha256Hex } from '../util/hash.js';
import { CancelledError, InputError } from '../../core/errors.js';

export type Backprop = 'correct' | 'notebook-buggy';

export interface CheckOptions {
  model: string;
  data: string;
  backprop: Backprop;
  defect?: Defect[];
  epsilon: number;
  threshold: number;
  scheme: Scheme;
  evaluation: EvaluationMode;
  workers?: number;
  weights?: string;
  label?: string;
  standardize?: boolean;
  /** A process command, or module:PATH. */
  subject?: string;
  /** Seconds a subject may take per request. */
  timeout: number;
  mode: 'full' | 'fast';
  directions: number;
  detect: number;
  epsilonSweep?: boolean;
  seed: number;
  json?: boolean;
  progress?: boolean;
  /** Options the user gave on the command line (not defaults). */
  explicit?: string[];
}

export type { Provenance } from '../../core/api/contract.js';

export interface CheckOutcome {
  result: CheckResult;
  context: CheckContext;
  defects: Defect[];
  provenance: Provenance;
  settings: CheckSettings;
  entries: EntryEvidence;
}

const sha = sha256Hex;

/** A process subject is its command plus the bytes of every file the command names. */
function commandDigest(command: string): string {
  const h = createHash('sha256').update(command);
  for (const word of command.split(/\s+/)) {
    if (word && existsSync(word) && statSync(word).isFile()) h.update('\0').update(readFileSync(word));
  }
  return h.digest('hex');
}

function settingsFrom(opts: CheckOptions): CheckSettings {
  return {
    epsilon: opts.epsilon,
    threshold: opts.threshold,
    scheme: opts.scheme,
    evaluation: opts.evaluation,
    mode: opts.mode,
    directions: opts.directions,
    directionSeed: opts.seed,
    detectSize: opts.detect,
    epsilonSweep: Boolean(opts.epsilonSweep),
  };
}

export interface CheckHooks {
  /** Called once the subject is resolved, just before the sweep: where a run is recorded as started. */
  onStart?: (provenance: Provenance, settings: CheckSettings) => void;
  /** Progress for a UI (in addition to, or instead of, the terminal bar). */
  onProgress?: (p: Progress) => void;
}

/** Resolve the subject, run the sweep, and time it: what `check` and `audit` share. */
export async function runCheck(
  opts: CheckOptions,
  signal?: AbortSignal,
  hooks: CheckHooks = {},
): Promise<CheckOutcome> {
  const settings = settingsFrom(opts);
  const workers = opts.workers ?? defaultWorkers();
  const showProgress = opts.progress ?? !opts.json;
  const bar = showProgress ? new ProgressBar() : undefined;
  const onProgress =
    bar || hooks.onProgress
      ? {
          onProgress: (p: Progress) => {
            bar?.update(p);
            hooks.onProgress?.(p);
          },
        }
      : {};
  const explicit = new Set(opts.explicit ?? []);
  const t0 = performance.now();

  if (opts.subject) {
    const clash = ['model', 'backprop', 'defect', 'weights', 'evaluation', 'epsilonSweep'].filter((k) =>
      explicit.has(k),
    );
    if (clash.length)
      throw new InputError(
        `--subject brings its own model and backward: drop ${clash.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}`,
      );
    const isModule = opts.subject.startsWith('module:');
    const target = isModule ? opts.subject.slice('module:'.length) : opts.subject;
    if (isModule && !existsSync(target)) throw new InputError(`--subject ${opts.subject}: no such file ${target}`);
    if (!isModule && opts.subject.trim() === '')
      throw new InputError('--subject needs a command, e.g. --subject "python3 my_model.py", or module:PATH');
    // A process subject holds its own data; a module gets --data when it is given.
    const dataset: LoadedDataset | undefined =
      isModule && explicit.has('data')
        ? loadDataset(opts.data, {
            seed: opts.seed,
            ...(opts.label ? { label: opts.label } : {}),
            ...(opts.standardize ? { standardize: true } : {}),
          })
        : undefined;
    const moduleData = dataset ? { X: dataset.data.X.toRows(), Y: dataset.data.Y.toRows() } : undefined;
    const provisional = isModule ? sha(readFileSync(target)) : commandDigest(target);
    hooks.onStart?.(
      {
        model: { name: opts.subject, ref: opts.subject, sha256: provisional },
        weights: { source: 'θ₀ as the subject describes it', sha256: provisional },
        dataset: dataset
          ? { ref: dataset.ref, sha256: dataset.sha256, examples: dataset.examples, features: dataset.features }
          : { ref: "(the subject's own)", sha256: provisional, examples: 0, features: 0 },
        implementation: { kind: isModule ? 'module' : 'process', ref: opts.subject, sha256: provisional },
      },
      settings,
    );
    const conns: SubjectConnection[] = Array.from({ length: workers }, () =>
      isModule
        ? new ModuleConnection(target, opts.timeout, moduleData)
        : new ProcessConnection(target, { timeoutSeconds: opts.timeout }),
    );
    let outcome: Awaited<ReturnType<typeof runOpaqueCheck>>;
    try {
      outcome = await runOpaqueCheck(conns, settings, { ...(signal ? { signal } : {}), ...onProgress });
    } finally {
      bar?.finish();
      await Promise.all(conns.map((c) => c.close()));
    }
    const seconds = (performance.now() - t0) / 1000;
    const implSha = isModule ? sha(readFileSync(target)) : commandDigest(target);
    const shapes = outcome.description.groups.map((g) => `${g.name}:${g.shape.join('x')}`).join(',');
    return {
      result: outcome.result,
      entries: outcome.entries,
      defects: [],
      settings,
      context: {
        model: opts.subject,
        data: dataset ? opts.data : "(the subject's own)",
        backprop: "the subject's",
        evaluation: 'full',
        mode: opts.mode,
        workers,
        seconds,
      },
      provenance: {
        model: { name: opts.subject, ref: opts.subject, sha256: sha(`gradproof:subject-groups:${shapes}`) },
        weights: {
          source: 'θ₀ as the subject described it',
          sha256: sha(new Uint8Array(outcome.description.theta.buffer.slice(0))),
        },
        dataset: dataset
          ? {
              ref: dataset.ref,
              sha256: dataset.sha256,
              examples: dataset.examples,
              features: dataset.features,
              ...(dataset.transform ? { transform: dataset.transform } : {}),
            }
          : { ref: "(the subject's own)", sha256: implSha, examples: 0, features: 0 },
        implementation: { kind: isModule ? 'module' : 'process', ref: opts.subject, sha256: implSha },
      },
    };
  }

  const model = resolveModel(opts.model, opts.seed, opts.weights);
  const dataset = loadDataset(opts.data, {
    seed: opts.seed,
    spec: model.spec,
    ...(opts.label ? { label: opts.label } : {}),
    ...(opts.standardize ? { standardize: true } : {}),
  });
  const { data } = dataset;
  const defects = [...(opts.backprop === 'notebook-buggy' ? NOTEBOOK_BUGS : []), ...(opts.defect ?? [])];
  validateDefects(defects, paramGroups(model.spec));
  if (opts.backprop === 'notebook-buggy' && model.spec.layers.length < 2) {
    throw new InputError('--backprop notebook-buggy scales W2 and b1: the model needs at least 2 layers');
  }
  const outputs = model.spec.layers[model.spec.layers.length - 1]!.units;
  if (data.X.rows !== model.spec.inputs || data.Y.rows !== outputs || data.X.cols !== data.Y.cols) {
    throw new InputError(
      `--data ${opts.data} does not fit --model ${opts.model}: the data has ${data.X.rows} features and ${data.Y.rows} label row(s) over ${data.X.cols} examples; the model takes ${model.spec.inputs} inputs and gives ${outputs} output(s)`,
    );
  }
  const described = defects.map(describeDefect);
  const provenance: Provenance = {
    model: { name: model.spec.name, ref: model.ref, sha256: model.specSha256 },
    weights: { source: model.parameters, sha256: model.weightsSha256 },
    dataset: {
      ref: dataset.ref,
      sha256: dataset.sha256,
      examples: dataset.examples,
      features: dataset.features,
      ...(dataset.transform ? { transform: dataset.transform } : {}),
    },
    implementation: {
      kind: 'builtin',
      ref: `gradproof-engine@${VERSION}`,
      sha256: sha(`gradproof-engine@${VERSION}:${JSON.stringify(defects)}`),
      ...(described.length ? { defects: described } : {}),
    },
  };
  hooks.onStart?.(provenance, settings);
  let result: CheckResult;
  let entries: EntryEvidence;
  try {
    ({ result, entries } = await runBuiltinCheck({ spec: model.spec, theta: model.theta, data, defects }, settings, {
      workers,
      ...(signal ? { signal } : {}),
      ...onProgress,
    }));
  } finally {
    bar?.finish();
  }
  const seconds = (performance.now() - t0) / 1000;
  const backprop =
    defects.length === 0
      ? 'correct'
      : `${opts.backprop === 'notebook-buggy' ? 'notebook-buggy, ' : 'defects '}${described.join(', ')}`;
  return {
    result,
    entries,
    defects,
    settings,
    context: {
      model: model.spec.name,
      data: opts.data,
      backprop,
      evaluation: opts.evaluation,
      mode: opts.mode,
      workers,
      seconds,
    },
    provenance,
  };
}

/** The `--json` object: the fields scripts may rely on come first. */
export function checkJson(o: CheckOutcome & { runId?: string }, opts: CheckOptions): Record<string, unknown> {
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
    worst: r.worst,
    inconclusive: r.inconclusive,
    noise: r.noise,
    findings: r.findings,
    ...(o.runId ? { runId: o.runId } : {}),
    ...(r.fast ? { fast: r.fast } : {}),
    ...(r.epsilonSweep ? { epsilonSweep: r.epsilonSweep } : {}),
    cost: r.cost,
    provenance: o.provenance,
    model: opts.subject ?? opts.model,
    data: o.context.data,
    backprop: opts.subject ? 'subject' : opts.backprop,
    defects: o.defects,
    evaluation: o.context.evaluation,
    workers: o.context.workers,
    seed: opts.seed,
  };
}

export function exitCodeFor(r: CheckResult): number {
  return r.verdict === 'pass' ? 0 : r.verdict === 'fail' ? 1 : 3;
}

/**
 * A check saved as a run: on disk as "running" before the sweep, completed with its
 * results in one transaction, or marked failed or cancelled with the reason.
 */
export async function runAndRecord(
  opts: CheckOptions,
  signal: AbortSignal | undefined,
  store: Store | undefined,
  watch: { onRunStarted?: (runId: string) => void; onProgress?: (p: Progress) => void } = {},
): Promise<CheckOutcome & { runId?: string }> {
  let runId: string | undefined;
  try {
    const hooks: CheckHooks = {
      ...(store
        ? {
            onStart: (p: Provenance, s: CheckSettings) => {
              runId = beginRun(store, p, s);
              watch.onRunStarted?.(runId);
            },
          }
        : {}),
      ...(watch.onProgress ? { onProgress: watch.onProgress } : {}),
    };
    const outcome = await runCheck(opts, signal, hooks);
    if (store && runId)
      finishRun(store, runId, {
        result: outcome.result,
        entries: outcome.entries,
        provenance: outcome.provenance,
        seconds: outcome.context.seconds,
      });
    return { ...outcome, ...(runId ? { runId } : {}) };
  } catch (err) {
    if (store && runId)
      endRun(
        store,
        runId,
        err instanceof CancelledError ? 'cancelled' : 'failed',
        err instanceof Error ? err.message : String(err),
      );
    throw err;
  }
}
