import type { EpsilonSweep, Verdict } from '../check/result.js';
import { fmtDifference, fmtEpsilon, fmtLogTick, fmtThreshold } from './numbers.js';

/**
 * GradProof's charts as static SVG, drawn the same way in the app and in the PDF: log axes
 * ticked at powers of ten that read as 1e-7, the threshold always inside the plot, the step
 * used marked, and legends built from the very classes the marks are drawn with. Colours
 * come from the classes (each surface's stylesheet), so a theme is a stylesheet.
 */

const esc = (s: unknown): string =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
const r1 = (x: number): string => String(Math.round(x * 10) / 10);

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** Decades [lo, hi] covering every positive value given, at least one decade wide. */
export function decadeRange(values: readonly number[]): { lo: number; hi: number } {
  const pos = values.filter((v) => Number.isFinite(v) && v > 0);
  if (pos.length === 0) return { lo: -8, hi: 0 };
  let lo = Math.floor(Math.log10(Math.min(...pos)) + 1e-9) || 0;
  let hi = Math.ceil(Math.log10(Math.max(...pos)) - 1e-9) || 0;
  if (hi <= lo) hi = lo + 1;
  // A bar needs room below it to read as a bar.
  lo -= 1;
  return { lo, hi };
}

/** The decades to label: all of them, or every second or third when there are many. */
export function logTicks(lo: number, hi: number, room: number): number[] {
  const span = hi - lo;
  const step = Math.max(1, Math.ceil(span / Math.max(2, Math.floor(room))));
  const ticks: number[] = [];
  for (let e = hi; e >= lo; e -= step) ticks.push(e);
  return ticks.reverse();
}

function yAxis(f: Frame, lo: number, hi: number, label: string): { svg: string; y: (v: number) => number } {
  const plotH = f.height - f.top - f.bottom;
  const y = (v: number): number => {
    const e = Math.log10(Math.max(v, 10 ** lo));
    return f.top + plotH - ((Math.min(e, hi) - lo) / (hi - lo)) * plotH;
  };
  const ticks = logTicks(lo, hi, plotH / 28);
  const parts = ticks.map(
    (e) =>
      `<line class="grid" x1="${f.left}" x2="${f.width - f.right}" y1="${r1(y(10 ** e))}" y2="${r1(y(10 ** e))}"/>` +
      `<text class="tick" x="${f.left - 6}" y="${r1(y(10 ** e) + 4)}" text-anchor="end">${fmtLogTick(e)}</text>`,
  );
  const cy = f.top + plotH / 2;
  parts.push(
    `<text class="axis-label" x="14" y="${r1(cy)}" text-anchor="middle" transform="rotate(-90 14 ${r1(cy)})">${esc(label)}</text>`,
  );
  return { svg: parts.join(''), y };
}

interface LegendItem {
  label: string;
  cls: string;
  kind: 'bar' | 'line' | 'marker';
}

/** Legend entries laid out in rows across the chart's width (wrapping as they need). */
function legendLayout(items: LegendItem[], f: Pick<Frame, 'width' | 'left' | 'right'>): { svg: string; rows: number } {
  let x = f.left;
  let row = 0;
  const parts = items.map((it) => {
    const w = it.kind === 'bar' ? 12 : 18;
    const width = w + 5 + it.label.length * 7.4;
    if (x > f.left && x + width > f.width - f.right) {
      x = f.left;
      row++;
    }
    const y = 14 + row * 18;
    const mark =
      it.kind === 'bar'
        ? `<rect class="${it.cls}" x="${r1(x)}" y="${y - 9}" width="12" height="12" rx="2"/>`
        : `<line class="${it.cls}" x1="${r1(x)}" x2="${r1(x + 18)}" y1="${y - 3}" y2="${y - 3}"/>`;
    const out = `<g class="legend-item">${mark}<text class="legend" x="${r1(x + w + 5)}" y="${y + 1}">${esc(it.label)}</text></g>`;
    x += width + 16;
    return out;
  });
  return { svg: parts.join(''), rows: items.length ? row + 1 : 0 };
}

function thresholdLine(f: Frame, y: number, threshold: number): string {
  const label = `threshold ${fmtThreshold(threshold)}`;
  return (
    `<line class="threshold" x1="${f.left}" x2="${f.width - f.right}" y1="${r1(y)}" y2="${r1(y)}"/>` +
    `<text class="threshold-label" x="${f.width - f.right - 4}" y="${r1(y - 5)}" text-anchor="end">${esc(label)}</text>`
  );
}

/** A category's label, cut to the room it has (the full name is in the bar's tooltip). */
function cut(label: string, room: number): string {
  const max = Math.max(3, Math.floor(room / 7));
  return label.length > max ? `${label.slice(0, max - 1)}…` : label;
}

export interface BarSeries {
  label: string;
  /** The series' own colour class (s0 … s7), used for its bars and its legend swatch. */
  cls: string;
  values: (number | null)[];
  /** Per-bar verdicts: each bar then takes its verdict's colour, and the legend lists the verdicts shown. */
  verdicts?: (Verdict | 'running' | null)[];
  /** Per-bar tooltip suffixes, e.g. "12/25 entries". */
  notes?: (string | null)[];
}

/** A run's groups as one bar each: its difference, coloured by its verdict (the result page and the PDF). */
export function groupDifferenceSeries(groups: readonly { difference: number; verdict: Verdict }[]): BarSeries[] {
  return [
    {
      label: 'difference',
      cls: 's0',
      values: groups.map((g) => g.difference),
      verdicts: groups.map((g) => g.verdict),
    },
  ];
}

export interface BarChartOptions {
  categories: string[];
  series: BarSeries[];
  threshold?: number;
  width: number;
  height: number;
  title: string;
  yLabel?: string;
  xLabel?: string;
}

const VERDICT_LABEL: Record<Verdict | 'running', string> = {
  pass: 'passes',
  fail: 'fails',
  inconclusive: 'inconclusive',
  running: 'so far',
};

/** Bars on a log scale per parameter group (one series per run when comparing), with the threshold. */
export function barChartSvg(o: BarChartOptions): string {
  const legend: LegendItem[] = [];
  const verdictsShown = new Set(o.series.flatMap((s) => (s.verdicts ?? []).filter(Boolean) as string[]));
  if (verdictsShown.size) {
    for (const v of ['pass', 'fail', 'inconclusive', 'running'] as const)
      if (verdictsShown.has(v)) legend.push({ label: VERDICT_LABEL[v], cls: `bar ${v}`, kind: 'bar' });
  } else if (o.series.length > 1) {
    for (const s of o.series) legend.push({ label: s.label, cls: `bar ${s.cls}`, kind: 'bar' });
  }
  if (o.threshold !== undefined) legend.push({ label: 'threshold', cls: 'threshold', kind: 'line' });
  const keys = legendLayout(legend, { width: o.width, left: 62, right: 12 });
  const f: Frame = { width: o.width, height: o.height, left: 62, right: 12, top: 12 + 18 * keys.rows, bottom: 44 };
  const all = o.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const { lo, hi } = decadeRange(o.threshold !== undefined ? [...all, o.threshold] : all);
  const axis = yAxis(f, lo, hi, o.yLabel ?? 'difference (log scale)');
  const plotW = f.width - f.left - f.right;
  const slot = plotW / Math.max(1, o.categories.length);
  const inner = slot * 0.72;
  const barW = inner / Math.max(1, o.series.length);
  const base = axis.y(10 ** lo);
  const bars: string[] = [];
  o.categories.forEach((cat, i) => {
    o.series.forEach((s, k) => {
      const v = s.values[i];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const x = f.left + i * slot + (slot - inner) / 2 + k * barW;
      const top = axis.y(Math.max(v, 10 ** lo));
      const verdict = s.verdicts?.[i];
      const cls = verdict ? `bar ${verdict}` : `bar ${s.cls}`;
      const tip = `${cat}${o.series.length > 1 ? ` · ${s.label}` : ''}: ${fmtDifference(v)}${verdict && verdict !== 'running' ? ` (${verdict})` : ''}${s.notes?.[i] ? `, ${s.notes[i]}` : ''}`;
      bars.push(
        `<rect class="${cls}" x="${r1(x + 0.5)}" y="${r1(top)}" width="${r1(Math.max(1, barW - 1))}" height="${r1(Math.max(1, base - top))}"><title>${esc(tip)}</title></rect>`,
      );
    });
  });
  const rotate = o.categories.some((c) => c.length * 7 > slot - 4) && o.categories.length > 1;
  const labels = o.categories
    .map((c, i) => {
      const cx = f.left + i * slot + slot / 2;
      const y = f.height - f.bottom + 16;
      return rotate
        ? `<text class="category" x="${r1(cx)}" y="${y}" text-anchor="end" transform="rotate(-30 ${r1(cx)} ${y})">${esc(cut(c, 90))}</text>`
        : `<text class="category" x="${r1(cx)}" y="${y}" text-anchor="middle">${esc(cut(c, slot))}</text>`;
    })
    .join('');
  const thr = o.threshold !== undefined ? thresholdLine(f, axis.y(o.threshold), o.threshold) : '';
  const xLabel = o.xLabel
    ? `<text class="axis-label" x="${r1(f.left + plotW / 2)}" y="${f.height - 4}" text-anchor="middle">${esc(o.xLabel)}</text>`
    : '';
  return (
    `<svg class="gp-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${o.width} ${o.height}" width="${o.width}" height="${o.height}" role="img" aria-label="${esc(o.title)}">` +
    `<title>${esc(o.title)}</title>` +
    `<g class="axis">${axis.svg}</g>${bars.join('')}${thr}` +
    `<line class="baseline" x1="${f.left}" x2="${f.width - f.right}" y1="${r1(base)}" y2="${r1(base)}"/>` +
    `${labels}${xLabel}${keys.svg}</svg>`
  );
}

export interface SweepChartOptions {
  sweep: EpsilonSweep;
  /** The step the run used ('auto': each group chose its own, nothing single to mark). */
  chosen?: number | 'auto';
  threshold?: number;
  width: number;
  height: number;
}

/** The difference against ε on log-log axes, with the step used, the recommended step and the threshold marked. */
export function sweepChartSvg(o: SweepChartOptions): string {
  const pts = o.sweep.points.filter((p) => p.epsilon > 0);
  const hasKinks = pts.some((p) => p.kinkedEntries > 0 && p.difference !== p.smoothDifference);
  const legend: LegendItem[] = [
    { label: hasKinks ? 'entries without kinks' : 'difference', cls: 'curve s0', kind: 'line' },
  ];
  if (hasKinks) legend.push({ label: 'all entries', cls: 'curve s1 dashed', kind: 'line' });
  if (o.threshold !== undefined) legend.push({ label: 'threshold', cls: 'threshold', kind: 'line' });
  const keys = legendLayout(legend, { width: o.width, left: 62, right: 16 });
  const f: Frame = { width: o.width, height: o.height, left: 62, right: 16, top: 12 + 18 * keys.rows, bottom: 40 };
  const allY = pts.flatMap((p) => [p.difference, p.smoothDifference]);
  const { lo, hi } = decadeRange(o.threshold !== undefined ? [...allY, o.threshold] : allY);
  const axis = yAxis(f, lo, hi, 'difference (log scale)');
  const eps = [...pts.map((p) => p.epsilon), ...(typeof o.chosen === 'number' ? [o.chosen] : [])];
  const xlo = Math.floor(Math.log10(Math.min(...eps)) + 1e-9);
  const xhi = Math.max(xlo + 1, Math.ceil(Math.log10(Math.max(...eps)) - 1e-9));
  const plotW = f.width - f.left - f.right;
  const x = (e: number): number => f.left + ((Math.log10(e) - xlo) / (xhi - xlo)) * plotW;
  const xt = logTicks(xlo, xhi, plotW / 46)
    .map(
      (e) =>
        `<line class="grid" x1="${r1(x(10 ** e))}" x2="${r1(x(10 ** e))}" y1="${f.top}" y2="${f.height - f.bottom}"/>` +
        `<text class="tick" x="${r1(x(10 ** e))}" y="${f.height - f.bottom + 15}" text-anchor="middle">${fmtLogTick(e)}</text>`,
    )
    .join('');
  const line = (key: 'difference' | 'smoothDifference', cls: string, label: string): string => {
    const ok = pts.filter((p) => Number.isFinite(p[key]) && p[key] > 0);
    if (!ok.length) return '';
    const d = ok.map((p, i) => `${i ? 'L' : 'M'}${r1(x(p.epsilon))},${r1(axis.y(p[key]))}`).join(' ');
    const dots = ok
      .map(
        (p) =>
          `<circle class="${cls}" cx="${r1(x(p.epsilon))}" cy="${r1(axis.y(p[key]))}" r="3.2"><title>${esc(`${label} at ε = ${fmtEpsilon(p.epsilon)}: ${fmtDifference(p[key])}${p.kinkedEntries ? ` (${p.kinkedEntries} entries at a kink)` : ''}`)}</title></circle>`,
      )
      .join('');
    return `<path class="curve ${cls}" d="${d}"/>${dots}`;
  };
  const marks: string[] = [];
  const marker = (e: number, cls: string, text: string, row: number): void => {
    const px = x(e);
    const anchor = px > f.left + plotW * 0.75 ? 'end' : 'start';
    marks.push(
      `<line class="${cls}" x1="${r1(px)}" x2="${r1(px)}" y1="${f.top}" y2="${f.height - f.bottom}"/>` +
        `<text class="${cls}-label" x="${r1(px + (anchor === 'end' ? -4 : 4))}" y="${f.top + 12 + 14 * row}" text-anchor="${anchor}">${esc(text)}</text>`,
    );
  };
  const rec = o.sweep.recommendedEpsilon;
  const chosen = typeof o.chosen === 'number' ? o.chosen : undefined;
  if (chosen !== undefined) marker(chosen, 'marker', `ε used: ${fmtEpsilon(chosen)}`, 0);
  if (rec > 0 && (chosen === undefined || Math.abs(Math.log10(rec / chosen)) > 1e-6))
    marker(rec, 'marker-alt', `recommended: ${fmtEpsilon(rec)}`, chosen !== undefined ? 1 : 0);
  const title = `Difference against ε on log-log axes${chosen !== undefined ? `, ε used ${fmtEpsilon(chosen)}` : ''}, recommended ${fmtEpsilon(rec)}`;
  return (
    `<svg class="gp-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${o.width} ${o.height}" width="${o.width}" height="${o.height}" role="img" aria-label="${esc(title)}">` +
    `<title>${esc(title)}</title>` +
    `<g class="axis">${axis.svg}${xt}</g>` +
    (o.threshold !== undefined ? thresholdLine(f, axis.y(o.threshold), o.threshold) : '') +
    marks.join('') +
    (hasKinks ? line('difference', 's1 dashed', 'all entries') : '') +
    line('smoothDifference', 's0', hasKinks ? 'entries without kinks' : 'difference') +
    `<text class="axis-label" x="${r1(f.left + plotW / 2)}" y="${f.height - 6}" text-anchor="middle">ε (finite-difference step, log scale)</text>` +
    keys.svg +
    `</svg>`
  );
}
