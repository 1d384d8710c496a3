import { z } from 'zod';
import { ACTIVATIONS, LOSSES, type ModelSpec } from './spec.js';

/**
 * Validation of model specs read from JSON. Kept apart from spec.ts so that the
 * sweep's worker threads, which only evaluate, never load zod.
 */
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

// The schema and the interfaces in spec.ts must describe the same objects.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const specTypesAgree: Same<z.infer<typeof modelSpecSchema>, ModelSpec> = true;
void specTypesAgree;

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
