import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserWindow, Menu, app, ipcMain, session } from 'electron';
import { METHODS } from '../app/core/api/contract.js';
import { GradProofService } from '../app/node/api/service.js';
import { openStore } from '../app/node/store/database.js';
import { projectRoot } from '../app/node/util/compiled-path.js';
import { installAppProtocol, registerAppScheme } from './app-protocol.js';
import { chooseFile } from './dialogs.js';
import { installGuards, refusePermissions } from './guards.js';
import { createIpcHandler } from './ipc.js';
import { applicationMenu } from './menu.js';
import { createMainWindow, printPdf } from './windows.js';

// Electron main process: wiring only. Policies live in the modules beside this one,
// everything else in app/.

// The built renderer and preload, found the same way whether this file runs from
// dist/main, from app.asar/dist/main, or from source under the tests.
const dist = path.join(projectRoot(path.dirname(fileURLToPath(import.meta.url))), 'dist');
const rendererDir = path.join(dist, 'renderer');
const preload = path.join(dist, 'main', 'preload.cjs');

// Before ready: every renderer sandboxed, app:// privileged, and every webContents
// (windows, the PDF printer) guarded from its creation.
app.enableSandbox();
registerAppScheme();
installGuards();

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  let win: BrowserWindow | undefined;
  app.on('second-instance', () => {
    if (win?.isMinimized()) win.restore();
    win?.focus();
  });
  void app.whenReady().then(() => {
    refusePermissions(session.defaultSession);
    installAppProtocol(rendererDir);
    const store = openStore(process.env.GRADPROOF_DB ?? path.join(app.getPath('userData'), 'gradproof.db'));
    const service = new GradProofService(store, {
      renderPdf: printPdf,
      openFile: (purpose) => chooseFile(win, purpose),
    });
    const handle = createIpcHandler(service);
    for (const m of METHODS) ipcMain.handle(`gradproof:${m}`, (event, params) => handle(m, event, params));
    service.onEvent((e) => win?.webContents.send('gradproof:event', e));
    Menu.setApplicationMenu(applicationMenu(() => win));
    win = createMainWindow(preload);
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) win = createMainWindow(preload);
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
