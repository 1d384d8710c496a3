import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { SHOTS, axe, collectErrors, goHash, launch, read, serve } from './browser.js';
import type { ChildProcess } from 'node:child_process';

// The built renderer in Debian's headless Chromium against `gradproof serve` on a fresh
// database, driven as an engineer and a compliance officer would, and held to what a person
// reads on the screen: headlines, banners, sentences, tick labels.
const DIR = mkdtempSync(path.join(tmpdir(), 'gp-e2e-'));
const DB = path.join(DIR, 'e2e.db');
const OUT = path.join(ROOT, 'test-output', 'e2e');
execFileSync('mkdir', ['-p', OUT]);

let server: ChildProcess;
let url = '';
let browser: Browser;
let page: Page;
let pageErrors: string[] = [];
const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
const ids: Record<string, string> = {};

/** Start an audit from the New audit form and wait for its result page; returns the run id. */
async function audit(setup: () => Promise<void>): Promise<string> {
  await goHash(page, '#/new');
  await page.waitForSelector('#f-model');
  await setup();
  await page.click('button:has-text("Run audit")');
  await page.waitForSelector('[data-testid="verdict"]', { timeout: 60_000 });
  return decodeURIComponent(page.url().split('#/run/')[1]!);
}

beforeAll(async () => {
  ({ url, server } = await serve(DB));
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  pageErrors = collectErrors(page);
  page.on('dialog', (d) => void d.dismiss());
  await page.goto(url);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
});

describe('theme', () => {
  it('with dark as the OS preference, the toggle offers the light theme and its first click switches', async () => {
    const dark = await browser.newPage({ colorScheme: 'dark' });
    await dark.goto(url);
    await dark.waitForSelector('button.theme');
    expect(await dark.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    expect(await read(dark, 'button.theme')).toBe('☀ Switch to light theme');
    await dark.click('button.theme');
    expect(await dark.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
    expect(await read(dark, 'button.theme')).toBe('☾ Switch to dark theme');
    await dark.close();
  });
});

describe('identities and the identity in use', () => {
  it('creates an engineer and a reviewer; the first becomes the identity in use', async () => {
    await goHash(page, '#/identities');
    for (const [name, role, pass] of [
      ['Erin Engineer', 'engineer', 'engineer-secret'],
      ['Rafael Reviewer', 'reviewer', 'reviewer-secret'],
    ]) {
      await page.fill('#i-name', name!);
      await page.selectOption('#i-role', role!);
      await page.fill('#i-pass', pass!);
      await page.fill('#i-repeat', pass!);
      await page.click('button:has-text("Create identity")');
      await page.waitForSelector(`td:has-text("${name}")`);
    }
    expect(await read(page, '[data-testid="signed-in"]')).toMatch(/^Signed in as Erin Engineer \(engineer\)/);
    await page.fill('#i-pass', 'short');
    await page.click('button:has-text("Create identity")');
    await page.waitForSelector('text=At least 8 characters.');
    await shot('identities');
  });
});

describe('New audit', () => {
  it('explains invalid input next to its field, before anything runs', async () => {
    await goHash(page, '#/new');
    await page.waitForSelector('h1:has-text("New audit")');
    await page.fill('#f-eps', '-1');
    await page.click('button:has-text("Run audit")');
    expect(await read(page, '#e-epsilon')).toBe('ε must be greater than 0');
    expect(await page.getAttribute('#f-eps', 'aria-describedby')).toBe('e-epsilon');
    await page.fill('#f-eps', 'abc');
    await page.waitForSelector('#e-epsilon:has-text("give a number such as 1e-7, or auto")');
    await shot('new-audit-invalid');
    await page.fill('#f-eps', '1e-7');
    await page.waitForSelector('#e-epsilon', { state: 'detached' });
  });

  it('a missing dataset is refused next to the dataset field, on the form, and the form survives leaving', async () => {
    await page.fill('#f-data', '/no/such/payments.csv');
    await page.click('button:has-text("Run audit")');
    await page.waitForSelector('#e-data');
    expect(await read(page, '#e-data')).toBe(
      '/no/such/payments.csv: no such file; give the path of a .csv, .npy, .npz or .json dataset',
    );
    expect(await read(page, 'main h1')).toBe('New audit');
    await goHash(page, '#/runs');
    await page.waitForSelector('h1:has-text("Runs")');
    await goHash(page, '#/new');
    await page.waitForSelector('#f-data');
    expect(await page.inputValue('#f-data')).toBe('/no/such/payments.csv');
    expect(await read(page, '#e-data')).toMatch(/no such file/);
    await page.fill('#f-data', 'builtin:notebook-case');
  });

  it('ε auto disables the step; fast mode alone enables directions; disabled inputs look disabled', async () => {
    await page.check('#f-eps-auto');
    expect(await page.isDisabled('#f-eps')).toBe(true);
    const look = await page.evaluate(() => {
      const s = getComputedStyle(document.getElementById('f-dirs')!);
      const t = getComputedStyle(document.getElementById('f-thr')!);
      return { disabled: [s.backgroundColor, s.borderStyle], enabled: [t.backgroundColor, t.borderStyle] };
    });
    expect(look.disabled).not.toEqual(look.enabled);
    expect(await page.isDisabled('#f-dirs')).toBe(true);
    await page.uncheck('#f-eps-auto');
  });

  it('the implementation kinds are one radio group (one tab stop), with PyTorch among them', async () => {
    expect(await page.locator('input[name="kind"]').count()).toBe(4);
    await page.check('input[name="kind"][value="pytorch"]');
    await page.waitForSelector('#f-script');
    await page.waitForSelector('#f-python');
    await page.focus('input[name="kind"][value="pytorch"]');
    await page.keyboard.press('Shift+Tab');
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement).name)).not.toBe('kind');
    await page.check('input[name="kind"][value="builtin"]');
  });

  it('Alt+letter does not fire while typing in a field, and does elsewhere', async () => {
    await page.focus('#f-defects');
    await page.keyboard.press('Alt+R');
    expect(await read(page, 'main h1')).toBe('New audit');
    await page.focus('#f-scheme');
    await page.evaluate(() => (document.activeElement as HTMLElement).blur());
    await page.keyboard.press('Alt+R');
    await page.waitForSelector('h1:has-text("Runs")');
    // Focus moves to the new page's heading.
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
  });
});

describe('a live run', () => {
  it('survives a reload, draws its chart with axis labels and threshold, and tells a cancel plainly', async () => {
    await goHash(page, '#/new');
    await page.waitForSelector('#f-model');
    await page.fill('#f-model', 'mlp:30,64,32,1');
    await page.fill('#f-data', 'random:2048');
    await page.selectOption('#f-backprop', 'correct');
    await page.selectOption('#f-eval', 'full');
    await page.click('button:has-text("Run audit")');
    await page.waitForSelector('[data-testid="live-title"]:has-text("Audit running")');
    await page.waitForFunction(() => /\d+ evaluations\/s/.test(document.body.innerText), undefined, {
      timeout: 30_000,
    });
    const live = page.url();
    await page.reload();
    await page.waitForSelector('[data-testid="live-title"]:has-text("Audit running")');
    // After a reload the page reads the job's state: entries done, never "starting…" again.
    await page.waitForFunction(() => /[1-9][\d,]* \/ [1-9][\d,]+/.test(document.body.innerText), undefined, {
      timeout: 30_000,
    });
    expect(page.url()).toMatch(/\?run=run-/);
    // The live chart is chart.js on a canvas; its axes and threshold as chart.js holds them, its figures as a table.
    await page.waitForSelector('[data-testid="live-chart"] canvas', { timeout: 30_000 });
    await page.waitForFunction(() =>
      /W1/.test(document.querySelector('[data-testid="live-chart"] table')?.textContent ?? ''),
    );
    // The y axis spans whole decades that hold the threshold (2e-7) and every bar.
    const range = (await page.getAttribute('[data-testid="live-chart"]', 'data-y-range'))!;
    const [lo, hi] = /^(1e-?\d+|1) to (1e-?\d+|1), log$/
      .exec(range)!
      .slice(1)
      .map((t) => Math.log10(Number(t)));
    expect(lo!).toBeLessThanOrEqual(-7);
    expect(hi!).toBeGreaterThan(lo!);
    expect(await page.getAttribute('[data-testid="live-chart"]', 'data-threshold')).toBe('2e-7');
    expect(await read(page, '[data-testid="live-chart"] caption')).toMatch(/threshold 2e-7/);
    expect(await read(page, '[data-testid="live-chart"] caption')).toMatch(/^Per-group difference so far/);
    await shot('live-run');
    await page.click('button:has-text("Cancel")');
    await page.waitForSelector('[data-testid="live-title"]:has-text("Audit cancelled")', { timeout: 20_000 });
    expect(await read(page, '[data-testid="live-status"]')).toMatch(
      /^You cancelled this audit after [\d,]+ of [\d,]+ entries\. It is saved as run run-\S+, marked cancelled, with no verdict\.$/,
    );
    expect(await page.getAttribute('[data-testid="live-status"]', 'class')).not.toMatch(/error/);
    // A fresh page on the same address later still tells the truth, with the link to the run.
    const fresh = await browser.newPage();
    await fresh.goto(live.replace(/#.*/, '') + '#' + live.split('#')[1]);
    await fresh.waitForSelector('[data-testid="live-title"]:has-text("Audit cancelled")');
    expect(await fresh.locator('[data-testid="live-status"] a').first().getAttribute('href')).toMatch(/^#\/run\/run-/);
    await fresh.close();
  });
});

describe('results', () => {
  it("the notebook's buggy backward: FAIL, W2 ×2 and b1 ×4, one figure format, readable log ticks", async () => {
    ids.buggy = await audit(async () => {
      await page.selectOption('#f-backprop', 'notebook-buggy');
      await page.fill('#f-model', 'builtin:notebook-fraud');
      await page.fill('#f-data', 'builtin:notebook-case');
      await page.selectOption('#f-eval', 'incremental');
    });
    expect(await read(page, '[data-testid="verdict"] h1')).toBe('FAIL: Backpropagation has a mistake');
    expect(await read(page, '[data-testid="verdict-sentence"]')).toBe(
      'There is a mistake in the backward pass: b1 and W2 disagree with the finite differences (2 of 6 groups).',
    );
    const verdict = await read(page, '[data-testid="verdict"]');
    expect(verdict).toMatch(/difference 0\.2851 threshold 2e-7/);
    await page.waitForSelector('text=W2: backward is 2.000× the true gradient');
    await page.waitForSelector('text=b1: backward is 4.000× the true gradient');
    const ticks = await page.locator('[data-testid="group-chart"] text.tick').allTextContents();
    expect(ticks.length).toBeGreaterThan(2);
    for (const t of ticks) expect(t).toMatch(/^(1|1e-?\d+)$/);
    expect(await read(page, '[data-testid="group-chart"] .threshold-label')).toBe('threshold 2e-7');
    // The legend's swatches are drawn with the bars' own classes.
    const legend = await page
      .locator('[data-testid="group-chart"] .legend-item rect')
      .evaluateAll((rs) => rs.map((r) => r.getAttribute('class')));
    expect(legend).toEqual(['bar pass', 'bar fail']);
    await shot('result-fail');
  });

  it('a W1 ×1.000001 defect is never shown as ×1.000 or 0.00% unexplained', async () => {
    ids.tiny = await audit(async () => {
      await page.selectOption('#f-backprop', 'correct');
      await page.fill('#f-defects', 'W1:scale:1.000001');
    });
    const text = await read(page, 'main');
    expect(text).not.toMatch(/1\.000×/);
    expect(text).not.toMatch(/0\.00% unexplained/);
    expect(text).toMatch(/W1: backward is 1\.0000011× the true gradient/);
  });

  it('the fixed backward passes; its ε sweep marks the step used and the one recommended', async () => {
    ids.fixed = await audit(async () => {
      await page.selectOption('#f-backprop', 'correct');
      await page.fill('#f-defects', '');
      await page.check('#f-sweep');
    });
    expect(await read(page, '[data-testid="verdict"] h1')).toBe('PASS: Backpropagation is correct');
    await page.waitForSelector('[data-testid="sweep-chart"] svg');
    const sweep = page.locator('[data-testid="sweep-chart"]');
    expect(await sweep.locator('.marker-label').textContent()).toBe('ε used: 1e-7');
    expect(await sweep.locator('.marker-alt-label').textContent()).toMatch(/^recommended: 1e-\d+$/);
    const xt = await sweep.locator('text.tick').allTextContents();
    for (const t of xt) expect(t).toMatch(/^(1|1e-?\d+)$/);
    expect(await sweep.locator('.threshold-label').textContent()).toBe('threshold 2e-7');
    await shot('result-pass');
  });

  it('names, tags and notes on a run; the runs list finds it', async () => {
    await goHash(page, `#/run/${ids.buggy}`);
    await page.click('button:has-text("Edit name, tags and notes")');
    await page.fill('#a-name', 'Notebook as shipped');
    await page.fill('#a-tags', 'notebook baseline');
    await page.fill('#a-notes', 'dW2 doubled, db1 times four');
    await page.click('form button:has-text("Save")');
    await page.waitForSelector('[data-testid="run-name"]:has-text("Notebook as shipped")');
    expect(await read(page, '[data-testid="run-name"] strong')).toBe('Notebook as shipped');
    expect(await page.locator('[data-testid="run-name"] li.tag').allInnerTexts()).toEqual(['notebook', 'baseline']);
    await goHash(page, '#/runs');
    await page.waitForSelector('td.run');
    await page.fill('#q', 'shipped');
    await page.waitForSelector('[data-testid="runs-count"]:has-text("1 of 4 runs")');
    expect(await page.locator('tbody tr').count()).toBe(1);
    await page.fill('#q', '');
    await page.selectOption('#fv', 'fail');
    expect((await read(page, '[data-testid="runs-count"]')).startsWith('2 of 4 runs')).toBe(true);
    await page.selectOption('#fv', 'any');
    await shot('runs');
  });
});

describe('compare', () => {
  it('reads from the baseline (default the oldest): buggy → fixed is a fix, and the other way a regression', async () => {
    await goHash(page, `#/compare?ids=${ids.fixed},${ids.buggy}`);
    await page.waitForSelector('[data-testid="compare-headline"]');
    expect(await read(page, '[data-testid="compare-headline"]')).toBe('Fixed: fail → pass');
    const changed = await page.locator('tr.changed td:first-child').allTextContents();
    expect(changed.sort()).toEqual(['W2', 'b1']);
    const marked = await page.locator('tr.differs th').allTextContents();
    expect(marked).toEqual(expect.arrayContaining(['verdict ≠', 'implementation sha256 ≠']));
    expect(marked.some((m) => m.startsWith('started'))).toBe(false);
    await shot('compare');
    const before = await page.locator('.pick label.chosen .swatch').evaluateAll((s) => s.map((x) => x.className));
    await page.selectOption('#cmp-base', ids.fixed!);
    await page.waitForSelector('[data-testid="compare-headline"]:has-text("Regressed: pass → fail")');
    // A third run joins: the first two keep their colours.
    await page.locator('.pick label:not(.chosen) input').first().check();
    await page.waitForFunction(() => document.querySelectorAll('.pick label.chosen').length === 3);
    const after = await page.locator('.pick label.chosen .swatch').evaluateAll((s) => s.map((x) => x.className));
    expect(after).toEqual(expect.arrayContaining(before));
  });
});

describe('the compliance officer’s flow', () => {
  it('a draft says it is a draft, first; the signing ceremony shows meaning, verdict and digest', async () => {
    await goHash(page, `#/run/${ids.fixed}`);
    await page.waitForSelector('#r-author');
    await page.selectOption('#r-author', { label: 'Erin Engineer (engineer)' });
    await page.click('button:has-text("Create report")');
    await page.waitForSelector('[data-testid="state-banner"]');
    ids.report = decodeURIComponent(page.url().split('#/report/')[1]!);
    expect(await read(page, '[data-testid="state-banner"] h1')).toBe('DRAFT: not signed');
    const verification = await read(page, '[data-testid="verification"]');
    expect(verification).toMatch(/^✓ Verified: the report matches its digest/);
    expect(verification).not.toMatch(/every signature/);
    const digest = (await read(page, 'p:has-text("Report SHA-256") .hash')).trim();
    await page.click('button:has-text("Sign as author…")');
    await page.waitForSelector('dialog[open]');
    expect(await read(page, '[data-testid="sign-meaning"]')).toBe(
      'What this signature means: I, Erin Engineer, am the author of this report: it is a true account of the audit run it names, and I submit it for review.',
    );
    expect(await read(page, '[data-testid="sign-digest"]')).toBe(digest);
    expect(await read(page, 'dialog')).toMatch(/Verdict signed PASS: Backpropagation is correct/);
    await page.waitForFunction(() => document.activeElement?.id === 'sd-pass');
    await shot('sign-dialog');
    expect(await axe(page), 'axe on the signing dialog').toEqual([]);
    await page.fill('#sd-pass', 'wrong-passphrase');
    await page.click('dialog button[type="submit"]');
    await page.waitForSelector('#sd-error:has-text("wrong passphrase for Erin Engineer")');
    await page.fill('#sd-pass', 'engineer-secret');
    await page.click('dialog button[type="submit"]');
    await page.waitForSelector('[data-testid="state-banner"] h1:has-text("PREPARED: awaiting review")');
    // Focus returns to the page when the dialog closes, not to <body>.
    expect(await page.evaluate(() => document.activeElement?.tagName)).not.toBe('BODY');
    // The failed attempt is on the record, in this report's trail.
    await page.waitForSelector('[data-testid="trail"] td:has-text("Failed passphrase attempt")');
    expect(await read(page, '[data-testid="trail"] tr.failed')).toMatch(
      new RegExp(`Erin Engineer tried to prepare ${ids.report}`),
    );
  });

  it('a second report of the same run asks first', async () => {
    await goHash(page, `#/run/${ids.fixed}`);
    await page.waitForSelector('[data-testid="run-reports"]');
    expect(await read(page, '[data-testid="run-reports"]')).toMatch(new RegExp(`${ids.report} PREPARED Erin Engineer`));
    await page.click('button:has-text("Create report")');
    await page.waitForSelector('[role="alertdialog"]');
    expect(await read(page, '[role="alertdialog"]')).toMatch(/^This run already has a report\./);
    await page.click('button:has-text("Keep the existing one")');
    expect(await page.locator('[role="alertdialog"]').count()).toBe(0);
  });

  it("the reviewer's inbox lists it; approval shows APPROVED and verified", async () => {
    await goHash(page, '#/identities');
    await page.click('button[aria-label="Use Rafael Reviewer"]');
    await page.waitForSelector('[data-testid="signed-in"]:has-text("Rafael Reviewer")');
    await goHash(page, '#/inbox');
    await page.waitForSelector(`[data-testid="inbox"] a:has-text("${ids.report}")`);
    expect(await read(page, '[data-testid="inbox"] tbody tr')).toMatch(/^Review: approve or reject/);
    await shot('inbox');
    await page.click(`[data-testid="inbox"] a:has-text("${ids.report}")`);
    await page.waitForSelector('button:has-text("Approve…")');
    await page.click('button:has-text("Approve…")');
    await page.waitForSelector('dialog[open]');
    expect(await read(page, 'dialog')).toMatch(/Signing as Rafael Reviewer \(reviewer\)/);
    // Both keys were made by this one OS account: the dialog says so before the passphrase.
    await page.waitForSelector('dialog .notice.warn');
    expect(await read(page, 'dialog .notice.warn')).toMatch(
      /^⚠ Rafael Reviewer and the author Erin Engineer were created by the same OS account/,
    );
    await page.fill('#sd-text', 'Backward pass verified against finite differences');
    await page.fill('#sd-pass', 'reviewer-secret');
    await page.click('dialog button[type="submit"]');
    await page.waitForSelector('[data-testid="state-banner"] h1:has-text("APPROVED")');
    expect(await read(page, '[data-testid="state-banner"] p')).toBe(
      'Signed by its author, Erin Engineer, and approved by Rafael Reviewer.',
    );
    expect(await read(page, '[data-testid="verification"]')).toMatch(/^✓ Verified: every signature on it is valid/);
    expect(await read(page, '[data-testid="four-eyes"]')).toMatch(
      /^⚠ Four eyes: Erin Engineer \(author\) and Rafael Reviewer \(approval\) were created by the same OS account .*: nothing here shows they are two people\.$/,
    );
    await shot('report-approved');
    await goHash(page, '#/inbox');
    await page.waitForSelector('[data-testid="inbox"] td:has-text("Nothing is waiting for you.")');
  });

  it('a rejection reads REJECTED with its reason; its PDF carries state, ID and page numbers on every page', async () => {
    await goHash(page, `#/run/${ids.buggy}`);
    await page.waitForSelector('#r-author');
    await page.selectOption('#r-author', { label: 'Erin Engineer (engineer)' });
    await page.click('button:has-text("Create report")');
    await page.waitForSelector('[data-testid="state-banner"]');
    const id = decodeURIComponent(page.url().split('#/report/')[1]!);
    await page.click('button:has-text("Sign as author…")');
    await page.fill('#sd-pass', 'engineer-secret');
    await page.click('dialog button[type="submit"]');
    await page.waitForSelector('button:has-text("Reject…")');
    await page.click('button:has-text("Reject…")');
    await page.fill('#sd-pass', 'reviewer-secret');
    await page.click('dialog button[type="submit"]');
    await page.waitForSelector('#sd-error:has-text("A rejection needs its reason.")');
    await page.fill('#sd-text', 'W2 and b1 are wrong: fix and audit again');
    await page.click('dialog button[type="submit"]');
    await page.waitForSelector('[data-testid="state-banner"] h1:has-text("REJECTED")');
    expect(await read(page, '[data-testid="state-banner"] p')).toBe(
      'Rejected by Rafael Reviewer: “W2 and b1 are wrong: fix and audit again”. This report is not an approval; its run must not be relied on as audited.',
    );
    await shot('report-rejected');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('button:has-text("PDF (A4)")')]);
    const pdf = path.join(OUT, 'rejected.pdf');
    await download.saveAs(pdf);
    const pages = Number(/Pages:\s+(\d+)/.exec(execFileSync('pdfinfo', [pdf], { encoding: 'utf8' }))![1]);
    expect(pages).toBeGreaterThanOrEqual(2);
    for (let i = 1; i <= pages; i++) {
      const text = execFileSync('pdftotext', ['-f', String(i), '-l', String(i), '-layout', pdf, '-'], {
        encoding: 'utf8',
      });
      expect(text, `page ${i}`).toContain(`report ${id}`);
      expect(text, `page ${i}`).toContain('REJECTED');
      expect(text, `page ${i}`).toMatch(new RegExp(`Page ${i} of ${pages}`));
      // No page is near-empty: every one but the last holds most of a page of text.
      if (i < pages) expect(text.split('\n').filter((l) => l.trim()).length, `page ${i}`).toBeGreaterThan(30);
    }
    const one = execFileSync('pdftotext', ['-f', '1', '-l', '1', pdf, '-'], { encoding: 'utf8' });
    expect(one).toMatch(/REJECTED/);
    expect(one).toMatch(/The training code of notebook-fraud has a mistake/);
    expect(one).toMatch(/gradproof verify rep-\S+\n/);
    expect(one).not.toMatch(/formula \(3\)|engine with W2/);
    execFileSync('pdftoppm', ['-f', '1', '-l', '1', '-r', '70', '-png', pdf, path.join(OUT, 'rejected')]);
  });

  it('exports the bundle a third party verifies, as a zip', async () => {
    await goHash(page, `#/report/${ids.report}`);
    await page.waitForSelector('button:has-text("Export bundle (zip)")');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('button:has-text("Export bundle (zip)")'),
    ]);
    const zip = path.join(OUT, 'bundle.zip');
    await download.saveAs(zip);
    const files = unzipSync(new Uint8Array(readFileSync(zip)));
    const names = Object.keys(files).map((f) => f.replace(/^[^/]+\//, ''));
    expect(names).toEqual(expect.arrayContaining(['report.json', 'VERIFY.md', 'verify-openssl.sh', 'manifest.json']));
    const report = Object.entries(files).find(([n]) => n.endsWith('/report.json'))![1];
    const digest = (await read(page, 'p:has-text("Report SHA-256") .hash')).trim();
    expect(createHash('sha256').update(report).digest('hex')).toBe(digest);
    // The openssl script verifies it as unpacked.
    const dir = mkdtempSync(path.join(tmpdir(), 'gp-bundle-'));
    for (const [n, bytes] of Object.entries(files)) {
      const rel = n.replace(/^[^/]+\//, '');
      execFileSync('mkdir', ['-p', path.dirname(path.join(dir, rel))]);
      writeFileSync(path.join(dir, rel), bytes);
    }
    expect(execFileSync('sh', ['verify-openssl.sh'], { cwd: dir, encoding: 'utf8' })).toMatch(/^OK: /m);
  });

  it('the global audit trail, with failed attempts, exported as CSV', async () => {
    await goHash(page, '#/audit');
    await page.waitForSelector('[data-testid="chain"]');
    expect(await read(page, '[data-testid="chain"]')).toMatch(/^✓ The audit log’s hash chain holds \(\d+ rows\)/);
    await page.check('text=Failed passphrase attempts only');
    await page.waitForFunction(
      () => document.querySelectorAll('[data-testid="trail"] tbody tr').length === 1,
      undefined,
      { timeout: 10_000 },
    );
    expect(await read(page, '[data-testid="trail"] tbody tr')).toMatch(/Failed passphrase attempt/);
    await page.uncheck('text=Failed passphrase attempts only');
    await shot('audit-trail');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('button:has-text("Export CSV")')]);
    const csv = readFileSync(await download.path(), 'utf8');
    const lines = csv.trim().split('\r\n');
    expect(lines[0]).toBe('seq,at,action,what,subject,actor,actor_name,details,hash');
    expect(lines.some((l) => l.includes('identity.unlock_failed,Failed passphrase attempt'))).toBe(true);
    expect(lines.some((l) => l.includes('report.approved'))).toBe(true);
  });
});

describe('accessibility', () => {
  it('axe finds no violation on any view, in either theme', async () => {
    const views = [
      '#/new',
      `#/live/${'job-none'}`,
      `#/run/${ids.buggy}`,
      `#/run/${ids.fixed}`,
      '#/runs',
      `#/compare?ids=${ids.buggy},${ids.fixed}`,
      '#/reports',
      `#/report/${ids.report}`,
      '#/inbox',
      '#/audit',
      '#/identities',
      '#/library',
    ];
    const found: string[] = [];
    for (const theme of ['light', 'dark'] as const) {
      if ((await page.evaluate(() => document.documentElement.dataset.theme)) !== theme)
        await page.click('button.theme');
      for (const v of views) {
        await goHash(page, v);
        await page.waitForSelector('main h1');
        await page.waitForFunction(
          () => !/Loading…|Asking GradProof/.test(document.querySelector('main')!.textContent!),
        );
        await page.waitForTimeout(200);
        for (const violation of await axe(page)) found.push(`${theme} ${v}: ${violation}`);
      }
      await shot(`library-${theme}`);
    }
    await page.click('button.theme');
    expect(found).toEqual([]);
  });

  it('no page error anywhere in the session', () => {
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
  });

  it('failing verification is red and loud', async () => {
    // An insider drops an append-only guard with the sqlite3 shell.
    execFileSync('sqlite3', [DB, 'DROP TRIGGER audit_log_no_update;']);
    await goHash(page, '#/reports');
    await goHash(page, `#/report/${ids.report}`);
    await page.waitForSelector('[data-testid="verification"].bad');
    const v = page.locator('[data-testid="verification"]');
    expect(await v.textContent()).toMatch(/^✗ NOT VERIFIED: .+ Do not rely on this report until this is explained\.$/);
    expect(await v.getAttribute('role')).toBe('alert');
    expect(await v.evaluate((e) => getComputedStyle(e).backgroundColor)).toBe('rgb(180, 35, 24)');
    // The state is not worn as a green APPROVED over a record that does not verify.
    expect(await read(page, '[data-testid="state-banner"] h1')).toBe('APPROVED — NOT VERIFIED');
    await shot('report-not-verified');
  });
});
