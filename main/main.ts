import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserWindow, Menu, app, dialog, ipcMain, protocol, shell } from 'electron';
import { METHODS } from '../app/core/api/contract.js';
import { GradProofService } from '../app/node/api/service.js';
import { openStore } from '../app/node/store/database.js';
import { APP_ORIGIN, createIpcHandler } from './ipc.js';

// Electron main process: windows, security, IPC wired to the API. Logic lives in app/.
const here = path.dirname(fileURLToPath(import.meta.url));
const rendererDir = path.join(here, '..', 'renderer');
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; object-src 'none'";
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

protocol.registerSchemesAsPrivileged([
  { scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } },
]);

const FILTERS: Record<string, Electron.FileFilter[]> = {
  model: [{ name: 'Model spec', extensions: ['json'] }],
  weights: [{ name: 'Weights', extensions: ['npz', 'safetensors', 'json'] }],
  dataset: [{ name: 'Dataset', extensions: ['csv', 'npy', 'npz', 'json'] }],
  module: [{ name: 'JS/TS module', extensions: ['js', 'mjs', 'ts', 'mts'] }],
};

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 960,
    minHeight: 640,
    title: 'GradProof',
    show: false,
    webPreferences: {
      preload: path.join(here, 'preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  // Navigation away and new windows are refused; https links open in the system browser.
  win.webContents.on('will-navigate', (event, url) => {
    if (!url.startsWith(`${APP_ORIGIN}/`)) event.preventDefault();
  });
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https:\/\/[^/]+\//.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  void win.loadURL(`${APP_ORIGIN}/index.html`);
  return win;
}

function menu(win: () => BrowserWindow | undefined): Menu {
  const go = (hash: string) => () =>
    void win()?.webContents.executeJavaScript(`location.hash = ${JSON.stringify(hash)}`);
  return Menu.buildFromTemplate([
    ...(process.platform === 'darwin' ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        { label: 'New audit', accelerator: 'CmdOrCtrl+N', click: go('#/new') },
        { type: 'separator' },
        { role: process.platform === 'darwin' ? 'close' : 'quit' },
      ],
    },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [
        { label: 'Runs', accelerator: 'CmdOrCtrl+1', click: go('#/runs') },
        { label: 'Compare', accelerator: 'CmdOrCtrl+2', click: go('#/compare') },
        { label: 'Reports', accelerator: 'CmdOrCtrl+3', click: go('#/reports') },
        { label: 'Identities', accelerator: 'CmdOrCtrl+4', click: go('#/identities') },
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { role: 'togglefullscreen' },
      ],
    },
    {
      role: 'help',
      submenu: [
        {
          label: 'About GradProof',
          click: () =>
            void dialog.showMessageBox({
              message: `GradProof ${app.getVersion()}`,
              detail: "Proof that a neural network's backpropagation is correct.",
            }),
        },
      ],
    },
  ]);
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  let win: BrowserWindow | undefined;
  app.on('second-instance', () => {
    if (win?.isMinimized()) win.restore();
    win?.focus();
  });
  void app.whenReady().then(() => {
    // The renderer is served from app://gradproof, with its CSP as a header too.
    protocol.handle('app', async (request) => {
      const url = new URL(request.url);
      const file = path.normalize(path.join(rendererDir, decodeURIComponent(url.pathname)));
      if (url.host !== 'gradproof' || !file.startsWith(rendererDir)) return new Response('not found', { status: 404 });
      try {
        return new Response(await readFile(file), {
          headers: {
            'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
            'Content-Security-Policy': CSP,
          },
        });
      } catch {
        return new Response('not found', { status: 404 });
      }
    });
    const store = openStore(process.env.GRADPROOF_DB ?? path.join(app.getPath('userData'), 'gradproof.db'));
    const service = new GradProofService(store, {
      // PDFs are printed by a hidden, sandboxed window with JavaScript off: the report's
      // charts are static SVG, complete when the page has loaded, which is the signal to print.
      renderPdf: async (html, paper) => {
        const printer = new BrowserWindow({
          show: false,
          webPreferences: { sandbox: true, contextIsolation: true, nodeIntegration: false, javascript: false },
        });
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
      },
      openFile: async (purpose) => {
        const r = await dialog.showOpenDialog(win!, { properties: ['openFile'], filters: FILTERS[purpose] ?? [] });
        return r.canceled ? null : (r.filePaths[0] ?? null);
      },
    });
    const handle = createIpcHandler(service);
    for (const m of METHODS) ipcMain.handle(`gradproof:${m}`, (event, params) => handle(m, event, params));
    service.onEvent((e) => win?.webContents.send('gradproof:event', e));
    Menu.setApplicationMenu(menu(() => win));
    win = createWindow();
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) win = createWindow();
    });
    app.on('before-quit', () => {
      service.cancelAll();
      store.db.close();
    });
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
}
