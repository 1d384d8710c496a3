import { describe, expect, it } from 'vitest';
import { NOTEBOOK_FRAUD_SPEC, notebookCase } from '../../app/core/builtins/notebook.js';
import { initParameters, parseMlpSpec, randomDataset } from '../../app/core/builtins/synthetic.js';
import { NOTEBOOK_BUGS, parseDefect, validateDefects } from '../../app/core/model/defects.js';
import { FullEvaluator, IncrementalEvaluator } from '../../app/core/model/evaluator.js';
import { Network } from '../../app/core/model/network.js';
import { type ModelSpec, entryName, paramGroups } from '../../app/core/model/spec.js';
import { parseModelSpec } from '../../app/core/model/spec-schema.js';
import { golden } from '../helpers/golden.js';
import { directionVector, groupDirection } from '../../app/core/check/directions.js';

const nb = golden.notebook;

describe('the notebook test case', () => {
  it('draws X and every parameter exactly as numpy does, from one RandomState(1) stream', () => {
    const c = notebookCase();
    expect(c.data.X.toRows()).toEqual(nb.X);
    expect(Array.from(c.theta)).toEqual(nb.theta);
    expect(Array.from(c.data.Y.data)).toEqual([1, 1, 0]);
  });

  it('forward gives the notebook cost, and backward its gradients (buggy and fixed)', () => {
    const c = notebookCase();
    const net = new Network(NOTEBOOK_FRAUD_SPEC);
    const cache = net.forward(c.theta, c.data);
    expect(cache.cost).toBe(nb.cost);
    // BLAS may sum a dot product in another order: Z agrees to rounding, the cost exactly.
    cache.Z[1]!.toRows()
      .flat()
      .forEach((v, i) => expect(v).toBeCloseTo(nb.Z1.flat()[i]!, 14));
    for (const [defects, ref] of [
      [[], nb.fixed],
      [NOTEBOOK_BUGS, nb.buggy],
    ] as const) {
      const g = net.backward(c.theta, c.data, cache, defects);
      g.forEach((v, i) =>
        expect(Math.abs(v - ref.grad[i]!)).toBeLessThanOrEqual(1e-15 * Math.max(1, Math.abs(ref.grad[i]!))),
      );
    }
  });

  it('flattens in group order W1, b1, W2, b2, W3, b3, row-major, and names entries', () => {
    const groups = paramGroups(NOTEBOOK_FRAUD_SPEC);
    expect(groups.map((g) => `${g.name}:${g.rows}x${g.cols}@${g.offset}`)).toEqual([
      'W1:5x4@0',
      'b1:5x1@20',
      'W2:3x5@25',
      'b2:3x1@40',
      'W3:1x3@43',
      'b3:1x1@46',
    ]);
    expect(entryName(groups, 25 + 5 + 3)).toBe('W2[1,3]');
    expect(entryName(groups, 46)).toBe('b3[0,0]');
    const net = new Network(NOTEBOOK_FRAUD_SPEC);
    const theta = notebookCase().theta;
    expect(net.weights(theta, 2).get(1, 3)).toBe(theta[33]);
  });
});

/** Five-point differences: an independent check of the analytic backward of every activation and loss. */
function fivePoint(
  net: Network,
  theta: Float64Array,
  data: ReturnType<typeof randomDataset>,
  i: number,
  h = 1e-4,
): number {
  const at = (d: number): number => {
    const t = theta.slice();
    t[i]! += d;
    return net.cost(t, data);
  };
  return (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h);
}

const specs: ModelSpec[] = [
  {
    name: 'tanh-mse',
    inputs: 3,
    layers: [
      { units: 4, activation: 'tanh' },
      { units: 2, activation: 'linear' },
    ],
    loss: 'mean_squared_error',
  },
  {
    name: 'sigmoid-mse',
    inputs: 3,
    layers: [
      { units: 4, activation: 'sigmoid' },
      { units: 2, activation: 'sigmoid' },
    ],
    loss: 'mean_squared_error',
  },
  {
    name: 'leaky-softmax',
    inputs: 3,
    layers: [
      { units: 5, activation: 'leaky_relu', alpha: 0.1 },
      { units: 3, activation: 'linear' },
    ],
    loss: 'softmax_cross_entropy',
  },
  {
    name: 'tanh-bce',
    inputs: 2,
    layers: [
      { units: 3, activation: 'tanh' },
      { units: 1, activation: 'sigmoid' },
    ],
    loss: 'binary_cross_entropy',
  },
];

describe('analytic backward of every activation and loss', () => {
  for (const spec of specs) {
    it(`${spec.name}: agrees with five-point differences to 1e-8`, () => {
      const net = new Network(spec);
      const theta = initParameters(spec, 7);
      const data = randomDataset(spec, 6, 7);
      const g = net.backward(theta, data, net.forward(theta, data));
      for (let i = 0; i < g.length; i++) {
        const fd = fivePoint(net, theta, data, i);
        expect(Math.abs(g[i]! - fd)).toBeLessThan(1e-8 * Math.max(1, Math.abs(fd)));
      }
    });
  }
});

describe('defects', () => {
  const spec = parseMlpSpec('mlp:4,6,5,1');
  const net = new Network(spec);
  const theta = initParameters(spec, 3);
  const data = randomDataset(spec, 9, 3);
  const cache = net.forward(theta, data);
  const clean = net.backward(theta, data, cache);
  const slice = (g: Float64Array, name: string): Float64Array => {
    const grp = net.groups.find((x) => x.name === name)!;
    return g.subarray(grp.offset, grp.offset + grp.size);
  };

  it('scale, flip and zero touch only their group', () => {
    const g = net.backward(theta, data, cache, [
      parseDefect('W2:scale:3'),
      parseDefect('b1:flip'),
      parseDefect('b3:zero'),
    ]);
    expect(Array.from(slice(g, 'W2'))).toEqual(Array.from(slice(clean, 'W2'), (v) => v * 3));
    expect(Array.from(slice(g, 'b1'))).toEqual(Array.from(slice(clean, 'b1'), (v) => -v));
    expect(Array.from(slice(g, 'b3'))).toEqual([0]);
    expect(Array.from(slice(g, 'W1'))).toEqual(Array.from(slice(clean, 'W1')));
  });

  it('transpose pours the transposed gradient into the slot', () => {
    const g = net.backward(theta, data, cache, [parseDefect('W2:transpose')]);
    const grp = net.groups.find((x) => x.name === 'W2')!;
    expect(g[grp.offset + 1 * grp.rows + 0]).toBe(clean[grp.offset + 0 * grp.cols + 1]);
  });

  it('drop-derivative changes the layer and everything below it, nothing above', () => {
    const g = net.backward(theta, data, cache, [parseDefect('layer1:drop-derivative')]);
    expect(Array.from(slice(g, 'W2'))).toEqual(Array.from(slice(clean, 'W2')));
    expect(Array.from(slice(g, 'W1'))).not.toEqual(Array.from(slice(clean, 'W1')));
  });

  it('bad defects are refused with the fix', () => {
    expect(() => parseDefect('W2:scale')).toThrow(/numeric factor/);
    expect(() => parseDefect('W2:melt')).toThrow(/unknown kind "melt"/);
    expect(() => parseDefect('W2')).toThrow(/GROUP:KIND/);
    expect(() => validateDefects([parseDefect('W9:flip')], net.groups)).toThrow(
      /no such parameter group; groups are W1, b1/,
    );
    expect(() => validateDefects([parseDefect('b1:transpose')], net.groups)).toThrow(/at least 2 rows and 2 columns/);
    expect(() => validateDefects([parseDefect('layer7:drop-derivative')], net.groups)).toThrow(/layers 1 to 3/);
  });
});

describe('incremental evaluation', () => {
  it('is bit-identical to the full pass on the notebook (narrow layers replay the same dot products)', () => {
    const c = notebookCase();
    const net = new Network(NOTEBOOK_FRAUD_SPEC);
    const full = new FullEvaluator(net, c.theta, c.data);
    const inc = new IncrementalEvaluator(net, c.theta, c.data);
    for (let i = 0; i < net.parameterCount; i++) {
      for (const d of [1e-7, -1e-7, 1e-3]) expect(inc.costAtEntry(i, d)).toBe(full.costAtEntry(i, d));
    }
  });

  it('agrees with the full pass to rounding on wide layers (rank-one updates), kinks included', () => {
    const spec = parseMlpSpec('mlp:12,40,20,1');
    const net = new Network(spec);
    const theta = initParameters(spec, 5);
    const data = randomDataset(spec, 64, 5);
    const full = new FullEvaluator(net, theta, data);
    const inc = new IncrementalEvaluator(net, theta, data);
    for (let i = 0; i < net.parameterCount; i += 7) {
      for (const d of [1e-7, -1e-4, 0.5]) {
        const a = full.costAtEntry(i, d);
        const b = inc.costAtEntry(i, d);
        expect(Math.abs(a - b)).toBeLessThan(1e-14);
        expect(inc.kinks).toBe(full.kinks);
      }
    }
  });
});

describe('incremental evaluation, path by path', () => {
  // Each shape takes different paths: active-examples-only ReLU rows (small steps),
  // whole rows (large steps, leaky ReLU, tanh), rank-one into the output, rank-one
  // carried through further layers, narrow replayed layers, and the loss tails.
  const shapes: [string, ModelSpec][] = [
    ['relu → relu → sigmoid, cross-entropy', parseMlpSpec('mlp:12,40,20,1')],
    [
      'leaky → tanh → sigmoid',
      {
        name: 'lt',
        inputs: 12,
        layers: [
          { units: 24, activation: 'leaky_relu', alpha: 0.05 },
          { units: 16, activation: 'tanh' },
          { units: 1, activation: 'sigmoid' },
        ],
        loss: 'binary_cross_entropy',
      },
    ],
    [
      'relu → relu → relu → softmax',
      {
        name: 'rs',
        inputs: 10,
        layers: [
          { units: 20, activation: 'relu' },
          { units: 16, activation: 'relu' },
          { units: 12, activation: 'relu' },
          { units: 3, activation: 'sigmoid' },
        ],
        loss: 'softmax_cross_entropy',
      },
    ],
    [
      'relu → narrow relu → relu output, squared error',
      {
        name: 'rn',
        inputs: 12,
        layers: [
          { units: 6, activation: 'relu' },
          { units: 16, activation: 'relu' },
          { units: 2, activation: 'relu' },
        ],
        loss: 'mean_squared_error',
      },
    ],
    [
      'sigmoid → leaky → linear, squared error',
      {
        name: 'sl',
        inputs: 12,
        layers: [
          { units: 20, activation: 'sigmoid' },
          { units: 10, activation: 'leaky_relu' },
          { units: 1, activation: 'linear' },
        ],
        loss: 'mean_squared_error',
      },
    ],
  ];
  for (const [title, spec] of shapes) {
    it(`matches the full pass to rounding, kinks included: ${title}`, () => {
      const net = new Network(spec);
      const theta = initParameters(spec, 4);
      const data = randomDataset(spec, 48, 4);
      const full = new FullEvaluator(net, theta, data);
      const inc = new IncrementalEvaluator(net, theta, data);
      for (let i = 0; i < net.parameterCount; i += 3) {
        for (const d of [1e-7, -1e-7, 2e-3, -0.7]) {
          const a = full.costAtEntry(i, d);
          expect(Math.abs(inc.costAtEntry(i, d) - a)).toBeLessThan(1e-13 * Math.max(1, Math.abs(a)));
          expect(inc.kinks).toBe(full.kinks);
        }
      }
    });
  }
});

describe('direction costs (fast mode), incremental', () => {
  // Each shape takes other paths: the slope table and its margins (two below a single output),
  // columns carried exactly past a kink, smooth layers (every column exact), several outputs,
  // a kinked output, and groups at every depth.
  const shapes: [string, ModelSpec][] = [
    ['relu → relu → sigmoid, cross-entropy', parseMlpSpec('mlp:12,40,20,1')],
    [
      'leaky → tanh → sigmoid',
      {
        name: 'lt',
        inputs: 12,
        layers: [
          { units: 24, activation: 'leaky_relu', alpha: 0.05 },
          { units: 16, activation: 'tanh' },
          { units: 1, activation: 'sigmoid' },
        ],
        loss: 'binary_cross_entropy',
      },
    ],
    [
      'relu → relu → relu → softmax',
      {
        name: 'rs',
        inputs: 10,
        layers: [
          { units: 20, activation: 'relu' },
          { units: 16, activation: 'relu' },
          { units: 12, activation: 'relu' },
          { units: 3, activation: 'sigmoid' },
        ],
        loss: 'softmax_cross_entropy',
      },
    ],
    [
      'relu → relu → leaky → two linear outputs (the slope table per output)',
      {
        name: 'rl2',
        inputs: 12,
        layers: [
          { units: 20, activation: 'relu' },
          { units: 14, activation: 'relu' },
          { units: 10, activation: 'leaky_relu', alpha: 0.1 },
          { units: 2, activation: 'linear' },
        ],
        loss: 'mean_squared_error',
      },
    ],
    [
      'relu → narrow relu → relu output, squared error',
      {
        name: 'rn',
        inputs: 12,
        layers: [
          { units: 6, activation: 'relu' },
          { units: 16, activation: 'relu' },
          { units: 2, activation: 'relu' },
        ],
        loss: 'mean_squared_error',
      },
    ],
    [
      'sigmoid → leaky → linear, squared error',
      {
        name: 'sl',
        inputs: 12,
        layers: [
          { units: 20, activation: 'sigmoid' },
          { units: 10, activation: 'leaky_relu' },
          { units: 1, activation: 'linear' },
        ],
        loss: 'mean_squared_error',
      },
    ],
  ];
  for (const [title, spec] of shapes) {
    it(`J(θ₀ + δu) matches the full pass to rounding, kinks included: ${title}`, () => {
      const net = new Network(spec);
      const theta = initParameters(spec, 4);
      const data = randomDataset(spec, 48, 4);
      const full = new FullEvaluator(net, theta, data);
      const inc = new IncrementalEvaluator(net, theta, data);
      // Small steps (linear columns), steps that cross a few kinks, and steps that cross many.
      const offsets = [1e-7, -1e-7, 2e-3, -2e-3, 0.05, -0.7];
      let crossed = 0;
      for (let g = 0; g < net.groups.length; g++) {
        for (let k = 0; k < 3; k++) {
          const u = groupDirection(net.groups[g]!, g, 1, k);
          const costs = new Float64Array(offsets.length);
          const kinks = new Uint32Array(offsets.length);
          inc.costsAlongGroup(g, u, offsets, costs, kinks, 0);
          const whole = directionVector(net.parameterCount, net.groups[g]!, g, 1, k);
          offsets.forEach((d, j) => {
            const want = full.costAlong(whole, d);
            expect(Math.abs(costs[j]! - want)).toBeLessThan(1e-13 * Math.max(1, Math.abs(want)));
            expect(kinks[j]).toBe(full.kinks);
            crossed += full.kinks;
          });
        }
      }
      if (net.spec.layers.some((l) => l.activation.includes('relu'))) expect(crossed).toBeGreaterThan(0);
    });
  }

  it('narrow networks (the notebook) keep the full pass, bit for bit', () => {
    const c = notebookCase();
    const net = new Network(NOTEBOOK_FRAUD_SPEC);
    const full = new FullEvaluator(net, c.theta, c.data);
    const inc = new IncrementalEvaluator(net, c.theta, c.data);
    for (let g = 0; g < net.groups.length; g++) {
      const u = groupDirection(net.groups[g]!, g, 1, 0);
      const costs = new Float64Array(2);
      inc.costsAlongGroup(g, u, [1e-7, -1e-7], costs, new Uint32Array(2), 0);
      const whole = directionVector(net.parameterCount, net.groups[g]!, g, 1, 0);
      expect(costs[0]).toBe(full.costAlong(whole, 1e-7));
      expect(costs[1]).toBe(full.costAlong(whole, -1e-7));
    }
  });
});

describe('model specs', () => {
  it('errors name the field and the fix', () => {
    expect(() =>
      parseModelSpec({ name: 'x', inputs: 3, layers: [{ units: 2, activation: 'swish' }], loss: 'mean_squared_error' }),
    ).toThrow(/field layers\[0\]\.activation: activation must be one of relu/);
    expect(() =>
      parseModelSpec({
        name: 'x',
        inputs: 3,
        layers: [{ units: 1, activation: 'relu' }],
        loss: 'binary_cross_entropy',
      }),
    ).toThrow(/set the last activation to "sigmoid"/);
    expect(() =>
      parseModelSpec({
        name: 'x',
        inputs: -3,
        layers: [{ units: 1, activation: 'sigmoid' }],
        loss: 'binary_cross_entropy',
      }),
    ).toThrow(/field inputs/);
    expect(() => parseModelSpec({ name: 'x', inputs: 3, layers: [], loss: 'binary_cross_entropy' })).toThrow(
      /at least one dense layer/,
    );
  });
});

describe('model spec typos', () => {
  it('a misspelt field is named, with the likely fix', () => {
    expect(() =>
      parseModelSpec({
        name: 'x',
        inputs: 3,
        layers: [
          { units: 2, activaton: 'relu' },
          { units: 1, activation: 'sigmoid' },
        ],
        loss: 'binary_cross_entropy',
      }),
    ).toThrow(/field layers\[0\]\.activaton is not a model spec field; did you mean "activation"\?/);
    expect(() =>
      parseModelSpec({
        name: 'x',
        inputz: 3,
        layers: [{ units: 1, activation: 'sigmoid' }],
        loss: 'binary_cross_entropy',
      }),
    ).toThrow(/field inputz .*did you mean "inputs"/);
  });
});
