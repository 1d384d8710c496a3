import path from 'node:path';
import { describeResult } from '../../core/subjects/protocol.js';
import { Worker } from 'node:worker_threads';
import { compiledSibling } from '../util/compiled-path.js';
import { type SubjectConnection, type SubjectDescription, finiteArray } from './connection.js';
import { SubjectError } from '../../core/errors.js';

interface Reply {
  id: number;
  result?: unknown;
  error?: { message: string; traceback?: string };
}

/**
 * A JS/TS module subject hosted in its own worker thread, so a slow or hung
 * forward pass never blocks GradProof, and a hung one is terminated.
 */
export class ModuleConnection implements SubjectConnection {
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  private readonly pending = new Map<
    number,
    { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; method: string }
  >();
  private nextId = 1;
  private failure: SubjectError | undefined;
  readonly label: string;

  constructor(
    readonly modulePath: string,
    private readonly timeoutSeconds: number,
    data?: { X: number[][]; Y: number[][] },
  ) {
    this.label = `module:${modulePath}`;
    this.worker = new Worker(compiledSibling(import.meta.url, 'module-host-worker'), {
      workerData: { modulePath: path.resolve(modulePath), data },
    });
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(`did not load within ${timeoutSeconds} s`), timeoutSeconds * 1000);
      this.pending.set(0, { resolve: () => resolve(), reject, timer, method: 'load' });
    });
    // Observed by every request; this only keeps an idle connection's failure from being "unhandled".
    this.ready.catch(() => undefined);
    this.worker.on('message', (r: Reply) => this.onReply(r));
    this.worker.on('error', (err) => this.fail(`threw while loading or running: ${err.message}`));
    this.worker.on('exit', (code) => this.fail(`stopped (exit code ${code})`));
  }

  private fail(what: string): void {
    if (this.failure) return;
    this.failure = new SubjectError(`subject ${this.label} ${what}`);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(this.failure);
    }
    this.pending.clear();
    void this.worker.terminate();
  }

  private onReply(r: Reply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(r.id);
    if (r.error) {
      const err = new SubjectError(`subject ${this.label} failed on "${p.method}": ${r.error.message}`);
      if (r.id === 0) this.fail(`could not be loaded: ${r.error.message}`);
      p.reject(err);
    } else p.resolve(r);
  }

  private async request(method: string, params?: unknown): Promise<Record<string, unknown>> {
    await this.ready;
    if (this.failure) throw this.failure;
    const id = this.nextId++;
    const r = await new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(`did not answer "${method}" within ${this.timeoutSeconds} s (hung?); its thread was stopped`),
        this.timeoutSeconds * 1000,
      );
      this.pending.set(id, { resolve, reject, timer, method });
      this.worker.postMessage({ id, method, params });
    });
    return r.result as Record<string, unknown>;
  }

  async describe(): Promise<SubjectDescription> {
    const parsed = describeResult.safeParse(await this.request('describe'));
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new SubjectError(
        `subject ${this.label} described itself in a way GradProof cannot read (${i.path.join('.') || 'result'}: ${i.message})`,
      );
    }
    const r = parsed.data;
    return {
      groups: r.groups,
      theta: finiteArray(r.theta, this.label, (i) => `θ₀[${i}]`),
      ...(r.precision ? { precision: r.precision } : {}),
    };
  }

  async gradient(): Promise<Float64Array> {
    const r = (await this.request('gradient')) as { gradient: number[] };
    return finiteArray(r.gradient, this.label, (i) => `gradient entry ${i}`);
  }

  async cost(): Promise<number> {
    const r = (await this.request('cost')) as { cost: number };
    return finiteArray([r.cost], this.label, () => 'the cost at θ₀')[0]!;
  }

  async costs(entries: [number, number][]): Promise<Float64Array> {
    const r = (await this.request('costs', { entries })) as { costs: number[] };
    return finiteArray(
      r.costs,
      this.label,
      (i) => `the cost at θ₀ ${entries[i]![1] >= 0 ? '+' : '−'} ${Math.abs(entries[i]![1])}·e[${entries[i]![0]}]`,
    );
  }

  async costsAlong(u: Float64Array, deltas: number[]): Promise<Float64Array> {
    const r = (await this.request('costs_along', { direction: Array.from(u), deltas })) as { costs: number[] };
    return finiteArray(r.costs, this.label, (i) => `the cost along a direction at step ${deltas[i]}`);
  }

  async close(): Promise<void> {
    this.fail('was closed'); // rejects and un-times anything still pending
    await this.worker.terminate();
  }
}
