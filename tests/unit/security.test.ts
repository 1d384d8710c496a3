import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CSP } from '../../app/node/api/static-files.js';
import { ROOT } from '../helpers/cli.js';

const built = path.join(ROOT, 'dist', 'renderer');

describe('renderer security (the built index.html, as it ships)', () => {
  const html = readFileSync(path.join(built, 'index.html'), 'utf8');
  const csp = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1] ?? '';

  it('declares a strict Content-Security-Policy', () => {
    const directives = Object.fromEntries(
      csp
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .map(([k, ...v]) => [k, v]),
    );
    expect(directives['default-src']).toEqual(["'none'"]);
    expect(directives['script-src']).toEqual(["'self'"]);
    expect(directives['style-src']).toEqual(["'self'"]);
    expect(directives['connect-src']).toEqual(["'self'"]);
    expect(directives['object-src']).toEqual(["'none'"]);
    expect(directives['base-uri']).toEqual(["'none'"]);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*|https?:/);
  });

  it('has no inline script or style the CSP would have to allow', () => {
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style[\s>]/);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    const js = readdirSync(path.join(built, 'assets')).filter((f) => f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(0);
    for (const f of js)
      expect(readFileSync(path.join(built, 'assets', f), 'utf8')).not.toMatch(/\beval\(|new Function\(/);
  });

  it('is the policy both transports send as a header (app/node/api/static-files.ts)', () => {
    // As served: main-protocol.test.ts (app://) and bridge.test.ts (gradproof serve)
    // compare each response's header with the meta tag of the page it carries.
    expect(CSP).toBe(csp);
  });
});
