import type { CheckResult, Verdict } from '../check/result.js';

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
  differs: boolean;
}

export interface GroupRow {
  name: string;
  differences: (number | null)[];
  verdicts: (Verdict | null)[];
  diagnoses: (string | null)[];
  /** The verdict differs, or the difference moved by more than a factor of ten. */
  changed: boolean;
}

export interface RunComparison {
  runs: string[];
  verdicts: (Verdict | null)[];
  /** e.g. "fail → pass", or "pass (unchanged)". */
  verdictChange: string;
  fields: FieldRow[];
  groups: GroupRow[];
}

const show = (v: unknown): string =>
  v === undefined || v === null ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v);

/** Runs side by side: settings and hashes with differences marked, per-group results, the verdict change. */
export function compareRuns(runs: readonly ComparableRun[]): RunComparison {
  if (runs.length < 2) throw new RangeError('comparing needs at least two runs');
  const field = (name: string, get: (r: ComparableRun) => unknown): FieldRow => {
    const values = runs.map((r) => show(get(r)));
    return { field: name, values, differs: new Set(values).size > 1 };
  };
  const settingKeys = [...new Set(runs.flatMap((r) => Object.keys(r.settings)))].sort();
  const envKeys = [...new Set(runs.flatMap((r) => Object.keys(r.environment)))].sort();
  const fields: FieldRow[] = [
    field('verdict', (r) => r.verdict),
    field('difference', (r) => r.difference),
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
    field('started', (r) => r.startedAt),
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
      changed: new Set(verdicts).size > 1 || spread > 1,
    };
  });
  const verdicts = runs.map((r) => r.verdict);
  const distinct = [...new Set(verdicts.map(show))];
  const verdictChange = distinct.length === 1 ? `${distinct[0]} (unchanged)` : verdicts.map(show).join(' → ');
  return { runs: runs.map((r) => r.id), verdicts, verdictChange, fields, groups };
}
