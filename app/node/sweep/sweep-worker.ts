import { evaluateDirection } from '../../core/check/fast-mode.js';
import { estimateIndices, estimateRange } from '../../core/check/schemes.js';
import { type CostEvaluator, createEvaluator } from '../../core/model/evaluator.js';
import { type Dataset, type ForwardCache, Network } from '../../core/model/network.js';
import { Tensor } from '../../core/tensor/tensor.js';
import type { SharedMatrix, SweepTask, SweepTaskResult } from './shard-task.js';
import { WasmIncrementalEvaluator } from './wasm-evaluator.js';
import { installWasmProducts } from './wasm-kernels.js';

installWasmProducts();

let current: { key: string; net: Network; evaluator: CostEvaluator; theta: Float64Array; data: Dataset; base: ForwardCache } | undefined;

function contextFor(task: SweepTask): NonNullable<typeof current> {
  if (current?.key !== task.jobKey) {
    const net = new Network(task.spec);
    // Private copies: typed arrays over a SharedArrayBuffer are a different kind to
    // V8, and mixing both kinds in the hot loops makes them polymorphic and slower.
    const data = {
      X: new Tensor(task.X.rows, task.X.cols, task.X.data.slice()),
      Y: new Tensor(task.Y.rows, task.Y.cols, task.Y.data.slice()),
    };
    const local = (m: SharedMatrix): Tensor => new Tensor(m.rows, m.cols, m.data.slice());
    const base = { cost: task.base.cost, Z: [data.X, ...task.base.Z.map(local)], A: [data.X, ...task.base.A.map(local)] };
    const theta = task.theta.slice();
    // Incremental evaluation runs its inner loops in WebAssembly where the model's shape allows.
    const evaluator = task.evaluation === 'incremental' ? WasmIncrementalEvaluator.create(net, theta, data, base) : createEvaluator(task.evaluation, net, theta, data, base);
    current = { key: task.jobKey, net, evaluator, theta, data, base };
  }
  return current;
}

/** One task of a sweep, run in a worker thread. */
export default function runTask(task: SweepTask): SweepTaskResult {
  const { net, evaluator: ev, theta, data, base } = contextFor(task);
  switch (task.kind) {
    case 'range': {
      const n = task.end - task.start;
      const approx = new Float64Array(n);
      const kinks = new Uint32Array(n);
      estimateRange(ev, task.start, task.end, task.scheme, task.epsilon, approx, kinks);
      return { kind: 'entries', approx, kinks };
    }
    case 'indices':
      return { kind: 'entries', ...estimateIndices(ev, task.indices, task.scheme, task.epsilon) };
    case 'gradient':
      return { kind: 'gradient', grad: net.backward(theta, data, base, task.defects) };
    case 'directions':
      return {
        kind: 'directions',
        evaluations: task.items.map(({ group, k }) => evaluateDirection(ev, net.groups, group, task.seed, k, task.epsilon)),
      };
  }
}
