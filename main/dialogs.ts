import { type BrowserWindow, dialog } from 'electron';
import type { FilePurpose as Purpose } from '../app/core/api/contract.js';

const FILTERS: Record<Purpose, Electron.FileFilter[]> = {
  model: [{ name: 'Model spec', extensions: ['json'] }],
  weights: [{ name: 'Weights', extensions: ['npz', 'safetensors', 'json'] }],
  dataset: [{ name: 'Dataset', extensions: ['csv', 'npy', 'npz', 'json'] }],
  module: [{ name: 'JS/TS module', extensions: ['js', 'mjs', 'ts', 'mts'] }],
  script: [{ name: 'Python script', extensions: ['py'] }],
};

/** The native open dialog behind the API's dialog.openFile: one file, filtered by what it is for. */
export async function chooseFile(win: BrowserWindow | undefined, purpose: Purpose): Promise<string | null> {
  const options: Electron.OpenDialogOptions = { properties: ['openFile'], filters: FILTERS[purpose] };
  const r = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
  return r.canceled ? null : (r.filePaths[0] ?? null);
}
