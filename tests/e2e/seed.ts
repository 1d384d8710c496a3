import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CheckRequestInput } from '../../app/core/api/contract.js';
import { GradProofService } from '../../app/node/api/service.js';
import { openStore } from '../../app/node/store/database.js';

/** Run one check through the API, as the app does, and wait for its run. */
export async function check(service: GradProofService, request: CheckRequestInput): Promise<string> {
  const done = new Promise<string>((resolve, reject) => {
    const off = service.onEvent((e) => {
      if (e.jobId !== jobId) return;
      if (e.type === 'check.done') {
        off();
        resolve(e.runId!);
      } else if (e.type === 'check.failed') {
        off();
        reject(new Error(e.error));
      }
    });
  });
  let jobId = '';
  jobId = (await service.call('check.start', { workers: 1, ...request })).jobId;
  // The job may have ended before the listener knew its id: its status says so.
  const s = await service.call('check.status', { jobId });
  if (s.state === 'done') return s.runId!;
  if (s.state !== 'running') throw new Error(s.error);
  return done;
}

export interface BusyDatabase {
  file: string;
  runs: string[];
  longName: string;
  reports: Record<'draft' | 'prepared' | 'approved' | 'rejected', string[]>;
}

export const PASSPHRASES: Record<string, string> = {
  'Erin Engineer': 'engineer-secret',
  'Eli Engineer': 'engineer-secret-2',
  'Rafael Reviewer': 'reviewer-secret',
  'Rita Reviewer': 'reviewer-secret-2',
  'Omar Officer': 'officer-secret',
};

/**
 * A database as a team has it after a few weeks: 36 runs (the notebook's buggy and fixed
 * backward under several defects, synthetic MLPs under several seeds, so one dataset name
 * carries several hashes, and a model whose name is very long), 5 identities and 7 reports in
 * every state.
 */
export async function busyDatabase(): Promise<BusyDatabase> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gp-busy-'));
  const file = path.join(dir, 'busy.db');
  const longName =
    'fraud-scoring-network-for-the-european-card-payments-portfolio-2025-release-candidate-with-calibrated-outputs';
  const spec = path.join(dir, 'long.json');
  // The same file under two contents: one model reference that the library knows by two hashes.
  const writeSpec = (version: number) =>
    writeFileSync(
      spec,
      JSON.stringify({
        name: longName,
        description: `version ${version}`,
        inputs: 4,
        layers: [
          { units: 5, activation: 'relu' },
          { units: 1, activation: 'sigmoid' },
        ],
        loss: 'binary_cross_entropy',
      }),
    );
  const store = openStore(file);
  const service = new GradProofService(store);
  try {
    for (const [name, pass] of Object.entries(PASSPHRASES))
      await service.call('identities.create', {
        name,
        role: name.includes('Reviewer') || name.includes('Officer') ? 'reviewer' : 'engineer',
        passphrase: pass,
      });
    const runs: string[] = [];
    const defects = ['', '', 'W1:flip', 'b3:zero', 'W2:transpose', 'W1:scale:1.000001'];
    for (let i = 0; i < 12; i++) {
      const d = defects[i % defects.length]!;
      runs.push(
        await check(service, {
          implementation: {
            kind: 'builtin',
            backprop: i % 4 === 0 ? 'notebook-buggy' : 'correct',
            defects: d ? [d] : [],
          },
        }),
      );
    }
    for (let seed = 1; seed <= 18; seed++)
      runs.push(
        await check(service, {
          implementation: { kind: 'builtin', model: 'mlp:4,6,1', data: 'random:64' },
          seed,
        }),
      );
    for (let i = 0; i < 6; i++) {
      writeSpec(i % 2);
      runs.push(
        await check(service, {
          implementation: {
            kind: 'builtin',
            model: spec,
            data: 'random:32',
            defects: i % 2 ? ['b1:flip'] : [],
          },
          seed: 100 + i,
        }),
      );
    }
    await service.call('runs.annotate', {
      id: runs[0]!,
      name: 'Notebook as shipped, with its two planted bugs',
      tags: ['notebook', 'baseline'],
      notes: 'The reference problem: dW2 doubled and db1 scaled by four.',
    });
    await service.call('runs.annotate', { id: runs[1]!, name: 'Notebook after the fix', tags: ['notebook', 'fixed'] });
    await service.call('runs.annotate', { id: runs[30]!, name: longName, tags: ['long'] });

    const reports: BusyDatabase['reports'] = { draft: [], prepared: [], approved: [], rejected: [] };
    const create = async (run: string, as: string) => (await service.call('reports.create', { runId: run, as })).id;
    const sign = (id: string, as: string) => service.call('reports.sign', { id, as, passphrase: PASSPHRASES[as]! });
    for (const run of [runs[2]!, runs[3]!]) reports.draft.push(await create(run, 'Erin Engineer'));
    for (const run of [runs[1]!, runs[5]!]) {
      const id = await create(run, 'Eli Engineer');
      await sign(id, 'Eli Engineer');
      reports.prepared.push(id);
    }
    for (const run of [runs[13]!, runs[14]!]) {
      const id = await create(run, 'Erin Engineer');
      await sign(id, 'Erin Engineer');
      await service.call('reports.approve', {
        id,
        as: 'Rafael Reviewer',
        passphrase: PASSPHRASES['Rafael Reviewer']!,
        comment: 'Checked against the finite differences',
      });
      reports.approved.push(id);
    }
    const rejected = await create(runs[0]!, 'Erin Engineer');
    await sign(rejected, 'Erin Engineer');
    await service
      .call('reports.reject', { id: rejected, as: 'Rita Reviewer', passphrase: 'a wrong guess', reason: 'x' })
      .catch(() => undefined);
    await service.call('reports.reject', {
      id: rejected,
      as: 'Rita Reviewer',
      passphrase: PASSPHRASES['Rita Reviewer']!,
      reason: 'The backward pass of W2 and b1 is wrong: fix it and audit again.',
    });
    reports.rejected.push(rejected);
    return { file, runs, longName, reports };
  } finally {
    service.cancelAll();
    store.db.close();
  }
}
