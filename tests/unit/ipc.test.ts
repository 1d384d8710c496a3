import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GradProofService } from '../../app/node/api/service.js';
import { openStore } from '../../app/node/store/database.js';
import { createIpcHandler, isTrustedSender } from '../../main/ipc.js';

const store = openStore(path.join(mkdtempSync(path.join(tmpdir(), 'gp-ipc-')), 'ipc.db'));
const service = new GradProofService(store);
const handle = createIpcHandler(service);
const ours = { senderFrame: { url: 'app://gradproof/index.html#/runs' } };
afterAll(() => store.db.close());

describe('the IPC layer', () => {
  it('answers GradProof’s own window', async () => {
    expect(await handle('runs.list', ours, {})).toEqual({ ok: true, result: [] });
    expect(await handle('identities.list', ours, {})).toMatchObject({ ok: true });
  });

  it('refuses unknown senders', async () => {
    for (const url of [
      'file:///etc/passwd',
      'https://evil.example/app://gradproof',
      'app://other/index.html',
      'http://127.0.0.1:5173/',
      '',
      undefined,
    ]) {
      const r = await handle('runs.list', { senderFrame: url === undefined ? null : { url } }, {});
      expect(r).toEqual({
        ok: false,
        error: { error: "refused: the request did not come from GradProof's own window", kind: 'invalid' },
      });
    }
    expect(isTrustedSender('app://gradproof/index.html')).toBe(true);
  });

  it('refuses unknown channels and malformed arguments, naming the field', async () => {
    expect(await handle('shell.exec', ours, {})).toMatchObject({
      ok: false,
      error: { error: 'unknown method shell.exec' },
    });
    const cases: [string, unknown, RegExp][] = [
      ['runs.get', {}, /^id: /],
      ['runs.get', { id: 42 }, /^id: /],
      ['runs.get', { id: 'x', extra: true }, /Unrecognized key/],
      ['runs.list', { limit: -5 }, /^limit: /],
      ['runs.compare', { ids: ['only-one'] }, /ids: pick at least two runs/],
      ['check.start', { epsilon: -1 }, /epsilon: ε must be greater than 0/],
      ['check.start', { epsilon: 'abc' }, /^epsilon: /],
      ['check.start', { implementation: { kind: 'shell', command: 'rm -rf /' } }, /^implementation/],
      ['check.start', { implementation: { kind: 'builtin', defects: ['W2;rm -rf'] } }, /a defect is GROUP:KIND/],
      ['identities.create', { name: 'A', role: 'admin', passphrase: 'long-enough' }, /^role: /],
      ['identities.create', { name: 'A', role: 'engineer', passphrase: 'short' }, /at least 8 characters/],
      ['reports.reject', { id: 'r', as: 'x', passphrase: 'long-enough', reason: '  ' }, /a rejection needs its reason/],
      ['runs.list', 'not an object', /expected object/],
      ['runs.list', [1, 2], /expected object/],
    ];
    for (const [method, params, message] of cases) {
      const r = await handle(method, ours, params);
      expect(r.ok, `${method} ${JSON.stringify(params)}`).toBe(false);
      if (!r.ok) {
        expect(r.error.error).toMatch(message);
        expect(r.error.kind).toBe('invalid');
      }
    }
  });

  it('reports input errors from the engine as such, not as crashes', async () => {
    expect(await handle('runs.get', ours, { id: 'run-nope' })).toEqual({
      ok: false,
      error: { error: 'no run run-nope', kind: 'not-found', field: 'id' },
    });
    expect(await handle('reports.create', ours, { runId: 'run-nope', as: 'nobody' })).toMatchObject({
      ok: false,
      error: { kind: 'not-found' },
    });
  });
});
