import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  scryptSync,
  type KeyObject,
} from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { Store } from '../store/database.js';
import { appendAudit } from '../store/audit-log.js';
import { logIndex } from '../store/log-index.js';
import { identityProblem } from '../store/integrity.js';
import { rowDigest } from '../store/seals.js';
import { fingerprint, keyIdOf } from './dsse.js';
import { getPolicy } from './policy.js';
import type { AccountRef } from '../../core/report/statement.js';
import { passphraseProblem } from '../../core/identity/passphrase-strength.js';
import { InputError, NotFoundError } from '../../core/errors.js';
import { hasUnprintable } from '../../core/identity/unprintable.js';

export type Role = 'engineer' | 'reviewer' | 'administrator';
export const ROLES: readonly Role[] = ['engineer', 'reviewer', 'administrator'];

export interface Identity {
  id: string;
  name: string;
  role: Role;
  publicKey: string;
  fingerprint: string;
  createdAt: string;
  /** The OS account that created it (null: made before GradProof recorded accounts). */
  account: AccountRef | null;
  /** Other identities created by the same OS account: the same person, as far as the machine knows. */
  sameAccountAs: string[];
  /** Whether the stored identity is the one the audit log created (listIdentities fills it in). */
  integrity?: { ok: boolean; problem?: string };
}

/**
 * scrypt at OWASP's recommended strength (N=2^17, r=8, p=1: 128 MiB and about 0.4 s per
 * unlock). Records made with other parameters still unlock, within the bounds below.
 */
export const KDF = { N: 2 ** 17, r: 8, p: 1, keylen: 32 } as const;

/**
 * What a stored key record may ask of scrypt. A record is data anyone with the file can edit:
 * N=2^30 would ask for 128 GiB. Below 2^14 the key would be too cheap to guess.
 */
export const KDF_BOUNDS = { minLogN: 14, maxLogN: 20, maxR: 32, maxP: 16, maxMemory: 512 * 2 ** 20 } as const;

interface KdfRecord {
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  cipher: 'aes-256-gcm';
  iv: string;
  tag: string;
}

/** The memory scrypt needs (OpenSSL's accounting: 128·r·(N+2) for V, 128·r·p for B), plus slack. */
export function scryptMaxmem(N: number, r: number, p: number): number {
  return 128 * r * (N + 2) + 128 * r * p + 1024 * 1024;
}

function deriveKey(passphrase: string, salt: Buffer, k: { N: number; r: number; p: number }): Buffer {
  return scryptSync(passphrase.normalize('NFC'), salt, KDF.keylen, {
    N: k.N,
    r: k.r,
    p: k.p,
    maxmem: scryptMaxmem(k.N, k.r, k.p),
  });
}

/** A stored key record, checked before scrypt is asked for anything. */
export function readKdfRecord(text: string, who: string): KdfRecord {
  const bad = (why: string): InputError =>
    new InputError(
      `identity ${who}: its stored key record ${why}; the record was altered or written by another program, and GradProof will not use it`,
    );
  let k: KdfRecord;
  try {
    k = JSON.parse(text) as KdfRecord;
  } catch {
    throw bad('is not readable JSON');
  }
  if (!k || typeof k !== 'object') throw bad('is not an object');
  if (k.kdf !== 'scrypt' || k.cipher !== 'aes-256-gcm') throw bad('names a method other than scrypt and AES-256-GCM');
  const { N, r, p } = k;
  if (!Number.isSafeInteger(N) || N < 2 || (N & (N - 1)) !== 0)
    throw bad(`asks scrypt for N=${String(N)}, not a power of two`);
  const logN = Math.log2(N);
  if (logN < KDF_BOUNDS.minLogN || logN > KDF_BOUNDS.maxLogN)
    throw bad(
      `asks scrypt for N=2^${logN}; GradProof accepts N from 2^${KDF_BOUNDS.minLogN} to 2^${KDF_BOUNDS.maxLogN}`,
    );
  if (!Number.isSafeInteger(r) || r < 1 || r > KDF_BOUNDS.maxR)
    throw bad(`asks scrypt for r=${String(r)} (1 to ${KDF_BOUNDS.maxR})`);
  if (!Number.isSafeInteger(p) || p < 1 || p > KDF_BOUNDS.maxP)
    throw bad(`asks scrypt for p=${String(p)} (1 to ${KDF_BOUNDS.maxP})`);
  const mem = scryptMaxmem(N, r, p);
  if (mem > KDF_BOUNDS.maxMemory)
    throw bad(
      `asks scrypt for ${Math.round(mem / 2 ** 20)} MiB of memory; GradProof allows up to ${KDF_BOUNDS.maxMemory / 2 ** 20} MiB`,
    );
  const b64 = (v: unknown, len: number, what: string): void => {
    if (typeof v !== 'string' || Buffer.from(v, 'base64').length !== len)
      throw bad(`has a ${what} that is not ${len} bytes`);
  };
  if (typeof k.salt !== 'string' || Buffer.from(k.salt, 'base64').length < 16)
    throw bad('has a salt shorter than 16 bytes');
  b64(k.iv, 12, 'nonce');
  b64(k.tag, 16, 'tag');
  return k;
}

/** A passphrase for a new key: refused with the reason when it is too easy to guess. */
export function validatePassphrase(passphrase: string, name?: string): void {
  const problem = passphraseProblem(passphrase, name);
  if (problem) throw new InputError(problem, 'passphrase');
}

export function validateName(name: string): void {
  if (!/^\S(.{0,78}\S)?$/su.test(name))
    throw new InputError('the name must be 1 to 80 characters, not starting or ending with a space', 'name');
  if (hasUnprintable(name))
    throw new InputError('the name may not hold control characters or text-direction marks', 'name');
}

export function currentAccount(): AccountRef {
  try {
    const u = userInfo();
    return { user: u.username, uid: u.uid, host: hostname() };
  } catch {
    // No passwd entry (some containers): the uid still tells accounts apart.
    return { user: 'unknown', uid: typeof process.getuid === 'function' ? process.getuid() : -1, host: hostname() };
  }
}

export const sameAccount = (a: AccountRef | null, b: AccountRef | null): boolean =>
  a !== null && b !== null && a.host === b.host && (a.uid >= 0 && b.uid >= 0 ? a.uid === b.uid : a.user === b.user);

export const describeAccount = (a: AccountRef | null): string =>
  a
    ? `OS account ${a.user} (uid ${a.uid}) on ${a.host}`
    : 'an OS account GradProof did not record (made before it recorded accounts)';

interface IdentityRow {
  id: string;
  name: string;
  role: Role;
  public_key: string;
  encrypted_private_key: Buffer;
  kdf: string;
  created_at: string;
  account: string | null;
}

function parseAccount(text: string | null | undefined): AccountRef | null {
  if (!text) return null;
  try {
    const a = JSON.parse(text) as AccountRef;
    return a && typeof a.host === 'string' && typeof a.user === 'string' && typeof a.uid === 'number' ? a : null;
  } catch {
    return null;
  }
}

function toIdentity(r: IdentityRow, all?: IdentityRow[]): Identity {
  const account = parseAccount(r.account);
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    publicKey: r.public_key,
    fingerprint: fingerprint(r.id),
    createdAt: r.created_at,
    account,
    sameAccountAs: (all ?? [])
      .filter((o) => o.id !== r.id && sameAccount(parseAccount(o.account), account))
      .map((o) => o.name),
  };
}

function allRows(store: Store): IdentityRow[] {
  return store.db.prepare('SELECT * FROM identities ORDER BY created_at, name').all() as IdentityRow[];
}

export function listIdentities(store: Store): Identity[] {
  const rows = allRows(store);
  const index = logIndex(store.db);
  return rows.map((r) => {
    const problem = identityProblem(store.db, index, r.id);
    return { ...toIdentity(r, rows), integrity: problem ? { ok: false, problem } : { ok: true } };
  });
}

/**
 * A new Ed25519 identity; its private key is stored only encrypted (scrypt + AES-256-GCM).
 * The OS account creating it is recorded with it: a second identity made by the same account
 * is shown as such wherever it signs, or refused when the sign-off policy allows one identity
 * per account.
 */
export function createIdentity(store: Store, name: string, role: Role, passphrase: string): Identity {
  validateName(name);
  if (!ROLES.includes(role)) throw new InputError(`the role must be one of ${ROLES.join(', ')}`, 'role');
  validatePassphrase(passphrase, name);
  if (store.db.prepare('SELECT 1 FROM identities WHERE name = ?').get(name))
    throw new InputError(`an identity named "${name}" exists already; choose another name`, 'name');
  const before = logIndex(store.db).identities.find((i) => i.name === name);
  if (before)
    throw new InputError(
      `the name "${name}" was given to another key before (audit log row ${before.seq}); a name stays with its first key: choose another name`,
      'name',
    );
  const account = currentAccount();
  const mine = allRows(store).filter((r) => sameAccount(parseAccount(r.account), account));
  const policy = getPolicy(store);
  if (policy.problem)
    throw new InputError(`the sign-off policy does not verify (${policy.problem}); run gradproof verify`);
  if (mine.length && policy.document.oneIdentityPerAccount)
    throw new InputError(
      `the sign-off policy allows one identity per OS account, and ${describeAccount(account)} already holds ${mine.map((m) => m.name).join(', ')}`,
    );
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const id = keyIdOf(publicKey);
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = deriveKey(passphrase, salt, KDF);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(id)); // the ciphertext belongs to this key id only
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const encrypted = Buffer.concat([cipher.update(der), cipher.final()]);
  const kdf: KdfRecord = {
    kdf: 'scrypt',
    N: KDF.N,
    r: KDF.r,
    p: KDF.p,
    salt: salt.toString('base64'),
    cipher: 'aes-256-gcm',
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  };
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const createdAt = new Date().toISOString();
  store.db.transaction(() => {
    store.db
      .prepare(
        'INSERT INTO identities (id, name, role, public_key, encrypted_private_key, kdf, created_at, account) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(id, name, role, pem, encrypted, JSON.stringify(kdf), createdAt, JSON.stringify(account));
    const row = store.db.prepare('SELECT * FROM identities WHERE id = ?').get(id) as Record<string, unknown>;
    appendAudit(store.db, 'identity.created', id, {
      name,
      role,
      publicKey: pem,
      account,
      ...(mine.length ? { sameAccountAs: mine.map((m) => m.id) } : {}),
      row: rowDigest('identities', row),
    });
  })();
  const rows = allRows(store);
  return toIdentity(
    rows.find((r) => r.id === id)!,
    rows,
  );
}

/** By name, by full key id, or by a key-id prefix of at least 8 hex digits. */
export function findIdentity(store: Store, nameOrId: string): Identity {
  const rows = store.db
    .prepare(`SELECT * FROM identities WHERE name = ? OR id = ? OR (length(?) >= 8 AND id LIKE ? || '%')`)
    .all(nameOrId, nameOrId.toLowerCase(), nameOrId, nameOrId.toLowerCase()) as IdentityRow[];
  if (rows.length === 0) {
    const names = listIdentities(store).map((i) => i.name);
    throw new NotFoundError(
      `no identity "${nameOrId}"${names.length ? `; identities are ${names.join(', ')}` : '; create one with: gradproof identity create --name NAME --role engineer|reviewer'}`,
    );
  }
  if (rows.length > 1)
    throw new InputError(`"${nameOrId}" matches ${rows.length} identities; give the full name or key id`);
  return toIdentity(rows[0]!, allRows(store));
}

export function getIdentity(store: Store, id: string): Identity | undefined {
  const rows = allRows(store);
  const r = rows.find((x) => x.id === id);
  return r ? toIdentity(r, rows) : undefined;
}

/**
 * Decrypt the private key for one signing; a wrong passphrase fails the GCM tag and is
 * appended to the audit log (who, for what), so repeated guessing is on the record.
 */
export function unlockIdentity(store: Store, id: string, passphrase: string, purpose = 'signing'): KeyObject {
  const row = store.db.prepare('SELECT * FROM identities WHERE id = ?').get(id) as IdentityRow | undefined;
  if (!row) throw new NotFoundError(`no identity with key id ${id}`);
  const k = readKdfRecord(row.kdf, row.name);
  const key = deriveKey(passphrase, Buffer.from(k.salt, 'base64'), k);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(k.iv, 'base64'));
    decipher.setAAD(Buffer.from(row.id));
    decipher.setAuthTag(Buffer.from(k.tag, 'base64'));
    const der = Buffer.concat([decipher.update(row.encrypted_private_key), decipher.final()]);
    const priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    if (keyIdOf(createPublicKey(priv)) !== row.id) throw new Error('key mismatch');
    return priv;
  } catch {
    if (!store.readonly)
      store.db.transaction(() =>
        appendAudit(store.db, 'identity.unlock_failed', row.id, { name: row.name, purpose, account: currentAccount() }),
      )();
    throw new InputError(`wrong passphrase for ${row.name}`, 'passphrase');
  }
}
