import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { entryHash } from '../../app/node/store/audit-log.js';
import { openStore } from '../../app/node/store/database.js';
import { getRun } from '../../app/node/store/runs.js';
import { printable } from '../../app/node/pdf/report-pdf.js';
import { cli } from '../helpers/cli.js';
import { type Fixture, PASS, buildFixture, copyOf, insiderEdit, sqlite } from '../helpers/trust-fixture.js';

/** The cases issue 14 names, each as a person (an insider, a careless user) would meet it. */

let f: Fixture;
beforeAll(() => {
  f = buildFixture();
}, 120_000);

const gp = (db: string, args: string[], passphrase?: string) =>
  cli(['--db', db, ...args], passphrase ? { GRADPROOF_PASSPHRASE: passphrase } : {});
/** An error is one line on stderr, without a stack. */
const oneLine = (stderr: string): void => {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
};

describe('verification checks meaning, not only signatures', () => {
  it("a rejected report's state set to approved: verify fails, report show and the PDF say REJECTED", () => {
    const db = copyOf(f, 'rejected-to-approved');
    insiderEdit(db, `UPDATE reports SET state = 'approved' WHERE id = '${f.rejected}'`);
    const v = gp(db, ['verify', f.rejected]);
    expect(v.status).toBe(1);
    expect(v.stdout).toMatch(
      /first problem: state: the stored state says approved but the valid signatures make the report rejected \(a reviewer rejected it\): the state was altered/,
    );
    const show = gp(db, ['report', 'show', f.rejected]);
    expect(show.stdout).toMatch(new RegExp(`^${f.rejected} {2}REJECTED {2}NOT VERIFIED`));
    expect(show.stdout).toMatch(/the stored state says approved; the signatures make it rejected/);
    const store = openStore(db, { readonly: true });
    try {
      const p = printable(store, f.rejected, 'a4');
      expect(p.state).toBe('rejected');
      expect(p.verified).toBe(false);
    } finally {
      store.db.close();
    }
  });

  it('a rejection erased (its signature row deleted, the state set back to prepared): verify names the missing rejection', () => {
    const db = copyOf(f, 'erased-rejection');
    insiderEdit(
      db,
      `DELETE FROM signatures WHERE report_id = '${f.rejected}' AND meaning = 'rejection'; UPDATE reports SET state = 'prepared' WHERE id = '${f.rejected}'`,
    );
    const v = gp(db, ['verify', f.rejected]);
    expect(v.status).toBe(1);
    expect(v.stdout).toMatch(
      /audit log records the sign-offs: the log records a rejection \(row \d+\) whose signature is missing or invalid: it was deleted or altered/,
    );
    expect(gp(db, ['verify']).stdout).toMatch(
      /the audit log records the rejection of report rep-\S+ \(row \d+\) but that signature is no longer stored: it was deleted/,
    );
    // Nobody can sign on top of it: a signature would vouch for the tampered log.
    const approve = gp(db, ['report', 'approve', f.rejected, '--as', 'Rafael Reviewer'], PASS.rafael);
    expect(approve.status).toBe(2);
    expect(approve.stderr).toMatch(/cannot approve report rep-\S+: the database fails verification/);
    oneLine(approve.stderr);
  });

  it("a reviewer's key swapped for an attacker's under the same name: verify names it, and approval by it is refused", () => {
    // The attacker makes an identity called Rafael Reviewer elsewhere, with a passphrase of their own…
    const other = path.join(f.dir, 'attacker.db');
    expect(
      gp(other, ['identity', 'create', '--name', 'Rafael Reviewer', '--role', 'reviewer'], 'attacker-owns-this').status,
    ).toBe(0);
    const row = new Database(other, { readonly: true })
      .prepare("SELECT * FROM identities WHERE name = 'Rafael Reviewer'")
      .get() as Record<string, unknown>;
    const db = copyOf(f, 'key-swap');
    // …and splices its row in place of the real one; the draft is prepared by its author first.
    expect(gp(db, ['report', 'sign', f.draft, '--as', 'Erin Engineer'], PASS.erin).status).toBe(0);
    const cols = Object.keys(row);
    const vals = cols.map((c) =>
      Buffer.isBuffer(row[c]) ? `X'${(row[c] as Buffer).toString('hex')}'` : `'${String(row[c]).replace(/'/g, "''")}'`,
    );
    insiderEdit(
      db,
      `DELETE FROM identities WHERE name = 'Rafael Reviewer'; INSERT INTO identities (${cols.join(', ')}) VALUES (${vals.join(', ')})`,
    );
    const v = gp(db, ['verify']);
    expect(v.status).toBe(1);
    expect(v.stdout).toMatch(
      /identity Rafael Reviewer \(key [0-9A-F:]+\) has no entry in the audit log: it was written outside GradProof/,
    );
    expect(gp(db, ['verify', f.approved]).stdout).toMatch(
      /approval \(signature \d+\): signer: the signer's identity \(key [0-9A-F:]+\) is no longer stored: it was deleted/,
    );
    const approve = gp(db, ['report', 'approve', f.draft, '--as', 'Rafael Reviewer'], 'attacker-owns-this');
    expect(approve.status).toBe(2);
    expect(approve.stderr).toMatch(
      /cannot approve report rep-\S+: identity Rafael Reviewer \(key [0-9A-F:]+\) has no entry in the audit log/,
    );
    oneLine(approve.stderr);

    // The attacker also appends a forged identity.created entry with a valid chain: the name now has two keys.
    const last = new Database(db, { readonly: true })
      .prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1')
      .get() as { seq: number; hash: string };
    const e = {
      seq: last.seq + 1,
      at: new Date().toISOString(),
      actor: null,
      action: 'identity.created',
      subject: row.id as string,
      details: JSON.stringify({ name: 'Rafael Reviewer', role: 'reviewer', publicKey: row.public_key }),
      prev_hash: last.hash,
    };
    sqlite(
      db,
      `INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (${e.seq}, '${e.at}', NULL, '${e.action}', '${e.subject}', '${e.details.replace(/'/g, "''")}', '${e.prev_hash}', '${entryHash(e)}')`,
    );
    const again = gp(db, ['report', 'approve', f.draft, '--as', 'Rafael Reviewer'], 'attacker-owns-this');
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(
      /cannot approve report rep-\S+: (the name Rafael Reviewer was given to another key too|identity Rafael Reviewer)/,
    );
    expect(gp(db, ['verify']).stdout).toMatch(
      /the name Rafael Reviewer was given to|no entry in the audit log|differs from what the audit log recorded/,
    );
  });

  it('the author makes herself a second, reviewer identity: it is visible everywhere, and refused when reviewers must be enrolled', () => {
    const db = copyOf(f, 'second-identity');
    const made = gp(
      db,
      ['identity', 'create', '--name', 'Erin Also Reviewer', '--role', 'reviewer'],
      'my-other-secret-1',
    );
    expect(made.status).toBe(0);
    expect(made.stdout).toMatch(
      /note: this OS account also holds Erin Engineer, Rafael Reviewer, Rita Reviewer, Ada Admin/,
    );
    expect(gp(db, ['identity', 'list']).stdout).toMatch(
      /Erin Also Reviewer[\s\S]*created by OS account \S+ \(uid \d+\) on \S+, which also holds Erin Engineer/,
    );
    expect(gp(db, ['report', 'sign', f.draft, '--as', 'Erin Engineer'], PASS.erin).status).toBe(0);
    const approve = gp(db, ['report', 'approve', f.draft, '--as', 'Erin Also Reviewer'], 'my-other-secret-1');
    expect(approve.status).toBe(2);
    expect(approve.stderr).toMatch(
      /cannot approve report rep-\S+: the sign-off policy requires reviewer keys enrolled by an administrator, and Erin Also Reviewer was not enrolled by an administrator/,
    );
    // Without the policy, the approval goes through, and what it rests on is said at signing, in report show and in verify.
    const free = path.join(mkdtempSync(path.join(tmpdir(), 'gp-free-')), 'free.db');
    const run = JSON.parse(gp(free, ['check', '--json']).stdout).runId as string;
    expect(gp(free, ['identity', 'create', '--name', 'Erin', '--role', 'engineer'], 'engineer-secret').status).toBe(0);
    expect(
      gp(free, ['identity', 'create', '--name', 'Erin as reviewer', '--role', 'reviewer'], 'reviewer-secret').status,
    ).toBe(0);
    const rep = JSON.parse(gp(free, ['report', 'create', run, '--as', 'Erin', '--json']).stdout).reportId as string;
    expect(gp(free, ['report', 'sign', rep, '--as', 'Erin'], 'engineer-secret').status).toBe(0);
    const ok = gp(free, ['report', 'approve', rep, '--as', 'Erin as reviewer'], 'reviewer-secret');
    expect(ok.status).toBe(0);
    expect(ok.stderr).toMatch(/signing as Erin as reviewer \(reviewer\), key [0-9A-F:]{39}/);
    expect(ok.stderr).toMatch(/author {5}Erin \(engineer\), key [0-9A-F:]{39}/);
    expect(ok.stderr).toMatch(/warning: Erin as reviewer and the author Erin were created by the same OS account/);
    expect(gp(free, ['report', 'show', rep]).stdout).toMatch(
      /four eyes: Erin \(author\) and Erin as reviewer \(approval\) were created by the same OS account .*nothing here shows they are two people/,
    );
    expect(gp(free, ['verify', rep]).stdout).toMatch(
      /! four eyes: Erin and Erin as reviewer were created by the same OS account .*two keys, but nothing here shows two people/,
    );
  });

  it('a policy of one identity per OS account refuses the second identity', () => {
    const db = copyOf(f, 'one-per-account');
    expect(gp(db, ['policy', 'set', '--as', 'Ada Admin', '--one-identity-per-account', 'on'], PASS.ada).status).toBe(0);
    const r = gp(db, ['identity', 'create', '--name', 'Erin Again', '--role', 'reviewer'], 'yet-another-secret');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /the sign-off policy allows one identity per OS account, and OS account \S+ \(uid \d+\) on \S+ already holds Erin Engineer/,
    );
    oneLine(r.stderr);
    expect(gp(db, ['policy', 'show']).stdout).toMatch(
      /policy version 2, signed by Ada Admin[\s\S]*one identity per OS account: +yes/,
    );
    expect(gp(db, ['verify']).status).toBe(0);
  });

  it('a policy set by someone who is not an administrator, or an enrollment by a reviewer, is refused', () => {
    const db = copyOf(f, 'not-admin');
    const r = gp(db, ['policy', 'set', '--as', 'Rafael Reviewer', '--require-enrollment', 'off'], PASS.rafael);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /Rafael Reviewer may not set the policy: Rafael Reviewer has the role reviewer, not administrator/,
    );
    // A second administrator, not enrolled by the policy's root, cannot turn the policy off either.
    expect(
      gp(db, ['identity', 'create', '--name', 'Mallory Admin', '--role', 'administrator'], 'mallory-secret-9').status,
    ).toBe(0);
    const m = gp(db, ['policy', 'set', '--as', 'Mallory Admin', '--require-enrollment', 'off'], 'mallory-secret-9');
    expect(m.status).toBe(2);
    expect(m.stderr).toMatch(
      /Mallory Admin may not set the policy: administrator Mallory Admin is not the policy's root and Mallory Admin was not enrolled by an administrator/,
    );
  });

  it('runs.result edited: runs show, runs list, compare and the API view show the run as altered, never as a result', () => {
    const db = copyOf(f, 'result-edited');
    insiderEdit(
      db,
      `UPDATE runs SET result = replace(result, '"verdict":"fail"', '"verdict":"pass"') WHERE id = '${f.runB}'`,
    );
    const show = gp(db, ['runs', 'show', f.runB]);
    expect(show.status).toBe(1);
    expect(show.stdout).toMatch(
      /ALTERED: its stored record does not match the audit log; nothing of it is shown as a result/,
    );
    expect(show.stdout).not.toMatch(/PASS|FAIL|difference/);
    expect(gp(db, ['runs', 'list']).stdout).toMatch(new RegExp(`${f.runB} .*ALTERED`));
    const cmp = gp(db, ['runs', 'compare', f.runA, f.runB]);
    expect(cmp.status).toBe(2);
    expect(cmp.stderr).toMatch(/run \S+ cannot be compared: run \S+'s stored record .* it was altered/);
    const store = openStore(db, { readonly: true });
    try {
      const r = getRun(store, f.runB)!;
      expect(r.integrity.ok).toBe(false);
      expect(r.result).toBeNull();
      expect(r.verdict).toBeNull();
      expect(r.error).toMatch(/^ALTERED: /);
    } finally {
      store.db.close();
    }
  });

  it('a guard trigger replaced by a same-named no-op, or a trigger added: verify names it (bodies compared, not names)', () => {
    const db = copyOf(f, 'trigger-noop');
    sqlite(
      db,
      `DROP TRIGGER audit_log_no_update; CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT 1; END;`,
    );
    const v = gp(db, ['verify']);
    expect(v.status).toBe(1);
    expect(v.stdout).toMatch(/trigger audit_log_no_update differs from GradProof's definition \(it was replaced\)/);
    const extra = copyOf(f, 'trigger-extra');
    sqlite(
      extra,
      `CREATE TRIGGER sneaky AFTER INSERT ON runs BEGIN UPDATE runs SET verdict = 'pass' WHERE id = NEW.id; END;`,
    );
    expect(gp(extra, ['verify']).stdout).toMatch(/trigger sneaky is not GradProof's \(it was added\)/);
  });

  it('an unparsable envelope or manifest is named in one line, never exit 70 with a stack', () => {
    const db = copyOf(f, 'bad-envelope');
    insiderEdit(
      db,
      `UPDATE signatures SET envelope = CAST('{"payload": 12' AS BLOB) WHERE report_id = '${f.approved}' AND meaning = 'approval'`,
    );
    const v = gp(db, ['verify', f.approved]);
    expect(v.status).toBe(1);
    expect(v.stderr).toBe('');
    expect(v.stdout).toMatch(
      /first problem: approval \(signature \d+\): envelope: the stored approval envelope is not readable JSON: it was altered/,
    );
    expect(gp(db, ['report', 'show', f.approved]).status).toBe(0);

    const bundle = path.join(f.dir, 'bad-manifest');
    expect(gp(f.db, ['report', 'export', f.approved, '--bundle', bundle]).status).toBe(0);
    writeFileSync(path.join(bundle, 'manifest.json'), '{"format": "gradproof-bundle/v2", ');
    const b = gp(f.db, ['verify', bundle]);
    expect(b.status).toBe(1);
    expect(b.stderr).toBe('');
    expect(b.stdout).toMatch(
      /first problem: manifest\.json is not readable JSON: it was altered; export the bundle again/,
    );
    writeFileSync(path.join(bundle, 'manifest.json'), readFileSync(path.join(bundle, 'VERIFY.md')));
    expect(gp(f.db, ['verify', bundle]).status).toBe(1);
    const env = path.join(f.dir, 'bad-dsse');
    expect(gp(f.db, ['report', 'export', f.approved, '--bundle', env]).status).toBe(0);
    writeFileSync(path.join(env, 'signoffs', '2-approval.dsse.json'), '\u0000\u0001 not json');
    const e = gp(f.db, ['verify', env]);
    expect(e.status).toBe(1);
    expect(e.stdout).toMatch(/envelope: signoffs\/2-approval\.dsse\.json is not readable JSON: it was altered/);
  });

  it('a wrong passphrase is appended to the audit log (who, for what)', () => {
    const db = copyOf(f, 'wrong-pass');
    const r = gp(db, ['report', 'sign', f.draft, '--as', 'Erin Engineer'], 'not-erins-passphrase');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/wrong passphrase for Erin Engineer/);
    const rows = sqlite(db, "SELECT details FROM audit_log WHERE action = 'identity.unlock_failed' ORDER BY seq")
      .trim()
      .split('\n');
    expect(rows).toHaveLength(2); // the fixture's own, and this one
    expect(rows[1]).toMatch(new RegExp(`"purpose":"prepare ${f.draft}"`));
    expect(gp(db, ['verify']).status).toBe(0);
    const log = gp(db, ['log', '--failed-attempts']);
    expect(log.stdout.trim().split('\n')).toHaveLength(2);
    expect(log.stdout).toMatch(
      new RegExp(`identity\\.unlock_failed +[0-9a-f]{64} \\(Erin Engineer\\): prepare ${f.draft}`),
    );
  });
});

describe('scripts never interpret data', () => {
  it("a signer named Eve $(touch …) or with quotes and backticks: the bundle's script runs nothing, and verifies", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gp-eve-'));
    const db = path.join(dir, 'eve.db');
    const marker = path.join(dir, 'pwned');
    const marker2 = path.join(dir, 'pwned2');
    const eve = `Eve $(touch ${marker})`;
    const rev = `Rev \`touch ${marker2}\` 'quote" "; rm -rf /`;
    const run = JSON.parse(gp(db, ['check', '--json']).stdout).runId as string;
    expect(gp(db, ['identity', 'create', '--name', eve, '--role', 'engineer'], 'eve-secret-phrase').status).toBe(0);
    const made = gp(db, ['identity', 'create', '--name', rev, '--role', 'reviewer'], 'rev-secret-phrase');
    expect(made.status).toBe(0);
    const rep = JSON.parse(gp(db, ['report', 'create', run, '--as', eve, '--json']).stdout).reportId as string;
    expect(gp(db, ['report', 'sign', rep, '--as', eve], 'eve-secret-phrase').status).toBe(0);
    expect(
      gp(db, ['report', 'approve', rep, '--as', rev, '--comment', '$(touch x) `y`'], 'rev-secret-phrase').status,
    ).toBe(0);
    const bundle = path.join(dir, 'bundle');
    expect(gp(db, ['report', 'export', rep, '--bundle', bundle]).status).toBe(0);
    const script = readFileSync(path.join(bundle, 'verify-openssl.sh'), 'utf8');
    expect(script).not.toMatch(/touch|pwned|Eve \$\(|Rev `|quote/);
    const r = spawnSync('sh', ['verify-openssl.sh'], { cwd: bundle, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    expect(r.stdout).toMatch(/OK: report [0-9a-f]{64} is approved/);
    expect(r.status).toBe(0);
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(marker2)).toBe(false);
    expect(gp(db, ['verify', bundle]).status).toBe(0);
    // VERIFY.md shows the names as text: no markdown or HTML can come out of them.
    expect(readFileSync(path.join(bundle, 'VERIFY.md'), 'utf8')).toMatch(/Rev &#96;touch/);
    rmSync(dir, { recursive: true, force: true });
  });
});
