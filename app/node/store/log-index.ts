import type Database from 'better-sqlite3';
import { type AuditEntry, type ChainCheck, readLog, verifyChain } from './audit-log.js';

/** One log row that binds a stored row: its digest as the log recorded it (null: a legacy row without one). */
export interface Binding {
  seq: number;
  action: string;
  digest: string | null;
}

/** An identity as the log recorded its creation. */
export interface LoggedIdentity {
  seq: number;
  keyid: string;
  name: string;
  role: string;
  publicKey: string | null;
  account: unknown;
}

/** A sign-off as the log recorded it. */
export interface LoggedSignOff {
  seq: number;
  action: string;
  reportId: string;
  meaning: string | null;
  signer: string | null;
  payload: string | null;
  signatureId: number | null;
}

/** The audit log read once: its chain checked, and what each row binds looked up by table and key. */
export interface LogIndex {
  entries: AuditEntry[];
  chain: ChainCheck;
  bySeq: Map<number, AuditEntry>;
  bindings: Map<string, Binding[]>;
  identities: LoggedIdentity[];
  signOffs: LoggedSignOff[];
  /** Rows whose details are not readable JSON. */
  unreadable: number[];
}

export const bindingKey = (table: string, key: string | number): string => `${table}\u0000${String(key)}`;

const RUN_ACTIONS = new Set(['run.started', 'run.completed', 'run.failed', 'run.cancelled', 'run.interrupted']);
export const RUN_TERMINAL = new Set(['run.completed', 'run.failed', 'run.cancelled', 'run.interrupted']);
const SIGN_ACTIONS = new Set(['report.prepared', 'report.approved', 'report.rejected']);

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function buildLogIndex(entries: AuditEntry[]): LogIndex {
  const bindings = new Map<string, Binding[]>();
  const bind = (table: string, key: string | number, e: AuditEntry, digest: unknown): void => {
    const k = bindingKey(table, key);
    const list = bindings.get(k) ?? [];
    list.push({ seq: e.seq, action: e.action, digest: str(digest) });
    bindings.set(k, list);
  };
  const identities: LoggedIdentity[] = [];
  const signOffs: LoggedSignOff[] = [];
  const unreadable: number[] = [];
  for (const e of entries) {
    let d: Record<string, unknown>;
    try {
      const parsed = JSON.parse(e.details) as unknown;
      d = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
    } catch {
      unreadable.push(e.seq);
      continue;
    }
    if (e.action === 'artifact.recorded') {
      const table = str(d.table);
      const sep = e.subject.indexOf(':');
      if (table && sep > 0) bind(table, e.subject.slice(sep + 1), e, d.row);
    } else if (e.action === 'identity.created') {
      bind('identities', e.subject, e, d.row);
      identities.push({
        seq: e.seq,
        keyid: e.subject,
        name: str(d.name) ?? '',
        role: str(d.role) ?? '',
        publicKey: str(d.publicKey),
        account: d.account ?? null,
      });
    } else if (e.action === 'identity.enrolled') bind('enrollments', e.subject, e, d.row);
    else if (e.action === 'policy.set') bind('policies', String(d.version), e, d.row);
    else if (RUN_ACTIONS.has(e.action)) bind('runs', e.subject, e, d.record);
    else if (e.action === 'run.annotated') bind('run_annotations', e.subject, e, d.annotations);
    else if (e.action === 'report.created') bind('reports', e.subject, e, d.row);
    else if (SIGN_ACTIONS.has(e.action)) {
      const sid = typeof d.signatureId === 'number' ? d.signatureId : null;
      if (sid !== null) bind('signatures', sid, e, d.signature);
      signOffs.push({
        seq: e.seq,
        action: e.action,
        reportId: e.subject,
        meaning: str(d.meaning),
        signer: str(d.signer),
        payload: str(d.payload),
        signatureId: sid,
      });
    } else if (e.action === 'schema.upgraded') {
      const sealed = (d.sealed ?? {}) as Record<string, Record<string, unknown>>;
      for (const [table, rows] of Object.entries(sealed))
        for (const [key, digest] of Object.entries(rows ?? {})) bind(table, key, e, digest);
      for (const [id, digest] of Object.entries((d.runs ?? {}) as Record<string, unknown>)) bind('runs', id, e, digest);
    }
  }
  return {
    entries,
    chain: verifyChain(entries),
    bySeq: new Map(entries.map((e) => [e.seq, e])),
    bindings,
    identities,
    signOffs,
    unreadable,
  };
}

/** The latest binding of a row that carries a digest (the row as it must be now). */
export function latestBinding(index: LogIndex, table: string, key: string | number): Binding | undefined {
  const list = index.bindings.get(bindingKey(table, key));
  if (!list) return undefined;
  for (let i = list.length - 1; i >= 0; i--) if (list[i]!.digest !== null) return list[i];
  return undefined;
}

const cache = new WeakMap<Database.Database, { key: string; index: LogIndex }>();

/**
 * The log's index, rebuilt whenever the database changed since the last call (by this
 * connection or another: PRAGMA data_version), so a long-running app never trusts a stale one.
 */
export function logIndex(db: Database.Database): LogIndex {
  const version = db.pragma('data_version', { simple: true }) as number;
  const changes = (db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  const key = `${version}:${changes}`;
  const hit = cache.get(db);
  if (hit && hit.key === key) return hit.index;
  const index = buildLogIndex(readLog(db));
  cache.set(db, { key, index });
  return index;
}
