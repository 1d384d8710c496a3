import canonicalize from 'canonicalize';
import {
  DEFAULT_POLICY,
  ENROLLMENT_PREDICATE,
  type EnrollmentPredicate,
  POLICY_PREDICATE,
  type PolicyDocument,
  type PolicyPredicate,
  type PolicyRef,
  STATEMENT_TYPE,
  type Statement,
  canonicalBytes,
} from '../../core/report/statement.js';
import { appendAudit, logHead } from '../store/audit-log.js';
import type { Store } from '../store/database.js';
import { identityProblem, sealedRowProblem } from '../store/integrity.js';
import { logIndex } from '../store/log-index.js';
import { hasColumn, rowDigest } from '../store/seals.js';
import { sha256Hex } from '../util/hash.js';
import { type DsseEnvelope, fingerprint, signEnvelope, verifyEnvelope } from './dsse.js';
import { type Identity, findIdentity, getIdentity, unlockIdentity } from './identities.js';
import { InputError } from '../../core/errors.js';

/**
 * Who may sign off is a policy an administrator signs: whether reviewers need keys enrolled
 * by an administrator, and whether an OS account may hold more than one identity. The first
 * administrator to sign a policy is its root; after that only the root, or administrators the
 * root (or an administrator it enrolled) enrolled, may change it or enroll keys.
 */

export interface PolicyState {
  document: PolicyDocument;
  /** 0 while no policy was ever set (the defaults apply). */
  version: number;
  ref?: PolicyRef;
  admin?: { id: string; name: string; fingerprint: string };
  root?: { id: string; name: string; fingerprint: string };
  setAt?: string;
  /** Set when the stored policy does not verify: then nobody may sign off until it is resolved. */
  problem?: string;
}

interface PolicyRow {
  version: number;
  document: string;
  admin_id: string;
  set_at: string;
  envelope: Buffer;
}

interface EnrollmentRow {
  identity_id: string;
  admin_id: string;
  enrolled_at: string;
  envelope: Buffer;
}

export function parseEnvelope(bytes: Buffer | Uint8Array, what: string): DsseEnvelope {
  let e: DsseEnvelope;
  try {
    e = JSON.parse(Buffer.from(bytes).toString('utf8')) as DsseEnvelope;
  } catch {
    throw new Error(`${what} is not readable JSON`);
  }
  if (
    !e ||
    typeof e.payload !== 'string' ||
    typeof e.payloadType !== 'string' ||
    !Array.isArray(e.signatures) ||
    !e.signatures.every((s) => s && typeof s.keyid === 'string' && typeof s.sig === 'string')
  )
    throw new Error(`${what} is not a DSSE envelope`);
  return e;
}

function payloadOf<P>(e: DsseEnvelope): { statement: Statement<P>; sha256: string } {
  const bytes = Buffer.from(e.payload, 'base64');
  return { statement: JSON.parse(bytes.toString('utf8')) as Statement<P>, sha256: sha256Hex(bytes) };
}

const who = (i: { id: string; name: string }): { id: string; name: string; fingerprint: string } => ({
  id: i.id,
  name: i.name,
  fingerprint: fingerprint(i.id),
});

function policyRows(store: Store): PolicyRow[] {
  if (!hasColumn(store.db, 'policies', 'version')) return [];
  return store.db.prepare('SELECT * FROM policies ORDER BY version').all() as PolicyRow[];
}

/** Whether an enrollment row verifies: the administrator's signature over this identity's key, name and role. */
export function enrollmentProblem(store: Store, identityId: string, seen = new Set<string>()): string | undefined {
  if (!hasColumn(store.db, 'enrollments', 'identity_id')) return 'this database holds no enrollments';
  const row = store.db.prepare('SELECT * FROM enrollments WHERE identity_id = ?').get(identityId) as
    EnrollmentRow | undefined;
  const ident = getIdentity(store, identityId);
  if (!row) return `${ident?.name ?? fingerprint(identityId)} was not enrolled by an administrator`;
  const sealed = sealedRowProblem(store.db, logIndex(store.db), 'enrollments', identityId);
  if (sealed) return sealed;
  const admin = getIdentity(store, row.admin_id);
  if (!admin || !ident) return 'the enrollment names an identity that is not stored';
  try {
    const env = parseEnvelope(row.envelope, 'the enrollment');
    if (!verifyEnvelope(env, admin.publicKey, admin.id)) return `the enrollment of ${ident.name} does not verify`;
    const { statement } = payloadOf<EnrollmentPredicate>(env);
    const p = statement.predicate;
    if (
      statement.predicateType !== ENROLLMENT_PREDICATE ||
      p.identity.keyid !== ident.id ||
      p.identity.name !== ident.name ||
      p.identity.role !== ident.role ||
      p.admin.keyid !== admin.id
    )
      return `the enrollment of ${ident.name} was signed for another key, name or role`;
  } catch (err) {
    return (err as Error).message;
  }
  return adminProblem(store, admin, new Set([...seen, identityId]));
}

/** Whether an administrator may act: role, record intact, and (once a policy exists) rooted in the policy's root. */
export function adminProblem(store: Store, admin: Identity, seen = new Set<string>()): string | undefined {
  if (admin.role !== 'administrator') return `${admin.name} has the role ${admin.role}, not administrator`;
  const rec = identityProblem(store.db, logIndex(store.db), admin.id);
  if (rec) return rec;
  const rows = policyRows(store);
  if (rows.length === 0 || rows[0]!.admin_id === admin.id) return undefined;
  if (seen.has(admin.id)) return `administrator ${admin.name}'s enrollment goes round in a circle`;
  const e = enrollmentProblem(store, admin.id, new Set([...seen, admin.id]));
  return e ? `administrator ${admin.name} is not the policy's root and ${e}` : undefined;
}

/** The policy in force, checked: its signature, its record in the log, and its chain of versions. */
export function getPolicy(store: Store): PolicyState {
  const rows = policyRows(store);
  if (rows.length === 0) {
    const logged = logIndex(store.db).entries.find((e) => e.action === 'policy.set');
    return logged
      ? {
          document: DEFAULT_POLICY,
          version: 0,
          problem: `the audit log records a policy (row ${logged.seq}) but none is stored: it was deleted`,
        }
      : { document: DEFAULT_POLICY, version: 0 };
  }
  const index = logIndex(store.db);
  let previous: string | null = null;
  let state: PolicyState = { document: DEFAULT_POLICY, version: 0 };
  const root = getIdentity(store, rows[0]!.admin_id);
  for (const [i, row] of rows.entries()) {
    const fail = (problem: string): PolicyState => ({ ...state, problem });
    if (row.version !== i + 1) return fail(`policy version ${i + 1} is missing: it was deleted`);
    const sealed = sealedRowProblem(store.db, index, 'policies', row.version);
    if (sealed) return fail(sealed);
    const admin = getIdentity(store, row.admin_id);
    if (!admin) return fail(`policy version ${row.version} was signed by an identity that is not stored`);
    let env: DsseEnvelope;
    let payload: { statement: Statement<PolicyPredicate>; sha256: string };
    let stored: unknown;
    try {
      env = parseEnvelope(row.envelope, `policy version ${row.version}`);
      payload = payloadOf<PolicyPredicate>(env);
      stored = JSON.parse(row.document) as unknown;
    } catch (err) {
      return fail((err as Error).message);
    }
    if (!verifyEnvelope(env, admin.publicKey, admin.id))
      return fail(`policy version ${row.version}'s signature does not verify`);
    const p = payload.statement.predicate;
    if (
      payload.statement.predicateType !== POLICY_PREDICATE ||
      p.version !== row.version ||
      p.previous !== previous ||
      canonicalize(p.policy) !== canonicalize(stored)
    )
      return fail(`policy version ${row.version} differs from what its administrator signed`);
    const standing = i === 0 ? undefined : adminProblem(store, admin);
    if (i === 0 && admin.role !== 'administrator')
      return fail(`the first policy was signed by ${admin.name}, not an administrator`);
    if (standing) return fail(`policy version ${row.version}: ${standing}`);
    previous = payload.sha256;
    state = {
      document: p.policy,
      version: row.version,
      ref: { version: row.version, sha256: payload.sha256 },
      admin: who(admin),
      ...(root ? { root: who(root) } : {}),
      setAt: row.set_at,
    };
  }
  return state;
}

function signedStatement<P>(
  predicateType: string,
  subject: { name: string; sha256: string },
  predicate: P,
): Uint8Array {
  return canonicalBytes({
    _type: STATEMENT_TYPE,
    subject: [{ name: subject.name, digest: { sha256: subject.sha256 } }],
    predicateType,
    predicate,
  });
}

/** Set (a new version of) the sign-off policy, signed by an administrator in good standing. */
export function setPolicy(
  store: Store,
  change: Partial<PolicyDocument>,
  adminRef: string,
  passphrase: string,
): PolicyState {
  const admin = findIdentity(store, adminRef);
  const current = getPolicy(store);
  if (current.problem)
    throw new InputError(`the stored policy does not verify (${current.problem}); run gradproof verify`);
  const standing = adminProblem(store, admin);
  if (standing) throw new InputError(`${admin.name} may not set the policy: ${standing}`);
  const document: PolicyDocument = { ...current.document, ...change };
  const version = current.version + 1;
  const key = unlockIdentity(store, admin.id, passphrase, `set policy version ${version}`);
  const setAt = new Date().toISOString();
  store.db.transaction(() => {
    const predicate: PolicyPredicate = {
      version,
      policy: document,
      admin: { name: admin.name, role: admin.role, keyid: admin.id },
      setAt,
      previous: current.ref?.sha256 ?? null,
      auditLog: logHead(store.db),
    };
    const payload = signedStatement(
      POLICY_PREDICATE,
      { name: `policy:${version}`, sha256: sha256Hex(JSON.stringify(document)) },
      predicate,
    );
    const envelope = signEnvelope(payload, key, admin.id);
    store.db
      .prepare('INSERT INTO policies (version, document, admin_id, set_at, envelope) VALUES (?, ?, ?, ?, ?)')
      .run(version, JSON.stringify(document), admin.id, setAt, Buffer.from(JSON.stringify(envelope)));
    const row = store.db.prepare('SELECT * FROM policies WHERE version = ?').get(version) as Record<string, unknown>;
    appendAudit(
      store.db,
      'policy.set',
      `policy:${version}`,
      { version, policy: document, admin: admin.id, payload: sha256Hex(payload), row: rowDigest('policies', row) },
      admin.id,
    );
  })();
  return getPolicy(store);
}

/** An administrator signs that an identity's key belongs to the person and role it names. */
export function enrollIdentity(store: Store, identityRef: string, adminRef: string, passphrase: string): Identity {
  const ident = findIdentity(store, identityRef);
  const admin = findIdentity(store, adminRef);
  if (admin.id === ident.id) throw new InputError(`${admin.name} cannot enroll itself; another administrator must`);
  const standing = adminProblem(store, admin);
  if (standing) throw new InputError(`${admin.name} may not enroll keys: ${standing}`);
  const rec = identityProblem(store.db, logIndex(store.db), ident.id);
  if (rec) throw new InputError(`${ident.name} cannot be enrolled: ${rec}`);
  if (store.db.prepare('SELECT 1 FROM enrollments WHERE identity_id = ?').get(ident.id))
    throw new InputError(`${ident.name} is enrolled already`);
  const key = unlockIdentity(store, admin.id, passphrase, `enroll ${ident.name}`);
  const enrolledAt = new Date().toISOString();
  store.db.transaction(() => {
    const predicate: EnrollmentPredicate = {
      identity: { name: ident.name, role: ident.role, keyid: ident.id, account: ident.account },
      admin: { name: admin.name, role: admin.role, keyid: admin.id },
      enrolledAt,
      auditLog: logHead(store.db),
    };
    const payload = signedStatement(
      ENROLLMENT_PREDICATE,
      { name: `identity:${ident.id}`, sha256: ident.id },
      predicate,
    );
    const envelope = signEnvelope(payload, key, admin.id);
    store.db
      .prepare('INSERT INTO enrollments (identity_id, admin_id, enrolled_at, envelope) VALUES (?, ?, ?, ?)')
      .run(ident.id, admin.id, enrolledAt, Buffer.from(JSON.stringify(envelope)));
    const row = store.db.prepare('SELECT * FROM enrollments WHERE identity_id = ?').get(ident.id) as Record<
      string,
      unknown
    >;
    appendAudit(
      store.db,
      'identity.enrolled',
      ident.id,
      { name: ident.name, admin: admin.id, payload: sha256Hex(payload), row: rowDigest('enrollments', row) },
      admin.id,
    );
  })();
  return ident;
}

/** The enrollment of an identity as shown: who enrolled it, when, and whether it verifies. */
export function enrollmentOf(
  store: Store,
  identityId: string,
): { admin: { id: string; name: string; fingerprint: string }; enrolledAt: string; problem?: string } | undefined {
  if (!hasColumn(store.db, 'enrollments', 'identity_id')) return undefined;
  const row = store.db.prepare('SELECT * FROM enrollments WHERE identity_id = ?').get(identityId) as
    EnrollmentRow | undefined;
  if (!row) return undefined;
  const admin = getIdentity(store, row.admin_id);
  const problem = enrollmentProblem(store, identityId);
  return {
    admin: admin ? who(admin) : { id: row.admin_id, name: '(not stored)', fingerprint: fingerprint(row.admin_id) },
    enrolledAt: row.enrolled_at,
    ...(problem ? { problem } : {}),
  };
}
