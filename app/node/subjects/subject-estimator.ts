import { directionVector } from '../../core/check/directions.js';
import type {
  CostBatch,
  DirectionRef,
  EntrySet,
  Estimator,
  OnCosts,
  Precision,
  PrecisionSource,
} from '../../core/check/estimator.js';
import { entryAt, entryCount } from '../../core/check/estimator.js';
import { CancelledError, SubjectError } from '../../core/errors.js';
import { type ParamGroup, entryName, shapeText } from '../../core/model/spec.js';
import type { SubjectConnection, SubjectDescription } from './connection.js';

/** Groups of a subject that described itself, laid out as the flat vector holds them (any rank). */
export function groupsFromDescription(d: SubjectDescription): ParamGroup[] {
  let offset = 0;
  return d.groups.map((g, i) => {
    const size = g.shape.reduce((p, x) => p * x, 1);
    const rows = g.shape[0]!;
    const group: ParamGroup = {
      name: g.name,
      shape: [...g.shape],
      rows,
      cols: size / rows,
      offset,
      size,
      layer: i + 1,
      kind: /(^|\.)b(ias)?\d*$/i.test(g.name) ? 'bias' : 'weight',
    };
    offset += size;
    return group;
  });
}

/** Work handed to the instances, each taking the next item when it is free. */
async function runQueue<T>(
  conns: readonly SubjectConnection[],
  items: readonly T[],
  signal: AbortSignal | undefined,
  work: (c: SubjectConnection, item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    conns.map(async (c) => {
      while (next < items.length) {
        if (signal?.aborted) throw new CancelledError('cancelled');
        const item = items[next++]!;
        await work(c, item);
      }
    }),
  );
}

/**
 * A subject GradProof cannot see inside (a process speaking the subject protocol, or a JS/TS
 * module) as an estimator: only θ₀, costs and the gradient under audit cross the boundary.
 * Each connection is a separate instance of the subject, so costs are computed in parallel
 * across them; they are cross-checked first (same groups, same θ₀, same J(θ₀)), because
 * instances that disagree would be judged as one.
 */
export class SubjectEstimator implements Estimator {
  readonly knowsKinks = false;
  readonly subject = true;
  evaluations = 0;
  private constructor(
    private readonly conns: readonly SubjectConnection[],
    readonly description: SubjectDescription,
    readonly groups: readonly ParamGroup[],
    readonly precision: { precision: Precision; source: PrecisionSource },
    private readonly j0: number,
    private readonly signal: AbortSignal | undefined,
    /** Entries per request: fewer round trips, coarser progress. */
    private readonly batch: number | undefined,
  ) {}

  get theta0(): Float64Array {
    return this.description.theta;
  }

  /** Describe every instance and cross-check them; close them all if anything is wrong. */
  static async open(
    conns: readonly SubjectConnection[],
    options: { signal?: AbortSignal; batch?: number; label: string },
  ): Promise<SubjectEstimator> {
    const { signal } = options;
    const onAbort = (): void => {
      for (const c of conns) void c.close();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const cancelled = (err: unknown): never => {
      if (signal?.aborted) throw new CancelledError('cancelled');
      throw err;
    };
    try {
      const descriptions = await Promise.all(conns.map((c) => c.describe())).catch(cancelled);
      const d = descriptions[0]!;
      const groups = groupsFromDescription(d);
      const size = groups.reduce((s, g) => s + g.size, 0);
      if (size !== d.theta.length) {
        throw new SubjectError(
          `subject ${options.label} describes groups holding ${size} parameters (${groups.map((g) => `${g.name} ${shapeText(g.shape)}`).join(', ')}) but its θ₀ has ${d.theta.length}`,
        );
      }
      descriptions.forEach((other, k) => {
        if (k === 0) return;
        const same =
          other.groups.length === d.groups.length &&
          other.groups.every(
            (g, i) => g.name === d.groups[i]!.name && shapeText(g.shape) === shapeText(d.groups[i]!.shape),
          );
        if (!same)
          throw new SubjectError(
            `subject ${options.label}: instance ${k + 1} describes other parameter groups than instance 1; every instance must be the same model`,
          );
        for (let i = 0; i < d.theta.length; i++) {
          if (!Object.is(other.theta[i], d.theta[i])) {
            throw new SubjectError(
              `subject ${options.label}: instances disagree on θ₀ (instance ${k + 1} has ${entryName(groups, i)} = ${other.theta[i]}, instance 1 has ${d.theta[i]}); its parameters must not be drawn afresh in each process: seed their initialisation or load them from a file`,
            );
          }
        }
      });
      const costs = await Promise.all(conns.map((c) => c.cost())).catch(cancelled);
      const j0 = costs[0]!;
      const differs = costs.findIndex((c) => !Object.is(c, j0));
      if (differs > 0) {
        // An instance that does not reproduce its own cost is noisy (judged as such); instances that each
        // reproduce themselves but not one another compute different functions.
        const again = await conns[0]!.cost().catch(cancelled);
        const againOther = await conns[differs]!.cost().catch(cancelled);
        if (Object.is(again, j0) && Object.is(againOther, costs[differs])) {
          throw new SubjectError(
            `subject ${options.label}: instances compute different costs at the same θ₀ (instance ${differs + 1}: ${costs[differs]}, instance 1: ${j0}); every process must load the same data in the same order`,
          );
        }
      }
      const precision = d.precision
        ? { precision: d.precision, source: 'declared' as const }
        : { precision: 'unknown' as const, source: 'unknown' as const };
      return new SubjectEstimator(conns, d, groups, precision, j0, signal, options.batch);
    } catch (err) {
      await Promise.all(conns.map((c) => c.close()));
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private guard<T>(p: Promise<T>): Promise<T> {
    return p.catch((err: unknown) => {
      if (this.signal?.aborted) throw new CancelledError('cancelled');
      throw err;
    });
  }

  async gradient(): Promise<Float64Array> {
    const g = await this.guard(this.conns[0]!.gradient());
    if (g.length !== this.theta0.length) {
      throw new SubjectError(
        `the subject's gradient has ${g.length} entries, but its parameter groups hold ${this.theta0.length} (${this.groups.map((x) => `${x.name} ${shapeText(x.shape)}`).join(', ')}): a gradient of the wrong shape`,
      );
    }
    return g;
  }

  async cost0(): Promise<number> {
    return this.j0;
  }

  private withAbort<T>(work: () => Promise<T>): Promise<T> {
    const onAbort = (): void => {
      for (const c of this.conns) void c.close();
    };
    this.signal?.addEventListener('abort', onAbort, { once: true });
    return this.guard(work()).finally(() => this.signal?.removeEventListener('abort', onAbort));
  }

  entryCosts(set: EntrySet, offsets: readonly number[], onCosts?: OnCosts): Promise<CostBatch> {
    return this.withAbort(async () => {
      const count = entryCount(set);
      const w = offsets.length;
      const per = this.batch ?? Math.max(1, Math.min(256, Math.ceil(count / (this.conns.length * 8))));
      const batches: [number, number][] = [];
      for (let s = 0; s < count; s += per) batches.push([s, Math.min(count, s + per)]);
      const costs = new Float64Array(count * w);
      await runQueue(this.conns, batches, this.signal, async (c, [s, e]) => {
        const entries: [number, number][] = [];
        for (let k = s; k < e; k++) for (const d of offsets) entries.push([entryAt(set, k), d]);
        const j = await c.costs(entries);
        costs.set(j, s * w);
        this.evaluations += j.length;
        onCosts?.(e - s, { first: s, costs: j, kinks: null });
      });
      return { costs, kinks: null };
    });
  }

  directionCosts(
    directions: readonly DirectionRef[],
    seed: number,
    offsets: readonly number[],
    onCosts?: OnCosts,
  ): Promise<CostBatch> {
    return this.withAbort(async () => {
      const w = offsets.length;
      const costs = new Float64Array(directions.length * w);
      const n = this.theta0.length;
      await runQueue(
        this.conns,
        directions.map((d, i) => ({ d, i })),
        this.signal,
        async (c, { d, i }) => {
          const u = directionVector(n, this.groups[d.group]!, d.group, seed, d.k, d.attempt);
          const j = await c.costsAlong(u, [...offsets]);
          costs.set(j, i * w);
          this.evaluations += j.length;
          onCosts?.(1, { first: i, costs: j, kinks: null });
        },
      );
      return { costs, kinks: null };
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.conns.map((c) => c.close()));
  }
}
