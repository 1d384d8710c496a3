/**
 * A stand-in for the parts of Electron that main/ and the preload use, for tests
 * that cannot run the Electron binary. Inject it with
 *
 *   vi.mock('electron', async () => (await import('../helpers/electron-standin.js')).electron);
 *
 * It follows Electron's documented behaviour where that behaviour is what a
 * security setting depends on, so that a missing setting shows as a failure:
 * - every new BrowserWindow creates a WebContents and emits the app's
 *   'web-contents-created' for it, as Electron does;
 * - with no permission handler installed a permission is granted, and with no
 *   window-open handler a new window is allowed (Electron's defaults);
 * - before the app is ready, `session.defaultSession` and `protocol.handle` throw,
 *   and after it `app.enableSandbox` and `protocol.registerSchemesAsPrivileged`
 *   throw, as in Electron;
 * - `ipcMain.handle` refuses a second handler for a channel.
 * Each part is typed as a Pick of Electron's own interface (electron.d.ts), so
 * the typecheck fails if the stand-in's methods drift from the real API (the
 * event-emitter methods are Node's own; Electron's overloads of them return the
 * full classes, which a stand-in cannot be).
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** An Electron event object: `preventDefault`, `defaultPrevented`, and the event's own fields. */
export function electronEvent<P extends object>(params: P): Electron.Event<P> {
  let prevented = false;
  const base = {
    preventDefault: (): void => {
      prevented = true;
    },
    get defaultPrevented(): boolean {
      return prevented;
    },
  };
  return Object.assign(base, params) as Electron.Event<P>;
}

type PermissionRequestHandler = Parameters<Electron.Session['setPermissionRequestHandler']>[0];
type PermissionCheckHandler = Parameters<Electron.Session['setPermissionCheckHandler']>[0];
type DevicePermissionHandler = Parameters<Electron.Session['setDevicePermissionHandler']>[0];
type Permission = Parameters<NonNullable<PermissionRequestHandler>>[1];

export class FakeSession
  extends EventEmitter
  implements
    Pick<Electron.Session, 'setPermissionRequestHandler' | 'setPermissionCheckHandler' | 'setDevicePermissionHandler'>
{
  requestHandler: PermissionRequestHandler = null;
  checkHandler: PermissionCheckHandler = null;
  deviceHandler: DevicePermissionHandler = null;

  setPermissionRequestHandler(handler: PermissionRequestHandler): void {
    this.requestHandler = handler;
  }
  setPermissionCheckHandler(handler: PermissionCheckHandler): void {
    this.checkHandler = handler;
  }
  setDevicePermissionHandler(handler: DevicePermissionHandler): void {
    this.deviceHandler = handler;
  }

  /** A page asks for a permission; Electron grants it when no handler is set. */
  requestPermission(contents: FakeWebContents, permission: Permission): Promise<boolean> {
    const handler = this.requestHandler;
    if (!handler) return Promise.resolve(true);
    return new Promise((resolve) =>
      handler(contents as unknown as Electron.WebContents, permission, resolve, {
        requestingUrl: contents.getURL(),
        isMainFrame: true,
      } as Electron.PermissionRequest),
    );
  }

  /** A page checks a permission; Electron answers yes when no handler is set. */
  checkPermission(contents: FakeWebContents | null, permission: Permission, origin: string): boolean {
    if (!this.checkHandler) return true;
    return this.checkHandler(contents as unknown as Electron.WebContents | null, permission, origin, {
      requestingUrl: origin,
      isMainFrame: true,
      embeddingOrigin: origin,
    } as Electron.PermissionCheckHandlerHandlerDetails);
  }

  /** A page asks for a USB/HID/serial device; Electron's default without a handler is to ask Chromium's chooser. */
  checkDevice(origin: string): boolean {
    if (!this.deviceHandler) return true;
    return this.deviceHandler({ deviceType: 'usb', origin, device: {} as Electron.USBDevice });
  }
}

type WindowOpenHandler = Parameters<Electron.WebContents['setWindowOpenHandler']>[0];

let nextContentsId = 1;

export class FakeWebContents
  extends EventEmitter
  implements
    Pick<
      Electron.WebContents,
      'setWindowOpenHandler' | 'send' | 'executeJavaScript' | 'printToPDF' | 'loadURL' | 'getURL'
    >
{
  readonly id = nextContentsId++;
  url = '';
  windowOpenHandler: WindowOpenHandler | undefined;
  readonly sent: { channel: string; args: unknown[] }[] = [];
  readonly executed: string[] = [];
  readonly printed: Electron.PrintToPDFOptions[] = [];
  destroyed = false;

  get session(): FakeSession {
    return session.defaultSession;
  }
  setWindowOpenHandler(handler: WindowOpenHandler): void {
    this.windowOpenHandler = handler;
  }
  send(channel: string, ...args: unknown[]): void {
    this.sent.push({ channel, args });
  }
  executeJavaScript(code: string): Promise<unknown> {
    this.executed.push(code);
    return Promise.resolve(undefined);
  }
  printToPDF(options: Electron.PrintToPDFOptions): Promise<Buffer> {
    this.printed.push(options);
    return Promise.resolve(Buffer.from(`%PDF-1.7 stand-in for ${this.url.slice(0, 40)}`));
  }
  loadURL(url: string): Promise<void> {
    this.url = url;
    return Promise.resolve();
  }
  getURL(): string {
    return this.url;
  }

  /**
   * A page-initiated navigation as Electron reports it: 'will-navigate' and
   * 'will-redirect' with (event, url, isInPlace, isMainFrame, frameProcessId,
   * frameRoutingId), 'will-frame-navigate' with the event only. Returns the event,
   * whose defaultPrevented says whether the navigation was refused.
   */
  navigate(
    kind: 'will-navigate' | 'will-frame-navigate' | 'will-redirect',
    url: string,
    isMainFrame = true,
  ): Electron.Event<{ url: string }> {
    const event = electronEvent({ url, isSameDocument: false, isMainFrame, frame: null });
    if (kind === 'will-frame-navigate') this.emit(kind, event);
    else this.emit(kind, event, url, false, isMainFrame, 1, 1);
    return event;
  }

  /** window.open or a target=_blank link; Electron allows the new window when no handler is set. */
  openWindow(url: string): Electron.WindowOpenHandlerResponse {
    if (!this.windowOpenHandler) return { action: 'allow' };
    return this.windowOpenHandler({
      url,
      frameName: '',
      features: '',
      disposition: 'foreground-tab',
      referrer: { url: this.url, policy: 'strict-origin-when-cross-origin' },
    });
  }

  /** A <webview> about to attach; preventing the event destroys the guest. */
  attachWebview(src: string): Electron.Event {
    const event = electronEvent({});
    const webPreferences: Electron.WebPreferences = { nodeIntegration: true };
    this.emit('will-attach-webview', event, webPreferences, { src });
    return event;
  }
}

export class FakeBrowserWindow
  extends EventEmitter
  implements
    Pick<Electron.BrowserWindow, 'loadURL' | 'show' | 'focus' | 'restore' | 'isMinimized' | 'destroy' | 'isDestroyed'>
{
  static readonly all: FakeBrowserWindow[] = [];
  static getAllWindows(): FakeBrowserWindow[] {
    return FakeBrowserWindow.all.filter((w) => !w.destroyed);
  }

  readonly webContents = new FakeWebContents();
  readonly options: Electron.BrowserWindowConstructorOptions;
  shown = false;
  destroyed = false;

  constructor(options: Electron.BrowserWindowConstructorOptions = {}) {
    super();
    this.options = options;
    FakeBrowserWindow.all.push(this);
    app.emit('web-contents-created', electronEvent({}), this.webContents);
  }
  loadURL(url: string): Promise<void> {
    return this.webContents.loadURL(url);
  }
  show(): void {
    this.shown = true;
  }
  focus(): void {}
  restore(): void {}
  isMinimized(): boolean {
    return false;
  }
  destroy(): void {
    this.destroyed = true;
    this.webContents.destroyed = true;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
}

class FakeApp
  extends EventEmitter
  implements
    Pick<
      Electron.App,
      'whenReady' | 'isReady' | 'requestSingleInstanceLock' | 'quit' | 'getPath' | 'getVersion' | 'enableSandbox'
    >
{
  private readyFlag = false;
  private resolveReady!: () => void;
  private readonly readyPromise = new Promise<void>((resolve) => (this.resolveReady = resolve));
  sandboxEnabled = false;
  quitCalls = 0;
  readonly userData = mkdtempSync(path.join(tmpdir(), 'gp-electron-standin-'));

  whenReady(): Promise<void> {
    return this.readyPromise;
  }
  isReady(): boolean {
    return this.readyFlag;
  }
  requestSingleInstanceLock(): boolean {
    return true;
  }
  quit(): void {
    this.quitCalls++;
  }
  getPath(name: Parameters<Electron.App['getPath']>[0]): string {
    return path.join(this.userData, name);
  }
  getVersion(): string {
    return '0.0.0-stand-in';
  }
  enableSandbox(): void {
    if (this.readyFlag) throw new Error('app.enableSandbox() can only be called before app is ready');
    this.sandboxEnabled = true;
  }

  /** Electron's 'ready': the test's signal that start-up may proceed. */
  async becomeReady(): Promise<void> {
    this.readyFlag = true;
    this.emit('ready', electronEvent({}), {});
    this.resolveReady();
    await this.readyPromise;
    // Let the code chained on whenReady() run to its end.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export const app = new FakeApp();

type ProtocolHandler = Parameters<Electron.Protocol['handle']>[1];

class FakeProtocol implements Pick<Electron.Protocol, 'handle' | 'registerSchemesAsPrivileged'> {
  readonly privileged: Electron.CustomScheme[] = [];
  readonly handlers = new Map<string, ProtocolHandler>();

  registerSchemesAsPrivileged(customSchemes: Electron.CustomScheme[]): void {
    if (app.isReady()) throw new Error('protocol.registerSchemesAsPrivileged should be called before app is ready');
    this.privileged.push(...customSchemes);
  }
  handle(scheme: string, handler: ProtocolHandler): void {
    if (!app.isReady()) throw new Error('The protocol module can only be used after the app is ready');
    if (this.handlers.has(scheme)) throw new Error(`Failed to register protocol: ${scheme}`);
    this.handlers.set(scheme, handler);
  }

  /** A request the renderer's Chromium would make, answered by the registered handler. */
  async fetch(url: string, init?: RequestInit): Promise<Response> {
    const scheme = new URL(url).protocol.slice(0, -1);
    const handler = this.handlers.get(scheme);
    if (!handler) throw new Error(`no handler for ${scheme}:`);
    return handler(new Request(url, init));
  }
}

export const protocol = new FakeProtocol();

type InvokeListener = Parameters<Electron.IpcMain['handle']>[1];

class FakeIpcMain extends EventEmitter implements Pick<Electron.IpcMain, 'handle' | 'removeHandler'> {
  readonly handlers = new Map<string, InvokeListener>();

  handle(channel: string, listener: InvokeListener): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }

  /** ipcRenderer.invoke from a frame showing `senderUrl` (null: a frame already gone). */
  async invoke(channel: string, senderUrl: string | null, ...args: unknown[]): Promise<unknown> {
    const listener = this.handlers.get(channel);
    if (!listener) throw new Error(`Error invoking remote method '${channel}': No handler registered`);
    const event = electronEvent({
      frameId: 1,
      processId: 1,
      sender: {} as Electron.WebContents,
      senderFrame: senderUrl === null ? null : ({ url: senderUrl } as Electron.WebFrameMain),
      type: 'frame' as const,
    }) as unknown as Electron.IpcMainInvokeEvent;
    return listener(event, ...args);
  }
}

export const ipcMain = new FakeIpcMain();

const defaultSession = new FakeSession();
export const session = {
  get defaultSession(): FakeSession {
    if (!app.isReady()) throw new Error('Session can only be received when app is ready');
    return defaultSession;
  },
};

class FakeShell implements Pick<Electron.Shell, 'openExternal'> {
  readonly opened: string[] = [];
  openExternal(url: string): Promise<void> {
    this.opened.push(url);
    return Promise.resolve();
  }
}

export const shell = new FakeShell();

class FakeDialog implements Pick<Electron.Dialog, 'showOpenDialog' | 'showMessageBox'> {
  readonly openCalls: { window: unknown; options: Electron.OpenDialogOptions }[] = [];
  readonly messages: Electron.MessageBoxOptions[] = [];
  /** What the user picks in the next open dialog (null: cancelled). */
  answer: string | null = null;

  showOpenDialog(
    a: Electron.BaseWindow | Electron.OpenDialogOptions,
    b?: Electron.OpenDialogOptions,
  ): Promise<Electron.OpenDialogReturnValue> {
    const [window, options] = b ? [a, b] : [undefined, a as Electron.OpenDialogOptions];
    this.openCalls.push({ window, options });
    return Promise.resolve(
      this.answer === null ? { canceled: true, filePaths: [] } : { canceled: false, filePaths: [this.answer] },
    );
  }
  showMessageBox(
    a: Electron.BaseWindow | Electron.MessageBoxOptions,
    b?: Electron.MessageBoxOptions,
  ): Promise<Electron.MessageBoxReturnValue> {
    this.messages.push(b ?? (a as Electron.MessageBoxOptions));
    return Promise.resolve({ response: 0, checkboxChecked: false });
  }
}

export const dialog = new FakeDialog();

export class FakeMenu {
  static applicationMenu: FakeMenu | null = null;
  constructor(readonly template: (Electron.MenuItemConstructorOptions | Electron.MenuItem)[]) {}
  static buildFromTemplate(template: (Electron.MenuItemConstructorOptions | Electron.MenuItem)[]): FakeMenu {
    return new FakeMenu(template);
  }
  static setApplicationMenu(menu: FakeMenu | null): void {
    FakeMenu.applicationMenu = menu;
  }
}

// The renderer side, for the preload.
class FakeContextBridge implements Pick<Electron.ContextBridge, 'exposeInMainWorld'> {
  readonly exposed = new Map<string, unknown>();
  exposeInMainWorld(apiKey: string, api: unknown): void {
    if (this.exposed.has(apiKey))
      throw new Error(`Cannot bind an API on top of an existing property on the window object`);
    this.exposed.set(apiKey, api);
  }
}

export const contextBridge = new FakeContextBridge();

class FakeIpcRenderer extends EventEmitter implements Pick<Electron.IpcRenderer, 'invoke' | 'send'> {
  readonly invoked: { channel: string; args: unknown[] }[] = [];
  readonly sentMessages: { channel: string; args: unknown[] }[] = [];
  invoke(channel: string, ...args: unknown[]): Promise<unknown> {
    this.invoked.push({ channel, args });
    return Promise.resolve({ ok: true, result: null });
  }
  send(channel: string, ...args: unknown[]): void {
    this.sentMessages.push({ channel, args });
  }
}

export const ipcRenderer = new FakeIpcRenderer();

/** What `import … from 'electron'` yields under the stand-in. */
export const electron = {
  app,
  BrowserWindow: FakeBrowserWindow,
  Menu: FakeMenu,
  contextBridge,
  dialog,
  ipcMain,
  ipcRenderer,
  protocol,
  session,
  shell,
};

// The static side accepts whatever Electron's accepts (a type-level check only).
export type StaticShapes = [
  (t: Parameters<typeof Electron.Menu.buildFromTemplate>[0]) => FakeMenu,
  (o: Electron.BrowserWindowConstructorOptions) => FakeBrowserWindow,
];
export const staticShapes: StaticShapes = [(t) => FakeMenu.buildFromTemplate(t), (o) => new FakeBrowserWindow(o)];
