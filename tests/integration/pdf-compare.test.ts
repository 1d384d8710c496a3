import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli } from '../helpers/cli.js';

const dir = mkdtempSync(path.join(tmpdir(), 'gp-pdf-'));
const DB = path.join(dir, 'pdf.db');
const OUT = path.join(ROOT, 'test-output', 'pdf');
mkdirSync(OUT, { recursive: true });
const run = (args: string[], pass?: string) => cli(['--db', DB, ...args], pass ? { GRADPROOF_PASSPHRASE: pass } : {});
const json = (args: string[], pass?: string) => JSON.parse(run([...args, '--json'], pass).stdout);

let buggyRun = '';
let fixedRun = '';
let reportId = '';
let digest = '';

beforeAll(() => {
  json(['identity', 'create', '--name', 'Erin Engineer', '--role', 'engineer'], 'engineer-secret');
  json(['identity', 'create', '--name', 'Rafael Reviewer', '--role', 'reviewer'], 'reviewer-secret');
  buggyRun = json(['check', '--backprop', 'notebook-buggy']).runId;
  fixedRun = json(['check']).runId;
  const created = json(['report', 'create', fixedRun, '--as', 'Erin Engineer']);
  reportId = created.reportId;
  digest = created.sha256;
  json(['report', 'sign', reportId, '--as', 'Erin Engineer'], 'engineer-secret');
  json(['report', 'approve', reportId, '--as', 'Rafael Reviewer', '--comment', 'verified'], 'reviewer-secret');
});

describe('the executive PDF', () => {
  it('page one of an approved notebook report carries the verdict, both signers and the digest', () => {
    const pdf = path.join(dir, 'report-a4.pdf');
    const r = run(['report', 'pdf', reportId, '--out', pdf]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/wrote .*report-a4\.pdf \(A4/);
    const page1 = execFileSync('pdftotext', ['-f', '1', '-l', '1', pdf, '-'], { encoding: 'utf8' }).replace(
      /[ \t]+\n?/g,
      ' ',
    );
    expect(page1).toMatch(/PASS/);
    expect(page1).toMatch(/computes its gradients correctly/);
    expect(page1).toMatch(/Erin Engineer/);
    expect(page1).toMatch(/Rafael Reviewer/);
    expect(page1).toMatch(/authorship/i);
    expect(page1).toMatch(/approval/i);
    expect(page1.replace(/\s+/g, '')).toContain(digest);
    expect(page1).toMatch(/gradproof verify rep-/);
    expect(page1).toMatch(/[0-9A-F]{4}:[0-9A-F]{4}:[0-9A-F]{4}/); // key fingerprints
    const appendix = execFileSync('pdftotext', ['-f', '2', '-l', '3', pdf, '-'], { encoding: 'utf8' });
    expect(appendix).toMatch(/Technical appendix/);
    expect(appendix).toMatch(/What was checked \(SHA-256\)/);
    expect(appendix).toMatch(/Environment/);
    expect(execFileSync('pdfinfo', [pdf], { encoding: 'utf8' })).toMatch(/Page size:\s+59[45](\.\d+)? x 84[12]/);
    execFileSync('pdftoppm', ['-f', '1', '-l', '1', '-r', '80', '-png', pdf, path.join(OUT, 'report-a4')]);
    const png = path.join(OUT, 'report-a4-1.png');
    expect(existsSync(png)).toBe(true);
    copyFileSync(pdf, path.join(OUT, 'report-a4.pdf'));
  });

  it('prints on Letter paper too', () => {
    const pdf = path.join(dir, 'report-letter.pdf');
    expect(run(['report', 'pdf', reportId, '--out', pdf, '--paper', 'letter']).status).toBe(0);
    expect(execFileSync('pdfinfo', [pdf], { encoding: 'utf8' })).toMatch(/Page size:\s+612 x 792/);
  });

  it('a failing, unsigned report says so in words an executive understands', () => {
    const draft = json(['report', 'create', buggyRun, '--as', 'Erin Engineer']).reportId;
    const pdf = path.join(dir, 'fail.pdf');
    expect(run(['report', 'pdf', draft, '--out', pdf]).status).toBe(0);
    const page1 = execFileSync('pdftotext', ['-f', '1', '-l', '1', pdf, '-'], { encoding: 'utf8' });
    expect(page1).toMatch(/FAIL/);
    expect(page1).toMatch(/has a mistake/);
    expect(page1).toMatch(/must be fixed/);
    expect(page1).toMatch(/Not signed yet/);
    execFileSync('pdftoppm', ['-f', '1', '-l', '1', '-r', '80', '-png', pdf, path.join(OUT, 'report-fail')]);
  });

  it('an unknown report is a clear error', () => {
    const r = run(['report', 'pdf', 'rep-nope', '--out', path.join(dir, 'x.pdf')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no report rep-nope/);
  });
});

describe('gradproof runs compare', () => {
  it('marks W2 and b1 as changed between the buggy and fixed notebook runs (JSON)', () => {
    const c = json(['runs', 'compare', buggyRun, fixedRun]);
    expect(c.verdictChange).toBe('fail → pass');
    expect(
      c.groups
        .filter((g: any) => g.changed)
        .map((g: any) => g.name)
        .sort(),
    ).toEqual(['W2', 'b1']);
    const fields = Object.fromEntries(c.fields.map((f: any) => [f.field, f]));
    expect(fields['implementation sha256'].differs).toBe(true);
    expect(fields['model sha256'].differs).toBe(false);
    expect(fields['dataset sha256'].differs).toBe(false);
  });

  it('prints a human table with the changes marked', () => {
    const r = run(['runs', 'compare', buggyRun, fixedRun]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^verdict: fail → pass/);
    expect(r.stdout).toMatch(/^≠ W2 .*changed$/m);
    expect(r.stdout).toMatch(/^≠ b1 .*changed$/m);
    expect(r.stdout).toMatch(/^ {2}W1 /m);
    expect(r.stdout).toMatch(/^≠ implementation sha256/m);
    expect(run(['runs', 'compare', buggyRun]).stderr).toMatch(/at least two run ids/);
  });
});
