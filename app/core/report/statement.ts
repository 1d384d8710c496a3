import canonicalize from 'canonicalize';
import type { CheckResult } from '../check/result.js';

/** in-toto Statement v1 and GradProof's two predicate types. */
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const AUDIT_PREDICATE = 'https://gradproof.dev/attestations/gradient-audit/v1';
export const SIGNOFF_PREDICATE = 'https://gradproof.dev/attestations/sign-off/v1';

export interface ResourceDescriptor {
  name: string;
  digest: { sha256: string };
}

export interface Statement<P> {
  _type: typeof STATEMENT_TYPE;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate: P;
}

export interface SignerRef {
  name: string;
  role: 'engineer' | 'reviewer' | 'administrator';
  keyid: string;
}

export interface LogHeadRef {
  seq: number;
  hash: string;
}

export interface AuditPredicate {
  report: { id: string; createdAt: string; author: SignerRef };
  run: { id: string; startedAt: string; finishedAt: string | null; seconds: number | null };
  provenance: {
    model: { name: string; ref: string };
    weights: { source: string };
    dataset: { ref: string; examples: number; features: number; transform?: string };
    implementation: { kind: string; ref: string; defects?: string[] };
  };
  settings: Record<string, unknown>;
  result: CheckResult;
  /** Digests of the stored per-group rows and per-entry evidence, so tampering with either shows. */
  evidence: { groupsSha256: string; entries: { count: number; sha256: string } };
  environment: Record<string, unknown>;
  /** The audit log's head when the report was made: the log up to here is covered. */
  auditLog: LogHeadRef;
}

export type Meaning = 'authorship' | 'approval' | 'rejection';

export interface SignOffPredicate {
  reportId: string;
  meaning: Meaning;
  comment?: string;
  signer: SignerRef;
  signedAt: string;
  auditLog: LogHeadRef;
  /** SHA-256 of the payloads of the sign-offs this one follows (the author's, for an approval). */
  follows: string[];
  /** The sign-off policy in force when this was signed (absent: none had been set). */
  policy?: PolicyRef;
}

/** JSON as stored and signed: RFC 8785 (JCS) canonical form; non-finite numbers become null first. */
export function canonicalBytes(value: unknown): Uint8Array {
  const plain = JSON.parse(JSON.stringify(value)) as unknown;
  return new TextEncoder().encode(canonicalize(plain)!);
}

export function auditStatement(subjects: ResourceDescriptor[], predicate: AuditPredicate): Statement<AuditPredicate> {
  return { _type: STATEMENT_TYPE, subject: subjects, predicateType: AUDIT_PREDICATE, predicate };
}

export function signOffStatement(
  reportId: string,
  reportSha256: string,
  predicate: SignOffPredicate,
): Statement<SignOffPredicate> {
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name: `report:${reportId}`, digest: { sha256: reportSha256 } }],
    predicateType: SIGNOFF_PREDICATE,
    predicate,
  };
}

/** Who may do what: the sign-off rules, shared by the transition and the verifier. */
export function signOffRule(meaning: Meaning, signer: SignerRef, author: SignerRef): string | undefined {
  if (meaning === 'authorship')
    return signer.keyid === author.keyid ? undefined : `only the report's author (${author.name}) signs it as author`;
  if (signer.role !== 'reviewer')
    return `${signer.name} has the role ${signer.role}; only a reviewer may ${meaning === 'approval' ? 'approve' : 'reject'} a report`;
  if (signer.keyid === author.keyid || signer.name === author.name)
    return `${signer.name} wrote this report and cannot ${meaning === 'approval' ? 'approve' : 'reject'} it; a second person must`;
  return undefined;
}

/** An administrator's signed word that a key is the named person's, in the role named. */
export const ENROLLMENT_PREDICATE = 'https://gradproof.dev/attestations/enrollment/v1';
/** A sign-off policy, signed by an administrator. */
export const POLICY_PREDICATE = 'https://gradproof.dev/attestations/policy/v1';

/** The OS account that created an identity: who was at the keyboard, as far as the machine knows. */
export interface AccountRef {
  user: string;
  uid: number;
  host: string;
}

export interface EnrollmentPredicate {
  identity: { name: string; role: string; keyid: string; account: AccountRef | null };
  admin: { name: string; role: string; keyid: string };
  enrolledAt: string;
  auditLog: LogHeadRef;
}

export interface PolicyDocument {
  /** Reviewers (approval, rejection) must hold a key enrolled by an administrator. */
  requireEnrollment: boolean;
  /** An OS account may hold only one identity. */
  oneIdentityPerAccount: boolean;
}

export const DEFAULT_POLICY: PolicyDocument = { requireEnrollment: false, oneIdentityPerAccount: false };

export interface PolicyPredicate {
  version: number;
  policy: PolicyDocument;
  admin: { name: string; role: string; keyid: string };
  setAt: string;
  /** SHA-256 of the previous version's signed payload (none for the first). */
  previous: string | null;
  auditLog: LogHeadRef;
}

/** The policy a sign-off was made under: its version and the SHA-256 of its signed payload. */
export interface PolicyRef {
  version: number;
  sha256: string;
}
