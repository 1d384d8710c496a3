import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';

// The built renderer in Debian's headless Chromium against `gradproof serve` on a
// temporary database: every view, driven as a user would, and photographed.
const SHOTS = path.join(ROOT, 'test-output', 'screenshots');
mkdirSync(SHOTS, { recursive: true });
const DB = path.join(mkdtempSync(path.join(tmpdir(), 'gp-e2e-')), 'e2e.db');

let server: ChildProcess;
let url = '';
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
const goHash = async (hash: string) => {
  await page.evaluate((h) => (location.hash = h), hash);
};

beforeAll(async () => {
  server = spawn(process.execPath, [BIN, '--db', DB, 'serve', '--port', '0', '--workers', '2'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d) => {
      out += d;
      const m = /running at (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // A 4xx the UI handles (a wrong passphrase) is logged by Chromium as a failed resource: not a page error.
  page.on(
    'console',
    (m) =>
      m.type() === 'error' &&
      !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()) &&
      pageErrors.push(m.text()),
  );
  await page.goto(url);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
});

describe('the GradProof UI, end to end', () => {
  it('identities: create an engineer and a reviewer', async () => {
    await goHash('#/identities');
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
    await page.fill('#i-pass', 'short');
    await page.click('button:has-text("Create identity")');
    await page.waitForSelector('text=At least 8 characters.');
    await shot('identities');
  });

  it('new audit: invalid input is explained next to the field', async () => {
    await goHash('#/new');
    await page.waitForSelector('h1:has-text("New audit")');
    await page.fill('#f-eps', '-1');
    await page.click('button:has-text("Run audit")');
    await page.waitForSelector('text=ε must be greater than 0');
    await page.fill('#f-eps', 'abc');
    await page.waitForSelector('text=give a number such as 1e-7, or auto');
    await shot('new-audit-invalid');
    await page.fill('#f-eps', '1e-7');
    await page.waitForSelector('text=give a number such as 1e-7', { state: 'detached' });
    await shot('new-audit');
  });

  it('live run: progress, rate, ETA and a per-group chart filling in; cancel stops it', async () => {
    await page.fill('#f-model', 'mlp:30,64,32,1');
    await page.fill('#f-data', 'random:2048');
    await page.selectOption('#f-backprop', 'correct');
    await page.selectOption('#f-eval', 'full');
    await page.click('button:has-text("Run audit")');
    await page.waitForSelector('h1:has-text("Audit running")');
    await page.waitForFunction(() => /\d+ evaluations\/s/.test(document.body.innerText), undefined, {
      timeout: 30_000,
    });
    await page.waitForSelector('text=Per-group difference so far', { timeout: 30_000 });
    await shot('live-run');
    await page.click('button:has-text("Cancel")');
    await page.waitForSelector('text=The audit was cancelled', { timeout: 10_000 });
  });

  it("result: the notebook's buggy backward is diagnosed, W2 ×2 and b1 ×4", async () => {
    await goHash('#/new');
    await page.waitForSelector('#f-model');
    await page.selectOption('#f-backprop', 'notebook-buggy');
    await page.click('button:has-text("Run audit")');
    await page.waitForSelector('[data-testid="verdict"]', { timeout: 30_000 });
    const verdict = await page.textContent('[data-testid="verdict"]');
    expect(verdict).toMatch(/FAIL: Backpropagation has a mistake/);
    expect(verdict).toMatch(/0\.28509315677/);
    await page.waitForSelector('text=W2: backward is 2.000× the true gradient');
    await page.waitForSelector('text=b1: backward is 4.000× the true gradient');
    await page.waitForSelector('td:has-text("b1[0,0]")');
    await shot('result-fail');
  });

  it('result: the fixed backward passes, with its ε sweep', async () => {
    await goHash('#/new');
    await page.waitForSelector('#f-model');
    await page.selectOption('#f-backprop', 'correct');
    await page.check('#f-sweep');
    await page.click('button:has-text("Run audit")');
    await page.waitForSelector('[data-testid="verdict"]', { timeout: 30_000 });
    expect(await page.textContent('[data-testid="verdict"]')).toMatch(/PASS: Backpropagation is correct/);
    await page.waitForSelector('h2:has-text("ε sweep")');
    await shot('result-pass');
  });

  it('runs list', async () => {
    await goHash('#/runs');
    await page.waitForSelector('h1:has-text("Runs")');
    await page.waitForSelector('text=cancelled');
    expect(await page.locator('tbody tr').count()).toBe(3);
    await shot('runs');
  });

  it('compare: the buggy and fixed runs side by side, W2 and b1 marked changed', async () => {
    await goHash('#/compare');
    const boxes = page.locator('.pick input[type="checkbox"]');
    // The list arrives asynchronously: wait for both completed runs to be offered.
    await page.waitForFunction(() => document.querySelectorAll('.pick input[type="checkbox"]').length === 2);
    expect(await boxes.count()).toBe(2);
    await boxes.nth(0).check();
    await boxes.nth(1).check();
    await page.waitForSelector('h2:has-text("Verdict:")');
    expect(await page.textContent('h2:has-text("Verdict:")')).toMatch(/pass → fail|fail → pass/);
    const changed = await page.locator('tr.changed td:first-child').allTextContents();
    expect(changed.sort()).toEqual(['W2', 'b1']);
    expect(await page.locator('tr.differs th').allTextContents()).toEqual(
      expect.arrayContaining(['verdict ≠', 'implementation sha256 ≠']),
    );
    await shot('compare');
  });

  it('reports: prepare, approve and verify a report', async () => {
    await goHash('#/runs');
    await page.click('tbody tr:first-child a');
    await page.waitForSelector('[data-testid="verdict"]');
    await page.selectOption('#r-author', { label: 'Erin Engineer (engineer)' });
    await page.click('button:has-text("Create report")');
    await page.waitForSelector('.badge:has-text("draft")');
    await page.click('button:has-text("Sign as author")');
    await page.fill('#pp-pass', 'wrong-passphrase');
    await page.click('dialog button:has-text("Sign")');
    await page.waitForSelector('text=wrong passphrase for Erin Engineer');
    await page.fill('#pp-pass', 'engineer-secret');
    await page.click('dialog button:has-text("Sign")');
    await page.waitForSelector('.badge:has-text("prepared")');
    await page.click('button:has-text("Approve…")');
    expect(await page.locator('#pp-as option').allTextContents()).toEqual(['Rafael Reviewer (reviewer)']);
    await page.fill('#pp-pass', 'reviewer-secret');
    await page.fill('#pp-text', 'Backward pass verified against finite differences');
    await shot('report-approve-dialog');
    await page.click('dialog button:has-text("Sign")');
    await page.waitForSelector('.badge:has-text("approved")');
    const verification = await page.textContent('[data-testid="verification"]');
    expect(verification).toMatch(/✓ Verified/);
    await page.waitForSelector('td:has-text("Rafael Reviewer")');
    expect(await page.locator('td.mono').first().textContent()).toMatch(/^[0-9A-F]{4}(:[0-9A-F]{4}){7}$/);
    await shot('report');
    await goHash('#/reports');
    await page.waitForSelector('h1:has-text("Reports")');
    await page.waitForSelector('.badge:has-text("approved")');
    await shot('reports');
  });

  it('library, dark theme, and 1920×1080', async () => {
    await goHash('#/library');
    await page.waitForSelector('h2:has-text("Implementations")');
    await page.waitForSelector('td:has-text("builtin:payments")');
    await shot('library');
    await goHash('#/runs');
    await page.click('tbody tr:has(.badge.fail) a');
    await page.waitForSelector('[data-testid="verdict"]');
    await page.click('button:has-text("Dark theme")');
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await shot('result-dark');
    await page.setViewportSize({ width: 1920, height: 1080 });
    await shot('result-dark-1920');
    await page.click('button:has-text("Light theme")');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('is keyboard usable: Alt+letter moves between sections, Tab reaches the controls', async () => {
    await page.keyboard.press('Alt+R');
    await page.waitForSelector('h1:has-text("Runs")');
    await page.keyboard.press('Alt+N');
    await page.waitForSelector('h1:has-text("New audit")');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.tagName);
    expect(['A', 'BUTTON', 'INPUT', 'SELECT']).toContain(focused);
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
  });
});
