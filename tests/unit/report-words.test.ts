import { describe, expect, it } from 'vitest';
import type { CheckResult, GroupReport } from '../../app/core/check/result.js';
import {
  compareHeadline,
  executiveSentence,
  inSurfaceWords,
  reportStateWords,
  signatureMeaning,
  verdictHeadline,
  verdictMove,
  verdictSentence,
  verificationWords,
  watermarkWord,
} from '../../app/core/report/words.js';

const group = (name: string, verdict: GroupReport['verdict'], extra: Partial<GroupReport> = {}): GroupReport => ({
  name,
  shape: [2, 2],
  size: 4,
  difference: verdict === 'fail' ? 0.3 : 1e-9,
  verdict,
  kinkEntries: 0,
  method: 'entries',
  normAnalytic: 1,
  normNumerical: 1,
  epsilon: 1e-7,
  budget: 1e-9,
  resolution: 1e-8,
  ...extra,
});
const result = (groups: GroupReport[], verdict: CheckResult['verdict'], inconclusive = 0): CheckResult =>
  ({
    verdict,
    groups,
    inconclusive: { entries: inconclusive, reason: inconclusive ? 'the step crosses a ReLU kink' : '', examples: [] },
    parameters: 1234,
  }) as unknown as CheckResult;

describe('verdict words', () => {
  it('headlines are the verdict word and its meaning', () => {
    expect(verdictHeadline('pass')).toBe('PASS: Backpropagation is correct');
    expect(verdictHeadline('fail')).toBe('FAIL: Backpropagation has a mistake');
    expect(verdictHeadline('inconclusive')).toMatch(/^INCONCLUSIVE: no mistake found, but not everything/i);
    expect(verdictHeadline(null)).toBe('No verdict');
  });

  it('a failing run names its failing groups', () => {
    const r = result([group('W1', 'pass'), group('b1', 'fail'), group('W2', 'fail')], 'fail');
    expect(verdictSentence(r)).toBe(
      'There is a mistake in the backward pass: b1 and W2 disagree with the finite differences (2 of 3 groups).',
    );
  });

  it('an inconclusive run says why and what to do, from its groups’ note and fix, in the surface’s words', () => {
    const r = result(
      [
        group('W1', 'pass'),
        group('b1', 'inconclusive', {
          note: 'b1: the cost moves by less than its rounding at ε = 1e-12',
          fix: 'rerun with --epsilon 1e-3 or --epsilon auto',
        }),
      ],
      'inconclusive',
    );
    expect(verdictSentence(r, 'cli')).toBe(
      'No mistake found, but the check cannot vouch for everything: b1: the cost moves by less than its rounding at ε = 1e-12. To settle it, rerun with --epsilon 1e-3 or --epsilon auto.',
    );
    expect(verdictSentence(r, 'app')).toMatch(/To settle it, rerun with ε = 1e-3 or ε = auto\.$/);
    expect(verdictSentence(r, 'app')).not.toMatch(/--/);
  });

  it('an inconclusive run with entries at kinks and no group note says so', () => {
    const r = result([group('W1', 'pass')], 'inconclusive', 3);
    expect(verdictSentence(r)).toMatch(/3 entries sit at a kink \(the step crosses a ReLU kink\)/);
    expect(verdictSentence(r)).toMatch(/To settle it, rerun with a smaller ε, or with ε = auto\.$/);
  });

  it('CLI flags become settings in the app', () => {
    expect(inSurfaceWords('rerun with --scheme five-point and --mode full', 'app')).toBe(
      'rerun with the five-point scheme and full mode',
    );
    expect(inSurfaceWords('rerun with --epsilon auto', 'cli')).toBe('rerun with --epsilon auto');
  });

  it('the executive sentence never calls an inconclusive run a pass, and says factors plainly', () => {
    const p = (r: CheckResult) => ({ provenance: { model: { name: 'fraud' } }, result: r }) as never;
    expect(executiveSentence(p(result([group('W1', 'inconclusive')], 'inconclusive')))).toMatch(
      /1 of its 1 parts could not be judged.*This is not a pass\.$/,
    );
    const scaled = group('W2', 'fail', {
      diagnosis: { kind: 'scale', factor: 2.0004, correlation: 1, residual: 0, summary: 'W2: backward is 2.000×' },
    });
    expect(executiveSentence(p(result([scaled], 'fail')))).toMatch(/W2 comes out 2 times too large/);
    const tiny = group('W1', 'fail', {
      diagnosis: { kind: 'scale', factor: 1.000001, correlation: 1, residual: 0, summary: 'W1' },
    });
    expect(executiveSentence(p(result([tiny], 'fail')))).not.toMatch(/times too/);
  });
});

describe('report states and signatures', () => {
  it('each state has its headline, and a rejection carries its reason', () => {
    expect(reportStateWords('draft').title).toBe('DRAFT: not signed');
    expect(reportStateWords('prepared', [{ meaning: 'authorship', name: 'Erin' }]).sentence).toMatch(
      /^Signed by its author, Erin, and not yet approved/,
    );
    expect(
      reportStateWords('approved', [
        { meaning: 'authorship', name: 'Erin' },
        { meaning: 'approval', name: 'Rafael' },
      ]).sentence,
    ).toBe('Signed by its author, Erin, and approved by Rafael.');
    const rejected = reportStateWords('rejected', [{ meaning: 'rejection', name: 'Rita', comment: 'W2 is wrong' }]);
    expect(rejected.title).toBe('REJECTED');
    expect(rejected.sentence).toMatch(/^Rejected by Rita: “W2 is wrong”\. This report is not an approval/);
  });

  it('every state but approved carries a watermark', () => {
    expect(['draft', 'prepared', 'approved', 'rejected'].map((s) => watermarkWord(s as never))).toEqual([
      'DRAFT',
      'NOT APPROVED',
      '',
      'REJECTED',
    ]);
  });

  it('verification is never "every signature is valid" on a draft, and loud when it fails', () => {
    expect(verificationWords({ ok: true }, 'draft')).not.toMatch(/every signature/);
    expect(verificationWords({ ok: true }, 'approved')).toMatch(/^Verified: every signature on it is valid/);
    expect(verificationWords({ ok: false, problem: 'row 4 was altered' }, 'approved')).toBe(
      'NOT VERIFIED: row 4 was altered. Do not rely on this report until this is explained.',
    );
  });

  it('a signature states its meaning in the first person', () => {
    expect(signatureMeaning('approval').statement('Rafael')).toMatch(
      /^I, Rafael, have reviewed this report and approve it/,
    );
    expect(signatureMeaning('rejection').label).toBe('Rejection');
  });
});

describe('comparison words, read from the baseline', () => {
  it('fail → pass is a fix and pass → fail a regression', () => {
    expect(compareHeadline('fail', 'pass')).toBe('Fixed: fail → pass');
    expect(compareHeadline('pass', 'fail')).toBe('Regressed: pass → fail');
    expect(compareHeadline('pass', 'pass')).toBe('Unchanged: pass');
    expect(verdictMove('fail', 'inconclusive')).toBe('changed');
    expect(verdictMove('pass', 'inconclusive')).toBe('regressed');
  });
});
