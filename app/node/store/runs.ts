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

/** A saved run: the API's RunView, with its settings and environment typed. */
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

function recordArtifacts(store: Store, p: Provenance): void {
  const now = new Date().toISOString();
  const db = store.db;
  db.prepare('INSERT OR IGNORE INTO models (sha256, name, ref, first_seen) VALUES (?, ?, ?, ?)').run(
    p.model.sha256,
    p.model.name,
    p.model.ref,
    now,
  );
  db.prepare('INSERT OR IGNORE INTO weights (sha256, source, first_seen) VALUES (?, ?, ?)').run(
    p.weights.sha256,
    p.weights.source,
    now,
  );
  db.prepare(
    'INSERT OR IGNORE INTO datasets (sha256, ref, examples, features, transform, first_seen) VALUES (?, ?, ?, ?, ?, ?)',
  ).run(p.dataset.sha256, p.dataset.ref, p.dataset.examples, p.dataset.features, p.dataset.transform ?? null, now);
  db.prepare(
    'INSERT OR IGNORE INTO implementations (sha256, kind, ref, defects, first_seen) VALUES (?, ?, ?, ?, ?)',
  ).run(
    p.implementation.sha256,
    p.implementation.kind,
    p.implementation.ref,
    p.implementation.defects ? JSON.stringify(p.implementation.defects) : null,
    now,
  );
}

/** A run is on disk (status running) before its sweep starts, so a crash leaves a trace. */
export function beginRun(store: Store, provenance: Provenance, settings: CheckSettings): string {
  const id = newRunId();
  store.db.transaction(() => {
    recordArtifacts(store, provenance);
    store.db
      .prepare(
        `INSERT INTO runs (id, started_at, status, model_sha256, weights_sha256, dataset_sha256, implementation_sha256, settings, environment, pid, host)
         VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)`,
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
      );
    appendAudit(store.db, 'run.started', id, {
      model: provenance.model.sha256,
      dataset: provenance.dataset.sha256,
      implementation: provenance.implementation.sha256,
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
    appendAudit(store.db, `run.${status}`, id, { error });
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

function toRecord(row: RunRow): RunRecord {
  return {
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
        ...(row.i_defects ? { defects: JSON.parse(row.i_defects) as string[] } : {}),
      },
    },
    settings: JSON.parse(row.settings) as CheckSettings,
    environment: JSON.parse(row.environment) as Environment,
    verdict: row.verdict,
    difference: row.difference,
    parameters: row.parameters,
    evaluations: row.evaluations,
    seconds: row.seconds,
    result: row.result ? (JSON.parse(row.result) as CheckResult) : null,
    error: row.error,
  };
}

export function getRun(store: Store, id: string): RunRecord | undefined {
  const row = store.db.prepare(`${SELECT_RUN} WHERE r.id = ?`).get(id) as RunRow | undefined;
  return row ? toRecord(row) : undefined;
}

export function listRuns(store: Store, limit = 50): RunRecord[] {
  return (store.db.prepare(`${SELECT_RUN} ORDER BY r.started_at DESC, r.id DESC LIMIT ?`).all(limit) as RunRow[]).map(
    toRecord,
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
