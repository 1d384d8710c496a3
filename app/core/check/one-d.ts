import { relativeDifference } from './metrics.js';

export interface OneDResult {
  x: number;
  theta: number;
  epsilon: number;
  threshold: number;
  J: number;
  dtheta: number;
  gradapprox: number;
  difference: number;
  verdict: 'pass' | 'fail';
}

/** The notebook's first exercise: J(θ) = θx, dJ/dθ = x, checked by formula (1) and (2). */
export function checkOneD(x: number, theta: number, epsilon = 1e-7, threshold = 1e-7): OneDResult {
  const forward = (t: number): number => t * x;
  const J = forward(theta);
  const dtheta = x;
  const gradapprox = (forward(theta + epsilon) - forward(theta - epsilon)) / (2 * epsilon);
  const difference = relativeDifference([dtheta], [gradapprox]);
  return {
    x,
    theta,
    epsilon,
    threshold,
    J,
    dtheta,
    gradapprox,
    difference,
    verdict: difference < threshold ? 'pass' : 'fail',
  };
}
