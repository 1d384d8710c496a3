import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import canonicalize from 'canonicalize';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEntry {
  seq: number;
  at: string;
  actor: string | null;
  action: string;
  subject: string;
  details: string;
  prev_hash: string;
  hash: string;
}

export interface LogHead {
  seq: number;
  hash: string;
}

/** A row as hashed and as a bundle's audit-log.jsonl line carries it: RFC 8785 JSON of every field but the hash. */
export function entryBody(e: Omit<AuditEntry, 'hash'>): string {
  return canonicalize({
    seq: e.seq,
    at: e.at,
    actor: e.actor,
    action: e.action,
    subject: e.subject,
    details: e.details,
    prev_hash: e.prev_hash,
  })!;
}

/** Each row's hash covers the row and the previous hash (SHA-256 of its body). */
export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  return createHash('sha256').update(entryBody(e)).digest('hex');
}

export function logHead(db: Database.Database): LogHead {
  const row = db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as LogHead | undefined;
  return row ?? { seq: 0, hash: GENESIS_HASH };
}

/** Append one state change; call inside the transaction that makes the change. */
export function appendAudit(
  db: Database.Database,
  action: string,
  subject: string,
  details: Record<string, unknown>,
  actor: string | null = null,
): LogHead {
  const head = logHead(db);
  const entry = {
    seq: head.seq + 1,
    at: new Date().toISOString(),
    actor,
    action,
    subject,
    details: canonicalize(details)!,
    prev_hash: head.hash,
  };
  const hash = entryHash(entry);
  db.prepare(
    'INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (@seq, @at, @actor, @action, @subject, @details, @prev_hash, @hash)',
  ).run({ ...entry, hash });
  return { seq: entry.seq, hash };
}

export interface ChainCheck {
  ok: boolean;
  rows: number;
  head: LogHead;
  /** The first row that does not hold, and why. */
  problem?: string;
}

/** Walk the chain from the genesis; name the first row whose hash or link is wrong. */
export function verifyChain(entries: readonly AuditEntry[]): ChainCheck {
  let prev = GENESIS_HASH;
  let expectSeq = 1;
  for (const e of entries) {
    if (e.seq !== expectSeq)
      return {
        ok: false,
        rows: entries.length,
        head: { seq: e.seq, hash: e.hash },
        problem: `audit log row ${expectSeq} is missing (found row ${e.seq} next)`,
      };
    if (e.prev_hash !== prev)
      return {
        ok: false,
        rows: entries.length,
        head: { seq: e.seq, hash: e.hash },
        problem: `audit log row ${e.seq} does not link to row ${e.seq - 1} (prev_hash differs)`,
      };
    if (entryHash(e) !== e.hash)
      return {
        ok: false,
        rows: entries.length,
        head: { seq: e.seq, hash: e.hash },
        problem: `audit log row ${e.seq} (${e.action} ${e.subject}) was altered: its hash does not match its content`,
      };
    prev = e.hash;
    expectSeq++;
  }
  return { ok: true, rows: entries.length, head: { seq: expectSeq - 1, hash: prev } };
}

export function readLog(db: Database.Database): AuditEntry[] {
  return db
    .prepare('SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log ORDER BY seq')
    .all() as AuditEntry[];
}

/** The append-only triggers are part of the guarantee: their absence is tampering too. */
export function logTriggersPresent(db: Database.Database): string[] {
  const have = new Set(
    (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger'`).all() as { name: string }[]).map(
      (r) => r.name,
    ),
  );
  return [
    'audit_log_no_update',
    'audit_log_no_delete',
    'reports_body_immutable',
    'signatures_immutable',
    'reports_state_machine',
    'reports_approved_needs_two',
  ].filter((t) => !have.has(t));
}

export interface TrailEntry {
  seq: number;
  at: string;
  actor: string | null;
  action: string;
  subject: string;
  details: unknown;
  hash: string;
}

/**
 * The audit log as people read it (the app's audit trail, `gradproof log`): newest first,
 * optionally for one subject (a run, a report, an identity's key id) or some actions (e.g.
 * identity.unlock_failed, the failed passphrase attempts), with whether the chain holds.
 */
export function auditTrail(
  db: Database.Database,
  filter: { subject?: string; actions?: readonly string[]; limit?: number } = {},
): { chain: ChainCheck; entries: TrailEntry[] } {
  const all = readLog(db);
  const chain = verifyChain(all);
  const entries = all
    .filter(
      (e) =>
        (filter.subject === undefined || e.subject === filter.subject) &&
        (!filter.actions || filter.actions.includes(e.action)),
    )
    .reverse()
    .slice(0, filter.limit ?? 1000)
    .map((e) => {
      let details: unknown;
      try {
        details = JSON.parse(e.details) as unknown;
      } catch {
        details = e.details;
      }
      return { seq: e.seq, at: e.at, actor: e.actor, action: e.action, subject: e.subject, details, hash: e.hash };
    });
  return { chain, entries };
}
