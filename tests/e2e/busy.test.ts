import type { ChildProcess } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHOTS, axe, collectErrors, goHash, launch, read, serve } from './browser.js';
import { type BusyDatabase, busyDatabase } from './seed.js';
import path from 'node:path';

// The app on a database as a team has it after a few weeks (36 runs, 5 identities, 7 reports in
// every state, a model with a very long name, one dataset name under many hashes): what a
// person reads must stay readable, and nothing may crash or run off the screen.
let db: BusyDatabase;
let server: ChildProcess;
let browser: Browser;
let page: Page;
let errors: string[] = [];
const shot = (name: string, full = false) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: full });

beforeAll(async () => {
  db = await busyDatabase();
  const s = await serve(db.file);
  server = s.server;
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  errors = collectErrors(page);
  await page.goto(s.url);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
});

const noOverflow = () =>
  page.evaluate(() => {
    const m = document.querySelector('main')!;
    return m.scrollWidth <= m.clientWidth + 1;
  });

describe('a busy database', () => {
  it('the runs list holds 36 runs, with the long name cut to its column and whole on hover', async () => {
    await goHash(page, '#/runs');
    await page.waitForSelector('[data-testid="runs-count"]');
    expect(await read(page, '[data-testid="runs-count"]')).toBe('36 runs');
    expect(await noOverflow()).toBe(true);
    const cell = page.locator(`td.run a[title="${db.longName}"]`);
    expect(await cell.count()).toBe(1);
    expect(await cell.evaluate((e) => e.scrollWidth > e.clientWidth)).toBe(true);
    await shot('runs-busy');
    await page.fill('#q', 'shipped');
    await page.waitForFunction(
      () => document.querySelector('[data-testid="runs-count"]')!.textContent!.trim() === '1 of 36 runs',
    );
    await page.fill('#q', '');
    await page.selectOption('#ft', 'long');
    expect(await read(page, '[data-testid="runs-count"]')).toBe('1 of 36 runs');
    await page.selectOption('#ft', '');
    // Sorting by difference, largest first, puts a failing run on top.
    await page.click('button.sort:has-text("difference")');
    expect(await page.getAttribute('th:has(button.sort:has-text("difference"))', 'aria-sort')).toBe('descending');
    expect(await read(page, 'tbody tr:first-child td:nth-child(4)')).toBe('FAIL');
  });

  it('compare takes at most 8 runs, says so, and the comparison stays on screen', async () => {
    await goHash(page, `#/compare?ids=${db.runs.slice(12, 20).join(',')}`);
    await page.waitForSelector('[data-testid="compare-headline"]');
    expect(await read(page, '[data-testid="compare-headline"]')).toMatch(/^(Unchanged|Against the baseline)/);
    expect(await read(page, '.notice.warn')).toBe('At most 8 runs side by side: unselect one to add another.');
    const free = page.locator('.pick label:not(.chosen) input').first();
    expect(await free.isDisabled()).toBe(true);
    const top = await page.locator('[data-testid="compare-headline"]').evaluate((e) => e.getBoundingClientRect().top);
    expect(top).toBeLessThan(400);
    expect(await noOverflow()).toBe(true);
    await shot('compare-busy');
    // The notebook's buggy run against its fix, the fix picked as baseline: a regression, read that way.
    await goHash(page, `#/compare?ids=${db.runs[0]},${db.runs[1]}&baseline=${db.runs[1]}`);
    await page.waitForSelector('[data-testid="compare-headline"]:has-text("Regressed: pass → fail")');
  });

  it('New audit offers each model once, though one model file was seen under two hashes', async () => {
    await goHash(page, '#/library');
    await page.waitForSelector('h2:has-text("Models")');
    const refs = await page.locator('section[aria-label="Models"] tbody td:nth-child(2)').allInnerTexts();
    const spec = refs.filter((r) => r.endsWith('long.json'));
    expect(spec).toHaveLength(2);
    await goHash(page, '#/new');
    await page.waitForSelector('#models option', { state: 'attached' });
    for (const list of ['#models', '#datasets']) {
      const options = await page
        .locator(`${list} option`)
        .evaluateAll((o) => o.map((x) => (x as HTMLOptionElement).value));
      expect(new Set(options).size, list).toBe(options.length);
    }
    expect(await page.locator('#models option[value$="long.json"]').count()).toBe(1);
  });

  it('every report tells its state first', async () => {
    const expected: Record<keyof BusyDatabase['reports'], RegExp> = {
      draft: /^DRAFT: not signed$/,
      prepared: /^PREPARED: awaiting review$/,
      approved: /^APPROVED$/,
      rejected: /^REJECTED$/,
    };
    for (const [state, list] of Object.entries(db.reports) as [keyof BusyDatabase['reports'], string[]][]) {
      await goHash(page, `#/report/${list[0]}`);
      await page.waitForSelector(`[data-testid="state-banner"].${state}`);
      expect(await read(page, '[data-testid="state-banner"] h1')).toMatch(expected[state]);
      expect(await read(page, '[data-testid="verification"]')).toMatch(/^✓ Verified/);
    }
    await shot('report-rejected-busy');
  });

  it("Rita Reviewer's inbox holds the two reports Eli prepared; the trail shows her failed attempt", async () => {
    await goHash(page, '#/identities');
    await page.click('button[aria-label="Use Rita Reviewer"]');
    await page.waitForSelector('[data-testid="signed-in"]:has-text("Rita Reviewer")');
    await goHash(page, '#/inbox');
    await page.waitForSelector('[data-testid="inbox"] tbody tr:nth-child(2)');
    const rows = await page.locator('[data-testid="inbox"] tbody tr').allInnerTexts();
    expect(rows).toHaveLength(2);
    for (const r of rows) expect(r).toMatch(/^Review: approve or reject\s.*Eli Engineer/s);
    await goHash(page, `#/report/${db.reports.rejected[0]}`);
    await page.waitForSelector('[data-testid="trail"] tr.failed');
    expect(await read(page, '[data-testid="trail"] tr.failed')).toMatch(
      /Failed passphrase attempt .*Rita Reviewer tried to reject/,
    );
  });

  it('axe finds nothing on the busy views, in either theme; screenshots of every view', async () => {
    const views: [string, string][] = [
      ['runs', '#/runs'],
      ['compare', `#/compare?ids=${db.runs[0]},${db.runs[1]},${db.runs[30]}`],
      ['run-long', `#/run/${db.runs[30]}`],
      ['report-rejected', `#/report/${db.reports.rejected[0]}`],
      ['report-prepared', `#/report/${db.reports.prepared[0]}`],
      ['inbox', '#/inbox'],
      ['audit', '#/audit'],
      ['library', '#/library'],
      ['new', '#/new'],
      ['identities', '#/identities'],
      ['reports', '#/reports'],
    ];
    const found: string[] = [];
    for (const theme of ['light', 'dark'] as const) {
      if ((await page.evaluate(() => document.documentElement.dataset.theme)) !== theme)
        await page.click('button.theme');
      for (const [name, hash] of views) {
        await goHash(page, hash);
        await page.waitForSelector('main h1');
        await page.waitForFunction(() => !/Loading…/.test(document.querySelector('main')!.textContent!));
        await page.waitForTimeout(200);
        for (const v of await axe(page)) found.push(`${theme} ${name}: ${v}`);
        expect(await noOverflow(), `${theme} ${name} runs off the screen`).toBe(true);
        await shot(`busy-${name}-${theme}`);
      }
    }
    if ((await page.evaluate(() => document.documentElement.dataset.theme)) !== 'light')
      await page.click('button.theme');
    expect(found).toEqual([]);
    expect(errors, errors.join('\n')).toEqual([]);
  });
});
