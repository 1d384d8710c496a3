/** Formats for the UI: the numbers module's, plus what only a screen needs. */
export {
  fmtCorrelation,
  fmtCount,
  fmtDifference,
  fmtEpsilon,
  fmtFactor,
  fmtPercent,
  fmtProbability,
  fmtResolution,
  fmtSeconds,
  fmtShortHash,
  fmtThreshold,
  fmtUtc,
  fmtValue,
} from '../../../app/core/report/numbers';

/** Seconds left, as a person reads them: 12 s, 4 min 5 s; unknown as —. */
export function timeLeft(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '—';
  if (s < 60) return `${Math.max(1, Math.round(s))} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** Offer bytes or text as a download (the same in Electron and a browser). */
export function download(data: BlobPart, filename: string, type: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([data], { type }));
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

export function base64Bytes(b64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
