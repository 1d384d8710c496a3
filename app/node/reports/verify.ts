import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import canonicalize from 'canonicalize';
import {
  AUDIT_PREDICATE,
  type AuditPredicate,
  type Meaning,
  SIGNOFF_PREDICATE,
  type SignOffPredicate,
  type Statement,
  signOffRule,
} from '../../core/report/statement.js';
import { type AuditEntry, logTriggersPresent, readLog, verifyChain } from '../store/audit-log.js';
import type { Store } from '../store/database.js';
import { getEntries, getGroupRows, getRun, groupRowsDigest } from '../store/runs.js';
import { type DsseEnvelope, keyIdOf, verifyEnvelope } from '../signing/dsse.js';
import { getReport } from './reports.js';
import { sha256Hex } from '../util/hash.js';

export interface Check {
  check: string;
  ok: boolean;
  detail: string;
}

export interface Verification {
  target: string;
  ok: boolean;
  /** The first thing that is wrong, in words. */
  problem?: string;
  checks: Check[];
}

interface SignatureInput {
  meaning: Meaning;
  envelope: DsseEnvelope;
  identity: { name: string; role: string; keyid: string; publicKeyPem: string };
  storedSignedAt?: string;
  storedComment?: string | null;
}

interface VerifyInput {
  target: string;
  reportId: string;
  body: Uint8Array;
  storedSha256?: string;
  state?: string;
  signatures: SignatureInput[];
  log?: AuditEntry[];
  missingTriggers?: string[];
  evidence?: {
    groupsSha256: string;
    entriesSha256: string | null;
    entriesStoredSha256: string | null;
    verdict: string | null;
    difference: number | null;
  };
}

const sha = sha256Hex;

class Checker {
  readonly checks: Check[] = [];
  add(check: string, ok: boolean, detail: string): boolean {
    this.checks.push({ check, ok, detail });
    return ok;
  }
}

function verifyInput(v: VerifyInput): Verification {
  const c = new Checker();
  const digest = sha(v.body);
  if (v.storedSha256 !== undefined)
    c.add(
      'report digest',
      digest === v.storedSha256,
      digest === v.storedSha256
        ? `SHA-256 ${digest}`
        : `the stored report's bytes hash to ${digest}, not the recorded ${v.storedSha256}: the report was altered`,
    );
  let statement: Statement<AuditPredicate> | undefined;
  try {
    statement = JSON.parse(new TextDecoder().decode(v.body)) as Statement<AuditPredicate>;
  } catch {
    c.add('report content', false, 'the report is not readable JSON: it was altered');
  }
  const author = statement?.predicate?.report?.author;
  if (statement) {
    const ok =
      statement.predicateType === AUDIT_PREDICATE && statement.predicate?.report?.id === v.reportId && Boolean(author);
    c.add(
      'report content',
      ok,
      ok
        ? `in-toto statement for report ${v.reportId}`
        : `the report does not read as GradProof's statement for ${v.reportId}`,
    );
    const canonical = canonicalize(statement);
    c.add(
      'canonical form',
      canonical === new TextDecoder().decode(v.body),
      canonical === new TextDecoder().decode(v.body)
        ? 'RFC 8785 canonical JSON, as signed'
        : 'the stored bytes are not the canonical form that was signed',
    );
  }
  const payloads = new Map<Meaning, { predicate: SignOffPredicate; sha256: string }>();
  for (const s of v.signatures) {
    const who = `${s.meaning} by ${s.identity.name}`;
    let keyOk: boolean;
    try {
      keyOk = keyIdOf(createPublicKey(s.identity.publicKeyPem)) === s.identity.keyid;
    } catch {
      keyOk = false;
    }
    c.add(
      `${who}: key`,
      keyOk,
      keyOk
        ? `Ed25519 key ${s.identity.keyid.slice(0, 16)}…`
        : `${s.identity.name}'s public key does not match its key id: the identity was altered`,
    );
    const sigOk = keyOk && verifyEnvelope(s.envelope, s.identity.publicKeyPem, s.identity.keyid);
    c.add(
      `${who}: signature`,
      sigOk,
      sigOk
        ? 'valid DSSE Ed25519 signature'
        : `the ${s.meaning} signature does not verify: the signature or the signed statement was altered`,
    );
    let p: Statement<SignOffPredicate> | undefined;
    const payload = Buffer.from(s.envelope.payload, 'base64');
    try {
      p = JSON.parse(payload.toString('utf8')) as Statement<SignOffPredicate>;
    } catch {
      c.add(`${who}: statement`, false, 'the signed sign-off statement is not readable');
      continue;
    }
    const pr = p.predicate;
    const linked =
      p.predicateType === SIGNOFF_PREDICATE && p.subject?.[0]?.digest?.sha256 === digest && pr?.reportId === v.reportId;
    c.add(
      `${who}: linked to the report`,
      linked,
      linked
        ? "signs this report's SHA-256"
        : `the ${s.meaning} signature is for other content (it signs ${p.subject?.[0]?.digest?.sha256 ?? 'nothing'}, the report is ${digest})`,
    );
    const same =
      pr?.meaning === s.meaning &&
      pr?.signer?.keyid === s.identity.keyid &&
      pr?.signer?.name === s.identity.name &&
      pr?.signer?.role === s.identity.role &&
      (s.storedSignedAt === undefined || pr?.signedAt === s.storedSignedAt) &&
      (s.storedComment === undefined || (pr?.comment ?? null) === (s.storedComment ?? null));
    c.add(
      `${who}: matches its record`,
      same,
      same
        ? `${pr.meaning}, ${pr.signedAt}`
        : `the stored record of the ${s.meaning} (meaning, signer, role, time or comment) differs from what was signed`,
    );
    if (author && pr?.signer) {
      const broken = signOffRule(s.meaning, pr.signer, author);
      c.add(`${who}: allowed`, !broken, broken ?? `${s.meaning} by ${pr.signer.role} ${pr.signer.name}`);
    }
    payloads.set(s.meaning, { predicate: pr, sha256: sha(payload) });
  }
  // Sign-off rules as a whole: what the state claims must be backed by signatures.
  const authorship = payloads.get('authorship');
  const review = payloads.get('approval') ?? payloads.get('rejection');
  const state =
    v.state ??
    (payloads.has('approval')
      ? 'approved'
      : payloads.has('rejection')
        ? 'rejected'
        : authorship
          ? 'prepared'
          : 'draft');
  const needs = state === 'draft' ? 0 : state === 'prepared' ? 1 : 2;
  const have = (authorship ? 1 : 0) + (review ? 1 : 0);
  let rulesOk =
    have >= needs &&
    (needs < 2 ||
      (authorship !== undefined &&
        review !== undefined &&
        review.predicate.signer.keyid !== authorship.predicate.signer.keyid));
  let rulesDetail = rulesOk
    ? `${state}: ${have} signature(s) by ${new Set([...payloads.values()].map((p) => p.predicate.signer.name)).size} different people`
    : `the report is ${state} but lacks the signatures that requires (authorship, then a different reviewer's ${state === 'rejected' ? 'rejection' : 'approval'})`;
  if (rulesOk && review && authorship && !review.predicate.follows?.includes(authorship.sha256)) {
    rulesOk = false;
    rulesDetail = "the review signature does not follow the author's signature";
  }
  if (rulesOk && payloads.has('rejection') && !payloads.get('rejection')!.predicate.comment) {
    rulesOk = false;
    rulesDetail = 'a rejection must carry its reason';
  }
  c.add('sign-off rules', rulesOk, rulesDetail);
  if (v.evidence && statement) {
    const e = v.evidence;
    const ev = statement.predicate.evidence;
    c.add(
      'result rows',
      e.groupsSha256 === ev?.groupsSha256,
      e.groupsSha256 === ev?.groupsSha256
        ? 'per-group results match the signed report'
        : 'the stored per-group results differ from the signed report: a result row was altered',
    );
    const entriesOk =
      e.entriesSha256 !== null && e.entriesSha256 === e.entriesStoredSha256 && e.entriesSha256 === ev?.entries?.sha256;
    c.add(
      'entry results',
      entriesOk,
      entriesOk
        ? `${ev.entries.count} entries match the signed digest`
        : 'the stored per-entry results differ from the signed report: a result blob was altered',
    );
    const runOk =
      e.verdict === statement.predicate.result.verdict && e.difference === statement.predicate.result.difference;
    c.add(
      'run record',
      runOk,
      runOk
        ? `verdict ${e.verdict}, difference ${e.difference}`
        : `the stored run says ${e.verdict} / ${e.difference}, the signed report ${statement.predicate.result.verdict} / ${statement.predicate.result.difference}: the run was altered`,
    );
  }
  if (v.log) {
    const chain = verifyChain(v.log);
    c.add(
      'audit log chain',
      chain.ok,
      chain.ok ? `${chain.rows} rows, head ${chain.head.hash.slice(0, 16)}…` : chain.problem!,
    );
    const heads = [statement?.predicate?.auditLog, ...[...payloads.values()].map((p) => p.predicate.auditLog)].filter(
      (h): h is { seq: number; hash: string } => Boolean(h),
    );
    const bySeq = new Map(v.log.map((e) => [e.seq, e]));
    const badHead = heads.find((h) => h.seq > 0 && bySeq.get(h.seq)?.hash !== h.hash);
    c.add(
      'audit log covers the signatures',
      !badHead,
      badHead
        ? `the audit log no longer holds the head a signature embedded (row ${badHead.seq}): the log was rewritten`
        : "every signed statement's log head is in the chain",
    );
    const events = v.log.filter((e) => e.subject === v.reportId).map((e) => e.action);
    const expected = [
      'report.created',
      ...(authorship ? ['report.prepared'] : []),
      ...(payloads.has('approval') ? ['report.approved'] : []),
      ...(payloads.has('rejection') ? ['report.rejected'] : []),
    ];
    const eventsOk = expected.every((a) => events.includes(a));
    c.add(
      'audit log records the sign-off',
      eventsOk,
      eventsOk
        ? expected.join(' → ')
        : `the audit log lacks ${expected.filter((a) => !events.includes(a)).join(', ')} for this report`,
    );
  }
  if (v.missingTriggers)
    c.add(
      'append-only guards',
      v.missingTriggers.length === 0,
      v.missingTriggers.length === 0
        ? 'triggers in place'
        : `the database's protective triggers were removed: ${v.missingTriggers.join(', ')}`,
    );
  const first = c.checks.find((x) => !x.ok);
  return {
    target: v.target,
    ok: !first,
    ...(first ? { problem: `${first.check}: ${first.detail}` } : {}),
    checks: c.checks,
  };
}

function identityRecord(
  store: Store,
  keyid: string,
): { name: string; role: string; keyid: string; publicKeyPem: string } {
  const r = store.db.prepare('SELECT id, name, role, public_key FROM identities WHERE id = ?').get(keyid) as {
    id: string;
    name: string;
    role: string;
    public_key: string;
  };
  return { name: r.name, role: r.role, keyid: r.id, publicKeyPem: r.public_key };
}

/** Everything about one stored report: signatures, link, rules, evidence, the audit chain. */
export function verifyStoredReport(store: Store, reportId: string): Verification {
  const report = getReport(store, reportId);
  const run = getRun(store, report.runId);
  const entries = getEntries(store, report.runId);
  const rows = getGroupRows(store, report.runId);
  const groupsSha256 = groupRowsDigest(
    rows.map((g) => ({ ...g, diagnosis: g.diagnosis ? (JSON.parse(g.diagnosis) as object) : null })),
  );
  return verifyInput({
    target: `report ${reportId}`,
    reportId,
    body: report.body,
    storedSha256: report.sha256,
    state: report.state,
    signatures: report.signatures.map((s) => ({
      meaning: s.meaning,
      envelope: s.envelope,
      identity: identityRecord(store, s.signer.keyid),
      storedSignedAt: s.signedAt,
      storedComment: s.comment,
    })),
    log: readLog(store.db),
    missingTriggers: logTriggersPresent(store.db),
    evidence: {
      groupsSha256,
      entriesSha256: entries?.actualSha256 ?? null,
      entriesStoredSha256: entries?.sha256 ?? null,
      verdict: run?.verdict ?? null,
      difference: run?.difference ?? null,
    },
  });
}

/** With no report named: every report, and the audit chain on its own. */
export function verifyStore(store: Store): Verification[] {
  const ids = (store.db.prepare('SELECT id FROM reports ORDER BY created_at').all() as { id: string }[]).map(
    (r) => r.id,
  );
  const results = ids.map((id) => verifyStoredReport(store, id));
  const chain = verifyChain(readLog(store.db));
  const missing = logTriggersPresent(store.db);
  const checks: Check[] = [
    {
      check: 'audit log chain',
      ok: chain.ok,
      detail: chain.ok ? `${chain.rows} rows, head ${chain.head.hash.slice(0, 16)}…` : chain.problem!,
    },
    {
      check: 'append-only guards',
      ok: missing.length === 0,
      detail:
        missing.length === 0
          ? 'triggers in place'
          : `the database's protective triggers were removed: ${missing.join(', ')}`,
    },
  ];
  const first = checks.find((x) => !x.ok);
  return [
    { target: 'audit log', ok: !first, ...(first ? { problem: `${first.check}: ${first.detail}` } : {}), checks },
    ...results,
  ];
}

/** An exported bundle, offline: report.json, sign-offs, public keys and the audit log. */
export function verifyBundle(dir: string): Verification {
  const read = (f: string): Buffer => readFileSync(path.join(dir, f));
  if (!existsSync(path.join(dir, 'report.json')) || !existsSync(path.join(dir, 'manifest.json'))) {
    return {
      target: dir,
      ok: false,
      problem: `bundle ${dir}: report.json or manifest.json is missing; export one with gradproof report export REPORT_ID --bundle DIR`,
      checks: [],
    };
  }
  const manifest = JSON.parse(read('manifest.json').toString('utf8')) as {
    reportId: string;
    state: string;
    signatures: { meaning: Meaning; envelope: string; keyid: string; name: string; role: string; publicKey: string }[];
  };
  const log = existsSync(path.join(dir, 'audit-log.jsonl'))
    ? read('audit-log.jsonl')
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AuditEntry)
    : undefined;
  return verifyInput({
    target: `bundle ${dir}`,
    reportId: manifest.reportId,
    body: new Uint8Array(read('report.json')),
    state: manifest.state,
    signatures: manifest.signatures.map((s) => ({
      meaning: s.meaning,
      envelope: JSON.parse(read(s.envelope).toString('utf8')) as DsseEnvelope,
      identity: { name: s.name, role: s.role, keyid: s.keyid, publicKeyPem: read(s.publicKey).toString('utf8') },
    })),
    ...(log ? { log } : {}),
  });
}

export function isBundle(target: string): boolean {
  return existsSync(target) && existsSync(path.join(target, 'manifest.json'));
}
