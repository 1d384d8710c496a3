import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { appendAudit, readLog, verifyChain } from '../../app/node/store/audit-log.js';
import { migrate } from '../../app/node/store/database.js';
import { storeFindings } from '../../app/node/store/integrity.js';
import { APPLICATION_ID, MIGRATIONS } from '../../app/node/store/migrations.js';
import { schemaProblems } from '../../app/node/store/schema-check.js';
import { keyIdOf } from '../../app/node/signing/dsse.js';
import { sha256Hex } from '../../app/node/util/hash.js';

const fresh = (): string => path.join(mkdtempSync(path.join(tmpdir(), 'gp-m3-')), 'g.db');
const h = (c: string): string => c.repeat(64);

/** A database as GradProof schema 2 wrote it: a run with its results, an identity, a draft report, the log. */
function schema2(): Database.Database {
  const db = new Database(fresh());
  migrate(db, MIGRATIONS, 2);
  db.pragma('foreign_keys = ON');
  const now = '2026-01-01T00:00:00.000Z';
  db.prepare(`INSERT INTO models VALUES (?, 'm', 'builtin:m', ?)`).run(h('a'), now);
  db.prepare(`INSERT INTO weights VALUES (?, 'w', ?)`).run(h('b'), now);
  db.prepare(`INSERT INTO datasets VALUES (?, 'd', 3, 4, NULL, ?)`).run(h('c'), now);
  db.prepare(`INSERT INTO implementations VALUES (?, 'builtin', 'engine', NULL, ?)`).run(h('d'), now);
  db.prepare(
    `INSERT INTO runs (id, started_at, finished_at, status, model_sha256, weights_sha256, dataset_sha256, implementation_sha256, settings, environment, pid, host, verdict, difference, parameters, evaluations, seconds, result)
     VALUES ('run-1', ?, ?, 'completed', ?, ?, ?, ?, '{}', '{}', 1, 'h', 'pass', 1e-9, 2, 4, 0.1, '{"verdict":"pass"}')`,
  ).run(now, now, h('a'), h('b'), h('c'), h('d'));
  appendAudit(db, 'run.started', 'run-1', { model: h('a') });
  db.prepare(`INSERT INTO group_results VALUES ('run-1', 0, 'W1', 1, 2, 1e-9, 'pass', NULL)`).run();
  db.prepare(`INSERT INTO entry_results VALUES ('run-1', 2, ?, ?, ?, 'x')`).run(
    Buffer.alloc(16),
    Buffer.alloc(16),
    Buffer.alloc(8),
  );
  appendAudit(db, 'run.completed', 'run-1', { verdict: 'pass' });
  const { publicKey } = generateKeyPairSync('ed25519');
  const id = keyIdOf(publicKey);
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  db.prepare(`INSERT INTO identities VALUES (?, 'Old Engineer', 'engineer', ?, ?, '{}', ?)`).run(
    id,
    pem,
    Buffer.alloc(48),
    now,
  );
  appendAudit(db, 'identity.created', id, { name: 'Old Engineer', role: 'engineer', publicKey: pem });
  const body = Buffer.from('{"report":1}');
  db.prepare(`INSERT INTO reports VALUES ('rep-1', 'run-1', ?, ?, 'draft', ?, ?)`).run(id, now, body, sha256Hex(body));
  appendAudit(db, 'report.created', 'rep-1', { run: 'run-1', sha256: sha256Hex(body) }, id);
  return db;
}

describe('migration 3: trust', () => {
  it('rebuilds identities (administrator role, OS account), adds enrollments, policies, annotations, guards; data kept', () => {
    const db = schema2();
    migrate(db);
    expect(db.pragma('user_version', { simple: true })).toBe(3);
    expect(db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    expect(db.pragma('foreign_key_check')).toEqual([]);
    const ident = db.prepare(`SELECT name, role, account FROM identities`).get();
    expect(ident).toEqual({ name: 'Old Engineer', role: 'engineer', account: null });
    expect(db.prepare(`SELECT author_id FROM reports`).pluck().get()).toBe(
      db.prepare('SELECT id FROM identities').pluck().get(),
    );
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['enrollments', 'policies']));
    const runCols = db.prepare(`SELECT name FROM pragma_table_info('runs')`).pluck().all();
    expect(runCols).toEqual(expect.arrayContaining(['name', 'tags', 'notes', 'process']));
    // The trigger that joins identities was remade; the schema is exactly a fresh database's.
    expect(schemaProblems(db)).toEqual([]);
    // A third role is allowed now; the guards hold.
    db.prepare(
      `INSERT INTO identities (id, name, role, public_key, encrypted_private_key, kdf, created_at) VALUES (?, 'Ada', 'administrator', 'k', x'00', '{}', 'now')`,
    ).run(h('e'));
    expect(() => db.prepare(`UPDATE identities SET role = 'reviewer' WHERE name = 'Ada'`).run()).toThrow(
      /identities cannot change/,
    );
    expect(() => db.prepare(`DELETE FROM runs`).run()).toThrow(/runs cannot be deleted/);
    expect(() => db.prepare(`UPDATE runs SET verdict = 'fail'`).run()).toThrow(/a finished run's record cannot change/);
    expect(() => db.prepare(`UPDATE group_results SET difference = 0`).run()).toThrow(/results cannot change/);
    expect(() => db.prepare(`UPDATE models SET name = 'x'`).run()).toThrow(/artifacts cannot change/);
    db.prepare(`UPDATE runs SET name = 'annotations may change' WHERE id = 'run-1'`).run();
    db.close();
  });

  it('seals every row written before it in the audit log, so that changes from here on show', () => {
    const db = schema2();
    migrate(db);
    const log = readLog(db);
    expect(verifyChain(log).ok).toBe(true);
    const last = log[log.length - 1]!;
    expect(last.action).toBe('schema.upgraded');
    const sealed = JSON.parse(last.details) as {
      version: number;
      sealed: Record<string, Record<string, string>>;
      runs: Record<string, string>;
    };
    expect(sealed.version).toBe(3);
    expect(Object.keys(sealed.sealed).sort()).toEqual([
      'datasets',
      'identities',
      'implementations',
      'models',
      'reports',
      'weights',
    ]);
    expect(Object.keys(sealed.runs)).toEqual(['run-1']);
    expect(storeFindings(db)).toEqual([]);
    db.exec('DROP TRIGGER models_no_update');
    db.prepare(`UPDATE models SET name = 'renamed'`).run();
    const findings = storeFindings(db);
    expect(findings.map((x) => x.problem).join('\n')).toMatch(
      /the model record a{16}… differs from what the audit log recorded at row \d+: it was altered/,
    );
    expect(findings.map((x) => x.problem).join('\n')).toMatch(/trigger models_no_update was removed/);
    db.close();
  });

  it('an empty database gets the schema and no seal entry', () => {
    const db = new Database(fresh());
    migrate(db);
    expect(readLog(db)).toEqual([]);
    db.close();
  });
});
