#!/usr/bin/env python3
"""The PyTorch side of `npm run bench`: one MLP, its weights and data, checked five ways.

The network is GradProof's `mlp:` model (ReLU hidden layers, sigmoid output, cross-entropy)
as an nn.Sequential, with the weights and rows numpy_peer.py draws for `--widths W --rows N
--seed S` (numpy RandomState), in float64, so every side checks the same numbers.

  --serve module     a GradProof subject through gradproof_torch.serve_module
  --serve generic    a GradProof subject through gradproof_adapter.serve (numpy-style
                     cost(theta) and gradient(theta), torch doing each forward and backward)
  --gradcheck        torch.autograd.gradcheck on the parameters (default mode; --fast-mode for
                     fast_mode=True); prints one JSON line: verdict, seconds, parameters

Run with a Python that has torch and numpy (Debian: /usr/bin/python3).
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "resources", "adapters", "python"))

from numpy_peer import build  # noqa: E402  (the same weights and data as the numpy peer)


def network(widths, rows, seed):
    import torch
    from torch import nn

    params, _keys, X, Y = build(widths, rows, seed)
    layers = []
    for l in range(1, len(widths)):
        lin = nn.Linear(widths[l - 1], widths[l]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(params[f"W{l}"]))
            lin.bias.copy_(torch.from_numpy(params[f"b{l}"].reshape(-1)))
        layers += [lin, nn.ReLU() if l < len(widths) - 1 else nn.Sigmoid()]
    model = nn.Sequential(*layers)
    # numpy's layout is features × examples; torch's is examples × features.
    return model, nn.BCELoss(), torch.from_numpy(X.T.copy()), torch.from_numpy(Y.T.copy())


def serve_generic(model, loss_fn, X, Y):
    """What a user writes with the generic adapter: a flat θ in, one forward (or backward) out."""
    import numpy as np
    import torch
    from gradproof_adapter import serve

    named = list(model.named_parameters())
    theta0 = np.concatenate([p.detach().reshape(-1).numpy() for _, p in named])

    def load(theta):
        with torch.no_grad():
            offset = 0
            for _, p in named:
                n = p.numel()
                p.copy_(torch.from_numpy(np.ascontiguousarray(theta[offset:offset + n])).view(p.shape))
                offset += n

    def cost(theta):
        load(theta)
        with torch.no_grad():
            return float(loss_fn(model(X), Y))

    def gradient(theta):
        load(theta)
        model.zero_grad()
        loss_fn(model(X), Y).backward()
        return np.concatenate([p.grad.reshape(-1).numpy() for _, p in named])

    serve(cost, gradient, theta0, [(n, tuple(p.shape)) for n, p in named])


def gradcheck(model, loss_fn, X, Y, fast_mode):
    import torch
    from torch.nn.utils.stateless import functional_call

    named = list(model.named_parameters())
    names = [n for n, _ in named]

    def f(*ps):
        return loss_fn(functional_call(model, dict(zip(names, ps)), (X,)), Y)

    inputs = tuple(p.detach().clone().requires_grad_(True) for _, p in named)
    t0 = time.perf_counter()
    try:
        ok = torch.autograd.gradcheck(f, inputs, fast_mode=fast_mode)
        verdict, message = ("pass" if ok else "fail"), ""
    except torch.autograd.gradcheck.GradcheckError as exc:
        verdict, message = "fail", str(exc).split("\n")[0]
    seconds = time.perf_counter() - t0
    print(json.dumps({"verdict": verdict, "seconds": seconds, "message": message,
                      "parameters": sum(p.numel() for p in inputs), "torch": torch.__version__}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--widths", default="30,64,32,1")
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--serve", choices=["module", "generic"])
    ap.add_argument("--gradcheck", action="store_true")
    ap.add_argument("--fast-mode", action="store_true")
    a = ap.parse_args()
    if a.serve == "module":
        from gradproof_torch import serve_module
    model, loss_fn, X, Y = network([int(w) for w in a.widths.split(",")], a.rows, a.seed)
    if a.serve == "module":
        serve_module(model, loss_fn, X, Y)
    elif a.serve == "generic":
        serve_generic(model, loss_fn, X, Y)
    elif a.gradcheck:
        gradcheck(model, loss_fn, X, Y, a.fast_mode)
    else:
        ap.error("give --serve module, --serve generic or --gradcheck")


if __name__ == "__main__":
    main()
