import { createCipheriv, randomBytes, scryptSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { passphraseProblem } from '../../app/core/identity/passphrase-strength.js';
import { validateParams } from '../../app/core/api/contract.js';
import { openStore } from '../../app/node/store/database.js';
import { KDF, createIdentity, readKdfRecord, scryptMaxmem, unlockIdentity } from '../../app/node/signing/identities.js';
import { InputError } from '../../app/core/errors.js';

const fresh = () => openStore(path.join(mkdtempSync(path.join(tmpdir(), 'gp-kdf-')), 'k.db'));

describe('weak passphrases are refused with the reason', () => {
  const weak: [string, RegExp][] = [
    ['        ', /only spaces/],
    ['aaaaaaaa', /repeats one character/],
    ['AAAA aaaa', /repeats one character/],
    ['short', /at least 8 characters/],
    ['password1', /most common passwords/],
    ['Passw0rd', /most common passwords/],
    ['qwertyuiop', /most common passwords/],
    ['12345678', /most common passwords|consecutive/],
    ['abcdefghij', /consecutive characters/],
    ['98765432', /consecutive|most common/],
    ['abababab', /repeats a short pattern/],
    ['123123123', /repeats a short pattern|most common/],
    ['aabbaabb', /repeats a short pattern/],
    ['abcabcaba', /fewer than 4 different characters/],
  ];
  for (const [p, why] of weak)
    it(`${JSON.stringify(p)}: ${why.source}`, () => {
      expect(passphraseProblem(p)).toMatch(why);
    });
  it("the identity's own name is refused", () => {
    expect(passphraseProblem('Erin Engineer', 'Erin Engineer')).toMatch(/the identity's name/);
    expect(passphraseProblem('erinengineer', 'Erin Engineer')).toMatch(/the identity's name/);
  });
  it('good passphrases pass, and the message never holds the passphrase', () => {
    for (const p of ['correct horse battery staple', 'engineer-secret', 'rae-secret-1', 'gradproof-demo', 'Zq7!vLm2'])
      expect(passphraseProblem(p)).toBeUndefined();
    for (const [p] of weak) expect(passphraseProblem(p) ?? '').not.toContain(p.trim() || 'x'.repeat(50));
  });
  it('the API contract refuses them too, naming the field', () => {
    expect(() => validateParams('identities.create', { name: 'A', role: 'engineer', passphrase: '        ' })).toThrow(
      /^passphrase: the passphrase is only spaces/,
    );
    expect(() =>
      validateParams('identities.create', { name: 'A', role: 'administrator', passphrase: 'aaaaaaaa' }),
    ).toThrow(/^passphrase: the passphrase repeats one character/);
    expect(
      validateParams('identities.create', { name: 'A', role: 'administrator', passphrase: 'a good long one' }).role,
    ).toBe('administrator');
  });
  it('createIdentity refuses them before any key is made', () => {
    const s = fresh();
    expect(() => createIdentity(s, 'Ann', 'engineer', 'aaaaaaaa')).toThrow(InputError);
    expect(s.db.prepare('SELECT count(*) FROM identities').pluck().get()).toBe(0);
    s.db.close();
  });
});

describe('scrypt at OWASP strength, its records bounded on read', () => {
  it('new keys use N=2^17, r=8, p=1, with maxmem set to what that needs', () => {
    expect(KDF).toMatchObject({ N: 2 ** 17, r: 8, p: 1 });
    // 128·r·N = 128 MiB for V; maxmem must cover it, or OpenSSL refuses.
    expect(scryptMaxmem(2 ** 17, 8, 1)).toBeGreaterThan(128 * 8 * 2 ** 17);
    const s = fresh();
    const id = createIdentity(s, 'Ann', 'engineer', 'ann-secret-phrase');
    const kdf = JSON.parse(s.db.prepare('SELECT kdf FROM identities WHERE id = ?').pluck().get(id.id) as string);
    expect(kdf).toMatchObject({ kdf: 'scrypt', N: 131072, r: 8, p: 1, cipher: 'aes-256-gcm' });
    expect(unlockIdentity(s, id.id, 'ann-secret-phrase').asymmetricKeyType).toBe('ed25519');
    s.db.close();
  });

  it('a record asking for N=2^30 (128 GiB) is refused with a clear error, before scrypt is called', () => {
    const rec = (over: object): string =>
      JSON.stringify({
        kdf: 'scrypt',
        N: 2 ** 17,
        r: 8,
        p: 1,
        salt: randomBytes(16).toString('base64'),
        cipher: 'aes-256-gcm',
        iv: randomBytes(12).toString('base64'),
        tag: randomBytes(16).toString('base64'),
        ...over,
      });
    expect(() => readKdfRecord(rec({ N: 2 ** 30 }), 'Ann')).toThrow(
      /identity Ann: its stored key record asks scrypt for N=2\^30; GradProof accepts N from 2\^14 to 2\^20; the record was altered/,
    );
    expect(() => readKdfRecord(rec({ N: 2 ** 10 }), 'Ann')).toThrow(/N=2\^10/);
    expect(() => readKdfRecord(rec({ N: 1000 }), 'Ann')).toThrow(/not a power of two/);
    expect(() => readKdfRecord(rec({ r: 1e9 }), 'Ann')).toThrow(/r=1000000000/);
    expect(() => readKdfRecord(rec({ p: 0 }), 'Ann')).toThrow(/p=0/);
    expect(() => readKdfRecord(rec({ N: 2 ** 20, r: 32 }), 'Ann')).toThrow(
      /MiB of memory; GradProof allows up to 512 MiB/,
    );
    expect(() => readKdfRecord(rec({ salt: 'AA==' }), 'Ann')).toThrow(/salt shorter than 16 bytes/);
    expect(() => readKdfRecord('{not json', 'Ann')).toThrow(/not readable JSON/);
    expect(readKdfRecord(rec({}), 'Ann').N).toBe(2 ** 17);

    const s = fresh();
    const id = createIdentity(s, 'Ann', 'engineer', 'ann-secret-phrase');
    s.db.exec('DROP TRIGGER identities_no_update');
    s.db.prepare('UPDATE identities SET kdf = ? WHERE id = ?').run(rec({ N: 2 ** 30 }), id.id);
    expect(() => unlockIdentity(s, id.id, 'ann-secret-phrase')).toThrow(/asks scrypt for N=2\^30/);
    s.db.close();
  });

  it('identities made with the older parameters (N=2^15) still unlock', () => {
    const s = fresh();
    const id = createIdentity(s, 'Old', 'engineer', 'old-secret-phrase');
    const priv = unlockIdentity(s, id.id, 'old-secret-phrase');
    // Re-encrypt the same key as GradProof did before (N=2^15), as a database written then holds it.
    const salt = randomBytes(16);
    const iv = randomBytes(12);
    const key = scryptSync('old-secret-phrase', salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 128 * 2 ** 15 * 8 * 2 });
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(id.id));
    const enc = Buffer.concat([cipher.update(priv.export({ format: 'der', type: 'pkcs8' })), cipher.final()]);
    const kdf = {
      kdf: 'scrypt',
      N: 2 ** 15,
      r: 8,
      p: 1,
      salt: salt.toString('base64'),
      cipher: 'aes-256-gcm',
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
    };
    s.db.exec('DROP TRIGGER identities_no_update');
    s.db
      .prepare('UPDATE identities SET kdf = ?, encrypted_private_key = ? WHERE id = ?')
      .run(JSON.stringify(kdf), enc, id.id);
    const again = unlockIdentity(s, id.id, 'old-secret-phrase');
    expect(again.export({ format: 'der', type: 'pkcs8' })).toEqual(priv.export({ format: 'der', type: 'pkcs8' }));
    expect(again.asymmetricKeyType).toBe('ed25519');
    s.db.close();
  });

  it('a wrong passphrase is refused and appended to the audit log', () => {
    const s = fresh();
    const id = createIdentity(s, 'Ann', 'engineer', 'ann-secret-phrase');
    expect(() => unlockIdentity(s, id.id, 'guess-number-one', 'approve rep-x')).toThrow(/wrong passphrase for Ann/);
    const row = s.db
      .prepare("SELECT subject, details FROM audit_log WHERE action = 'identity.unlock_failed'")
      .get() as {
      subject: string;
      details: string;
    };
    expect(row.subject).toBe(id.id);
    expect(JSON.parse(row.details)).toMatchObject({ name: 'Ann', purpose: 'approve rep-x' });
    expect(row.details).not.toContain('guess-number-one');
    s.db.close();
  });
});
