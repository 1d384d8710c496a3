import path from 'node:path';
import { NOTEBOOK_FRAUD_SPEC, notebookCase } from '../../core/builtins/notebook.js';
import { initParameters, parseMlpSpec } from '../../core/builtins/synthetic.js';
import { parseModelSpec } from '../../core/model/spec-schema.js';
import { type ModelSpec, paramGroups } from '../../core/model/spec.js';
import { readJsonFile } from '../data/file-input.js';
import { loadWeights } from '../data/weights.js';
import { projectRoot } from '../util/compiled-path.js';
import { sha256Hex } from '../util/hash.js';
import { InputError } from '../../core/errors.js';

export const BUILTIN_MODELS = ['builtin:notebook-fraud', 'builtin:payments-mlp'] as const;

export interface ResolvedModel {
  spec: ModelSpec;
  theta: Float64Array;
  /** How θ₀ was obtained, for reports: "notebook test case …", "seed 1 (He)", "weights.npz". */
  parameters: string;
  ref: string;
  /** SHA-256 of the canonical spec JSON, and of the weights (file bytes, or the recipe). */
  specSha256: string;
  weightsSha256: string;
}

const sha = sha256Hex;

/** A JSON file read within bounds, its errors never repeating the file's contents. */
function readJson(file: string, what: string): unknown {
  return readJsonFile(file, what);
}

function specFile(ref: string): string {
  return path.join(
    projectRoot(path.dirname(new URL(import.meta.url).pathname)),
    'resources',
    'models',
    `${ref.slice('builtin:'.length)}.json`,
  );
}

function parseSpecFile(file: string, label: string): ModelSpec {
  return parseModelSpec(readJson(file, 'model spec'), `model spec ${label}`);
}

/**
 * `builtin:notebook-fraud`, `builtin:payments-mlp`, `mlp:30,64,32,1`, or a JSON model
 * spec file; parameters from `weights` (.npz, .safetensors, .json) or else drawn
 * from `seed` (the notebook model: its own test case).
 */
export function resolveModel(ref: string, seed: number, weights?: string): ResolvedModel {
  let spec: ModelSpec;
  let theta: Float64Array;
  let parameters: string;
  let weightsSha256: string;
  if (ref === 'builtin:notebook-fraud') {
    spec = NOTEBOOK_FRAUD_SPEC;
    theta = notebookCase().theta;
    parameters = 'notebook test case, RandomState(1)';
    weightsSha256 = sha('gradproof:builtin:notebook-case:RandomState(1)');
  } else {
    if (ref.startsWith('builtin:')) {
      if (!(BUILTIN_MODELS as readonly string[]).includes(ref))
        throw new InputError(
          `--model ${ref}: unknown built-in model; built-ins are ${BUILTIN_MODELS.join(', ')} and mlp:WIDTHS (e.g. mlp:30,64,32,1)`,
        );
      spec = parseSpecFile(specFile(ref), ref);
    } else if (ref.startsWith('mlp:')) {
      try {
        spec = parseMlpSpec(ref);
      } catch (err) {
        if (err instanceof InputError) throw new InputError(`--model ${err.message}`);
        throw err;
      }
    } else {
      spec = parseSpecFile(ref, ref);
    }
    theta = initParameters(spec, seed);
    parameters = `He-scaled, RandomState(${seed})`;
    weightsSha256 = sha(`gradproof:he-init:${seed}:${JSON.stringify(spec.layers)}:${spec.inputs}`);
  }
  if (weights) {
    const w = loadWeights(weights, paramGroups(spec), spec.name);
    theta = w.theta;
    parameters = `weights ${weights}`;
    weightsSha256 = w.sha256;
  }
  return { spec, theta, parameters, ref, specSha256: sha(JSON.stringify(spec)), weightsSha256 };
}
