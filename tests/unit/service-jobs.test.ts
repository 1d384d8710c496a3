import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../app/core/api/contract.js';
import { GradProofService } from '../../app/node/api/service.js';
import { openStore } from '../../app/node/store/database.js';

// The service keeps each job's state and history, so a page that subscribes late, reloads or
// opens after the end reads the truth; what can be refused before the run is refused with its field.
const store = openStore(path.join(mkdtempSync(path.join(tmpdir(), 'gp-jobs-')), 'jobs.db'));
const service = new GradProofService(store, { workers: 1 });
afterAll(() => {
  service.cancelAll();
  store.db.close();
});

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, seconds = 60): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('check jobs', () => {
  it('a missing file is refused by check.start itself, with the field to show it at, and no job', async () => {
    const err = await service
      .call('check.start', { implementation: { kind: 'builtin', data: '/no/such.csv' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).body).toMatchObject({ kind: 'input', field: 'implementation.data' });
    expect((err as ApiError).body.error).toBe(
      '/no/such.csv: no such file; give the path of a .csv, .npy, .npz or .json dataset',
    );
  });

  it('a job that ended before anyone listened is still told: done, its run, its verdict, its history', async () => {
    const { jobId } = await service.call('check.start', {
      implementation: { kind: 'builtin', backprop: 'notebook-buggy' },
    });
    const s = await until(
      () => service.call('check.status', { jobId }),
      (x) => x.state !== 'running',
    );
    expect(s.state).toBe('done');
    expect(s.verdict).toBe('fail');
    expect(s.runId).toMatch(/^run-/);
    expect(s.events.map((e) => e.type)).toEqual(expect.arrayContaining(['check.started', 'check.done']));
    expect(s.events[0]!.type).toBe('check.started');
    expect(s.events.at(-1)!.type).toBe('check.done');
    expect(s.events.filter((e) => e.type === 'check.progress').length).toBeLessThanOrEqual(1);
    expect((await service.call('runs.get', { id: s.runId! })).verdict).toBe('fail');
  });

  it('a cancelled job keeps its run and says it was cancelled', async () => {
    const { jobId } = await service.call('check.start', {
      implementation: { kind: 'builtin', model: 'mlp:30,64,32,1', data: 'random:2048', evaluation: 'full' },
    });
    const started = await service.call('check.status', { jobId });
    expect(started.state).toBe('running');
    expect(started.runId).toMatch(/^run-/);
    await service.call('check.cancel', { jobId });
    const s = await until(
      () => service.call('check.status', { jobId }),
      (x) => x.state !== 'running',
    );
    expect(s.state).toBe('cancelled');
    expect(s.runId).toBe(started.runId);
    expect((await service.call('runs.get', { id: s.runId! })).status).toBe('cancelled');
  });

  it('an unknown job is not found, and says where its run would be', async () => {
    const err = await service.call('check.status', { jobId: 'job-nope' }).catch((e: unknown) => e);
    expect((err as ApiError).body).toMatchObject({ kind: 'not-found', field: 'jobId' });
    expect((err as ApiError).body.error).toMatch(/its run, if it began, is in Runs/);
  });

  it('compare refuses more than 8 runs in words, and a baseline that is not compared', async () => {
    const many = await service
      .call('runs.compare', { ids: Array.from({ length: 9 }, (_, i) => `run-${i}`) })
      .catch((e: unknown) => e);
    expect((many as ApiError).body.error).toBe('ids: compare at most 8 runs at a time');
  });
});
