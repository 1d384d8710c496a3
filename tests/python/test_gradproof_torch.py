"""The torch adapter's own tests, with real torch (Debian's /usr/bin/python3):

    /usr/bin/python3 -m unittest discover -s tests/python -p 'test_*.py'

(run by tests/integration/torch-adapter.test.ts). They reach inside the adapter for what the
protocol does not show: the audited copy's buffers, and the fallback when a fast path is wrong.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "resources", "adapters", "python"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures", "torch"))

import gradproof_torch as gt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from subject import CubeLayer  # noqa: E402


def every_entry(audit, deltas=(1e-7, -1e-7, 1e-3)):
    return [[i, d] for i in range(audit.theta0.numel()) for d in deltas]


def plain_costs(audit, entries):
    out = []
    for i, d in entries:
        theta = audit.theta0.clone()
        theta[i] = theta[i] + d
        out.append(audit.cost(theta.tolist()))
    return out


class FastCostsEqualPlain(unittest.TestCase):
    """Every entry of small models: the batched costs equal a plain evaluation of model(X) to float64 rounding."""

    def check(self, audit, expect_in_paths):
        entries = every_entry(audit)
        fast = audit.costs(entries)["costs"]
        plain = plain_costs(audit, entries)
        for (i, d), f, p in zip(entries, fast, plain):
            self.assertLessEqual(abs(f - p), 1e-14 * abs(p), f"entry {i}, step {d}: {f!r} vs {p!r}")
        paths = audit.describe()["evaluation"]
        for name, words in expect_in_paths.items():
            self.assertIn(words, paths[name], paths)
        return paths

    def test_sequential_with_custom_function_and_batch_norm(self):
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 6), CubeLayer(), nn.BatchNorm1d(6),
                              nn.Tanh(), nn.Linear(6, 2))
        with torch.no_grad():
            model[4].running_mean.uniform_(-1, 1)
        audit = gt._ModuleAudit(model, nn.MSELoss(), torch.randn(50, 5), torch.randn(50, 2), torch.float64, False, 0,
                                None)
        paths = self.check(audit, {"0.weight": "rank-one", "2.bias": "rank-one", "4.weight": "vmap",
                                   "6.weight": "rank-one"})
        self.assertIn("the copies stacked as rows", paths["0.weight"])  # the custom layer, above layer 0

    def test_whole_model_conv(self):
        torch.manual_seed(2)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(2, 2, 3)
                self.fc = nn.Linear(8, 2)

            def forward(self, x):
                return self.fc(torch.relu(self.conv(x)).flatten(1))

        audit = gt._ModuleAudit(Net(), nn.CrossEntropyLoss(), torch.randn(6, 2, 4, 4), torch.randint(0, 2, (6,)),
                                torch.float64, False, 0, None)
        self.assertEqual(audit.describe()["groups"][0], {"name": "conv.weight", "shape": [2, 2, 3, 3]})
        self.check(audit, {"conv.weight": "whole model, vmap"})

    def test_train_mode_replay_is_bit_identical(self):
        torch.manual_seed(3)
        model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Dropout(0.5), nn.Linear(8, 1))
        audit = gt._ModuleAudit(model, nn.MSELoss(), torch.randn(32, 4), torch.randn(32, 1), torch.float64, True, 0,
                                None)
        entries = every_entry(audit)
        self.assertEqual(audit.costs(entries)["costs"], plain_costs(audit, entries))


class NothingIsChangedByTheAudit(unittest.TestCase):
    def test_batch_norm_buffers_of_the_copy_and_of_the_model(self):
        torch.manual_seed(4)
        model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1))
        model.train()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        audit = gt._ModuleAudit(model, nn.MSELoss(), torch.randn(32, 4), torch.randn(32, 1), torch.float64, True, 0,
                                None)
        copy_before = {k: v.clone() for k, v in audit.model.state_dict().items()}
        j0 = audit.cost()
        audit.gradient()
        audit.costs(every_entry(audit, (1e-7, -1e-7)))
        audit.costs_along([1.0] * audit.theta0.numel(), [1e-3, -1e-3])
        self.assertEqual(audit.cost(), j0)  # the same θ, the same random numbers, the same statistics
        for k, v in audit.model.state_dict().items():
            self.assertTrue(torch.equal(v, copy_before[k]), f"the audited copy's {k} changed")
        for k, v in model.state_dict().items():
            self.assertTrue(torch.equal(v, before[k]) and v.dtype == before[k].dtype, f"the caller's {k} changed")
        self.assertTrue(model.training)

    def test_eval_mode_by_default_on_a_double_copy(self):
        model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.9))
        model.train()
        audit = gt._ModuleAudit(model, nn.MSELoss(), torch.randn(4, 3), torch.randn(4, 2), torch.float64, False, 0,
                                None)
        self.assertFalse(audit.model.training)
        self.assertTrue(model.training)
        self.assertEqual(model[0].weight.dtype, torch.float32)
        self.assertEqual(audit.describe()["precision"], "float64")


class Precision(unittest.TestCase):
    def test_own_dtype_reports_precision_and_the_steps_taken(self):
        torch.manual_seed(5)
        model = nn.Sequential(nn.Linear(3, 2))
        audit = gt._ModuleAudit(model, nn.MSELoss(), torch.randn(4, 3), torch.randn(4, 2), None, False, 0, None)
        d = audit.describe()
        self.assertEqual(d["precision"], "float32")
        theta0 = torch.tensor(d["theta"], dtype=torch.float64)
        self.assertTrue(torch.equal(theta0.float().double(), theta0))
        r = audit.costs([[0, 1e-7], [1, -1e-7]])
        for (i, _), step in zip([[0, 1e-7], [1, -1e-7]], r["steps"]):
            taken = float(torch.tensor(float(theta0[i]) + (1e-7 if i == 0 else -1e-7)).float()) - float(theta0[i])
            self.assertEqual(step, taken)
            self.assertNotEqual(step, 1e-7 if i == 0 else -1e-7)


class Safeguards(unittest.TestCase):
    def test_a_wrong_fast_path_is_caught_at_start_up_and_replaced(self):
        class Broken(gt._ModuleAudit):
            def _advance_how(self, j, state):  # drops every perturbation above its own layer
                return ("dense", self.acts[j + 1].unsqueeze(0).expand(state[-1].shape[0], *self.acts[j + 1].shape)), \
                    "broken"

        torch.manual_seed(6)
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
        audit = Broken(model, nn.MSELoss(), torch.randn(8, 3), torch.randn(8, 1), torch.float64, False, 0, None)
        paths = audit.describe()["evaluation"]
        self.assertTrue(paths["0.weight"].startswith("plain"), paths)
        self.assertIn("rank-one", paths["2.weight"])  # the top layer needs no _advance
        entries = every_entry(audit)
        for f, p in zip(audit.costs(entries)["costs"], plain_costs(audit, entries)):
            self.assertLessEqual(abs(f - p), 1e-14 * abs(p))

    def test_a_declared_chain_that_is_not_the_forward_is_refused(self):
        class M(nn.Module):
            gradproof_chain = ("b", "a")

            def __init__(self):
                super().__init__()
                self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

            def forward(self, x):
                return self.b(self.a(x))

        with self.assertRaisesRegex(ValueError, "the declared chain does not reproduce the model"):
            gt._ModuleAudit(M(), nn.MSELoss(), torch.randn(5, 3), torch.randn(5, 3), torch.float64, False, 0, None)


class Functions(unittest.TestCase):
    def test_projection_is_fixed_and_scalars_are_not_projected(self):
        x = torch.randn(3, 2, requires_grad=True)
        a = gt._FunctionAudit(lambda x: x * x, (x,), {}, None, torch.float64, 0)
        b = gt._FunctionAudit(lambda x: x * x, (x,), {}, None, torch.float64, 0)
        self.assertEqual(a.cost(), b.cost())
        s = gt._FunctionAudit(lambda x: (x * x).sum(), (x,), {}, None, torch.float64, 0)
        self.assertEqual(s.cost(), float((x.double() ** 2).sum()))
        self.assertEqual(s.projection_note, "none (the output is a scalar)")

    def test_groups_are_the_inputs_that_require_grad(self):
        x = torch.randn(3, requires_grad=True)
        c = torch.randn(3)
        w = torch.randn(3, requires_grad=True)
        f = gt._FunctionAudit(lambda x, c, w=None: x * c * w, (x, c), {"w": w}, ["x"], torch.float64, 0)
        self.assertEqual([g["name"] for g in f.describe()["groups"]], ["x", "w"])
        entries = every_entry(f)
        fast = f.costs(entries)["costs"]
        for p, q in zip(fast, plain_costs(f, entries)):
            self.assertLessEqual(abs(p - q), 1e-14 * abs(q))


if __name__ == "__main__":
    unittest.main()
