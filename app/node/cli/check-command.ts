import type { CheckSettings } from '../../core/check/gradient-check.js';
import type { CheckResult } from '../../core/check/result.js';
import type { Scheme } from '../../core/check/schemes.js';
import { type Defect, DefectError, NOTEBOOK_BUGS, describeDefect, validateDefects } from '../../core/model/defects.js';
import type { EvaluationMode } from '../../core/model/evaluator.js';
import { paramGroups } from '../../core/model/spec.js';
import { resolveData, resolveModel } from '../subjects/resolve.js';
import { defaultWorkers, runBuiltinSweep } from '../sweep/run-sweep.js';
import { InputError } from '../util/errors.js';
import type { CheckContext } from './format.js';
import { ProgressBar } from './progress-bar.js';

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
  mode: 'full' | 'fast';
  directions: number;
  detect: number;
  epsilonSweep?: boolean;
  seed: number;
  json?: boolean;
  progress?: boolean;
}

export interface CheckOutcome {
  result: CheckResult;
  context: CheckContext;
  defects: Defect[];
}

/** Resolve the subject, run the sweep, and time it: what `check` and `audit` share. */
export async function runCheck(opts: CheckOptions, signal?: AbortSignal): Promise<CheckOutcome> {
  const model = resolveModel(opts.model, opts.seed);
  const { data } = resolveData(opts.data, model.spec, opts.seed);
  const defects = [...(opts.backprop === 'notebook-buggy' ? NOTEBOOK_BUGS : []), ...(opts.defect ?? [])];
  try {
    validateDefects(defects, paramGroups(model.spec));
  } catch (err) {
    if (err instanceof DefectError) throw new InputError(err.message);
    throw err;
  }
  if (opts.backprop === 'notebook-buggy' && model.spec.layers.length < 2) {
    throw new InputError('--backprop notebook-buggy scales W2 and b1: the model needs at least 2 layers');
  }
  const dims = { X: data.X, Y: data.Y };
  if (dims.X.rows !== model.spec.inputs || dims.Y.rows !== model.spec.layers[model.spec.layers.length - 1]!.units || dims.X.cols !== dims.Y.cols) {
    throw new InputError(
      `--data ${opts.data} does not fit --model ${opts.model}: data has ${dims.X.rows} features, ${dims.Y.rows} label rows and ${dims.X.cols}/${dims.Y.cols} examples; the model takes ${model.spec.inputs} inputs and gives ${model.spec.layers[model.spec.layers.length - 1]!.units} outputs`,
    );
  }
  const settings: CheckSettings = {
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
  const workers = opts.workers ?? defaultWorkers();
  const showProgress = opts.progress ?? !opts.json;
  const bar = showProgress ? new ProgressBar() : undefined;
  const t0 = performance.now();
  let result: CheckResult;
  try {
    result = await runBuiltinSweep({ spec: model.spec, theta: model.theta, data, defects }, settings, {
      workers,
      signal,
      ...(bar ? { onProgress: (p) => bar.update(p) } : {}),
    });
  } finally {
    bar?.finish();
  }
  const seconds = (performance.now() - t0) / 1000;
  const backprop = defects.length === 0 ? 'correct' : `${opts.backprop === 'notebook-buggy' ? 'notebook-buggy, ' : 'defects '}${defects.map(describeDefect).join(', ')}`;
  return {
    result,
    defects,
    context: { model: model.spec.name, data: opts.data, backprop, evaluation: opts.evaluation, mode: opts.mode, workers, seconds },
  };
}

/** The `--json` object: the fields scripts may rely on come first. */
export function checkJson(o: CheckOutcome, opts: CheckOptions): Record<string, unknown> {
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
    ...(r.fast ? { fast: r.fast } : {}),
    ...(r.epsilonSweep ? { epsilonSweep: r.epsilonSweep } : {}),
    cost: r.cost,
    model: opts.model,
    data: opts.data,
    backprop: opts.backprop,
    defects: o.defects,
    evaluation: opts.evaluation,
    workers: o.context.workers,
    seed: opts.seed,
  };
}

export function exitCodeFor(r: CheckResult): number {
  return r.verdict === 'pass' ? 0 : r.verdict === 'fail' ? 1 : 3;
}
