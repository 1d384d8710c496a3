"""hand_linear_buggy.py with its bug fixed: the bias gradient is the sum of grad_output over
the batch. Every parameter passes:

    gradproof check --subject "/usr/bin/python3 resources/examples/torch/hand_linear_fixed.py"
"""
from gradproof_torch import serve_module  # first: without torch this is one clear line

import torch
from torch import nn


class LinearFunction(torch.autograd.Function):
    """y = x Wᵀ + b, with a hand-written backward."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.t() + bias

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        grad_x = grad_out @ weight
        grad_weight = grad_out.t() @ x
        grad_bias = grad_out.sum(0)  # over the batch: the loss's mean has already divided by it
        return grad_x, grad_weight, grad_bias


class HandLinear(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) * (2 / n_in) ** 0.5)
        self.bias = nn.Parameter(0.1 * torch.randn(n_out))

    def forward(self, x):
        return LinearFunction.apply(x, self.weight, self.bias)


class FraudNet(nn.Module):
    # The layers forward() runs, in order: GradProof's adapter then recomputes only the
    # layers above a perturbed parameter.
    gradproof_chain = ("hidden", "act", "out")

    def __init__(self):
        super().__init__()
        self.hidden = HandLinear(30, 16)
        self.act = nn.ReLU()
        self.out = nn.Linear(16, 1)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


torch.manual_seed(0)
X = torch.randn(256, 30)
Y = (torch.rand(256, 1) < 0.3).float()
serve_module(FraudNet(), nn.BCEWithLogitsLoss(), X, Y)
