import type { CheckRequest } from '../../core/api/contract.js';
import type { Progress } from '../../core/check/progress.js';
import { errorKind, errorMessage } from '../../core/errors.js';
import type { Store } from '../store/database.js';
import { beginRun, endRun, finishRun } from '../store/runs.js';
import { type CheckOutcome, runCheck } from './pipeline.js';

export interface RecordHooks {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** The run is on disk (status running), before the sweep starts. */
  onRunStarted?: (runId: string) => void;
}

/**
 * A check saved as a run: on disk as "running" before the sweep, completed with its results
 * in one transaction, or marked failed or cancelled with the reason. Without a store, the
 * check runs unsaved (`--no-save`).
 */
export async function runAndRecord(
  request: CheckRequest,
  store: Store | undefined,
  hooks: RecordHooks = {},
): Promise<CheckOutcome & { runId?: string }> {
  let runId: string | undefined;
  try {
    const outcome = await runCheck(request, {
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
      ...(store
        ? {
            onStart: (provenance, settings) => {
              runId = beginRun(store, provenance, settings);
              hooks.onRunStarted?.(runId);
            },
          }
        : {}),
    });
    if (store && runId) {
      finishRun(store, runId, {
        result: outcome.result,
        entries: outcome.evidence,
        provenance: outcome.provenance,
        seconds: outcome.context.seconds,
      });
    }
    return { ...outcome, ...(runId ? { runId } : {}) };
  } catch (err) {
    if (store && runId)
      endRun(store, runId, errorKind(err) === 'cancelled' ? 'cancelled' : 'failed', errorMessage(err));
    throw err;
  }
}
