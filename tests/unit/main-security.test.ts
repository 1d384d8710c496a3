// main/ loaded as Electron would load it, against tests/helpers/electron-standin.ts:
// what the window may do, what its session grants, which IPC channels exist and
// who may use them, and where its pages may go.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { METHODS } from '../../app/core/api/contract.js';
import { ROOT } from '../helpers/cli.js';
import {
  FakeBrowserWindow,
  FakeMenu,
  app,
  dialog,
  ipcMain,
  protocol,
  session,
  shell,
} from '../helpers/electron-standin.js';

vi.mock('electron', async () => (await import('../helpers/electron-standin.js')).electron);

const OURS = 'app://gradproof/index.html#/runs';
let win: FakeBrowserWindow;
let afterLoad: { windows: number; appListeners: string[] };

beforeAll(async () => {
  await import('../../main/main.js');
  afterLoad = { windows: FakeBrowserWindow.all.length, appListeners: app.eventNames().map(String) };
  await app.becomeReady();
  win = FakeBrowserWindow.all[0]!;
});
afterAll(() => app.emit('before-quit'));

describe('before the app is ready', () => {
  it('sandboxes every renderer, guards every webContents, and opens no window', () => {
    expect(app.sandboxEnabled).toBe(true);
    expect(afterLoad.appListeners).toContain('web-contents-created');
    expect(afterLoad.windows).toBe(0);
  });

  it('registers app:// as a standard secure scheme, without CSP bypass or CORS', () => {
    expect(protocol.privileged).toEqual([
      { scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } },
    ]);
  });
});

describe('the main window', () => {
  it('is one window on app://gradproof/index.html', () => {
    expect(FakeBrowserWindow.getAllWindows()).toEqual([win]);
    expect(win.webContents.getURL()).toBe('app://gradproof/index.html');
  });

  it('is isolated and sandboxed, without Node, with web security, without <webview>', () => {
    const prefs = win.options.webPreferences!;
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    });
    // Nothing that would loosen any of that.
    for (const key of ['experimentalFeatures', 'enableBlinkFeatures', 'additionalArguments', 'partition'])
      expect(prefs).not.toHaveProperty(key);
  });

  it('gets the built preload, and nothing else of Node', () => {
    const preload = win.options.webPreferences!.preload!;
    expect(preload).toBe(path.join(ROOT, 'dist', 'main', 'preload.cjs'));
    expect(existsSync(preload)).toBe(true);
  });

  it('shows the application menu', () => {
    expect(FakeMenu.applicationMenu?.template.map((m) => m.label ?? m.role)).toEqual(
      expect.arrayContaining(['File', 'editMenu', 'View', 'help']),
    );
  });
});

describe('permissions', () => {
  const permissions = [
    'media',
    'geolocation',
    'notifications',
    'clipboard-read',
    'clipboard-sanitized-write',
    'fullscreen',
    'openExternal',
    'hid',
    'serial',
    'usb',
    'fileSystem',
    'display-capture',
    'midiSysex',
    'unknown',
  ] as const;

  it('every permission request is refused', async () => {
    for (const p of permissions)
      expect(await session.defaultSession.requestPermission(win.webContents, p), p).toBe(false);
  });

  it('every permission check is refused, for our own origin too', () => {
    for (const p of permissions) {
      expect(session.defaultSession.checkPermission(win.webContents, p, 'app://gradproof'), p).toBe(false);
      expect(session.defaultSession.checkPermission(null, p, 'https://evil.example'), p).toBe(false);
    }
  });

  it('every device (USB, HID, serial) is refused', () => {
    expect(session.defaultSession.checkDevice('app://gradproof')).toBe(false);
  });
});

describe('every webContents is kept on app://gradproof', () => {
  const away = [
    'https://evil.example/',
    'http://127.0.0.1:8080/',
    'file:///etc/passwd',
    'data:text/html,<script>alert(1)</script>',
    'javascript:alert(1)',
    'app://other/index.html',
    'app://gradproof.evil.example/index.html',
    'blob:https://evil.example/0b7e',
    'about:blank',
    'chrome://gpu',
  ];

  const guarded = (contents: FakeBrowserWindow['webContents']): void => {
    for (const kind of ['will-navigate', 'will-frame-navigate', 'will-redirect'] as const) {
      for (const url of away) expect(contents.navigate(kind, url).defaultPrevented, `${kind} ${url}`).toBe(true);
      expect(contents.navigate(kind, 'https://evil.example/', false).defaultPrevented, `${kind} subframe`).toBe(true);
      expect(contents.navigate(kind, 'app://gradproof/index.html').defaultPrevented, kind).toBe(false);
    }
    for (const url of [...away, 'app://gradproof/index.html'])
      expect(contents.openWindow(url), `window.open ${url}`).toEqual({ action: 'deny' });
    expect(contents.attachWebview('https://evil.example/').defaultPrevented).toBe(true);
    expect(contents.attachWebview('app://gradproof/index.html').defaultPrevented).toBe(true);
  };

  it('the main window refuses navigation away, new windows and <webview>', () => {
    guarded(win.webContents);
  });

  it('so does any other webContents, created later', () => {
    guarded(new FakeBrowserWindow({ show: false }).webContents);
  });

  it('the hidden PDF printer: JavaScript off, sandboxed, guarded, destroyed after printing', async () => {
    const { printPdf } = await import('../../main/windows.js');
    const before = FakeBrowserWindow.all.length;
    const pdf = await printPdf('<h1>report</h1>', 'letter');
    const printer = FakeBrowserWindow.all[before]!;
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(printer.options.show).toBe(false);
    expect(printer.options.webPreferences).toMatchObject({
      javascript: false,
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      webviewTag: false,
    });
    expect(printer.options.webPreferences).not.toHaveProperty('preload');
    expect(printer.webContents.getURL()).toBe(
      `data:text/html;charset=utf-8;base64,${Buffer.from('<h1>report</h1>').toString('base64')}`,
    );
    expect(printer.webContents.printed).toEqual([
      { pageSize: 'Letter', printBackground: true, preferCSSPageSize: true },
    ]);
    expect(printer.isDestroyed()).toBe(true);
    guarded(printer.webContents);
  });

  it('nothing was opened in the system browser: GradProof links to no site', () => {
    expect(shell.opened).toEqual([]);
  });
});

describe('shell.openExternal', () => {
  it('the allow-list holds exactly the https links the renderer has (none today)', async () => {
    const { EXTERNAL_LINKS } = await import('../../main/guards.js');
    const links = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir)) {
        const p = path.join(dir, e);
        if (statSync(p).isDirectory()) walk(p);
        else for (const m of readFileSync(p, 'utf8').matchAll(/https:\/\/[^\s'"`<>)]+/g)) links.add(m[0]);
      }
    };
    walk(path.join(ROOT, 'renderer', 'src'));
    expect([...EXTERNAL_LINKS].sort()).toEqual([...links].sort());
  });

  it('opens only an exact allow-listed https URL', async () => {
    const { openExternalIfAllowed } = await import('../../main/guards.js');
    const allowed = ['https://gradproof.example/docs/verify'];
    const refused = [
      'http://gradproof.example/docs/verify',
      'https://gradproof.example/docs/verify/../../admin',
      'https://gradproof.example/docs/verify?x=1',
      'https://gradproof.example/docs/verify#x',
      'https://gradproof.example/docs/verifyx',
      'https://gradproof.example.evil.example/docs/verify',
      'https://user:pw@gradproof.example/docs/verify',
      'file:///etc/passwd',
      'smb://gradproof.example/docs/verify',
      'not a url',
    ];
    for (const url of refused) expect(openExternalIfAllowed(url, allowed), url).toBe(false);
    expect(shell.opened).toEqual([]);
    expect(openExternalIfAllowed('https://GRADPROOF.example/docs/verify', allowed)).toBe(true);
    expect(shell.opened).toEqual(['https://gradproof.example/docs/verify']);
    // The shipped list is empty: nothing opens at all.
    expect(openExternalIfAllowed('https://gradproof.example/docs/verify')).toBe(false);
    shell.opened.length = 0;
  });
});

describe('IPC', () => {
  it('one handler per contract method, and no other channel', () => {
    expect([...ipcMain.handlers.keys()].sort()).toEqual(METHODS.map((m) => `gradproof:${m}`).sort());
    // No fire-and-forget channels beside the handlers.
    expect(ipcMain.eventNames()).toEqual([]);
  });

  it('answers GradProof’s own window', async () => {
    expect(await ipcMain.invoke('gradproof:runs.list', OURS, {})).toMatchObject({ ok: true });
  });

  it('refuses any other sender, before looking at the call', async () => {
    for (const sender of [
      'https://evil.example/',
      'app://other/index.html',
      'file:///work/dist/renderer/index.html',
      'data:text/html,x',
      '',
      null,
    ]) {
      expect(await ipcMain.invoke('gradproof:runs.list', sender, {}), String(sender)).toEqual({
        ok: false,
        error: { error: "refused: the request did not come from GradProof's own window", kind: 'invalid' },
      });
    }
  });

  it('the native file dialog belongs to the window and is filtered by purpose', async () => {
    dialog.answer = '/home/user/weights.npz';
    expect(await ipcMain.invoke('gradproof:dialog.openFile', OURS, { purpose: 'weights' })).toEqual({
      ok: true,
      result: { path: '/home/user/weights.npz', available: true },
    });
    expect(dialog.openCalls.at(-1)).toEqual({
      window: win,
      options: { properties: ['openFile'], filters: [{ name: 'Weights', extensions: ['npz', 'safetensors', 'json'] }] },
    });
    dialog.answer = '/home/user/train.py';
    expect(await ipcMain.invoke('gradproof:dialog.openFile', OURS, { purpose: 'script' })).toEqual({
      ok: true,
      result: { path: '/home/user/train.py', available: true },
    });
    expect(dialog.openCalls.at(-1)?.options.filters).toEqual([{ name: 'Python script', extensions: ['py'] }]);
    expect(await ipcMain.invoke('gradproof:dialog.openFile', OURS, { purpose: 'shell' })).toMatchObject({
      ok: false,
    });
    dialog.answer = null;
    expect(await ipcMain.invoke('gradproof:dialog.openFile', OURS, { purpose: 'model' })).toEqual({
      ok: true,
      result: { path: null, available: true },
    });
  });

  it('a check started over IPC reports to the window on the one event channel', async () => {
    const r = (await ipcMain.invoke('gradproof:check.start', OURS, { workers: 1 })) as {
      ok: true;
      result: { jobId: string };
    };
    expect(r).toMatchObject({ ok: true, result: { jobId: expect.stringMatching(/^job-/) } });
    const mine = () => win.webContents.sent.filter((s) => (s.args[0] as { jobId?: string }).jobId === r.result.jobId);
    await vi.waitFor(
      () => expect(mine().some((s) => /^check\.(done|failed)$/.test((s.args[0] as { type: string }).type))).toBe(true),
      {
        timeout: 60_000,
        interval: 50,
      },
    );
    expect(new Set(win.webContents.sent.map((s) => s.channel))).toEqual(new Set(['gradproof:event']));
    expect(mine()[0]!.args[0]).toMatchObject({ type: 'check.started' });
    expect(mine().at(-1)!.args[0]).toMatchObject({ type: 'check.done', verdict: 'pass' });
  });
});
