/** Seconds a shard should take: short enough for smooth progress and cancelling, long enough that messaging is negligible. */
export const SHARD_SECONDS = 0.1;
/** The first shard of a segment, whose cost is not yet measured: a probe. */
const PROBE_ITEMS = 8;
/** A shard grows at most this much over the last measured one (a cheap group may be followed by a dear one). */
const GROWTH = 8;
const MAX_ITEMS = 1 << 16;

/**
 * Hands out shards of items [0, count) on demand, sized from what the last shards of the same
 * segment took to compute. Items are split into segments (parameter groups: an entry of W1 may
 * cost five times one of W2) and a shard never crosses one. The tail is split finer so every
 * worker finishes at about the same time. Sizing changes only which worker computes an item,
 * never its result: every item is a pure function of θ₀.
 */
export class ShardPlanner {
  private next = 0;
  private segment = 0;
  /** Measured seconds per item of the current segment, or NaN before the first result. */
  private perItem = Number.NaN;
  private lastSize = 0;

  constructor(
    private readonly count: number,
    private readonly workers: number,
    /** Ends of the segments, ascending, the last one `count`. */
    private readonly ends: readonly number[] = [count],
    private readonly fixedSize?: number,
    /** A rough a-priori cost of one item, which bounds the first shard of each segment. */
    private readonly estimate = 0,
  ) {}

  /** The next shard [start, end), or undefined when every item is handed out. */
  take(): [number, number] | undefined {
    if (this.next >= this.count) return undefined;
    while (this.ends[this.segment]! <= this.next) {
      this.segment++;
      this.perItem = Number.NaN;
      this.lastSize = 0;
    }
    const end = this.ends[this.segment]!;
    let size: number;
    if (this.fixedSize) size = this.fixedSize;
    else if (Number.isNaN(this.perItem))
      size =
        this.lastSize || Math.max(1, Math.min(PROBE_ITEMS, Math.floor(SHARD_SECONDS / Math.max(this.estimate, 1e-12))));
    else size = Math.min(Math.ceil(SHARD_SECONDS / Math.max(this.perItem, 1e-9)), this.lastSize * GROWTH);
    if (!this.fixedSize) {
      // The tail: no shard longer than the remaining work shared among the workers.
      const left = this.count - this.next;
      size = Math.max(1, Math.min(size, MAX_ITEMS, Math.ceil(left / (2 * this.workers))));
    }
    const start = this.next;
    this.next = Math.min(end, start + size);
    this.lastSize = this.next - start;
    return [start, this.next];
  }

  /** A shard's measured time; later shards of its segment are sized from it. */
  measured(start: number, end: number, seconds: number): void {
    if (start < (this.segment > 0 ? this.ends[this.segment - 1]! : 0) || end > this.ends[this.segment]!) return;
    this.perItem = seconds / Math.max(1, end - start);
  }
}
