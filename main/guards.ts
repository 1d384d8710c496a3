import { type Session, type WebContents, app, shell } from 'electron';
import { isAppUrl } from './app-origin.js';

/**
 * The https pages GradProof itself links to; they open in the system browser and
 * every other URL a page tries to open is refused. The renderer links to none
 * today: tests/unit/main-guards.test.ts keeps this list equal to the https links
 * found in renderer/, so a link added there must be added here to work.
 */
export const EXTERNAL_LINKS: readonly string[] = [];

/** Exactly one of `allowed` (compared as parsed URLs), over https, without credentials. */
export function isAllowedExternal(url: string, allowed: readonly string[] = EXTERNAL_LINKS): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol !== 'https:' || u.username || u.password) return false;
  return allowed.some((a) => new URL(a).href === u.href);
}

/** Opens `url` in the system browser if it is on the allow-list; says whether it did. */
export function openExternalIfAllowed(url: string, allowed: readonly string[] = EXTERNAL_LINKS): boolean {
  if (!isAllowedExternal(url, allowed)) return false;
  void shell.openExternal(new URL(url).href);
  return true;
}

/** GradProof needs no permission (camera, notifications, clipboard reads, USB, …): all are refused, asked or checked. */
export function refusePermissions(ses: Session): void {
  ses.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.setDevicePermissionHandler(() => false);
}

function keepOnAppOrigin(event: { preventDefault: () => void; url: string }): void {
  if (!isAppUrl(event.url)) event.preventDefault();
}

/**
 * Every page stays on app://gradproof: navigation elsewhere (in any frame, or by a
 * redirect) is refused, new windows are refused, <webview> is refused, and its
 * session refuses permissions. An allow-listed link opens in the system browser
 * through the window-open path only (a target=_blank link), so that one click
 * opens it once. Programmatic loads (the hidden PDF printer's data: page) are not
 * navigations a page asked for and are not affected.
 */
export function guardContents(contents: WebContents): void {
  contents.on('will-navigate', keepOnAppOrigin);
  contents.on('will-frame-navigate', keepOnAppOrigin);
  contents.on('will-redirect', keepOnAppOrigin);
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    openExternalIfAllowed(url);
    return { action: 'deny' };
  });
  refusePermissions(contents.session);
}

/** Installs guardContents on every webContents the app will ever create (call before the first window). */
export function installGuards(): void {
  app.on('web-contents-created', (_event, contents) => guardContents(contents));
}
