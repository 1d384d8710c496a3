// The app:// protocol as main/ installs it (against tests/helpers/electron-standin.ts),
// and the shared static-file code behind it and behind `gradproof serve`.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CSP, MIME, resolveStaticPath } from '../../app/node/api/static-files.js';
import { ROOT } from '../helpers/cli.js';
import { app, protocol } from '../helpers/electron-standin.js';
import { MALFORMED_PATHS, escapePaths, siblingSecret } from '../helpers/static-attacks.js';

vi.mock('electron', async () => (await import('../helpers/electron-standin.js')).electron);

const built = path.join(ROOT, 'dist', 'renderer');
const sibling = siblingSecret(built);
const metaCsp = (html: string): string | undefined =>
  /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1];

beforeAll(async () => {
  await import('../../main/main.js');
  await app.becomeReady();
});
afterAll(() => {
  sibling.remove();
  app.emit('before-quit');
});

describe('app:// serves the built renderer', () => {
  it('is the only protocol main installs', () => {
    expect([...protocol.handlers.keys()]).toEqual(['app']);
  });

  it('the page, at / and /index.html, with the CSP as a header equal to its meta tag', async () => {
    const html = readFileSync(path.join(built, 'index.html'));
    for (const p of ['/', '/index.html', '/index.html?x=1#/runs']) {
      const r = await protocol.fetch(`app://gradproof${p}`);
      expect(r.status, p).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      const body = Buffer.from(await r.arrayBuffer());
      expect(body.equals(html)).toBe(true);
      expect(r.headers.get('content-security-policy')).toBe(metaCsp(body.toString('utf8')));
      expect(r.headers.get('content-security-policy')).toBe(CSP);
    }
  });

  it('every built asset, byte for byte, with its content type and the CSP', async () => {
    const assets = readdirSync(path.join(built, 'assets'));
    expect(assets.length).toBeGreaterThan(0);
    for (const a of assets) {
      const r = await protocol.fetch(`app://gradproof/assets/${a}`);
      expect(r.status, a).toBe(200);
      expect(r.headers.get('content-type')).toBe(MIME[path.extname(a)]);
      expect(r.headers.get('content-security-policy')).toBe(CSP);
      expect(Buffer.from(await r.arrayBuffer()).equals(readFileSync(path.join(built, 'assets', a)))).toBe(true);
    }
  });
});

describe('app:// refuses', () => {
  it('every path that leaves dist/renderer, including a sibling folder renderer-x…: 404', async () => {
    const paths = escapePaths(sibling);
    for (const p of paths) {
      const r = await protocol.fetch(`app://gradproof${p}`);
      expect(r.status, p).toBe(404);
      expect(await r.text(), p).not.toContain(sibling.secret);
    }
  });

  it('malformed escapes and NUL bytes: 400, never an error', async () => {
    for (const p of MALFORMED_PATHS) {
      const r = await protocol.fetch(`app://gradproof${p}`);
      expect(r.status, p).toBe(400);
      expect(r.headers.get('content-security-policy')).toBe(CSP);
    }
  });

  it('another host, a port, or a missing file: 404', async () => {
    for (const url of [
      'app://other/index.html',
      'app://gradproof.evil.example/index.html',
      'app://evil.gradproof/index.html',
      'app://gradproof:8080/index.html',
      'app://gradproof/nope.js',
      'app://gradproof/assets/nope.js',
    ])
      expect((await protocol.fetch(url)).status, url).toBe(404);
  });

  it('anything but GET and HEAD: 405', async () => {
    expect((await protocol.fetch('app://gradproof/index.html', { method: 'POST', body: 'x' })).status).toBe(405);
    expect((await protocol.fetch('app://gradproof/index.html', { method: 'HEAD' })).status).toBe(200);
  });
});

describe('resolveStaticPath, on paths no URL parser has normalised', () => {
  const root = path.join(path.sep, 'srv', 'renderer');

  it('keeps a file inside the root', () => {
    expect(resolveStaticPath(root, '/')).toEqual({ file: path.join(root, 'index.html') });
    expect(resolveStaticPath(root, '/assets/a.js')).toEqual({ file: path.join(root, 'assets', 'a.js') });
    expect(resolveStaticPath(root, '/assets/../index.html')).toEqual({ file: path.join(root, 'index.html') });
    expect(resolveStaticPath(root, '/..foo')).toEqual({ file: path.join(root, '..foo') });
    expect(resolveStaticPath(root, '/%2Fetc%2Fpasswd')).toEqual({ file: path.join(root, 'etc', 'passwd') });
  });

  it('refuses the root itself, its parent and siblings, however spelt', () => {
    for (const p of [
      '/..',
      '/../',
      '/../renderer-x/secret.txt',
      '/../renderer',
      '/./../renderer-x',
      '/assets/../../renderer-x/a',
      '/%2e%2e/renderer-x/a',
      '/..%2frenderer-x%2fa',
      '/a/b/c/../../../../etc/passwd',
      '/.',
    ])
      expect(resolveStaticPath(root, p), p).toEqual({ status: 404, reason: 'not found' });
  });

  it('refuses malformed escapes and NUL bytes as bad requests', () => {
    for (const p of MALFORMED_PATHS) expect(resolveStaticPath(root, p), p).toMatchObject({ status: 400 });
  });
});
