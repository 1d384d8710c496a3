import { createPublicKey } from 'node:crypto';
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
import { type AuditEntry, type LogHead } from '../store/audit-log.js';
import type { Store } from '../store/database.js';
import { identityProblem, reportProblem, runProblem, stateFromMeanings, storeFindings } from '../store/integrity.js';
import { type LogIndex, buildLogIndex, logIndex } from '../store/log-index.js';
import { schemaProblems } from '../store/schema-check.js';
import { getEntries, getGroupRows, groupRowsDigest } from '../store/runs.js';
import { type DsseEnvelope, fingerprint, keyIdOf, verifyEnvelope } from '../signing/dsse.js';
import { describeAccount, sameAccount } from '../signing/identities.js';
import { enrollmentProblem, getPolicy, parseEnvelope } from '../signing/policy.js';
import type { AccountRef } from '../../core/report/statement.js';
import { getReport } from './reports.js';
import { sha256Hex } from '../util/hash.js';

export interface Check {
  check: string;
  ok: boolean;
  detail: string;
  /** Holds, but with a limit the reader must know (e.g. both signers' identities came from one OS account). */
  warning?: boolean;
}

export interface Verification {
  target: string;
  ok: boolean;
  /** The first thing that is wrong, in words. */
  problem?: string;
  checks: Check[];
  /** The report's state as its valid signatures make it (what may be shown), when there is a report. */
  state?: 'draft' | 'prepared' | 'approved' | 'rejected';
  /** The audit log's head as read: an officer may note it and later demand it with --log-head. */
  logHead?: LogHead;
}

/** A sign-off as read from the store or a bundle; unreadable parts carry their error instead. */
export interface SignatureInput {
  meaning: string;
  /** Where it was read, for messages: "signature 2" or "signoffs/2-approval.dsse.json". */
  where: string;
  envelope: DsseEnvelope | { error: string };
  identity: { name: string; role: string; keyid: string; publicKeyPem: string } | { keyid: string; error: string };
  storedSignedAt?: string;
  storedComment?: string | null;
}

/** An administrator's signed enrollment or policy carried in a bundle. */
export interface AttestationInput {
  kind: 'enrollment' | 'policy';
  where: string;
  envelope: DsseEnvelope | { error: string };
  keyid: string;
  publicKeyPem: string | { error: string };
}

export interface VerifyInput {
  target: string;
  reportId: string;
  body: Uint8Array;
  storedSha256?: string;
  /** The state as the store's row or the bundle's manifest claims it. */
  claimedState: string;
  claimedStateWhere: string;
  signatures: SignatureInput[];
  log: AuditEntry[] | { error: string };
  attestations?: AttestationInput[];
  evidence?: {
    groupsSha256: string;
    entriesSha256: string | null;
    entriesStoredSha256: string | null;
    verdict: string | null;
    difference: number | null;
  };
  /** Cross-checks of the stored rows against the log (store only), each a check name and its problem. */
  records?: { check: string; problem?: string; ok: string }[];
  /** Enrollment problems for signers, as the store can check them (its envelopes verified). */
  enrollment?: (keyid: string) => string | undefined;
  /** A head the verifier was given from outside (a receipt): the log must reach it. */
  expectHead?: LogHead;
}

const sha = sha256Hex;
const STATE_OF_ACTION: Record<string, string> = {
  'report.prepared': 'prepared',
  'report.approved': 'approved',
  'report.rejected': 'rejected',
};
const ACTION_OF: Record<string, string> = {
  authorship: 'report.prepared',
  approval: 'report.approved',
  rejection: 'report.rejected',
};

class Checker {
  readonly checks: Check[] = [];
  add(check: string, ok: boolean, detail: string, warning = false): boolean {
    this.checks.push({ check, ok, detail, ...(warning ? { warning: true } : {}) });
    return ok;
  }
}

function accountOf(index: LogIndex | undefined, keyid: string): AccountRef | null | undefined {
  const e = index?.identities.find((i) => i.keyid === keyid);
  if (!e) return undefined;
  const a = e.account as AccountRef | null;
  return a && typeof a === 'object' && typeof a.host === 'string' ? a : null;
}

interface ValidSignOff {
  meaning: Meaning;
  predicate: SignOffPredicate;
  sha256: string;
  where: string;
}

export function verifyInput(v: VerifyInput): Verification {
  const c = new Checker();
  const digest = sha(v.body);
  const text = new TextDecoder().decode(v.body);
  if (v.storedSha256 !== undefined)
    c.add(
      'report digest',
      digest === v.storedSha256,
      digest === v.storedSha256
        ? `SHA-256 ${digest}`
        : `the report's bytes hash to ${digest}, not the recorded ${v.storedSha256}: the report was altered`,
    );
  let statement: Statement<AuditPredicate> | undefined;
  try {
    statement = JSON.parse(text) as Statement<AuditPredicate>;
    if (!statement || typeof statement !== 'object') throw new Error('not an object');
  } catch {
    statement = undefined;
    c.add('report content', false, 'the report is not readable JSON: it was altered');
  }
  const author = statement?.predicate?.report?.author;
  if (statement) {
    const ok =
      statement.predicateType === AUDIT_PREDICATE &&
      statement.predicate?.report?.id === v.reportId &&
      typeof author?.keyid === 'string';
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
      canonical === text,
      canonical === text
        ? 'RFC 8785 canonical JSON, as signed'
        : 'the stored bytes are not the canonical form that was signed',
    );
  }
  const log = 'error' in v.log ? undefined : v.log;
  const index = log ? buildLogIndex(log) : undefined;

  // Each sign-off on its own: readable, the right key, bound to the log, validly signed, for this report.
  const valid: ValidSignOff[] = [];
  for (const s of v.signatures) {
    const who = `${s.meaning} (${s.where})`;
    if ('error' in s.envelope) {
      c.add(`${who}: envelope`, false, s.envelope.error);
      continue;
    }
    if ('error' in s.identity) {
      c.add(`${who}: signer`, false, s.identity.error);
      continue;
    }
    const id = s.identity;
    let keyOk: boolean;
    try {
      keyOk = keyIdOf(createPublicKey(id.publicKeyPem)) === id.keyid;
    } catch {
      keyOk = false;
    }
    c.add(
      `${who}: key`,
      keyOk,
      keyOk
        ? `Ed25519 key ${fingerprint(id.keyid)}`
        : `${id.name}'s public key does not match its key id ${fingerprint(id.keyid)}: the key was replaced`,
    );
    if (!keyOk) continue;
    const env = s.envelope;
    const sigOk = verifyEnvelope(env, id.publicKeyPem, id.keyid);
    c.add(
      `${who}: signature`,
      sigOk,
      sigOk
        ? 'valid DSSE Ed25519 signature'
        : `the ${s.meaning} signature does not verify: the signature or the signed statement was altered`,
    );
    if (!sigOk) continue;
    if (index) {
      const created = index.identities.filter((i) => i.keyid === id.keyid);
      const sameName = index.identities.filter((i) => i.name === id.name && i.keyid !== id.keyid);
      const e = created[0];
      const pemOk = e?.publicKey === null || normalPem(e?.publicKey) === normalPem(id.publicKeyPem);
      const bound =
        created.length === 1 && e!.name === id.name && e!.role === id.role && pemOk && sameName.length === 0;
      c.add(
        `${who}: key in the audit log`,
        bound,
        bound
          ? `created as ${e!.role} ${e!.name} at audit log row ${e!.seq}`
          : created.length === 0
            ? `key ${fingerprint(id.keyid)} was never created as an identity in the audit log: it was put in from outside`
            : created.length > 1
              ? `key ${fingerprint(id.keyid)} is recorded as created ${created.length} times: a record was forged`
              : sameName.length
                ? `the name ${id.name} was given to another key too (${sameName.map((x) => `${fingerprint(x.keyid)} at row ${x.seq}`).join(', ')}): an identity was replaced`
                : `the audit log created key ${fingerprint(id.keyid)} as ${e!.role} ${e!.name}, not as ${id.role} ${id.name}: the identity was altered`,
      );
    }
    let p: Statement<SignOffPredicate>;
    const payload = Buffer.from(env.payload, 'base64');
    try {
      p = JSON.parse(payload.toString('utf8')) as Statement<SignOffPredicate>;
      if (!p?.predicate || typeof p.predicate !== 'object') throw new Error('no predicate');
    } catch {
      c.add(`${who}: statement`, false, 'the signed sign-off statement is not readable');
      continue;
    }
    const pr = p.predicate;
    const linked =
      p.predicateType === SIGNOFF_PREDICATE && p.subject?.[0]?.digest?.sha256 === digest && pr.reportId === v.reportId;
    c.add(
      `${who}: linked to the report`,
      linked,
      linked
        ? "signs this report's SHA-256"
        : `the ${s.meaning} signature is for other content (it signs ${p.subject?.[0]?.digest?.sha256 ?? 'nothing'}, the report is ${digest})`,
    );
    const same =
      pr.meaning === s.meaning &&
      pr.signer?.keyid === id.keyid &&
      pr.signer?.name === id.name &&
      pr.signer?.role === id.role &&
      (s.storedSignedAt === undefined || pr.signedAt === s.storedSignedAt) &&
      (s.storedComment === undefined || (pr.comment ?? null) === (s.storedComment ?? null));
    c.add(
      `${who}: matches its record`,
      same,
      same
        ? `${pr.meaning}, ${pr.signedAt}`
        : `the stored record of the ${s.meaning} (meaning, signer, role, time or comment) differs from what was signed`,
    );
    if (author && pr.signer) {
      const broken = signOffRule(pr.meaning, pr.signer, author);
      c.add(`${who}: allowed`, !broken, broken ?? `${pr.meaning} by ${pr.signer.role} ${pr.signer.name}`);
    }
    if (linked && (pr.meaning === 'authorship' || pr.meaning === 'approval' || pr.meaning === 'rejection'))
      valid.push({ meaning: pr.meaning, predicate: pr, sha256: sha(payload), where: s.where });
  }

  // The state follows from the valid signatures: a rejection means rejected, whatever is claimed.
  const meanings = valid.map((x) => x.meaning);
  const state = stateFromMeanings(meanings);
  c.add(
    'state',
    v.claimedState === state,
    v.claimedState === state
      ? `${state}, as the signatures make it`
      : `${v.claimedStateWhere} says ${v.claimedState} but the valid signatures make the report ${state}${meanings.includes('rejection') && v.claimedState !== 'rejected' ? ' (a reviewer rejected it)' : ''}: the state was altered`,
  );
  const authorship = valid.find((x) => x.meaning === 'authorship');
  const reviews = valid.filter((x) => x.meaning !== 'authorship');
  let rulesOk = true;
  let rulesDetail = `${state}: ${valid.length} valid signature(s)`;
  if (new Set(meanings).size !== meanings.length) {
    rulesOk = false;
    rulesDetail = 'the report carries two signatures of the same meaning';
  } else if (reviews.length > 1) {
    rulesOk = false;
    rulesDetail = 'the report is both approved and rejected: a signature was added from outside';
  } else if (reviews.length === 1 && !authorship) {
    rulesOk = false;
    rulesDetail = `the report carries a ${reviews[0]!.meaning} but no valid authorship signature`;
  } else if (reviews.length === 1 && reviews[0]!.predicate.signer.keyid === authorship!.predicate.signer.keyid) {
    rulesOk = false;
    rulesDetail = 'the author reviewed their own report';
  } else if (reviews.length === 1 && !reviews[0]!.predicate.follows?.includes(authorship!.sha256)) {
    rulesOk = false;
    rulesDetail = "the review signature does not follow the author's signature";
  } else if (reviews[0]?.meaning === 'rejection' && !reviews[0].predicate.comment) {
    rulesOk = false;
    rulesDetail = 'a rejection must carry its reason';
  } else if (reviews.length === 1)
    rulesDetail = `${state}: authored by ${authorship!.predicate.signer.name}, ${reviews[0]!.meaning === 'approval' ? 'approved' : 'rejected'} by ${reviews[0]!.predicate.signer.name} (${fingerprint(reviews[0]!.predicate.signer.keyid)})`;
  c.add('sign-off rules', rulesOk, rulesDetail);

  if (v.evidence && statement?.predicate?.result) {
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

  let head: LogHead | undefined;
  if (!index) c.add('audit log', false, (v.log as { error: string }).error);
  else {
    const chain = index.chain;
    head = chain.ok ? chain.head : undefined;
    c.add(
      'audit log chain',
      chain.ok,
      chain.ok ? `${chain.rows} rows, head ${chain.head.seq} ${chain.head.hash.slice(0, 16)}…` : chain.problem!,
    );
    // Every head a signature carries must still be in the chain: a log cut or rewritten below it shows.
    const heads: { where: string; head: LogHead }[] = [];
    const h0 = statement?.predicate?.auditLog;
    if (h0) heads.push({ where: 'the report', head: h0 });
    for (const s of valid)
      if (s.predicate.auditLog) heads.push({ where: `the ${s.meaning}`, head: s.predicate.auditLog });
    for (const a of attestationHeads(v.attestations ?? [])) heads.push(a);
    if (v.expectHead) heads.push({ where: 'the head you gave (--log-head)', head: v.expectHead });
    const bad = heads.find((h) => h.head.seq > 0 && index.bySeq.get(h.head.seq)?.hash !== h.head.hash);
    c.add(
      'audit log reaches every signed head',
      !bad,
      bad
        ? index.bySeq.has(bad.head.seq)
          ? `the audit log's row ${bad.head.seq} is not the one ${bad.where} was signed over: the log was rewritten`
          : `the audit log ends at row ${index.entries.length} but ${bad.where} was signed over row ${bad.head.seq}: the log was cut`
        : `${heads.length} signed head(s), the latest row ${Math.max(0, ...heads.map((h) => h.head.seq))}, are in the chain`,
    );
    // The log and the signatures must tell the same story: each sign-off logged, each logged sign-off present.
    const events = index.entries.filter((e) => e.subject === v.reportId);
    const logged = index.signOffs.filter((o) => o.reportId === v.reportId);
    const problems: string[] = [];
    if (!events.some((e) => e.action === 'report.created')) problems.push('the log lacks report.created');
    for (const s of valid)
      if (!logged.some((o) => o.payload === s.sha256 && o.action === ACTION_OF[s.meaning]))
        problems.push(`the ${s.meaning} is not in the log`);
    for (const o of logged)
      if (!valid.some((s) => s.sha256 === o.payload))
        problems.push(
          `the log records a ${STATE_OF_ACTION[o.action] === 'prepared' ? 'authorship' : (o.meaning ?? STATE_OF_ACTION[o.action])} (row ${o.seq}) whose signature is missing or invalid: it was deleted or altered`,
        );
    c.add(
      'audit log records the sign-offs',
      problems.length === 0,
      problems.length === 0
        ? ['report.created', ...logged.map((o) => o.action)].join(' → ')
        : `${problems[0]!}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`,
    );
    policyChecks(c, index, valid, v);
    // What the four-eyes rule rests on: two keys, made by two OS accounts.
    const reviewer = reviews[0];
    if (authorship && reviewer) {
      const a = accountOf(index, authorship.predicate.signer.keyid);
      const r = accountOf(index, reviewer.predicate.signer.keyid);
      const same = sameAccount(a ?? null, r ?? null);
      c.add(
        'four eyes',
        true,
        same
          ? `${authorship.predicate.signer.name} and ${reviewer.predicate.signer.name} were created by the same ${describeAccount(a ?? null)}: two keys, but nothing here shows two people`
          : a && r
            ? `two keys created by two OS accounts (${a.user}@${a.host}, ${r.user}@${r.host})`
            : `the OS accounts that created the two keys were not recorded: two keys, but nothing here shows two people`,
        same || !a || !r,
      );
    }
  }
  for (const r of v.records ?? []) c.add(r.check, !r.problem, r.problem ?? r.ok);
  const first = c.checks.find((x) => !x.ok);
  return {
    target: v.target,
    ok: !first,
    ...(first ? { problem: `${first.check}: ${first.detail}` } : {}),
    checks: c.checks,
    state,
    ...(head ? { logHead: head } : {}),
  };
}

const normalPem = (p: string | null | undefined): string => (p ?? '').replace(/\r/g, '').trim();

function attestationHeads(atts: AttestationInput[]): { where: string; head: LogHead }[] {
  const out: { where: string; head: LogHead }[] = [];
  for (const a of atts) {
    if ('error' in a.envelope) continue;
    try {
      const p = JSON.parse(Buffer.from(a.envelope.payload, 'base64').toString('utf8')) as {
        predicate?: { auditLog?: LogHead };
      };
      if (p.predicate?.auditLog) out.push({ where: a.where, head: p.predicate.auditLog });
    } catch {
      // reported by the attestation's own check
    }
  }
  return out;
}

/**
 * Each review was signed under the policy then in force (the latest policy.set before its log
 * row); under a policy that requires enrollment, its signer's key was enrolled before it signed.
 */
function policyChecks(c: Checker, index: LogIndex, valid: ValidSignOff[], v: VerifyInput): void {
  const policies = index.entries
    .filter((e) => e.action === 'policy.set')
    .map((e) => {
      let d: { version?: number; policy?: { requireEnrollment?: boolean }; payload?: string } = {};
      try {
        d = JSON.parse(e.details) as typeof d;
      } catch {
        // unreadable details are reported by the chain's own checks
      }
      return {
        seq: e.seq,
        version: d.version ?? 0,
        requireEnrollment: Boolean(d.policy?.requireEnrollment),
        payload: d.payload ?? null,
      };
    });
  for (const a of v.attestations ?? []) {
    if ('error' in a.envelope) {
      c.add(`${a.kind} (${a.where})`, false, a.envelope.error);
      continue;
    }
    if (typeof a.publicKeyPem !== 'string') {
      c.add(`${a.kind} (${a.where})`, false, a.publicKeyPem.error);
      continue;
    }
    const ok = verifyEnvelope(a.envelope, a.publicKeyPem, a.keyid);
    const payloadSha = sha(Buffer.from(a.envelope.payload, 'base64'));
    const logged = index.entries.some(
      (e) =>
        (e.action === 'identity.enrolled' || e.action === 'policy.set') &&
        e.details.includes(`"payload":"${payloadSha}"`),
    );
    c.add(
      `${a.kind} (${a.where})`,
      ok && logged,
      !ok
        ? `the ${a.kind} signature does not verify: it was altered`
        : !logged
          ? `the ${a.kind} is not in the audit log`
          : `signed by administrator key ${fingerprint(a.keyid)}, in the audit log`,
    );
  }
  for (const s of valid) {
    if (s.meaning === 'authorship') continue;
    const event = index.signOffs.find((o) => o.payload === s.sha256);
    if (!event) continue; // reported by "audit log records the sign-offs"
    const inForce = policies.filter((p) => p.seq < event.seq).pop();
    const ref = s.predicate.policy;
    const agrees = inForce ? ref?.version === inForce.version && ref.sha256 === inForce.payload : !ref;
    if (!agrees) {
      c.add(
        'policy',
        false,
        inForce
          ? `the ${s.meaning} was signed under policy version ${ref?.version ?? 'none'}, but version ${inForce.version} was in force: it was signed around the policy`
          : `the ${s.meaning} names policy version ${ref?.version} which the audit log does not hold: the policy was deleted`,
      );
      continue;
    }
    if (!inForce?.requireEnrollment) {
      c.add(
        'policy',
        true,
        inForce ? `policy version ${inForce.version}: enrollment not required` : 'no sign-off policy was set',
      );
      continue;
    }
    const enrolled = index.entries.find(
      (e) => e.action === 'identity.enrolled' && e.subject === s.predicate.signer.keyid,
    );
    const storeProblem = v.enrollment?.(s.predicate.signer.keyid);
    const ok = Boolean(enrolled && enrolled.seq < event.seq) && !storeProblem;
    c.add(
      'policy',
      ok,
      ok
        ? `policy version ${inForce.version} requires enrolled reviewers: ${s.predicate.signer.name}'s key was enrolled at audit log row ${enrolled!.seq}`
        : storeProblem
          ? `policy version ${inForce.version} requires enrolled reviewers: ${storeProblem}`
          : `policy version ${inForce.version} requires enrolled reviewers, and ${s.predicate.signer.name}'s key was not enrolled before the ${s.meaning}`,
    );
  }
}

function identityOf(
  store: Store,
  keyid: string,
): { name: string; role: string; keyid: string; publicKeyPem: string } | { keyid: string; error: string } {
  const r = store.db.prepare('SELECT id, name, role, public_key FROM identities WHERE id = ?').get(keyid) as
    { id: string; name: string; role: string; public_key: string } | undefined;
  return r
    ? { name: r.name, role: r.role, keyid: r.id, publicKeyPem: r.public_key }
    : { keyid, error: `the signer's identity (key ${fingerprint(keyid)}) is no longer stored: it was deleted` };
}

/** Everything about one stored report: signatures, link, state, rules, evidence, records, the audit chain. */
export function verifyStoredReport(
  store: Store,
  reportId: string,
  options: { expectHead?: LogHead } = {},
): Verification {
  const report = getReport(store, reportId);
  const index = logIndex(store.db);
  const entries = getEntries(store, report.runId);
  const rows = getGroupRows(store, report.runId);
  let groupsSha256: string;
  try {
    groupsSha256 = groupRowsDigest(
      rows.map((g) => ({ ...g, diagnosis: g.diagnosis ? (JSON.parse(g.diagnosis) as object) : null })),
    );
  } catch {
    groupsSha256 = 'unreadable';
  }
  const run = store.db.prepare('SELECT verdict, difference FROM runs WHERE id = ?').get(report.runId) as
    { verdict: string | null; difference: number | null } | undefined;
  const rawSigs = store.db
    .prepare(
      'SELECT id, identity_id, meaning, comment, signed_at, envelope FROM signatures WHERE report_id = ? ORDER BY id',
    )
    .all(reportId) as {
    id: number;
    identity_id: string;
    meaning: string;
    comment: string | null;
    signed_at: string;
    envelope: Buffer;
  }[];
  const policy = getPolicy(store);
  const keyids = new Set([report.author.keyid, ...rawSigs.map((s) => s.identity_id)]);
  const schema = schemaProblems(store.db);
  const records: VerifyInput['records'] = [
    {
      check: 'stored report and signatures',
      ok: 'the report row and its signature rows are as the audit log recorded them',
      ...optional(reportProblem(store.db, index, reportId)),
    },
    {
      check: 'stored run',
      ok: `run ${report.runId}, its results and artifacts are as the audit log recorded them`,
      ...optional(runProblem(store.db, index, report.runId)),
    },
    {
      check: 'stored identities',
      ok: "the signers' identities are as the audit log created them",
      ...optional([...keyids].map((k) => identityProblem(store.db, index, k)).find(Boolean)),
    },
    {
      check: 'sign-off policy',
      ok: policy.version ? `policy version ${policy.version} verifies` : 'no sign-off policy was set',
      ...optional(policy.problem),
    },
    {
      check: 'database schema',
      ok: 'every table, index and trigger is GradProof’s own, bodies compared',
      ...optional(schema.length ? `${schema.join('; ')}: the database's guards were changed` : undefined),
    },
  ];
  return verifyInput({
    target: `report ${reportId}`,
    reportId,
    body: report.body,
    storedSha256: report.sha256,
    claimedState: report.storedState,
    claimedStateWhere: 'the stored state',
    signatures: rawSigs.map((s) => {
      let envelope: SignatureInput['envelope'];
      try {
        envelope = parseEnvelope(s.envelope, `the stored ${s.meaning} envelope`);
      } catch (err) {
        envelope = { error: `${(err as Error).message}: it was altered` };
      }
      return {
        meaning: s.meaning,
        where: `signature ${s.id}`,
        envelope,
        identity: identityOf(store, s.identity_id),
        storedSignedAt: s.signed_at,
        storedComment: s.comment,
      };
    }),
    log: index.entries,
    evidence: {
      groupsSha256,
      entriesSha256: entries?.actualSha256 ?? null,
      entriesStoredSha256: entries?.sha256 ?? null,
      verdict: run?.verdict ?? null,
      difference: run?.difference ?? null,
    },
    records,
    enrollment: (keyid) => enrollmentProblem(store, keyid),
    ...(options.expectHead ? { expectHead: options.expectHead } : {}),
  });
}

const optional = (problem: string | undefined): { problem?: string } => (problem ? { problem } : {});

/** With no report named: the whole database against the log, then every report. */
export function verifyStore(store: Store, options: { expectHead?: LogHead } = {}): Verification[] {
  const ids = (store.db.prepare('SELECT id FROM reports ORDER BY created_at').all() as { id: string }[]).map(
    (r) => r.id,
  );
  const index = logIndex(store.db);
  const findings = storeFindings(store.db);
  const checks: Check[] = [
    {
      check: 'audit log chain',
      ok: index.chain.ok,
      detail: index.chain.ok
        ? `${index.chain.rows} rows, head ${index.chain.head.seq} ${index.chain.head.hash.slice(0, 16)}…`
        : index.chain.problem!,
    },
  ];
  if (options.expectHead) {
    const h = options.expectHead;
    const ok = index.bySeq.get(h.seq)?.hash === h.hash;
    checks.push({
      check: 'audit log reaches the head you gave',
      ok,
      detail: ok
        ? `row ${h.seq} is ${h.hash.slice(0, 16)}…`
        : index.bySeq.has(h.seq)
          ? `row ${h.seq} is not the row you recorded: the log was rewritten`
          : `the log ends at row ${index.entries.length}, before row ${h.seq}: it was cut`,
    });
  }
  const schema = findings.filter((f) => f.subject === 'database schema');
  checks.push({
    check: 'database schema',
    ok: schema.length === 0,
    detail: schema.length
      ? `${schema.map((f) => f.problem).join('; ')}: the database's guards were changed`
      : 'every table, index and trigger is GradProof’s own, bodies compared',
  });
  const rest = findings.filter((f) => f.subject !== 'database schema' && f.subject !== 'audit log');
  checks.push({
    check: 'stored records',
    ok: rest.length === 0,
    detail: rest.length
      ? `${rest[0]!.problem}${
          rest.length > 1
            ? ` (and ${rest.length - 1} more: ${rest
                .slice(1, 4)
                .map((f) => f.subject)
                .join(', ')}${rest.length > 4 ? ', …' : ''})`
            : ''
        }`
      : 'every run, artifact, identity, report, signature, enrollment and policy is as the audit log recorded it',
  });
  const policy = getPolicy(store);
  checks.push({
    check: 'sign-off policy',
    ok: !policy.problem,
    detail:
      policy.problem ?? (policy.version ? `policy version ${policy.version} verifies` : 'no sign-off policy was set'),
  });
  const first = checks.find((x) => !x.ok);
  return [
    {
      target: 'database',
      ok: !first,
      ...(first ? { problem: `${first.check}: ${first.detail}` } : {}),
      checks,
      ...(index.chain.ok ? { logHead: index.chain.head } : {}),
    },
    ...ids.map((id) => verifyStoredReport(store, id, options)),
  ];
}
