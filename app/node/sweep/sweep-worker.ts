import { type CostEvaluator, createEvaluator } from '../../core/model/evaluator.js';
import { Network } from '../../core/model/network.js';
import { estimateRange } from '../../core/check/schemes.js';
import { Tensor } from '../../core/tensor/tensor.js';
import type { ShardResult, ShardTask } from './shard-task.js';

let current: { key: string; evaluator: CostEvaluator } | undefined;

function evaluatorFor(task: ShardTask): CostEvaluator {
  if (current?.key !== task.jobKey) {
    const net = new Network(task.spec);
    const data = {
      X: new Tensor(task.X.rows, task.X.cols, task.X.data),
      Y: new Tensor(task.Y.rows, task.Y.cols, task.Y.data),
    };
    current = { key: task.jobKey, evaluator: createEvaluator(task.evaluation, net, task.theta, data) };
  }
  return current.evaluator;
}

/** One shard of the perturbation sweep, run in a worker thread. */
export default function runShard(task: ShardTask): ShardResult {
  const ev = evaluatorFor(task);
  const n = task.end - task.start;
  const approx = new Float64Array(n);
  const kinks = new Uint32Array(n);
  estimateRange(ev, task.start, task.end, task.scheme, task.epsilon, approx, kinks);
  return { start: task.start, approx, kinks };
}
