"""GradProof's Python adapter: serve a backward pass to GradProof for auditing.

numpy only; nothing to install. GradProof puts this folder on the subject's
PYTHONPATH, so a subject script just does

    from gradproof_adapter import serve_notebook
    serve_notebook(forward_propagation_n, backward_propagation_n, parameters, X, Y)

for functions with the gradient-checking notebook's signatures, or

    from gradproof_adapter import serve
    serve(cost, gradient, theta0, groups)

for any cost(theta) -> float and gradient(theta) -> array over a flat vector.

It speaks GradProof's subject protocol (version 1; docs/subject-protocol.md):
one JSON request per line on stdin, one JSON response per line on stdout.
Anything the subject prints goes to stderr, so the protocol channel stays clean.
"""
import json
import re
import sys
import traceback

import numpy as np

PROTOCOL = 1


def _floats(values):
    return [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]


def serve(cost, gradient, theta0, groups):
    """Answer GradProof's requests until it says exit or closes stdin.

    cost(theta) -> float and gradient(theta) -> array take the flat parameter
    vector; groups is a list of (name, shape) in the order the vector holds them.
    """
    protocol_out = sys.stdout
    sys.stdout = sys.stderr  # the subject's own prints must not corrupt the protocol
    theta0 = np.array(theta0, dtype=np.float64).reshape(-1)
    described = [{"name": str(n), "shape": [int(d) for d in (tuple(s) if len(tuple(s)) else (1,))]} for n, s in groups]
    expected = sum(int(np.prod(g["shape"])) for g in described)
    if expected != theta0.size:
        raise ValueError(f"groups describe {expected} parameters but theta0 has {theta0.size}")

    def at(params):
        if params and params.get("theta") is not None:
            return np.array(params["theta"], dtype=np.float64)
        return theta0.copy()

    while True:
        line = sys.stdin.readline()
        if not line:
            return
        line = line.strip()
        if not line:
            continue
        req_id = None
        try:
            req = json.loads(line)
            req_id = req.get("id")
            method = req.get("method")
            params = req.get("params") or {}
            if method == "describe":
                result = {"protocol": PROTOCOL, "groups": described, "theta": theta0.tolist()}
            elif method == "cost":
                result = {"cost": float(cost(at(params)))}
            elif method == "gradient":
                result = {"gradient": _floats(gradient(at(params)))}
            elif method == "costs":
                out = []
                for index, delta in params["entries"]:
                    theta = theta0.copy()
                    theta[int(index)] = theta[int(index)] + delta  # as the notebook: thetaplus[i] + epsilon
                    out.append(float(cost(theta)))
                result = {"costs": out}
            elif method == "costs_along":
                u = np.array(params["direction"], dtype=np.float64)
                result = {"costs": [float(cost(theta0 + d * u)) for d in params["deltas"]]}
            elif method == "exit":
                protocol_out.write(json.dumps({"id": req_id, "result": {}}) + "\n")
                protocol_out.flush()
                return
            else:
                raise ValueError(f"unknown method {method!r}")
            response = {"id": req_id, "result": result}
        except Exception as exc:  # reported to GradProof, which names the subject and the request
            response = {"id": req_id if isinstance(req_id, int) else -1,
                        "error": {"message": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}}
        protocol_out.write(json.dumps(response) + "\n")
        protocol_out.flush()


def _group_order(names):
    """W1, b1, W2, b2, ... as the notebook's dictionary_to_vector; other names keep their order."""
    def key(item):
        position, name = item
        m = re.fullmatch(r"([A-Za-z]+)(\d+)", name)
        if m and m.group(1) in ("W", "b"):
            return (int(m.group(2)), 0 if m.group(1) == "W" else 1, position)
        return (10**9, 0, position)
    return [name for _, name in sorted(enumerate(names), key=key)]


def serve_notebook(forward_propagation_n, backward_propagation_n, parameters, X, Y):
    """Serve functions with the notebook's signatures, unchanged:

    forward_propagation_n(X, Y, parameters) -> (cost, cache)
    backward_propagation_n(X, Y, cache) -> gradients  (keys "dW1", "db1", ...)

    parameters is the dict {"W1": ..., "b1": ..., ...}; the flat vector is built
    as the notebook's dictionary_to_vector builds it (group order, row-major).
    """
    keys = _group_order(list(parameters.keys()))
    shapes = [(k, np.shape(parameters[k])) for k in keys]
    sizes = [int(np.prod(s)) for _, s in shapes]
    theta0 = np.concatenate([np.asarray(parameters[k], dtype=np.float64).reshape(-1) for k in keys])

    def vector_to_dictionary(theta):
        out, offset = {}, 0
        for (k, shape), n in zip(shapes, sizes):
            out[k] = theta[offset:offset + n].reshape(shape)
            offset += n
        return out

    def cost(theta):
        c, _ = forward_propagation_n(X, Y, vector_to_dictionary(theta))
        return c

    def gradient(theta):
        _, cache = forward_propagation_n(X, Y, vector_to_dictionary(theta))
        grads = backward_propagation_n(X, Y, cache)
        missing = [k for k in keys if "d" + k not in grads]
        if missing:
            raise KeyError(f"backward_propagation_n returned no gradient for {', '.join('d' + k for k in missing)}")
        for k, shape in shapes:
            got = np.shape(grads["d" + k])
            if tuple(got) != tuple(shape):
                # The same number of entries in another shape would be read in the wrong order; say so.
                raise ValueError(
                    f"backward_propagation_n returned d{k} with shape {tuple(got)}, but {k} has shape {tuple(shape)}:"
                    " a gradient must have its parameter's shape"
                )
        return np.concatenate([np.asarray(grads["d" + k], dtype=np.float64).reshape(-1) for k in keys])

    serve(cost, gradient, theta0, [(k, s if len(s) else (1,)) for k, s in shapes])
