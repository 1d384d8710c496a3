/** A progress event of a long run: entries done of total, at what rate, and how long to go. */
export interface Progress {
  phase: 'backward' | 'sweep' | 'noise' | 'compare';
  done: number;
  total: number;
  /** Cost evaluations per second so far. */
  rate: number;
  /** Seconds left at the current rate (NaN until there is a rate). */
  eta: number;
  elapsed: number;
  /** Per group, the difference over the entries estimated so far (for a chart that fills in). */
  groups?: { name: string; difference: number; done: number; size: number }[];
}

/** Rate and ETA from counts, so every transport reports the same numbers. */
export class ProgressMeter {
  private readonly t0 = performance.now();
  constructor(
    private readonly total: number,
    private readonly evaluationsPerEntry: number,
  ) {}

  at(done: number, phase: Progress['phase'] = 'sweep'): Progress {
    const elapsed = (performance.now() - this.t0) / 1000;
    const rate = elapsed > 0 ? (done * this.evaluationsPerEntry) / elapsed : 0;
    const eta = done > 0 ? (elapsed * (this.total - done)) / done : Number.NaN;
    return { phase, done, total: this.total, rate, eta, elapsed };
  }
}
