#!/usr/bin/env python3
"""The numpy peer for `npm run bench`: the notebook's gradient_check_n loop,
generalised to any dense MLP (ReLU hidden layers, sigmoid output, cross-entropy),
with a whole forward pass per perturbation exactly as the notebook does it
(np.copy of the parameter vector, vector_to_dictionary, forward_propagation_n).

Weights and data are drawn with the same recipe as GradProof's `mlp:` models and
`random:` datasets (numpy RandomState), so both sides check the same numbers.

Usage: numpy_peer.py --widths 30,64,32,1 --rows 2048 [--seed 1] [--epsilon 1e-7]
                     [--sample K] [--notebook]
Prints one JSON object: seconds (forward, backward and the loop), evaluations, evaluations per
second, peak RSS, the difference, and for --sample the sampled entries' estimates.
"""
import argparse
import json
import resource
import time

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def relu(x):
    return np.maximum(0, x)


def build(widths, rows, seed):
    rs = np.random.RandomState(seed)
    params, keys = {}, []
    for l in range(1, len(widths)):
        fan_in, units = widths[l - 1], widths[l]
        params[f"W{l}"] = rs.randn(units, fan_in) * np.sqrt(2 / fan_in)
        params[f"b{l}"] = rs.randn(units, 1) * 0.01
        keys += [f"W{l}", f"b{l}"]
    drs = np.random.RandomState([seed, 1])
    X = drs.randn(widths[0], rows)
    Y = (drs.rand(1, rows) < 0.5).astype(np.float64)
    return params, keys, X, Y


def notebook_case():
    np.random.seed(1)
    X = np.random.randn(4, 3)
    Y = np.array([[1, 1, 0]], dtype=np.float64)
    params = {"W1": np.random.randn(5, 4), "b1": np.random.randn(5, 1), "W2": np.random.randn(3, 5),
              "b2": np.random.randn(3, 1), "W3": np.random.randn(1, 3), "b3": np.random.randn(1, 1)}
    return params, ["W1", "b1", "W2", "b2", "W3", "b3"], X, Y


def forward_propagation_n(X, Y, parameters, L):
    m = X.shape[1]
    A = X
    cache = [(None, X)]
    for l in range(1, L + 1):
        Z = np.dot(parameters[f"W{l}"], A) + parameters[f"b{l}"]
        A = relu(Z) if l < L else sigmoid(Z)
        cache.append((Z, A))
    logprobs = np.multiply(-np.log(A), Y) + np.multiply(-np.log(1 - A), 1 - Y)
    return 1. / m * np.sum(logprobs), cache


def backward_propagation_n(X, Y, parameters, cache, L):
    m = X.shape[1]
    grads = {}
    dZ = cache[L][1] - Y
    for l in range(L, 0, -1):
        A_prev = cache[l - 1][1]
        grads[f"dW{l}"] = 1. / m * np.dot(dZ, A_prev.T)
        grads[f"db{l}"] = 1. / m * np.sum(dZ, axis=1, keepdims=True)
        if l > 1:
            dA = np.dot(parameters[f"W{l}"].T, dZ)
            dZ = np.multiply(dA, np.int64(cache[l - 1][1] > 0))
    return grads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--widths", default="30,64,32,1")
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epsilon", type=float, default=1e-7)
    ap.add_argument("--sample", type=int, default=0, help="check only K evenly spaced entries")
    ap.add_argument("--notebook", action="store_true", help="the notebook's own test case")
    ap.add_argument("--compare-on", type=int, default=0, help="also report the difference on K evenly spaced entries")
    ap.add_argument("--buggy", action="store_true", help="the notebook's planted bugs in backward: dW2 x2, db1 x4")
    a = ap.parse_args()
    if a.notebook:
        params, keys, X, Y = notebook_case()
    else:
        params, keys, X, Y = build([int(w) for w in a.widths.split(",")], a.rows, a.seed)
    L = len(keys) // 2
    shapes = [(k, params[k].shape) for k in keys]

    def dictionary_to_vector(p):
        return np.concatenate([p[k].reshape(-1, 1) for k in keys])

    def vector_to_dictionary(v):
        out, o = {}, 0
        for k, s in shapes:
            n = int(np.prod(s))
            out[k] = v[o:o + n].reshape(s)
            o += n
        return out

    # Timed as GradProof is timed: the gradient under audit, then the sweep.
    t0 = time.perf_counter()
    cost, cache = forward_propagation_n(X, Y, params, L)
    gradients = backward_propagation_n(X, Y, params, cache, L)
    if a.buggy:
        gradients["dW2"] = gradients["dW2"] * 2
        gradients["db1"] = gradients["db1"] * 4
    grad = np.concatenate([gradients["d" + k].reshape(-1, 1) for k in keys])
    parameters_values = dictionary_to_vector(params)
    n = parameters_values.shape[0]
    entries = range(n) if a.sample <= 0 or a.sample >= n else [(k * n) // a.sample for k in range(a.sample)]
    entries = list(entries)
    gradapprox = np.zeros((len(entries), 1))
    epsilon = a.epsilon
    t_loop = time.perf_counter()
    for j, i in enumerate(entries):
        thetaplus = np.copy(parameters_values)
        thetaplus[i][0] = thetaplus[i][0] + epsilon
        J_plus, _ = forward_propagation_n(X, Y, vector_to_dictionary(thetaplus), L)
        thetaminus = np.copy(parameters_values)
        thetaminus[i][0] = thetaminus[i][0] - epsilon
        J_minus, _ = forward_propagation_n(X, Y, vector_to_dictionary(thetaminus), L)
        gradapprox[j] = (J_plus - J_minus) / (2 * epsilon)
    t_end = time.perf_counter()
    seconds = t_end - t0
    # A sample's loop is scaled to every entry; the gradient is taken once either way.
    seconds_for_all = (t_loop - t0) + (t_end - t_loop) * n / len(entries)
    g = grad[entries]
    difference = float(np.linalg.norm(g - gradapprox) / (np.linalg.norm(g) + np.linalg.norm(gradapprox)))
    evaluations = 2 * len(entries)
    sample_difference = None
    if a.compare_on:
        idx = [(k * n) // a.compare_on for k in range(a.compare_on)]
        pos = {e: j for j, e in enumerate(entries)}
        gs = grad[idx]
        gas = gradapprox[[pos[i] for i in idx]]
        sample_difference = float(np.linalg.norm(gs - gas) / (np.linalg.norm(gs) + np.linalg.norm(gas)))
    print(json.dumps({
        "parameters": n,
        "entries": len(entries),
        "sampled": len(entries) < n,
        "seconds": seconds,
        "evaluations": evaluations,
        "evaluationsPerSecond": evaluations / seconds,
        "secondsForAll": seconds_for_all,
        "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "difference": difference,
        "sampleDifference": sample_difference,
        "indices": entries if len(entries) < n else None,
        "gradapprox": gradapprox.reshape(-1).tolist() if len(entries) < n else None,
    }))


if __name__ == "__main__":
    main()
