"""GradProof's PyTorch adapter: audit an nn.Module's backward pass, or a custom
autograd.Function's, as autograd computes it.

torch is the subject's dependency, never GradProof's. GradProof puts this folder
on the subject's PYTHONPATH, so a subject script does

    from gradproof_torch import serve_module      # import the adapter before torch:
    import torch                                  # a missing torch is then one clear line
    ...
    serve_module(model, loss_fn, X, Y)

to audit every parameter of a module (groups are `named_parameters()` names with
their shapes as they are), cost = loss_fn(model(X), Y), gradient = what autograd
returns through the module (with any custom Functions inside it); or

    serve_function(fn, x, w, names=("x", "w"))

to audit a differentiable callable (typically a custom autograd.Function's apply)
with respect to each tensor input that requires grad, through a fixed random
projection of its output when the output is not a scalar.

By default the audit runs in float64 on a deep copy (the caller's model and
tensors are never touched), in eval mode. `dtype=None` keeps the model's own
dtype; `train=True` audits train mode, where every evaluation replays the same
random numbers (seeded by `seed`) so that the cost is a deterministic function of
θ, and buffers (batch-norm running statistics) are restored after every
evaluation.

`costs` batches are fast: for chains (nn.Sequential, or a module naming its
layers in order as `gradproof_chain`, or `chain=` given here) the unperturbed
activations are kept, so perturbing layer l recomputes only layers l and above;
stock nn.Linear layers and elementwise activations carry a perturbation as one
changed column (a rank-one update) instead of recomputing; everything else is
vectorised over the batch of perturbations with vmap where the installed torch
has it (torch.func, or functorch for torch 1.13), by stacking the perturbed
copies as extra rows where a layer treats rows independently, and one
perturbation at a time otherwise. Each group's fast path is compared with a
plain evaluation at start-up and replaced by plain evaluations if they disagree.

It speaks GradProof's subject protocol (version 1, docs/subject-protocol.md).
"""
import sys

try:
    import torch
except ImportError as _exc:  # the whole story in one line; GradProof shows the subject's stderr tail
    sys.stderr.write(
        f"gradproof_torch: PyTorch is not installed for this Python ({sys.executable}, "
        f"Python {sys.version.split()[0]}): {_exc}. Install torch for it (pip install torch; on Debian "
        f"apt-get install python3-torch, for /usr/bin/python3), or run the subject with a Python that "
        f"has torch, e.g. --subject \"/usr/bin/python3 SCRIPT.py\".\n"
    )
    raise SystemExit(3)

import copy
import json
import traceback
from bisect import bisect_right

from torch import nn
import torch.nn.functional as F

_FUNCTORCH = []


def _functorch():
    """(vmap, functional_call) from torch.func (torch >= 2.0) or functorch (torch 1.13), or None.

    Imported on first use: functorch's import costs a quarter of a second in every subject
    process, and models made of stock layers never need it."""
    if not _FUNCTORCH:
        try:
            from torch.func import functional_call, vmap
        except ImportError:
            try:
                from functorch import vmap
                from torch.nn.utils.stateless import functional_call
            except ImportError:
                vmap = functional_call = None
        _FUNCTORCH.append(None if vmap is None or functional_call is None else (vmap, functional_call))
    return _FUNCTORCH[0]


def _keep_freed_memory():
    """Vectorised batches allocate blocks of the same few megabytes again and again; glibc
    unmaps each when freed and faults it back in, page by page, on the next allocation,
    which doubled the time of a sweep. Keep freed memory (this process's only)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: only slower


_keep_freed_memory()

PROTOCOL = 1

# Anything the subject prints from now on goes to stderr: stdout is the protocol's.
_PROTOCOL_OUT = sys.stdout
sys.stdout = sys.stderr

# Bytes of activations one vectorised chunk may hold (perturbed copies × the widest layer).
_CHUNK_BYTES = 128 << 20

_ELEMENTWISE = tuple(
    getattr(nn, name)
    for name in (
        "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh",
        "Softplus", "Softsign", "Hardtanh", "Hardsigmoid", "Hardswish", "LogSigmoid", "Tanhshrink",
        "Softshrink", "Hardshrink", "Identity", "Dropout", "AlphaDropout",
    )
    if hasattr(nn, name)
)


def _batched_pointwise_loss(loss_fn, T, Y):
    """Per-copy losses of a batch T (copies × output shape) for stock pointwise losses, in one
    call; None for any other loss (evaluated with vmap, or copy by copy)."""
    kind = type(loss_fn)
    if not isinstance(loss_fn, nn.Module) or not _no_hooks(loss_fn) or not torch.is_tensor(Y):
        return None
    if Y.shape != T.shape[1:] or loss_fn.reduction not in ("mean", "sum"):
        return None
    if kind is nn.MSELoss:
        each = F.mse_loss(T, Y.expand_as(T), reduction="none")
    elif kind is nn.L1Loss:
        each = F.l1_loss(T, Y.expand_as(T), reduction="none")
    elif kind is nn.BCELoss and loss_fn.weight is None:
        each = F.binary_cross_entropy(T, Y.expand_as(T), reduction="none")
    elif kind is nn.BCEWithLogitsLoss and loss_fn.weight is None and loss_fn.pos_weight is None:
        each = F.binary_cross_entropy_with_logits(T, Y.expand_as(T), reduction="none")
    else:
        return None
    each = each.reshape(T.shape[0], -1)
    return each.mean(1) if loss_fn.reduction == "mean" else each.sum(1)


def _precision(dtype):
    return str(dtype).replace("torch.", "")


def _dtype(value):
    """torch.float64, "float64" or None (the subject's own)."""
    if value is None or isinstance(value, torch.dtype):
        chosen = value
    else:
        chosen = getattr(torch, str(value), None)
    if chosen is not None and (not isinstance(chosen, torch.dtype) or not chosen.is_floating_point):
        raise ValueError(f"dtype={value!r}: give a floating-point torch dtype (torch.float64, torch.float32) or None")
    return chosen


def _no_hooks(module):
    return not (module._forward_hooks or module._forward_pre_hooks)


def _is_stock_linear(module):
    # Exactly nn.Linear: a subclass (or a parametrized one) may compute something else.
    return type(module) is nn.Linear and _no_hooks(module)


def _is_stock_elementwise(module):
    # Eval mode only: dropout in train mode is not a function of its input alone.
    return type(module) in _ELEMENTWISE and _no_hooks(module) and not module.training


def _tolerance(dtype):
    # How far a rearranged evaluation may round away from a plain one: sums of a few
    # thousand terms in another order, relative to the cost.
    return 1e4 * torch.finfo(dtype).eps


class _Audit:
    """θ as leaves (tensors changed in place), evaluation with replayed randomness, the protocol's methods."""

    def __init__(self, leaves, dtype, seed):
        self.names = [n for n, _ in leaves]
        self.leaves = [t for _, t in leaves]
        self.dtype = dtype
        self.seed = int(seed)
        self.sizes = [t.numel() for t in self.leaves]
        self.offsets = [0]
        for s in self.sizes:
            self.offsets.append(self.offsets[-1] + s)
        with torch.no_grad():
            self.originals = [t.detach().clone() for t in self.leaves]
            self.theta0 = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in self.leaves])
        self.paths = {}
        self.plain_groups = set()

    # -- θ in and out -------------------------------------------------------------------------
    def _set_theta(self, theta):
        theta = torch.as_tensor(theta, dtype=torch.float64)
        if theta.numel() != self.theta0.numel():
            raise ValueError(f"theta has {theta.numel()} entries; this subject has {self.theta0.numel()} parameters")
        with torch.no_grad():
            for t, a, b in zip(self.leaves, self.offsets, self.offsets[1:]):
                t.copy_(theta[a:b].view(t.shape))

    def _restore(self):
        with torch.no_grad():
            for t, o in zip(self.leaves, self.originals):
                t.copy_(o)

    def _locate(self, index):
        if not 0 <= index < self.theta0.numel():
            raise IndexError(f"parameter index {index} is out of range (0..{self.theta0.numel() - 1})")
        g = bisect_right(self.offsets, index) - 1
        return g, index - self.offsets[g]

    def _values(self, g, locals_, deltas):
        """The perturbed entries' values in the leaf's dtype: θ₀[i] + δ, rounded as the leaf holds it."""
        base = self.theta0[self.offsets[g]:self.offsets[g + 1]]
        idx = torch.as_tensor(locals_, dtype=torch.long)
        new = base[idx] + torch.as_tensor(deltas, dtype=torch.float64)
        return idx, new.to(self.leaves[g].dtype)

    # -- to be provided ----------------------------------------------------------------------
    def _cost(self, restore=True):
        """The cost at the leaves' current values, randomness replayed; restore=False leaves
        the state a backward pass may still need (buffers) until _restore_state()."""
        raise NotImplementedError

    def _restore_state(self):
        pass

    def _fast_group(self, g, idx, values):
        """Costs for a batch of perturbations of group g, or None for no faster way than one at a time."""
        return None

    def _path(self, g):
        """How group g's costs are computed, in words (describe's "evaluation")."""
        return "plain, one perturbation at a time"

    # -- evaluation ---------------------------------------------------------------------------
    def _loop_group(self, g, idx, values):
        leaf = self.leaves[g]
        flat = leaf.data.view(-1)
        out = []
        with torch.no_grad():
            for i, v in zip(idx.tolist(), values):
                old = flat[i].clone()
                flat[i] = v
                try:
                    out.append(float(self._cost()))
                finally:
                    flat[i] = old
        return out

    def _group_costs(self, g, idx, values):
        if g in self.plain_groups:
            return self._loop_group(g, idx, values)
        try:
            fast = self._fast_group(g, idx, values)
        except Exception as exc:  # a layer the vectorised paths cannot run: evaluate the group plainly
            if "autograd.Function" in str(exc):
                why = "vmap cannot run a custom autograd.Function before torch 2.0"
            else:
                why = f"the fast path raised {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            self._go_plain(g, why)
            fast = None
        return self._loop_group(g, idx, values) if fast is None else fast

    def _go_plain(self, g, why):
        sys.stderr.write(f"gradproof_torch: {self.names[g]} is evaluated one perturbation at a time: {why}\n")
        self.plain_groups.add(g)
        self.paths[self.names[g]] = f"plain, one perturbation at a time ({why})"

    def _verify_fast_paths(self):
        """Each group's fast path against plain evaluations, at three entries and steps large enough to matter."""
        j0 = float(self._plain_cost())
        tol = _tolerance(self.dtype)
        for g, name in enumerate(self.names):
            n = self.sizes[g]
            locals_ = sorted({0, n // 2, n - 1})
            base = self.theta0[self.offsets[g]:self.offsets[g + 1]]
            deltas = [1e-2 * max(1.0, abs(float(base[i]))) * (1 if k % 2 == 0 else -1) for k, i in enumerate(locals_)]
            idx, values = self._values(g, locals_, deltas)
            fast = self._group_costs(g, idx, values)
            if g in self.plain_groups:
                continue
            plain = self._loop_group(g, idx, values)
            scale = max(abs(j0), *(abs(p) for p in plain), 1e-300)
            worst = max(abs(a - b) for a, b in zip(fast, plain)) / scale
            if not worst <= tol:
                self._go_plain(g, f"its fast path differed from a plain evaluation by {worst:.1e} (relative)")

    def _plain_cost(self):
        with torch.no_grad():
            return self._cost()

    # -- the protocol's methods --------------------------------------------------------------
    def describe(self):
        return {
            "protocol": PROTOCOL,
            "groups": [{"name": n, "shape": list(t.shape) or [1]} for n, t in zip(self.names, self.leaves)],
            "theta": self.theta0.tolist(),
            "precision": _precision(self.dtype),
            "evaluation": {n: self.paths[n] if g in self.plain_groups else self._path(g)
                           for g, n in enumerate(self.names)},
        }

    def cost(self, theta=None):
        if theta is not None:
            self._set_theta(theta)
        try:
            return float(self._plain_cost())
        finally:
            self._restore()

    def gradient(self, theta=None):
        if theta is not None:
            self._set_theta(theta)
        try:
            with torch.enable_grad():
                cost = self._cost(restore=False)
                grads = torch.autograd.grad(cost, self.leaves, allow_unused=True)
        finally:
            self._restore_state()  # after the backward: batch norm's saves its running statistics
            self._restore()
        return torch.cat([
            (torch.zeros(t.numel(), dtype=torch.float64) if d is None else d.detach().reshape(-1).to(torch.float64))
            for t, d in zip(self.leaves, grads)
        ]).tolist()

    def costs(self, entries):
        """{"costs": […]}, and in a precision below float64 "steps": the steps the parameters
        actually took, θ′ᵢ − θ₀ᵢ once θ₀ᵢ + δ is rounded to it (float32 moves 0.7 by 1.19e-7
        when asked for 1e-7), so that a difference quotient can divide by the true step."""
        by_group = {}
        for position, (index, delta) in enumerate(entries):
            g, local = self._locate(int(index))
            by_group.setdefault(g, []).append((position, local, float(delta)))
        out = [0.0] * len(entries)
        steps = [float(d) for _, d in entries]
        for g, items in by_group.items():
            idx, values = self._values(g, [i for _, i, _ in items], [d for _, _, d in items])
            for (position, _, _), c in zip(items, self._group_costs(g, idx, values)):
                out[position] = float(c)
            if self.dtype != torch.float64:
                taken = values.to(torch.float64) - self.theta0[self.offsets[g]:self.offsets[g + 1]][idx]
                for (position, _, _), d in zip(items, taken.tolist()):
                    steps[position] = d
        return {"costs": out, "steps": steps} if self.dtype != torch.float64 else {"costs": out}

    def costs_along(self, direction, deltas):
        u = torch.as_tensor(direction, dtype=torch.float64)
        out = []
        try:
            for d in deltas:
                self._set_theta(self.theta0 + float(d) * u)
                out.append(float(self._plain_cost()))
        finally:
            self._restore()
        return out


def _fork_rng():
    return torch.random.fork_rng(devices=[])


class _ModuleAudit(_Audit):
    def __init__(self, model, loss_fn, X, Y, dtype, train, seed, chain):
        if not isinstance(model, nn.Module):
            raise TypeError(f"serve_module needs an nn.Module; got {type(model).__name__}")
        try:
            m = copy.deepcopy(model)
        except Exception as exc:
            raise TypeError(f"the model could not be copied for the audit (copy.deepcopy failed: {exc})") from exc
        own = next((p.dtype for p in m.parameters() if p.is_floating_point()), torch.get_default_dtype())
        dtype = own if dtype is None else dtype
        m.to(dtype)
        m.train(bool(train))
        if isinstance(loss_fn, nn.Module):
            loss_fn = copy.deepcopy(loss_fn).to(dtype).train(bool(train))
        self.model, self.loss_fn, self.train = m, loss_fn, bool(train)
        self.X = self._cast(X, dtype)
        self.Y = self._cast(Y, dtype)
        leaves = []
        for name, p in m.named_parameters():
            if not p.requires_grad:
                continue  # frozen: held fixed, as training would hold it
            if not p.is_contiguous():
                p.data = p.data.contiguous()
            leaves.append((name, p))
        if not leaves:
            raise ValueError("the model has no parameters that require grad: nothing to audit")
        super().__init__(leaves, dtype, seed)
        self.buffers = [(b, b.detach().clone()) for b in m.buffers()]
        self.stages, self.not_chain = None, None
        self.no_vmap, self.how = set(), {}
        self._setup_chain(model, chain)
        self._verify_fast_paths()

    @staticmethod
    def _cast(value, dtype):
        if torch.is_tensor(value):
            v = value.detach().clone()
            return v.to(dtype) if v.is_floating_point() else v
        if isinstance(value, (tuple, list)):
            return type(value)(_ModuleAudit._cast(v, dtype) for v in value)
        return value

    def _inputs(self):
        return tuple(self.X) if isinstance(self.X, (tuple, list)) else (self.X,)

    def _loss(self, out):
        return self.loss_fn(out) if self.Y is None else self.loss_fn(out, self.Y)

    def _restore_buffers(self):
        if self.train:  # running statistics, counters: the audit leaves them as they were
            with torch.no_grad():
                for b, saved in self.buffers:
                    b.copy_(saved)

    def _cost(self, restore=True):
        with _fork_rng():
            torch.manual_seed(self.seed)
            try:
                return self._loss(self.model(*self._inputs()))
            finally:
                if restore:
                    self._restore_buffers()

    def _restore_state(self):
        self._restore_buffers()

    # -- chains -------------------------------------------------------------------------------
    def _setup_chain(self, original, chain):
        declared = chain if chain is not None else getattr(original, "gradproof_chain", None)
        if declared is None:
            stages = self._sequential_stages(self.model)
            if stages is None:
                self._whole_model_paths()
                return
        else:
            stages = []
            for item in declared:
                if isinstance(item, str):
                    stages.append(self.model.get_submodule(item))
                elif isinstance(item, nn.Module):
                    # a module of the caller's model: find its counterpart in our copy by name
                    name = next((n for n, s in original.named_modules() if s is item), None)
                    if name is None:
                        raise ValueError(f"chain: {type(item).__name__} is not a submodule of the model")
                    stages.append(self.model.get_submodule(name) if name else self.model)
                else:
                    raise TypeError(f"chain: give submodule names or submodules, not {type(item).__name__}")
        owner = {}
        for k, stage in enumerate(stages):
            for local, p in stage.named_parameters():
                if id(p) in owner and owner[id(p)][0] != k:
                    self._whole_model_paths("a parameter is shared by two layers of the chain")
                    return
                owner.setdefault(id(p), (k, local))
        missing = [n for n, t in zip(self.names, self.leaves) if id(t) not in owner]
        if missing:
            if declared is not None:
                raise ValueError(f"the declared chain leaves out {', '.join(missing)}: name every layer, in order")
            self._whole_model_paths()
            return
        if len(self._inputs()) != 1:
            self._whole_model_paths("the model takes more than one input")
            return
        # The unperturbed activations, and the random state at each layer's start, to replay from.
        acts, states = [self._inputs()[0]], []
        with torch.no_grad(), _fork_rng():
            torch.manual_seed(self.seed)
            for stage in stages:
                states.append(torch.get_rng_state())
                acts.append(stage(acts[-1]))
            states.append(torch.get_rng_state())
            via_chain = float(self._loss(acts[-1]))
            self._restore_buffers()
        if not all(torch.is_tensor(a) for a in acts):
            if declared is not None:
                raise ValueError("the declared chain's layers must each take and return one tensor")
            self._whole_model_paths("a layer returns something other than one tensor")
            return
        plain = float(self._plain_cost())
        if not abs(via_chain - plain) <= _tolerance(self.dtype) * max(abs(plain), 1e-300):
            if declared is not None:
                raise ValueError(
                    f"the declared chain does not reproduce the model: its layers in order give cost {via_chain!r}, "
                    f"model(X) gives {plain!r}; list the layers forward() runs, in order"
                )
            self._whole_model_paths("its layers in order do not reproduce model(X)")
            return
        self.stages, self.acts, self.states = stages, acts, states
        self.owner = [owner[id(t)] for t in self.leaves]
        self.row_wise = {}

    def _path(self, g):
        if self.stages is None:
            how = "vmap over the batch" if (self._vmappable() and not self.train) else "one perturbation at a time"
            return f"whole model, {how}" + (f" (not a chain: {self.not_chain})" if self.not_chain else "")
        k, _ = self.owner[g]
        where = f"chain from layer {k} ({type(self.stages[k]).__name__})"
        if self.train:
            return f"{where}, replayed one perturbation at a time (train mode)"
        above = []
        for j in range(k + 1, len(self.stages)):
            label = self.how.get(("advance", j))
            if label and label not in above:
                above.append(label)
        own = self.how.get(("own", k), "not yet run")
        return f"{where}: {own}" + (f"; above it: {', '.join(above)}" if above else "")

    @staticmethod
    def _sequential_stages(module):
        if not isinstance(module, nn.Sequential) or type(module).forward is not nn.Sequential.forward:
            return None
        if not _no_hooks(module):
            return None
        out = []
        for child in module:
            inner = _ModuleAudit._sequential_stages(child)
            out.extend(inner if inner is not None else [child])
        return out

    def _whole_model_paths(self, why=None):
        self.stages, self.not_chain = None, why

    @staticmethod
    def _vmappable():
        return _functorch() is not None

    def _fast_group(self, g, idx, values):
        if self.stages is None:
            if self.train or not self._vmappable():
                return None
            return self._whole_model_vmap(g, idx, values)
        k, local = self.owner[g]
        if self.train:
            return self._chain_replay(g, k, idx, values)
        stage = self.stages[k]
        positions = torch.arange(len(values))
        if _is_stock_linear(stage) and local in ("weight", "bias"):
            # The perturbations of one output unit can change only the rows where that unit's
            # value moves: batched together, they share those rows (see _advance).
            unit = idx // stage.in_features if local == "weight" else idx
            unit, order = torch.sort(unit, stable=True)
            _, counts = torch.unique_consecutive(unit, return_counts=True)
            runs = torch.split(positions[order], counts.tolist())
        else:
            runs = [positions]
        per_copy = max(a.numel() * a.element_size() for a in self.acts[k:])
        step = max(1, _CHUNK_BYTES // (3 * per_copy))
        out = torch.empty(len(values), dtype=torch.float64)
        last = len(self.stages)
        for run in runs:
            for s in range(0, len(run), step):
                chunk = run[s:s + step]
                state = self._stage_own(g, k, local, idx[chunk], values[chunk])
                for j in range(k + 1, last):
                    state = self._advance(j, state)
                out[chunk] = self._batch_loss(self._dense(state, last))
        return out.tolist()

    # A batch of perturbed copies between layers is one of
    #   ("cols", cols, V): the cached activation with, in copy b, the last dimension's column
    #                      cols[b] replaced by V[b];
    #   ("rows", R, T):    the cached activation with, in every copy b, the rows R replaced by T[b];
    #   ("dense", T):      T[b] is copy b's activation.
    def _stage_own(self, g, k, local, idx, values):
        stage, a_in, a_out = self.stages[k], self.acts[k], self.acts[k + 1]
        leaf = self.leaves[g]
        with torch.no_grad():
            if _is_stock_linear(stage) and local in ("weight", "bias"):
                step = values - leaf.detach().reshape(-1)[idx]  # the step the leaf's dtype actually takes
                if local == "weight":
                    cols, inner = idx // stage.in_features, idx % stage.in_features
                    moved = a_in.index_select(-1, inner).movedim(-1, 0)
                    shaped = step.view(-1, *([1] * (moved.dim() - 1)))
                    V = a_out.index_select(-1, cols).movedim(-1, 0) + shaped * moved
                else:
                    cols = idx
                    V = a_out.index_select(-1, cols).movedim(-1, 0) + step.view(-1, *([1] * (a_out.dim() - 1)))
                self.how[("own", k)] = "a rank-one update (nn.Linear)"
                return ("cols", cols, V)
            api = _functorch()
            if api is not None and ("own", k) not in self.no_vmap:
                vmap, functional_call = api

                def one(entry_value, entry_index):
                    p = leaf.detach().reshape(-1).clone()
                    p = p.scatter(0, entry_index.view(1), entry_value.view(1)).view(leaf.shape)
                    return functional_call(stage, {local: p}, (a_in,))
                try:
                    out = vmap(one)(values, idx)
                    self.how[("own", k)] = "vmap over the batch"
                    return ("dense", out)
                except Exception:
                    self.no_vmap.add(("own", k))  # e.g. a custom autograd.Function inside (torch < 2.0)
            flat = leaf.data.view(-1)
            outs = []
            for i, v in zip(idx.tolist(), values):
                old = flat[i].clone()
                flat[i] = v
                try:
                    outs.append(stage(a_in))
                finally:
                    flat[i] = old
            self.how[("own", k)] = "one perturbation at a time"
            return ("dense", torch.stack(outs))

    def _dense(self, state, j):
        """The batch as full tensors, at the input of layer j (acts[j])."""
        if state[0] == "dense":
            return state[1]
        base = self.acts[j]
        B = state[2].shape[0]
        T = base.unsqueeze(0).expand(B, *base.shape).clone()
        if state[0] == "cols":
            T.movedim(-1, 1)[torch.arange(B), state[1]] = state[2]
        else:
            T[:, state[1]] = state[2]
        return T

    def _advance(self, j, state):
        """The batch through layer j."""
        state, how = self._advance_how(j, state)
        self.how[("advance", j)] = how
        return state

    def _advance_how(self, j, state):
        stage = self.stages[j]
        linear, elementwise = _is_stock_linear(stage), _is_stock_elementwise(stage)
        with torch.no_grad():
            if state[0] == "cols" and elementwise:
                return ("cols", state[1], stage(state[2])), "one changed column"
            if state[0] == "cols" and linear:
                _, cols, V = state
                a_in, a_out = self.acts[j], self.acts[j + 1]
                B = V.shape[0]
                D = V - a_in.index_select(-1, cols).movedim(-1, 0)  # the column's change, per copy
                W = stage.weight.detach().index_select(1, cols).t()  # the weights it feeds, (B, out)
                lead = [1] * (D.dim() - 1)
                if D.dim() >= 2 and bool((cols == cols[0]).all()):
                    # One column for the whole batch: only the rows where it changed move (a ReLU's
                    # inactive rows do not), so only those are carried upward.
                    R = D.reshape(B, D.shape[1], -1).ne(0).any(2).any(0).nonzero().view(-1)
                    if R.numel() <= 0.75 * D.shape[1]:
                        Dr = D.index_select(1, R)
                        moved = a_out.index_select(0, R).unsqueeze(0) + Dr.unsqueeze(-1) * W.view(B, *lead, W.shape[1])
                        return ("rows", R, moved), "rank-one updates of the rows that moved"
                moved = a_out.unsqueeze(0) + D.unsqueeze(-1) * W.view(B, *lead, W.shape[1])
                return ("dense", moved), "rank-one updates"
            if state[0] == "rows" and (linear or elementwise):
                return ("rows", state[1], stage(state[2])), "the rows that moved"
            T = self._dense(state, j)
            if linear or elementwise:
                return ("dense", stage(T)), "batched"  # these broadcast over a leading batch dimension
            api = _functorch()
            if api is not None and ("advance", j) not in self.no_vmap:
                try:
                    return ("dense", api[0](stage)(T)), "vmap over the batch"
                except Exception:
                    self.no_vmap.add(("advance", j))
            if self._rows_independent(j):
                B, rows = T.shape[0], T.shape[1]
                out = stage(T.reshape(B * rows, *T.shape[2:]))
                return ("dense", out.reshape(B, rows, *out.shape[1:])), "the copies stacked as rows"
            return ("dense", torch.stack([stage(t) for t in T])), "one copy at a time"

    def _rows_independent(self, j):
        """Whether layer j treats its input's rows one by one, so perturbed copies can be stacked as rows.

        Probed, not assumed: the layer on [a; a′] must give [layer(a); layer(a′)] for an
        independent a′ (a layer that mixes rows, such as batch norm in train mode, does not)."""
        if j in self.row_wise:
            return self.row_wise[j]
        stage, a = self.stages[j], self.acts[j]
        ok = False
        if a.is_floating_point() and a.dim() >= 1 and a.shape[0] > 1:
            gen = torch.Generator().manual_seed(self.seed + 7919 * (j + 1))
            a2 = a + torch.randn(a.shape, generator=gen, dtype=a.dtype) * (a.abs().mean() + 1)
            try:
                with torch.no_grad(), _fork_rng():
                    torch.manual_seed(self.seed)
                    y1 = stage(a)
                    torch.manual_seed(self.seed)
                    y2 = stage(a2)
                    torch.manual_seed(self.seed)
                    y = stage(torch.cat([a, a2]))
                n = a.shape[0]
                tol = _tolerance(self.dtype)
                ok = (
                    torch.is_tensor(y) and y.shape[0] == 2 * n
                    and torch.allclose(y[:n], y1, rtol=tol, atol=tol * float(y1.abs().max() + 1e-300))
                    and torch.allclose(y[n:], y2, rtol=tol, atol=tol * float(y2.abs().max() + 1e-300))
                )
            except Exception:
                ok = False
        self.row_wise[j] = ok
        return ok

    def _batch_loss(self, T):
        with torch.no_grad():
            if self.Y is not None:
                each = _batched_pointwise_loss(self.loss_fn, T, self.Y)
                if each is not None:
                    return each.to(torch.float64)
            api = _functorch()
            if api is not None and "loss" not in self.no_vmap:
                try:
                    return api[0](self._loss)(T).to(torch.float64)
                except Exception:
                    self.no_vmap.add("loss")
            return torch.stack([self._loss(t) for t in T]).to(torch.float64)

    def _chain_replay(self, g, k, idx, values):
        """Train mode: layers k and above, each from the random state it started with in the full pass."""
        leaf = self.leaves[g]
        flat = leaf.data.view(-1)
        out = []
        with torch.no_grad(), _fork_rng():
            for i, v in zip(idx.tolist(), values):
                old = flat[i].clone()
                flat[i] = v
                try:
                    a = self.acts[k]
                    for j in range(k, len(self.stages)):
                        torch.set_rng_state(self.states[j])
                        a = self.stages[j](a)
                    torch.set_rng_state(self.states[-1])
                    out.append(float(self._loss(a)))
                finally:
                    flat[i] = old
                    self._restore_buffers()
        return out

    def _whole_model_vmap(self, g, idx, values):
        leaf, name = self.leaves[g], self.names[g]
        inputs = self._inputs()
        vmap, functional_call = _functorch()

        def one(entry_value, entry_index):
            p = leaf.detach().reshape(-1).clone()
            p = p.scatter(0, entry_index.view(1), entry_value.view(1)).view(leaf.shape)
            return self._loss(functional_call(self.model, {name: p}, inputs))

        if getattr(self, "_whole_bytes", None) is None:
            self._whole_bytes = self._activation_bytes()
        step = max(1, _CHUNK_BYTES // (3 * self._whole_bytes))
        out = []
        with torch.no_grad():
            for s in range(0, len(values), step):
                out.extend(vmap(one)(values[s:s + step], idx[s:s + step]).to(torch.float64).tolist())
        return out

    def _activation_bytes(self):
        total = [0]

        def hook(_m, _i, o):
            if torch.is_tensor(o):
                total[0] += o.numel() * o.element_size()

        handles = [m.register_forward_hook(hook) for m in self.model.modules()]
        try:
            self._plain_cost()
        finally:
            for h in handles:
                h.remove()
        return max(total[0], 1)


class _FunctionAudit(_Audit):
    def __init__(self, fn, inputs, keyword_inputs, names, dtype, seed):
        if not callable(fn):
            raise TypeError(f"serve_function needs a callable (e.g. MyFunction.apply); got {type(fn).__name__}")
        if names is not None and len(names) > len(inputs):
            raise ValueError(f"names gives {len(names)} names for {len(inputs)} positional inputs")
        own = next((t.dtype for t in list(inputs) + list(keyword_inputs.values())
                    if torch.is_tensor(t) and t.is_floating_point()), torch.get_default_dtype())
        dtype = own if dtype is None else dtype
        leaves = []

        def prepare(value, name):
            if not torch.is_tensor(value):
                return value
            audited = value.requires_grad and value.is_floating_point()
            v = value.detach().clone()
            if v.is_floating_point():
                v = v.to(dtype).contiguous()
            if audited:
                v.requires_grad_(True)
                leaves.append((name, v))
            return v

        self.args = [prepare(v, names[k] if names is not None and k < len(names) else f"input{k}")
                     for k, v in enumerate(inputs)]
        self.kwargs = {k: prepare(v, k) for k, v in keyword_inputs.items()}
        if not leaves:
            raise ValueError("no input requires grad: mark the tensors to audit with requires_grad=True")
        if len(set(n for n, _ in leaves)) != len(leaves):
            raise ValueError(f"two audited inputs share a name: {[n for n, _ in leaves]}")
        self.fn = fn
        super().__init__(leaves, dtype, seed)
        with torch.no_grad(), _fork_rng():
            torch.manual_seed(self.seed)
            outputs = self._outputs(self.fn(*self.args, **self.kwargs))
        gen = torch.Generator().manual_seed(self.seed)
        if len(outputs) == 1 and outputs[0].numel() == 1:
            self.projection, self.projection_note = None, "none (the output is a scalar)"
        else:
            self.projection = [torch.randn(o.shape, generator=gen, dtype=torch.float64) for o in outputs]
            self.projection_note = f"Σ output·R, R fixed standard normal (seed {self.seed})"
        self._verify_fast_paths()

    def _path(self, g):
        return "vmap over the batch" if _functorch() is not None else "one perturbation at a time"

    @staticmethod
    def _outputs(out):
        outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,))
                if torch.is_tensor(o) and o.is_floating_point()]
        if not outs:
            raise TypeError(f"the function returned no floating-point tensor (got {type(out).__name__})")
        return outs

    def _project(self, out):
        outs = self._outputs(out)
        if self.projection is None:
            return outs[0].reshape(()).to(torch.float64)
        return sum((o.to(torch.float64) * r).sum() for o, r in zip(outs, self.projection))

    def _cost(self, restore=True):
        with _fork_rng():
            torch.manual_seed(self.seed)
            return self._project(self.fn(*self.args, **self.kwargs))

    def _fast_group(self, g, idx, values):
        api = _functorch()
        if api is None:
            return None
        vmap = api[0]
        leaf = self.leaves[g]
        positional = [k for k, a in enumerate(self.args) if a is leaf]
        keyword = [k for k, a in self.kwargs.items() if a is leaf]

        def one(entry_value, entry_index):
            p = leaf.detach().reshape(-1).clone()
            p = p.scatter(0, entry_index.view(1), entry_value.view(1)).view(leaf.shape)
            args = [p if k in positional else a for k, a in enumerate(self.args)]
            kwargs = {k: (p if k in keyword else a) for k, a in self.kwargs.items()}
            return self._project(self.fn(*args, **kwargs))

        with torch.no_grad():  # custom autograd.Functions raise here before torch 2.0: plain, then
            return vmap(one)(values, idx).tolist()


def _serve(make):
    """Answer GradProof's requests until it says exit or closes stdin. A subject that could not
    be set up answers every request with the reason, so GradProof names it."""
    audit, setup_error = None, None
    try:
        audit = make()
    except Exception as exc:
        setup_error = {"message": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
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
            if method == "exit":
                _PROTOCOL_OUT.write(json.dumps({"id": req_id, "result": {}}) + "\n")
                _PROTOCOL_OUT.flush()
                return
            if setup_error is not None:
                response = {"id": req_id if isinstance(req_id, int) else -1, "error": setup_error}
            else:
                if method == "describe":
                    result = audit.describe()
                elif method == "cost":
                    result = {"cost": audit.cost(params.get("theta"))}
                elif method == "gradient":
                    result = {"gradient": audit.gradient(params.get("theta"))}
                elif method == "costs":
                    result = audit.costs(params["entries"])
                elif method == "costs_along":
                    result = {"costs": audit.costs_along(params["direction"], params["deltas"])}
                else:
                    raise ValueError(f"unknown method {method!r}")
                response = {"id": req_id, "result": result}
        except Exception as exc:  # reported to GradProof, which names the subject and the request
            response = {"id": req_id if isinstance(req_id, int) else -1,
                        "error": {"message": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}}
        _PROTOCOL_OUT.write(json.dumps(response) + "\n")
        _PROTOCOL_OUT.flush()


def serve_module(model, loss_fn, X, Y=None, *, dtype=torch.float64, train=False, seed=0, chain=None):
    """Serve an nn.Module's backward pass for auditing: cost = loss_fn(model(X), Y).

    Groups are the parameters that require grad, by their named_parameters() names and
    shapes. dtype: torch.float64 (default) or another floating dtype for a copy in it;
    None for the model's own. train: audit in train mode (random numbers replayed per
    evaluation, buffers restored). chain: the layers forward() runs, in order (names or
    submodules), if the model is not an nn.Sequential; a model may declare it instead as
    an attribute `gradproof_chain`. X may be a tuple of inputs; Y=None calls loss_fn(out).
    """
    _serve(lambda: _ModuleAudit(model, loss_fn, X, Y, _dtype(dtype), train, seed, chain))


def serve_function(fn, *inputs, names=None, dtype=torch.float64, seed=0, **keyword_inputs):
    """Serve a differentiable callable (e.g. MyFunction.apply) for auditing.

    Groups are the tensor inputs that require grad: positional ones named input0, input1, …
    (by position) unless `names` gives names, keyword ones by their keyword. A non-scalar
    output (or several) is reduced to a cost by a fixed random projection Σ output·R.
    """
    _serve(lambda: _FunctionAudit(fn, inputs, keyword_inputs, names, _dtype(dtype), seed))
