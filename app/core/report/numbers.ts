/**
 * One format per quantity, for every surface (CLI, UI, PDF): the same number never reads
 * differently in two places. JSON keeps full precision.
 */

/** A relative difference (formula 3), or any small error ratio: 4 significant digits. */
export function fmtDifference(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  if (x === 0) return '0';
  return x >= 1e-3 && x < 1e3 ? String(Number(x.toPrecision(4))) : x.toExponential(3);
}

/** A finite-difference step ε: as few digits as it needs (1e-7, 2.5e-4). */
export function fmtEpsilon(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Number(x.toPrecision(6)).toExponential().replace('e+', 'e');
}

/** A setting the user chose, such as a threshold: as few digits as it needs (2e-7, 0.001). */
export function fmtThreshold(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return x >= 1e-3 && x < 1e4 ? String(Number(x.toPrecision(6))) : fmtEpsilon(x);
}

/** A tick on a logarithmic axis at 10^e, every one alike so a decade reads at a glance: 1e-7, 1e-1, 1, 1e2. */
export function fmtLogTick(e: number): string {
  return e === 0 ? '1' : `1e${e}`;
}

/** A UTC instant: 2026-05-01 12:00:03 UTC. */
export function fmtUtc(iso: string | null | undefined): string {
  if (!iso) return '—';
  return `${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')} UTC`;
}

/** A SHA-256 or key id cut for a table cell (the full value goes in a tooltip): 3f2a9c01b7e4…. */
export function fmtShortHash(hash: string | null | undefined, n = 12): string {
  if (!hash) return '—';
  return hash.length > n ? `${hash.slice(0, n)}…` : hash;
}

/**
 * A factor α in g ≈ α·ĝ: three decimals, or as many as it takes to show how far it is from
 * 1 or -1 (a failing group is never "×1.000"), but no more than the measurement resolves:
 * a deviation below `resolution` (the comparison's relative error) is not shown.
 */
export function fmtFactor(alpha: number, resolution = 0): string {
  const off = Math.min(Math.abs(alpha - 1), Math.abs(alpha + 1));
  if (off > resolution && off < 5e-4) {
    const digits = Math.min(15, Math.ceil(-Math.log10(off)) + 1);
    return alpha.toFixed(digits);
  }
  return alpha.toFixed(3);
}

/** A gradient or numerical value, a norm, an absolute error: 4 significant digits. */
export function fmtValue(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e4 ? String(Number(x.toPrecision(4))) : x.toExponential(3);
}

/** A fraction as a percentage: 31.2%, 0.052%. */
export function fmtPercent(fraction: number): string {
  const p = 100 * fraction;
  return `${p >= 10 ? p.toFixed(1) : p >= 1e-3 ? String(Number(p.toPrecision(2))) : p.toExponential(1)}%`;
}

/** How large an error must be to show, relative to the gradient: "0.52% of the gradient", "3.1× the gradient itself". */
export function fmtResolution(relative: number): string {
  if (!Number.isFinite(relative)) return 'any size of error (the gradient is zero)';
  return relative >= 1
    ? `${Number(relative.toPrecision(2))}× the gradient itself`
    : `${fmtPercent(relative)} of the gradient`;
}

/** A probability: 0.05, 3.1e-14. */
export function fmtProbability(p: number): string {
  if (p >= 0.01) return p.toFixed(2);
  return p.toExponential(1);
}

/** A correlation (cosine): three decimals. */
export function fmtCorrelation(c: number): string {
  return c.toFixed(3);
}

/** Seconds: 0.24 s, 12.3 s, 4 min 05 s. */
export function fmtSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  if (s < 10) return `${s.toFixed(s < 1 ? 3 : 2)} s`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(Math.round(s - 60 * m)).padStart(2, '0')} s`;
}

/** Counts with thousands separators: 1,103,001. */
export function fmtCount(n: number): string {
  return n.toLocaleString('en-US');
}
