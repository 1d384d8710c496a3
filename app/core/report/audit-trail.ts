import { auditActionWords } from './words.js';

/** One row of the audit log as people read it (newest first in views). */
export interface TrailRow {
  seq: number;
  at: string;
  actor: string | null;
  /** The actor's name, when the actor is a known identity. */
  actorName?: string | null;
  action: string;
  subject: string;
  details: unknown;
  hash: string;
}

/** A CSV field (RFC 4180), and never a formula a spreadsheet would run (=, +, -, @ at the start). */
export function csvField(v: unknown): string {
  let s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const TRAIL_COLUMNS = ['seq', 'at', 'action', 'what', 'subject', 'actor', 'actor_name', 'details', 'hash'];

/** The trail as CSV: one header line, one line per row, CRLF as RFC 4180 asks. */
export function trailCsv(rows: readonly TrailRow[]): string {
  const lines = [TRAIL_COLUMNS.join(',')];
  for (const r of rows)
    lines.push(
      [r.seq, r.at, r.action, auditActionWords(r.action), r.subject, r.actor, r.actorName ?? '', r.details, r.hash]
        .map(csvField)
        .join(','),
    );
  return `${lines.join('\r\n')}\r\n`;
}

/** The trail as JSON: the rows as stored, with the chain's state when exported. */
export function trailJson(rows: readonly TrailRow[], chain: { ok: boolean; rows: number; problem?: string }): string {
  return `${JSON.stringify({ format: 'gradproof-audit-trail/v1', chain, entries: rows }, null, 2)}\n`;
}
