// A JS module subject for GradProof: a 3 → 4 → 1 network (tanh, sigmoid, cross-entropy)
// with its own hand-written backward pass.
//
//   gradproof check --subject module:resources/examples/js/tiny-mlp.mjs
//   gradproof check --subject module:resources/examples/js/tiny-mlp.mjs --data my.csv --label y
//
// Exports: parameters (θ₀ by name), forward(parameters, data) and
// backward(parameters, data, cache). `data` is { X, Y } (features × examples, as
// the notebook lays them out) when --data is given; this module has its own otherwise.
// Set TINY_MLP_BUG=1 to plant a bug (db1 halved) and watch GradProof catch it.

const OWN_DATA = {
  X: [
    [0.5, -1.2, 0.3, 2.0, -0.7],
    [1.5, 0.2, -0.4, 0.1, 0.9],
    [-0.3, 0.8, 1.1, -1.5, 0.4],
  ],
  Y: [[1, 0, 1, 0, 1]],
};

export const parameters = {
  W1: [
    [0.2, -0.4, 0.1],
    [0.5, 0.3, -0.2],
    [-0.3, 0.8, 0.6],
    [0.1, -0.1, 0.4],
  ],
  b1: [[0.01], [-0.02], [0.03], [0.0]],
  W2: [[0.7, -0.5, 0.2, 0.9]],
  b2: [[0.05]],
};

const matVec = (W, x) => W.map((row) => row.reduce((s, w, j) => s + w * x[j], 0));

export function forward(p, data = OWN_DATA) {
  const m = data.X[0].length;
  let cost = 0;
  const cache = [];
  for (let c = 0; c < m; c++) {
    const x = data.X.map((row) => row[c]);
    const z1 = matVec(p.W1, x).map((v, i) => v + p.b1[i][0]);
    const a1 = z1.map(Math.tanh);
    const z2 = matVec(p.W2, a1)[0] + p.b2[0][0];
    const a2 = 1 / (1 + Math.exp(-z2));
    const y = data.Y[0][c];
    cost += -(y * Math.log(a2) + (1 - y) * Math.log(1 - a2));
    cache.push({ x, a1, a2, y });
  }
  return { cost: cost / m, cache };
}

export function backward(p, _data, cache) {
  const m = cache.length;
  const g = {
    dW1: p.W1.map((row) => row.map(() => 0)),
    db1: p.b1.map(() => [0]),
    dW2: [p.W2[0].map(() => 0)],
    db2: [[0]],
  };
  const bug = process.env.TINY_MLP_BUG === '1' ? 0.5 : 1;
  for (const { x, a1, a2, y } of cache) {
    const dz2 = (a2 - y) / m;
    a1.forEach((a, i) => (g.dW2[0][i] += dz2 * a));
    g.db2[0][0] += dz2;
    a1.forEach((a, i) => {
      const dz1 = dz2 * p.W2[0][i] * (1 - a * a);
      x.forEach((xj, j) => (g.dW1[i][j] += dz1 * xj));
      g.db1[i][0] += dz1 * bug;
    });
  }
  return g;
}
