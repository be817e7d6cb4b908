"""Permutation symmetry: align model_b's hidden units to model_a's (Ainsworth, Hayase & Srinivasa 2023, "Git
Re-Basin"), by weight matching or by activation matching.

Supported architectures, derived from the module graph: the leaf modules of ``named_modules()`` are read in
registration order and must be applied in that order, each once, as a chain (``nn.Sequential`` or a module
whose ``forward`` calls its children in order): ``nn.Linear`` (and subclasses such as ``ScaledLinear``),
``nn.Conv1d/2d/3d`` (groups=1), ``nn.BatchNorm1d/2d/3d``, element-wise activations (``phenomena``'s
``Activation``, ``nn.ReLU``, ``nn.Tanh``, ...), per-channel pooling, dropout, identity, and one ``nn.Flatten``
between the convolutions and the first Linear (channel-major, so the Linear's input is viewed as (C, H·W)).
Each hidden layer's output units (channels) form one permutation group, applied to the layer's weight and
bias (axis 0), the following BatchNorm's parameters and running statistics, and the next layer's weight (axis
1). The input and the output layer's units are never permuted. Residual connections, LayerNorm, attention,
grouped convolutions and functional operations between modules are not supported: parameterised modules of
other kinds raise ``UserError``; the rest is caught by checking that the permuted model computes model_b's
function on a random input (automatic when the first layer is a Linear; pass ``example_input`` otherwise).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from phenomena.errors import UserError
from phenomena.models.layers import Activation, TokenLinear
from phenomena.probes.core import WEIGHT_LAYERS, as_batches

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_PASS = (
    Activation,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.Hardtanh,
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)


@dataclasses.dataclass(frozen=True)
class PermutationGroup:
    """The hidden units produced by module ``name``: ``size`` units, permuted along ``axes``, a tuple of
    (state-dict key, axis, view shape or None); ``feature`` is the module whose output carries the units on
    dim 1 (the last one before the next weight layer), where activation matching reads them."""

    name: str
    size: int
    axes: tuple[tuple[str, int, tuple[int, ...] | None], ...]
    feature: str


@dataclasses.dataclass
class Matching:
    """A permuted copy of model_b aligned to model_a.

    ``permutations[group]``: int64 tensor ``p``; unit i of the aligned model is unit ``p[i]`` of model_b.
    ``objective``: weight matching: ``Σ <θ_a, π(θ_b)>`` over the permuted parameters; activation matching: the
    sum over groups of the matched units' correlations. ``iterations``: coordinate-descent sweeps (1 for
    activation matching).
    """

    model: nn.Module
    permutations: dict[str, Tensor]
    objective: float
    iterations: int
    method: str


def permutation_spec(model: nn.Module) -> list[PermutationGroup]:
    """The permutation groups of a chain of supported modules (module docstring); UserError otherwise.

    Example:
        >>> [g.name for g in permutation_spec(MLP(40, 10, width=64, depth=2))]   # ['layers.0', 'layers.2']
    """
    groups: list[PermutationGroup] = []
    cur: dict | None = None
    for name, mod in model.named_modules():
        own = [n for n, _ in (*mod.named_parameters(recurse=False), *mod.named_buffers(recurse=False))]
        if next(mod.children(), None) is not None:
            if own:
                raise UserError(f"module {name!r} has children and its own tensors {own}; not supported.")
            continue
        if isinstance(mod, WEIGHT_LAYERS):
            _check_weight_layer(name, mod, own)
            if cur is not None:
                groups.append(_close(cur, name, mod))
            out = mod.out_features if isinstance(mod, nn.Linear) else mod.out_channels
            axes = [(f"{name}.{t}", 0, None) for t in ("weight", "bias") if getattr(mod, t) is not None]
            kind = "linear" if isinstance(mod, nn.Linear) else "conv"
            cur = dict(name=name, size=out, axes=axes, feature=name, kind=kind, flat=False, blocker=None)
        elif isinstance(mod, _NORMS):
            if cur is None:
                continue  # normalizes the input, whose features are never permuted
            _unblocked(cur, name)
            if mod.num_features != cur["size"]:
                raise UserError(f"{name!r} has {mod.num_features} features after {cur['size']} units.")
            cur["axes"] += [(f"{name}.{t}", 0, None) for t in own if t != "num_batches_tracked"]
            cur["feature"] = name
        elif isinstance(mod, _PASS):
            if cur is not None and not cur["flat"]:
                cur["feature"] = name
        elif isinstance(mod, nn.Flatten):
            if cur is not None and cur["kind"] == "conv":
                if mod.start_dim != 1 or mod.end_dim != -1:
                    raise UserError(f"Flatten {name!r} must flatten dims 1..-1 to be supported.")
                cur["flat"] = True
        elif own:
            raise UserError(
                f"module {name!r} ({type(mod).__name__}) is not supported by permutation matching; "
                "supported: Linear, Conv1d/2d/3d, BatchNorm, element-wise activations, pooling, Flatten, "
                "dropout."
            )
        elif cur is not None:
            cur["blocker"] = f"{name!r} ({type(mod).__name__})"  # an error only if another layer follows
    if not groups:
        raise UserError("the model has no hidden layer (two weight layers or more) whose units could be permuted.")
    return groups


def permute(model: nn.Module, permutations: Mapping[str, Tensor]) -> nn.Module:
    """A copy of ``model`` with each group's units reordered: unit i of the copy is the model's unit ``p[i]``.

    The copy computes the same function (up to floating-point summation order). Groups not named are left.

    Example:
        >>> twin = permute(model, random_permutation(model, torch.Generator().manual_seed(0)))
    """
    spec = {g.name: g for g in permutation_spec(model)}
    for name, p in permutations.items():
        if name not in spec:
            raise UserError(f"unknown permutation group {name!r}; the model's groups are {list(spec)}.")
        if sorted(torch.as_tensor(p).tolist()) != list(range(spec[name].size)):
            raise UserError(f"permutation of {name!r} must reorder 0..{spec[name].size - 1}.")
    state = _permuted(model.state_dict(), [spec[n] for n in permutations], permutations)
    out = copy.deepcopy(model)
    out.load_state_dict(state)
    return out


def random_permutation(model: nn.Module, generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """A uniformly random permutation of every group's units, drawn from ``generator``."""
    return {g.name: torch.randperm(g.size, generator=generator) for g in permutation_spec(model)}


def weight_matching(
    model_a: nn.Module,
    model_b: nn.Module,
    *,
    max_iter: int = 100,
    generator: torch.Generator | None = None,
    example_input: Tensor | None = None,
) -> Matching:
    """Permute model_b's hidden units to maximize ``Σ_params <θ_a, π(θ_b)>`` (Ainsworth et al. 2023, Alg. 1).

    Coordinate descent from the identity: each sweep visits the groups in a random order (from ``generator``)
    and sets group ℓ's permutation to the solution of the linear assignment problem
    ``max_P Σ_{(w, axis) ∋ ℓ} <W_a, P W̃_b>``, ``W̃_b`` with the other groups' current permutations applied,
    solved exactly by ``scipy.optimize.linear_sum_assignment``; it stops after a sweep that improves nothing
    (or ``max_iter`` sweeps). Only parameters enter the objective (BatchNorm running statistics are permuted
    but not matched), as git-re-basin does; raw stored parameters are compared, in float64.

    Returns:
        A :class:`Matching`; ``.model`` computes exactly model_b's function.

    Example:
        >>> m = weight_matching(net_a, net_b)
        >>> interpolation_barrier(net_a, m.model, F.cross_entropy, (x, y)).barrier
    """
    spec = _common_spec(model_a, model_b)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    params = {n for n, _ in model_a.named_parameters()}
    a = {k: v.detach().double() for k, v in model_a.state_dict().items()}
    b = {k: v.detach().double() for k, v in model_b.state_dict().items()}
    touching: dict[str, list[PermutationGroup]] = {}
    for g in spec:
        for key, _, _ in g.axes:
            touching.setdefault(key, []).append(g)
    perms = {g.name: torch.arange(g.size) for g in spec}
    sweeps = 0
    for sweeps in range(1, max_iter + 1):  # noqa: B007 (sweeps is reported)
        progress = False
        for i in torch.randperm(len(spec), generator=generator).tolist():
            g = spec[i]
            cost = torch.zeros(g.size, g.size, dtype=torch.float64)
            for key, axis, view in g.axes:
                if key not in params:
                    continue
                others = [o for o in touching[key] if o is not g]
                wb = _permuted({key: b[key]}, others, perms)[key]
                cost += _unit_rows(a[key], axis, view) @ _unit_rows(wb, axis, view).T
            _, ci = linear_sum_assignment(cost.numpy(), maximize=True)
            rows = np.arange(g.size)
            old, new = cost.numpy()[rows, perms[g.name].numpy()].sum(), cost.numpy()[rows, ci].sum()
            if new > old + 1e-12 * max(1.0, abs(old)):
                progress = True
                perms[g.name] = torch.as_tensor(ci, dtype=torch.int64)
        if not progress:
            break
    pb = _permuted(b, spec, perms)
    objective = float(sum((a[k] * pb[k]).sum() for k in touching if k in params))
    return _finish(model_a, model_b, spec, perms, objective, sweeps, "weight", example_input)


def activation_matching(
    model_a: nn.Module, model_b: nn.Module, batches: Any, *, example_input: Tensor | None = None
) -> Matching:
    """Permute model_b's hidden units to maximize the summed correlation of matched units' activations.

    For each group, the activations at its ``feature`` module (after the activation function; channels of a
    convolution pool over positions) are collected on the inputs of ``batches`` for both models (eval-mode
    copies, no gradients), the Pearson correlation matrix between model_a's and model_b's units is formed
    (a constant unit correlates 0), and one linear assignment maximizes its matched sum (Ainsworth et al.
    2023's activation matching, with correlation as Li et al. 2016's "convergent learning"). Groups are
    matched independently: permuting other layers does not change a layer's activations.

    Example:
        >>> m = activation_matching(net_a, net_b, [(x[i:i + 500], y[i:i + 500]) for i in range(0, 5000, 500)])
    """
    spec = _common_spec(model_a, model_b)
    sums = _activation_sums(model_a, model_b, spec, as_batches(batches))
    perms, objective = {}, 0.0
    for g in spec:
        sa, qa, sb, qb, cross, n = sums[g.name]
        ma, mb = sa / n, sb / n
        cov = cross / n - torch.outer(ma, mb)
        denom = torch.outer((qa / n - ma**2).clamp_min(0).sqrt(), (qb / n - mb**2).clamp_min(0).sqrt())
        ok = denom > 1e-12 * max(float(denom.max()), 1e-300)
        corr = torch.where(ok, cov / torch.where(ok, denom, 1.0), 0.0).numpy()
        ri, ci = linear_sum_assignment(corr, maximize=True)
        perms[g.name] = torch.as_tensor(ci, dtype=torch.int64)
        objective += float(corr[ri, ci].sum())
    return _finish(model_a, model_b, spec, perms, objective, 1, "activation", example_input)


def _activation_sums(model_a: nn.Module, model_b: nn.Module, spec: list, data: list) -> dict:
    """Per group: Σa, Σa², Σb, Σb², Σ a bᵀ and the count, over examples (and positions, for channels)."""
    acts: list[dict[str, Tensor]] = [{}, {}]
    hooks, nets = [], [copy.deepcopy(m).eval() for m in (model_a, model_b)]
    for net, store in zip(nets, acts, strict=True):
        modules = dict(net.named_modules())
        for g in spec:
            hook = _store_output(store, g.name, g.size)
            hooks.append(modules[g.feature].register_forward_hook(hook))
    sums: dict[str, list] = {g.name: [0.0, 0.0, 0.0, 0.0, 0.0, 0] for g in spec}
    with torch.no_grad():
        for x, _, _ in data:
            nets[0](x)
            nets[1](x)
            for g in spec:
                ha, hb, s = acts[0][g.name], acts[1][g.name], sums[g.name]
                s[0], s[1] = s[0] + ha.sum(0), s[1] + (ha**2).sum(0)
                s[2], s[3] = s[2] + hb.sum(0), s[3] + (hb**2).sum(0)
                s[4], s[5] = s[4] + ha.T @ hb, s[5] + len(ha)
    for h in hooks:
        h.remove()
    return sums


def _store_output(store: dict, name: str, size: int):
    def hook(_module, _inputs, out):
        store[name] = out.detach().double().movedim(1, -1).reshape(-1, size)

    return hook


def _finish(model_a, model_b, spec, perms, objective, sweeps, method, example_input) -> Matching:
    aligned = copy.deepcopy(model_b)
    aligned.load_state_dict(_permuted(model_b.state_dict(), spec, perms))
    x = example_input if example_input is not None else _example_input(model_b)
    # a random permutation too: found permutations may be the identity, which would prove nothing
    shuffled = copy.deepcopy(model_b)
    g = torch.Generator().manual_seed(0)
    shuffled.load_state_dict(
        _permuted(model_b.state_dict(), spec, {s.name: torch.randperm(s.size, generator=g) for s in spec})
    )
    if x is not None and not (_same_function(model_b, aligned, x) and _same_function(model_b, shuffled, x)):
        raise UserError(
            "a permuted model does not compute model_b's function, so the model is not a chain of "
            "supported modules applied in registration order (residual connections, reused modules or "
            "functional operations in forward are not supported)."
        )
    return Matching(aligned, perms, objective, sweeps, method)


def _same_function(model: nn.Module, other: nn.Module, x: Tensor) -> bool:
    with torch.no_grad():
        want, got = copy.deepcopy(model).eval()(x), copy.deepcopy(other).eval()(x)
    scale = float(want.abs().max()) if want.numel() else 1.0
    return want.shape == got.shape and torch.allclose(got, want, rtol=1e-4, atol=1e-4 * max(scale, 1e-6))


def _example_input(model: nn.Module) -> Tensor | None:
    first = next((m for m in model.modules() if isinstance(m, WEIGHT_LAYERS)), None)
    if not isinstance(first, nn.Linear):
        return None  # convolutions: the spatial size is unknown without example_input
    g = torch.Generator().manual_seed(0)
    if isinstance(first, TokenLinear):
        return torch.randint(0, first.vocab, (4, first.tokens), generator=g)
    return torch.randn(4, first.in_features, generator=g).to(first.weight.dtype)


def _common_spec(model_a: nn.Module, model_b: nn.Module) -> list[PermutationGroup]:
    sa, sb = model_a.state_dict(), model_b.state_dict()
    if sa.keys() != sb.keys() or any(sa[k].shape != sb[k].shape for k in sa):
        raise UserError("model_a and model_b differ in architecture (state dict names or shapes differ).")
    return permutation_spec(model_a)


def _permuted(state: Mapping[str, Tensor], groups, perms: Mapping[str, Tensor]) -> dict[str, Tensor]:
    out = dict(state)
    for g in groups:
        p = torch.as_tensor(perms[g.name], dtype=torch.int64)
        for key, axis, view in g.axes:
            if key in out:
                t = out[key]
                v = t.reshape(view) if view is not None else t
                out[key] = v.index_select(axis, p.to(t.device)).reshape(t.shape)
    return out


def _unit_rows(t: Tensor, axis: int, view: tuple[int, ...] | None) -> Tensor:
    v = t.reshape(view) if view is not None else t
    return v.movedim(axis, 0).reshape(v.shape[axis], -1)


def _check_weight_layer(name: str, mod: nn.Module, own: list[str]) -> None:
    if set(own) - {"weight", "bias"}:
        raise UserError(f"layer {name!r} has tensors {own} beyond weight and bias; not supported.")
    if not isinstance(mod, nn.Linear) and mod.groups != 1:
        raise UserError(f"convolution {name!r} has groups={mod.groups}; only groups=1 is supported.")


def _unblocked(cur: dict, name: str) -> None:
    if cur["blocker"]:
        raise UserError(
            f"module {cur['blocker']} sits between {cur['name']!r} and {name!r}; only element-wise "
            "activations, pooling, dropout, Flatten and BatchNorm may."
        )


def _close(cur: dict, name: str, mod: nn.Module) -> PermutationGroup:
    _unblocked(cur, name)
    linear = isinstance(mod, nn.Linear)
    fan_in = mod.in_features if linear else mod.in_channels
    view = None
    if linear and cur["kind"] == "conv":
        if not cur["flat"] or fan_in % cur["size"]:
            raise UserError(f"{name!r} must follow a Flatten of {cur['name']!r}'s {cur['size']} channels.")
        view = (mod.out_features, cur["size"], fan_in // cur["size"])
    elif not linear and cur["kind"] == "linear":
        raise UserError(f"convolution {name!r} after Linear {cur['name']!r} is not supported.")
    elif fan_in != cur["size"]:
        raise UserError(f"{name!r} takes {fan_in} inputs but {cur['name']!r} gives {cur['size']}.")
    axes = (*cur["axes"], (f"{name}.weight", 1, view))
    return PermutationGroup(cur["name"], cur["size"], axes, cur["feature"])
