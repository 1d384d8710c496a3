import type { CheckResult, Verdict } from '../check/result.js';
import { fmtDifference } from './numbers.js';
import { type VerdictMove, compareHeadline, verdictMove } from './words.js';

/** What comparing needs of a saved run (the store's RunRecord satisfies it). */
export interface ComparableRun {
  id: string;
  startedAt: string;
  status: string;
  verdict: Verdict | null;
  difference: number | null;
  settings: object;
  provenance: {
    model: { name: string; sha256: string };
    weights: { source: string; sha256: string };
    dataset: { ref: string; sha256: string };
    implementation: { ref: string; sha256: string; defects?: string[] };
  };
  environment: object;
  result: Pick<CheckResult, 'groups'> | null;
}

export interface FieldRow {
  field: string;
  values: string[];
  /** The values differ, on a field where a difference matters (a run's start time always differs: never marked). */
  differs: boolean;
}

export interface GroupRow {
  name: string;
  differences: (number | null)[];
  verdicts: (Verdict | null)[];
  diagnoses: (string | null)[];
  /** The verdict differs, or the difference moved by more than a factor of ten (among the runs that have the group). */
  changed: boolean;
  /** Some runs have no such group (their models differ). */
  missing: boolean;
}

/** How one candidate's verdict moved from the baseline's. */
export interface VerdictChange {
  run: string;
  from: Verdict | null;
  to: Verdict | null;
  move: VerdictMove;
  /** e.g. "Fixed: fail → pass". */
  headline: string;
}

export interface RunComparison {
  /** The baseline first, then the candidates, oldest first. */
  runs: string[];
  baseline: string;
  verdicts: (Verdict | null)[];
  /** e.g. "fail → pass", or "pass (unchanged)": from the baseline to the candidates. */
  verdictChange: string;
  /** Each candidate against the baseline. */
  changes: VerdictChange[];
  /** One line for the top of the comparison: "Fixed: fail → pass", or a count of moves for several candidates. */
  headline: string;
  fields: FieldRow[];
  groups: GroupRow[];
}

const show = (v: unknown): string =>
  v === undefined || v === null ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v);

/** The runs in comparison order: the baseline (default: the oldest) first, then the others oldest first. */
export function comparisonOrder<R extends { id: string; startedAt: string }>(
  runs: readonly R[],
  baseline?: string,
): R[] {
  const byTime = [...runs].sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
  const base = (baseline && byTime.find((r) => r.id === baseline)) || byTime[0]!;
  return [base, ...byTime.filter((r) => r !== base)];
}

/**
 * Runs side by side, read from a baseline (default: the oldest) to each candidate: settings and
 * hashes with differences marked, per-group results, and each verdict's move ("Fixed: fail → pass").
 */
export function compareRuns(input: readonly ComparableRun[], options: { baseline?: string } = {}): RunComparison {
  if (input.length < 2) throw new RangeError('comparing needs at least two runs');
  if (options.baseline && !input.some((r) => r.id === options.baseline))
    throw new RangeError(`the baseline ${options.baseline} is not among the runs compared`);
  const runs = comparisonOrder(input, options.baseline);
  const field = (name: string, get: (r: ComparableRun) => unknown, marked = true): FieldRow => {
    const values = runs.map((r) => show(get(r)));
    return { field: name, values, differs: marked && new Set(values).size > 1 };
  };
  const settingKeys = [...new Set(runs.flatMap((r) => Object.keys(r.settings)))].sort();
  const envKeys = [...new Set(runs.flatMap((r) => Object.keys(r.environment)))].sort();
  const fields: FieldRow[] = [
    field('verdict', (r) => r.verdict),
    field('difference', (r) => (r.difference === null ? null : fmtDifference(r.difference))),
    field('model', (r) => r.provenance.model.name),
    field('model sha256', (r) => r.provenance.model.sha256),
    field('weights', (r) => r.provenance.weights.source),
    field('weights sha256', (r) => r.provenance.weights.sha256),
    field('dataset', (r) => r.provenance.dataset.ref),
    field('dataset sha256', (r) => r.provenance.dataset.sha256),
    field(
      'implementation',
      (r) =>
        r.provenance.implementation.ref +
        (r.provenance.implementation.defects?.length ? ` (${r.provenance.implementation.defects.join(', ')})` : ''),
    ),
    field('implementation sha256', (r) => r.provenance.implementation.sha256),
    ...settingKeys.map((k) => field(`settings.${k}`, (r) => (r.settings as Record<string, unknown>)[k])),
    ...envKeys.map((k) => field(`environment.${k}`, (r) => (r.environment as Record<string, unknown>)[k])),
    field('started', (r) => r.startedAt, false),
  ];
  const names = [...new Set(runs.flatMap((r) => r.result?.groups.map((g) => g.name) ?? []))];
  const groups: GroupRow[] = names.map((name) => {
    const gs = runs.map((r) => r.result?.groups.find((g) => g.name === name));
    const differences = gs.map((g) => g?.difference ?? null);
    const verdicts = gs.map((g) => g?.verdict ?? null);
    const finite = differences.filter((d): d is number => d !== null && d > 0);
    const spread = finite.length > 1 ? Math.log10(Math.max(...finite) / Math.min(...finite)) : 0;
    return {
      name,
      differences,
      verdicts,
      diagnoses: gs.map((g) => g?.diagnosis?.summary ?? null),
      changed: new Set(verdicts.filter((v) => v !== null)).size > 1 || spread > 1,
      missing: verdicts.includes(null),
    };
  });
  const verdicts = runs.map((r) => r.verdict);
  const distinct = [...new Set(verdicts.map(show))];
  const verdictChange = distinct.length === 1 ? `${distinct[0]} (unchanged)` : verdicts.map(show).join(' → ');
  const base = runs[0]!;
  const changes: VerdictChange[] = runs.slice(1).map((r) => ({
    run: r.id,
    from: base.verdict,
    to: r.verdict,
    move: verdictMove(base.verdict, r.verdict),
    headline: compareHeadline(base.verdict, r.verdict),
  }));
  let headline: string;
  if (changes.length === 1) headline = changes[0]!.headline;
  else {
    const counts = new Map<VerdictMove, number>();
    for (const c of changes) counts.set(c.move, (counts.get(c.move) ?? 0) + 1);
    const order: VerdictMove[] = ['regressed', 'fixed', 'changed', 'unchanged'];
    headline = `Against the baseline (${show(base.verdict)}): ${order
      .filter((m) => counts.has(m))
      .map((m) => `${counts.get(m)} ${m}`)
      .join(', ')}`;
  }
  return { runs: runs.map((r) => r.id), baseline: base.id, verdicts, verdictChange, changes, headline, fields, groups };
}
