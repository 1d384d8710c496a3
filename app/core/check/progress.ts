/** A progress event of a long run: items done of total in the current phase, at what rate, and how long to go. */
export interface Progress {
  /**
   * sweep: the entries (full mode) or directions (fast mode) at the run's ε; the other phases are
   * short: the budget sample, kinks re-estimated at smaller steps, the ε choice and the ε sweep.
   */
  phase: 'sweep' | 'directions' | 'sample' | 'kinks' | 'epsilon';
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
  private readonly t0 = Date.now();
  constructor(
    private readonly total: number,
    private readonly evaluationsPerItem: number,
    private readonly phase: Progress['phase'] = 'sweep',
  ) {}

  at(done: number): Progress {
    const elapsed = (Date.now() - this.t0) / 1000;
    const rate = elapsed > 0 ? (done * this.evaluationsPerItem) / elapsed : 0;
    const eta = done > 0 ? (elapsed * (this.total - done)) / done : Number.NaN;
    return { phase: this.phase, done, total: this.total, rate, eta, elapsed };
  }
}
