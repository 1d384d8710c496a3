// Sandboxed preload (CommonJS): exposes exactly one function per API call, and an
// event subscription, on window.gradproof. Nothing else of Electron or Node
// reaches the page.
import { contextBridge, ipcRenderer } from 'electron';
import type { ApiEvent, Method } from '../app/core/api/contract.js';

const METHODS = [
  'library.list',
  'check.start',
  'check.cancel',
  'runs.list',
  'runs.get',
  'runs.compare',
  'runs.annotate',
  'check.status',
  'reports.list',
  'reports.inbox',
  'reports.exportBundle',
  'audit.list',
  'audit.export',
  'identities.current',
  'identities.use',
  'reports.get',
  'reports.create',
  'reports.sign',
  'reports.approve',
  'reports.reject',
  'reports.signOffPlan',
  'reports.verify',
  'reports.pdf',
  'identities.list',
  'identities.create',
  'dialog.openFile',
] as const satisfies readonly Method[];
// Every method of the contract, and no other: a compile error if they drift apart.
type Missing = Exclude<Method, (typeof METHODS)[number]>;
const complete: Missing extends never ? true : false = true;
void complete;

const api: Record<string, unknown> = {};
for (const m of METHODS) api[m] = (params: unknown) => ipcRenderer.invoke(`gradproof:${m}`, params);
api.onEvent = (listener: (e: ApiEvent) => void) => {
  const wrapped = (_e: unknown, payload: ApiEvent): void => listener(payload);
  ipcRenderer.on('gradproof:event', wrapped);
  return () => ipcRenderer.off('gradproof:event', wrapped);
};
contextBridge.exposeInMainWorld('gradproof', api);
