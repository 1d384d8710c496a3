import { z } from 'zod';
import { ACTIVATIONS, LOSSES, type ModelSpec } from './spec.js';
import { InputError } from '../errors.js';
import { MAX_INPUTS, MAX_LAYERS, MAX_UNITS, networkSizeProblem } from './limits.js';

/**
 * Validation of model specs read from JSON. Kept apart from spec.ts so that the
 * sweep's worker threads, which only evaluate, never load zod.
 */
export const layerSchema = z.strictObject({
  units: z
    .number({ error: 'units must be a whole number of neurons, e.g. "units": 64' })
    .int('units must be a whole number of neurons, e.g. "units": 64')
    .positive('units must be at least 1')
    .max(MAX_UNITS, `units must be at most ${MAX_UNITS.toLocaleString('en-US')} per layer`),
  activation: z.enum(ACTIVATIONS, { error: `activation must be one of ${ACTIVATIONS.join(', ')}` }),
  /** Negative slope of leaky_relu; ignored by the others. */
  alpha: z.number().positive().max(1).optional(),
});

export const modelSpecSchema = z
  .strictObject({
    name: z.string({ error: 'name must be a string, e.g. "name": "fraud-mlp"' }).min(1),
    description: z.string().optional(),
    inputs: z
      .number({ error: 'inputs must be the number of input features, e.g. "inputs": 30' })
      .int('inputs must be a whole number of features, e.g. "inputs": 30')
      .positive('inputs must be at least 1')
      .max(MAX_INPUTS, `inputs must be at most ${MAX_INPUTS.toLocaleString('en-US')}`),
    layers: z
      .array(layerSchema)
      .min(1, 'layers must list at least one dense layer')
      .max(MAX_LAYERS, `layers may list at most ${MAX_LAYERS} dense layers`),
    loss: z.enum(LOSSES, { error: `loss must be one of ${LOSSES.join(', ')}` }),
  })
  .superRefine((spec, ctx) => {
    const last = spec.layers[spec.layers.length - 1];
    if (!last) return;
    const tooBig = networkSizeProblem([spec.inputs, ...spec.layers.map((l) => l.units)]);
    if (tooBig) ctx.addIssue({ code: 'custom', path: ['layers'], message: `the model is too large: ${tooBig}` });
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
  return path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)),
    '',
  );
}

const KNOWN_KEYS = ['name', 'description', 'inputs', 'layers', 'loss', 'units', 'activation', 'alpha'];

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length]![b.length]!;
}

/** Validate a parsed JSON model spec; the error names the field and the fix. */
export function parseModelSpec(value: unknown, source = 'model spec'): ModelSpec {
  const r = modelSpecSchema.safeParse(value);
  if (r.success) return r.data;
  // A misspelt key explains the "missing" field that follows from it: report it first.
  const unknown = r.error.issues.find((i) => i.code === 'unrecognized_keys');
  if (unknown && 'keys' in unknown) {
    const key = (unknown.keys as string[])[0]!;
    const near = KNOWN_KEYS.filter((k) => editDistance(k, key) <= 2);
    const where = issuePath([...unknown.path, key]);
    throw new InputError(
      `${source}: field ${where} is not a model spec field${near.length ? `; did you mean "${near[0]}"?` : `; fields are ${KNOWN_KEYS.join(', ')}`}`,
      where,
    );
  }
  const issue = r.error.issues[0]!;
  const field = issuePath(issue.path) || '(top level)';
  throw new InputError(`${source}: field ${field}: ${issue.message}`, field);
}
