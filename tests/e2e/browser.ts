import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { BIN, ROOT } from '../helpers/cli.js';

export const SHOTS = path.join(ROOT, 'test-output', 'screenshots');
mkdirSync(SHOTS, { recursive: true });
const AXE = readFileSync(path.join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/** `gradproof serve` on a database, as a person starts it; resolves with its URL (token included). */
export async function serve(db: string): Promise<{ url: string; server: ChildProcess }> {
  const server = spawn(process.execPath, [BIN, '--db', db, 'serve', '--port', '0', '--workers', '2'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d) => {
      out += d;
      const m = /running at (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
  return { url, server };
}

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
}

/** Page errors and console errors, except a 4xx the UI handles (a wrong passphrase, an unknown job). */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on(
    'console',
    (m) =>
      m.type() === 'error' &&
      !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()) &&
      errors.push(m.text()),
  );
  return errors;
}

export async function goHash(page: Page, hash: string): Promise<void> {
  await page.evaluate((h) => (location.hash = h), hash);
}

export async function setTheme(page: Page, theme: 'light' | 'dark'): Promise<void> {
  await page.evaluate((t) => {
    document.documentElement.dataset.theme = t;
    localStorage.setItem('gradproof-theme', t);
  }, theme);
}

/** axe-core's WCAG 2.x A/AA rules on the page as it is: the violations, one line each. */
export async function axe(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE);
  return page.evaluate(async () => {
    const w = window as unknown as {
      axe: {
        run: (
          ctx: Document,
          o: object,
        ) => Promise<{
          violations: { id: string; help: string; nodes: { target: string[]; failureSummary?: string }[] }[];
        }>;
      };
    };
    const r = await w.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return r.violations.map(
      (v) =>
        `${v.id} (${v.help}): ${v.nodes
          .slice(0, 4)
          .map((n) => `${n.target.join(' ')}: ${(n.failureSummary ?? '').replace(/\s+/g, ' ')}`)
          .join(' | ')}`,
    );
  });
}

/** The text a person reads in an element, whitespace collapsed. */
export async function read(page: Page, selector: string): Promise<string> {
  const text = await page
    .locator(selector)
    .first()
    .evaluate((el) =>
      el instanceof HTMLElement
        ? el.innerText
        : [...el.querySelectorAll('text')].map((t) => t.textContent).join(' ') || (el.textContent ?? ''),
    );
  return text.replace(/\s+/g, ' ').trim();
}
