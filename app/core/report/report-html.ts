import type { EpsilonSweep, GroupReport } from '../check/result.js';
import type { AuditPredicate, Statement } from './statement.js';

/**
 * The report as a printable HTML page: page one for an executive, then a
 * technical appendix. Built only from the stored signed statement and its
 * sign-offs (nothing is recomputed), with the charts as static SVG so the page
 * is complete the moment it loads. Print it to PDF (A4 or Letter).
 */
export interface PrintableSignature {
  meaning: string;
  name: string;
  role: string;
  signedAt: string;
  fingerprint: string;
  comment: string | null;
}

export interface PrintableReport {
  id: string;
  state: string;
  sha256: string;
  statement: Statement<AuditPredicate>;
  signatures: PrintableSignature[];
  verified: boolean;
  verificationProblem?: string;
  paper: 'a4' | 'letter';
}

const esc = (s: unknown): string =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
const sci = (x: number | null | undefined, d = 3): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : x === 0 ? '0' : x.toExponential(d);
const utc = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');

/** One sentence a non-engineer understands. */
export function executiveSentence(p: AuditPredicate): string {
  const r = p.result;
  const model = p.provenance.model.name;
  const n = r.parameters.toLocaleString('en-US');
  if (r.verdict === 'pass') {
    return `The training code of ${model} computes its gradients correctly: GradProof measured all ${n} parameters independently and found no error, so the model learns as designed.`;
  }
  if (r.verdict === 'fail') {
    const bad = r.groups.filter((g) => g.verdict === 'fail');
    const example =
      bad[0]?.diagnosis?.kind === 'scale'
        ? ` (for example, ${bad[0].name} comes out ${bad[0].diagnosis.factor!.toFixed(1)} times too large)`
        : '';
    return `The training code of ${model} has a mistake: the gradients of ${bad.map((g) => g.name).join(' and ')} are wrong${example}, so the model would not learn as designed. It must be fixed and checked again before the model is trusted.`;
  }
  return `No mistake was found in the training code of ${model}, but ${r.inconclusive.entries} of ${n} parameters could not be judged at this step size; an engineer should re-check them before sign-off.`;
}

function barChart(groups: GroupReport[], threshold: number): string {
  const values = groups.map((g) => Math.max(g.difference, 1e-18));
  const lo = Math.floor(Math.log10(Math.min(...values, threshold)));
  const hi = Math.ceil(Math.log10(Math.max(...values, threshold)));
  const W = 640;
  const H = 220;
  const left = 56;
  const bottom = 28;
  const plotH = H - bottom - 10;
  const y = (v: number): number => 10 + plotH - ((Math.log10(v) - lo) / Math.max(1, hi - lo)) * plotH;
  const slot = (W - left - 10) / groups.length;
  const ticks: string[] = [];
  for (let e = lo; e <= hi; e++)
    ticks.push(
      `<line x1="${left}" x2="${W - 10}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" class="grid"/><text x="${left - 6}" y="${y(10 ** e) + 4}" text-anchor="end">1e${e}</text>`,
    );
  const bars = groups
    .map((g, i) => {
      const x = left + i * slot + slot * 0.18;
      const top = y(Math.max(g.difference, 10 ** lo));
      return `<rect x="${x}" y="${top}" width="${slot * 0.64}" height="${10 + plotH - top}" class="bar ${g.verdict}"/><text x="${x + slot * 0.32}" y="${H - 10}" text-anchor="middle">${esc(g.name)}</text>`;
    })
    .join('');
  const ty = y(threshold);
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Per-group difference, log scale, with the threshold"><g class="axis">${ticks.join('')}</g>${bars}<line x1="${left}" x2="${W - 10}" y1="${ty}" y2="${ty}" class="threshold"/></svg>`;
}

function sweepChart(s: EpsilonSweep): string {
  const pts = s.points.filter((p) => Number.isFinite(p.smoothDifference) && p.smoothDifference > 0);
  if (pts.length < 2) return '';
  const W = 640;
  const H = 200;
  const xs = pts.map((p) => Math.log10(p.epsilon));
  const ys = pts.map((p) => Math.log10(p.smoothDifference));
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.floor(Math.min(...ys)), Math.ceil(Math.max(...ys))];
  const px = (v: number): number => 50 + ((x1 - v) / Math.max(1e-9, x1 - x0)) * (W - 70);
  const py = (v: number): number => 10 + ((y1 - v) / Math.max(1, y1 - y0)) * (H - 40);
  const path = pts.map((_, i) => `${i ? 'L' : 'M'}${px(xs[i]!)},${py(ys[i]!)}`).join(' ');
  const labels = pts
    .map((p, i) => `<text x="${px(xs[i]!)}" y="${H - 12}" text-anchor="middle">${p.epsilon.toExponential(0)}</text>`)
    .join('');
  const grid: string[] = [];
  for (let e = y0; e <= y1; e++)
    grid.push(
      `<line x1="50" x2="${W - 20}" y1="${py(e)}" y2="${py(e)}" class="grid"/><text x="44" y="${py(e) + 4}" text-anchor="end">1e${e}</text>`,
    );
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Difference against epsilon, log-log"><g class="axis">${grid.join('')}${labels}</g><path d="${path}" class="curve"/>${pts.map((_, i) => `<circle cx="${px(xs[i]!)}" cy="${py(ys[i]!)}" r="3" class="dot"/>`).join('')}</svg>`;
}

const STYLE = `
@page { size: PAPER; margin: 16mm 15mm 16mm 15mm; }
* { box-sizing: border-box; }
body { font: 10.5pt/1.45 'DejaVu Sans', 'Helvetica Neue', Arial, sans-serif; color: #1b1f24; margin: 0; }
h1 { font-size: 19pt; margin: 0; }
h2 { font-size: 12.5pt; margin: 16px 0 6px; }
h3 { font-size: 11pt; margin: 12px 0 4px; }
.head { display: flex; justify-content: space-between; align-items: flex-start; border-bottom: 2px solid #2457c5; padding-bottom: 8px; margin-bottom: 12px; }
.brand { color: #2457c5; font-weight: 800; font-size: 11pt; letter-spacing: 0.04em; }
.state { font-weight: 800; padding: 3px 10px; border-radius: 99px; font-size: 9pt; text-transform: uppercase; border: 1.5px solid; }
.state.approved { color: #17803d; } .state.rejected { color: #b42318; } .state.prepared, .state.draft { color: #9a6700; }
.verdict { border: 2px solid; border-radius: 10px; padding: 12px 16px; margin: 10px 0 12px; }
.verdict.pass { border-color: #17803d; background: #e9f6ed; } .verdict.fail { border-color: #b42318; background: #fcecea; } .verdict.inconclusive { border-color: #9a6700; background: #fff6dc; }
.verdict .word { font-size: 20pt; font-weight: 800; }
.verdict.pass .word { color: #17803d; } .verdict.fail .word { color: #b42318; } .verdict.inconclusive .word { color: #9a6700; }
.verdict p { margin: 4px 0 0; font-size: 11.5pt; }
.figures { display: grid; grid-template-columns: repeat(4, 1fr); gap: 6px 14px; margin: 8px 0; }
.figures div span { display: block; color: #5c6570; font-size: 8.5pt; }
.figures div strong { font-size: 11pt; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #d9dde3; vertical-align: top; }
th { color: #5c6570; font-weight: 600; }
.mono { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 8.3pt; word-break: break-all; }
svg { width: 100%; height: auto; font: 8.5pt 'DejaVu Sans', Arial, sans-serif; fill: #5c6570; }
svg .grid { stroke: #e3e6ea; } svg .bar.pass { fill: #2f9e55; } svg .bar.fail { fill: #c8382c; } svg .bar.inconclusive { fill: #d49a12; }
svg .threshold { stroke: #b42318; stroke-dasharray: 6 4; stroke-width: 1.5; } svg .threshold-label { fill: #b42318; }
svg .curve { fill: none; stroke: #2457c5; stroke-width: 2; } svg .dot { fill: #2457c5; }
.signoff td, .signoff th { font-size: 9pt; }
.signoff td:nth-child(-n+4) { white-space: nowrap; }
.digest { margin-top: 10px; font-size: 8.5pt; color: #3b424b; }
.verify { background: #f3f5f8; border: 1px solid #d9dde3; border-radius: 6px; padding: 6px 10px; margin-top: 6px; font-size: 8.5pt; }
.appendix { break-before: page; }
.warn { color: #b42318; font-weight: 700; }
.muted { color: #5c6570; }
`;

export function reportHtml(r: PrintableReport): string {
  const p = r.statement.predicate;
  const res = p.result;
  const word = res.verdict === 'pass' ? 'PASS' : res.verdict === 'fail' ? 'FAIL' : 'INCONCLUSIVE';
  const subj = Object.fromEntries(r.statement.subject.map((s) => [s.name.split(':')[0], s]));
  const sigRows = r.signatures.length
    ? r.signatures
        .map(
          (s) =>
            `<tr><td><strong>${esc(s.meaning)}</strong></td><td>${esc(s.name)}</td><td>${esc(s.role)}</td><td>${esc(utc(s.signedAt))}</td><td class="mono">${esc(s.fingerprint)}</td><td>${esc(s.comment ?? '')}</td></tr>`,
        )
        .join('')
    : `<tr><td colspan="6" class="muted">Not signed yet.</td></tr>`;
  const settings = Object.entries(p.settings)
    .map(
      ([k, v]) =>
        `<tr><th>${esc(k)}</th><td class="mono">${esc(typeof v === 'object' ? JSON.stringify(v) : v)}</td></tr>`,
    )
    .join('');
  const env = Object.entries(p.environment)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
    .join('');
  const groups = res.groups
    .map(
      (g) =>
        `<tr><td class="mono">${esc(g.name)}</td><td>${g.shape.join('×')}</td><td class="mono">${sci(g.difference)}</td><td>${esc(g.verdict)}</td><td>${esc(g.diagnosis ? `${g.diagnosis.summary} (correlation ${g.diagnosis.correlation.toFixed(4)}, ${(g.diagnosis.residual * 100).toFixed(2)}% unexplained)` : (g.note ?? ''))}</td></tr>`,
    )
    .join('');
  const worst = res.worst
    .slice(0, 10)
    .map(
      (e) =>
        `<tr><td class="mono">${esc(e.name)}</td><td class="mono">${sci(e.analytic, 6)}</td><td class="mono">${sci(e.numerical, 6)}</td><td class="mono">${sci(e.absError)}</td><td class="mono">${sci(e.relError)}</td></tr>`,
    )
    .join('');
  const sweep = res.epsilonSweep
    ? `<h2>ε sweep</h2><p>${esc(res.epsilonSweep.summary)}</p>${sweepChart(res.epsilonSweep)}<table><tr><th>ε</th><th>difference</th><th>without kinked entries</th><th>kinked entries</th></tr>${res.epsilonSweep.points.map((pt) => `<tr><td>${pt.epsilon.toExponential(0)}</td><td class="mono">${sci(pt.difference)}</td><td class="mono">${sci(pt.smoothDifference)}</td><td>${pt.kinkedEntries}</td></tr>`).join('')}</table>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GradProof report ${esc(r.id)}</title>
<style>${STYLE.replace('PAPER', r.paper === 'letter' ? 'letter' : 'A4')}</style></head>
<body data-report="${esc(r.id)}">
<section>
  <div class="head"><div><div class="brand">GRADPROOF · GRADIENT AUDIT REPORT</div><h1>${esc(p.provenance.model.name)}</h1><div class="muted">Report ${esc(r.id)} · run ${esc(p.run.id)} · ${esc(utc(p.run.startedAt))}</div></div><div class="state ${esc(r.state)}">${esc(r.state)}</div></div>
  <div class="verdict ${esc(res.verdict)}"><div class="word">${word}</div><p>${esc(executiveSentence(p))}</p></div>
  <div class="figures">
    <div><span>Model</span><strong>${esc(p.provenance.model.name)}</strong></div>
    <div><span>Dataset</span><strong>${esc(p.provenance.dataset.ref)}</strong></div>
    <div><span>Parameters checked</span><strong>${res.parameters.toLocaleString('en-US')}</strong></div>
    <div><span>Parameter groups failing</span><strong>${res.groups.filter((g) => g.verdict === 'fail').length} of ${res.groups.length}</strong></div>
    <div><span>Difference (formula 3)</span><strong>${sci(res.difference, 4)}</strong></div>
    <div><span>Pass threshold</span><strong>${res.threshold}</strong></div>
    <div><span>Examples in the data</span><strong>${p.provenance.dataset.examples.toLocaleString('en-US')}</strong></div>
    <div><span>Backward pass audited</span><strong>${esc(p.provenance.implementation.kind === 'builtin' ? (p.provenance.implementation.defects?.length ? `engine with ${p.provenance.implementation.defects.join(', ')}` : 'GradProof engine') : p.provenance.implementation.ref)}</strong></div>
  </div>
  <h2>Error per parameter group <span class="muted" style="font-weight:400;font-size:9pt">(log scale; dashed red line: the pass threshold, ${res.threshold}; green passes, red fails)</span></h2>
  ${barChart(res.groups, res.threshold)}
  <h2>Sign-off</h2>
  <table class="signoff"><tr><th>meaning</th><th>name</th><th>role</th><th>signed (UTC)</th><th>key fingerprint</th><th>comment</th></tr>${sigRows}</table>
  <div class="digest">Report SHA-256 <span class="mono">${esc(r.sha256)}</span> · ${r.verified ? 'signatures and audit log verified when this PDF was made' : `<span class="warn">NOT VERIFIED: ${esc(r.verificationProblem ?? '')}</span>`}</div>
  <div class="verify">Verify it yourself: <span class="mono">gradproof verify ${esc(r.id)}</span>, or export a bundle with <span class="mono">gradproof report export ${esc(r.id)} --bundle DIR</span> and run <span class="mono">sh verify-openssl.sh</span> (openssl alone). This PDF is a rendering of the signed report; the signed bytes are the record.</div>
</section>
<section class="appendix">
  <h1>Technical appendix</h1>
  <h2>Findings</h2>
  ${res.findings.map((f) => `<p>• ${esc(f)}</p>`).join('')}
  <h2>Per-group results and diagnosis</h2>
  <table><tr><th>group</th><th>shape</th><th>difference</th><th>verdict</th><th>diagnosis / note</th></tr>${groups}</table>
  ${worst ? `<h2>Worst entries</h2><table><tr><th>entry</th><th>analytic</th><th>numerical</th><th>abs error</th><th>rel error</th></tr>${worst}</table>` : ''}
  ${res.inconclusive.entries ? `<h2>Inconclusive entries (${res.inconclusive.entries})</h2><p>${esc(res.inconclusive.reason)}: ${esc(res.inconclusive.examples.map((e) => e.name).join(', '))}</p>` : ''}
  ${sweep}
  <h2>What was checked (SHA-256)</h2>
  <table>
    <tr><th>model</th><td>${esc(p.provenance.model.ref)}</td><td class="mono">${esc(subj.model?.digest.sha256)}</td></tr>
    <tr><th>weights</th><td>${esc(p.provenance.weights.source)}</td><td class="mono">${esc(subj.weights?.digest.sha256)}</td></tr>
    <tr><th>dataset</th><td>${esc(p.provenance.dataset.ref)}${p.provenance.dataset.transform ? `, ${esc(p.provenance.dataset.transform)}` : ''}</td><td class="mono">${esc(subj.dataset?.digest.sha256)}</td></tr>
    <tr><th>implementation</th><td>${esc(p.provenance.implementation.ref)}</td><td class="mono">${esc(subj.implementation?.digest.sha256)}</td></tr>
    <tr><th>per-entry evidence</th><td>${p.evidence.entries.count} entries</td><td class="mono">${esc(p.evidence.entries.sha256)}</td></tr>
  </table>
  <h2>Settings</h2>
  <table>${settings}<tr><th>round-off per entry</th><td class="mono">${sci(res.noise.perEntry)} (from ${res.noise.sampled} samples)</td></tr><tr><th>cost evaluations</th><td>${res.evaluations.toLocaleString('en-US')}</td></tr></table>
  <h2>Environment</h2>
  <table>${env}</table>
  <p class="muted">Audit log head when the report was made: row ${p.auditLog.seq}, ${esc(p.auditLog.hash)}.</p>
</section>
</body></html>`;
}
