/**
 * Sizes GradProof refuses before allocating anything. A full sweep evaluates the cost twice
 * per parameter; at 10 million parameters that is already days of work, and the engine holds
 * several vectors of that length (θ, both gradients, kink counts) plus one activation matrix
 * per layer (units × examples).
 */
export const MAX_UNITS = 100_000;
export const MAX_INPUTS = 100_000;
export const MAX_LAYERS = 64;
export const MAX_PARAMETERS = 10_000_000;
/** Activations held at once: every layer's units × the examples (8 bytes each): 2 GiB. */
export const MAX_ACTIVATION_VALUES = 2 ** 28;

/** Parameters of a dense network with these widths (inputs first), exactly, without overflow. */
export function denseParameterCount(widths: readonly number[]): number {
  let n = 0;
  for (let i = 1; i < widths.length; i++) n += widths[i]! * widths[i - 1]! + widths[i]!;
  return n;
}

/** Why a network of these widths is too large to check, or undefined. */
export function networkSizeProblem(widths: readonly number[]): string | undefined {
  if (widths.length - 1 > MAX_LAYERS) return `it has ${widths.length - 1} layers; GradProof checks up to ${MAX_LAYERS}`;
  const params = denseParameterCount(widths);
  if (params > MAX_PARAMETERS)
    return `it has ${params.toLocaleString('en-US')} parameters; GradProof checks models up to ${MAX_PARAMETERS.toLocaleString('en-US')} (a full sweep evaluates the cost twice per parameter); check a smaller model or a slice of this one`;
  return undefined;
}
