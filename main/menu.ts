import { type BrowserWindow, Menu, app, dialog } from 'electron';

/** The application menu; its view items move the renderer's hash route, nothing more. */
export function applicationMenu(win: () => BrowserWindow | undefined): Menu {
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
