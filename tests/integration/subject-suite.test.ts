import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error a plain .mjs script, without types
import * as suite from '../../scripts/subject-suite.mjs';

/**
 * Issue 13, item 7: realistic numpy implementations through the Python adapter, each with
 * what an honest gradient checker should say, under every scheme and mode; one test per
 * subject × scheme × mode, every one held to its expectation. The tests run concurrently, the
 * checks two at a time (two cores); a test filtered out (-t) runs no check.
 */
const { ROOT, SUITE_DIR, commandLine, createPool, judge, loadManifest, plan, runCheck } = suite;
const DIR = path.join(ROOT, SUITE_DIR);
const manifest = loadManifest();
const { cases, schemes, modes } = plan(manifest);
const pool = createPool(2);

describe('the subject suite itself', () => {
  it('has a case for every subject script, and every case names a script that exists', () => {
    const scripts = readdirSync(DIR).filter((f) => f.endsWith('.py') && f !== 'verify_subjects.py');
    const used = new Set(cases.map((c: any) => c.file));
    expect(scripts.filter((f) => !used.has(f))).toEqual([]);
    expect([...used].filter((f) => !scripts.includes(f as string))).toEqual([]);
    expect(scripts.length).toBeGreaterThanOrEqual(18);
  });

  it('every expectation is confirmed by verify_subjects.py against an independent numerical gradient (GradProof not involved)', () => {
    const r = spawnSync('python3', [path.join(DIR, 'verify_subjects.py')], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout).toMatch(/every expectation confirmed against the reference gradient/);
    expect(r.status).toBe(0);
  });

  it('the judge tells a match from a false pass, a wrong factor, an unnamed entry and an unnamed shape', () => {
    const failing = {
      expect: {
        exit: 1,
        verdict: 'fail',
        groups: { W2: { verdict: 'fail', diagnosis: { kind: 'scale', factor: 2 } }, b2: { verdict: 'pass' } },
        findings: ['W2\\[1, ?3\\]'],
      },
    };
    const groups = (factor: number, verdict = 'fail') => [
      { name: 'W2', verdict, diagnosis: { kind: 'scale', factor, correlation: 1, summary: `W2: ×${factor}` } },
      { name: 'b2', verdict: 'pass', normAnalytic: 1, normNumerical: 1 },
    ];
    const run = (status: number, json: object) => ({ status, json, stdout: '', stderr: '', timedOut: false });
    const good = { verdict: 'fail', groups: groups(2), findings: ['W2[1,3]: backward 0, true 0.29'] };
    expect(judge(failing, run(1, good))).toEqual([]);
    expect(judge(failing, run(0, { ...good, verdict: 'pass', groups: groups(2, 'pass') })).join('\n')).toMatch(
      /verdict pass, expected fail/,
    );
    expect(judge(failing, run(1, { ...good, groups: groups(1.5) })).join('\n')).toMatch(/factor ×1\.5, expected ×2/);
    expect(judge(failing, run(1, { ...good, findings: ['W2: partly right'] })).join('\n')).toMatch(/no finding/);
    expect(judge(failing, run(3, good)).join('\n')).toMatch(/exit 3 does not say fail/);
    const shape = { expect: { exit: 4, stderr: ['\\bd?b1\\b', '\\(?1\\s*[,x×]\\s*40\\)?'] } };
    const crash = (stderr: string) => ({ status: 4, stdout: '', stderr, timedOut: false });
    expect(judge(shape, crash('gradproof: db1 has shape (1, 40) but b1 has shape (10, 1)'))).toEqual([]);
    expect(judge(shape, crash('gradproof: the gradient has 131 entries but 101 parameters')).join('\n')).toMatch(
      /message does not match/,
    );
  });
});

describe.concurrent('every subject under every scheme and mode', () => {
  for (const c of cases) {
    describe(`${c.name}: ${c.what}${c.args.length ? ` (${c.args.join(' ')})` : ''}`, () => {
      for (const scheme of schemes)
        for (const mode of modes) {
          it(`${scheme} / ${mode}`, async ({ expect }) => {
            const run = await pool(() => runCheck(c, scheme, mode, { timeoutSeconds: 240 }));
            expect(judge(c, run), commandLine(run.args)).toEqual([]);
          }, 300_000);
        }
    });
  }
});
