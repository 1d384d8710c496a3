import { type CostEvaluator, createEvaluator } from '../../core/model/evaluator.js';
import { Network } from '../../core/model/network.js';
import { estimateRange } from '../../core/check/schemes.js';
import { estimateIndices } from '../../core/check/gradient-check.js';
import { Tensor } from '../../core/tensor/tensor.js';
import type { ShardResult, ShardTask } from './shard-task.js';

let current: { key: string; evaluator: CostEvaluator } | undefined;

function evaluatorFor(task: ShardTask): CostEvaluator {
  if (current?.key !== task.jobKey) {
    const net = new Network(task.spec);
    // Private copies: typed arrays over a SharedArrayBuffer are a different kind to
    // V8, and mixing both kinds in the hot loops makes them polymorphic and slower.
    const data = {
      X: new Tensor(task.X.rows, task.X.cols, task.X.data.slice()),
      Y: new Tensor(task.Y.rows, task.Y.cols, task.Y.data.slice()),
    };
    current = { key: task.jobKey, evaluator: createEvaluator(task.evaluation, net, task.theta.slice(), data) };
  }
  return current.evaluator;
}

/** One shard of the perturbation sweep, run in a worker thread. */
export default function runShard(task: ShardTask): ShardResult {
  const ev = evaluatorFor(task);
  if (task.indices) {
    return { start: -1, approx: estimateIndices(ev, task.indices, task.scheme, task.epsilon), kinks: new Uint32Array(0) };
  }
  const n = task.end - task.start;
  const approx = new Float64Array(n);
  const kinks = new Uint32Array(n);
  estimateRange(ev, task.start, task.end, task.scheme, task.epsilon, approx, kinks);
  return { start: task.start, approx, kinks };
}
