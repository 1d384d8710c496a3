import { checkRequestSchema } from '../../app/core/api/contract.js';
import { type BuiltinJob, builtinHooks, checkBuiltin } from '../../app/core/check/builtin.js';
import {
  type CheckHooks,
  type CheckSettings,
  runGradientCheck,
  settingsOf,
} from '../../app/core/check/orchestrator.js';
import type { CheckResult } from '../../app/core/check/result.js';
import type { EvaluationMode } from '../../app/core/model/evaluator.js';
import { type SweepOptions, SweepSession } from '../../app/node/sweep/run-sweep.js';

/** The contract's default settings (central differences, ε = 1e-7, threshold 2e-7, full mode). */
export const SETTINGS: CheckSettings = settingsOf(checkRequestSchema.parse({}));

/** A built-in job checked on this thread (GradProof's engine as the reference estimator). */
export async function checkEngine(
  job: BuiltinJob,
  extra: Partial<CheckSettings> = {},
  evaluation: EvaluationMode = 'incremental',
): Promise<CheckResult> {
  return (await checkBuiltin(job, { ...SETTINGS, ...extra }, evaluation)).result;
}

/** The same job checked on worker threads, as the CLI and the app run it. */
export async function checkWorkers(
  job: BuiltinJob,
  extra: Partial<CheckSettings> = {},
  evaluation: EvaluationMode = 'incremental',
  options: SweepOptions & Pick<CheckHooks, 'onProgress'> = {},
): Promise<CheckResult> {
  const session = new SweepSession(job, evaluation, options);
  try {
    const hooks: CheckHooks = {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    };
    return (await runGradientCheck(session, { ...SETTINGS, ...extra }, builtinHooks(job, hooks))).result;
  } finally {
    await session.close();
  }
}
