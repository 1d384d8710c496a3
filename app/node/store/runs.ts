import { createHash, randomBytes } from 'node:crypto';
import { cpus, hostname, release } from 'node:os';
import canonicalize from 'canonicalize';
import type { CheckSettings, EntryEvidence } from '../../core/check/orchestrator.js';
import type { CheckResult } from '../../core/check/result.js';
import type { Provenance, RunView } from '../../core/api/contract.js';
import { VERSION } from '../version.js';
import { appendAudit } from './audit-log.js';
import { sha256Hex } from '../util/hash.js';
import type { Store } from './database.js';
import { runProblemCached, sealedRowProblem } from './integrity.js';
import { logIndex } from './log-index.js';
import { ownProcess } from './process-start.js';
import {
  type ArtifactTable,
  annotationsDigest,
  hasColumn,
  readAnnotations,
  rowDigest,
  runEvidenceDigest,
} from './seals.js';
import { InputError, NotFoundError } from '../../core/errors.js';
import { hasUnprintable } from '../../core/identity/unprintable.js';

export interface Environment {
  gradproof: string;
  node: string;
  electron?: string;
  os: string;
  arch: string;
  cpu: string;
  cores: number;
}

export function currentEnvironment(): Environment {
  const cpu = cpus()[0];
  return {
    gradproof: VERSION,
    node: process.versions.node,
    ...(process.versions.electron ? { electron: process.versions.electron } : {}),
    os: `${process.platform} ${release()}`,
    arch: process.arch,
    cpu: cpu?.model.trim() ?? 'unknown',
    cores: cpus().length,
  };
}

export type RunStatus = RunView['status'];

/**
 * A saved run: the API's RunView, with its settings and environment typed. A run whose stored
 * record no longer matches the audit log has `integrity.ok` false, and its verdict, difference
 * and result are withheld (null): an altered result is never shown as if it were fine.
 */
export type RunRecord = Omit<RunView, 'settings' | 'environment'> & {
  settings: CheckSettings;
  environment: Environment;
};

export function newRunId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  return `run-${t}-${randomBytes(3).toString('hex')}`;
}

function bytes(a: Float64Array | Uint32Array): Buffer {
  // Little-endian on every platform GradProof ships for; stored exactly as in memory.
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Digest of a run's per-entry evidence as stored: signed reports carry it. */
export function entriesDigest(analytic: Uint8Array, numerical: Uint8Array, kinks: Uint8Array): string {
  return createHash('sha256').update(analytic).update(numerical).update(kinks).digest('hex');
}

/** Artifacts are recorded once each (by digest); a new one is bound to the audit log as it lands. */
function recordArtifacts(store: Store, p: Provenance): void {
  const now = new Date().toISOString();
  const db = store.db;
  const add = (table: ArtifactTable, sql: string, args: unknown[]): void => {
    if (db.prepare(sql).run(...args).changes === 0) return;
    const key = args[0] as string;
    const row = db.prepare(`SELECT * FROM ${table} WHERE sha256 = ?`).get(key) as Record<string, unknown>;
    appendAudit(db, 'artifact.recorded', `${table}:${key}`, { table, row: rowDigest(table, row) });
  };
  add('models', 'INSERT OR IGNORE INTO models (sha256, name, ref, first_seen) VALUES (?, ?, ?, ?)', [
    p.model.sha256,
    p.model.name,
    p.model.ref,
    now,
  ]);
  add('weights', 'INSERT OR IGNORE INTO weights (sha256, source, first_seen) VALUES (?, ?, ?)', [
    p.weights.sha256,
    p.weights.source,
    now,
  ]);
  add(
    'datasets',
    'INSERT OR IGNORE INTO datasets (sha256, ref, examples, features, transform, first_seen) VALUES (?, ?, ?, ?, ?, ?)',
    [p.dataset.sha256, p.dataset.ref, p.dataset.examples, p.dataset.features, p.dataset.transform ?? null, now],
  );
  add(
    'implementations',
    'INSERT OR IGNORE INTO implementations (sha256, kind, ref, defects, first_seen) VALUES (?, ?, ?, ?, ?)',
    [
      p.implementation.sha256,
      p.implementation.kind,
      p.implementation.ref,
      p.implementation.defects ? JSON.stringify(p.implementation.defects) : null,
      now,
    ],
  );
}

/** A run is on disk (status running) before its sweep starts, so a crash leaves a trace. */
export function beginRun(store: Store, provenance: Provenance, settings: CheckSettings): string {
  const id = newRunId();
  store.db.transaction(() => {
    recordArtifacts(store, provenance);
    store.db
      .prepare(
        `INSERT INTO runs (id, started_at, status, model_sha256, weights_sha256, dataset_sha256, implementation_sha256, settings, environment, pid, host, process)
         VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        new Date().toISOString(),
        provenance.model.sha256,
        provenance.weights.sha256,
        provenance.dataset.sha256,
        provenance.implementation.sha256,
        JSON.stringify(settings),
        JSON.stringify(currentEnvironment()),
        process.pid,
        hostname(),
        JSON.stringify(ownProcess(hostname())),
      );
    appendAudit(store.db, 'run.started', id, {
      model: provenance.model.sha256,
      dataset: provenance.dataset.sha256,
      implementation: provenance.implementation.sha256,
      record: runEvidenceDigest(store.db, id),
    });
  })();
  return id;
}

/** Results, group rows and entry blobs land in one transaction with the status: all or nothing. */
export function finishRun(
  store: Store,
  id: string,
  o: { result: CheckResult; entries: EntryEvidence; provenance: Provenance; seconds: number },
): void {
  const r = o.result;
  const a = bytes(o.entries.analytic);
  const n = bytes(o.entries.numerical);
  const k = bytes(o.entries.kinks);
  const digest = entriesDigest(a, n, k);
  store.db.transaction(() => {
    recordArtifacts(store, o.provenance);
    store.db
      .prepare(
        `UPDATE runs SET status = 'completed', finished_at = ?, verdict = ?, difference = ?, parameters = ?, evaluations = ?, seconds = ?, result = ?,
           model_sha256 = ?, weights_sha256 = ?, dataset_sha256 = ?, implementation_sha256 = ?
         WHERE id = ? AND status = 'running'`,
      )
      .run(
        new Date().toISOString(),
        r.verdict,
        r.difference,
        r.parameters,
        r.evaluations,
        o.seconds,
        JSON.stringify(r),
        o.provenance.model.sha256,
        o.provenance.weights.sha256,
        o.provenance.dataset.sha256,
        o.provenance.implementation.sha256,
        id,
      );
    const ins = store.db.prepare(
      'INSERT INTO group_results (run_id, position, name, rows, cols, difference, verdict, diagnosis) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    r.groups.forEach((g, i) =>
      ins.run(
        id,
        i,
        g.name,
        g.shape[0]!,
        g.size / g.shape[0]!,
        g.difference,
        g.verdict,
        g.diagnosis ? JSON.stringify(g.diagnosis) : null,
      ),
    );
    store.db
      .prepare(
        'INSERT INTO entry_results (run_id, count, analytic, numerical, kinks, sha256) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(id, o.entries.analytic.length, a, n, k, digest);
    appendAudit(store.db, 'run.completed', id, {
      verdict: r.verdict,
      difference: r.difference,
      groups: groupsDigest(r),
      entries: digest,
      record: runEvidenceDigest(store.db, id),
    });
  })();
}

export interface GroupRow {
  name: string;
  rows: number;
  cols: number;
  difference: number;
  verdict: string;
  diagnosis: object | null;
}

/** Digest of per-group results as stored rows hold them: signed into reports, recomputed by verify. */
export function groupRowsDigest(rows: readonly GroupRow[]): string {
  return sha256Hex(
    canonicalize(
      rows.map((g) => ({
        name: g.name,
        rows: g.rows,
        cols: g.cols,
        difference: g.difference,
        verdict: g.verdict,
        diagnosis: g.diagnosis,
      })),
    )!,
  );
}

export function groupsDigest(r: Pick<CheckResult, 'groups'>): string {
  return groupRowsDigest(
    r.groups.map((g) => ({
      name: g.name,
      rows: g.shape[0]!,
      cols: g.size / g.shape[0]!,
      difference: g.difference,
      verdict: g.verdict,
      diagnosis: g.diagnosis ?? null,
    })),
  );
}

export function endRun(store: Store, id: string, status: 'failed' | 'cancelled', error: string): void {
  store.db.transaction(() => {
    store.db
      .prepare(`UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ? AND status = 'running'`)
      .run(status, new Date().toISOString(), error, id);
    appendAudit(store.db, `run.${status}`, id, { error, record: runEvidenceDigest(store.db, id) });
  })();
}

interface RunRow {
  id: string;
  started_at: string;
  finished_at: string | null;
  status: RunStatus;
  settings: string;
  environment: string;
  verdict: RunRecord['verdict'];
  difference: number | null;
  parameters: number | null;
  evaluations: number | null;
  seconds: number | null;
  result: string | null;
  error: string | null;
  m_sha: string;
  m_name: string;
  m_ref: string;
  w_sha: string;
  w_source: string;
  d_sha: string;
  d_ref: string;
  d_examples: number;
  d_features: number;
  d_transform: string | null;
  i_sha: string;
  i_kind: 'builtin' | 'process' | 'module';
  i_ref: string;
  i_defects: string | null;
}

const SELECT_RUN = `
  SELECT r.*, m.sha256 AS m_sha, m.name AS m_name, m.ref AS m_ref, w.sha256 AS w_sha, w.source AS w_source,
         d.sha256 AS d_sha, d.ref AS d_ref, d.examples AS d_examples, d.features AS d_features, d.transform AS d_transform,
         i.sha256 AS i_sha, i.kind AS i_kind, i.ref AS i_ref, i.defects AS i_defects
  FROM runs r
  JOIN models m ON m.sha256 = r.model_sha256
  JOIN weights w ON w.sha256 = r.weights_sha256
  JOIN datasets d ON d.sha256 = r.dataset_sha256
  JOIN implementations i ON i.sha256 = r.implementation_sha256`;

function toRecord(store: Store, row: RunRow): RunRecord {
  const problem = runProblemCached(store.db, row.id);
  const settings = parseJson(row.settings, {} as CheckSettings & { shards?: Provenance['shards'] });
  const annotations = readAnnotations(store.db, row.id) ?? { name: null, tags: [], notes: null };
  const record: RunRecord = {
    id: row.id,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    status: row.status,
    provenance: {
      model: { name: row.m_name, ref: row.m_ref, sha256: row.m_sha },
      weights: { source: row.w_source, sha256: row.w_sha },
      dataset: {
        ref: row.d_ref,
        sha256: row.d_sha,
        examples: row.d_examples,
        features: row.d_features,
        ...(row.d_transform ? { transform: row.d_transform } : {}),
      },
      implementation: {
        kind: row.i_kind,
        ref: row.i_ref,
        sha256: row.i_sha,
        ...(row.i_defects ? { defects: parseJson<string[]>(row.i_defects, []) } : {}),
      },
      // A merged run keeps its shards' digests in its settings (stored whole and sealed in the log).
      ...(settings.shards ? { shards: settings.shards } : {}),
    },
    settings,
    environment: parseJson(row.environment, {} as Environment),
    verdict: row.verdict,
    difference: row.difference,
    parameters: row.parameters,
    evaluations: row.evaluations,
    seconds: row.seconds,
    result: problem ? null : parseResult(row.result),
    error: problem ? `ALTERED: ${problem}; run gradproof verify` : row.error,
    name: annotations.name,
    tags: annotations.tags,
    notes: annotations.notes,
    integrity: problem ? { ok: false, problem } : { ok: true },
  };
  if (problem) {
    record.verdict = null;
    record.difference = null;
  }
  return record;
}

function parseResult(text: string | null): CheckResult | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as CheckResult;
  } catch {
    return null;
  }
}

function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export function getRun(store: Store, id: string): RunRecord | undefined {
  const row = store.db.prepare(`${SELECT_RUN} WHERE r.id = ?`).get(id) as RunRow | undefined;
  return row ? toRecord(store, row) : undefined;
}

export function listRuns(store: Store, limit = 50): RunRecord[] {
  return (store.db.prepare(`${SELECT_RUN} ORDER BY r.started_at DESC, r.id DESC LIMIT ?`).all(limit) as RunRow[]).map(
    (row) => toRecord(store, row),
  );
}

export interface StoredEntries {
  count: number;
  analytic: Float64Array;
  numerical: Float64Array;
  kinks: Uint32Array;
  sha256: string;
  /** The digest recomputed from the blobs as they are now. */
  actualSha256: string;
}

export function getEntries(store: Store, runId: string): StoredEntries | undefined {
  const row = store.db
    .prepare('SELECT count, analytic, numerical, kinks, sha256 FROM entry_results WHERE run_id = ?')
    .get(runId) as { count: number; analytic: Buffer; numerical: Buffer; kinks: Buffer; sha256: string } | undefined;
  if (!row) return undefined;
  const f64 = (b: Buffer): Float64Array => new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return {
    count: row.count,
    analytic: f64(row.analytic),
    numerical: f64(row.numerical),
    kinks: new Uint32Array(row.kinks.buffer.slice(row.kinks.byteOffset, row.kinks.byteOffset + row.kinks.byteLength)),
    sha256: row.sha256,
    actualSha256: entriesDigest(row.analytic, row.numerical, row.kinks),
  };
}

export function getGroupRows(
  store: Store,
  runId: string,
): { name: string; rows: number; cols: number; difference: number; verdict: string; diagnosis: string | null }[] {
  return store.db
    .prepare(
      'SELECT name, rows, cols, difference, verdict, diagnosis FROM group_results WHERE run_id = ? ORDER BY position',
    )
    .all(runId) as never;
}

/** Limits on annotations: a label and a few words, never a document. */
export const ANNOTATION_LIMITS = { name: 120, tags: 20, tag: 40, notes: 4000 } as const;

export interface AnnotationEdit {
  name?: string | null;
  tags?: string[];
  notes?: string | null;
}

/**
 * Edit a run's name, tags or notes: annotations for finding runs again, not evidence (no
 * signature covers them). Each edit is appended to the audit log with the new values.
 */
export function annotateRun(store: Store, runId: string, edit: AnnotationEdit, actor: string | null = null): RunRecord {
  if (!hasColumn(store.db, 'runs', 'name')) throw new InputError('this database is too old to hold annotations');
  const current = getRun(store, runId);
  if (!current) throw new NotFoundError(`no run ${runId}; list runs with: gradproof runs list`);
  if (!current.integrity.ok)
    throw new InputError(
      `run ${runId} fails its integrity check (${current.integrity.problem}); it cannot be annotated`,
    );
  const name = edit.name === undefined ? current.name : edit.name?.trim() || null;
  const notes = edit.notes === undefined ? current.notes : edit.notes?.trim() || null;
  const tags = edit.tags === undefined ? current.tags : [...new Set(edit.tags.map((t) => t.trim()).filter(Boolean))];
  if (name !== null && (name.length > ANNOTATION_LIMITS.name || hasUnprintable(name)))
    throw new InputError(`name: at most ${ANNOTATION_LIMITS.name} characters, without control characters`, 'name');
  if (notes !== null && (notes.length > ANNOTATION_LIMITS.notes || hasUnprintable(notes, true)))
    throw new InputError(`notes: at most ${ANNOTATION_LIMITS.notes} characters, without control characters`, 'notes');
  if (tags.length > ANNOTATION_LIMITS.tags)
    throw new InputError(`tags: at most ${ANNOTATION_LIMITS.tags} tags`, 'tags');
  const bad = tags.find((t) => t.length > ANNOTATION_LIMITS.tag || /[\s,]/.test(t) || hasUnprintable(t));
  if (bad !== undefined)
    throw new InputError(
      `tags: each tag is one word of at most ${ANNOTATION_LIMITS.tag} characters, without spaces or commas`,
      'tags',
    );
  const raw = { name, tags: tags.length ? JSON.stringify(tags) : null, notes };
  store.db.transaction(() => {
    store.db
      .prepare('UPDATE runs SET name = ?, tags = ?, notes = ? WHERE id = ?')
      .run(raw.name, raw.tags, raw.notes, runId);
    appendAudit(
      store.db,
      'run.annotated',
      runId,
      { name, tags, notes, annotations: annotationsDigest(runId, raw), note: 'annotations, not evidence' },
      actor,
    );
  })();
  return getRun(store, runId)!;
}

/**
 * Whether an artifact record (a model, weights, dataset or implementation row, as the library
 * view lists them) is the one the audit log recorded: for views that read those tables directly.
 */
export function artifactIntegrity(
  store: Store,
  table: ArtifactTable,
  sha256: string,
): { ok: boolean; problem?: string } {
  const problem = sealedRowProblem(store.db, logIndex(store.db), table, sha256);
  return problem ? { ok: false, problem } : { ok: true };
}
