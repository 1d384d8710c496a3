import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from '../../app/node/store/migrations.js';
import { migrate, openStore } from '../../app/node/store/database.js';

const fresh = (): string => path.join(mkdtempSync(path.join(tmpdir(), 'gp-mig-')), 'g.db');
const tables = (db: Database.Database): string[] =>
  (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map(
    (r) => r.name,
  );
const triggers = (db: Database.Database): string[] =>
  (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name`).all() as { name: string }[]).map(
    (r) => r.name,
  );

describe('migrations', () => {
  it('are numbered 1, 2, … without gaps', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
  });

  it('1: artifacts, runs, group and entry results', () => {
    const db = new Database(fresh());
    migrate(db, MIGRATIONS, 1);
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(tables(db)).toEqual([
      'datasets',
      'entry_results',
      'group_results',
      'implementations',
      'models',
      'runs',
      'weights',
    ]);
    db.pragma('foreign_keys = ON');
    expect(() =>
      db
        .prepare(
          `INSERT INTO group_results (run_id, position, name, rows, cols, difference, verdict) VALUES ('nope', 0, 'W1', 1, 1, 0, 'pass')`,
        )
        .run(),
    ).toThrow(/FOREIGN KEY/);
    expect(() =>
      db.prepare(`INSERT INTO models (sha256, name, ref, first_seen) VALUES ('short', 'm', 'r', 'now')`).run(),
    ).toThrow(/CHECK/);
    db.close();
  });

  it('2: identities, reports, signatures, the audit log and its guards, keeping data written at version 1', () => {
    const file = fresh();
    const db = new Database(file);
    migrate(db, MIGRATIONS, 1);
    const h = 'a'.repeat(64);
    db.prepare(`INSERT INTO models (sha256, name, ref, first_seen) VALUES (?, 'm', 'r', 'now')`).run(h);
    migrate(db, MIGRATIONS, 2);
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    expect(tables(db)).toEqual(expect.arrayContaining(['identities', 'reports', 'signatures', 'audit_log']));
    expect(triggers(db)).toEqual(
      expect.arrayContaining([
        'audit_log_no_update',
        'audit_log_no_delete',
        'reports_state_machine',
        'reports_approved_needs_two',
      ]),
    );
    expect((db.prepare('SELECT name FROM models').get() as { name: string }).name).toBe('m');
    db.prepare(
      `INSERT INTO audit_log (seq, at, action, subject, details, prev_hash, hash) VALUES (1, 'now', 'x', 'y', '{}', ?, ?)`,
    ).run(h, h);
    expect(() => db.prepare(`UPDATE audit_log SET action = 'z'`).run()).toThrow(/append-only/);
    expect(() => db.prepare(`DELETE FROM audit_log`).run()).toThrow(/append-only/);
    db.close();
  });

  it('a failing migration leaves the database at the version before it', () => {
    const db = new Database(fresh());
    const broken = [
      ...MIGRATIONS.slice(0, 1),
      {
        version: 2,
        description: 'broken',
        up: (d: Database.Database) => d.exec('CREATE TABLE half (x); SELECT nope FROM nowhere;'),
      },
    ];
    expect(() => migrate(db, broken)).toThrow();
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(tables(db)).not.toContain('half');
    db.close();
  });

  it('opens with WAL, foreign keys and synchronous=FULL', () => {
    const s = openStore(fresh());
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(s.db.pragma('synchronous', { simple: true })).toBe(2);
    s.db.close();
  });

  it('a database written by a newer GradProof is refused, untouched', () => {
    const file = fresh();
    const db = new Database(file);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => openStore(file)).toThrow(
      new RegExp(
        `written by a newer GradProof \\(schema ${SCHEMA_VERSION + 1}; this version reads up to ${SCHEMA_VERSION}\\): upgrade GradProof, or point --db at another database`,
      ),
    );
    const again = new Database(file);
    expect(again.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION + 1);
    expect(tables(again)).toEqual([]);
    again.close();
  });

  it('a file that is not a database is refused clearly', async () => {
    const file = fresh();
    (await import('node:fs')).writeFileSync(file, 'this is not sqlite');
    expect(() => openStore(file)).toThrow(/not a GradProof \(SQLite\) database/);
  });
});
