import { BrowserWindow, type WebPreferences } from 'electron';
import type { Paper } from '../app/node/pdf/report-pdf.js';
import { APP_ORIGIN } from './app-origin.js';

/**
 * GradProof's window: an isolated, sandboxed renderer without Node or <webview>,
 * whose only reach into the app is the preload's one function per API method.
 */
export function mainWebPreferences(preload: string): WebPreferences {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    spellcheck: false,
  };
}

export function createMainWindow(preload: string): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 960,
    minHeight: 640,
    title: 'GradProof',
    show: false,
    webPreferences: mainWebPreferences(preload),
  });
  win.once('ready-to-show', () => win.show());
  void win.loadURL(`${APP_ORIGIN}/index.html`);
  return win;
}

/** The PDF printer's page: sandboxed as the main window, and with JavaScript off as well. */
export const PRINTER_WEB_PREFERENCES: WebPreferences = {
  sandbox: true,
  contextIsolation: true,
  nodeIntegration: false,
  webSecurity: true,
  webviewTag: false,
  javascript: false,
};

/**
 * HTML to PDF in a hidden window. The report's charts are static SVG, complete when
 * the page has loaded, which is the signal to print.
 */
export async function printPdf(html: string, paper: Paper): Promise<Buffer> {
  const printer = new BrowserWindow({ show: false, webPreferences: PRINTER_WEB_PREFERENCES });
  try {
    await printer.loadURL(`data:text/html;charset=utf-8;base64,${Buffer.from(html).toString('base64')}`);
    return await printer.webContents.printToPDF({
      pageSize: paper === 'letter' ? 'Letter' : 'A4',
      printBackground: true,
      preferCSSPageSize: true,
    });
  } finally {
    printer.destroy();
  }
}
