import type { Progress } from '../../core/check/progress.js';

function duration(s: number): string {
  if (!Number.isFinite(s)) return '--';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
}

/** What the items of each phase are, as the bar names them. */
const UNITS: Record<Progress['phase'], string> = {
  sweep: 'entries',
  directions: 'directions',
  sample: 'sampled entries',
  kinks: 'entries past a kink',
  epsilon: 'steps tried',
};

function rate(r: number): string {
  return r >= 1e6 ? `${(r / 1e6).toFixed(1)}M` : r >= 1e3 ? `${(r / 1e3).toFixed(1)}k` : r.toFixed(0);
}

/**
 * A one-line progress bar on stderr that appears only once a run has taken
 * more than `delayMs` (quick runs print nothing) and redraws at most 10×/s.
 */
export class ProgressBar {
  private lastDraw = 0;
  private shown = false;
  private readonly t0 = Date.now();

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly delayMs = 1000,
  ) {}

  update(p: Progress): void {
    const now = Date.now();
    if (now - this.t0 < this.delayMs) return;
    if (now - this.lastDraw < (this.stream.isTTY ? 100 : 2000) && p.done < p.total) return;
    this.lastDraw = now;
    const width = 30;
    const filled = p.total > 0 ? Math.round((width * p.done) / p.total) : width;
    const pct = p.total > 0 ? (100 * p.done) / p.total : 100;
    const line = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${pct.toFixed(1).padStart(5)}%  ${p.done}/${p.total} ${UNITS[p.phase]}  ${rate(p.rate)} eval/s  ETA ${duration(p.eta)}`;
    if (this.stream.isTTY) this.stream.write(`\r${line}\x1b[K`);
    else this.stream.write(`${line}\n`);
    this.shown = true;
  }

  finish(): void {
    if (this.shown && this.stream.isTTY) this.stream.write('\r\x1b[K');
  }
}
