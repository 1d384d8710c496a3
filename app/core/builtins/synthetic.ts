import type { Dataset } from '../model/network.js';
import { type ModelSpec, type ParamGroup, paramGroups, parameterCount } from '../model/spec.js';
import { RandomState } from '../rng/random-state.js';
import { Tensor } from '../tensor/tensor.js';
import { InputError } from '../errors.js';
import { MAX_UNITS, networkSizeProblem } from '../model/limits.js';

/**
 * `mlp:30,64,32,1`: ReLU hidden layers, a sigmoid output and cross-entropy
 * (for one output; softmax cross-entropy for several).
 */
export function parseMlpSpec(text: string): ModelSpec {
  const m = /^mlp:(\d+(?:,\d+)+)$/.exec(text);
  if (!m)
    throw new InputError(`"${text}" is not a synthetic model: write mlp:INPUTS,HIDDEN…,OUTPUTS, e.g. mlp:30,64,32,1`);
  const widths = m[1]!.split(',').map(Number);
  if (widths.some((w) => w < 1 || w > MAX_UNITS))
    throw new InputError(`"${text}": every width must be between 1 and ${MAX_UNITS}`);
  const tooBig = networkSizeProblem(widths);
  if (tooBig) throw new InputError(`"${text}" is too large: ${tooBig}`);
  const outputs = widths[widths.length - 1]!;
  return {
    name: text,
    description: `Synthetic MLP ${widths.join('→')}`,
    inputs: widths[0]!,
    layers: widths.slice(1).map((units, i, arr) => ({
      units,
      activation: i < arr.length - 1 ? 'relu' : outputs === 1 ? 'sigmoid' : 'linear',
    })),
    loss: outputs === 1 ? 'binary_cross_entropy' : 'softmax_cross_entropy',
  };
}

/**
 * He-scaled weights from RandomState(seed): for each layer in order,
 * W = randn(out, in)·√(2/in), then b = 0.01·randn(out, 1) (small, non-zero, so
 * that bias gradients are exercised).
 */
export function initParameters(spec: ModelSpec, seed: number): Float64Array {
  const rs = new RandomState(seed);
  const groups = paramGroups(spec);
  const theta = new Float64Array(parameterCount(groups));
  for (const g of groups) fillGroup(theta, g, rs);
  return theta;
}

function fillGroup(theta: Float64Array, g: ParamGroup, rs: RandomState): void {
  const t = rs.randn(g.rows, g.cols);
  const scale = g.kind === 'weight' ? Math.sqrt(2 / g.cols) : 0.01;
  for (let i = 0; i < t.size; i++) theta[g.offset + i] = t.data[i]! * scale;
}

/**
 * `random:ROWS`: features X = randn(inputs, rows) and labels drawn from
 * RandomState([seed, 1]) (its own stream, so features do not repeat the weights'
 * draws): for one output Y = (rand(1, rows) < 0.5); for k outputs, one-hot of
 * floor(k·rand).
 */
export function randomDataset(spec: ModelSpec, rows: number, seed: number): Dataset {
  if (!Number.isInteger(rows) || rows < 1)
    throw new InputError(`random:${rows}: the number of rows must be a positive whole number`);
  const rs = new RandomState([seed, 1]);
  const X = rs.randn(spec.inputs, rows);
  const outputs = spec.layers[spec.layers.length - 1]!.units;
  const Y = Tensor.zeros(outputs, rows);
  const u = rs.rand(1, rows);
  for (let c = 0; c < rows; c++) {
    if (outputs === 1) Y.data[c] = u.data[c]! < 0.5 ? 1 : 0;
    else Y.data[Math.min(outputs - 1, Math.floor(u.data[c]! * outputs)) * rows + c] = 1;
  }
  return { X, Y };
}
