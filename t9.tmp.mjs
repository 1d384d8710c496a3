import { Piscina } from 'piscina';
import { initParameters, parseMlpSpec, randomDataset } from './dist/app/core/builtins/synthetic.js';
import { shareFloat64 } from './dist/app/node/sweep/shard-task.js';
const spec = parseMlpSpec('mlp:30,64,32,1'); const theta = initParameters(spec, 1); const data = randomDataset(spec, 2048, 1);
const out = [];
for (const W of [1, 2, 1, 2]) {
  const T0 = performance.now();
  const pool = new Piscina({ filename: new URL('./dist/app/node/sweep/sweep-worker.js', import.meta.url).href, minThreads: W, maxThreads: W });
  const base = { jobKey: 'k' + W, spec, theta: shareFloat64(theta), X: { rows: data.X.rows, cols: data.X.cols, data: shareFloat64(data.X.data) }, Y: { rows: 1, cols: 2048, data: shareFloat64(data.Y.data) }, evaluation: 'incremental', scheme: 'central', epsilon: 1e-7 };
  const shards = []; for (let s = 0; s < 4097; s += 117) shards.push([s, Math.min(4097, s + 117)]);
  await Promise.all(shards.map(async ([start, end]) => { await pool.run({ ...base, kind: 'range', start, end }); }));
  out.push(`${W}w ${(performance.now() - T0).toFixed(0)}`);
  await pool.destroy();
}
console.log(process.execArgv.join(' ') || '(none)', out.join(', '));
