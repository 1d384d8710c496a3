import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '../../app/node/store/database.js';
import { createIdentity, unlockIdentity } from '../../app/node/signing/identities.js';
import { enrollIdentity, setPolicy } from '../../app/node/signing/policy.js';
import { createReport, transition } from '../../app/node/reports/reports.js';
import { annotateRun } from '../../app/node/store/runs.js';
import { cli } from './cli.js';

/**
 * A database holding a row in every table, built as people would build it: four identities
 * (an engineer, two reviewers, an administrator), a signed policy requiring enrolled reviewers,
 * two enrollments, two runs (the notebook fixed and buggy), an approved report, a rejected
 * report and a draft, annotations and a failed passphrase attempt.
 */
export const PASS = {
  erin: 'engineer-secret',
  rafael: 'reviewer-secret',
  rita: 'second-reviewer-secret',
  ada: 'administrator-secret',
} as const;

export interface Fixture {
  dir: string;
  db: string;
  runA: string;
  runB: string;
  approved: string;
  rejected: string;
  draft: string;
}

export function sqlite(db: string, sql: string): string {
  return execFileSync('sqlite3', [db, sql], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A copy of a database, as an insider would make one before editing it. */
export function copyDb(src: string, dst: string): string {
  for (const s of ['', '-wal', '-shm']) if (existsSync(`${dst}${s}`)) execFileSync('rm', ['-f', `${dst}${s}`]);
  execFileSync('sqlite3', [src, `VACUUM INTO '${dst}'`]);
  return dst;
}

/**
 * Edit a database as an insider with the sqlite3 shell: every trigger dropped, the SQL run,
 * the triggers put back exactly as they were (so the schema check alone cannot see it).
 */
export function insiderEdit(db: string, sql: string): void {
  const triggers = sqlite(db, "SELECT sql || ';' FROM sqlite_master WHERE type = 'trigger'");
  const drops = sqlite(db, "SELECT 'DROP TRIGGER ' || name || ';' FROM sqlite_master WHERE type = 'trigger'");
  const r = spawnSync('sqlite3', [db], { input: `${drops}\n${sql};\n${triggers}\n`, encoding: 'utf8' });
  if (r.status !== 0 || r.stderr) throw new Error(`sqlite3 failed: ${r.stderr}`);
}

export function buildFixture(): Fixture {
  const dir = mkdtempSync(path.join(tmpdir(), 'gp-trust-'));
  const db = path.join(dir, 'base.db');
  const run = (args: string[]): string => {
    const r = cli(['--db', db, ...args, '--json']);
    if (r.status !== 0 && r.status !== 1) throw new Error(`check failed: ${r.stderr}`);
    return JSON.parse(r.stdout).runId as string;
  };
  const runA = run(['check']);
  const runB = run(['check', '--backprop', 'notebook-buggy']);
  const store: Store = openStore(db);
  try {
    createIdentity(store, 'Erin Engineer', 'engineer', PASS.erin);
    createIdentity(store, 'Rafael Reviewer', 'reviewer', PASS.rafael);
    createIdentity(store, 'Rita Reviewer', 'reviewer', PASS.rita);
    createIdentity(store, 'Ada Admin', 'administrator', PASS.ada);
    setPolicy(store, { requireEnrollment: true }, 'Ada Admin', PASS.ada);
    enrollIdentity(store, 'Rafael Reviewer', 'Ada Admin', PASS.ada);
    enrollIdentity(store, 'Rita Reviewer', 'Ada Admin', PASS.ada);
    const approved = createReport(store, runA, 'Erin Engineer').id;
    transition(store, approved, 'prepare', 'Erin Engineer', PASS.erin);
    transition(store, approved, 'approve', 'Rafael Reviewer', PASS.rafael, 'backward verified');
    const rejected = createReport(store, runB, 'Erin Engineer').id;
    transition(store, rejected, 'prepare', 'Erin Engineer', PASS.erin);
    transition(store, rejected, 'reject', 'Rita Reviewer', PASS.rita, 'W2 and b1 are wrong');
    const draft = createReport(store, runA, 'Erin Engineer').id;
    annotateRun(store, runB, {
      name: 'notebook, buggy backward',
      tags: ['notebook', 'bug'],
      notes: 'the planted bugs',
    });
    try {
      unlockIdentity(
        store,
        store.db.prepare("SELECT id FROM identities WHERE name = 'Erin Engineer'").pluck().get() as string,
        'not-the-passphrase',
      );
    } catch {
      // the failed attempt is now in the audit log
    }
    return { dir, db, runA, runB, approved, rejected, draft };
  } finally {
    store.db.close();
  }
}

export function copyOf(f: Fixture, name: string): string {
  const dst = path.join(f.dir, `${name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 80)}.db`);
  return copyDb(f.db, dst);
}

export function plainCopy(src: string, dst: string): string {
  copyFileSync(src, dst);
  return dst;
}
