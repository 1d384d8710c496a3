/** Activations the built-in engine differentiates. */
export const ACTIVATIONS = ['relu', 'leaky_relu', 'tanh', 'sigmoid', 'linear'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** Losses, each the mean over examples (columns) of a per-example loss. */
export const LOSSES = ['binary_cross_entropy', 'softmax_cross_entropy', 'mean_squared_error'] as const;
export type Loss = (typeof LOSSES)[number];

export interface LayerSpec {
  units: number;
  activation: Activation;
  /** Negative slope of leaky_relu; ignored by the others. */
  alpha?: number | undefined;
}

export interface ModelSpec {
  name: string;
  description?: string | undefined;
  inputs: number;
  layers: LayerSpec[];
  loss: Loss;
}

/**
 * One parameter tensor as the flat vector holds it: W1, b1, W2, b2, … row-major. Any rank:
 * `shape` is the tensor's own (a convolution weight is (F, C, kH, kW)); `rows` and `cols`
 * view it as a matrix (rows = shape[0], cols = the product of the rest), which is how the
 * built-in engine's dense layers use it.
 */
export interface ParamGroup {
  readonly name: string;
  readonly shape: readonly number[];
  readonly rows: number;
  readonly cols: number;
  readonly offset: number;
  readonly size: number;
  /** 1-based dense layer the group belongs to. */
  readonly layer: number;
  readonly kind: 'weight' | 'bias';
}

export function paramGroups(spec: ModelSpec): ParamGroup[] {
  const groups: ParamGroup[] = [];
  let fanIn = spec.inputs;
  let offset = 0;
  spec.layers.forEach((layer, i) => {
    const l = i + 1;
    groups.push({
      name: `W${l}`,
      shape: [layer.units, fanIn],
      rows: layer.units,
      cols: fanIn,
      offset,
      size: layer.units * fanIn,
      layer: l,
      kind: 'weight',
    });
    offset += layer.units * fanIn;
    groups.push({
      name: `b${l}`,
      shape: [layer.units, 1],
      rows: layer.units,
      cols: 1,
      offset,
      size: layer.units,
      layer: l,
      kind: 'bias',
    });
    offset += layer.units;
    fanIn = layer.units;
  });
  return groups;
}

export function parameterCount(groups: readonly ParamGroup[]): number {
  const last = groups[groups.length - 1];
  return last ? last.offset + last.size : 0;
}

/** `W2[1,3]`: the name of flat entry `index`, as engineers read it (0-based, like numpy). */
export function entryName(groups: readonly ParamGroup[], index: number): string {
  for (const g of groups) {
    if (index >= g.offset && index < g.offset + g.size) {
      return `${g.name}[${unravel(index - g.offset, g.shape).join(',')}]`;
    }
  }
  throw new RangeError(`parameter index ${index} is outside the model's ${parameterCount(groups)} parameters`);
}

export function groupOf(groups: readonly ParamGroup[], index: number): ParamGroup {
  for (const g of groups) if (index >= g.offset && index < g.offset + g.size) return g;
  throw new RangeError(`parameter index ${index} is outside the model`);
}

/** The multi-index of flat (row-major) position `k` in a tensor of `shape`. */
export function unravel(k: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    out[d] = k % n;
    k = Math.floor(k / n);
  }
  return out;
}

/** "5×4", "8×3×3×3", "10": a shape as people read it. */
export function shapeText(shape: readonly number[]): string {
  return shape.join('×');
}
