import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT, cli } from '../helpers/cli.js';

// No subject outlives its run, whatever ends it: a failure, a signal to GradProof, or
// GradProof killed outright; and the code under audit never sees GradProof's secrets.
const MIS = 'tests/fixtures/subjects/misbehaving.py';

function leftovers(marker: string): string[] {
  const r = spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' });
  return r.stdout.trim().split('\n').filter(Boolean);
}

async function until(what: () => boolean, seconds = 20): Promise<boolean> {
  for (let t = 0; t < seconds * 10; t++) {
    if (what()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return what();
}

/** A slow subject check, started; resolves once the sweep is under way (a progress line). */
async function startSlow(marker: string, db: string): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      '--db',
      db,
      'check',
      '--subject',
      `python3 ${MIS} slow ${marker}`,
      '--workers',
      '2',
      '--progress',
      '--timeout',
      '60',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  await until(() => /entries/.test(err) || leftovers(marker).length >= 2, 30);
  return { child, stderr: () => err };
}

const exited = (child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
  new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

describe('subjects never outlive their run', () => {
  it('a subject that escapes its process group with setsid is killed with the run', async () => {
    const marker = `gp-setsid-${process.pid}`;
    const r = cli(['check', '--subject', `python3 ${MIS} setsid ${marker}`, '--timeout', '5', '--no-save']);
    expect(r.status).toBe(4);
    // The escapee really left the subject's process group and session.
    expect(r.stderr).toMatch(/exited with code 3/);
    expect(await until(() => leftovers(marker).length === 0, 10)).toBe(true);
  });

  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGHUP', 129],
    ['SIGINT', 130],
  ] as const) {
    it(`${signal} to GradProof ends the run cleanly: subjects killed, the run recorded as cancelled, exit ${code}`, async () => {
      const marker = `gp-${signal.toLowerCase()}-${process.pid}`;
      const db = path.join(mkdtempSync(path.join(tmpdir(), 'gp-sig-')), 's.db');
      const { child, stderr } = await startSlow(marker, db);
      expect(leftovers(marker).length).toBeGreaterThan(0);
      child.kill(signal);
      const end = await exited(child);
      expect(end.code).toBe(code);
      expect(stderr()).toMatch(new RegExp(`cancelled by ${signal}`));
      expect(await until(() => leftovers(marker).length === 0, 10)).toBe(true);
      const runs = JSON.parse(cli(['--db', db, 'runs', 'list', '--json']).stdout);
      expect(runs[0]).toMatchObject({ status: 'cancelled', verdict: null });
    });
  }

  it('GradProof killed with SIGKILL: the reaper kills its subjects, and the run is found interrupted on the next open', async () => {
    const marker = `gp-sigkill-${process.pid}`;
    const db = path.join(mkdtempSync(path.join(tmpdir(), 'gp-kill-')), 'k.db');
    const { child } = await startSlow(marker, db);
    expect(leftovers(marker).length).toBeGreaterThan(0);
    child.kill('SIGKILL');
    await exited(child);
    expect(await until(() => leftovers(marker).length === 0, 10)).toBe(true);
    const runs = JSON.parse(cli(['--db', db, 'runs', 'list', '--json']).stdout);
    expect(runs[0]).toMatchObject({ status: 'interrupted' });
  });
});

describe('the code under audit gets a clean environment', () => {
  it("GradProof's variables (a passphrase, the database) never reach a subject", () => {
    const r = cli(['check', '--subject', `python3 ${MIS} secrets gp-secrets-${process.pid}`, '--no-save', '--json'], {
      GRADPROOF_PASSPHRASE: 'correct horse battery staple',
      MY_API_PASSPHRASE: 'also secret',
    });
    expect(r.stderr).not.toMatch(/received/);
    expect(r.status).toBe(0);
  });
});

describe('costs too large to take differences of', () => {
  it('a subject returning 1e308 ends with a clear error naming it, never a verdict or a database error', () => {
    const db = path.join(mkdtempSync(path.join(tmpdir(), 'gp-huge-')), 'h.db');
    const r = cli(['--db', db, 'check', '--subject', `python3 ${MIS} huge gp-huge-${process.pid}`]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(
      /the cost is 1e\+308 at θ₀: a cost must be a finite number small enough to take differences of/,
    );
    expect(r.stdout).toBe('');
    const runs = JSON.parse(cli(['--db', db, 'runs', 'list', '--json']).stdout);
    expect(runs[0]).toMatchObject({ status: 'failed', verdict: null });
  });
});
