import type { CheckRequestInput } from '../../../app/core/api/contract';

/**
 * The New audit form's fields, kept outside the view so that leaving the page (to look at a
 * run, say) and coming back finds the form as it was; saved for the tab's life, so a reload
 * keeps it too.
 */
export interface AuditForm {
  kind: 'builtin' | 'process' | 'module' | 'pytorch';
  model: string;
  weights: string;
  data: string;
  label: string;
  standardize: boolean;
  backprop: 'correct' | 'notebook-buggy';
  defects: string;
  command: string;
  modulePath: string;
  script: string;
  python: string;
  scheme: 'central' | 'forward' | 'five-point';
  epsilonAuto: boolean;
  epsilon: string;
  threshold: string;
  mode: 'full' | 'fast';
  directions: string;
  workers: string;
  evaluation: 'incremental' | 'full';
  epsilonSweep: boolean;
}

const DEFAULTS: AuditForm = {
  kind: 'builtin',
  model: 'builtin:notebook-fraud',
  weights: '',
  data: 'builtin:notebook-case',
  label: '',
  standardize: false,
  backprop: 'notebook-buggy',
  defects: '',
  command: 'python3 resources/examples/notebook/notebook_buggy.py',
  modulePath: 'resources/examples/js/tiny-mlp.mjs',
  script: 'resources/examples/torch/hand_linear_buggy.py',
  python: '',
  scheme: 'central',
  epsilonAuto: false,
  epsilon: '1e-7',
  threshold: '2e-7',
  mode: 'full',
  directions: '4',
  workers: '',
  evaluation: 'incremental',
  epsilonSweep: false,
};

const KEY = 'gradproof-new-audit';

function restore(): AuditForm {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Partial<AuditForm> | null;
    return { ...DEFAULTS, ...(saved ?? {}) };
  } catch {
    return { ...DEFAULTS };
  }
}

export const form = $state<AuditForm>(restore());
/** Errors by field, kept with the form: a refusal from the engine stays next to its field. */
export const formErrors = $state<{ fields: Record<string, string>; general: string }>({ fields: {}, general: '' });

export function saveForm(): void {
  sessionStorage.setItem(KEY, JSON.stringify(form));
}

export function resetForm(): void {
  Object.assign(form, DEFAULTS);
  formErrors.fields = {};
  formErrors.general = '';
  sessionStorage.removeItem(KEY);
}

const num = (s: string): number => (s.trim() === '' ? Number.NaN : Number(s));

/** The form as the contract's CheckRequest. */
export function toRequest(f: AuditForm): CheckRequestInput {
  const dataFields = { ...(f.label.trim() ? { label: f.label.trim() } : {}), standardize: f.standardize };
  let implementation: CheckRequestInput['implementation'];
  switch (f.kind) {
    case 'builtin':
      implementation = {
        kind: 'builtin',
        model: f.model.trim(),
        ...(f.weights.trim() ? { weights: f.weights.trim() } : {}),
        data: f.data.trim(),
        ...dataFields,
        backprop: f.backprop,
        defects: f.defects.split(/[\s,]+/).filter(Boolean),
        evaluation: f.evaluation,
      };
      break;
    case 'process':
      implementation = { kind: 'process', command: f.command };
      break;
    case 'module':
      implementation = {
        kind: 'module',
        path: f.modulePath.trim(),
        ...(f.data.trim() && f.data !== 'builtin:notebook-case' ? { data: f.data.trim() } : {}),
        ...dataFields,
      };
      break;
    case 'pytorch':
      implementation = {
        kind: 'pytorch',
        script: f.script.trim(),
        ...(f.python.trim() ? { python: f.python.trim() } : {}),
      };
      break;
  }
  return {
    implementation,
    scheme: f.scheme,
    epsilon: f.epsilonAuto || f.epsilon.trim() === 'auto' ? 'auto' : num(f.epsilon),
    threshold: num(f.threshold),
    mode: f.mode,
    directions: num(f.directions),
    epsilonSweep: f.epsilonSweep,
    ...(f.workers.trim() ? { workers: num(f.workers) } : {}),
  };
}

/** The form field that shows an error at a contract path ("implementation.data" → data). */
export function fieldOf(path: string): string {
  return path.replace(/^implementation\./, '');
}
