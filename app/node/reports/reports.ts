import { randomBytes } from 'node:crypto';
import {
  type AuditPredicate,
  type Meaning,
  type SignOffPredicate,
  type SignerRef,
  type Statement,
  auditStatement,
  canonicalBytes,
  signOffRule,
  signOffStatement,
} from '../../core/report/statement.js';
import { appendAudit, logHead } from '../store/audit-log.js';
import type { Store } from '../store/database.js';
import { getEntries, getRun, groupsDigest } from '../store/runs.js';
import { type DsseEnvelope, fingerprint, signEnvelope, verifyEnvelope } from '../signing/dsse.js';
import { type Identity, findIdentity, unlockIdentity } from '../signing/identities.js';
import { sha256Hex } from '../util/hash.js';
import { InputError, NotFoundError } from '../../core/errors.js';

export type ReportState = 'draft' | 'prepared' | 'approved' | 'rejected';

export interface SignatureView {
  meaning: Meaning;
  signer: SignerRef & { fingerprint: string };
  signedAt: string;
  comment: string | null;
  envelope: DsseEnvelope;
  /** SHA-256 of the envelope's payload (the sign-off statement's bytes). */
  payloadSha256: string;
}

export interface ReportView {
  id: string;
  runId: string;
  state: ReportState;
  createdAt: string;
  author: SignerRef & { fingerprint: string };
  sha256: string;
  /** The exact stored (and signed-over) bytes. */
  body: Uint8Array;
  statement: Statement<AuditPredicate>;
  signatures: SignatureView[];
}

const sha = sha256Hex;
const signerOf = (i: Identity): SignerRef => ({ name: i.name, role: i.role, keyid: i.id });

export function newReportId(): string {
  return `rep-${new Date().toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
}

/** A draft report of a completed run: its canonical statement is stored now, as it will be signed. */
export function createReport(store: Store, runId: string, authorRef: string): ReportView {
  const run = getRun(store, runId);
  if (!run) throw new NotFoundError(`no run ${runId}; list runs with: gradproof runs list`);
  if (run.status !== 'completed' || !run.result)
    throw new InputError(`run ${runId} is ${run.status}; only a completed run can be reported`);
  const author = findIdentity(store, authorRef);
  const entries = getEntries(store, runId);
  if (!entries) throw new InputError(`run ${runId} has no stored results`);
  const id = newReportId();
  const createdAt = new Date().toISOString();
  const p = run.provenance;
  let body!: Uint8Array;
  store.db.transaction(() => {
    const predicate: AuditPredicate = {
      report: { id, createdAt, author: signerOf(author) },
      run: { id: run.id, startedAt: run.startedAt, finishedAt: run.finishedAt, seconds: run.seconds },
      provenance: {
        model: { name: p.model.name, ref: p.model.ref },
        weights: { source: p.weights.source },
        dataset: {
          ref: p.dataset.ref,
          examples: p.dataset.examples,
          features: p.dataset.features,
          ...(p.dataset.transform ? { transform: p.dataset.transform } : {}),
        },
        implementation: {
          kind: p.implementation.kind,
          ref: p.implementation.ref,
          ...(p.implementation.defects ? { defects: p.implementation.defects } : {}),
        },
      },
      settings: run.settings as unknown as Record<string, unknown>,
      result: run.result!,
      evidence: { groupsSha256: groupsDigest(run.result!), entries: { count: entries.count, sha256: entries.sha256 } },
      environment: run.environment as unknown as Record<string, unknown>,
      auditLog: logHead(store.db),
    };
    const statement = auditStatement(
      [
        { name: `model:${p.model.name}`, digest: { sha256: p.model.sha256 } },
        { name: `weights:${p.weights.source}`, digest: { sha256: p.weights.sha256 } },
        { name: `dataset:${p.dataset.ref}`, digest: { sha256: p.dataset.sha256 } },
        { name: `implementation:${p.implementation.ref}`, digest: { sha256: p.implementation.sha256 } },
      ],
      predicate,
    );
    body = canonicalBytes(statement);
    store.db
      .prepare(
        `INSERT INTO reports (id, run_id, author_id, created_at, state, body, sha256) VALUES (?, ?, ?, ?, 'draft', ?, ?)`,
      )
      .run(id, runId, author.id, createdAt, Buffer.from(body), sha(body));
    appendAudit(store.db, 'report.created', id, { run: runId, sha256: sha(body) }, author.id);
  })();
  return getReport(store, id);
}

interface ReportRow {
  id: string;
  run_id: string;
  author_id: string;
  created_at: string;
  state: ReportState;
  body: Buffer;
  sha256: string;
}

export function getReport(store: Store, id: string): ReportView {
  const row = store.db.prepare('SELECT * FROM reports WHERE id = ?').get(id) as ReportRow | undefined;
  if (!row) throw new NotFoundError(`no report ${id}; list reports with: gradproof report list`);
  const author = store.db.prepare('SELECT id, name, role FROM identities WHERE id = ?').get(row.author_id) as {
    id: string;
    name: string;
    role: 'engineer' | 'reviewer';
  };
  const sigs = store.db
    .prepare(
      `SELECT s.meaning, s.comment, s.signed_at, s.envelope, i.id, i.name, i.role FROM signatures s JOIN identities i ON i.id = s.identity_id WHERE s.report_id = ? ORDER BY s.id`,
    )
    .all(id) as {
    meaning: Meaning;
    comment: string | null;
    signed_at: string;
    envelope: Buffer;
    id: string;
    name: string;
    role: 'engineer' | 'reviewer';
  }[];
  const body = new Uint8Array(row.body);
  let statement: Statement<AuditPredicate>;
  try {
    statement = JSON.parse(new TextDecoder().decode(body)) as Statement<AuditPredicate>;
  } catch {
    statement = {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [],
      predicateType: 'unreadable',
      predicate: {} as AuditPredicate,
    };
  }
  return {
    id: row.id,
    runId: row.run_id,
    state: row.state,
    createdAt: row.created_at,
    author: { name: author.name, role: author.role, keyid: author.id, fingerprint: fingerprint(author.id) },
    sha256: row.sha256,
    body,
    statement,
    signatures: sigs.map((s) => {
      const envelope = JSON.parse(s.envelope.toString('utf8')) as DsseEnvelope;
      return {
        meaning: s.meaning,
        signer: { name: s.name, role: s.role, keyid: s.id, fingerprint: fingerprint(s.id) },
        signedAt: s.signed_at,
        comment: s.comment,
        envelope,
        payloadSha256: sha(Buffer.from(envelope.payload, 'base64')),
      };
    }),
  };
}

export function listReports(
  store: Store,
): { id: string; runId: string; state: ReportState; createdAt: string; author: string; verdict: string | null }[] {
  return store.db
    .prepare(
      `SELECT r.id, r.run_id AS runId, r.state, r.created_at AS createdAt, i.name AS author, u.verdict FROM reports r JOIN identities i ON i.id = r.author_id JOIN runs u ON u.id = r.run_id ORDER BY r.created_at DESC`,
    )
    .all() as never;
}

export type Action = 'prepare' | 'approve' | 'reject';

const MOVES: Record<Action, { from: ReportState; to: ReportState; meaning: Meaning }> = {
  prepare: { from: 'draft', to: 'prepared', meaning: 'authorship' },
  approve: { from: 'prepared', to: 'approved', meaning: 'approval' },
  reject: { from: 'prepared', to: 'rejected', meaning: 'rejection' },
};

/**
 * The one guarded transition: draft → prepared (the author signs, "authorship"),
 * prepared → approved | rejected (a different person with the reviewer role signs,
 * with meaning and comment; a rejection needs its reason). Everything is checked
 * before the key is unlocked, and the signature, state and audit entry are written
 * in one transaction; the database's own triggers refuse any other path.
 */
export function transition(
  store: Store,
  reportId: string,
  action: Action,
  signerRef: string,
  passphrase: string,
  comment?: string,
): ReportView {
  const move = MOVES[action];
  const report = getReport(store, reportId);
  const signer = findIdentity(store, signerRef);
  if (report.state !== move.from) {
    const why =
      report.state === 'draft'
        ? 'it is still a draft: its author must sign it first (gradproof report sign)'
        : `it is already ${report.state}`;
    throw new InputError(`cannot ${action} report ${reportId}: ${why}`);
  }
  const broken = signOffRule(move.meaning, signerOf(signer), report.author);
  if (broken) throw new InputError(`cannot ${action} report ${reportId}: ${broken}`);
  if (action === 'reject' && !comment?.trim()) throw new InputError('a rejection needs its reason: --reason "…"');
  if (sha(report.body) !== report.sha256)
    throw new InputError(`report ${reportId} no longer matches its digest; run gradproof verify ${reportId}`);
  const follows: string[] = [];
  if (action !== 'prepare') {
    const authorship = report.signatures.find((s) => s.meaning === 'authorship');
    if (
      !authorship ||
      !verifyEnvelope(authorship.envelope, publicKeyOf(store, authorship.signer.keyid), authorship.signer.keyid)
    ) {
      throw new InputError(
        `cannot ${action} report ${reportId}: its author's signature does not verify; run gradproof verify ${reportId}`,
      );
    }
    follows.push(authorship.payloadSha256);
  }
  const key = unlockIdentity(store, signer.id, passphrase);
  const signedAt = new Date().toISOString();
  store.db.transaction(() => {
    const predicate: SignOffPredicate = {
      reportId,
      meaning: move.meaning,
      ...(comment?.trim() ? { comment: comment.trim() } : {}),
      signer: signerOf(signer),
      signedAt,
      auditLog: logHead(store.db),
      follows,
    };
    const payload = canonicalBytes(signOffStatement(reportId, report.sha256, predicate));
    const envelope = signEnvelope(payload, key, signer.id);
    store.db
      .prepare(
        'INSERT INTO signatures (report_id, identity_id, meaning, comment, signed_at, envelope) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(reportId, signer.id, move.meaning, comment?.trim() || null, signedAt, Buffer.from(JSON.stringify(envelope)));
    store.db.prepare('UPDATE reports SET state = ? WHERE id = ?').run(move.to, reportId);
    appendAudit(
      store.db,
      `report.${move.to}`,
      reportId,
      {
        meaning: move.meaning,
        signer: signer.id,
        payload: sha(payload),
        ...(comment?.trim() ? { comment: comment.trim() } : {}),
      },
      signer.id,
    );
  })();
  return getReport(store, reportId);
}

export function publicKeyOf(store: Store, keyid: string): string {
  const row = store.db.prepare('SELECT public_key FROM identities WHERE id = ?').get(keyid) as
    { public_key: string } | undefined;
  if (!row) throw new NotFoundError(`no identity with key id ${keyid}`);
  return row.public_key;
}
