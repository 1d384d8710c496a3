import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bridge, startBridge } from '../../app/node/api/http-bridge.js';
import { GradProofService } from '../../app/node/api/service.js';
import { openStore } from '../../app/node/store/database.js';
import { ROOT } from '../helpers/cli.js';

const store = openStore(path.join(mkdtempSync(path.join(tmpdir(), 'gp-bridge-')), 'b.db'));
let bridge: Bridge;
beforeAll(async () => {
  bridge = await startBridge(new GradProofService(store), path.join(ROOT, 'dist', 'renderer'), 0);
});
afterAll(async () => {
  await bridge.close();
  store.db.close();
});

function send(opts: {
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
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
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
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
