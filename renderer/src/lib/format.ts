export const sci = (x: number | null | undefined, d = 3): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : x === 0 ? '0' : x.toExponential(d);
export const utc = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
export const short = (hash: string | undefined, n = 12): string => (hash ? `${hash.slice(0, n)}…` : '—');
export function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '—';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
export function verdictText(v: string | null | undefined): string {
  return v === 'pass'
    ? 'Backpropagation is correct'
    : v === 'fail'
      ? 'Backpropagation has a mistake'
      : v === 'inconclusive'
        ? 'Inconclusive: no mistake found, some entries cannot be judged'
        : 'No verdict';
}
