import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { paramGroups } from '../../app/core/model/spec.js';
import { parseMlpSpec } from '../../app/core/builtins/synthetic.js';
import { loadDataset, paymentsCsvPath } from '../../app/node/data/datasets.js';
import { generatePayments, PAYMENTS_COLUMNS } from '../../app/node/data/payments-generator.js';
import { loadWeights } from '../../app/node/data/weights.js';

const dir = mkdtempSync(path.join(tmpdir(), 'gp-data-'));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const py = (code: string): void => {
  execFileSync('python3', ['-c', `import numpy as np\n${code}`]);
};

describe('CSV datasets', () => {
  it('reads a header, a named label column and numeric features (examples become columns)', () => {
    const f = file('ok.csv', 'amount,hour,is_fraud\n12.5,3,0\n900,2,1\n');
    const d = loadDataset(f, { seed: 1, label: 'is_fraud' });
    expect(d.featureNames).toEqual(['amount', 'hour']);
    expect(d.data.X.toRows()).toEqual([
      [12.5, 900],
      [3, 2],
    ]);
    expect(Array.from(d.data.Y.data)).toEqual([0, 1]);
    expect(d.sha256).toBe(createHash('sha256').update(readFileSync(f)).digest('hex'));
  });

  const bad: [string, string, RegExp][] = [
    ['ragged.csv', 'a,b,label\n1,2,0\n3,1\n', /ragged\.csv: line 3 has 2 fields but the header has 3/],
    ['text.csv', 'a,b,label\n1,2,0\n3,abc,1\n', /text\.csv: line 3, column "b" is not a number(?!.*abc)/],
    ['blank.csv', 'a,b,label\n1,,0\n', /blank\.csv: line 2, column "b" is empty/],
    ['empty.csv', '', /empty\.csv: the file is empty; it needs a header row and at least one data row/],
    ['header.csv', 'a,b,label\n', /header\.csv: only a header row; add data rows below it/],
    [
      'nolabel.csv',
      'a,b,y\n1,2,0\n',
      /nolabel\.csv: no label column named "label"; the columns are a, b, y\. Choose one with --label NAME/,
    ],
  ];
  for (const [name, text, message] of bad) {
    it(`${name}: its own clear error`, () => {
      expect(() => loadDataset(file(name, text), { seed: 1 })).toThrow(message);
    });
  }

  it('a missing file and an unknown format say so', () => {
    expect(() => loadDataset(path.join(dir, 'nope.csv'), { seed: 1 })).toThrow(
      /nope\.csv: cannot read it \(no such file\)/,
    );
    expect(() => loadDataset(file('x.parquet', 'PAR1'), { seed: 1 })).toThrow(/unknown format "\.parquet"; use \.csv/);
  });
});

describe('arrays written by numpy', () => {
  it(".npy (examples × columns, label last) and .npz (X, Y) load with numpy's numbers", () => {
    const npy = path.join(dir, 'd.npy');
    const npz = path.join(dir, 'd.npz');
    py(`a = np.arange(12, dtype=np.float64).reshape(4, 3) / 7; a[:, 2] = [0, 1, 1, 0]; np.save("${npy}", a)
np.savez("${npz}", X=np.arange(6, dtype=np.float32).reshape(2, 3), Y=np.array([[1, 0, 1]]))`);
    const a = loadDataset(npy, { seed: 1 });
    expect(a.data.X.toRows()).toEqual([
      [0, 3 / 7, 6 / 7, 9 / 7],
      [1 / 7, 4 / 7, 7 / 7, 10 / 7],
    ]);
    expect(Array.from(a.data.Y.data)).toEqual([0, 1, 1, 0]);
    const z = loadDataset(npz, { seed: 1 });
    expect(z.data.X.toRows()).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(Array.from(z.data.Y.data)).toEqual([1, 0, 1]);
  });

  it('weights from .npz, .safetensors and JSON are matched by name, with shapes checked', () => {
    const groups = paramGroups(parseMlpSpec('mlp:3,2,1'));
    const npz = path.join(dir, 'w.npz');
    const st = path.join(dir, 'w.safetensors');
    py(`import json, struct
W1 = np.arange(6.).reshape(2, 3); b1 = np.array([0.5, -0.5]); W2 = np.array([[2., 3.]]); b2 = np.array([[1.]])
np.savez("${npz}", W1=W1, b1=b1, W2=W2, b2=b2)
tensors = {"W1": W1, "b1": b1.reshape(2, 1), "W2": W2, "b2": b2}
header, blobs, off = {}, b"", 0
for k, v in tensors.items():
    raw = v.astype("<f8").tobytes(); header[k] = {"dtype": "F64", "shape": list(v.shape), "data_offsets": [off, off + len(raw)]}; blobs += raw; off += len(raw)
h = json.dumps(header).encode()
open("${st}", "wb").write(struct.pack("<Q", len(h)) + h + blobs)`);
    const expected = [0, 1, 2, 3, 4, 5, 0.5, -0.5, 2, 3, 1];
    expect(Array.from(loadWeights(npz, groups, 'm').theta)).toEqual(expected);
    expect(Array.from(loadWeights(st, groups, 'm').theta)).toEqual(expected);
    const json = file(
      'w.json',
      JSON.stringify({
        W1: [
          [0, 1, 2],
          [3, 4, 5],
        ],
        b1: [0.5, -0.5],
        W2: [[2, 3]],
        b2: [[1]],
      }),
    );
    expect(Array.from(loadWeights(json, groups, 'm').theta)).toEqual(expected);
    expect(() =>
      loadWeights(
        file(
          's.json',
          JSON.stringify({
            W1: [
              [0, 1],
              [3, 4],
            ],
            b1: [0, 0],
            W2: [[2, 3]],
            b2: [[1]],
          }),
        ),
        groups,
        'm',
      ),
    ).toThrow(/W1 has shape \(2, 2\) but model m needs \(2, 3\)/);
    expect(() =>
      loadWeights(
        file(
          'm.json',
          JSON.stringify({
            W1: [
              [0, 1, 2],
              [3, 4, 5],
            ],
          }),
        ),
        groups,
        'm',
      ),
    ).toThrow(/no tensor named b1, W2, b2 for model m/);
    expect(() =>
      loadWeights(
        file(
          'e.json',
          JSON.stringify({
            W1: [
              [0, 1, 2],
              [3, 4, 5],
            ],
            b1: [0, 0],
            W2: [[2, 3]],
            b2: [[1]],
            W9: [[1]],
          }),
        ),
        groups,
        'm',
      ),
    ).toThrow(/tensors W9 are not parameters of model m/);
  });
});

describe('builtin:payments', () => {
  it('is exactly what its generator writes', () => {
    expect(readFileSync(paymentsCsvPath(), 'utf8')).toBe(generatePayments());
  });

  it('has tens of thousands of payments, 30 features and a few percent fraud, standardized on load', () => {
    const d = loadDataset('builtin:payments', { seed: 1 });
    expect(d.examples).toBe(20000);
    expect(d.features).toBe(30);
    expect(d.featureNames).toEqual([...PAYMENTS_COLUMNS]);
    const fraud = Array.from(d.data.Y.data).reduce((a, b) => a + b, 0) / d.examples;
    expect(fraud).toBeGreaterThan(0.01);
    expect(fraud).toBeLessThan(0.06);
    const row = d.data.X.data.subarray(0, 20000);
    const mean = row.reduce((a, b) => a + b, 0) / 20000;
    expect(Math.abs(mean)).toBeLessThan(1e-9);
    expect(d.transform).toMatch(/standardized/);
  });
});
