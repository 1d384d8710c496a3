import path from 'node:path';
import type { ParamGroup } from '../../core/model/spec.js';
import { sha256Hex } from '../util/hash.js';
import { type NumericArray, parseNpz, parseSafetensors } from './npy.js';
import { MAX_BINARY_BYTES, MAX_TEXT_BYTES, kindOf, parseJsonText, readInputFile, shown } from './file-input.js';
import { InputError } from '../../core/errors.js';

export interface LoadedWeights {
  theta: Float64Array;
  sha256: string;
  file: string;
}

function jsonTensors(file: string, bytes: Uint8Array): Map<string, NumericArray> {
  const o = parseJsonText(bytes, file, 'weights');
  if (!o || typeof o !== 'object' || Array.isArray(o))
    throw new InputError(`weights ${file}: expected an object { "W1": [[…]], "b1": [[…]], … }`);
  const out = new Map<string, NumericArray>();
  for (const [name, v] of Object.entries(o as Record<string, unknown>)) {
    if (!Array.isArray(v)) throw new InputError(`weights ${file}: ${shown(name)} must be an array of rows of numbers`);
    const rows = v.map((r) => (Array.isArray(r) ? r : [r])) as unknown[][];
    const cols = rows[0]?.length ?? 0;
    const data = new Float64Array(rows.length * cols);
    rows.forEach((row, i) => {
      if (row.length !== cols)
        throw new InputError(`weights ${file}: ${shown(name)}[${i}] has ${row.length} values, row 0 has ${cols}`);
      row.forEach((x, j) => {
        if (typeof x !== 'number' || !Number.isFinite(x))
          throw new InputError(`weights ${file}: ${shown(name)}[${i}][${j}] is ${kindOf(x)}, not a finite number`);
        data[i * cols + j] = x;
      });
    });
    out.set(name, { shape: Array.isArray(v[0]) ? [rows.length, cols] : [rows.length], data });
  }
  return out;
}

/**
 * Weights from .npz (numpy.savez), .safetensors or JSON, matched to the model's
 * groups by name (W1, b1, …) with shapes checked; a bias may be (n,) or (n, 1).
 */
export function loadWeights(file: string, groups: readonly ParamGroup[], model: string): LoadedWeights {
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.npz' && ext !== '.safetensors' && ext !== '.json')
    throw new InputError(`weights ${file}: unknown format "${ext}"; use .npz (numpy.savez), .safetensors or .json`);
  const bytes = readInputFile(file, 'weights', ext === '.json' ? MAX_TEXT_BYTES : MAX_BINARY_BYTES);
  const tensors: Map<string, NumericArray> =
    ext === '.npz'
      ? parseNpz(bytes, `weights ${file}`)
      : ext === '.safetensors'
        ? parseSafetensors(bytes, `weights ${file}`)
        : jsonTensors(file, bytes);
  const size = groups.reduce((s, g) => s + g.size, 0);
  const theta = new Float64Array(size);
  const missing = groups.filter((g) => !tensors.has(g.name)).map((g) => g.name);
  if (missing.length)
    throw new InputError(
      `weights ${file}: no tensor named ${missing.join(', ')} for model ${model}; it holds ${[...tensors.keys()].slice(0, 8).map(shown).join(', ') || 'nothing'}${tensors.size > 8 ? ', …' : ''}. Name the arrays as the model's groups (${groups.map((g) => g.name).join(', ')})`,
    );
  const extra = [...tensors.keys()].filter((k) => !groups.some((g) => g.name === k));
  if (extra.length)
    throw new InputError(
      `weights ${file}: tensors ${extra.slice(0, 8).map(shown).join(', ')}${extra.length > 8 ? ', …' : ''} are not parameters of model ${model} (${groups.map((g) => g.name).join(', ')}); remove them or use the model they belong to`,
    );
  for (const g of groups) {
    const t = tensors.get(g.name)!;
    const ok =
      (t.shape.length === 2 && t.shape[0] === g.rows && t.shape[1] === g.cols) ||
      (t.shape.length === 1 && g.cols === 1 && t.shape[0] === g.rows);
    if (!ok)
      throw new InputError(
        `weights ${file}: ${g.name} has shape (${t.shape.join(', ')}) but model ${model} needs (${g.rows}, ${g.cols})`,
      );
    for (let i = 0; i < g.size; i++) {
      const v = t.data[i]!;
      if (!Number.isFinite(v))
        throw new InputError(`weights ${file}: ${g.name} entry ${i} is ${v}; weights must be finite`);
      theta[g.offset + i] = v;
    }
  }
  return { theta, sha256: sha256Hex(bytes), file };
}
