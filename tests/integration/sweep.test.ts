import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NOTEBOOK_FRAUD_SPEC, notebookCase } from '../../app/core/builtins/notebook.js';
import { initParameters, parseMlpSpec, randomDataset } from '../../app/core/builtins/synthetic.js';
import { checkEngine, checkWorkers } from '../helpers/check.js';
import { NOTEBOOK_BUGS, parseDefect } from '../../app/core/model/defects.js';
import type { Progress } from '../../app/core/check/progress.js';
import { startSlowCheck } from '../helpers/cli.js';
import { sameDigits } from '../helpers/golden.js';
import { CancelledError } from '../../app/core/errors.js';

function osThreads(): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
}

const spec = parseMlpSpec('mlp:10,24,12,1');
const job = {
  spec,
  theta: initParameters(spec, 3),
  data: randomDataset(spec, 96, 3),
  defects: [parseDefect('W2:scale:1.5'), parseDefect('b1:flip')],
};

describe('the worker-thread sweep', () => {
  it('gives identical results, bit for bit, on 1, 2 and 4 workers (and equals the in-thread reference)', async () => {
    const reference = await checkEngine(job);
    const runs = await Promise.all(
      [1, 2, 4].map((workers) => checkWorkers(job, {}, 'incremental', { workers, shardSize: 17 })),
    );
    for (const r of runs) expect(r).toEqual(reference);
    expect(reference.verdict).toBe('fail');
  });

  it('fast mode: identical results, bit for bit, on 1, 2 and 4 workers and the in-thread reference', async () => {
    const fast = { mode: 'fast' as const, directions: 3 };
    const reference = await checkEngine(job, fast);
    const runs = await Promise.all(
      [1, 2, 4].map((workers) => checkWorkers(job, fast, 'incremental', { workers, shardSize: 2 })),
    );
    for (const r of runs) expect(r).toEqual(reference);
    expect(reference.fast?.tests.length).toBeGreaterThanOrEqual(3 * reference.groups.length);
    expect(reference.verdict).toBe('fail');
  });

  it("reproduces the notebook's 0.285093156781 through the workers in both evaluation modes", async () => {
    for (const mode of ['incremental', 'full'] as const) {
      const r = await checkWorkers({ spec: NOTEBOOK_FRAUD_SPEC, ...notebookCase(), defects: NOTEBOOK_BUGS }, {}, mode, {
        workers: 2,
      });
      expect(sameDigits(r.difference, 0.285093156781, 9)).toBe(true);
    }
  });

  it('incremental and full agree on a wide network (rank-one updates, linear regions)', async () => {
    const wide = parseMlpSpec('mlp:12,40,30,1');
    const wjob = {
      spec: wide,
      theta: initParameters(wide, 9),
      data: randomDataset(wide, 128, 9),
      defects: NOTEBOOK_BUGS,
    };
    const [inc, full] = await Promise.all([
      checkWorkers(wjob, {}, 'incremental', { workers: 1 }),
      checkWorkers(wjob, {}, 'full', { workers: 1 }),
    ]);
    expect(inc.verdict).toBe(full.verdict);
    expect(Math.abs(inc.difference - full.difference)).toBeLessThan(1e-6 * full.difference);
    inc.groups.forEach((g, i) => {
      expect(g.verdict).toBe(full.groups[i]!.verdict);
      expect(g.kinkEntries).toBe(full.groups[i]!.kinkEntries);
    });
  });

  it('reports progress: done rises to total, with a rate and an ETA', async () => {
    const seen: Progress[] = [];
    await checkWorkers(job, {}, 'incremental', {
      workers: 2,
      shardSize: 25,
      onProgress: (p) => p.phase === 'sweep' && seen.push(p),
    });
    expect(seen.length).toBeGreaterThan(3);
    const dones = seen.map((p) => p.done);
    expect([...dones].sort((a, b) => a - b)).toEqual(dones);
    expect(seen.at(-1)!.done).toBe(seen.at(-1)!.total);
    // A rate once any time has passed (a warm worker's first shard can land within the millisecond).
    expect(seen.every((p) => (p.elapsed === 0 || p.rate > 0) && p.total === job.theta.length)).toBe(true);
    expect(seen.at(-1)!.rate).toBeGreaterThan(0);
    expect(seen.at(-1)!.eta).toBe(0);
  });

  it('cancels within a second and leaves no worker thread alive', async () => {
    await checkWorkers(job, {}, 'incremental', { workers: 2 }); // warm: libuv and V8 threads exist now
    const before = osThreads();
    const big = parseMlpSpec('mlp:30,64,32,1');
    const slow = { spec: big, theta: initParameters(big, 1), data: randomDataset(big, 2048, 1), defects: [] };
    const ac = new AbortController();
    let abortedAt = 0;
    const run = checkWorkers(slow, {}, 'full', {
      workers: 2,
      signal: ac.signal,
      onProgress: () => {
        if (!abortedAt) {
          abortedAt = performance.now();
          ac.abort();
        }
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    // Well before the ~45 s the whole sweep takes: cancelling stops the workers, not waits for them.
    expect(performance.now() - abortedAt).toBeLessThan(10_000);
    // Terminated threads are reaped by the OS a little later (later still on a busy machine).
    for (let waited = 0; osThreads() > before && waited < 5000; waited += 100)
      await new Promise((r) => setTimeout(r, 100));
    expect(osThreads()).toBeLessThanOrEqual(before);
  });

  it('Ctrl-C on the CLI cancels the sweep cleanly: exit 130, a message, no result', async () => {
    // Interrupt once the sweep is under way (runs longer than a second show a progress line).
    const { child, output } = await startSlowCheck([
      '--db',
      path.join(mkdtempSync(path.join(tmpdir(), 'gp-int-')), 'i.db'),
    ]);
    const t0 = performance.now();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(code).toBe(130);
    expect(output.stderr).toMatch(/cancelled/);
    expect(output.stdout).toBe('');
  });
});
