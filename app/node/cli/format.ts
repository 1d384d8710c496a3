import type { CheckResult, GroupReport, Verdict } from '../../core/check/result.js';
import type { OneDResult } from '../../core/check/one-d.js';
import { shapeText } from '../../core/model/spec.js';
import type { CheckContext } from '../check/pipeline.js';

const useColor = (): boolean => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: string, s: string): string => (useColor() ? `\x1b[${code}m${s}\x1b[0m` : s);

export function verdictWord(v: Verdict): string {
  return v === 'pass' ? paint('32;1', 'PASS') : v === 'fail' ? paint('31;1', 'FAIL') : paint('33;1', 'INCONCLUSIVE');
}

export function verdictSentence(v: Verdict): string {
  switch (v) {
    case 'pass':
      return 'The backward pass is correct: it agrees with the finite differences.';
    case 'fail':
      return 'There is a mistake in the backward pass.';
    case 'inconclusive':
      return 'No mistake found, but some entries cannot be judged at this ε (see below).';
  }
}

export function sci(x: number, digits = 3): string {
  return Number.isFinite(x) ? x.toExponential(digits) : String(x);
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
  const what = g.diagnosis ? g.diagnosis.summary.replace(/^[^:]+: /, '') : (g.note ?? '');
  const how = g.method === 'directions' ? ' (directions)' : '';
  return [
    g.name,
    shapeText(g.shape),
    sci(g.difference),
    (g.verdict === 'pass' ? 'pass' : g.verdict === 'fail' ? 'FAIL' : 'inconclusive') + how,
    what,
  ];
}

export function formatCheck(r: CheckResult, ctx: CheckContext): string {
  const out: string[] = [];
  out.push(`GradProof check: ${ctx.model} on ${ctx.data}, backward: ${ctx.backprop}`);
  out.push('');
  out.push(`${verdictWord(r.verdict)}  ${verdictSentence(r.verdict)}`);
  out.push(
    `  difference  ${r.difference.toPrecision(12)}   (threshold ${r.threshold}; ${r.scheme} differences, ε = ${r.epsilon})`,
  );
  out.push(
    `  ${r.parameters} parameters, ${r.evaluations} cost evaluations, ${ctx.seconds.toFixed(3)} s (${ctx.mode === 'fast' ? 'fast mode, ' : ''}${ctx.evaluation}, ${ctx.workers} worker${ctx.workers === 1 ? '' : 's'})`,
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
          .map((e) => [e.name, sci(e.analytic, 6), sci(e.numerical, 6), sci(e.absError), sci(e.relError)]),
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
          p.epsilon.toExponential(0),
          sci(p.difference),
          sci(p.smoothDifference),
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
    `  difference  ${r.difference.toPrecision(12)}   (threshold ${r.threshold}, ε = ${r.epsilon})`,
  ].join('\n');
}
