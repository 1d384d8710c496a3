import { readFileSync } from 'node:fs';
import { NOTEBOOK_FRAUD_SPEC, notebookCase } from '../../core/builtins/notebook.js';
import { SyntheticSpecError, initParameters, parseMlpSpec, randomDataset } from '../../core/builtins/synthetic.js';
import type { Dataset } from '../../core/model/network.js';
import type { ModelSpec } from '../../core/model/spec.js';
import { SpecError, parseModelSpec } from '../../core/model/spec-schema.js';
import { Tensor } from '../../core/tensor/tensor.js';
import { InputError } from '../util/errors.js';

export const BUILTIN_MODELS = ['builtin:notebook-fraud'] as const;
export const BUILTIN_DATASETS = ['builtin:notebook-case'] as const;

export interface ResolvedModel {
  spec: ModelSpec;
  theta: Float64Array;
  /** How θ₀ was obtained, for reports: "notebook test case (RandomState(1))", "seed 1 (He)". */
  parameters: string;
  ref: string;
}

export interface ResolvedData {
  data: Dataset;
  ref: string;
}

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : String((err as Error).message);
    throw new InputError(`${what} ${file}: cannot read it (${why}); give the path of a JSON file`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`${what} ${file}: not valid JSON (${(err as Error).message})`);
  }
}

/** `builtin:notebook-fraud`, `mlp:30,64,32,1`, or a JSON model spec file. */
export function resolveModel(ref: string, seed: number): ResolvedModel {
  if (ref === 'builtin:notebook-fraud') {
    return { spec: NOTEBOOK_FRAUD_SPEC, theta: notebookCase().theta, parameters: 'notebook test case, RandomState(1)', ref };
  }
  if (ref.startsWith('builtin:')) {
    throw new InputError(`--model ${ref}: unknown built-in model; built-ins are ${BUILTIN_MODELS.join(', ')} and mlp:WIDTHS (e.g. mlp:30,64,32,1)`);
  }
  if (ref.startsWith('mlp:')) {
    try {
      const spec = parseMlpSpec(ref);
      return { spec, theta: initParameters(spec, seed), parameters: `He-scaled, RandomState(${seed})`, ref };
    } catch (err) {
      if (err instanceof SyntheticSpecError) throw new InputError(`--model ${err.message}`);
      throw err;
    }
  }
  const json = readJson(ref, 'model spec');
  try {
    const spec = parseModelSpec(json, `model spec ${ref}`);
    return { spec, theta: initParameters(spec, seed), parameters: `He-scaled, RandomState(${seed})`, ref };
  } catch (err) {
    if (err instanceof SpecError) throw new InputError(err.message);
    throw err;
  }
}

function matrixFrom(value: unknown, file: string, field: string): Tensor {
  if (!Array.isArray(value) || value.length === 0 || !value.every((r) => Array.isArray(r))) {
    throw new InputError(`dataset ${file}: field ${field} must be a non-empty array of rows (numbers), e.g. [[0.1, 2.0], [1.5, -0.3]]`);
  }
  const rows = value as unknown[][];
  const cols = rows[0]!.length;
  const t = Tensor.zeros(rows.length, cols);
  rows.forEach((row, i) => {
    if (row.length !== cols) throw new InputError(`dataset ${file}: field ${field}[${i}] has ${row.length} values, row 0 has ${cols}: every row needs the same length`);
    row.forEach((v, j) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(`dataset ${file}: field ${field}[${i}][${j}] is ${JSON.stringify(v)}, not a finite number`);
      t.data[i * cols + j] = v;
    });
  });
  return t;
}

/**
 * `builtin:notebook-case`, `random:ROWS`, or a JSON file `{ "X": [[…]], "Y": [[…]] }`
 * laid out as the notebook's arrays: X is features × examples, Y outputs × examples.
 */
export function resolveData(ref: string, spec: ModelSpec, seed: number): ResolvedData {
  if (ref === 'builtin:notebook-case') return { data: notebookCase().data, ref };
  if (ref.startsWith('builtin:')) throw new InputError(`--data ${ref}: unknown built-in dataset; built-ins are ${BUILTIN_DATASETS.join(', ')} and random:ROWS`);
  const m = /^random:(.*)$/.exec(ref);
  if (m) {
    const rows = Number(m[1]);
    if (!/^\d+$/.test(m[1]!) || rows < 1 || rows > 10_000_000) throw new InputError(`--data ${ref}: write random:ROWS with ROWS a whole number from 1 to 10000000, e.g. random:2048`);
    return { data: randomDataset(spec, rows, seed), ref };
  }
  const json = readJson(ref, 'dataset');
  if (typeof json !== 'object' || json === null) throw new InputError(`dataset ${ref}: expected an object with fields X and Y`);
  const o = json as Record<string, unknown>;
  return { data: { X: matrixFrom(o.X, ref, 'X'), Y: matrixFrom(o.Y, ref, 'Y') }, ref };
}

export function defaultModelAndData(): { model: string; data: string } {
  return { model: 'builtin:notebook-fraud', data: 'builtin:notebook-case' };
}
