import { Tensor, matmul, matmulTransA, matmulTransB, rowSums } from '../tensor/tensor.js';
import { activate, applyDerivative } from './activations.js';
import { applyGroupDefects, type Defect, validateDefects } from './defects.js';
import { deltaIncludesActivation, lossValue, outputDelta } from './losses.js';
import { type ModelSpec, type ParamGroup, paramGroups, parameterCount } from './spec.js';

/** Inputs as columns, as in the notebook: X is features × examples, Y is outputs × examples. */
export interface Dataset {
  readonly X: Tensor;
  readonly Y: Tensor;
}

/** Pre-activations Z[l] and activations A[l]; A[0] is X. Index l is the 1-based layer. */
export interface ForwardCache {
  readonly cost: number;
  readonly Z: Tensor[];
  readonly A: Tensor[];
}

/**
 * GradProof's own engine for sequential dense models: forward with cache and an
 * analytic backward pass (into which defects can be injected).
 */
export class Network {
  readonly groups: ParamGroup[];
  readonly parameterCount: number;

  constructor(readonly spec: ModelSpec) {
    this.groups = paramGroups(spec);
    this.parameterCount = parameterCount(this.groups);
  }

  get layerCount(): number {
    return this.spec.layers.length;
  }

  /** Zero-copy view of group `name` inside the flat vector. */
  view(theta: Float64Array, group: ParamGroup): Tensor {
    return new Tensor(group.rows, group.cols, theta.subarray(group.offset, group.offset + group.size));
  }

  weights(theta: Float64Array, layer: number): Tensor {
    return this.view(theta, this.groups[2 * (layer - 1)]!);
  }

  bias(theta: Float64Array, layer: number): Tensor {
    return this.view(theta, this.groups[2 * (layer - 1) + 1]!);
  }

  checkData(data: Dataset): void {
    const last = this.spec.layers[this.layerCount - 1]!;
    if (data.X.rows !== this.spec.inputs) {
      throw new RangeError(
        `dataset has ${data.X.rows} features but model "${this.spec.name}" expects ${this.spec.inputs} inputs`,
      );
    }
    if (data.Y.rows !== last.units) {
      throw new RangeError(
        `dataset has ${data.Y.rows} label rows but model "${this.spec.name}" has ${last.units} outputs`,
      );
    }
    if (data.X.cols !== data.Y.cols) {
      throw new RangeError(`dataset has ${data.X.cols} examples of features but ${data.Y.cols} labels`);
    }
    if (data.X.cols === 0) throw new RangeError('dataset has no examples');
  }

  forward(theta: Float64Array, data: Dataset): ForwardCache {
    const Z: Tensor[] = [data.X];
    const A: Tensor[] = [data.X];
    for (let l = 1; l <= this.layerCount; l++) {
      const z = matmul(this.weights(theta, l), A[l - 1]!, this.bias(theta, l));
      const a = Tensor.zeros(z.rows, z.cols);
      activate(this.spec.layers[l - 1]!, z.data, a.data);
      Z.push(z);
      A.push(a);
    }
    return { cost: lossValue(this.spec.loss, A[this.layerCount]!, data.Y), Z, A };
  }

  cost(theta: Float64Array, data: Dataset): number {
    return this.forward(theta, data).cost;
  }

  /** The analytic gradient, flattened in group order; `defects` model a buggy backward. */
  backward(theta: Float64Array, data: Dataset, cache: ForwardCache, defects: readonly Defect[] = []): Float64Array {
    validateDefects(defects, this.groups);
    const L = this.layerCount;
    const m = data.X.cols;
    const grad = new Float64Array(this.parameterCount);
    const dropped = new Set(defects.flatMap((d) => (d.kind === 'drop-derivative' ? [d.layer] : [])));
    const last = this.spec.layers[L - 1]!;
    let dZ = outputDelta(this.spec.loss, last.activation, cache.A[L]!, cache.Z[L]!, data.Y);
    if (!deltaIncludesActivation(this.spec.loss) && !dropped.has(L)) {
      applyDerivative(last, cache.Z[L]!.data, cache.A[L]!.data, dZ.data);
    }
    for (let l = L; l >= 1; l--) {
      const dW = matmulTransB(dZ, cache.A[l - 1]!, 1 / m);
      const db = rowSums(dZ, 1 / m);
      const gW = this.groups[2 * (l - 1)]!;
      const gb = this.groups[2 * (l - 1) + 1]!;
      grad.set(dW.data, gW.offset);
      grad.set(db.data, gb.offset);
      if (l > 1) {
        const dA = matmulTransA(this.weights(theta, l), dZ);
        if (!dropped.has(l - 1))
          applyDerivative(this.spec.layers[l - 2]!, cache.Z[l - 1]!.data, cache.A[l - 1]!.data, dA.data);
        dZ = dA;
      }
    }
    applyGroupDefects(grad, defects, this.groups);
    return grad;
  }
}
