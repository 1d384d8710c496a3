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
import { type LogHead, appendAudit, logHead } from '../store/audit-log.js';
import type { Store } from '../store/database.js';
import { identityProblem, stateFromMeanings, storeFindings } from '../store/integrity.js';
import { logIndex } from '../store/log-index.js';
import { getEntries, getRun, groupsDigest } from '../store/runs.js';
import { readAnnotations, rowDigest } from '../store/seals.js';
import { type DsseEnvelope, fingerprint, signEnvelope, verifyEnvelope } from '../signing/dsse.js';
import {
  type Identity,
  describeAccount,
  findIdentity,
  getIdentity,
  sameAccount,
  unlockIdentity,
} from '../signing/identities.js';
import { enrollmentProblem, getPolicy, parseEnvelope } from '../signing/policy.js';
import { sha256Hex } from '../util/hash.js';
import { InputError, NotFoundError } from '../../core/errors.js';

export type ReportState = 'draft' | 'prepared' | 'approved' | 'rejected';

export interface SignatureView {
  meaning: Meaning;
  signer: SignerRef & { fingerprint: string };
  signedAt: string;
  comment: string | null;
  /** Null when the stored envelope cannot be read (verification says so). */
  envelope: DsseEnvelope | null;
  /** SHA-256 of the envelope's payload (the sign-off statement's bytes). */
  payloadSha256: string | null;
}

export interface ReportView {
  id: string;
  runId: string;
  /** The state the stored signatures make: a rejection signature means rejected, whatever else is stored. */
  state: ReportState;
  /** The state column as stored (verification fails when it differs from `state`). */
  storedState: string;
  createdAt: string;
  author: SignerRef & { fingerprint: string };
  sha256: string;
  /** The exact stored (and signed-over) bytes. */
  body: Uint8Array;
  statement: Statement<AuditPredicate>;
  signatures: SignatureView[];
  /** The run's name, tags and notes: annotations, not evidence (no signature covers them). */
  annotations: { name: string | null; tags: string[]; notes: string | null };
  /**
   * What the four-eyes rule rests on here, when it is weaker than two people: e.g. the author's
   * and the reviewer's identities were created by the same OS account.
   */
  fourEyes: string[];
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
  if (!run.integrity.ok) throw new InputError(`run ${runId} cannot be reported: ${run.integrity.problem}`);
  if (run.status !== 'completed' || !run.result)
    throw new InputError(`run ${runId} is ${run.status}; only a completed run can be reported`);
  const author = findIdentity(store, authorRef);
  const rec = identityProblem(store.db, logIndex(store.db), author.id);
  if (rec) throw new InputError(`${author.name} cannot author a report: ${rec}`);
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
    const row = store.db.prepare('SELECT * FROM reports WHERE id = ?').get(id) as Record<string, unknown>;
    appendAudit(
      store.db,
      'report.created',
      id,
      { run: runId, sha256: sha(body), row: rowDigest('reports', row) },
      author.id,
    );
  })();
  return getReport(store, id);
}

interface ReportRow {
  id: string;
  run_id: string;
  author_id: string;
  created_at: string;
  state: string;
  body: Buffer;
  sha256: string;
}

const UNKNOWN_ROLE = 'engineer' as const;

/** A key as a report shows it: its identity's name and role, or a placeholder when that row is gone. */
function signerView(identity: Identity | undefined, keyid: string): SignatureView['signer'] {
  return {
    name: identity?.name ?? '(identity not stored)',
    role: identity?.role ?? UNKNOWN_ROLE,
    keyid,
    fingerprint: fingerprint(keyid),
  };
}

export function getReport(store: Store, id: string): ReportView {
  const row = store.db.prepare('SELECT * FROM reports WHERE id = ?').get(id) as ReportRow | undefined;
  if (!row) throw new NotFoundError(`no report ${id}; list reports with: gradproof report list`);
  const author = getIdentity(store, row.author_id);
  const sigs = store.db
    .prepare(
      `SELECT s.meaning, s.comment, s.signed_at, s.envelope, s.identity_id FROM signatures s WHERE s.report_id = ? ORDER BY s.id`,
    )
    .all(id) as {
    meaning: Meaning;
    comment: string | null;
    signed_at: string;
    envelope: Buffer;
    identity_id: string;
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
  // Each signer's identity read once: the signature views and the four-eyes notes both need it.
  const identities = new Map(sigs.map((s) => [s.identity_id, getIdentity(store, s.identity_id)]));
  const signatures: SignatureView[] = sigs.map((s) => {
    let envelope: DsseEnvelope | null;
    let payloadSha256: string | null = null;
    try {
      envelope = parseEnvelope(s.envelope, 'the envelope');
      payloadSha256 = sha(Buffer.from(envelope.payload, 'base64'));
    } catch {
      envelope = null;
    }
    return {
      meaning: s.meaning,
      signer: signerView(identities.get(s.identity_id), s.identity_id),
      signedAt: s.signed_at,
      comment: s.comment,
      envelope,
      payloadSha256,
    };
  });
  const fourEyes: string[] = [];
  for (const s of sigs) {
    if (s.meaning === 'authorship') continue;
    const reviewer = identities.get(s.identity_id);
    if (author && reviewer && sameAccount(author.account, reviewer.account))
      fourEyes.push(
        `${author.name} (author) and ${reviewer.name} (${s.meaning}) were created by the same ${describeAccount(author.account)}: nothing here shows they are two people`,
      );
    else if (author && reviewer && (!author.account || !reviewer.account))
      fourEyes.push(
        `the OS accounts that created ${author.name} and ${reviewer.name} were not recorded: nothing here shows they are two people`,
      );
  }
  return {
    id: row.id,
    runId: row.run_id,
    state: stateFromMeanings(sigs.map((s) => s.meaning)),
    storedState: row.state,
    createdAt: row.created_at,
    author: signerView(author, row.author_id),
    sha256: row.sha256,
    body,
    statement,
    signatures,
    annotations: readAnnotations(store.db, row.run_id) ?? { name: null, tags: [], notes: null },
    fourEyes,
  };
}

export function listReports(
  store: Store,
): { id: string; runId: string; state: ReportState; createdAt: string; author: string; verdict: string | null }[] {
  const rows = store.db
    .prepare(
      `SELECT r.id, r.run_id AS runId, r.created_at AS createdAt, coalesce(i.name, '(identity not stored)') AS author, u.verdict,
              (SELECT group_concat(meaning) FROM signatures s WHERE s.report_id = r.id) AS meanings
       FROM reports r LEFT JOIN identities i ON i.id = r.author_id LEFT JOIN runs u ON u.id = r.run_id ORDER BY r.created_at DESC`,
    )
    .all() as {
    id: string;
    runId: string;
    createdAt: string;
    author: string;
    verdict: string | null;
    meanings: string | null;
  }[];
  return rows.map(({ meanings, ...r }) => ({ ...r, state: stateFromMeanings(meanings ? meanings.split(',') : []) }));
}

export type Action = 'prepare' | 'approve' | 'reject';

const MOVES: Record<Action, { from: ReportState; to: ReportState; meaning: Meaning }> = {
  prepare: { from: 'draft', to: 'prepared', meaning: 'authorship' },
  approve: { from: 'prepared', to: 'approved', meaning: 'approval' },
  reject: { from: 'prepared', to: 'rejected', meaning: 'rejection' },
};

/** What a signer is told before the key is unlocked: who signs what, by which keys. */
export interface SignOffPlan {
  signer: Identity;
  author: ReportView['author'];
  meaning: Meaning;
  /** Warnings to show at signing: e.g. the author's and the reviewer's identities share an OS account. */
  warnings: string[];
}

/**
 * Everything a sign-off needs checked before the key is unlocked: the state, the sign-off
 * rules, the sign-off policy (enrolled reviewer keys), the signer's and the author's records
 * against the audit log, and the whole database's integrity (a signature anchors the log's
 * head, so signing over a tampered log would vouch for it).
 */
export function planSignOff(
  store: Store,
  reportId: string,
  action: Action,
  signerRef: string,
  comment?: string,
): SignOffPlan {
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
  const index = logIndex(store.db);
  for (const who of [signer.id, report.author.keyid]) {
    const p = identityProblem(store.db, index, who);
    if (p) throw new InputError(`cannot ${action} report ${reportId}: ${p}`);
  }
  const policy = getPolicy(store);
  if (policy.problem)
    throw new InputError(
      `cannot ${action} report ${reportId}: the sign-off policy does not verify (${policy.problem})`,
    );
  if (action !== 'prepare' && policy.document.requireEnrollment) {
    const e = enrollmentProblem(store, signer.id);
    if (e)
      throw new InputError(
        `cannot ${action} report ${reportId}: the sign-off policy requires reviewer keys enrolled by an administrator, and ${e}; an administrator enrolls it with: gradproof identity enroll "${signer.name}" --as ADMIN`,
      );
  }
  const findings = storeFindings(store.db);
  if (findings.length)
    throw new InputError(
      `cannot ${action} report ${reportId}: the database fails verification (${findings[0]!.subject}: ${findings[0]!.problem}); signing now would vouch for it. Run gradproof verify`,
    );
  const author = getIdentity(store, report.author.keyid);
  const warnings: string[] = [];
  if (action !== 'prepare' && author) {
    if (sameAccount(author.account, signer.account))
      warnings.push(
        `${signer.name} and the author ${author.name} were created by the same ${describeAccount(signer.account)}; the report will show that nothing proves they are two people`,
      );
  }
  return { signer, author: report.author, meaning: move.meaning, warnings };
}

/**
 * The one guarded transition: draft → prepared (the author signs, "authorship"),
 * prepared → approved | rejected (a different person with the reviewer role signs,
 * with meaning and comment; a rejection needs its reason). Everything is checked
 * before the key is unlocked (planSignOff), and the signature, state and audit entry
 * are written in one transaction; the database's own triggers refuse any other path.
 */
export function transition(
  store: Store,
  reportId: string,
  action: Action,
  signerRef: string,
  passphrase: string,
  comment?: string,
): ReportView & { logHead: LogHead; warnings: string[] } {
  const plan = planSignOff(store, reportId, action, signerRef, comment);
  const move = MOVES[action];
  const report = getReport(store, reportId);
  const signer = plan.signer;
  const follows: string[] = [];
  if (action !== 'prepare') {
    const authorship = report.signatures.find((s) => s.meaning === 'authorship');
    if (
      !authorship?.envelope ||
      !verifyEnvelope(authorship.envelope, publicKeyOf(store, authorship.signer.keyid), authorship.signer.keyid)
    ) {
      throw new InputError(
        `cannot ${action} report ${reportId}: its author's signature does not verify; run gradproof verify ${reportId}`,
      );
    }
    follows.push(authorship.payloadSha256!);
  }
  const policy = getPolicy(store);
  const key = unlockIdentity(store, signer.id, passphrase, `${action} ${reportId}`);
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
      ...(policy.ref ? { policy: policy.ref } : {}),
    };
    const payload = canonicalBytes(signOffStatement(reportId, report.sha256, predicate));
    const envelope = signEnvelope(payload, key, signer.id);
    const info = store.db
      .prepare(
        'INSERT INTO signatures (report_id, identity_id, meaning, comment, signed_at, envelope) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(reportId, signer.id, move.meaning, comment?.trim() || null, signedAt, Buffer.from(JSON.stringify(envelope)));
    const signatureId = Number(info.lastInsertRowid);
    store.db.prepare('UPDATE reports SET state = ? WHERE id = ?').run(move.to, reportId);
    const row = store.db.prepare('SELECT * FROM signatures WHERE id = ?').get(signatureId) as Record<string, unknown>;
    appendAudit(
      store.db,
      `report.${move.to}`,
      reportId,
      {
        meaning: move.meaning,
        signer: signer.id,
        payload: sha(payload),
        ...(comment?.trim() ? { comment: comment.trim() } : {}),
        signatureId,
        signature: rowDigest('signatures', row),
      },
      signer.id,
    );
  })();
  return { ...getReport(store, reportId), logHead: logHead(store.db), warnings: plan.warnings };
}

export function publicKeyOf(store: Store, keyid: string): string {
  const row = store.db.prepare('SELECT public_key FROM identities WHERE id = ?').get(keyid) as
    { public_key: string } | undefined;
  if (!row) throw new NotFoundError(`no identity with key id ${keyid}`);
  return row.public_key;
}
