import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEntry, entryHash } from '../../app/node/store/audit-log.js';
import { openStore } from '../../app/node/store/database.js';
import { getRun } from '../../app/node/store/runs.js';
import { verifyStore } from '../../app/node/reports/verify.js';
import { exportBundle, verifyBundle } from '../../app/node/reports/bundle.js';
import { ROOT } from '../helpers/cli.js';
import { type Fixture, buildFixture, copyOf, insiderEdit } from '../helpers/trust-fixture.js';

/**
 * The tamper suite: for every table and column GradProof stores, an insider's edit with the
 * sqlite3 shell (triggers dropped, then restored exactly), a deletion and a forged insertion
 * of a row; edits of the audit log (rows changed, cut, re-chained); and an edit and a removal
 * of every file of an exported bundle. Each must be named by `gradproof verify` (and, for what
 * a run view shows, by the read path). The counts are written to test-output/tamper-suite.json.
 */

let f: Fixture;
const tally = { database: { tried: 0, detected: 0 }, bundle: { tried: 0, detected: 0 }, cases: [] as string[] };

beforeAll(() => {
  f = buildFixture();
}, 120_000);

afterAll(() => {
  mkdirSync(path.join(ROOT, 'test-output'), { recursive: true });
  writeFileSync(path.join(ROOT, 'test-output', 'tamper-suite.json'), `${JSON.stringify(tally, null, 2)}\n`);
});

/** verify (the whole database, read-only, as the CLI runs it): the first problem, or undefined when all holds. */
function verifyProblem(db: string): string | undefined {
  const store = openStore(db, { readonly: true });
  try {
    const bad = verifyStore(store).find((v) => !v.ok);
    return bad ? `${bad.target}: ${bad.problem}` : undefined;
  } finally {
    store.db.close();
  }
}

function runIntegrity(db: string, runId: string): { ok: boolean; problem?: string } | undefined {
  const store = openStore(db, { readonly: true });
  try {
    return getRun(store, runId)?.integrity;
  } finally {
    store.db.close();
  }
}

const q = (v: unknown): string =>
  v === null
    ? 'NULL'
    : typeof v === 'number'
      ? String(v)
      : Buffer.isBuffer(v)
        ? `X'${v.toString('hex')}'`
        : `'${String(v).replace(/'/g, "''")}'`;

/** A different value of the same type, still allowed by the column's CHECK: what an insider would write. */
const ALTERNATIVES: Record<string, Record<string, string>> = {
  'identities.role': { reviewer: 'engineer', engineer: 'reviewer', administrator: 'reviewer' },
  'runs.status': { completed: 'failed', failed: 'completed' },
  'runs.verdict': { pass: 'fail', fail: 'pass' },
  'group_results.verdict': { pass: 'fail', fail: 'pass', inconclusive: 'pass' },
  'signatures.meaning': { approval: 'rejection', rejection: 'approval', authorship: 'approval' },
  'implementations.kind': { builtin: 'process', process: 'builtin', module: 'builtin' },
  'reports.state': { approved: 'rejected', rejected: 'approved', prepared: 'approved', draft: 'prepared' },
};

function mutate(key: string, type: string, v: unknown): unknown {
  const alt = ALTERNATIVES[key];
  if (alt && typeof v === 'string') return alt[v] ?? Object.values(alt)[0];
  if (v === null) return type === 'INTEGER' || type === 'REAL' ? 1 : 'x';
  if (Buffer.isBuffer(v)) {
    const b = Buffer.from(v);
    b[b.length - 1] = b[b.length - 1]! ^ 1;
    return b;
  }
  if (typeof v === 'number') return type === 'INTEGER' ? v + 100 : v === 0 ? 1 : v * 2;
  const s = String(v);
  if (/^[0-9a-f]{64}$/.test(s)) return s.slice(0, 63) + (s[63] === '0' ? '1' : '0');
  const m = /[0-9](?=[^0-9]*$)/.exec(s);
  if (m) return s.slice(0, m.index) + String((Number(m[0]) + 1) % 10) + s.slice(m.index + 1);
  return `${s}x`;
}

interface Target {
  table: string;
  where: string;
  /** The run whose view this row feeds, when it does. */
  run?: string;
}

function targets(): Target[] {
  const db = new Database(f.db, { readonly: true });
  const row = (sql: string): string => db.prepare(sql).pluck().get() as string;
  const a = (col: string): string => row(`SELECT ${col} FROM runs WHERE id = '${f.runA}'`);
  const t: Target[] = [
    { table: 'models', where: `sha256 = '${a('model_sha256')}'`, run: f.runA },
    { table: 'weights', where: `sha256 = '${a('weights_sha256')}'`, run: f.runA },
    { table: 'datasets', where: `sha256 = '${a('dataset_sha256')}'`, run: f.runA },
    { table: 'implementations', where: `sha256 = '${a('implementation_sha256')}'`, run: f.runA },
    { table: 'runs', where: `id = '${f.runA}'`, run: f.runA },
    { table: 'group_results', where: `run_id = '${f.runA}' AND position = 2`, run: f.runA },
    { table: 'entry_results', where: `run_id = '${f.runA}'`, run: f.runA },
    { table: 'identities', where: `name = 'Rafael Reviewer'` },
    { table: 'reports', where: `id = '${f.approved}'` },
    { table: 'signatures', where: `report_id = '${f.approved}' AND meaning = 'approval'` },
    { table: 'enrollments', where: `identity_id = (SELECT id FROM identities WHERE name = 'Rafael Reviewer')` },
    { table: 'policies', where: 'version = 1' },
    { table: 'audit_log', where: 'seq = 5' },
  ];
  db.close();
  return t;
}

describe('the tamper suite: every table and column, edited with the sqlite3 shell', () => {
  it('covers every table GradProof stores', () => {
    const db = new Database(f.db, { readonly: true });
    const tables = (
      db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all() as string[]
    ).sort();
    db.close();
    expect(
      targets()
        .map((t) => t.table)
        .sort(),
    ).toEqual(tables);
  });

  it('an untouched copy verifies (so every failure below is the tamper, not the copy)', () => {
    expect(verifyProblem(copyOf(f, 'control'))).toBeUndefined();
  });

  it('every column of every table: changed, the change is named', { timeout: 600_000 }, () => {
    const missed: string[] = [];
    const base = new Database(f.db, { readonly: true });
    for (const t of targets()) {
      const cols = base.prepare(`SELECT name, type FROM pragma_table_info(?)`).all(t.table) as {
        name: string;
        type: string;
      }[];
      const current = base.prepare(`SELECT * FROM ${t.table} WHERE ${t.where}`).get() as Record<string, unknown>;
      expect(current, `${t.table} has the row ${t.where}`).toBeTruthy();
      for (const c of cols) {
        // The annotations of a run live on the run whose annotations were set.
        const where =
          c.name === 'name' || c.name === 'tags' || c.name === 'notes'
            ? t.table === 'runs'
              ? `id = '${f.runB}'`
              : t.where
            : t.where;
        const before =
          where === t.where
            ? current[c.name]
            : (base.prepare(`SELECT ${c.name} FROM ${t.table} WHERE ${where}`).pluck().get() as unknown);
        const after = mutate(`${t.table}.${c.name}`, c.type, before);
        const what = `${t.table}.${c.name}`;
        const db = copyOf(f, `col-${what}`);
        insiderEdit(db, `UPDATE ${t.table} SET ${c.name} = ${q(after)} WHERE ${where}`);
        tally.database.tried++;
        const problem = verifyProblem(db);
        const run = where === t.where ? t.run : f.runB;
        const view = run ? runIntegrity(db, run) : undefined;
        if (problem && (!run || view === undefined || view.ok === false)) {
          tally.database.detected++;
          tally.cases.push(`${what} changed: ${problem}`);
        } else
          missed.push(
            `${what}: ${problem ?? 'verify passed'}${run && view?.ok ? ' (and the run view shows it as fine)' : ''}`,
          );
      }
    }
    base.close();
    expect(missed).toEqual([]);
  });

  it('every table: a row deleted and a row forged are named', { timeout: 300_000 }, () => {
    const missed: string[] = [];
    const base = new Database(f.db, { readonly: true });
    for (const t of targets()) {
      const db = copyOf(f, `del-${t.table}`);
      insiderEdit(db, `DELETE FROM ${t.table} WHERE ${t.where}`);
      tally.database.tried++;
      const p = verifyProblem(db);
      if (p) {
        tally.database.detected++;
        tally.cases.push(`${t.table}: a row deleted: ${p}`);
      } else missed.push(`${t.table} row deleted`);
      if (t.table === 'audit_log') continue; // forged log rows are tried below, with a valid chain
      const cols = base.prepare(`SELECT name, type, pk FROM pragma_table_info(?)`).all(t.table) as {
        name: string;
        type: string;
        pk: number;
      }[];
      // The same row under a new key: as if written by a program that bypasses GradProof.
      const exprs = cols.map((c) => {
        if (c.name === 'name' && t.table === 'identities') return "'Mallory Forged'";
        // One signature of each meaning per report: the forged approval goes onto the draft.
        if (c.name === 'report_id' && t.table === 'signatures') return `'${f.draft}'`;
        if (!c.pk) return c.name;
        if (c.type === 'INTEGER') return `${c.name} + 1000`;
        // The last character changed (never to itself: the new key must not collide with the original).
        return c.name === 'run_id'
          ? `'run-forged'`
          : `substr(${c.name}, 1, length(${c.name}) - 1) || CASE WHEN substr(${c.name}, -1) = 'f' THEN 'e' ELSE 'f' END`;
      });
      const forged = copyOf(f, `ins-${t.table}`);
      insiderEdit(
        forged,
        `INSERT INTO ${t.table} (${cols.map((c) => c.name).join(', ')}) SELECT ${exprs.join(', ')} FROM ${t.table} WHERE ${t.where}`,
      );
      tally.database.tried++;
      const q2 = verifyProblem(forged);
      if (q2) {
        tally.database.detected++;
        tally.cases.push(`${t.table}: a row forged: ${q2}`);
      } else missed.push(`${t.table} row forged`);
    }
    base.close();
    expect(missed).toEqual([]);
  });
});

describe('the tamper suite: the audit log cut, re-chained and rewritten', () => {
  const rows = (db: string) =>
    new Database(db, { readonly: true })
      .prepare('SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log ORDER BY seq')
      .all() as AuditEntry[];

  /** Rewrite the log from `from` on with a valid chain: what an insider who knows the format can do. */
  function rechain(
    db: string,
    keep: (r: ReturnType<typeof rows>[number]) => boolean,
    edit = (r: ReturnType<typeof rows>[number]) => r,
  ): void {
    const all = rows(db).filter(keep).map(edit);
    let prev = '0'.repeat(64);
    const sql = ['DELETE FROM audit_log'];
    all.forEach((r, i) => {
      const e = { ...r, seq: i + 1, prev_hash: prev };
      const hash = entryHash(e);
      prev = hash;
      sql.push(
        `INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (${e.seq}, ${q(e.at)}, ${q(e.actor)}, ${q(e.action)}, ${q(e.subject)}, ${q(e.details)}, ${q(e.prev_hash)}, ${q(hash)})`,
      );
    });
    insiderEdit(db, sql.join(';\n'));
  }

  const cases: [string, (db: string) => void][] = [
    [
      'the latest sign-off row deleted, the rows after it left as they are',
      (db) =>
        insiderEdit(
          db,
          "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log WHERE action LIKE 'report.%')",
        ),
    ],
    [
      'the last three rows deleted',
      (db) => insiderEdit(db, 'DELETE FROM audit_log WHERE seq > (SELECT max(seq) - 3 FROM audit_log)'),
    ],
    [
      'a late row (the rejection) deleted and the rest re-chained',
      (db) => rechain(db, (r) => r.action !== 'report.rejected'),
    ],
    [
      'the failed passphrase attempt deleted and re-chained, the rejection with it',
      (db) => rechain(db, (r) => r.action !== 'identity.unlock_failed' && r.action !== 'report.rejected'),
    ],
    [
      'an early row (an identity) edited and the whole log re-chained',
      (db) =>
        rechain(
          db,
          () => true,
          (r) =>
            r.action === 'identity.created'
              ? { ...r, details: r.details.replace('Rafael Reviewer', 'Rafael Reviewer ') }
              : r,
        ),
    ],
    ['every row after the first signature dropped and re-chained', (db) => rechain(db, (r) => r.seq < 20)],
    [
      'a row hash edited',
      (db) => insiderEdit(db, "UPDATE audit_log SET hash = substr(hash, 1, 63) || 'f' WHERE seq = 3"),
    ],
    [
      'two rows swapped',
      (db) =>
        insiderEdit(
          db,
          'UPDATE audit_log SET seq = -seq WHERE seq IN (3, 4); UPDATE audit_log SET seq = CASE seq WHEN -3 THEN 4 ELSE 3 END WHERE seq < 0',
        ),
    ],
  ];
  for (const [what, edit] of cases) {
    it(`${what}: named`, () => {
      const db = copyOf(f, `log-${what}`);
      edit(db);
      tally.database.tried++;
      const p = verifyProblem(db);
      expect(p, what).toBeTruthy();
      tally.database.detected++;
      tally.cases.push(`audit log, ${what}: ${p}`);
    });
  }

  it('a whole tail after the last signed head erased (no later signature): only a receipt (--log-head) shows it', () => {
    // The honest limit (docs/four-eyes.md): what no signature anchors can be cut cleanly, unless a head was kept.
    const db = copyOf(f, 'log-tail-unanchored');
    const all = rows(db);
    const last = all[all.length - 1]!;
    expect(last.action).toBe('identity.unlock_failed');
    insiderEdit(db, `DELETE FROM audit_log WHERE seq = ${last.seq}`);
    expect(verifyProblem(db)).toBeUndefined();
    const store = openStore(db, { readonly: true });
    try {
      const v = verifyStore(store, { expectHead: { seq: last.seq, hash: last.hash } });
      expect(v[0]!.ok).toBe(false);
      expect(v[0]!.problem).toMatch(
        /audit log reaches the head you gave: the log ends at row \d+, before row \d+: it was cut/,
      );
    } finally {
      store.db.close();
    }
    tally.database.tried++;
    tally.database.detected++;
  });
});

describe('the tamper suite: every file of an exported bundle, both verifiers', () => {
  let bundles: { approved: string; rejected: string };
  beforeAll(() => {
    const store = openStore(f.db, { readonly: true });
    try {
      bundles = {
        approved: path.join(f.dir, 'bundle-approved'),
        rejected: path.join(f.dir, 'bundle-rejected'),
      };
      exportBundle(store, f.approved, bundles.approved);
      exportBundle(store, f.rejected, bundles.rejected);
    } finally {
      store.db.close();
    }
  });

  const openssl = (dir: string) =>
    spawnSync('sh', ['verify-openssl.sh'], { cwd: dir, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
  const files = (dir: string, rel = ''): string[] =>
    readdirSync(path.join(dir, rel)).flatMap((n) => {
      const r = rel ? `${rel}/${n}` : n;
      return statSync(path.join(dir, r)).isDirectory() ? files(dir, r) : [r];
    });

  it('untouched, both verify (and verify-openssl.sh says what the state is)', () => {
    for (const [state, dir] of Object.entries(bundles)) {
      const r = openssl(dir);
      expect(r.stdout).toMatch(new RegExp(`OK: report [0-9a-f]{64} is ${state}`));
      expect(r.status).toBe(0);
      expect(verifyBundle(dir).ok).toBe(true);
    }
  });

  it('each file changed, and each file removed: both verifiers fail', { timeout: 600_000 }, () => {
    const missed: string[] = [];
    for (const [state, src] of Object.entries(bundles)) {
      for (const rel of files(src)) {
        for (const how of ['changed', 'removed'] as const) {
          const dir = path.join(f.dir, `b-${state}-${how}-${rel.replace(/\W+/g, '-')}`);
          rmSync(dir, { recursive: true, force: true });
          cpSync(src, dir, { recursive: true });
          const file = path.join(dir, rel);
          if (how === 'removed') rmSync(file);
          else {
            const b = readFileSync(file);
            // A change in the middle of the file, as an editor would make it.
            const i = Math.floor(b.length / 2);
            b[i] = b[i] === 0x41 ? 0x42 : 0x41;
            writeFileSync(file, b);
          }
          const g = verifyBundle(dir);
          const self = rel === 'verify-openssl.sh';
          const o = self ? undefined : openssl(dir);
          tally.bundle.tried++;
          if (!g.ok && (self || o!.status !== 0)) {
            tally.bundle.detected++;
            tally.cases.push(
              `bundle ${state}: ${rel} ${how}: gradproof: ${g.problem}; openssl: ${self ? '(it is the script)' : o!.stdout.trim().split('\n').pop()}`,
            );
          } else missed.push(`${state} ${rel} ${how}: gradproof ${g.ok ? 'passed' : 'failed'}, openssl ${o?.status}`);
        }
      }
    }
    expect(missed).toEqual([]);
  });

  it("the manifest's state edited (rejected → approved), a file added, the script replaced: named", () => {
    const dir = path.join(f.dir, 'b-manifest');
    rmSync(dir, { recursive: true, force: true });
    cpSync(bundles.rejected, dir, { recursive: true });
    const m = path.join(dir, 'manifest.json');
    writeFileSync(m, readFileSync(m, 'utf8').replace('"state": "rejected"', '"state": "approved"'));
    const g = verifyBundle(dir);
    expect(g.ok).toBe(false);
    expect(g.problem).toMatch(
      /state: manifest\.json says approved but the valid signatures make the report rejected \(a reviewer rejected it\)/,
    );
    const o = openssl(dir);
    expect(o.status).toBe(1);
    expect(o.stdout).toMatch(
      /NOT VERIFIED: manifest\.json differs from what the signatures make the report \(rejected\)/,
    );
    tally.bundle.tried++;
    tally.bundle.detected++;

    const extra = path.join(f.dir, 'b-extra');
    rmSync(extra, { recursive: true, force: true });
    cpSync(bundles.approved, extra, { recursive: true });
    appendFileSync(path.join(extra, 'signoffs', '3-rejection.dsse.json'), '{}');
    expect(verifyBundle(extra).problem).toMatch(/signoffs\/3-rejection\.dsse\.json is not part of the exported bundle/);
    expect(openssl(extra).stdout).toMatch(/NOT VERIFIED: the folder holds other files than the bundle exported/);
    tally.bundle.tried++;
    tally.bundle.detected++;

    const script = path.join(f.dir, 'b-script');
    rmSync(script, { recursive: true, force: true });
    cpSync(bundles.approved, script, { recursive: true });
    writeFileSync(path.join(script, 'verify-openssl.sh'), '#!/bin/sh\necho "OK: everything is fine"\n');
    expect(verifyBundle(script).problem).toMatch(
      /bundle files: verify-openssl\.sh differs from what the signed content makes it/,
    );
    tally.bundle.tried++;
    tally.bundle.detected++;
  });
});
