import { existsSync } from 'node:fs';
import { type PrintableReport, reportHtml } from '../../core/report/report-html.js';
import { getReport } from '../reports/reports.js';
import { verifyStoredReport } from '../reports/verify.js';
import type { Store } from '../store/database.js';
import { InputError } from '../../core/errors.js';

export type Paper = 'a4' | 'letter';

/** Everything the PDF shows, read from the stored signed report (and checked first). */
export function printable(store: Store, reportId: string, paper: Paper): PrintableReport {
  const r = getReport(store, reportId);
  const v = verifyStoredReport(store, reportId);
  return {
    id: r.id,
    state: r.state,
    sha256: r.sha256,
    statement: r.statement,
    signatures: r.signatures.map((s) => ({
      meaning: s.meaning,
      name: s.signer.name,
      role: s.signer.role,
      signedAt: s.signedAt,
      fingerprint: s.signer.fingerprint,
      comment: s.comment,
    })),
    verified: v.ok,
    fourEyes: r.fourEyes,
    ...(v.problem ? { verificationProblem: v.problem } : {}),
    paper,
  };
}

export function chromiumPath(): string {
  const candidates = [
    process.env.GRADPROOF_CHROMIUM,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
    '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  ].filter(Boolean) as string[];
  const found = candidates.find((c) => existsSync(c));
  if (!found)
    throw new InputError(
      'PDF export from the command line needs Chromium or Chrome: install it (Debian: apt-get install chromium) or set GRADPROOF_CHROMIUM to its path; the desktop app exports PDFs without it',
    );
  return found;
}

/** HTML to PDF in headless Chromium (the CLI and the browser bridge; the desktop app uses printToPDF). */
export async function htmlToPdf(html: string, paper: Paper): Promise<Buffer> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
  try {
    const page = await browser.newPage();
    await page.setContent(html, { waitUntil: 'load' });
    return await page.pdf({
      format: paper === 'letter' ? 'Letter' : 'A4',
      printBackground: true,
      preferCSSPageSize: true,
    });
  } finally {
    await browser.close();
  }
}

export async function reportPdf(
  store: Store,
  reportId: string,
  paper: Paper,
  render: (html: string, paper: Paper) => Promise<Buffer> = htmlToPdf,
): Promise<Buffer> {
  return render(reportHtml(printable(store, reportId, paper)), paper);
}
