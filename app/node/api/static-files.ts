import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * The renderer's Content-Security-Policy. Both transports send it as a header on
 * every static response; renderer/index.html carries the same policy in its meta
 * tag, so the page is covered even where a header is lost (a saved copy, a proxy).
 * tests/unit/main-protocol.test.ts and bridge.test.ts compare the two as served.
 */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; object-src 'none'";

/** Content types of the files the renderer build writes; anything else is sent as opaque bytes. */
export const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

export function contentType(file: string): string {
  return MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export type StaticTarget = { file: string } | { status: 400 | 404; reason: string };

/**
 * The file that a URL's path names inside `root`, or why there is none.
 *
 * The path is percent-decoded once (a malformed escape is the client's error: 400)
 * and must then name a file strictly inside `root`. Containment is decided by
 * `path.relative`, not by a string prefix, so a sibling folder such as
 * `renderer-x`, `..` in any spelling (`%2e%2e`, `..%2f`, `..\`), and absolute
 * paths all end up outside and are refused. NUL bytes are refused before the
 * file system sees them.
 */
export function resolveStaticPath(root: string, urlPath: string): StaticTarget {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { status: 400, reason: 'malformed percent-escape in the URL' };
  }
  if (decoded.includes('\0')) return { status: 400, reason: 'NUL byte in the URL' };
  const base = path.resolve(root);
  const file = path.resolve(base, `.${path.sep}${decoded === '/' || decoded === '' ? 'index.html' : decoded}`);
  const rel = path.relative(base, file);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel))
    return { status: 404, reason: 'not found' };
  return { file };
}

export interface StaticResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer<ArrayBuffer> | string;
}

const COMMON_HEADERS = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
} as const;

/**
 * The response to a GET of `urlPath` from the folder `root`: the file with its
 * content type and the CSP, or a plain-text 400/404. Shared by Electron's app://
 * protocol handler and the loopback bridge, so both serve exactly the same files.
 */
export async function serveStatic(root: string, urlPath: string): Promise<StaticResponse> {
  const target = resolveStaticPath(root, urlPath);
  const refuse = (status: number, reason: string): StaticResponse => ({
    status,
    headers: { ...COMMON_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' },
    body: reason,
  });
  if ('status' in target) return refuse(target.status, target.reason);
  try {
    if (!(await stat(target.file)).isFile()) return refuse(404, 'not found');
    // readFile's Buffer owns a plain (never shared) ArrayBuffer, which is what Response takes.
    const body = (await readFile(target.file)) as Buffer<ArrayBuffer>;
    return { status: 200, headers: { ...COMMON_HEADERS, 'Content-Type': contentType(target.file) }, body };
  } catch {
    return refuse(404, 'not found');
  }
}
