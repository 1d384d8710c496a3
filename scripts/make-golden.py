#!/usr/bin/env python3
"""Golden vectors for GradProof's tests, computed with numpy (legacy RandomState).

Run: python3 scripts/make-golden.py > tests/fixtures/golden.json
The committed file is what the tests compare against bit for bit; rerun only
if a case is added.
"""
import json
import math
from decimal import Decimal, getcontext

import numpy as np

getcontext().prec = 60


def glibc_misrounded(seed, skip, count):
    """Indices of randn deviates whose polar step took a log that the C library
    did not round correctly (glibc's log is within 0.52 ulp, not 0.5). GradProof
    uses a correctly rounded log, so exactly these deviates may differ by an ulp."""
    rs = np.random.RandomState(seed)
    rs.random_sample(skip)
    out, n = [], 0
    while n < count:
        while True:
            x1 = 2.0 * rs.random_sample() - 1.0
            x2 = 2.0 * rs.random_sample() - 1.0
            r2 = x1 * x1 + x2 * x2
            if 0.0 < r2 < 1.0:
                break
        if math.log(r2) != float(Decimal(r2).ln()):
            out += [i for i in (n, n + 1) if i < count]
        n += 2
    return out


def rng_cases():
    cases = []
    for seed in [0, 1, 42, 2**31 - 1, 2**32 - 1]:
        rs = np.random.RandomState(seed)
        cases.append({
            "seed": seed,
            "rand": rs.rand(7).tolist(),
            "randn": rs.randn(2001).tolist(),  # odd count: exercises the cached second deviate
            "rand_after": rs.rand(3).tolist(),
            "libm_misrounded": glibc_misrounded(seed, 7, 2001),
        })
    for key in [[1, 1], [7, 0], [123456789, 42, 3]]:
        rs = np.random.RandomState(key)
        cases.append({"seed": key, "rand": rs.rand(5).tolist(), "randn": rs.randn(9).tolist(), "rand_after": rs.rand(2).tolist(),
                      "libm_misrounded": glibc_misrounded(key, 5, 9)})
    return cases


def notebook():
    """The notebook's forward/backward (buggy and fixed) on gradient_check_n_test_case()."""
    def sigmoid(x): return 1 / (1 + np.exp(-x))
    def relu(x): return np.maximum(0, x)
    np.random.seed(1)
    x = np.random.randn(4, 3); y = np.array([1, 1, 0])
    W1 = np.random.randn(5, 4); b1 = np.random.randn(5, 1); W2 = np.random.randn(3, 5)
    b2 = np.random.randn(3, 1); W3 = np.random.randn(1, 3); b3 = np.random.randn(1, 1)
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2, "W3": W3, "b3": b3}
    keys = ["W1", "b1", "W2", "b2", "W3", "b3"]

    def fwd(p):
        m = x.shape[1]
        Z1 = np.dot(p["W1"], x) + p["b1"]; A1 = relu(Z1)
        Z2 = np.dot(p["W2"], A1) + p["b2"]; A2 = relu(Z2)
        Z3 = np.dot(p["W3"], A2) + p["b3"]; A3 = sigmoid(Z3)
        cost = 1. / m * np.sum(np.multiply(-np.log(A3), y) + np.multiply(-np.log(1 - A3), 1 - y))
        return cost, (Z1, A1, Z2, A2, Z3, A3)

    def bwd(p, cache, bug):
        m = x.shape[1]
        Z1, A1, Z2, A2, Z3, A3 = cache
        dZ3 = A3 - y; dW3 = 1. / m * np.dot(dZ3, A2.T); db3 = 1. / m * np.sum(dZ3, axis=1, keepdims=True)
        dA2 = np.dot(p["W3"].T, dZ3); dZ2 = np.multiply(dA2, np.int64(A2 > 0))
        dW2 = 1. / m * np.dot(dZ2, A1.T) * (2 if bug else 1); db2 = 1. / m * np.sum(dZ2, axis=1, keepdims=True)
        dA1 = np.dot(p["W2"].T, dZ2); dZ1 = np.multiply(dA1, np.int64(A1 > 0))
        dW1 = 1. / m * np.dot(dZ1, x.T); db1 = (4. if bug else 1.) / m * np.sum(dZ1, axis=1, keepdims=True)
        return np.concatenate([g.reshape(-1) for g in [dW1, db1, dW2, db2, dW3, db3]])

    theta = np.concatenate([params[k].reshape(-1) for k in keys])

    def unflat(v):
        out, o = {}, 0
        for k in keys:
            n = params[k].size; out[k] = v[o:o + n].reshape(params[k].shape); o += n
        return out

    cost, cache = fwd(params)
    out = {"X": x.tolist(), "theta": theta.tolist(), "cost": cost, "Z1": cache[0].tolist(), "A3": cache[5].tolist()}
    for bug in [True, False]:
        grad = bwd(params, cache, bug)
        ga = np.zeros_like(theta)
        for i in range(theta.size):
            tp = theta.copy(); tp[i] += 1e-7
            tm = theta.copy(); tm[i] -= 1e-7
            ga[i] = (fwd(unflat(tp))[0] - fwd(unflat(tm))[0]) / 2e-7
        d = np.linalg.norm(grad - ga) / (np.linalg.norm(grad) + np.linalg.norm(ga))
        out["buggy" if bug else "fixed"] = {"grad": grad.tolist(), "gradapprox": ga.tolist(), "difference": d}
    return out


print(json.dumps({"numpy": np.__version__, "rng": rng_cases(), "notebook": notebook()}, indent=1))
