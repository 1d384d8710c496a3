import type Database from 'better-sqlite3';
import { fingerprint } from '../util/fingerprint.js';
import { sha256Hex } from '../util/hash.js';
import { type LogIndex, RUN_TERMINAL, bindingKey, latestBinding, logIndex } from './log-index.js';
import { schemaProblems } from './schema-check.js';
import {
  ARTIFACT_TABLES,
  type ArtifactTable,
  SEALED,
  type SealedTable,
  annotationsDigest,
  hasColumn,
  readRawAnnotations,
  readSealedRow,
  rowDigest,
  runEvidenceDigest,
} from './seals.js';

/**
 * Cross-checks of the stored tables against the hash-chained audit log: every row must be the
 * row the log recorded (its digest), every row the log recorded must still be stored, and a
 * report's state must follow from its signatures. Each check returns the first problem in words.
 */

export interface Finding {
  /** What is wrong, e.g. "run run-2026…", "identity Rafael Reviewer". */
  subject: string;
  problem: string;
}

const ARTIFACT_OF: Record<ArtifactTable, string> = {
  models: 'model_sha256',
  weights: 'weights_sha256',
  datasets: 'dataset_sha256',
  implementations: 'implementation_sha256',
};
const ARTIFACT_WORD: Record<ArtifactTable, string> = {
  models: 'model',
  weights: 'weights',
  datasets: 'dataset',
  implementations: 'implementation',
};

export function chainProblem(index: LogIndex): string | undefined {
  if (!index.chain.ok) return index.chain.problem;
  if (index.unreadable.length)
    return `audit log row ${index.unreadable[0]} has details that are not JSON: it was written outside GradProof`;
  return undefined;
}

function label(db: Database.Database, table: SealedTable, key: string | number): string {
  switch (table) {
    case 'identities': {
      const r = db.prepare('SELECT name FROM identities WHERE id = ?').get(key) as { name: string } | undefined;
      return `identity ${r?.name ?? '(deleted)'} (key ${fingerprint(String(key))})`;
    }
    case 'signatures': {
      const r = db.prepare('SELECT meaning, report_id FROM signatures WHERE id = ?').get(key) as
        { meaning: string; report_id: string } | undefined;
      return r ? `the ${r.meaning} signature of report ${r.report_id}` : `signature ${key}`;
    }
    case 'reports':
      return `report ${key}`;
    case 'enrollments':
      return `the enrollment of key ${fingerprint(String(key))}`;
    case 'policies':
      return `policy version ${key}`;
    default:
      return `the ${ARTIFACT_WORD[table]} record ${String(key).slice(0, 16)}…`;
  }
}

/** One row of a sealed table against its latest binding in the log. */
export function sealedRowProblem(
  db: Database.Database,
  index: LogIndex,
  table: SealedTable,
  key: string | number,
): string | undefined {
  const row = readSealedRow(db, table, key);
  const b = latestBinding(index, table, key);
  const what = label(db, table, key);
  if (!row)
    return b
      ? `${what} is recorded in the audit log (row ${b.seq}) but is no longer stored: it was deleted`
      : undefined;
  if (!b) return `${what} has no entry in the audit log: it was written outside GradProof`;
  if (rowDigest(table, row) !== b.digest)
    return `${what} differs from what the audit log recorded at row ${b.seq}: it was altered`;
  return undefined;
}

/** A run's evidence, annotations and artifacts against the log. */
export function runProblem(db: Database.Database, index: LogIndex, runId: string): string | undefined {
  const chain = chainProblem(index);
  if (chain) return `the audit log is broken (${chain}), so no stored run can be trusted`;
  const list = index.bindings.get(bindingKey('runs', runId)) ?? [];
  const digest = runEvidenceDigest(db, runId);
  const b = latestBinding(index, 'runs', runId);
  if (digest === undefined)
    return b
      ? `run ${runId} is recorded in the audit log (row ${b.seq}) but is no longer stored: it was deleted`
      : undefined;
  if (!b) return `run ${runId} has no entry in the audit log: it was written outside GradProof`;
  if (digest !== b.digest)
    return `run ${runId}'s stored record (result, verdict, group or entry results, settings or provenance) differs from what the audit log recorded at row ${b.seq}: it was altered`;
  const finished = list.filter((x) => RUN_TERMINAL.has(x.action));
  if (finished.length > 1)
    return `run ${runId} is recorded as finished ${finished.length} times (audit log rows ${finished.map((x) => x.seq).join(', ')}): a record was forged`;
  const raw = readRawAnnotations(db, runId)!;
  const a = latestBinding(index, 'run_annotations', runId);
  if (a ? annotationsDigest(runId, raw) !== a.digest : raw.name !== null || raw.tags !== null || raw.notes !== null)
    return `run ${runId}'s name, tags or notes differ from their last edit in the audit log${a ? ` (row ${a.seq})` : ''}: they were altered`;
  const row = db.prepare('SELECT * FROM runs WHERE id = ?').get(runId) as Record<string, string>;
  for (const t of ARTIFACT_TABLES) {
    const p = sealedRowProblem(db, index, t, row[ARTIFACT_OF[t]]!);
    if (p) return p;
    if (!readSealedRow(db, t, row[ARTIFACT_OF[t]]!))
      return `run ${runId}'s ${ARTIFACT_WORD[t]} record is missing: it was deleted`;
  }
  return undefined;
}

/** An identity's row against its creation, and its name against every key ever given it. */
export function identityProblem(db: Database.Database, index: LogIndex, id: string): string | undefined {
  const chain = chainProblem(index);
  if (chain) return `the audit log is broken (${chain})`;
  const p = sealedRowProblem(db, index, 'identities', id);
  if (p) return p;
  const row = db.prepare('SELECT name FROM identities WHERE id = ?').get(id) as { name: string } | undefined;
  if (!row) return `no identity with key ${fingerprint(id)} is stored: it was deleted`;
  const others = index.identities.filter((i) => i.name === row.name && i.keyid !== id);
  if (others.length)
    return `the name ${row.name} was given to another key too (${others.map((o) => `${fingerprint(o.keyid)} at audit log row ${o.seq}`).join(', ')}): an identity was replaced`;
  const created = index.identities.filter((i) => i.keyid === id);
  if (created.length > 1)
    return `identity ${row.name} is recorded as created ${created.length} times (audit log rows ${created.map((c) => c.seq).join(', ')}): a record was forged`;
  return undefined;
}

type State = 'draft' | 'prepared' | 'approved' | 'rejected';

/** What the stored signatures make of a report: a rejection means rejected, whatever else is stored. */
export function stateFromMeanings(meanings: readonly string[]): State {
  if (meanings.includes('rejection')) return 'rejected';
  if (meanings.includes('approval')) return 'approved';
  if (meanings.includes('authorship')) return 'prepared';
  return 'draft';
}

const STATE_OF_ACTION: Record<string, State> = {
  'report.prepared': 'prepared',
  'report.approved': 'approved',
  'report.rejected': 'rejected',
};

/** A report's row, its signatures and its state against the log. */
export function reportProblem(db: Database.Database, index: LogIndex, reportId: string): string | undefined {
  const chain = chainProblem(index);
  if (chain) return `the audit log is broken (${chain})`;
  const p = sealedRowProblem(db, index, 'reports', reportId);
  if (p) return p;
  const report = db.prepare('SELECT state FROM reports WHERE id = ?').get(reportId) as { state: string } | undefined;
  if (!report) return undefined;
  const sigs = db
    .prepare('SELECT id, meaning, envelope FROM signatures WHERE report_id = ? ORDER BY id')
    .all(reportId) as {
    id: number;
    meaning: string;
    envelope: Buffer;
  }[];
  for (const s of sigs) {
    const q = sealedRowProblem(db, index, 'signatures', s.id);
    if (q) return q;
  }
  const payloadSha = (env: Buffer): string | null => {
    try {
      return sha256Hex(Buffer.from((JSON.parse(env.toString('utf8')) as { payload: string }).payload, 'base64'));
    } catch {
      return null;
    }
  };
  const stored = sigs.map((s) => ({ ...s, payload: payloadSha(s.envelope) }));
  const logged = index.signOffs.filter((o) => o.reportId === reportId);
  for (const o of logged) {
    const match =
      o.signatureId !== null ? stored.find((s) => s.id === o.signatureId) : stored.find((s) => s.payload === o.payload);
    if (!match || (o.payload !== null && match.payload !== o.payload))
      return `the audit log records the ${o.meaning ?? STATE_OF_ACTION[o.action]} of report ${reportId} (row ${o.seq}) but that signature is no longer stored: it was deleted`;
  }
  for (const s of stored)
    if (!logged.some((o) => o.payload === s.payload))
      return `the ${s.meaning} signature of report ${reportId} has no entry in the audit log: it was written outside GradProof`;
  const derived = stateFromMeanings(sigs.map((s) => s.meaning));
  if (report.state !== derived)
    return `report ${reportId} is stored as ${report.state} but its signatures make it ${derived}: the state was altered`;
  const last = logged[logged.length - 1];
  const logState: State = last ? STATE_OF_ACTION[last.action]! : 'draft';
  if (logState !== derived)
    return `report ${reportId}'s signatures make it ${derived} but the audit log's last sign-off makes it ${logState}`;
  return undefined;
}

/** Every table against the log, every logged row against the tables, and the schema. */
export function storeFindings(db: Database.Database): Finding[] {
  const index = logIndex(db);
  const out: Finding[] = [];
  const chain = chainProblem(index);
  if (chain) out.push({ subject: 'audit log', problem: chain });
  for (const s of schemaProblems(db)) out.push({ subject: 'database schema', problem: s });
  if (chain) return out;
  const keys = (table: string, key: string): (string | number)[] =>
    (db.prepare(`SELECT ${key} AS k FROM ${table}`).all() as { k: string | number }[]).map((r) => r.k);
  const seen = new Set<string>();
  for (const table of Object.keys(SEALED) as SealedTable[]) {
    if (!hasColumn(db, table, SEALED[table].key)) continue;
    for (const k of keys(table, SEALED[table].key)) {
      seen.add(bindingKey(table, k));
      const p =
        table === 'identities'
          ? identityProblem(db, index, String(k))
          : table === 'reports'
            ? reportProblem(db, index, String(k))
            : sealedRowProblem(db, index, table, k);
      if (p) out.push({ subject: label(db, table, k), problem: p });
    }
  }
  for (const k of keys('runs', 'id')) {
    const id = String(k);
    seen.add(bindingKey('runs', id));
    seen.add(bindingKey('run_annotations', id));
    const p = runProblem(db, index, id);
    if (p) out.push({ subject: `run ${id}`, problem: p });
  }
  // Result rows are sealed with their run: rows of a run that is not stored are covered by nothing.
  for (const table of ['group_results', 'entry_results'])
    for (const r of db
      .prepare(`SELECT DISTINCT run_id FROM ${table} WHERE run_id NOT IN (SELECT id FROM runs)`)
      .all() as {
      run_id: string;
    }[])
      out.push({
        subject: `${table} of ${r.run_id}`,
        problem: `${table === 'group_results' ? 'per-group' : 'per-entry'} results are stored for run ${r.run_id}, which is not a stored run: they were written outside GradProof`,
      });
  for (const [k, list] of index.bindings) {
    if (seen.has(k)) continue;
    const [table, key] = k.split('\u0000') as [string, string];
    const last = list[list.length - 1]!;
    const what =
      table === 'runs' || table === 'run_annotations'
        ? `run ${key}`
        : table in SEALED
          ? label(db, table as SealedTable, key)
          : `${table} ${key}`;
    out.push({
      subject: what,
      problem: `${what} is recorded in the audit log (row ${last.seq}) but is no longer stored: it was deleted`,
    });
  }
  const byName = new Map<string, Set<string>>();
  for (const i of index.identities) byName.set(i.name, (byName.get(i.name) ?? new Set()).add(i.keyid));
  for (const [name, ids] of byName)
    if (ids.size > 1 && !out.some((f) => f.problem.includes(`the name ${name} was given`)))
      out.push({
        subject: `identity ${name}`,
        problem: `the name ${name} was given to ${ids.size} different keys (${[...ids].map(fingerprint).join(', ')}): an identity was replaced`,
      });
  return out;
}

const runCache = new WeakMap<Database.Database, { key: string; problems: Map<string, string | undefined> }>();

/**
 * runProblem for the read path (every run a list or a compare shows), remembered until the
 * database changes (by this connection or another), so a long list is checked once, not per view.
 */
export function runProblemCached(db: Database.Database, runId: string): string | undefined {
  const version = db.pragma('data_version', { simple: true }) as number;
  const changes = (db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  const key = `${version}:${changes}`;
  let hit = runCache.get(db);
  if (!hit || hit.key !== key) runCache.set(db, (hit = { key, problems: new Map() }));
  if (!hit.problems.has(runId)) hit.problems.set(runId, runProblem(db, logIndex(db), runId));
  return hit.problems.get(runId);
}
