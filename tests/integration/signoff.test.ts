import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, startSlowCheck } from '../helpers/cli.js';

const dir = mkdtempSync(path.join(tmpdir(), 'gp-signoff-'));
const DB = path.join(dir, 'flow.db');
const ENGINEER = 'Erin Engineer';
const REVIEWER = 'Rafael Reviewer';
const as = (db: string, args: string[], passphrase?: string) =>
  cli(['--db', db, ...args], passphrase ? { GRADPROOF_PASSPHRASE: passphrase } : {});
const json = (db: string, args: string[], passphrase?: string) => {
  const r = as(db, [...args, '--json'], passphrase);
  // a check that finds a bug exits 1 with a result; anything else non-zero is a failure
  if (r.status !== 0 && !(args[0] === 'check' && r.status === 1))
    throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
};
const sqlite = (db: string, sql: string) =>
  execFileSync('sqlite3', [db, sql], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** A database with two identities and an approved report of the fixed notebook run. */
function approvedReport(db: string): { runId: string; reportId: string } {
  json(db, ['identity', 'create', '--name', ENGINEER, '--role', 'engineer'], 'engineer-secret');
  json(db, ['identity', 'create', '--name', REVIEWER, '--role', 'reviewer'], 'reviewer-secret');
  const run = json(db, ['check']);
  const { reportId } = json(db, ['report', 'create', run.runId, '--as', ENGINEER]);
  json(db, ['report', 'sign', reportId, '--as', ENGINEER], 'engineer-secret');
  json(db, ['report', 'approve', reportId, '--as', REVIEWER, '--comment', 'backward verified'], 'reviewer-secret');
  return { runId: run.runId, reportId };
}

describe('the sign-off flow from the CLI', () => {
  let ids: { runId: string; reportId: string };
  beforeAll(() => {
    ids = approvedReport(DB);
  });

  it('two identities, a run, a report prepared by the engineer and approved by the reviewer, verified', () => {
    const shown = json(DB, ['report', 'show', ids.reportId]);
    expect(shown.state).toBe('approved');
    expect(shown.signatures.map((s: any) => [s.meaning, s.signer.name, s.signer.role])).toEqual([
      ['authorship', ENGINEER, 'engineer'],
      ['approval', REVIEWER, 'reviewer'],
    ]);
    expect(shown.signatures[1].comment).toBe('backward verified');
    expect(shown.verification.ok).toBe(true);
    const v = as(DB, ['verify', ids.reportId]);
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/^VERIFIED {2}report rep-/);
    expect(as(DB, ['verify']).status).toBe(0);
    const statement = shown.statement;
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.subject.map((s: any) => s.name.split(':')[0])).toEqual([
      'model',
      'weights',
      'dataset',
      'implementation',
    ]);
    expect(statement.predicate.auditLog.seq).toBeGreaterThan(0);
  });

  it('identities and runs are listed with their ids', () => {
    const idents = json(DB, ['identity', 'list']);
    expect(idents.map((i: any) => [i.name, i.role])).toEqual([
      [ENGINEER, 'engineer'],
      [REVIEWER, 'reviewer'],
    ]);
    expect(idents[0].id).toMatch(/^[0-9a-f]{64}$/);
    const runs = json(DB, ['runs', 'list']);
    expect(runs[0]).toMatchObject({ id: ids.runId, status: 'completed', verdict: 'pass' });
    expect(json(DB, ['runs', 'show', ids.runId]).provenance.implementation.kind).toBe('builtin');
  });

  it('the same person cannot approve their own report, and only a reviewer may approve', () => {
    const db = path.join(dir, 'rules.db');
    json(db, ['identity', 'create', '--name', 'Rae', '--role', 'reviewer'], 'rae-secret-1');
    json(db, ['identity', 'create', '--name', 'Eli', '--role', 'engineer'], 'eli-secret-1');
    const run = json(db, ['check']);
    const { reportId } = json(db, ['report', 'create', run.runId, '--as', 'Rae']);
    // approving a draft is refused: the author signs first
    expect(as(db, ['report', 'approve', reportId, '--as', 'Eli'], 'eli-secret-1').stderr).toMatch(/still a draft/);
    // only the author signs as author
    expect(as(db, ['report', 'sign', reportId, '--as', 'Eli'], 'eli-secret-1').stderr).toMatch(
      /only the report's author \(Rae\) signs it/,
    );
    json(db, ['report', 'sign', reportId, '--as', 'Rae'], 'rae-secret-1');
    const own = as(db, ['report', 'approve', reportId, '--as', 'Rae'], 'rae-secret-1');
    expect(own.status).toBe(2);
    expect(own.stderr).toMatch(/Rae wrote this report and cannot approve it; a second person must/);
    const role = as(db, ['report', 'approve', reportId, '--as', 'Eli'], 'eli-secret-1');
    expect(role.status).toBe(2);
    expect(role.stderr).toMatch(/Eli has the role engineer; only a reviewer may approve a report/);
    expect(as(db, ['report', 'reject', reportId, '--as', 'Eli', '--reason', ' '], 'eli-secret-1').status).toBe(2);
    expect(json(db, ['report', 'show', reportId]).state).toBe('prepared');
    // a wrong passphrase signs nothing
    const wrong = as(
      db,
      ['report', 'sign', json(db, ['report', 'create', run.runId, '--as', 'Eli']).reportId, '--as', 'Eli'],
      'not-the-passphrase',
    );
    expect(wrong.stderr).toMatch(/wrong passphrase for Eli/);
  });

  it('the database itself refuses any other path to approved', () => {
    const db = path.join(dir, 'sql.db');
    json(db, ['identity', 'create', '--name', 'Eng', '--role', 'engineer'], 'eng-secret-1');
    const run = json(db, ['check']);
    const { reportId } = json(db, ['report', 'create', run.runId, '--as', 'Eng']);
    expect(() => sqlite(db, `UPDATE reports SET state = 'approved' WHERE id = '${reportId}'`)).toThrow(
      /not allowed|approval needs a reviewer/,
    );
    expect(() => sqlite(db, `UPDATE reports SET state = 'prepared' WHERE id = '${reportId}'`)).toThrow(
      /prepared only by its author's signature/,
    );
    json(db, ['report', 'sign', reportId, '--as', 'Eng'], 'eng-secret-1');
    expect(() => sqlite(db, `UPDATE reports SET state = 'approved' WHERE id = '${reportId}'`)).toThrow(
      /approval needs a reviewer other than the author/,
    );
    expect(() => sqlite(db, `DELETE FROM signatures`)).toThrow(/cannot be deleted/);
  });

  it('a rejection carries its reason', () => {
    const db = path.join(dir, 'reject.db');
    json(db, ['identity', 'create', '--name', 'E', '--role', 'engineer'], 'e-secret-12');
    json(db, ['identity', 'create', '--name', 'R', '--role', 'reviewer'], 'r-secret-12');
    const run = json(db, ['check', '--backprop', 'notebook-buggy']);
    const { reportId } = json(db, ['report', 'create', run.runId, '--as', 'E']);
    json(db, ['report', 'sign', reportId, '--as', 'E'], 'e-secret-12');
    expect(as(db, ['report', 'reject', reportId, '--as', 'R'], 'r-secret-12').stderr).toMatch(
      /required option '--reason <text>'/,
    );
    const r = json(db, ['report', 'reject', reportId, '--as', 'R', '--reason', 'W2 and b1 are wrong'], 'r-secret-12');
    expect(r.state).toBe('rejected');
    expect(as(db, ['verify', reportId]).status).toBe(0);
  });
});

describe('tampering is caught', () => {
  const tampered = (name: string): { db: string; reportId: string; runId: string } => {
    const src = path.join(dir, 'flow.db');
    const db = path.join(dir, `${name}.db`);
    execFileSync('sqlite3', [src, `VACUUM INTO '${db}'`]);
    const reportId = sqlite(db, 'SELECT id FROM reports LIMIT 1').trim();
    const runId = sqlite(db, 'SELECT run_id FROM reports LIMIT 1').trim();
    return { db, reportId, runId };
  };
  const cases: [string, (t: { reportId: string; runId: string }) => string, RegExp][] = [
    [
      'a byte of the stored report',
      (t) =>
        `DROP TRIGGER reports_body_immutable; UPDATE reports SET body = CAST(replace(CAST(body AS TEXT), '"verdict":"pass"', '"verdict":"pasS"') AS BLOB) WHERE id = '${t.reportId}'`,
      /report digest: the report's bytes hash to [0-9a-f]+, not the recorded/,
    ],
    [
      'a byte of a signature',
      (t) =>
        `DROP TRIGGER signatures_immutable; UPDATE signatures SET envelope = CAST(replace(CAST(envelope AS TEXT), '"sig":"', '"sig":"A') AS BLOB) WHERE report_id = '${t.reportId}' AND meaning = 'approval'`,
      /approval \(signature \d+\): signature: the approval signature does not verify/,
    ],
    [
      "a signer's role",
      () => `DROP TRIGGER identities_no_update; UPDATE identities SET role = 'reviewer' WHERE name = '${ENGINEER}'`,
      /authorship \(signature 1\): matches its record: the stored record/,
    ],
    [
      'a result row',
      (t) =>
        `DROP TRIGGER group_results_no_update; UPDATE group_results SET difference = 1e-12 WHERE run_id = '${t.runId}' AND name = 'W2'`,
      /result rows: the stored per-group results differ from the signed report/,
    ],
    [
      'an entry blob',
      (t) =>
        `DROP TRIGGER entry_results_no_update; UPDATE entry_results SET numerical = zeroblob(length(numerical)) WHERE run_id = '${t.runId}'`,
      /entry results: the stored per-entry results differ/,
    ],
    [
      "the run's verdict",
      (t) => `DROP TRIGGER runs_evidence_immutable; UPDATE runs SET verdict = 'fail' WHERE id = '${t.runId}'`,
      /run record: the stored run says fail/,
    ],
    [
      'an audit-log row',
      () => `DROP TRIGGER audit_log_no_update; UPDATE audit_log SET details = '{"forged":true}' WHERE seq = 2`,
      /audit log chain: audit log row 2 \(.*\) was altered: its hash does not match its content/,
    ],
    [
      'a deleted audit-log row',
      () => `DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 3`,
      /audit log chain: audit log row 3 is missing/,
    ],
  ];
  for (const [what, sql, message] of cases) {
    it(`changing ${what} with the sqlite3 shell: verify exits 1 and says what broke`, () => {
      const t = tampered(what.replace(/\W+/g, '-'));
      sqlite(t.db, sql(t));
      const r = as(t.db, ['verify', t.reportId]);
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/^NOT VERIFIED {2}report/);
      expect(r.stdout).toMatch(message);
      expect(r.stdout).toMatch(/first problem: /);
      expect(as(t.db, ['verify']).status).toBe(1);
    });
  }

  it('an untouched copy still verifies (the tests above fail for the tampering, not the copy)', () => {
    const t = tampered('control');
    expect(as(t.db, ['verify', t.reportId]).status).toBe(0);
  });
});

describe('the exported bundle', () => {
  it('verifies offline with openssl alone (its VERIFY.md route) and with gradproof verify DIR; tampering fails both', () => {
    const db = path.join(dir, 'flow.db');
    const reportId = sqlite(db, 'SELECT id FROM reports LIMIT 1').trim();
    const bundle = path.join(dir, 'bundle');
    const r = as(db, ['report', 'export', reportId, '--bundle', bundle]);
    expect(r.status).toBe(0);
    const ok = spawnSync('sh', ['verify-openssl.sh'], {
      cwd: bundle,
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin' },
    });
    expect(ok.stdout).toMatch(/authorship by key [0-9A-F:]{39}: signature valid, signs report\.json/);
    expect(ok.stdout).toMatch(/approval by key [0-9A-F:]{39}: signature valid/);
    expect(ok.status).toBe(0);
    expect(as(db, ['verify', bundle]).status).toBe(0);
    const bad = path.join(dir, 'bundle-bad');
    execFileSync('cp', ['-r', bundle, bad]);
    execFileSync('sh', ['-c', `sed -i 's/"verdict":"pass"/"verdict":"fail"/' ${path.join(bad, 'report.json')}`]);
    const broken = spawnSync('sh', ['verify-openssl.sh'], { cwd: bad, encoding: 'utf8' });
    expect(broken.status).toBe(1);
    expect(broken.stdout).toMatch(/report\.json does not hash to/);
    const v = as(db, ['verify', bad]);
    expect(v.status).toBe(1);
    expect(v.stdout).toMatch(/linked to the report: the authorship signature is for other content/);
  });
});

describe('a saved run killed with kill -9', () => {
  it('leaves a database that opens, passes integrity checks, and shows the run as interrupted', async () => {
    const db = path.join(dir, 'killed.db');
    const { child } = await startSlowCheck(['--db', db]);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    expect(sqlite(db, 'PRAGMA integrity_check').trim()).toBe('ok');
    expect(sqlite(db, `SELECT status FROM runs`).trim()).toBe('running');
    copyFileSync(db, `${db}.copy`); // untouched evidence of the crash state
    const runs = json(db, ['runs', 'list']);
    expect(runs).toHaveLength(1);
    expect(runs[0].status).toBe('interrupted');
    expect(sqlite(db, 'PRAGMA integrity_check').trim()).toBe('ok');
    expect(sqlite(db, `SELECT action FROM audit_log ORDER BY seq`).trim().split('\n')).toEqual([
      'artifact.recorded',
      'artifact.recorded',
      'artifact.recorded',
      'artifact.recorded',
      'run.started',
      'run.interrupted',
    ]);
    expect(as(db, ['verify']).status).toBe(0);
  });
});
