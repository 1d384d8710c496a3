import type Database from 'better-sqlite3';
import canonicalize from 'canonicalize';
import { sha256Hex } from '../util/hash.js';

/**
 * What the audit log binds of each stored row. Every column of every table is either sealed
 * here (its value is in a digest the hash-chained log carries) or exempt with the reason; a
 * test holds this list against the schema, so a new column cannot be forgotten.
 */
export const SEALED = {
  models: { key: 'sha256', columns: ['sha256', 'name', 'ref', 'first_seen'] },
  weights: { key: 'sha256', columns: ['sha256', 'source', 'first_seen'] },
  datasets: { key: 'sha256', columns: ['sha256', 'ref', 'examples', 'features', 'transform', 'first_seen'] },
  implementations: { key: 'sha256', columns: ['sha256', 'kind', 'ref', 'defects', 'first_seen'] },
  identities: {
    key: 'id',
    columns: ['id', 'name', 'role', 'public_key', 'encrypted_private_key', 'kdf', 'created_at', 'account'],
  },
  reports: { key: 'id', columns: ['id', 'run_id', 'author_id', 'created_at', 'body', 'sha256'] },
  signatures: {
    key: 'id',
    columns: ['id', 'report_id', 'identity_id', 'meaning', 'comment', 'signed_at', 'envelope'],
  },
  enrollments: { key: 'identity_id', columns: ['identity_id', 'admin_id', 'enrolled_at', 'envelope'] },
  policies: { key: 'version', columns: ['version', 'document', 'admin_id', 'set_at', 'envelope'] },
} as const;

export type SealedTable = keyof typeof SEALED;
export const ARTIFACT_TABLES = ['models', 'weights', 'datasets', 'implementations'] as const;
export type ArtifactTable = (typeof ARTIFACT_TABLES)[number];

/** A run's evidence: everything a view shows of it, with its group rows and entry blobs. */
export const RUN_EVIDENCE_COLUMNS = [
  'id',
  'started_at',
  'finished_at',
  'status',
  'model_sha256',
  'weights_sha256',
  'dataset_sha256',
  'implementation_sha256',
  'settings',
  'environment',
  'pid',
  'host',
  'verdict',
  'difference',
  'parameters',
  'evaluations',
  'seconds',
  'result',
  'error',
  'process',
] as const;
export const GROUP_RESULT_COLUMNS = [
  'run_id',
  'position',
  'name',
  'rows',
  'cols',
  'difference',
  'verdict',
  'diagnosis',
] as const;
export const ENTRY_RESULT_COLUMNS = ['run_id', 'count', 'analytic', 'numerical', 'kinks', 'sha256'] as const;
/** Names, tags and notes: annotations, bound to the log by their own edits, never evidence. */
export const RUN_ANNOTATION_COLUMNS = ['name', 'tags', 'notes'] as const;

/** Columns checked some other way, and how. */
export const EXEMPT: Record<string, string> = {
  'reports.state': 'derived from the stored signatures and checked against them',
  'audit_log.*': "the log's own hash chain, anchored by the heads that signatures carry",
};

/** Blobs enter digests by their SHA-256, so a digest never holds megabytes of JSON. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { sha256: sha256Hex(v) };
  if (typeof v === 'bigint') return v.toString();
  return v ?? null;
}

function pick(row: Record<string, unknown>, columns: readonly string[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const c of columns) o[c] = plain(row[c]);
  return o;
}

function digestOf(value: unknown): string {
  return sha256Hex(canonicalize(value)!);
}

/** The digest of one row of a sealed table, as the log records it. */
export function rowDigest(table: SealedTable, row: Record<string, unknown>): string {
  return digestOf({ table, row: pick(row, SEALED[table].columns) });
}

/** The row of a sealed table by its key, or undefined. */
export function readSealedRow(
  db: Database.Database,
  table: SealedTable,
  key: string | number,
): Record<string, unknown> | undefined {
  const cols = SEALED[table].columns.filter((c) => hasColumn(db, table, c));
  return db.prepare(`SELECT ${cols.join(', ')} FROM ${table} WHERE ${SEALED[table].key} = ?`).get(key) as
    Record<string, unknown> | undefined;
}

const columnCache = new WeakMap<Database.Database, Map<string, Set<string>>>();
/** Columns of a table as the database has them (a schema-2 database lacks the newer ones). */
export function hasColumn(db: Database.Database, table: string, column: string): boolean {
  let m = columnCache.get(db);
  if (!m) columnCache.set(db, (m = new Map()));
  let cols = m.get(table);
  if (!cols) {
    cols = new Set(
      (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[]).map((r) => r.name),
    );
    m.set(table, cols);
  }
  return cols.has(column);
}

/** The digest of a run's evidence as stored now: its row (annotations aside), group rows and entry blobs. */
export function runEvidenceDigest(db: Database.Database, runId: string): string | undefined {
  const cols = RUN_EVIDENCE_COLUMNS.filter((c) => hasColumn(db, 'runs', c));
  const row = db.prepare(`SELECT ${cols.join(', ')} FROM runs WHERE id = ?`).get(runId) as
    Record<string, unknown> | undefined;
  if (!row) return undefined;
  const groups = (
    db
      .prepare(`SELECT ${GROUP_RESULT_COLUMNS.join(', ')} FROM group_results WHERE run_id = ? ORDER BY position`)
      .all(runId) as Record<string, unknown>[]
  ).map((g) => pick(g, GROUP_RESULT_COLUMNS));
  const entries = db
    .prepare(`SELECT ${ENTRY_RESULT_COLUMNS.join(', ')} FROM entry_results WHERE run_id = ?`)
    .get(runId) as Record<string, unknown> | undefined;
  return digestOf({
    table: 'runs',
    row: pick(row, RUN_EVIDENCE_COLUMNS),
    groups,
    entries: entries ? pick(entries, ENTRY_RESULT_COLUMNS) : null,
  });
}

export interface RunAnnotations {
  name: string | null;
  tags: string[];
  notes: string | null;
}

/** Annotations as their columns hold them (tags as stored text), so any edit to a column shows. */
export interface RawAnnotations {
  name: string | null;
  tags: string | null;
  notes: string | null;
}

export function annotationsDigest(runId: string, a: RawAnnotations): string {
  return digestOf({ table: 'run_annotations', id: runId, name: a.name, tags: a.tags, notes: a.notes });
}

export function readRawAnnotations(db: Database.Database, runId: string): RawAnnotations | undefined {
  if (!hasColumn(db, 'runs', 'name')) return { name: null, tags: null, notes: null };
  return db.prepare('SELECT name, tags, notes FROM runs WHERE id = ?').get(runId) as RawAnnotations | undefined;
}

/** Annotations as shown (NULL columns read as none). */
export function readAnnotations(db: Database.Database, runId: string): RunAnnotations | undefined {
  const r = readRawAnnotations(db, runId);
  if (!r) return undefined;
  let tags: string[] = [];
  if (r.tags !== null) {
    try {
      const t = JSON.parse(r.tags) as unknown;
      tags = Array.isArray(t) ? t.map(String) : [String(t)];
    } catch {
      tags = [`(unreadable: ${r.tags.length} characters)`];
    }
  }
  return { name: r.name, tags, notes: r.notes };
}
