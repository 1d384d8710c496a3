import { z } from 'zod';

/** Activations the built-in engine differentiates. */
export const ACTIVATIONS = ['relu', 'leaky_relu', 'tanh', 'sigmoid', 'linear'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** Losses, each the mean over examples (columns) of a per-example loss. */
export const LOSSES = ['binary_cross_entropy', 'softmax_cross_entropy', 'mean_squared_error'] as const;
export type Loss = (typeof LOSSES)[number];

export const layerSchema = z.strictObject({
  units: z.number({ error: 'units must be a whole number of neurons, e.g. "units": 64' }).int().positive(),
  activation: z.enum(ACTIVATIONS, { error: `activation must be one of ${ACTIVATIONS.join(', ')}` }),
  /** Negative slope of leaky_relu; ignored by the others. */
  alpha: z.number().positive().max(1).optional(),
});

export const modelSpecSchema = z
  .strictObject({
    name: z.string({ error: 'name must be a string, e.g. "name": "fraud-mlp"' }).min(1),
    description: z.string().optional(),
    inputs: z.number({ error: 'inputs must be the number of input features, e.g. "inputs": 30' }).int().positive(),
    layers: z.array(layerSchema).min(1, 'layers must list at least one dense layer'),
    loss: z.enum(LOSSES, { error: `loss must be one of ${LOSSES.join(', ')}` }),
  })
  .superRefine((spec, ctx) => {
    const last = spec.layers[spec.layers.length - 1];
    if (!last) return;
    if (spec.loss === 'binary_cross_entropy' && last.activation !== 'sigmoid') {
      ctx.addIssue({
        code: 'custom',
        path: ['layers', spec.layers.length - 1, 'activation'],
        message: 'binary_cross_entropy needs a sigmoid output layer: set the last activation to "sigmoid"',
      });
    }
    if (spec.loss === 'softmax_cross_entropy' && last.activation !== 'linear') {
      ctx.addIssue({
        code: 'custom',
        path: ['layers', spec.layers.length - 1, 'activation'],
        message: 'softmax_cross_entropy applies the softmax itself: set the last activation to "linear" (logits)',
      });
    }
  });

export type LayerSpec = z.infer<typeof layerSchema>;
export type ModelSpec = z.infer<typeof modelSpecSchema>;

/** One parameter tensor as the flat vector holds it: W1, b1, W2, b2, … row-major. */
export interface ParamGroup {
  readonly name: string;
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
    groups.push({ name: `W${l}`, rows: layer.units, cols: fanIn, offset, size: layer.units * fanIn, layer: l, kind: 'weight' });
    offset += layer.units * fanIn;
    groups.push({ name: `b${l}`, rows: layer.units, cols: 1, offset, size: layer.units, layer: l, kind: 'bias' });
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
      const k = index - g.offset;
      return `${g.name}[${Math.floor(k / g.cols)},${k % g.cols}]`;
    }
  }
  throw new RangeError(`parameter index ${index} is outside the model's ${parameterCount(groups)} parameters`);
}

export function groupOf(groups: readonly ParamGroup[], index: number): ParamGroup {
  for (const g of groups) if (index >= g.offset && index < g.offset + g.size) return g;
  throw new RangeError(`parameter index ${index} is outside the model`);
}

/** Human-readable path of a zod issue, e.g. `layers[1].activation`. */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

export class SpecError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'SpecError';
  }
}

/** Validate a parsed JSON model spec; the error names the field and the fix. */
export function parseModelSpec(value: unknown, source = 'model spec'): ModelSpec {
  const r = modelSpecSchema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issuePath(issue.path) || '(top level)';
  throw new SpecError(`${source}: field ${field}: ${issue.message}`, field);
}
