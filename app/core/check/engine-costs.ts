import type { CostEvaluator } from '../model/evaluator.js';
import type { Network } from '../model/network.js';
import { directionVector, groupDirection } from './directions.js';
import { type DirectionRef, type EntrySet, entryAt, entryCount } from './estimator.js';
import { costsAtEntry } from './schemes.js';

// The cost loops of GradProof's own engine, shared by the in-thread estimator and the worker
// threads (kept apart from the orchestrator so that a worker loads only what it runs).

/** Costs of entries at offsets, from one evaluator: the loop the worker threads run too. */
export function evaluatorEntryCosts(
  ev: CostEvaluator,
  set: EntrySet,
  offsets: readonly number[],
): { costs: Float64Array; kinks: Uint32Array } {
  const count = entryCount(set);
  const costs = new Float64Array(count * offsets.length);
  const kinks = new Uint32Array(count * offsets.length);
  for (let k = 0; k < count; k++) costsAtEntry(ev, entryAt(set, k), offsets, costs, kinks, k * offsets.length);
  return { costs, kinks };
}

/** Costs along seeded random directions at offsets, from one evaluator. */
export function evaluatorDirectionCosts(
  ev: CostEvaluator,
  net: Network,
  directions: readonly DirectionRef[],
  seed: number,
  offsets: readonly number[],
): { costs: Float64Array; kinks: Uint32Array } {
  const costs = new Float64Array(directions.length * offsets.length);
  const kinks = new Uint32Array(directions.length * offsets.length);
  directions.forEach((d, i) => {
    const group = net.groups[d.group]!;
    if (ev.costsAlongGroup) {
      const u = groupDirection(group, d.group, seed, d.k, d.attempt);
      ev.costsAlongGroup(d.group, u, offsets, costs, kinks, i * offsets.length);
      return;
    }
    const u = directionVector(net.parameterCount, group, d.group, seed, d.k, d.attempt);
    offsets.forEach((o, j) => {
      costs[i * offsets.length + j] = ev.costAlong(u, o);
      kinks[i * offsets.length + j] = ev.kinks;
    });
  });
  return { costs, kinks };
}
