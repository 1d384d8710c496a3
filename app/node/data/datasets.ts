import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { notebookCase } from '../../core/builtins/notebook.js';
import { randomDataset } from '../../core/builtins/synthetic.js';
import type { Dataset } from '../../core/model/network.js';
import type { ModelSpec } from '../../core/model/spec.js';
import { Tensor } from '../../core/tensor/tensor.js';
import { projectRoot } from '../util/compiled-path.js';
import { type NumericArray, parseNpy, parseNpz } from './npy.js';
import { MAX_ACTIVATION_VALUES } from '../../core/model/limits.js';
import { MAX_BINARY_BYTES, MAX_TEXT_BYTES, kindOf, parseJsonText, readInputFile, short, shown } from './file-input.js';
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

function readBytes(file: string, maxBytes: number): Uint8Array {
  return readInputFile(file, 'dataset', maxBytes);
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
      `dataset ${file}: no label column named "${short(label)}"; the columns are ${header.slice(0, 40).map(short).join(', ')}${header.length > 40 ? ', …' : ''}. Choose one with --label NAME`,
    );
  const featureNames = header.filter((_, i) => i !== li);
  if (featureNames.length === 0)
    throw new InputError(`dataset ${file}: the only column is the label "${short(label)}"; add feature columns`);
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
        // The cell itself is not repeated: the file may hold anything, and errors travel further than files.
        const what = cell === '' ? 'is empty' : 'is not a number';
        throw new InputError(
          `dataset ${file}: line ${line}, column "${short(header[c] ?? '')}" ${what}; every value must be numeric (encode categories as numbers)`,
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
  if (m === 0) throw new InputError(`dataset ${file}: shape (0, ${cols}) holds no examples; save at least one row`);
  if (cols < 2)
    throw new InputError(
      `dataset ${file}: shape (${m}, ${cols}) has no room for features and a label; save one column per feature plus the label column`,
    );
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
  if (cols === 0) throw new InputError(`dataset ${file}: field ${field}[0] is an empty row; every row needs values`);
  const t = Tensor.zeros(rows.length, cols);
  rows.forEach((row, i) => {
    if (row.length !== cols)
      throw new InputError(
        `dataset ${file}: field ${field}[${i}] has ${row.length} values, row 0 has ${cols}; every row needs the same length`,
      );
    row.forEach((v, j) => {
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new InputError(`dataset ${file}: field ${field}[${i}][${j}] is ${kindOf(v)}, not a finite number`);
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
  const parsed = parseJsonText(bytes, file, 'dataset');
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new InputError(
      `dataset ${file}: expected an object with fields "X" and "Y" (features × examples) or "features" and "labels"`,
    );
  const o = parsed as Record<string, unknown>;
  if ('X' in o && 'Y' in o) return { X: matrixField(file, o.X, 'X'), Y: matrixField(file, o.Y, 'Y') };
  if ('features' in o && 'labels' in o) {
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
    const bytes = readBytes(file, MAX_TEXT_BYTES);
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
    const tooBig = activationProblem(opts.spec, rows);
    if (tooBig) throw new InputError(`--data ${ref}: ${tooBig}; use fewer rows`);
    const data = randomDataset(opts.spec, rows, opts.seed);
    return {
      data,
      ref,
      sha256: sha(`gradproof:random:${rows}:${opts.spec.inputs}:${opts.seed}`),
      examples: rows,
      features: opts.spec.inputs,
    };
  }
  const ext = path.extname(ref).toLowerCase();
  if (!['.csv', '.npy', '.npz', '.json'].includes(ext))
    throw new InputError(
      `dataset ${ref}: unknown format "${ext || '(no extension)'}"; use .csv (with a header), .npy, .npz or .json`,
    );
  const bytes = readBytes(ref, ext === '.csv' || ext === '.json' ? MAX_TEXT_BYTES : MAX_BINARY_BYTES);
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
          `dataset ${ref}: a .npz dataset holds arrays X (features × examples) and Y (outputs × examples); it has ${[...arrays.keys()].slice(0, 8).map(shown).join(', ') || 'none'}`,
        );
      const asMatrix = (a: NumericArray, name: string): Tensor => {
        if (a.shape.length !== 1 && a.shape.length !== 2)
          throw new InputError(`dataset ${ref}: ${name} must be 1-D or 2-D, not shape (${a.shape.join(', ')})`);
        const t =
          a.shape.length === 1 ? new Tensor(1, a.shape[0]!, a.data) : new Tensor(a.shape[0]!, a.shape[1]!, a.data);
        if (t.size === 0)
          throw new InputError(`dataset ${ref}: ${name} has shape (${a.shape.join(', ')}): it holds no values`);
        const bad = t.data.findIndex((v) => !Number.isFinite(v));
        if (bad >= 0)
          throw new InputError(
            `dataset ${ref}: ${name}[${Math.floor(bad / t.cols)}, ${bad % t.cols}] is ${t.data[bad]}; every value must be finite`,
          );
        return t;
      };
      data = { X: asMatrix(X, 'X'), Y: asMatrix(Y, 'Y') };
      break;
    }
    case '.json':
      data = parseJsonDataset(ref, bytes);
      break;
    default:
      throw new InputError(`dataset ${ref}: unknown format "${ext}"`);
  }
  if (data.X.cols !== data.Y.cols)
    throw new InputError(`dataset ${ref}: ${data.X.cols} examples of features but ${data.Y.cols} of labels`);
  if (opts.spec) {
    const labels = labelProblem(opts.spec, data);
    if (labels) throw new InputError(`dataset ${ref}: ${labels}`);
    const tooBig = activationProblem(opts.spec, data.X.cols);
    if (tooBig) throw new InputError(`dataset ${ref}: ${tooBig}`);
  }
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

/** Activations the engine holds for a model over `examples` (every layer's units, inputs too), against the bound. */
function activationProblem(spec: ModelSpec, examples: number): string | undefined {
  const width = spec.inputs + spec.layers.reduce((s, l) => s + l.units, 0);
  const values = width * examples;
  if (values <= MAX_ACTIVATION_VALUES) return undefined;
  return `${examples.toLocaleString('en-US')} examples through ${spec.name} hold ${values.toLocaleString('en-US')} activations; GradProof holds up to ${MAX_ACTIVATION_VALUES.toLocaleString('en-US')} (2 GiB)`;
}

/**
 * Labels a loss can take: cross-entropy compares probabilities, so its labels lie in [0, 1]
 * (a label of 5 or −3 makes log(1 − a) meaningless and the check would pass on nonsense); a
 * softmax's labels in each example add up to 1.
 */
export function labelProblem(spec: ModelSpec, data: Dataset): string | undefined {
  const Y = data.Y;
  if (spec.loss === 'mean_squared_error') return undefined;
  const lossName = spec.loss === 'binary_cross_entropy' ? 'binary cross-entropy' : 'softmax cross-entropy';
  for (let i = 0; i < Y.data.length; i++) {
    const y = Y.data[i]!;
    if (!(y >= 0 && y <= 1)) {
      const example = i % Y.cols;
      const row = Math.floor(i / Y.cols);
      return `the label of example ${example}${Y.rows > 1 ? ` (output ${row})` : ''} is ${y}; ${lossName} needs labels between 0 and 1 (${spec.loss === 'binary_cross_entropy' ? '0 = no, 1 = yes' : 'one-hot rows'}): fix the labels or choose another --label column`;
    }
  }
  if (spec.loss === 'softmax_cross_entropy' && Y.rows > 1) {
    for (let c = 0; c < Y.cols; c++) {
      let sum = 0;
      for (let r = 0; r < Y.rows; r++) sum += Y.data[r * Y.cols + c]!;
      if (Math.abs(sum - 1) > 1e-6)
        return `the labels of example ${c} add up to ${sum}; softmax cross-entropy needs each example's labels to add up to 1 (one-hot)`;
    }
  }
  return undefined;
}
