import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A folder beside the served one whose name starts with the served folder's name
 * (`renderer-x…` beside `renderer`), holding a file that must never be served:
 * a string-prefix containment check would let it through.
 */
export function siblingSecret(servedDir: string): { dir: string; file: string; secret: string; remove: () => void } {
  const dir = mkdtempSync(`${path.resolve(servedDir)}-x`);
  const secret = `secret ${path.basename(dir)}`;
  const file = path.join(dir, 'secret.txt');
  writeFileSync(file, secret);
  return { dir, file, secret, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Request paths (as sent on the wire) that try to leave the served folder; each must get 404. */
export function escapePaths(sibling: { dir: string; file: string }): string[] {
  const s = path.basename(sibling.dir);
  return [
    `/../${s}/secret.txt`,
    `/assets/../../${s}/secret.txt`,
    `/%2e%2e/${s}/secret.txt`,
    `/%2E%2E/${s}/secret.txt`,
    `/.%2e/${s}/secret.txt`,
    `/..%2f${s}%2fsecret.txt`,
    `/..%2F${s}%2Fsecret.txt`,
    `/%2e%2e%2f${s}%2fsecret.txt`,
    `/assets/..%2f..%2f${s}%2fsecret.txt`,
    `/..%5c${s}%5csecret.txt`,
    `/%252e%252e/${s}/secret.txt`,
    `/..%2f..%2fpackage.json`,
    `/..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd`,
    `/%2fetc%2fpasswd`,
    `//etc/passwd`,
    `/${encodeURIComponent(sibling.file)}`,
    `/assets/`,
    `/assets`,
  ];
}

/** Request paths that are malformed (bad percent-escapes, NUL bytes); each must get 400, never 500. */
export const MALFORMED_PATHS = ['/%E0%A4%A', '/%', '/%zz', '/%C0%AF', '/index.html%00', '/%00', '/assets%00/x.js'];
