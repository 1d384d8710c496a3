import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { zipSync } from 'fflate';
import {
  type ApiEvent,
  ApiError,
  type AuditTrailEntry,
  toApiErrorBody,
  type CheckRequest,
  type FilePurpose,
  type InboxItem,
  type JobStatus,
  type Method,
  type Results,
  type RunView,
  validateParams,
} from '../../core/api/contract.js';
import { trailCsv, trailJson } from '../../core/report/audit-trail.js';
import { compareRuns } from '../../core/report/compare-runs.js';
import { parseDefect } from '../../core/model/defects.js';
import { runAndRecord } from '../check/record.js';
import { errorMessage, InputError } from '../../core/errors.js';
import { exportBundle } from '../reports/bundle.js';
import { createReport, getReport, listReports, planSignOff, transition, type ReportView } from '../reports/reports.js';
import { verifyStoredReport } from '../reports/verify.js';
import { type Paper, reportPdf } from '../pdf/report-pdf.js';
import { createIdentity, currentAccount, findIdentity, listIdentities } from '../signing/identities.js';
import { readLog, verifyChain } from '../store/audit-log.js';
import type { Store } from '../store/database.js';
import { annotateRun, getRun, listRuns } from '../store/runs.js';

export interface ServiceOptions {
  /** Native file dialogs, where the transport has them (Electron). */
  openFile?: (purpose: FilePurpose) => Promise<string | null>;
  workers?: number;
  /** HTML to PDF: Electron's printToPDF in the desktop app; headless Chromium otherwise. */
  renderPdf?: (html: string, paper: Paper) => Promise<Buffer>;
}

type Handler<M extends Method> = (params: ReturnType<typeof validateParams<M>>) => Promise<Results[M]> | Results[M];

/** Finished jobs the service remembers, for pages that open or reload after the end. */
const FINISHED_JOBS_KEPT = 200;

/** The operating-system account running GradProof, as "user@host". */
const accountName = (): string => {
  const a = currentAccount();
  return `${a.user}@${a.host}`;
};

/**
 * GradProof's engine behind the API contract: validates every call, runs checks
 * as background jobs that report through events, and keeps one store open.
 * Transports (IPC, HTTP bridge, CLI) only move calls and events.
 */
export class GradProofService {
  readonly events = new EventEmitter();
  private readonly jobs = new Map<string, AbortController>();
  /** Every job's state and history, running or finished (the newest FINISHED_JOBS_KEPT of those). */
  private readonly status = new Map<string, JobStatus>();
  private readonly handlers: { [M in Method]: Handler<M> };
  /** The identity in use in this session: who "I" am in the inbox and the signing dialogs. */
  private current: string | null = null;

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
      'check.status': (p) => {
        const s = this.status.get(p.jobId);
        if (!s)
          throw new ApiError({
            error: `no job ${p.jobId} in this session: it ended before GradProof last started; its run, if it began, is in Runs`,
            kind: 'not-found',
            field: 'jobId',
          });
        return s;
      },
      'runs.list': (p) => listRuns(this.store, p.limit) as unknown as RunView[],
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
        if (p.baseline && !p.ids.includes(p.baseline))
          throw new ApiError({
            error: `the baseline ${p.baseline} is not among the runs compared`,
            kind: 'invalid',
            field: 'baseline',
          });
        const comparison = compareRuns(runs, p.baseline ? { baseline: p.baseline } : {});
        return { comparison, runs: comparison.runs.map((id) => runs.find((r) => r.id === id)!) };
      },
      'runs.annotate': (p) =>
        annotateRun(
          this.store,
          p.id,
          {
            ...(p.name !== undefined ? { name: p.name } : {}),
            ...(p.tags !== undefined ? { tags: p.tags } : {}),
            ...(p.notes !== undefined ? { notes: p.notes } : {}),
          },
          this.current,
        ) as unknown as RunView,
      'reports.list': (p) => {
        const all = listReports(this.store);
        return p.runId ? all.filter((r) => r.runId === p.runId) : all;
      },
      'reports.inbox': (p) => this.inbox(p.as),
      'reports.exportBundle': (p) => this.bundle(p.id),
      'audit.list': (p) => this.trail(p),
      'audit.export': (p) => {
        const t = this.trail({ ...(p.report ? { report: p.report } : {}), failedOnly: false, limit: 10000 });
        const base = `gradproof-audit-trail${p.report ? `-${p.report}` : ''}`;
        return p.format === 'csv'
          ? { content: trailCsv(t.entries), filename: `${base}.csv`, mime: 'text/csv' }
          : { content: trailJson(t.entries, t.chain), filename: `${base}.json`, mime: 'application/json' };
      },
      'identities.current': () => this.currentIdentity(),
      'identities.use': (p) => {
        this.current = p.id === null ? null : findIdentity(this.store, p.id).id;
        return this.currentIdentity();
      },
      'reports.get': (p) => this.detail(getReport(this.store, p.id)),
      'reports.create': (p) => this.detail(createReport(this.store, p.runId, p.as)),
      'reports.signOffPlan': (p) => {
        // A rejection's reason is asked in the dialog itself; the plan checks everything else.
        const plan = planSignOff(
          this.store,
          p.id,
          p.action,
          p.as,
          p.action === 'reject' ? 'reason asked at signing' : undefined,
        );
        return { meaning: plan.meaning, warnings: plan.warnings };
      },
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
    return r as unknown as RunView;
  }

  private inbox(as: string): InboxItem[] {
    const me = findIdentity(this.store, as);
    return listReports(this.store).flatMap((r): InboxItem[] => {
      if (r.state === 'draft' && r.author === me.name) return [{ ...r, action: 'sign' }];
      if (r.state === 'prepared' && me.role === 'reviewer' && r.author !== me.name) return [{ ...r, action: 'review' }];
      return [];
    });
  }

  private currentIdentity(): Results['identities.current'] {
    const identity = this.current ? (listIdentities(this.store).find((i) => i.id === this.current) ?? null) : null;
    return { identity: identity as Results['identities.current']['identity'], account: accountName() };
  }

  /** The audit log as people read it: newest first, with names for actors, and whether the chain holds. */
  private trail(p: { subject?: string; report?: string; failedOnly: boolean; limit: number }): Results['audit.list'] {
    const all = readLog(this.store.db);
    const chain = verifyChain(all);
    const names = new Map(listIdentities(this.store).map((i) => [i.id, i.name]));
    let subjects: Set<string> | undefined = p.subject ? new Set([p.subject]) : undefined;
    let report: string | undefined;
    if (p.report) {
      report = p.report;
      const runId = getReport(this.store, p.report).runId;
      subjects = new Set([p.report, runId]);
    }
    const parse = (d: string): unknown => {
      try {
        return JSON.parse(d) as unknown;
      } catch {
        return d;
      }
    };
    const entries: AuditTrailEntry[] = [];
    for (let i = all.length - 1; i >= 0 && entries.length < p.limit; i--) {
      const e = all[i]!;
      const details = parse(e.details);
      const failed = e.action === 'identity.unlock_failed';
      const purpose = failed ? String((details as { purpose?: unknown })?.purpose ?? '') : '';
      const aboutReport = report !== undefined && failed && purpose.endsWith(` ${report}`);
      if (p.failedOnly && !failed) continue;
      if (subjects && !subjects.has(e.subject) && !aboutReport) continue;
      entries.push({
        seq: e.seq,
        at: e.at,
        actor: e.actor,
        actorName: e.actor ? (names.get(e.actor) ?? null) : null,
        action: e.action,
        subject: e.subject,
        details,
        hash: e.hash,
      });
    }
    return {
      chain: { ok: chain.ok, rows: chain.rows, ...(chain.problem ? { problem: chain.problem } : {}) },
      entries,
    };
  }

  /** The offline-verification bundle, zipped in memory for a download. */
  private bundle(id: string): Results['reports.exportBundle'] {
    const dir = mkdtempSync(path.join(tmpdir(), 'gradproof-bundle-'));
    try {
      const files = exportBundle(this.store, id, dir);
      const folder = `${id}-bundle`;
      const zip = zipSync(
        Object.fromEntries(
          files.map((f) => [
            `${folder}/${f}`,
            [
              new Uint8Array(readFileSync(path.join(dir, f))),
              // Unix permissions, so the openssl script runs as unpacked.
              {
                mtime: new Date('2000-01-01T00:00:00Z'),
                os: 3,
                attrs: (f.endsWith('.sh') ? 0o100755 : 0o100644) << 16,
              },
            ],
          ]),
        ),
      );
      return { base64: Buffer.from(zip).toString('base64'), filename: `${folder}.zip`, files };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
      annotations: r.annotations,
      fourEyes: r.fourEyes,
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

  /**
   * Start a check as a background job. What can be refused before the sweep (a missing file, a
   * model that does not fit its data) is refused here, with the field at fault, so the form can
   * say it next to that field; once the run is on disk the job's events tell the rest, and the
   * job's status keeps them for any page that subscribes late.
   */
  private async startCheck(req: CheckRequest): Promise<Results['check.start']> {
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
    missingFile(req);
    const request = req.workers === undefined && this.options.workers ? { ...req, workers: this.options.workers } : req;
    const jobId = `job-${randomUUID().slice(0, 8)}`;
    const ac = new AbortController();
    const job: JobStatus = {
      jobId,
      runId: null,
      state: 'running',
      startedAt: new Date().toISOString(),
      label: jobLabel(request),
      threshold: request.threshold,
      progress: null,
      events: [],
    };
    let runId: string | null = null;
    // The pipeline resolves model, data and subject synchronously before the run is on disk:
    // when runAndRecord returns without a run, that resolution threw.
    const started = runAndRecord(request, this.store, {
      signal: ac.signal,
      onRunStarted: (id) => {
        runId = id;
        job.runId = id;
        this.jobs.set(jobId, ac);
        this.status.set(jobId, job);
        this.record(job, { type: 'check.started', jobId, runId: id });
      },
      onProgress: (p) =>
        this.record(job, {
          type: 'check.progress',
          jobId,
          done: p.done,
          total: p.total,
          rate: p.rate,
          eta: Number.isFinite(p.eta) ? p.eta : -1,
          ...(p.groups ? { groups: p.groups } : {}),
        }),
    });
    if (runId === null) {
      await started; // rejects with the input error
      throw new ApiError({ error: 'the check ended before it started', kind: 'internal' });
    }
    started
      .then((o) => {
        job.state = 'done';
        job.verdict = o.result.verdict;
        job.difference = o.result.difference;
        this.record(job, {
          type: 'check.done',
          jobId,
          runId: o.runId ?? runId,
          verdict: o.result.verdict,
          difference: o.result.difference,
        });
      })
      .catch((err: unknown) => {
        const body = toApiErrorBody(err);
        const cancelled = body.kind === 'cancelled';
        job.state = cancelled ? 'cancelled' : 'failed';
        job.error = cancelled ? 'cancelled' : body.error;
        if (body.field) job.field = body.field;
        this.record(job, {
          type: 'check.failed',
          jobId,
          runId,
          cancelled,
          error: job.error,
          kind: body.kind,
          ...(body.field ? { field: body.field } : {}),
        });
      })
      .finally(() => {
        this.jobs.delete(jobId);
        this.forgetOldJobs();
      });
    return { jobId };
  }

  /** Keep the event in the job's history (progress collapsed to its latest), then send it. */
  private record(job: JobStatus, e: ApiEvent): void {
    if (e.type === 'check.progress') {
      // Not every progress event carries the per-group figures: the status keeps the latest ones.
      job.progress = e.groups || !job.progress?.groups ? e : { ...e, groups: job.progress.groups };
      const last = job.events[job.events.length - 1];
      if (last?.type === 'check.progress') job.events[job.events.length - 1] = e;
      else job.events.push(e);
    } else job.events.push(e);
    this.emit(e);
  }

  private forgetOldJobs(): void {
    const finished = [...this.status.values()].filter((j) => j.state !== 'running');
    for (const j of finished.slice(0, Math.max(0, finished.length - FINISHED_JOBS_KEPT))) this.status.delete(j.jobId);
  }

  /** Cancel every running job (on quit). */
  cancelAll(): void {
    for (const ac of this.jobs.values()) ac.abort();
  }
}

/** What a job checks, in a few words: "notebook-fraud · notebook-case · notebook-buggy". */
function jobLabel(r: CheckRequest): string {
  const i = r.implementation;
  switch (i.kind) {
    case 'builtin': {
      const backward = [i.backprop === 'notebook-buggy' ? 'notebook-buggy' : 'correct', ...i.defects].join(', ');
      return `${i.model.replace(/^builtin:/, '')} · ${i.data.replace(/^builtin:/, '')} · ${backward}`;
    }
    case 'process':
      return i.command;
    case 'module':
      return `module ${i.path}${i.data ? ` · ${i.data}` : ''}`;
    case 'pytorch':
      return `PyTorch ${i.script}`;
  }
}

/**
 * A file the request names that is not there, refused with its field so the form says it next
 * to that field (the loaders name the file too, but not the field it came from).
 */
function missingFile(r: CheckRequest): void {
  const i = r.implementation;
  const files: [string, string | undefined, string][] =
    i.kind === 'builtin'
      ? [
          ['implementation.model', /^(builtin|mlp):/.test(i.model) ? undefined : i.model, 'a JSON model spec'],
          ['implementation.weights', i.weights, 'a .npz, .safetensors or .json weights file'],
          [
            'implementation.data',
            /^(builtin|random):/.test(i.data) ? undefined : i.data,
            'a .csv, .npy, .npz or .json dataset',
          ],
        ]
      : i.kind === 'module'
        ? [
            ['implementation.path', i.path, 'a .js, .mjs or .ts module'],
            ['implementation.data', i.data && !/^(builtin|random):/.test(i.data) ? i.data : undefined, 'a dataset'],
          ]
        : i.kind === 'pytorch'
          ? [['implementation.script', i.script, 'a Python script that calls gradproof_torch']]
          : [];
  for (const [field, file, what] of files) {
    if (file !== undefined && !existsSync(file))
      throw new InputError(`${file}: no such file; give the path of ${what}`, field);
  }
}
