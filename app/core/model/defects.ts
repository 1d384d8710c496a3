import type { ParamGroup } from './spec.js';
import { InputError } from '../errors.js';

/**
 * Faults injected into the built-in backward pass, so that the check can be
 * shown to catch each kind of real backprop bug.
 */
export type Defect =
  | { kind: 'scale'; group: string; factor: number }
  | { kind: 'flip'; group: string }
  | { kind: 'zero'; group: string }
  | { kind: 'transpose'; group: string }
  /** Treat layer N's activation derivative as 1 (a forgotten `* relu'(Z)`). */
  | { kind: 'drop-derivative'; layer: number };

export const DEFECT_KINDS = ['scale', 'flip', 'zero', 'transpose', 'drop-derivative'] as const;

/** The notebook's buggy backward_propagation_n: dW2 doubled, db1 scaled by 4. */
export const NOTEBOOK_BUGS: readonly Defect[] = [
  { kind: 'scale', group: 'W2', factor: 2 },
  { kind: 'scale', group: 'b1', factor: 4 },
];

/**
 * Parse `GROUP:KIND[:FACTOR]` (e.g. `W2:scale:2`, `b3:flip`, `layer1:drop-derivative`).
 */
export function parseDefect(text: string): Defect {
  const parts = text.split(':');
  const [target, kind, factorText] = parts;
  const usage = `expected GROUP:KIND[:FACTOR], e.g. W2:scale:2, b1:flip, W1:zero, W2:transpose or layer1:drop-derivative`;
  if (!target || !kind || parts.length > 3) throw new InputError(`--defect "${text}": ${usage}`);
  switch (kind) {
    case 'scale': {
      const factor = Number(factorText);
      if (factorText === undefined || factorText === '' || !Number.isFinite(factor)) {
        throw new InputError(`--defect "${text}": scale needs a numeric factor, e.g. ${target}:scale:2`);
      }
      return { kind, group: target, factor };
    }
    case 'flip':
    case 'zero':
    case 'transpose':
      if (factorText !== undefined) throw new InputError(`--defect "${text}": ${kind} takes no factor`);
      return { kind, group: target };
    case 'drop-derivative': {
      const m = /^(?:layer|A|Z)(\d+)$/.exec(target);
      if (!m) throw new InputError(`--defect "${text}": drop-derivative names a layer, e.g. layer1:drop-derivative`);
      return { kind, layer: Number(m[1]) };
    }
    default:
      throw new InputError(`--defect "${text}": unknown kind "${kind}"; kinds are ${DEFECT_KINDS.join(', ')}`);
  }
}

export function describeDefect(d: Defect): string {
  switch (d.kind) {
    case 'scale':
      return `${d.group} ×${d.factor}`;
    case 'flip':
      return `${d.group} sign flipped`;
    case 'zero':
      return `${d.group} zeroed`;
    case 'transpose':
      return `${d.group} transposed`;
    case 'drop-derivative':
      return `layer ${d.layer} activation derivative dropped`;
  }
}

/** Check every defect against the model's groups and layers before any work is done. */
export function validateDefects(defects: readonly Defect[], groups: readonly ParamGroup[]): void {
  const layers = Math.max(0, ...groups.map((g) => g.layer));
  for (const d of defects) {
    if (d.kind === 'drop-derivative') {
      if (d.layer < 1 || d.layer > layers) {
        throw new InputError(`defect ${describeDefect(d)}: the model has layers 1 to ${layers}`);
      }
      continue;
    }
    const g = groups.find((x) => x.name === d.group);
    if (!g) {
      throw new InputError(
        `defect on "${d.group}": no such parameter group; groups are ${groups.map((x) => x.name).join(', ')}`,
      );
    }
    if (d.kind === 'transpose' && (g.rows < 2 || g.cols < 2)) {
      throw new InputError(
        `defect ${d.group}:transpose: ${d.group} is ${g.rows}x${g.cols}; transposing needs a matrix with at least 2 rows and 2 columns`,
      );
    }
  }
}

/** Apply the group-level defects to a finished flat gradient, in place. */
export function applyGroupDefects(grad: Float64Array, defects: readonly Defect[], groups: readonly ParamGroup[]): void {
  for (const d of defects) {
    if (d.kind === 'drop-derivative') continue;
    const g = groups.find((x) => x.name === d.group)!;
    const slot = grad.subarray(g.offset, g.offset + g.size);
    switch (d.kind) {
      case 'scale':
        for (let i = 0; i < slot.length; i++) slot[i] = slot[i]! * d.factor;
        break;
      case 'flip':
        for (let i = 0; i < slot.length; i++) slot[i] = -slot[i]!;
        break;
      case 'zero':
        slot.fill(0);
        break;
      case 'transpose': {
        // The classic bug: dW computed as A_prev·dZᵀ, its cols×rows entries poured into W's slot.
        const src = slot.slice();
        for (let i = 0; i < g.rows; i++) for (let j = 0; j < g.cols; j++) slot[j * g.rows + i] = src[i * g.cols + j]!;
        break;
      }
    }
  }
}
