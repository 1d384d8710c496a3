import { describe, expect, it } from 'vitest';
import type { EpsilonSweep } from '../../app/core/check/result.js';
import { barChartSvg, decadeRange, logTicks, sweepChartSvg } from '../../app/core/report/charts.js';

const texts = (svg: string, cls: string): string[] =>
  [...svg.matchAll(new RegExp(`<text class="${cls}"[^>]*>([^<]*)</text>`, 'g'))].map((m) => m[1]!);
const attr = (svg: string, cls: string, a: string): number[] =>
  [...svg.matchAll(new RegExp(`<line class="${cls}"[^>]*? ${a}="([-\\d.]+)"`, 'g'))].map((m) => Number(m[1]));

describe('charts', () => {
  it('log ticks are powers of ten written alike, and the threshold lies inside the plot', () => {
    const svg = barChartSvg({
      categories: ['W1', 'b1', 'W2'],
      series: [{ label: 'd', cls: 's0', values: [1e-9, 0.6, 0.33], verdicts: ['pass', 'fail', 'fail'] }],
      threshold: 2e-7,
      width: 600,
      height: 300,
      title: 't',
    });
    const ticks = texts(svg, 'tick');
    expect(ticks.length).toBeGreaterThan(2);
    for (const t of ticks) expect(t).toMatch(/^(1|1e-?\d+)$/);
    const [y] = attr(svg, 'threshold', 'y1');
    expect(y).toBeGreaterThan(0);
    expect(y).toBeLessThan(300 - 44);
    expect(texts(svg, 'threshold-label')).toEqual(['threshold 2e-7']);
  });

  it('the threshold stays in range when every bar is far below or far above it', () => {
    for (const values of [
      [1e-14, 1e-13],
      [0.5, 0.9],
    ]) {
      const svg = barChartSvg({
        categories: ['a', 'b'],
        series: [{ label: 'd', cls: 's0', values }],
        threshold: 2e-7,
        width: 400,
        height: 240,
        title: 't',
      });
      const [y] = attr(svg, 'threshold', 'y1');
      expect(y).toBeGreaterThanOrEqual(12);
      expect(y).toBeLessThanOrEqual(240 - 44);
    }
  });

  it('the legend is drawn with the marks’ own classes: verdict colours for verdict bars, series colours for runs', () => {
    const verdicts = barChartSvg({
      categories: ['a', 'b'],
      series: [{ label: 'd', cls: 's0', values: [1, 1e-9], verdicts: ['fail', 'pass'] }],
      width: 400,
      height: 200,
      title: 't',
    });
    const legend = [...verdicts.matchAll(/<g class="legend-item"><rect class="([^"]+)"/g)].map((m) => m[1]);
    expect(legend).toEqual(['bar pass', 'bar fail']);
    for (const cls of legend) expect(verdicts).toContain(`<rect class="${cls}" x=`);
    const runs = barChartSvg({
      categories: ['a'],
      series: [
        { label: 'run-1', cls: 's3', values: [1] },
        { label: 'run-2', cls: 's0', values: [2] },
      ],
      width: 400,
      height: 200,
      title: 't',
    });
    expect([...runs.matchAll(/<g class="legend-item"><rect class="([^"]+)"/g)].map((m) => m[1])).toEqual([
      'bar s3',
      'bar s0',
    ]);
  });

  it('escapes every label', () => {
    const svg = barChartSvg({
      categories: ['<script>'],
      series: [{ label: '"x"', cls: 's0', values: [1] }],
      width: 300,
      height: 200,
      title: '<b>',
    });
    expect(svg).not.toMatch(/<script>|<b>/);
  });

  it('the ε sweep marks the step used and the one recommended, and reads ε increasing to the right', () => {
    const sweep: EpsilonSweep = {
      scheme: 'central',
      entries: 47,
      points: [1e-1, 1e-3, 1e-5, 1e-7, 1e-9].map((epsilon, i) => ({
        epsilon,
        difference: [5e-3, 2e-8, 1e-9, 1e-7, 2e-5][i]!,
        smoothDifference: [2e-4, 2e-8, 1e-9, 1e-7, 2e-5][i]!,
        kinkedEntries: i === 0 ? 5 : 0,
      })),
      expectedSlope: 2,
      slope: 2,
      floor: 1e-9,
      recommendedEpsilon: 1e-5,
      flat: false,
      summary: '',
    };
    const svg = sweepChartSvg({ sweep, chosen: 1e-7, threshold: 2e-7, width: 640, height: 260 });
    expect(texts(svg, 'marker-label')).toEqual(['ε used: 1e-7']);
    expect(texts(svg, 'marker-alt-label')).toEqual(['recommended: 1e-5']);
    const [used] = attr(svg, 'marker', 'x1');
    const [recommended] = attr(svg, 'marker-alt', 'x1');
    expect(recommended!).toBeGreaterThan(used!);
    for (const t of texts(svg, 'tick')) expect(t).toMatch(/^(1|1e-?\d+)$/);
    expect(svg).toContain('all entries');
  });

  it('decades and tick spacing', () => {
    expect(decadeRange([2e-7, 0.6])).toEqual({ lo: -8, hi: 0 });
    expect(logTicks(-12, 0, 3)).toEqual([-12, -8, -4, 0]);
  });
});
