import type { BuiltinJob } from './builtin.js';
import { Network } from '../model/network.js';
import { hasKink } from '../model/activations.js';
import { deltaIncludesActivation } from '../model/losses.js';
import { relativeDifference } from './metrics.js';
import type { CheckResult } from './result.js';

/** Below this, a hypothesised bug reproduces the backward's gradient exactly (up to rounding). */
const REPRODUCED = 1e-9;

/**
 * For a built-in model the architecture is known, so a bug that is not a simple
 * factor can be tested by reproducing it: if leaving out layer l's activation
 * derivative in GradProof's own backward gives exactly the gradient under audit
 * on every failing group, that is the diagnosis. Only groups left as "mismatch"
 * or "unrelated" are re-labelled; the evidence (α, correlation) is kept.
 */
export function explainByReproduction(result: CheckResult, job: BuiltinJob, grad: Float64Array): CheckResult {
  const open = result.groups.filter(
    (g) =>
      g.verdict === 'fail' && ['mismatch', 'unrelated', 'opposed', 'dropped-path'].includes(g.diagnosis?.kind ?? ''),
  );
  if (open.length === 0) return result;
  const net = new Network(job.spec);
  const cache = net.forward(job.theta, job.data);
  const failing = result.groups
    .filter((g) => g.verdict === 'fail')
    .map((g) => net.groups.find((x) => x.name === g.name)!);
  for (let l = 1; l <= net.layerCount; l++) {
    const layer = net.spec.layers[l - 1]!;
    if (layer.activation === 'linear') continue;
    if (l === net.layerCount && deltaIncludesActivation(net.spec.loss)) continue;
    const hyp = net.backward(job.theta, job.data, cache, [{ kind: 'drop-derivative', layer: l }]);
    const reproduces = failing.every(
      (g) =>
        relativeDifference(grad.subarray(g.offset, g.offset + g.size), hyp.subarray(g.offset, g.offset + g.size)) <
        REPRODUCED,
    );
    if (!reproduces) continue;
    const what = `layer ${l}'s ${layer.activation} derivative${hasKink(layer.activation) ? ` (the mask of Z${l} > 0)` : ''}`;
    const groups = result.groups.map((g) =>
      open.includes(g) && g.diagnosis
        ? {
            ...g,
            diagnosis: {
              ...g.diagnosis,
              kind: 'missing-activation-derivative' as const,
              layer: l,
              summary: `${g.name}: backward leaves out ${what}; GradProof reproduces this gradient exactly without it`,
            },
          }
        : g,
    );
    const findings = result.findings.map((f) => {
      const g = groups.find((x) => f.startsWith(`${x.name}: `) && open.some((o) => o.name === x.name));
      return g?.diagnosis ? g.diagnosis.summary : f;
    });
    return { ...result, groups, findings };
  }
  return result;
}
