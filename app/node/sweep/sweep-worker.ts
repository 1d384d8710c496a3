import { evaluatorDirectionCosts, evaluatorEntryCosts } from '../../core/check/engine-costs.js';
import { type CostEvaluator, createEvaluator } from '../../core/model/evaluator.js';
import { type Dataset, type ForwardCache, Network } from '../../core/model/network.js';
import { Tensor } from '../../core/tensor/tensor.js';
import type { SharedMatrix, SweepTask, SweepTaskResult } from './shard-task.js';
import { WasmIncrementalEvaluator } from './wasm-evaluator.js';
import { installWasmProducts } from './wasm-kernels.js';

installWasmProducts();

interface WorkerJob {
  key: string;
  net: Network;
  theta: Float64Array;
  /** The data and the forward pass as private (non-shared) arrays, made on first use. */
  own: () => { data: Dataset; base: ForwardCache };
  evaluator: CostEvaluator;
}

let current: WorkerJob | undefined;

function contextFor(task: SweepTask): WorkerJob {
  if (current?.key !== task.jobKey) {
    const net = new Network(task.spec);
    const theta = task.theta.slice();
    const view = (m: SharedMatrix): Tensor => new Tensor(m.rows, m.cols, m.data);
    const X = view(task.X);
    const shared = {
      data: { X, Y: view(task.Y) },
      base: { cost: task.base.cost, Z: [X, ...task.base.Z.map(view)], A: [X, ...task.base.A.map(view)] },
    };
    // Private copies for the JavaScript loops: typed arrays over a SharedArrayBuffer are
    // a different kind to V8, and mixing both kinds in hot loops makes them polymorphic.
    // The WebAssembly evaluator copies what it needs into its own memory instead.
    let owned: { data: Dataset; base: ForwardCache } | undefined;
    const own = (): { data: Dataset; base: ForwardCache } => {
      if (!owned) {
        const local = (t: Tensor): Tensor => new Tensor(t.rows, t.cols, t.data.slice());
        const OX = local(X);
        owned = {
          data: { X: OX, Y: local(shared.data.Y) },
          base: {
            cost: task.base.cost,
            Z: [OX, ...shared.base.Z.slice(1).map(local)],
            A: [OX, ...shared.base.A.slice(1).map(local)],
          },
        };
      }
      return owned;
    };
    // Incremental evaluation runs its inner loops in WebAssembly where the model's shape allows.
    const evaluator =
      task.evaluation === 'incremental' && WasmIncrementalEvaluator.fits(net, shared.data)
        ? WasmIncrementalEvaluator.create(net, theta, shared.data, shared.base)
        : createEvaluator(task.evaluation, net, theta, own().data, own().base);
    current = { key: task.jobKey, net, theta, own, evaluator };
  }
  return current;
}

/** One task of a sweep, run in a worker thread. */
export default function runTask(task: SweepTask): SweepTaskResult {
  const { net, evaluator: ev, theta, own } = contextFor(task);
  const t0 = performance.now();
  const timed = (r: { costs: Float64Array; kinks: Uint32Array }): SweepTaskResult => ({
    kind: 'costs',
    ...r,
    seconds: (performance.now() - t0) / 1000,
  });
  switch (task.kind) {
    case 'range':
      return timed(evaluatorEntryCosts(ev, { start: task.start, end: task.end }, task.offsets));
    case 'indices':
      return timed(evaluatorEntryCosts(ev, { indices: task.indices }, task.offsets));
    case 'directions':
      return timed(evaluatorDirectionCosts(ev, net, task.directions, task.seed, task.offsets));
    case 'gradient':
      return { kind: 'gradient', grad: net.backward(theta, own().data, own().base, task.defects) };
  }
}
