import type { CheckResult, GroupReport, Verdict } from '../check/result.js';
import { fmtCount, fmtDifference, fmtThreshold } from './numbers.js';
import type { AuditPredicate, Meaning } from './statement.js';

/**
 * The words GradProof says about a verdict, a report's state and a signature: declared once,
 * read by the CLI, the app and the PDF, so no surface tells a different story.
 */

export type ReportState = 'draft' | 'prepared' | 'approved' | 'rejected';
/** Where the words are read: the CLI names its flags; the app and the PDF name their settings. */
export type Surface = 'cli' | 'app';

export const VERDICT_WORD: Record<Verdict, string> = { pass: 'PASS', fail: 'FAIL', inconclusive: 'INCONCLUSIVE' };

const VERDICT_TITLE: Record<Verdict, string> = {
  pass: 'Backpropagation is correct',
  fail: 'Backpropagation has a mistake',
  inconclusive: 'No mistake found, but not everything could be checked',
};

/** "FAIL: Backpropagation has a mistake". */
export function verdictHeadline(v: Verdict | null | undefined): string {
  return v ? `${VERDICT_WORD[v]}: ${VERDICT_TITLE[v]}` : 'No verdict';
}

/** The verdict's title without its word: "Backpropagation has a mistake". */
export function verdictTitle(v: Verdict | null | undefined): string {
  return v ? VERDICT_TITLE[v] : 'No verdict';
}

/**
 * CLI flags in the pipeline's notes and fixes ("rerun with --epsilon auto"), said as the app's
 * settings ("rerun with ε = auto") where there is no command line.
 */
export function inSurfaceWords(text: string, surface: Surface): string {
  if (surface === 'cli') return text;
  return text
    .replace(/--epsilon ([^\s,;)]+)/g, 'ε = $1')
    .replace(/a smaller ε = /g, 'a smaller ε, ')
    .replace(/a smaller --epsilon/g, 'a smaller ε')
    .replace(/--scheme ([a-z-]+)/g, 'the $1 scheme')
    .replace(/--mode ([a-z]+)/g, '$1 mode')
    .replace(/--directions ([0-9]+)/g, '$1 directions')
    .replace(/--python ([^\s,;]+)/g, 'the interpreter $1')
    .replace(/--([a-z][a-z-]*)/g, '$1');
}

/** A group's note or diagnosis without its leading "W2: ", for a sentence that already names it. */
const withoutName = (s: string, name: string): string => (s.startsWith(`${name}: `) ? s.slice(name.length + 2) : s);

const list = (names: string[]): string =>
  names.length <= 1
    ? (names[0] ?? '')
    : names.length === 2
      ? `${names[0]} and ${names[1]}`
      : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;

type VerdictInput = Pick<CheckResult, 'verdict' | 'groups' | 'inconclusive'>;

/** Why a run is inconclusive and what to do, from its groups' notes and fixes. */
export function inconclusiveReason(r: VerdictInput, surface: Surface): { why: string; fix: string } {
  const open = r.groups.filter((g) => g.verdict === 'inconclusive');
  const first = open.find((g) => g.note) ?? open[0];
  const names = open.map((g) => g.name);
  if (first?.note) {
    const which =
      open.length === r.groups.length && open.length > 2
        ? `none of the ${open.length} groups can be judged`
        : `${list(names)} cannot be judged`;
    const why =
      open.length > 1
        ? `${which}; ${first.name}: ${withoutName(first.note, first.name)}`
        : `${first.name}: ${withoutName(first.note, first.name)}`;
    const fix = first.fix ?? 'rerun with ε = auto';
    return { why: inSurfaceWords(why, surface), fix: inSurfaceWords(fix, surface) };
  }
  if (r.inconclusive.entries > 0) {
    return {
      why: `${fmtCount(r.inconclusive.entries)} ${r.inconclusive.entries === 1 ? 'entry sits' : 'entries sit'} at a kink${r.inconclusive.reason ? ` (${r.inconclusive.reason})` : ''}, where finite differences cannot judge ${r.inconclusive.entries === 1 ? 'it' : 'them'}${names.length ? `, in ${list(names)}` : ''}`,
      fix: inSurfaceWords('rerun with a smaller --epsilon, or with --epsilon auto', surface),
    };
  }
  return {
    why: `${list(names) || 'some groups'} could not be judged`,
    fix: inSurfaceWords('rerun with --epsilon auto', surface),
  };
}

/** One sentence under the headline: what the verdict means here, and for an inconclusive run why and what to do. */
export function verdictSentence(r: VerdictInput, surface: Surface = 'app'): string {
  const n = r.groups.length;
  switch (r.verdict) {
    case 'pass':
      return `The backward pass is correct: all ${n} parameter group${n === 1 ? '' : 's'} agree with the finite differences.`;
    case 'fail': {
      const bad = r.groups.filter((g) => g.verdict === 'fail').map((g) => g.name);
      return `There is a mistake in the backward pass: ${list(bad)} ${bad.length === 1 ? 'disagrees' : 'disagree'} with the finite differences (${bad.length} of ${n} group${n === 1 ? '' : 's'}).`;
    }
    case 'inconclusive': {
      const { why, fix } = inconclusiveReason(r, surface);
      return `No mistake found, but the check cannot vouch for everything: ${why}. To settle it, ${fix}.`;
    }
  }
}

/** One line per failing or inconclusive group, for lists under the headline. */
export function groupLine(g: GroupReport, surface: Surface = 'app'): string {
  if (g.diagnosis) return g.diagnosis.summary;
  return inSurfaceWords(g.note ?? `${g.name}: ${g.verdict}`, surface);
}

/** One sentence a non-engineer understands, for page one of the PDF. */
export function executiveSentence(p: Pick<AuditPredicate, 'provenance' | 'result'>): string {
  const r = p.result;
  const model = p.provenance.model.name;
  const n = fmtCount(r.parameters);
  if (r.verdict === 'pass') {
    return `The training code of ${model} computes its gradients correctly: GradProof measured all ${n} parameters independently and found no error, so the model learns as designed.`;
  }
  if (r.verdict === 'fail') {
    const bad = r.groups.filter((g) => g.verdict === 'fail');
    const d = bad[0]?.diagnosis;
    const example =
      d?.kind === 'scale' && d.factor !== undefined && Math.abs(Math.abs(d.factor) - 1) >= 0.05
        ? ` (for example, ${bad[0]!.name} comes out ${Number(Math.abs(d.factor).toPrecision(2))} times too ${Math.abs(d.factor) > 1 ? 'large' : 'small'}${d.factor < 0 ? ', with the wrong sign' : ''})`
        : '';
    return `The training code of ${model} has a mistake: the gradients of ${list(bad.map((g) => g.name))} are wrong${example}, so the model would not learn as designed. It must be fixed and checked again before the model is trusted.`;
  }
  const open = r.groups.filter((g) => g.verdict === 'inconclusive').length;
  const what =
    open > 0
      ? `${open} of its ${r.groups.length} parts could not be judged at the step size used`
      : `${fmtCount(r.inconclusive.entries)} of ${n} parameters could not be judged at the step size used`;
  return `No mistake was found in the training code of ${model}, but ${what}; an engineer must re-check before the model is trusted. This is not a pass.`;
}

/** A report's state, first and unmistakably: the headline and what it means for the reader. */
export function reportStateWords(
  state: ReportState,
  signers: { meaning: Meaning; name: string; comment?: string | null }[] = [],
): { title: string; sentence: string } {
  const by = (m: Meaning) => signers.find((s) => s.meaning === m);
  switch (state) {
    case 'draft':
      return {
        title: 'DRAFT: not signed',
        sentence:
          'Nobody has signed this report. It records nothing until its author signs it, and nobody has approved it.',
      };
    case 'prepared':
      return {
        title: 'PREPARED: awaiting review',
        sentence: `Signed by its author${by('authorship') ? `, ${by('authorship')!.name},` : ''} and not yet approved: a second person with the reviewer role must approve or reject it.`,
      };
    case 'approved':
      return {
        title: 'APPROVED',
        sentence: `Signed by its author${by('authorship') ? `, ${by('authorship')!.name},` : ''} and approved by ${by('approval')?.name ?? 'a reviewer'}.`,
      };
    case 'rejected': {
      const r = by('rejection');
      return {
        title: 'REJECTED',
        sentence: `Rejected by ${r?.name ?? 'a reviewer'}${r?.comment ? `: “${r.comment}”` : ''}. This report is not an approval; its run must not be relied on as audited.`,
      };
    }
  }
}

/** A diagonal watermark for a report that is not approved (empty when it is). */
export function watermarkWord(state: ReportState): string {
  return state === 'approved'
    ? ''
    : state === 'rejected'
      ? 'REJECTED'
      : state === 'prepared'
        ? 'NOT APPROVED'
        : 'DRAFT';
}

/** Verification as its own line: what holds, or, loudly, what does not. */
export function verificationWords(v: { ok: boolean; problem?: string | undefined }, state: ReportState): string {
  if (!v.ok)
    return `NOT VERIFIED: ${v.problem ?? 'verification failed'}. Do not rely on this report until this is explained.`;
  return state === 'draft'
    ? 'Verified: the report matches its digest and the audit log’s chain holds. It carries no signature yet.'
    : 'Verified: every signature on it is valid, signs this report and follows the sign-off rules; the audit log’s chain holds.';
}

/** What a signature means, in words the signer reads before signing (21 CFR 11.50). */
export function signatureMeaning(meaning: Meaning): { label: string; statement: (name: string) => string } {
  switch (meaning) {
    case 'authorship':
      return {
        label: 'Authorship',
        statement: (name) =>
          `I, ${name}, am the author of this report: it is a true account of the audit run it names, and I submit it for review.`,
      };
    case 'approval':
      return {
        label: 'Approval',
        statement: (name) =>
          `I, ${name}, have reviewed this report and approve it: its verdict stands as the record of this model's gradient audit.`,
      };
    case 'rejection':
      return {
        label: 'Rejection',
        statement: (name) =>
          `I, ${name}, have reviewed this report and reject it for the reason I give: it must not be relied on as an audit.`,
      };
  }
}

/** How a comparison's verdict moved from the baseline to a candidate. */
export type VerdictMove = 'fixed' | 'regressed' | 'unchanged' | 'changed';

export function verdictMove(from: Verdict | null, to: Verdict | null): VerdictMove {
  if (from === to) return 'unchanged';
  if (to === 'pass' && from !== null) return 'fixed';
  if (from === 'pass') return 'regressed';
  return 'changed';
}

const MOVE_WORD: Record<VerdictMove, string> = {
  fixed: 'Fixed',
  regressed: 'Regressed',
  unchanged: 'Unchanged',
  changed: 'Changed',
};

/** "Fixed: fail → pass", read from the baseline to the candidate. */
export function compareHeadline(from: Verdict | null, to: Verdict | null): string {
  const m = verdictMove(from, to);
  return m === 'unchanged' ? `Unchanged: ${from ?? 'no verdict'}` : `${MOVE_WORD[m]}: ${from ?? '—'} → ${to ?? '—'}`;
}

/** The audit log's actions, as people read them. */
export function auditActionWords(action: string): string {
  const words: Record<string, string> = {
    'run.started': 'Run started',
    'run.completed': 'Run completed',
    'run.failed': 'Run failed',
    'run.cancelled': 'Run cancelled',
    'run.interrupted': 'Run interrupted',
    'run.annotated': 'Run name, tags or notes edited',
    'report.created': 'Report created (draft)',
    'report.prepared': 'Signed as author (authorship)',
    'report.approved': 'Approved (approval signature)',
    'report.rejected': 'Rejected (rejection signature)',
    'identity.created': 'Identity created',
    'identity.unlock_failed': 'Failed passphrase attempt',
    'schema.upgraded': 'Database upgraded',
    'artifact.recorded': 'Model, data, weights or code recorded',
    'identity.enrolled': 'Reviewer key enrolled by an administrator',
    'policy.set': 'Sign-off policy set',
  };
  return words[action] ?? action;
}

/** A difference with its threshold, the way every surface states it: "0.2851 (threshold 2e-7)". */
export function differenceWithThreshold(difference: number, threshold: number): string {
  return `${fmtDifference(difference)} (threshold ${fmtThreshold(threshold)})`;
}
