import { protocol } from 'electron';
import { serveStatic } from '../app/node/api/static-files.js';
import { APP_HOST, APP_SCHEME } from './app-origin.js';

/**
 * app:// as a standard, secure scheme, so the renderer gets a real origin (for the
 * IPC sender check, localStorage and its CSP's 'self') without file://'s extra
 * privileges. Electron accepts this only before the app is ready.
 */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ]);
}

/**
 * The app:// handler: the built renderer's files from `rendererDir`, through the same
 * code and checks as `gradproof serve` (app/node/api/static-files.ts), for the host
 * `gradproof` only.
 */
export function appRequestHandler(rendererDir: string): (request: Request) => Promise<Response> {
  return async (request) => {
    const url = new URL(request.url);
    if (url.host.toLowerCase() !== APP_HOST) return new Response('not found', { status: 404 });
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return new Response('use GET', { status: 405, headers: { Allow: 'GET, HEAD' } });
    const r = await serveStatic(rendererDir, url.pathname);
    return new Response(r.body, { status: r.status, headers: r.headers });
  };
}

export function installAppProtocol(rendererDir: string): void {
  protocol.handle(APP_SCHEME, appRequestHandler(rendererDir));
}
