import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bridge, startBridge } from '../../app/node/api/http-bridge.js';
import { GradProofService } from '../../app/node/api/service.js';
import { openStore } from '../../app/node/store/database.js';
import { CSP, MIME } from '../../app/node/api/static-files.js';
import { ROOT } from '../helpers/cli.js';
import { MALFORMED_PATHS, escapePaths, siblingSecret } from '../helpers/static-attacks.js';

const built = path.join(ROOT, 'dist', 'renderer');
const sibling = siblingSecret(built);
const store = openStore(path.join(mkdtempSync(path.join(tmpdir(), 'gp-bridge-')), 'b.db'));
let bridge: Bridge;
beforeAll(async () => {
  bridge = await startBridge(new GradProofService(store), built, 0);
});
afterAll(async () => {
  sibling.remove();
  await bridge.close();
  store.db.close();
});

function send(opts: {
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}): Promise<{ status: number; body: string; raw: Buffer; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: bridge.port,
        path: opts.path,
        method: opts.method ?? 'GET',
        headers: opts.headers ?? {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, body: raw.toString('utf8'), raw, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}
const json = { 'Content-Type': 'application/json' };

describe('the loopback bridge', () => {
  it('listens on 127.0.0.1 and prints a URL with its token', () => {
    expect(bridge.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}$/);
  });

  it('refuses requests without the token (page, API and events)', async () => {
    for (const p of ['/', '/index.html', '/api/events']) expect((await send({ path: p })).status).toBe(401);
    expect((await send({ path: '/api/call/runs.list', method: 'POST', headers: json, body: '{}' })).status).toBe(401);
    expect((await send({ path: '/?token=wrong', method: 'GET' })).status).toBe(401);
    expect(
      (
        await send({
          path: '/api/call/runs.list',
          method: 'POST',
          headers: { ...json, Authorization: 'Bearer nope' },
          body: '{}',
        })
      ).status,
    ).toBe(401);
  });

  it('serves the page for the token, moving it into an HttpOnly SameSite=Strict cookie', async () => {
    const r = await send({ path: `/?token=${bridge.token}` });
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/<title>GradProof<\/title>/);
    expect(String(r.headers['set-cookie'])).toMatch(/gradproof_token=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=\//);
    const cookie = String(r.headers['set-cookie']).split(';')[0]!;
    expect(
      (await send({ path: '/api/call/runs.list', method: 'POST', headers: { ...json, Cookie: cookie }, body: '{}' }))
        .body,
    ).toBe('{"result":[]}');
  });

  it('refuses another Host (DNS rebinding) and cross-origin calls', async () => {
    const auth = { Authorization: `Bearer ${bridge.token}` };
    expect((await send({ path: '/', headers: { ...auth, Host: 'evil.example' } })).status).toBe(421);
    expect(
      (
        await send({
          path: '/api/call/runs.list',
          method: 'POST',
          headers: { ...json, ...auth, Origin: 'http://evil.example' },
          body: '{}',
        })
      ).status,
    ).toBe(403);
  });

  it('validates params like every transport: 400 with the field named', async () => {
    const auth = { Authorization: `Bearer ${bridge.token}` };
    const r = await send({
      path: '/api/call/check.start',
      method: 'POST',
      headers: { ...json, ...auth },
      body: '{"epsilon":-1}',
    });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toEqual({
      error: 'epsilon: ε must be greater than 0',
      field: 'epsilon',
      kind: 'invalid',
    });
    expect(
      (await send({ path: '/api/call/nope', method: 'POST', headers: { ...json, ...auth }, body: '{}' })).status,
    ).toBe(404);
    expect((await send({ path: '/api/call/runs.list', method: 'GET', headers: auth })).status).toBe(405);
    expect(
      (
        await send({
          path: '/api/call/runs.list',
          method: 'POST',
          headers: { ...auth, 'Content-Type': 'text/plain' },
          body: '{}',
        })
      ).status,
    ).toBe(415);
    expect(
      (
        await send({
          path: '/api/call/runs.get',
          method: 'POST',
          headers: { ...json, ...auth },
          body: '{"id":"run-x"}',
        })
      ).status,
    ).toBe(404);
  });
});

describe('the loopback bridge: hosts (issue 14)', () => {
  const auth = (): Record<string, string> => ({ Authorization: `Bearer ${bridge.token}` });

  it('answers Host localhost:PORT as well as 127.0.0.1:PORT, in any case', async () => {
    for (const host of [`127.0.0.1:${bridge.port}`, `localhost:${bridge.port}`, `LocalHost:${bridge.port}`]) {
      const r = await send({ path: '/', headers: { ...auth(), Host: host } });
      expect(r.status, host).toBe(200);
      expect(r.body).toMatch(/<title>GradProof<\/title>/);
    }
  });

  it('takes API calls from a page opened as http://localhost:PORT', async () => {
    const r = await send({
      path: '/api/call/runs.list',
      method: 'POST',
      headers: { ...json, ...auth(), Host: `localhost:${bridge.port}`, Origin: `http://localhost:${bridge.port}` },
      body: '{}',
    });
    expect(r).toMatchObject({ status: 200, body: '{"result":[]}' });
  });

  it('refuses every other Host (DNS rebinding), the token notwithstanding', async () => {
    const other = bridge.port === 65535 ? 65534 : bridge.port + 1;
    for (const host of [
      'evil.example',
      `evil.example:${bridge.port}`,
      `localhost.evil.example:${bridge.port}`,
      `127.0.0.1.nip.io:${bridge.port}`,
      `localhost:${other}`,
      `127.0.0.1:${other}`,
      'localhost',
      '127.0.0.1',
      `[::1]:${bridge.port}`,
      `0.0.0.0:${bridge.port}`,
    ]) {
      expect((await send({ path: '/', headers: { ...auth(), Host: host } })).status, host).toBe(421);
      expect(
        (
          await send({
            path: '/api/call/runs.list',
            method: 'POST',
            headers: { ...json, ...auth(), Host: host },
            body: '{}',
          })
        ).status,
        host,
      ).toBe(421);
    }
  });

  it('refuses API calls from any other origin', async () => {
    for (const origin of [
      'http://evil.example',
      `http://localhost.evil.example:${bridge.port}`,
      `https://localhost:${bridge.port}`,
      `http://localhost:${bridge.port + 1}`,
      'null',
    ])
      expect(
        (
          await send({
            path: '/api/call/runs.list',
            method: 'POST',
            headers: { ...json, ...auth(), Origin: origin },
            body: '{}',
          })
        ).status,
        origin,
      ).toBe(403);
  });
});

describe('the loopback bridge: static files, shared with app://', () => {
  const auth = (): Record<string, string> => ({ Authorization: `Bearer ${bridge.token}` });

  it('serves the page with the CSP as a header equal to its meta tag', async () => {
    const r = await send({ path: '/', headers: auth() });
    const meta = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(r.body)?.[1];
    expect(r.headers['content-security-policy']).toBe(meta);
    expect(r.headers['content-security-policy']).toBe(CSP);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['x-frame-options']).toBe('DENY');
  });

  it('serves every built asset byte for byte with its content type', async () => {
    for (const a of readdirSync(path.join(built, 'assets'))) {
      const r = await send({ path: `/assets/${a}`, headers: auth() });
      expect(r.status, a).toBe(200);
      expect(r.headers['content-type']).toBe(MIME[path.extname(a)]);
      expect(r.raw.equals(readFileSync(path.join(built, 'assets', a)))).toBe(true);
    }
  });

  it('refuses every path that leaves dist/renderer, including a sibling renderer-x…: 404', async () => {
    for (const p of escapePaths(sibling)) {
      const r = await send({ path: p, headers: auth() });
      expect(r.status, p).toBe(404);
      expect(r.body, p).not.toContain(sibling.secret);
    }
    expect((await send({ path: '/no-such-file.js', headers: auth() })).status).toBe(404);
  });

  it('a malformed escape or a NUL byte gets 400, never 500 (issue 14: GET /%E0%A4%A)', async () => {
    for (const p of MALFORMED_PATHS) expect((await send({ path: p, headers: auth() })).status, p).toBe(400);
    const call = await send({
      path: '/api/call/%E0%A4%A',
      method: 'POST',
      headers: { ...json, ...auth() },
      body: '{}',
    });
    expect(call.status).toBe(400);
    expect(JSON.parse(call.body)).toMatchObject({ kind: 'invalid' });
  });

  it('a request target that is no path (GET //) gets 400, and the server lives on', async () => {
    expect((await send({ path: '//', headers: auth() })).status).toBe(400);
    expect((await send({ path: '//', headers: {} })).status).toBe(400);
    expect((await send({ path: '/', headers: auth() })).status).toBe(200);
  });

  it('static files are for GET and HEAD only', async () => {
    expect((await send({ path: '/index.html', method: 'POST', headers: auth(), body: 'x' })).status).toBe(405);
    expect((await send({ path: '/index.html', method: 'HEAD', headers: auth() })).status).toBe(200);
  });
});
