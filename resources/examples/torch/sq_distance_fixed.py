"""sq_distance_buggy.py with its bug fixed: grad_x has the 2 of the square's derivative.
Both inputs pass:

    gradproof check --subject "/usr/bin/python3 resources/examples/torch/sq_distance_fixed.py"
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
        grad_x = 2 * g.sum(1)  # d‖x − y‖²/dx = 2(x − y)
        grad_y = -2 * g.sum(0)
        return grad_x, grad_y


torch.manual_seed(0)
x = torch.randn(8, 3, requires_grad=True)
y = torch.randn(5, 3, requires_grad=True)
serve_function(SquaredDistances.apply, x, y, names=("x", "y"))
