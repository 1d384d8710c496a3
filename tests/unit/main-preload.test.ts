// The built preload, run the way Electron runs a sandboxed preload: as a CommonJS
// function whose `require` knows only the few modules a sandbox provides, with
// Electron's renderer side from tests/helpers/electron-standin.ts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { METHODS } from '../../app/core/api/contract.js';
import { ROOT } from '../helpers/cli.js';
import { contextBridge, ipcRenderer } from '../helpers/electron-standin.js';

const SANDBOX_MODULES: Record<string, unknown> = {
  electron: { contextBridge, ipcRenderer },
  events: await import('node:events'),
  timers: await import('node:timers'),
  url: await import('node:url'),
};
const required: string[] = [];

beforeAll(() => {
  const file = path.join(ROOT, 'dist', 'main', 'preload.cjs');
  const wrapper = vm.runInThisContext(`(function (exports, require, module) {${readFileSync(file, 'utf8')}\n})`, {
    filename: file,
  }) as (exports: object, require: (id: string) => unknown, module: { exports: object }) => void;
  const module = { exports: {} };
  wrapper(
    module.exports,
    (id) => {
      required.push(id);
      if (!(id in SANDBOX_MODULES)) throw new Error(`module not found: ${id} (a sandboxed preload cannot load it)`);
      return SANDBOX_MODULES[id];
    },
    module,
  );
});

describe('the preload, sandboxed', () => {
  it('needs nothing a sandbox lacks: electron only', () => {
    expect(required).toEqual(['electron']);
  });

  it('exposes one object, window.gradproof: a function per contract method and onEvent, nothing else', () => {
    expect([...contextBridge.exposed.keys()]).toEqual(['gradproof']);
    const api = contextBridge.exposed.get('gradproof') as Record<string, unknown>;
    expect(Object.keys(api).sort()).toEqual([...METHODS, 'onEvent'].sort());
    for (const v of Object.values(api)) expect(typeof v).toBe('function');
  });

  it('each method invokes its own channel with the params, and nothing is sent fire-and-forget', async () => {
    const api = contextBridge.exposed.get('gradproof') as Record<string, (p: unknown) => Promise<unknown>>;
    for (const m of METHODS) {
      const params = { probe: m };
      await api[m]!(params);
      expect(ipcRenderer.invoked.at(-1)).toEqual({ channel: `gradproof:${m}`, args: [params] });
    }
    expect(ipcRenderer.invoked).toHaveLength(METHODS.length);
    expect(ipcRenderer.sentMessages).toEqual([]);
  });

  it('onEvent passes the payload only (not Electron’s event) and unsubscribes', () => {
    const api = contextBridge.exposed.get('gradproof') as {
      onEvent: (l: (e: unknown) => void) => () => void;
    };
    const got: unknown[][] = [];
    const off = api.onEvent((...args) => got.push(args));
    const senderEvent = { sender: ipcRenderer, ports: [] };
    ipcRenderer.emit('gradproof:event', senderEvent, { type: 'check.started', jobId: 'j' });
    expect(got).toEqual([[{ type: 'check.started', jobId: 'j' }]]);
    off();
    ipcRenderer.emit('gradproof:event', senderEvent, { type: 'check.done' });
    expect(got).toHaveLength(1);
    expect(ipcRenderer.eventNames()).toEqual([]);
  });
});
