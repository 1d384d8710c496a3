/** ‖x‖₂ as numpy's np.linalg.norm computes it: √(Σ xᵢ²), rescaled only if that overflows. */
export function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  if (Number.isFinite(s) && s > 1e-290) return Math.sqrt(s);
  let scale = 0;
  let ssq = 1;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    if (a === 0) continue;
    if (scale < a) {
      ssq = 1 + ssq * (scale / a) ** 2;
      scale = a;
    } else ssq += (a / scale) ** 2;
  }
  return scale * Math.sqrt(ssq);
}

export function normOfDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const d = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) d[i] = a[i]! - b[i]!;
  return norm(d);
}

/**
 * The notebook's formula (3): ‖g − ĝ‖₂ / (‖g‖₂ + ‖ĝ‖₂). Two zero vectors agree
 * perfectly (0), rather than giving 0/0.
 */
export function relativeDifference(grad: ArrayLike<number>, approx: ArrayLike<number>): number {
  const den = norm(grad) + norm(approx);
  if (den === 0) return 0;
  return normOfDifference(grad, approx) / den;
}

export function dotProduct(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
