import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import {
  type ApiEvent,
  ApiError,
  toApiErrorBody,
  type CheckRequest,
  type Method,
  type Results,
  validateParams,
} from '../../core/api/contract.js';
import { compareRuns } from '../../core/report/compare-runs.js';
import { parseDefect } from '../../core/model/defects.js';
import { runAndRecord } from '../check/record.js';
import { errorMessage } from '../../core/errors.js';
import { createReport, getReport, listReports, transition, type ReportView } from '../reports/reports.js';
import { verifyStoredReport } from '../reports/verify.js';
import { type Paper, reportPdf } from '../pdf/report-pdf.js';
import { createIdentity, listIdentities } from '../signing/identities.js';
import type { Store } from '../store/database.js';
import { getRun, listRuns } from '../store/runs.js';

export interface ServiceOptions {
  /** Native file dialogs, where the transport has them (Electron). */
  openFile?: (purpose: 'model' | 'weights' | 'dataset' | 'module') => Promise<string | null>;
  workers?: number;
  /** HTML to PDF: Electron's printToPDF in the desktop app; headless Chromium otherwise. */
  renderPdf?: (html: string, paper: Paper) => Promise<Buffer>;
}

type Handler<M extends Method> = (params: ReturnType<typeof validateParams<M>>) => Promise<Results[M]> | Results[M];

/**
 * GradProof's engine behind the API contract: validates every call, runs checks
 * as background jobs that report through events, and keeps one store open.
 * Transports (IPC, HTTP bridge, CLI) only move calls and events.
 */
export class GradProofService {
  readonly events = new EventEmitter();
  private readonly jobs = new Map<string, AbortController>();
  private readonly handlers: { [M in Method]: Handler<M> };

  constructor(
    private readonly store: Store,
    private readonly options: ServiceOptions = {},
  ) {
    this.handlers = {
      'library.list': () => this.library(),
      'check.start': (p) => this.startCheck(p),
      'check.cancel': (p) => {
        const job = this.jobs.get(p.jobId);
        job?.abort();
        return { cancelled: Boolean(job) };
      },
      'runs.list': (p) => listRuns(this.store, p.limit) as unknown as Results['runs.list'],
      'runs.get': (p) => this.run(p.id),
      'runs.compare': (p) => {
        const runs = p.ids.map((id) => this.run(id));
        const incomplete = runs.find((r) => !r.result);
        if (incomplete)
          throw new ApiError({
            error: `run ${incomplete.id} is ${incomplete.status}: only completed runs can be compared`,
            kind: 'input',
            field: 'ids',
          });
        return { comparison: compareRuns(runs), runs };
      },
      'reports.list': () => listReports(this.store),
      'reports.get': (p) => this.detail(getReport(this.store, p.id)),
      'reports.create': (p) => this.detail(createReport(this.store, p.runId, p.as)),
      'reports.sign': (p) => this.detail(transition(this.store, p.id, 'prepare', p.as, p.passphrase)),
      'reports.approve': (p) => this.detail(transition(this.store, p.id, 'approve', p.as, p.passphrase, p.comment)),
      'reports.reject': (p) => this.detail(transition(this.store, p.id, 'reject', p.as, p.passphrase, p.reason)),
      'reports.verify': (p) => verifyStoredReport(this.store, p.id),
      'reports.pdf': async (p) => ({
        base64: (await reportPdf(this.store, p.id, p.paper, this.options.renderPdf)).toString('base64'),
        filename: `${p.id}.pdf`,
      }),
      'identities.list': () => listIdentities(this.store),
      'identities.create': (p) => createIdentity(this.store, p.name, p.role, p.passphrase),
      'dialog.openFile': async (p) =>
        this.options.openFile
          ? { path: await this.options.openFile(p.purpose), available: true }
          : { path: null, available: false },
    };
  }

  /** The single entry point of every transport. Errors come out as ApiError with a body to send back. */
  async call<M extends Method>(method: M, params: unknown): Promise<Results[M]> {
    const valid = validateParams(method, params);
    try {
      return await (this.handlers[method] as Handler<M>)(valid);
    } catch (err) {
      throw new ApiError(toApiErrorBody(err));
    }
  }

  onEvent(listener: (e: ApiEvent) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  private emit(e: ApiEvent): void {
    this.events.emit('event', e);
  }

  private run(id: string): Results['runs.get'] {
    const r = getRun(this.store, id);
    if (!r) throw new ApiError({ error: `no run ${id}`, kind: 'not-found', field: 'id' });
    return r as unknown as Results['runs.get'];
  }

  private detail(r: ReportView): Results['reports.get'] {
    return {
      id: r.id,
      runId: r.runId,
      state: r.state,
      createdAt: r.createdAt,
      sha256: r.sha256,
      author: r.author,
      statement: r.statement,
      signatures: r.signatures.map((s) => ({
        meaning: s.meaning,
        signer: s.signer,
        signedAt: s.signedAt,
        comment: s.comment,
      })),
      verification: verifyStoredReport(this.store, r.id),
    };
  }

  private library(): Results['library.list'] {
    const db = this.store.db;
    const rows = <T>(sql: string): T[] => db.prepare(sql).all() as T[];
    return {
      models: [
        {
          ref: 'builtin:notebook-fraud',
          name: 'notebook-fraud',
          kind: 'model',
          builtin: true,
          detail: "The notebook's fraud network, 4→5→3→1, ReLU, ReLU, sigmoid, cross-entropy",
        },
        {
          ref: 'builtin:payments-mlp',
          name: 'payments-mlp',
          kind: 'model',
          builtin: true,
          detail: 'Fraud MLP for builtin:payments, 30→64→32→1',
        },
        {
          ref: 'mlp:30,64,32,1',
          name: 'mlp:30,64,32,1',
          kind: 'model',
          builtin: true,
          detail: 'Synthetic MLP (ReLU hidden layers, sigmoid output), He weights from the seed',
        },
        ...rows<{ sha256: string; name: string; ref: string }>(
          'SELECT sha256, name, ref FROM models ORDER BY first_seen DESC',
        )
          .filter((m) => !m.ref.startsWith('builtin:') && !m.ref.startsWith('mlp:'))
          .map((m) => ({ ref: m.ref, name: m.name, kind: 'model' as const, builtin: false, sha256: m.sha256 })),
      ],
      datasets: [
        {
          ref: 'builtin:notebook-case',
          name: 'notebook-case',
          kind: 'dataset',
          builtin: true,
          detail: "The notebook's test case: 3 examples, 4 features (RandomState(1))",
        },
        {
          ref: 'builtin:payments',
          name: 'payments',
          kind: 'dataset',
          builtin: true,
          detail: 'Synthetic mobile payments: 20,000 rows, 30 features, 2.6% fraud',
        },
        {
          ref: 'random:2048',
          name: 'random:2048',
          kind: 'dataset',
          builtin: true,
          detail: 'Gaussian features of the model width, 0/1 labels, from the seed',
        },
        ...rows<{ sha256: string; ref: string; examples: number; features: number }>(
          'SELECT sha256, ref, examples, features FROM datasets ORDER BY first_seen DESC',
        )
          .filter((d) => !d.ref.startsWith('builtin:') && !d.ref.startsWith('random:'))
          .map((d) => ({
            ref: d.ref,
            name: d.ref,
            kind: 'dataset' as const,
            builtin: false,
            sha256: d.sha256,
            detail: `${d.examples} examples, ${d.features} features`,
          })),
      ],
      implementations: rows<{ sha256: string; kind: string; ref: string; defects: string | null }>(
        'SELECT sha256, kind, ref, defects FROM implementations ORDER BY first_seen DESC',
      ).map((i) => ({
        ref: i.ref,
        name:
          i.kind === 'builtin'
            ? `GradProof engine${i.defects ? ` with ${(JSON.parse(i.defects) as string[]).join(', ')}` : ''}`
            : i.ref,
        kind: 'implementation' as const,
        builtin: i.kind === 'builtin',
        sha256: i.sha256,
        detail: i.kind,
      })),
      weights: rows<{ sha256: string; source: string }>(
        'SELECT sha256, source FROM weights ORDER BY first_seen DESC',
      ).map((w) => ({
        ref: w.source,
        name: w.source,
        kind: 'weights' as const,
        builtin: !w.source.startsWith('weights '),
        sha256: w.sha256,
      })),
    };
  }

  private startCheck(req: CheckRequest): Results['check.start'] {
    const impl = req.implementation;
    if (impl.kind === 'builtin') {
      for (const d of impl.defects) {
        try {
          parseDefect(d);
        } catch (err) {
          throw new ApiError({ error: errorMessage(err), kind: 'invalid', field: 'implementation.defects' });
        }
      }
    }
    const request = req.workers === undefined && this.options.workers ? { ...req, workers: this.options.workers } : req;
    const jobId = `job-${randomUUID().slice(0, 8)}`;
    const ac = new AbortController();
    this.jobs.set(jobId, ac);
    let runId: string | null = null;
    const started = runAndRecord(request, this.store, {
      signal: ac.signal,
      onRunStarted: (id) => {
        runId = id;
        this.emit({ type: 'check.started', jobId, runId: id });
      },
      onProgress: (p) =>
        this.emit({
          type: 'check.progress',
          jobId,
          done: p.done,
          total: p.total,
          rate: p.rate,
          eta: Number.isFinite(p.eta) ? p.eta : -1,
          ...(p.groups ? { groups: p.groups } : {}),
        }),
    });
    started
      .then((o) =>
        this.emit({
          type: 'check.done',
          jobId,
          runId: o.runId ?? runId,
          verdict: o.result.verdict,
          difference: o.result.difference,
        }),
      )
      .catch((err: unknown) => {
        const body = toApiErrorBody(err);
        const cancelled = body.kind === 'cancelled';
        this.emit({ type: 'check.failed', jobId, runId, cancelled, error: cancelled ? 'cancelled' : body.error });
      })
      .finally(() => this.jobs.delete(jobId));
    return { jobId };
  }

  /** Cancel every running job (on quit). */
  cancelAll(): void {
    for (const ac of this.jobs.values()) ac.abort();
  }
}
