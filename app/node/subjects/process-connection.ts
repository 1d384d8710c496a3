import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import {
  type SubjectRequestBody,
  type SubjectResponse,
  costResult,
  costsResult,
  describeResult,
  gradientResult,
  parseLine,
} from '../../core/subjects/protocol.js';
import { projectRoot, unpacked } from '../util/compiled-path.js';
import { waitAtMost } from '../util/timeout.js';
import { type SubjectConnection, type SubjectDescription, finiteArray } from './connection.js';
import { SUBJECT_TOKEN_VAR, killByToken } from './process-tree.js';
import { registerSubject, unregisterSubject } from './reaper.js';
import { SubjectError } from '../../core/errors.js';

/** The Python adapter's folder, put on every process subject's PYTHONPATH. */
export function pythonAdapterDir(): string {
  return unpacked(
    path.join(projectRoot(path.dirname(new URL(import.meta.url).pathname)), 'resources', 'adapters', 'python'),
  );
}

/**
 * The environment a subject runs in: the user's, without GradProof's own variables (a
 * passphrase, a database path) or anything named like a secret, plus the adapter on PYTHONPATH.
 * The code under audit is not trusted with the auditor's secrets.
 */
export function subjectEnvironment(
  adapter: string,
  threads?: number,
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (/^GRADPROOF_/i.test(k) || /PASSPHRASE|PASSWORD|SECRET|PRIVATE_KEY|CREDENTIAL/i.test(k)) continue;
    out[k] = v;
  }
  out.PYTHONPATH = [adapter, env.PYTHONPATH].filter(Boolean).join(path.delimiter);
  out.PYTHONUNBUFFERED = '1';
  // Several subject processes side by side each get their share of the cores (unless the user
  // chose): BLAS and torch thread pools that each take every core only fight one another.
  if (threads !== undefined) {
    for (const k of ['OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS']) out[k] ??= String(threads);
  }
  return out;
}

/** A word for /bin/sh, quoted so that nothing in it is interpreted. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface ProcessOptions {
  /** Threads each process's BLAS and torch pools may use (its share of the cores). */
  threads?: number;
  /** Seconds a subject may take to answer one request before it is called hung and killed. */
  timeoutSeconds: number;
  cwd?: string;
}

type Pending = {
  resolve: (r: SubjectResponse) => void;
  reject: (e: Error) => void;
  method: string;
  timer: NodeJS.Timeout;
};

const STDERR_TAIL = 2000;

/**
 * A subject run as a child process speaking GradProof's protocol on stdio. The
 * child gets its own process group so that closing (or a failure) kills it and
 * anything it started; its stderr is kept (the tail) to explain failures.
 */
export class ProcessConnection implements SubjectConnection {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stderrTail = '';
  private failure: SubjectError | undefined;
  private exited = false;
  private reaped = false;
  /** Marks every process of this subject instance, for the ones that leave its process group. */
  private readonly token: string;
  private readonly exitPromise: Promise<void>;

  constructor(
    readonly command: string,
    private readonly options: ProcessOptions,
  ) {
    const adapter = pythonAdapterDir();
    this.token = randomBytes(16).toString('hex');
    this.child = spawn('/bin/sh', ['-c', `exec ${command}`], {
      cwd: options.cwd ?? process.cwd(),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      env: { ...subjectEnvironment(adapter, options.threads), [SUBJECT_TOKEN_VAR]: this.token },
    });
    if (this.child.pid !== undefined) registerSubject(this.child.pid, this.token);
    this.exitPromise = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-STDERR_TAIL);
    });
    this.child.stdin!.on('error', () => undefined); // a dead child's EPIPE is reported through 'exit'
    const lines = createInterface({ input: this.child.stdout! });
    lines.on('line', (line) => this.onLine(line));
    this.child.once('error', (err) => this.fail(`could not be started: ${err.message}`));
    this.child.once('exit', (code, signal) => {
      this.exited = true;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      // Read the rest of stderr before explaining.
      setImmediate(() => this.fail(`${how}${this.pendingWhat()}`));
    });
  }

  private pendingWhat(): string {
    const methods = [...this.pending.values()].map((p) => p.method);
    return methods.length ? ` while computing ${methods[0]}` : '';
  }

  private explain(what: string): SubjectError {
    const tail = this.stderrTail.trim().split('\n').slice(-8).join('\n    ');
    return new SubjectError(`subject "${this.command}" ${what}${tail ? `; the end of its stderr:\n    ${tail}` : ''}`);
  }

  private fail(what: string): void {
    if (this.failure) return;
    this.failure = this.explain(what);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(this.failure);
    }
    this.pending.clear();
    this.kill();
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    const r = parseLine(line);
    if (!r) {
      const shown = line.length > 120 ? `${line.slice(0, 120)}…` : line;
      this.fail(
        `wrote something that is not GradProof protocol JSON on stdout: ${JSON.stringify(shown)} (print diagnostics to stderr, or use the adapter, which does)`,
      );
      return;
    }
    const p = this.pending.get(r.id);
    if (!p) {
      this.fail(`answered request ${r.id}, which was never asked or already answered`);
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(r.id);
    p.resolve(r);
  }

  private request(req: SubjectRequestBody): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const method = (req as { method: string }).method;
    return new Promise<SubjectResponse>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(`did not answer "${method}" within ${this.options.timeoutSeconds} s (hung?); it was killed`),
        this.options.timeoutSeconds * 1000,
      );
      this.pending.set(id, { resolve, reject, method, timer });
      this.child.stdin!.write(`${JSON.stringify({ id, ...req })}\n`);
    }).then((r) => {
      if (r.error) {
        const tb = r.error.traceback ? `\n    ${r.error.traceback.trim().split('\n').slice(-6).join('\n    ')}` : '';
        throw new SubjectError(`subject "${this.command}" failed on "${method}": ${r.error.message}${tb}`);
      }
      return r.result;
    });
  }

  private parse<T>(
    schema: {
      safeParse: (
        v: unknown,
      ) =>
        { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
    },
    value: unknown,
    method: string,
  ): T {
    const r = schema.safeParse(value);
    if (!r.success) {
      const i = r.error.issues[0]!;
      this.fail(
        `answered "${method}" with a result GradProof cannot read (${i.path.join('.') || 'result'}: ${i.message})`,
      );
      throw this.failure!;
    }
    return r.data;
  }

  async describe(): Promise<SubjectDescription> {
    const d = this.parse(describeResult, await this.request({ method: 'describe' }), 'describe');
    const theta = finiteArray(d.theta, `"${this.command}"`, (i) => `θ₀[${i}]`);
    return { groups: d.groups, theta, ...(d.precision ? { precision: d.precision } : {}) };
  }

  async gradient(): Promise<Float64Array> {
    const g = this.parse(gradientResult, await this.request({ method: 'gradient', params: {} }), 'gradient');
    return finiteArray(g.gradient, `"${this.command}"`, (i) => `gradient entry ${i}`);
  }

  async cost(): Promise<number> {
    const c = this.parse(costResult, await this.request({ method: 'cost', params: {} }), 'cost');
    return finiteArray([c.cost], `"${this.command}"`, () => 'the cost at θ₀')[0]!;
  }

  async costs(entries: [number, number][]): Promise<Float64Array> {
    const c = this.parse(costsResult, await this.request({ method: 'costs', params: { entries } }), 'costs');
    if (c.costs.length !== entries.length) {
      this.fail(`answered "costs" with ${c.costs.length} values for ${entries.length} perturbations`);
      throw this.failure!;
    }
    return finiteArray(
      c.costs,
      `"${this.command}"`,
      (i) => `the cost at θ₀ ${entries[i]![1] >= 0 ? '+' : '−'} ${Math.abs(entries[i]![1])}·e[${entries[i]![0]}]`,
    );
  }

  async costsAlong(u: Float64Array, deltas: number[]): Promise<Float64Array> {
    const c = this.parse(
      costsResult,
      await this.request({ method: 'costs_along', params: { direction: Array.from(u), deltas } }),
      'costs_along',
    );
    if (c.costs.length !== deltas.length) {
      this.fail(`answered "costs_along" with ${c.costs.length} values for ${deltas.length} steps`);
      throw this.failure!;
    }
    return finiteArray(c.costs, `"${this.command}"`, (i) => `the cost along a direction at step ${deltas[i]}`);
  }

  /**
   * The whole process group (the command and anything it spawned, even after the command itself
   * exited), and any process that left the group but carries this subject's token.
   */
  private kill(): void {
    if (this.child.pid === undefined || this.reaped) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
    killByToken(this.token);
    if (this.exited) {
      this.reaped = true;
      unregisterSubject(this.child.pid, this.token);
    }
  }

  async close(): Promise<void> {
    if (!this.exited && !this.failure) {
      // Ask politely, then make sure.
      await waitAtMost(
        this.request({ method: 'exit' }).catch(() => undefined),
        500,
      );
    }
    this.fail('was closed'); // rejects and un-times anything still pending, kills the group
    this.kill();
    await waitAtMost(this.exitPromise, 2000);
    this.kill(); // once more now that the command has exited: stragglers, and the reaper forgets it
  }
}
