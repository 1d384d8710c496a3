"""A custom autograd.Function audited on its own: squared Euclidean distances between two
sets of points, D[i, j] = ‖x_i − y_j‖², with a hand-written backward. The bug: grad_x lost
the 2 of the square's derivative (grad_y has it). D is a matrix, so the adapter audits a
fixed random projection of it, Σ D·R.

    gradproof check --subject "/usr/bin/python3 resources/examples/torch/sq_distance_buggy.py"

fails, naming x as ×0.500; y passes. sq_distance_fixed.py passes.
"""
from gradproof_torch import serve_function  # first: without torch this is one clear line

import torch


class SquaredDistances(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        diff = x[:, None, :] - y[None, :, :]
        ctx.save_for_backward(diff)
        return (diff * diff).sum(-1)

    @staticmethod
    def backward(ctx, grad):
        (diff,) = ctx.saved_tensors
        g = grad[:, :, None] * diff
        grad_x = g.sum(1)  # the bug: d‖x − y‖²/dx = 2(x − y); this must be 2 * g.sum(1)
        grad_y = -2 * g.sum(0)
        return grad_x, grad_y


torch.manual_seed(0)
x = torch.randn(8, 3, requires_grad=True)
y = torch.randn(5, 3, requires_grad=True)
serve_function(SquaredDistances.apply, x, y, names=("x", "y"))
