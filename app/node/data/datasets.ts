import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { notebookCase } from '../../core/builtins/notebook.js';
import { randomDataset } from '../../core/builtins/synthetic.js';
import type { Dataset } from '../../core/model/network.js';
import type { ModelSpec } from '../../core/model/spec.js';
import { Tensor } from '../../core/tensor/tensor.js';
import { projectRoot } from '../util/compiled-path.js';
import { type NumericArray, parseNpy, parseNpz } from './npy.js';
import { sha256Hex } from '../util/hash.js';
import { InputError } from '../../core/errors.js';

export interface LoadedDataset {
  data: Dataset;
  /** As the user named it: builtin:payments, random:2048, or a path. */
  ref: string;
  /** SHA-256 of the bytes read (for generated data: of a canonical description). */
  sha256: string;
  examples: number;
  features: number;
  featureNames?: string[];
  label?: string;
  /** What was done to the bytes before use, e.g. "standardized features". */
  transform?: string;
}

export interface DatasetOptions {
  /** The label column of a CSV (by name) or .npy (by index, -1 = last). */
  label?: string;
  /** Scale every feature to mean 0 and standard deviation 1. */
  standardize?: boolean;
  seed: number;
  spec?: ModelSpec;
}

export const BUILTIN_DATASETS = ['builtin:notebook-case', 'builtin:payments'] as const;

const sha = sha256Hex;

export function paymentsCsvPath(): string {
  return path.join(
    projectRoot(path.dirname(new URL(import.meta.url).pathname)),
    'resources',
    'datasets',
    'payments',
    'payments.csv',
  );
}

function readBytes(file: string): Uint8Array {
  try {
    if (statSync(file).isDirectory())
      throw new InputError(`dataset ${file}: it is a folder; give a .csv, .npy, .npz or .json file`);
    return readFileSync(file);
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(
      `dataset ${file}: cannot read it (${code === 'ENOENT' ? 'no such file' : (err as Error).message})`,
    );
  }
}

/** Rows (examples) × columns into the notebook's layout: X features × examples, Y 1 × examples. */
function fromRows(rows: Float64Array[], labels: Float64Array, features: number): Dataset {
  const m = rows.length;
  const X = Tensor.zeros(features, m);
  rows.forEach((row, c) => {
    for (let f = 0; f < features; f++) X.data[f * m + c] = row[f]!;
  });
  return { X, Y: new Tensor(1, m, labels) };
}

function standardize(data: Dataset): Dataset {
  const { X } = data;
  const m = X.cols;
  const out = X.clone();
  for (let f = 0; f < X.rows; f++) {
    const row = out.data.subarray(f * m, (f + 1) * m);
    const mean = row.reduce((a, b) => a + b, 0) / m;
    const sd = Math.sqrt(row.reduce((a, b) => a + (b - mean) ** 2, 0) / m);
    for (let c = 0; c < m; c++) row[c] = sd > 0 ? (row[c]! - mean) / sd : 0;
  }
  return { X: out, Y: data.Y };
}

/**
 * A CSV with a header row; one column is the label, every other column a numeric
 * feature. Every error names the file, the line and the column.
 */
export function parseCsvDataset(
  file: string,
  bytes: Uint8Array,
  label: string,
): { data: Dataset; featureNames: string[] } {
  const text = new TextDecoder().decode(bytes);
  if (text.trim() === '')
    throw new InputError(`dataset ${file}: the file is empty; it needs a header row and at least one data row`);
  let records: string[][];
  try {
    records = parse(text, { skip_empty_lines: true, trim: true, relax_column_count: true }) as string[][];
  } catch (err) {
    throw new InputError(`dataset ${file}: not valid CSV (${(err as Error).message})`);
  }
  const header = records[0]!;
  if (records.length < 2) throw new InputError(`dataset ${file}: only a header row; add data rows below it`);
  const li = header.indexOf(label);
  if (li < 0)
    throw new InputError(
      `dataset ${file}: no label column named "${label}"; the columns are ${header.join(', ')}. Choose one with --label NAME`,
    );
  const featureNames = header.filter((_, i) => i !== li);
  if (featureNames.length === 0)
    throw new InputError(`dataset ${file}: the only column is the label "${label}"; add feature columns`);
  const rows: Float64Array[] = [];
  const labels = new Float64Array(records.length - 1);
  for (let r = 1; r < records.length; r++) {
    const rec = records[r]!;
    const line = r + 1;
    if (rec.length !== header.length)
      throw new InputError(
        `dataset ${file}: line ${line} has ${rec.length} fields but the header has ${header.length}; every row needs one value per column`,
      );
    const row = new Float64Array(featureNames.length);
    let f = 0;
    rec.forEach((cell, c) => {
      const v = cell === '' ? Number.NaN : Number(cell);
      if (!Number.isFinite(v)) {
        const what = cell === '' ? 'is empty' : `is ${JSON.stringify(cell)}, not a number`;
        throw new InputError(
          `dataset ${file}: line ${line}, column "${header[c]}" ${what}; every value must be numeric (encode categories as numbers)`,
        );
      }
      if (c === li) labels[r - 1] = v;
      else row[f++] = v;
    });
    rows.push(row);
  }
  return { data: fromRows(rows, labels, featureNames.length), featureNames };
}

function fromArray(file: string, a: NumericArray, labelIndex: number): Dataset {
  if (a.shape.length !== 2)
    throw new InputError(
      `dataset ${file}: expected a 2-D array (examples × columns), got shape (${a.shape.join(', ')})`,
    );
  const [m, cols] = a.shape as [number, number];
  const li = labelIndex < 0 ? cols + labelIndex : labelIndex;
  if (li < 0 || li >= cols)
    throw new InputError(`dataset ${file}: label column ${labelIndex} is outside its ${cols} columns`);
  const rows: Float64Array[] = [];
  const labels = new Float64Array(m);
  for (let r = 0; r < m; r++) {
    const row = new Float64Array(cols - 1);
    let f = 0;
    for (let c = 0; c < cols; c++) {
      const v = a.data[r * cols + c]!;
      if (!Number.isFinite(v))
        throw new InputError(`dataset ${file}: row ${r}, column ${c} is ${v}; every value must be finite`);
      if (c === li) labels[r] = v;
      else row[f++] = v;
    }
    rows.push(row);
  }
  return fromRows(rows, labels, cols - 1);
}

function matrixField(file: string, value: unknown, field: string): Tensor {
  if (!Array.isArray(value) || value.length === 0)
    throw new InputError(`dataset ${file}: field ${field} must be a non-empty array of rows of numbers`);
  const rows = (value as unknown[]).map((r) => (Array.isArray(r) ? r : [r]));
  const cols = rows[0]!.length;
  const t = Tensor.zeros(rows.length, cols);
  rows.forEach((row, i) => {
    if (row.length !== cols)
      throw new InputError(
        `dataset ${file}: field ${field}[${i}] has ${row.length} values, row 0 has ${cols}; every row needs the same length`,
      );
    row.forEach((v, j) => {
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new InputError(
          `dataset ${file}: field ${field}[${i}][${j}] is ${JSON.stringify(v)}, not a finite number`,
        );
      t.data[i * cols + j] = v;
    });
  });
  return t;
}

/**
 * JSON in either layout: { "X": [[…]], "Y": [[…]] } as the notebook's arrays
 * (features × examples), or { "features": [[…], …], "labels": […] } one row per example.
 */
function parseJsonDataset(file: string, bytes: Uint8Array): Dataset {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new InputError(`dataset ${file}: not valid JSON (${(err as Error).message})`);
  }
  if (o && 'X' in o && 'Y' in o) return { X: matrixField(file, o.X, 'X'), Y: matrixField(file, o.Y, 'Y') };
  if (o && 'features' in o && 'labels' in o) {
    const f = matrixField(file, o.features, 'features');
    const l = matrixField(file, o.labels, 'labels');
    if (l.rows !== f.rows) throw new InputError(`dataset ${file}: ${f.rows} feature rows but ${l.rows} labels`);
    return { X: f.transpose(), Y: l.transpose() };
  }
  throw new InputError(
    `dataset ${file}: expected fields "X" and "Y" (features × examples) or "features" and "labels" (one row per example)`,
  );
}

/** Any dataset reference the CLI and the app accept. */
export function loadDataset(ref: string, opts: DatasetOptions): LoadedDataset {
  if (ref === 'builtin:notebook-case') {
    const { data } = notebookCase();
    return {
      data,
      ref,
      sha256: sha('gradproof:builtin:notebook-case:RandomState(1)'),
      examples: 3,
      features: 4,
      label: 'Y',
    };
  }
  if (ref === 'builtin:payments') {
    const file = paymentsCsvPath();
    const bytes = readBytes(file);
    const { data, featureNames } = parseCsvDataset(file, bytes, 'is_fraud');
    return {
      data: standardize(data),
      ref,
      sha256: sha(bytes),
      examples: data.X.cols,
      features: data.X.rows,
      featureNames,
      label: 'is_fraud',
      transform: 'standardized features (mean 0, sd 1)',
    };
  }
  if (ref.startsWith('builtin:'))
    throw new InputError(
      `--data ${ref}: unknown built-in dataset; built-ins are ${BUILTIN_DATASETS.join(', ')} and random:ROWS`,
    );
  const rnd = /^random:(.*)$/.exec(ref);
  if (rnd) {
    const rows = Number(rnd[1]);
    if (!/^\d+$/.test(rnd[1]!) || rows < 1 || rows > 10_000_000)
      throw new InputError(
        `--data ${ref}: write random:ROWS with ROWS a whole number from 1 to 10000000, e.g. random:2048`,
      );
    if (!opts.spec) throw new InputError(`--data ${ref}: random data takes its width from --model`);
    const data = randomDataset(opts.spec, rows, opts.seed);
    return {
      data,
      ref,
      sha256: sha(`gradproof:random:${rows}:${opts.spec.inputs}:${opts.seed}`),
      examples: rows,
      features: opts.spec.inputs,
    };
  }
  const bytes = readBytes(ref);
  const ext = path.extname(ref).toLowerCase();
  let data: Dataset;
  let featureNames: string[] | undefined;
  let label: string | undefined;
  switch (ext) {
    case '.csv': {
      label = opts.label ?? 'label';
      ({ data, featureNames } = parseCsvDataset(ref, bytes, label));
      break;
    }
    case '.npy': {
      const li = opts.label === undefined ? -1 : Number(opts.label);
      if (!Number.isInteger(li))
        throw new InputError(`dataset ${ref}: for .npy, --label is a column index (e.g. -1 for the last column)`);
      data = fromArray(ref, parseNpy(bytes, `dataset ${ref}`), li);
      label = `column ${li}`;
      break;
    }
    case '.npz': {
      const arrays = parseNpz(bytes, `dataset ${ref}`);
      const X = arrays.get('X') ?? arrays.get('x');
      const Y = arrays.get('Y') ?? arrays.get('y');
      if (!X || !Y)
        throw new InputError(
          `dataset ${ref}: a .npz dataset holds arrays X (features × examples) and Y (outputs × examples); it has ${[...arrays.keys()].join(', ') || 'none'}`,
        );
      const asMatrix = (a: NumericArray, name: string): Tensor =>
        a.shape.length === 1
          ? new Tensor(1, a.shape[0]!, a.data)
          : a.shape.length === 2
            ? new Tensor(a.shape[0]!, a.shape[1]!, a.data)
            : (() => {
                throw new InputError(`dataset ${ref}: ${name} must be 1-D or 2-D`);
              })();
      data = { X: asMatrix(X, 'X'), Y: asMatrix(Y, 'Y') };
      break;
    }
    case '.json':
      data = parseJsonDataset(ref, bytes);
      break;
    default:
      throw new InputError(
        `dataset ${ref}: unknown format "${ext || '(no extension)'}"; use .csv (with a header), .npy, .npz or .json`,
      );
  }
  if (data.X.cols !== data.Y.cols)
    throw new InputError(`dataset ${ref}: ${data.X.cols} examples of features but ${data.Y.cols} of labels`);
  if (opts.standardize) data = standardize(data);
  return {
    data,
    ref,
    sha256: sha(bytes),
    examples: data.X.cols,
    features: data.X.rows,
    ...(featureNames ? { featureNames } : {}),
    ...(label ? { label } : {}),
    ...(opts.standardize ? { transform: 'standardized features (mean 0, sd 1)' } : {}),
  };
}
