import type { Activation, LayerSpec } from './spec.js';

/** Default negative slope of leaky_relu (as in Keras/PyTorch conventions: 0.01). */
export const DEFAULT_LEAKY_ALPHA = 0.01;

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Apply the activation to `z[from..to)` into `a`. */
export function activate(layer: LayerSpec, z: Float64Array, a: Float64Array, from = 0, to = z.length): void {
  switch (layer.activation) {
    case 'relu':
      for (let i = from; i < to; i++) {
        const v = z[i]!;
        a[i] = v > 0 ? v : v !== v ? v : 0; // np.maximum(0, v): NaN propagates, -0 becomes 0
      }
      return;
    case 'leaky_relu': {
      const alpha = layer.alpha ?? DEFAULT_LEAKY_ALPHA;
      for (let i = from; i < to; i++) {
        const v = z[i]!;
        a[i] = v > 0 ? v : alpha * v;
      }
      return;
    }
    case 'tanh':
      for (let i = from; i < to; i++) a[i] = Math.tanh(z[i]!);
      return;
    case 'sigmoid':
      for (let i = from; i < to; i++) a[i] = sigmoid(z[i]!);
      return;
    case 'linear':
      for (let i = from; i < to; i++) a[i] = z[i]!;
      return;
  }
}

/** dZ = dA ⊙ f'(Z), in place on `dz` (which holds dA on entry). */
export function applyDerivative(layer: LayerSpec, z: Float64Array, a: Float64Array, dz: Float64Array): void {
  switch (layer.activation) {
    case 'relu':
      // The notebook's np.int64(A > 0): the derivative at exactly 0 is taken as 0.
      for (let i = 0; i < dz.length; i++) if (!(a[i]! > 0)) dz[i] = 0;
      return;
    case 'leaky_relu': {
      const alpha = layer.alpha ?? DEFAULT_LEAKY_ALPHA;
      for (let i = 0; i < dz.length; i++) if (!(z[i]! > 0)) dz[i] = dz[i]! * alpha;
      return;
    }
    case 'tanh':
      for (let i = 0; i < dz.length; i++) dz[i] = dz[i]! * (1 - a[i]! * a[i]!);
      return;
    case 'sigmoid':
      for (let i = 0; i < dz.length; i++) dz[i] = dz[i]! * (a[i]! * (1 - a[i]!));
      return;
    case 'linear':
      return;
  }
}

/** Activations with a kink at 0, where a finite difference can straddle a non-differentiable point. */
export function hasKink(activation: Activation): boolean {
  return activation === 'relu' || activation === 'leaky_relu';
}
