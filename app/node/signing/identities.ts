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
import type { Store } from '../store/database.js';
import { appendAudit } from '../store/audit-log.js';
import { fingerprint, keyIdOf } from './dsse.js';
import { InputError, NotFoundError } from '../../core/errors.js';

export type Role = 'engineer' | 'reviewer';

export interface Identity {
  id: string;
  name: string;
  role: Role;
  publicKey: string;
  fingerprint: string;
  createdAt: string;
}

/** scrypt work factor: ~0.1 s and 32 MiB per unlock, per OWASP's guidance for scrypt. */
const KDF = { N: 2 ** 15, r: 8, p: 1, keylen: 32 } as const;

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

function deriveKey(passphrase: string, salt: Buffer, k: { N: number; r: number; p: number }): Buffer {
  return scryptSync(passphrase.normalize('NFC'), salt, KDF.keylen, {
    N: k.N,
    r: k.r,
    p: k.p,
    maxmem: 128 * k.N * k.r * 2,
  });
}

export function validatePassphrase(passphrase: string): void {
  if (passphrase.length < 8) throw new InputError('the passphrase must be at least 8 characters');
}

/** A new Ed25519 identity; its private key is stored only encrypted (scrypt + AES-256-GCM). */
export function createIdentity(store: Store, name: string, role: Role, passphrase: string): Identity {
  if (!/^\S(.{0,78}\S)?$/.test(name))
    throw new InputError('the name must be 1 to 80 characters, not starting or ending with a space');
  if (role !== 'engineer' && role !== 'reviewer') throw new InputError('the role must be engineer or reviewer');
  validatePassphrase(passphrase);
  if (store.db.prepare('SELECT 1 FROM identities WHERE name = ?').get(name))
    throw new InputError(`an identity named "${name}" exists already; choose another name`);
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
        'INSERT INTO identities (id, name, role, public_key, encrypted_private_key, kdf, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(id, name, role, pem, encrypted, JSON.stringify(kdf), createdAt);
    appendAudit(store.db, 'identity.created', id, { name, role, publicKey: pem });
  })();
  return { id, name, role, publicKey: pem, fingerprint: fingerprint(id), createdAt };
}

interface IdentityRow {
  id: string;
  name: string;
  role: Role;
  public_key: string;
  encrypted_private_key: Buffer;
  kdf: string;
  created_at: string;
}

function toIdentity(r: IdentityRow): Identity {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    publicKey: r.public_key,
    fingerprint: fingerprint(r.id),
    createdAt: r.created_at,
  };
}

export function listIdentities(store: Store): Identity[] {
  return (store.db.prepare('SELECT * FROM identities ORDER BY created_at, name').all() as IdentityRow[]).map(
    toIdentity,
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
  return toIdentity(rows[0]!);
}

/** Decrypt the private key for one signing; a wrong passphrase fails the GCM tag. */
export function unlockIdentity(store: Store, id: string, passphrase: string): KeyObject {
  const row = store.db.prepare('SELECT * FROM identities WHERE id = ?').get(id) as IdentityRow | undefined;
  if (!row) throw new NotFoundError(`no identity with key id ${id}`);
  const k = JSON.parse(row.kdf) as KdfRecord;
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
    throw new InputError(`wrong passphrase for ${row.name}`);
  }
}
