import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { CheckRequest, Provenance } from '../../core/api/contract.js';
import { builtinHooks } from '../../core/check/builtin.js';
import type { Estimator } from '../../core/check/estimator.js';
import {
  type CheckHooks,
  type CheckSettings,
  type EntryEvidence,
  runGradientCheck,
  settingsOf,
} from '../../core/check/orchestrator.js';
import type { Progress } from '../../core/check/progress.js';
import type { CheckResult } from '../../core/check/result.js';
import { InputError } from '../../core/errors.js';
import { type Defect, NOTEBOOK_BUGS, describeDefect, parseDefect, validateDefects } from '../../core/model/defects.js';
import { paramGroups, shapeText } from '../../core/model/spec.js';
import { type LoadedDataset, loadDataset } from '../data/datasets.js';
import type { SubjectConnection } from '../subjects/connection.js';
import { ModuleConnection } from '../subjects/module-connection.js';
import { ProcessConnection, shellQuote } from '../subjects/process-connection.js';
import { resolveModel } from '../subjects/resolve.js';
import { SubjectEstimator } from '../subjects/subject-estimator.js';
import { SweepSession } from '../sweep/run-sweep.js';
import { sha256Hex } from '../util/hash.js';
import { VERSION } from '../version.js';

/** The settings a run is saved with: the check's, and how it was computed. */
export type RunSettings = CheckSettings & { workers: number; evaluation?: 'incremental' | 'full' };

/** How the run is described to people (CLI header, reports). */
export interface CheckContext {
  model: string;
  data: string;
  backprop: string;
  evaluation: string;
  mode: string;
  workers: number;
  seconds: number;
}

export interface CheckOutcome {
  result: CheckResult;
  evidence: EntryEvidence;
  provenance: Provenance;
  settings: RunSettings;
  context: CheckContext;
  defects: Defect[];
}

export interface PipelineHooks {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Called once the subject is resolved, just before the sweep: where a run is recorded as started. */
  onStart?: (provenance: Provenance, settings: RunSettings) => void;
}

/**
 * Workers the run actually uses: what was asked (default: one per core), never more threads
 * than cores for GradProof's own engine (they compete for the same cores), and never more than
 * the work can use (a 47-parameter model needs no 64 processes).
 */
export function effectiveWorkers(
  asked: number | undefined,
  kind: CheckRequest['implementation']['kind'],
  parameters?: number,
): number {
  const cores = availableParallelism();
  let w = asked ?? cores;
  if (kind === 'builtin') w = Math.min(w, cores);
  if (parameters !== undefined) w = Math.min(w, Math.max(1, Math.ceil(parameters / 16)));
  return Math.max(1, w);
}

/** A process subject is its command plus the bytes of every file the command names. */
function commandDigest(command: string): string {
  const h = createHash('sha256').update(command);
  for (const word of command.split(/\s+/)) {
    if (word && existsSync(word) && statSync(word).isFile()) h.update('\0').update(readFileSync(word));
  }
  return h.digest('hex');
}

function datasetProvenance(d: LoadedDataset): Provenance['dataset'] {
  return {
    ref: d.ref,
    sha256: d.sha256,
    examples: d.examples,
    features: d.features,
    ...(d.transform ? { transform: d.transform } : {}),
  };
}

/** The interpreter a PyTorch subject runs in, refused up front (exit 2) when torch does not import there. */
function pytorchInterpreter(python: string | undefined, script: string): string {
  const interpreter = python ?? process.env.GRADPROOF_PYTHON ?? 'python3';
  if (!existsSync(script))
    throw new InputError(
      `--subject pytorch:${script}: no such file; give the path of a Python script that calls gradproof_torch`,
      'implementation.script',
    );
  const probe = spawnSync(interpreter, ['-c', 'import torch, sys; sys.stdout.write(torch.__version__)'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (probe.error) {
    throw new InputError(
      `--python ${interpreter}: cannot run it (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message}); give the Python interpreter that has torch, with --python or GRADPROOF_PYTHON`,
      'implementation.python',
    );
  }
  if (probe.status !== 0) {
    const why = (probe.stderr ?? '').trim().split('\n').pop() ?? '';
    throw new InputError(
      `--python ${interpreter}: torch does not import there (${why}); install PyTorch for that interpreter, or choose another with --python or GRADPROOF_PYTHON`,
      'implementation.python',
    );
  }
  return interpreter;
}

/** A check resolved but not run: what the sweep needs, and how the run is described. */
export interface PreparedCheck {
  estimator: () => Promise<Estimator>;
  provenance: Provenance;
  /** Provenance once the subject has described itself (its θ₀ and groups hashed). */
  finalProvenance: (est: Estimator) => Provenance;
  context: Omit<CheckContext, 'seconds'>;
  defects: Defect[];
  hooks: (h: CheckHooks) => CheckHooks;
  settings: RunSettings;
}

function prepareBuiltin(
  request: CheckRequest,
  impl: Extract<CheckRequest['implementation'], { kind: 'builtin' }>,
  signal?: AbortSignal,
): PreparedCheck {
  const model = resolveModel(impl.model, request.seed, impl.weights);
  const dataset = loadDataset(impl.data, {
    seed: request.seed,
    spec: model.spec,
    ...(impl.label ? { label: impl.label } : {}),
    ...(impl.standardize ? { standardize: true } : {}),
  });
  const defects = [
    ...(impl.backprop === 'notebook-buggy' ? NOTEBOOK_BUGS : []),
    ...impl.defects.map((d) => parseDefect(d)),
  ];
  validateDefects(defects, paramGroups(model.spec));
  if (impl.backprop === 'notebook-buggy' && model.spec.layers.length < 2) {
    throw new InputError(
      '--backprop notebook-buggy scales W2 and b1: the model needs at least 2 layers',
      'implementation.backprop',
    );
  }
  const { data } = dataset;
  const outputs = model.spec.layers[model.spec.layers.length - 1]!.units;
  if (data.X.rows !== model.spec.inputs || data.Y.rows !== outputs || data.X.cols !== data.Y.cols) {
    throw new InputError(
      `--data ${impl.data} does not fit --model ${impl.model}: the data has ${data.X.rows} features and ${data.Y.rows} label row(s) over ${data.X.cols} examples; the model takes ${model.spec.inputs} inputs and gives ${outputs} output(s)`,
      'implementation.data',
    );
  }
  const parameters = paramGroups(model.spec).reduce((s, g) => s + g.size, 0);
  const workers = effectiveWorkers(request.workers, 'builtin', parameters);
  const described = defects.map(describeDefect);
  const provenance: Provenance = {
    model: { name: model.spec.name, ref: model.ref, sha256: model.specSha256 },
    weights: { source: model.parameters, sha256: model.weightsSha256 },
    dataset: datasetProvenance(dataset),
    implementation: {
      kind: 'builtin',
      ref: `gradproof-engine@${VERSION}`,
      sha256: sha256Hex(`gradproof-engine@${VERSION}:${JSON.stringify(defects)}`),
      ...(described.length ? { defects: described } : {}),
    },
  };
  const job = { spec: model.spec, theta: model.theta, data, defects };
  const backprop =
    defects.length === 0
      ? 'correct'
      : `${impl.backprop === 'notebook-buggy' ? 'notebook-buggy, ' : 'defects '}${described.join(', ')}`;
  return {
    estimator: async () => new SweepSession(job, impl.evaluation, { workers, ...(signal ? { signal } : {}) }),
    provenance,
    finalProvenance: () => provenance,
    context: {
      model: model.spec.name,
      data: impl.data,
      backprop,
      evaluation: impl.evaluation,
      mode: request.mode,
      workers,
    },
    defects,
    hooks: (h) => builtinHooks(job, h),
    settings: { ...settingsOf(request), workers, evaluation: impl.evaluation },
  };
}

function prepareSubject(
  request: CheckRequest,
  impl: Exclude<CheckRequest['implementation'], { kind: 'builtin' }>,
  signal?: AbortSignal,
): PreparedCheck {
  let label: string;
  let command: string | undefined;
  let moduleFile: string | undefined;
  let dataset: LoadedDataset | undefined;
  switch (impl.kind) {
    case 'process':
      command = impl.command;
      label = impl.command;
      break;
    case 'pytorch': {
      const python = pytorchInterpreter(impl.python, impl.script);
      command = `${shellQuote(python)} ${shellQuote(impl.script)}`;
      label = `pytorch:${impl.script}`;
      break;
    }
    case 'module':
      if (!existsSync(impl.path))
        throw new InputError(
          `--subject module:${impl.path}: no such file; give the path of a .js, .mjs or .ts module`,
          'implementation.path',
        );
      moduleFile = impl.path;
      label = `module:${impl.path}`;
      if (impl.data) {
        dataset = loadDataset(impl.data, {
          seed: request.seed,
          ...(impl.label ? { label: impl.label } : {}),
          ...(impl.standardize ? { standardize: true } : {}),
        });
      }
      break;
  }
  const timeout = impl.timeout;
  const implSha = moduleFile
    ? sha256Hex(readFileSync(moduleFile))
    : impl.kind === 'pytorch'
      ? commandDigest(`${impl.script}`)
      : commandDigest(command!);
  const kind = impl.kind === 'module' ? 'module' : 'process';
  const ownData: Provenance['dataset'] = { ref: "(the subject's own)", sha256: implSha, examples: 0, features: 0 };
  const provenance: Provenance = {
    model: { name: label, ref: label, sha256: implSha },
    weights: { source: 'θ₀ as the subject describes it', sha256: implSha },
    dataset: dataset ? datasetProvenance(dataset) : ownData,
    implementation: { kind, ref: label, sha256: implSha },
  };
  const workers = effectiveWorkers(request.workers, impl.kind);
  const moduleData = dataset ? { X: dataset.data.X.toRows(), Y: dataset.data.Y.toRows() } : undefined;
  return {
    estimator: async () => {
      const conns: SubjectConnection[] = Array.from({ length: workers }, () =>
        moduleFile
          ? new ModuleConnection(moduleFile, timeout, moduleData)
          : new ProcessConnection(command!, {
              timeoutSeconds: timeout,
              threads: Math.max(1, Math.floor(availableParallelism() / workers)),
            }),
      );
      return SubjectEstimator.open(conns, {
        label: impl.kind === 'process' ? `"${label}"` : label,
        ...(signal ? { signal } : {}),
      });
    },
    provenance,
    finalProvenance: (est) => {
      const shapes = est.groups.map((g) => `${g.name}:${shapeText(g.shape)}`).join(',');
      return {
        ...provenance,
        model: { ...provenance.model, sha256: sha256Hex(`gradproof:subject-groups:${shapes}`) },
        weights: {
          source: 'θ₀ as the subject described it',
          sha256: sha256Hex(new Uint8Array(est.theta0.buffer, est.theta0.byteOffset, est.theta0.byteLength)),
        },
      };
    },
    context: {
      model: label,
      data: dataset?.ref ?? "(the subject's own)",
      backprop: "the subject's",
      evaluation: 'full',
      mode: request.mode,
      workers,
    },
    defects: [],
    hooks: (h) => h,
    settings: { ...settingsOf(request), workers },
  };
}

/**
 * A request resolved (model, data, defects or the subject's command; provenance and settings)
 * without starting anything: a shard of a cluster job runs its own part of the sweep on it.
 */
export function prepareCheck(request: CheckRequest, signal?: AbortSignal): PreparedCheck {
  const impl = request.implementation;
  return impl.kind === 'builtin' ? prepareBuiltin(request, impl, signal) : prepareSubject(request, impl, signal);
}

/**
 * The one check pipeline, for every transport (CLI, API, audit): a validated CheckRequest in;
 * the subject resolved (GradProof's engine on worker threads, or instances of the user's
 * implementation), driven by the one orchestrator, and timed. Every worker, thread and process
 * is ended before it returns or throws.
 */
export async function runCheck(request: CheckRequest, hooks: PipelineHooks = {}): Promise<CheckOutcome> {
  const prepared = prepareCheck(request, hooks.signal);
  hooks.onStart?.(prepared.provenance, prepared.settings);
  const t0 = performance.now();
  const est = await prepared.estimator();
  try {
    const out = await runGradientCheck(
      est,
      prepared.settings,
      prepared.hooks({
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return {
      result: out.result,
      evidence: out.evidence,
      provenance: prepared.finalProvenance(est),
      settings: prepared.settings,
      context: { ...prepared.context, seconds },
      defects: prepared.defects,
    };
  } finally {
    await est.close();
  }
}
