import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { initParameters, parseMlpSpec, randomDataset } from '../../app/core/builtins/synthetic.js';
import { IncrementalEvaluator } from '../../app/core/model/evaluator.js';
import { Network } from '../../app/core/model/network.js';
import type { ModelSpec } from '../../app/core/model/spec.js';
import { WasmIncrementalEvaluator } from '../../app/node/sweep/wasm-evaluator.js';
import { wasmProductKernel } from '../../app/node/sweep/wasm-kernels.js';
import { Tensor, matmul, matmulTransA, matmulTransB, useProductKernel } from '../../app/core/tensor/tensor.js';
import { RandomState } from '../../app/core/rng/random-state.js';
import { groupDirection } from '../../app/core/check/directions.js';
// @ts-expect-error a plain .mjs build script, without types
import { assemble } from '../../scripts/build-wasm.mjs';

describe('the WebAssembly sweep kernels', () => {
  it('the committed module is kernels.wat assembled (run npm run build:wasm after editing it)', async () => {
    const committed = readFileSync(new URL('../../app/node/sweep/kernels-wasm.ts', import.meta.url), 'utf8');
    expect(committed).toBe(await assemble());
  });

  // Shapes that take every kernel (ReLU rows into the output through a ReLU layer,
  // ReLU rows right below the output, the output row itself) and shapes whose layers
  // fall back to the JavaScript evaluator (deeper, leaky, narrow, soft labels).
  const shapes: [string, ModelSpec, { soft?: boolean }][] = [
    ['relu → relu → sigmoid', parseMlpSpec('mlp:12,40,20,1'), {}],
    ['relu → relu → relu → sigmoid (deeper rank-one steps in JavaScript)', parseMlpSpec('mlp:10,24,16,12,1'), {}],
    [
      'relu → leaky → sigmoid',
      {
        name: 'rl',
        inputs: 12,
        layers: [
          { units: 24, activation: 'relu' },
          { units: 16, activation: 'leaky_relu' },
          { units: 1, activation: 'sigmoid' },
        ],
        loss: 'binary_cross_entropy',
      },
      {},
    ],
    [
      'relu → narrow relu → sigmoid',
      {
        name: 'rn',
        inputs: 12,
        layers: [
          { units: 6, activation: 'relu' },
          { units: 16, activation: 'relu' },
          { units: 1, activation: 'sigmoid' },
        ],
        loss: 'binary_cross_entropy',
      },
      {},
    ],
    ['relu → relu → sigmoid, soft labels', parseMlpSpec('mlp:12,40,20,1'), { soft: true }],
  ];
  for (const [title, spec, { soft }] of shapes) {
    it(`give the JavaScript evaluator's cost and kinks bit for bit: ${title}`, () => {
      const net = new Network(spec);
      const theta = initParameters(spec, 7);
      const data = randomDataset(spec, 96, 7);
      if (soft) data.Y.data.forEach((y, c) => (data.Y.data[c] = c % 3 === 0 ? 0.25 : y));
      const base = net.forward(theta, data);
      const js = new IncrementalEvaluator(net, theta, data, base);
      const wasm = WasmIncrementalEvaluator.create(net, theta, data, base);
      expect(wasm).toBeInstanceOf(WasmIncrementalEvaluator);
      for (let i = 0; i < net.parameterCount; i++) {
        for (const d of [1e-7, -1e-7, 3e-3, -0.7]) {
          const want = js.costAtEntry(i, d);
          expect(wasm.costAtEntry(i, d)).toBe(want);
          expect(wasm.kinks).toBe(js.kinks);
        }
      }
      // Directions (fast mode): the same bits too.
      const offsets = [1e-7, -1e-7, 2e-7, -2e-7, 0.3];
      for (let g = 0; g < net.groups.length; g++) {
        const u = groupDirection(net.groups[g]!, g, 3, 0);
        const want = new Float64Array(offsets.length);
        const wantKinks = new Uint32Array(offsets.length);
        js.costsAlongGroup(g, u, offsets, want, wantKinks, 0);
        const got = new Float64Array(offsets.length);
        const gotKinks = new Uint32Array(offsets.length);
        wasm.costsAlongGroup!(g, u, offsets, got, gotKinks, 0);
        expect(got).toEqual(want);
        expect(gotKinks).toEqual(wantKinks);
      }
    });
  }

  it('the product kernel gives the JavaScript matmul bit for bit (zeros, -0, odd sizes, register tiles, non-finite B)', () => {
    const rs = new RandomState(3);
    const rand = (r: number, c: number, zeros: number): Tensor => {
      const t = rs.randn(r, c);
      const u = rs.rand(r, c);
      for (let i = 0; i < t.size; i++) if (u.data[i]! < zeros) t.data[i] = i % 7 === 0 ? -0 : 0;
      return t;
    };
    const bits = (t: Tensor): string =>
      Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('hex');
    const kernel = wasmProductKernel();
    try {
      for (const [m, k, n, zeros] of [
        [33, 64, 100, 0.5],
        [64, 30, 257, 0],
        [3, 7, 1000, 0.9],
        [1, 129, 300, 0.2],
        // Register tiles (A mostly non-zero, B finite), with rows and columns left over.
        [35, 40, 66, 0.1],
        [8, 16, 4, 0],
        [6, 5, 7, 0.2],
        // Infinite and NaN entries of B behind zero coefficients: the skipping kernel only.
        [13, 20, 18, -1],
      ] as const) {
        const a = rand(m, k, Math.max(zeros, 0));
        const b = rand(k, n, 0.1);
        if (zeros < 0) {
          for (let p = 0; p < k; p += 3) {
            b.data[p * n + (p % n)] = p % 2 ? Infinity : Number.NaN;
            for (let i = 0; i < m; i++) a.data[i * k + p] = 0;
          }
        }
        const bias = rand(m, 1, 0.3);
        const at = a.transpose();
        useProductKernel(undefined);
        const want = [matmul(a, b, bias), matmulTransB(a, b.transpose(), 0.5), matmulTransA(at, b)].map(bits);
        useProductKernel(kernel);
        const got = [matmul(a, b, bias), matmulTransB(a, b.transpose(), 0.5), matmulTransA(at, b)].map(bits);
        expect(got).toEqual(want);
      }
    } finally {
      useProductKernel(undefined);
    }
  });

  it('other losses and outputs, and all-narrow networks (the notebook), keep the JavaScript evaluator', () => {
    const mse: ModelSpec = {
      name: 'mse',
      inputs: 12,
      layers: [
        { units: 20, activation: 'relu' },
        { units: 1, activation: 'linear' },
      ],
      loss: 'mean_squared_error',
    };
    for (const spec of [mse, parseMlpSpec('mlp:4,5,3,1')]) {
      const net = new Network(spec);
      const theta = initParameters(spec, 1);
      const data = randomDataset(spec, 16, 1);
      const ev = WasmIncrementalEvaluator.create(net, theta, data, net.forward(theta, data));
      expect(ev).toBeInstanceOf(IncrementalEvaluator);
      expect(ev).not.toBeInstanceOf(WasmIncrementalEvaluator);
    }
  });
});
