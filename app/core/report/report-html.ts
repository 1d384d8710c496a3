import type { CheckResult, GroupReport } from '../check/result.js';
import { barChartSvg, groupDifferenceSeries, sweepChartSvg } from './charts.js';
import {
  fmtCorrelation,
  fmtCount,
  fmtDifference,
  fmtEpsilon,
  fmtPercent,
  fmtSeconds,
  fmtThreshold,
  fmtUtc,
  fmtValue,
} from './numbers.js';
import type { AuditPredicate, Meaning, Statement } from './statement.js';
import {
  type ReportState,
  VERDICT_WORD,
  executiveSentence,
  inSurfaceWords,
  reportStateWords,
  signatureMeaning,
  verdictSentence,
  verdictTitle,
  verificationWords,
  watermarkWord,
} from './words.js';

/**
 * The report as a printable HTML page: page one for an executive (the report's state, the
 * verdict in one sentence, what was audited, the chart, who signed and how to check it), then
 * a technical appendix with the figures. Built only from the stored signed statement and its
 * sign-offs (nothing is recomputed), with the charts as static SVG so the page is complete the
 * moment it loads. Every page carries the report's ID, state and page number in its margins
 * (CSS page margin boxes), and a report that is not approved carries a diagonal watermark.
 */
export interface PrintableSignature {
  meaning: Meaning;
  name: string;
  role: string;
  signedAt: string;
  fingerprint: string;
  comment: string | null;
}

export interface PrintableReport {
  id: string;
  state: ReportState;
  sha256: string;
  statement: Statement<AuditPredicate>;
  signatures: PrintableSignature[];
  verified: boolean;
  verificationProblem?: string;
  /** What the four-eyes rule rests on when it is weaker than two people (e.g. one OS account made both keys). */
  fourEyes?: string[];
  paper: 'a4' | 'letter';
}

const esc = (s: unknown): string =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
/** A string inside a CSS `content: "…"`. */
const cssString = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\r\n]/g, ' ')}"`;

export { executiveSentence };

/** What was audited, said without GradProof's jargon. */
function auditedCode(p: AuditPredicate): string {
  const impl = p.provenance.implementation;
  if (impl.kind === 'builtin') {
    const n = impl.defects?.length ?? 0;
    return n
      ? `GradProof's reference code with ${n} deliberate test defect${n === 1 ? '' : 's'}`
      : `GradProof's reference code for this model`;
  }
  return impl.kind === 'module' ? `JavaScript module ${impl.ref.replace(/^module:/, '')}` : `Program: ${impl.ref}`;
}

function partsVerdict(r: CheckResult): { label: string; value: string } {
  const n = r.groups.length;
  const bad = r.groups.filter((g) => g.verdict === 'fail');
  const open = r.groups.filter((g) => g.verdict === 'inconclusive');
  if (bad.length) return { label: 'Parts with wrong gradients', value: `${bad.length} of ${n}` };
  if (open.length) return { label: 'Parts that could not be judged', value: `${open.length} of ${n}` };
  return { label: 'Parts with wrong gradients', value: `none of ${n}` };
}

const GROUP_VERDICT: Record<GroupReport['verdict'], string> = {
  pass: 'pass',
  fail: 'FAIL',
  inconclusive: 'inconclusive',
};

const STYLE = `
@page {
  size: PAPER;
  margin: 17mm 15mm 15mm 15mm;
  @top-left { content: HEADER; font: 7.5pt 'DejaVu Sans', Arial, sans-serif; color: #5c6570; }
  @top-right { content: STATE; font: bold 7.5pt 'DejaVu Sans', Arial, sans-serif; color: STATECOLOR; }
  @bottom-left { content: FOOTER; font: 7pt 'DejaVu Sans Mono', monospace; color: #5c6570; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font: 7.5pt 'DejaVu Sans', Arial, sans-serif; color: #5c6570; }
}
* { box-sizing: border-box; }
body { font: 10pt/1.4 'DejaVu Sans', 'Helvetica Neue', Arial, sans-serif; color: #1b1f24; margin: 0; }
h1 { font-size: 17pt; margin: 0; }
h2 { font-size: 11.5pt; margin: 12px 0 5px; break-after: avoid; }
h3 { font-size: 10.5pt; margin: 10px 0 4px; break-after: avoid; }
p { margin: 3px 0 6px; }
.head { display: flex; justify-content: space-between; align-items: flex-end; border-bottom: 2px solid #2457c5; padding-bottom: 6px; margin-bottom: 8px; }
.brand { color: #2457c5; font-weight: 800; font-size: 9.5pt; letter-spacing: 0.04em; }
.state-banner { border: 2px solid; border-radius: 8px; padding: 7px 12px; margin: 0 0 8px; }
.state-banner .title { font-size: 14pt; font-weight: 800; letter-spacing: 0.02em; }
.state-banner p { margin: 2px 0 0; }
.state-banner.approved { border-color: #17803d; color: #0f5c2b; } .state-banner.rejected { border-color: #b42318; color: #8f1c13; background: #fcecea; }
.state-banner.draft, .state-banner.prepared { border-color: #9a6700; color: #6b4800; background: #fff6dc; }
.verified { font-size: 9pt; margin: 0 0 8px; }
.verified.bad { color: #fff; background: #b42318; font-weight: 800; font-size: 11pt; padding: 6px 10px; border-radius: 6px; }
.verdict { border: 2px solid; border-radius: 10px; padding: 9px 14px; margin: 0 0 8px; }
.verdict.pass { border-color: #17803d; background: #e9f6ed; } .verdict.fail { border-color: #b42318; background: #fcecea; } .verdict.inconclusive { border-color: #9a6700; background: #fff6dc; }
.verdict .word { font-size: 19pt; font-weight: 800; line-height: 1.1; }
.verdict.pass .word { color: #17803d; } .verdict.fail .word { color: #b42318; } .verdict.inconclusive .word { color: #8a5c00; }
.verdict p { margin: 4px 0 0; font-size: 11pt; }
.figures { display: grid; grid-template-columns: repeat(3, 1fr); gap: 4px 14px; margin: 6px 0; }
.figures div span { display: block; color: #5c6570; font-size: 8pt; }
.figures div strong { font-size: 10pt; }
table { border-collapse: collapse; width: 100%; font-size: 8.6pt; }
th, td { text-align: left; padding: 2.5px 5px; border-bottom: 1px solid #d9dde3; vertical-align: top; }
th { color: #5c6570; font-weight: 600; }
tr { break-inside: avoid; }
.mono { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 7.8pt; }
td.mono { white-space: nowrap; } td.mono.wrap { white-space: normal; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 0 16px; }
.wrap { word-break: break-all; }
.chart svg { width: 100%; height: auto; display: block; }
/* Page one fills exactly one page: the chart takes what the other blocks leave, so two
   sign-offs, long comments or four-eyes notes never push the last block onto a near-empty page. */
.page-one { height: PAGEONE; display: flex; flex-direction: column; break-after: page; }
.page-one > * { flex: 0 0 auto; }
.page-one .chart-one { flex: 1 1 0; min-height: 28mm; max-height: 78mm; position: relative; }
.page-one .chart-one svg { position: absolute; inset: 0; width: 100%; height: 100%; }
.gp-chart { font-family: 'DejaVu Sans', Arial, sans-serif; }
.gp-chart text { fill: #3b424b; font-size: 11px; }
.gp-chart .axis-label { font-size: 11px; fill: #5c6570; }
.gp-chart .grid { stroke: #e3e6ea; } .gp-chart .baseline { stroke: #9aa4b1; }
.gp-chart .bar.pass { fill: #2f9e55; } .gp-chart .bar.fail { fill: #c8382c; } .gp-chart .bar.inconclusive { fill: #d49a12; } .gp-chart .bar.running { fill: #2457c5; }
.gp-chart .threshold { stroke: #b42318; stroke-dasharray: 6 4; stroke-width: 1.5; } .gp-chart .threshold-label { fill: #b42318; }
.gp-chart .curve { fill: none; stroke-width: 2; } .gp-chart .curve.s0 { stroke: #2457c5; } .gp-chart .curve.s1 { stroke: #c2410c; }
.gp-chart circle.s0 { fill: #2457c5; } .gp-chart circle.s1 { fill: #c2410c; } .gp-chart .dashed { stroke-dasharray: 5 3; }
.gp-chart .marker { stroke: #0f766e; stroke-width: 1.5; stroke-dasharray: 2 3; } .gp-chart .marker-label { fill: #0f766e; }
.gp-chart .marker-alt { stroke: #7c3aed; stroke-width: 1.5; stroke-dasharray: 2 3; } .gp-chart .marker-alt-label { fill: #7c3aed; }
.signoff td, .signoff th { font-size: 8.4pt; }
.signoff .fp { white-space: nowrap; }
.signoff tr.sig td { border-bottom: 0; padding-bottom: 0; }
.signoff tr.means td { font-size: 7.8pt; padding-top: 0; }
.foureyes { font-size: 8pt; color: #6b4800; margin: 4px 0 0; }
.digest { margin-top: 6px; font-size: 8pt; color: #3b424b; }
.howto { background: #f3f5f8; border: 1px solid #d9dde3; border-radius: 6px; padding: 5px 9px; margin-top: 6px; font-size: 8.2pt; break-inside: avoid; }
.howto code { display: block; white-space: nowrap; font-family: 'DejaVu Sans Mono', Menlo, monospace; font-size: 7.8pt; margin: 1px 0 1px 8px; }
.appendix { }
.appendix section { break-inside: auto; }
.keep { break-inside: avoid; }
.muted { color: #5c6570; }
.small { font-size: 8pt; }
.right { text-align: right; }
.watermark { position: fixed; top: 42%; left: 0; right: 0; text-align: center; transform: rotate(-35deg); font-size: 88pt; font-weight: 800; letter-spacing: 0.06em; color: rgba(180, 35, 24, 0.13); z-index: 10; pointer-events: none; white-space: nowrap; }
.watermark.long { font-size: 54pt; }
`;

const STATE_COLOR: Record<ReportState, string> = {
  draft: '#9a6700',
  prepared: '#9a6700',
  approved: '#17803d',
  rejected: '#b42318',
};

export function reportHtml(r: PrintableReport): string {
  const p = r.statement.predicate;
  const res = p.result;
  const subj = Object.fromEntries(r.statement.subject.map((s) => [s.name.split(':')[0], s]));
  const state = reportStateWords(
    r.state,
    r.signatures.map((s) => ({ meaning: s.meaning, name: s.name, comment: s.comment })),
  );
  const watermark = watermarkWord(r.state);
  const verification = verificationWords(
    { ok: r.verified, ...(r.verificationProblem ? { problem: r.verificationProblem } : {}) },
    r.state,
  );
  const parts = partsVerdict(res);
  const sigRows = r.signatures.length
    ? r.signatures
        .map(
          (s) =>
            `<tr class="sig"><td><strong>${esc(signatureMeaning(s.meaning).label)}</strong></td><td>${esc(s.name)} <span class="muted">(${esc(s.role)})</span></td><td>${esc(fmtUtc(s.signedAt))}</td><td class="mono fp">${esc(s.fingerprint)}</td></tr>` +
            `<tr class="means"><td></td><td colspan="3"><span class="muted">${esc(signatureMeaning(s.meaning).statement(s.name))}</span>${s.comment ? ` ${s.meaning === 'rejection' ? 'Reason' : 'Comment'}: “${esc(s.comment)}”` : ''}</td></tr>`,
        )
        .join('')
    : `<tr><td colspan="4" class="muted">Not signed yet.</td></tr>`;
  const settings = Object.entries(p.settings)
    .map(
      ([k, v]) =>
        `<tr><th>${esc(k)}</th><td class="mono">${esc(typeof v === 'object' ? JSON.stringify(v) : k === 'epsilon' && typeof v === 'number' ? fmtEpsilon(v) : k === 'threshold' && typeof v === 'number' ? fmtThreshold(v) : v)}</td></tr>`,
    )
    .join('');
  const env = Object.entries(p.environment)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
    .join('');
  const perGroupEps = res.epsilon === 'auto';
  const groups = res.groups
    .map((g) => {
      const d = g.diagnosis;
      const detail = d
        ? `${esc(d.summary)} <span class="muted">(correlation ${esc(fmtCorrelation(d.correlation))}, ${esc(fmtPercent(d.residual))} unexplained)</span>`
        : esc(inSurfaceWords(g.note ?? '', 'app'));
      return `<tr><td class="mono">${esc(g.name)}</td><td>${esc(g.shape.join('×'))}</td><td class="mono">${fmtDifference(g.difference)}</td><td>${GROUP_VERDICT[g.verdict]}</td>${perGroupEps ? `<td class="mono">${fmtEpsilon(g.epsilon)}</td>` : ''}<td>${detail}${g.fix ? `<br><span class="muted">To settle it: ${esc(inSurfaceWords(g.fix, 'app'))}</span>` : ''}</td></tr>`;
    })
    .join('');
  const worst = res.worst
    .slice(0, 8)
    .map(
      (e) =>
        `<tr><td class="mono">${esc(e.name)}</td><td class="mono">${fmtValue(e.analytic)}</td><td class="mono">${fmtValue(e.numerical)}</td><td class="mono">${fmtValue(e.absError)}</td><td class="mono">${fmtDifference(e.relError)}</td></tr>`,
    )
    .join('');
  const sweep = res.epsilonSweep
    ? `<section class="keep"><h2>ε sweep</h2><p>${esc(res.epsilonSweep.summary)}</p><div class="chart">${sweepChartSvg({ sweep: res.epsilonSweep, chosen: res.epsilon, threshold: res.threshold, width: 640, height: 220 })}</div></section><table><tr><th>ε</th><th>difference</th><th>without kinked entries</th><th>kinked entries</th></tr>${res.epsilonSweep.points.map((pt) => `<tr><td class="mono">${fmtEpsilon(pt.epsilon)}</td><td class="mono">${fmtDifference(pt.difference)}</td><td class="mono">${fmtDifference(pt.smoothDifference)}</td><td>${pt.kinkedEntries}</td></tr>`).join('')}</table>`
    : '';
  const chart = barChartSvg({
    categories: res.groups.map((g) => g.name),
    series: groupDifferenceSeries(res.groups),
    threshold: res.threshold,
    width: 640,
    height: 165,
    title: 'Error per part of the model, log scale, with the pass threshold',
    yLabel: 'error (log)',
  });
  const headerText = `GradProof · report ${r.id} · ${p.provenance.model.name}`;
  const css = STYLE.replace('PAPER', r.paper === 'letter' ? 'letter' : 'A4')
    // The page's height less its top and bottom margins (17 mm + 15 mm), less a little for rounding.
    .replace('PAGEONE', r.paper === 'letter' ? '246mm' : '263mm')
    .replace('HEADER', cssString(headerText))
    .replace('STATE', cssString(`${r.state.toUpperCase()}${r.verified ? '' : ' · NOT VERIFIED'}`))
    .replace('STATECOLOR', r.verified ? STATE_COLOR[r.state] : '#b42318')
    .replace('FOOTER', cssString(`SHA-256 ${r.sha256}`));
  const verified = `<p class="verified ${r.verified ? 'ok' : 'bad'}">${esc(verification)}</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GradProof report ${esc(r.id)} (${esc(r.state)})</title>
<style>${css}</style></head>
<body data-report="${esc(r.id)}" data-state="${esc(r.state)}">
${watermark ? `<div class="watermark${watermark.length > 8 ? ' long' : ''}" aria-hidden="true">${esc(watermark)}</div>` : ''}
<section class="page-one">
  <div class="head"><div><div class="brand">GRADPROOF · GRADIENT AUDIT REPORT</div><h1>${esc(p.provenance.model.name)}</h1></div><div class="muted right">Report ${esc(r.id)}<br>${esc(fmtUtc(p.run.startedAt))}</div></div>
  <div class="state-banner ${esc(r.state)}"><div class="title">${esc(state.title)}</div><p>${esc(state.sentence)}</p></div>
  ${verified}
  <div class="verdict ${esc(res.verdict)}"><div class="word">${VERDICT_WORD[res.verdict]}: ${esc(verdictTitle(res.verdict))}</div><p>${esc(executiveSentence(p))}</p></div>
  <div class="figures">
    <div><span>Model</span><strong>${esc(p.provenance.model.name)}</strong></div>
    <div><span>Data used</span><strong>${esc(p.provenance.dataset.ref)}${p.provenance.dataset.examples ? ` (${fmtCount(p.provenance.dataset.examples)} examples)` : ''}</strong></div>
    <div><span>Training code audited</span><strong>${esc(auditedCode(p))}</strong></div>
    <div><span>Parameters checked</span><strong>${fmtCount(res.parameters)}</strong></div>
    <div><span>${esc(parts.label)}</span><strong>${esc(parts.value)}</strong></div>
    <div><span>Audited</span><strong>${esc(fmtUtc(p.run.startedAt).replace(/:\d\d UTC$/, ' UTC'))}</strong></div>
  </div>
  <h2>How far each part of the model is from the true gradient</h2>
  <div class="chart chart-one">${chart}</div>
  <p class="muted small">Each bar is one part of the model (a weight matrix or bias), coloured by its verdict; the dashed line is the pass threshold.${res.groups.some((g) => g.verdict === 'pass' && g.difference > res.threshold) ? ' A part just above the line still passes when the excess is within the measurement’s own error (see the appendix).' : ''} Exact figures are in the appendix.</p>
  <h2>Sign-off</h2>
  <table class="signoff"><tr><th>meaning</th><th>name</th><th>signed (UTC)</th><th>key fingerprint</th></tr>${sigRows}</table>
  ${(r.fourEyes ?? []).map((w) => `<p class="foureyes">Four eyes: ${esc(w)}.</p>`).join('')}
  <div class="digest">Report SHA-256 <span class="mono wrap">${esc(r.sha256)}</span></div>
  <div class="howto">This PDF is a rendering of the signed report; the signed bytes are the record. To check them:
    <code>gradproof verify ${esc(r.id)}</code>
    or, without GradProof, export a bundle and run its script (openssl alone):
    <code>gradproof report export ${esc(r.id)} --bundle DIR</code>
    <code>cd DIR &amp;&amp; sh verify-openssl.sh</code></div>
</section>
<section class="appendix">
  <h1>Technical appendix</h1>
  <h2>Verdict</h2>
  <p>${esc(verdictSentence(res, 'app'))}</p>
  <div class="figures">
    <div><span>difference, formula (3) over all parameters</span><strong class="mono">${fmtDifference(res.difference)}</strong></div>
    <div><span>pass threshold</span><strong class="mono">${fmtThreshold(res.threshold)}</strong></div>
    <div><span>scheme and ε</span><strong>${esc(res.scheme)}, ${res.epsilon === 'auto' ? 'auto (per group)' : fmtEpsilon(res.epsilon)}</strong></div>
    <div><span>cost evaluations</span><strong>${fmtCount(res.evaluations)}</strong></div>
    <div><span>mode</span><strong>${esc(res.mode)}</strong></div>
    <div><span>run time</span><strong>${esc(fmtSeconds(p.run.seconds))}</strong></div>
  </div>
  ${res.findings.length ? `<h2>Findings</h2>${res.findings.map((f) => `<p>• ${esc(inSurfaceWords(f, 'app'))}</p>`).join('')}` : ''}
  <h2>Per-group results and diagnosis</h2>
  <table><tr><th>group</th><th>shape</th><th>difference</th><th>verdict</th>${perGroupEps ? '<th>ε</th>' : ''}<th>diagnosis / note</th></tr>${groups}</table>
  ${worst ? `<h2>Worst entries</h2><table><tr><th>entry</th><th>analytic</th><th>numerical</th><th>abs error</th><th>rel error</th></tr>${worst}</table>` : ''}
  ${res.inconclusive.entries ? `<h2>Inconclusive entries (${fmtCount(res.inconclusive.entries)})</h2><p>${esc(res.inconclusive.reason)}: ${esc(res.inconclusive.examples.map((e) => e.name).join(', '))}</p>` : ''}
  ${sweep}
  <h2>What was checked (SHA-256)</h2>
  <table>
    <tr><th>model</th><td>${esc(p.provenance.model.ref)}</td><td class="mono wrap">${esc(subj.model?.digest.sha256)}</td></tr>
    <tr><th>weights</th><td>${esc(p.provenance.weights.source)}</td><td class="mono wrap">${esc(subj.weights?.digest.sha256)}</td></tr>
    <tr><th>dataset</th><td>${esc(p.provenance.dataset.ref)}${p.provenance.dataset.transform ? `, ${esc(p.provenance.dataset.transform)}` : ''}</td><td class="mono wrap">${esc(subj.dataset?.digest.sha256)}</td></tr>
    <tr><th>implementation</th><td>${esc(p.provenance.implementation.ref)}${p.provenance.implementation.defects?.length ? ` (planted defects: ${esc(p.provenance.implementation.defects.join(', '))})` : ''}</td><td class="mono wrap">${esc(subj.implementation?.digest.sha256)}</td></tr>
    <tr><th>per-entry evidence</th><td>${fmtCount(p.evidence.entries.count)} entries</td><td class="mono wrap">${esc(p.evidence.entries.sha256)}</td></tr>
  </table>
  <div class="two keep">
    <div><h2>Settings</h2>
    <table>${settings}<tr><th>round-off per entry</th><td class="mono">${fmtValue(res.noise.perEntry)} (${fmtCount(res.noise.sampled)} samples)</td></tr></table></div>
    <div><h2>Environment</h2>
    <table>${env}</table></div>
  </div>

  <p class="muted small">Run ${esc(p.run.id)}. Audit log head when the report was made: row ${p.auditLog.seq}, <span class="mono wrap">${esc(p.auditLog.hash)}</span>.</p>
</section>
</body></html>`;
}
