import type { CheckResult, GroupReport, Verdict } from '../../core/check/result.js';
import type { OneDResult } from '../../core/check/one-d.js';
import { shapeText } from '../../core/model/spec.js';
import { fmtCount, fmtDifference, fmtEpsilon, fmtSeconds, fmtThreshold, fmtValue } from '../../core/report/numbers.js';
import { VERDICT_WORD, groupLine, verdictSentence } from '../../core/report/words.js';
import type { CheckContext } from '../check/pipeline.js';

const useColor = (): boolean => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: string, s: string): string => (useColor() ? `\x1b[${code}m${s}\x1b[0m` : s);

/** PASS, FAIL or INCONCLUSIVE, in its colour on a terminal. */
export function verdictWord(v: Verdict): string {
  return paint(v === 'pass' ? '32;1' : v === 'fail' ? '31;1' : '33;1', VERDICT_WORD[v]);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map(
      (r) =>
        '  ' +
        r
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join('  ')
          .trimEnd(),
    )
    .join('\n');
}

function groupRow(g: GroupReport): string[] {
  const what = g.diagnosis || g.note ? groupLine(g, 'cli').replace(/^[^:]+: /, '') : '';
  const how = g.method === 'directions' ? ' (directions)' : '';
  return [
    g.name,
    shapeText(g.shape),
    fmtDifference(g.difference),
    (g.verdict === 'pass' ? 'pass' : g.verdict === 'fail' ? 'FAIL' : 'inconclusive') + how,
    what,
  ];
}

export function formatCheck(r: CheckResult, ctx: CheckContext): string {
  const out: string[] = [];
  out.push(`GradProof check: ${ctx.model} on ${ctx.data}, backward: ${ctx.backprop}`);
  out.push('');
  out.push(`${verdictWord(r.verdict)}  ${verdictSentence(r, 'cli')}`);
  out.push(
    `  difference  ${fmtDifference(r.difference)}   (threshold ${fmtThreshold(r.threshold)}; ${r.scheme} differences, ε = ${r.epsilon === 'auto' ? 'auto, per group' : fmtEpsilon(r.epsilon)})`,
  );
  out.push(
    `  ${fmtCount(r.parameters)} parameters, ${fmtCount(r.evaluations)} cost evaluations, ${fmtSeconds(ctx.seconds)} (${ctx.mode === 'fast' ? 'fast mode, ' : ''}${ctx.evaluation}, ${ctx.workers} worker${ctx.workers === 1 ? '' : 's'})`,
  );

  out.push('');
  out.push(table([['group', 'shape', 'difference', 'verdict', ''], ...r.groups.map(groupRow)]));
  if (r.verdict !== 'pass') {
    out.push('');
    out.push('  worst entries:');
    out.push(
      table([
        ['entry', 'analytic', 'numerical', 'abs error', 'rel error'],
        ...r.worst
          .slice(0, 5)
          .map((e) => [
            e.name,
            fmtValue(e.analytic),
            fmtValue(e.numerical),
            fmtValue(e.absError),
            fmtDifference(e.relError),
          ]),
      ]),
    );
  }
  if (r.epsilonSweep) {
    const sw = r.epsilonSweep;
    out.push('');
    out.push(`  ε sweep (${sw.scheme}, ${sw.entries} entries):`);
    out.push(
      table([
        ['ε', 'difference', 'smooth entries', 'kinked'],
        ...sw.points.map((p) => [
          fmtEpsilon(p.epsilon),
          fmtDifference(p.difference),
          fmtDifference(p.smoothDifference),
          String(p.kinkedEntries),
        ]),
      ]),
    );
    out.push(`  ${sw.summary}`);
  }
  if (r.findings.length > 0) {
    out.push('');
    for (const f of r.findings) out.push(`  • ${f}`);
  }
  return out.join('\n');
}

export function formatOneD(r: OneDResult): string {
  return [
    `GradProof 1-D check: J(θ) = θx with x = ${r.x}, θ = ${r.theta}`,
    `  J = ${r.J}   dθ = ${r.dtheta}   gradapprox = ${r.gradapprox}`,
    `${verdictWord(r.verdict)}  ${r.verdict === 'pass' ? 'The gradient is correct!' : 'The gradient is wrong!'}`,
    `  difference  ${fmtDifference(r.difference)}   (threshold ${fmtThreshold(r.threshold)}, ε = ${fmtEpsilon(r.epsilon)})`,
  ].join('\n');
}
