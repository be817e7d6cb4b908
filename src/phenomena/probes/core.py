"""The functional core shared by every probe that takes a model (and by ``phenomena.training.pruning``).

- ``ParamFilter`` and ``select_param_names`` / ``select_params``: which parameters ``params=`` selects.
- ``check_deterministic``: refuse a model whose output is random (or, per example, batch-coupled).
- ``as_batches`` and ``scalar_loss``: the data convention (one ``(inputs, targets)`` batch or a list of them,
  a mean loss per batch, the data set's loss their example-weighted mean).
- ``ParamSpace``: the flat-vector view of a set of parameters; ``group_by_module``.
- ``FunctionalModel``: a snapshot of a module as a pure function of its selected parameters, the one
  functional view used by the curvature operators, the landscape slices and the empirical NTK, so the user's
  module is never mutated.

The forms of ``params=`` (``ParamFilter``), everywhere a probe takes it:

- ``None``: every parameter with ``requires_grad=True``;
- a string: a parameter name (``"fc1.weight"``) or a module name (``"fc1"``: all parameters under it);
- an ``nn.Module`` that is part of the model (``model.fc1``): its parameters;
- a predicate ``f(name) -> bool`` on parameter names;
- an iterable of names, module names and modules (their union).

Only trainable parameters (``requires_grad=True``) are ever selected; the selection is always in
``model.named_parameters()`` order whatever the order of the iterable, and an entry that matches nothing is a
``UserError`` naming the trainable parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, grad
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

from phenomena.errors import UserError

ParamFilter: TypeAlias = None | str | nn.Module | Callable[[str], bool] | Iterable[str | nn.Module]
"""Which parameters a probe acts on: None (all trainable), a parameter or module name, a module of the model,
a predicate on parameter names, or an iterable of names and modules (see the module docstring)."""

_BATCH_ERROR = "batches must be an (inputs, targets) tuple with a tensor of inputs, or a list of such tuples"
_SHOWN = 20  # parameter names listed in an error message
# the layers whose weight is a matrix of a linear map (a conv kernel reshaped to out × rest): norms, permutations
WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


# --- parameter selection -----------------------------------------------------------------------------------


def select_param_names(model: nn.Module, params: ParamFilter = None) -> list[str]:
    """Names of the trainable parameters chosen by ``params`` (a ``ParamFilter``), in model order.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
        >>> select_param_names(net, "0")
        ['0.weight', '0.bias']
        >>> select_param_names(net, [net[2], "0.bias"])
        ['0.bias', '2.weight', '2.bias']
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    names = [n for n, _ in named]
    if not names:
        raise UserError("the model has no parameters with requires_grad=True.")
    if params is None:
        return names
    if callable(params) and not isinstance(params, nn.Module):
        chosen = {n for n in names if params(n)}
    else:
        entries = [params] if isinstance(params, str | nn.Module) else _entries(params)
        chosen, unknown = set(), []
        for entry in entries:
            hit = _match(model, named, entry)
            chosen.update(hit)
            if not hit:
                unknown.append(_describe(model, entry))
        if unknown:
            raise UserError(
                f"unknown or frozen parameter or module name(s) {', '.join(unknown)}; {_valid_choices(names)}."
            )
    if not chosen:
        raise UserError(f"the parameter selection is empty; {_valid_choices(names)}.")
    return [n for n in names if n in chosen]


def select_params(model: nn.Module, params: ParamFilter = None) -> dict[str, nn.Parameter]:
    """The trainable parameters chosen by ``params`` (a ``ParamFilter``), name -> parameter, in model order."""
    named = dict(model.named_parameters())
    return {n: named[n] for n in select_param_names(model, params)}


def _entries(params: Any) -> list:
    try:
        entries = list(params)
    except TypeError:
        raise UserError(
            "params must be None, a parameter or module name, a module of the model, a predicate on parameter "
            f"names, or an iterable of names and modules; got {type(params).__name__}."
        ) from None
    for entry in entries:
        if not isinstance(entry, str | nn.Module):
            raise UserError(
                f"params entries must be parameter names, module names or modules; got {type(entry).__name__}."
            )
    return entries


def _match(model: nn.Module, named: list[tuple[str, nn.Parameter]], entry: str | nn.Module) -> set[str]:
    """The trainable parameter names one entry selects: an exact name, a module prefix, or a module's own."""
    if isinstance(entry, str):
        return {n for n, _ in named if n == entry or n.startswith(entry + ".") or entry == ""}
    if not any(m is entry for m in model.modules()):
        return set()
    ids = {id(p) for p in entry.parameters()}
    return {n for n, p in named if id(p) in ids}


def _describe(model: nn.Module, entry: str | nn.Module) -> str:
    if isinstance(entry, str):
        return repr(entry)
    inside = any(m is entry for m in model.modules())
    return f"<{type(entry).__name__}{'' if inside else ', not a submodule of the model'}>"


def _valid_choices(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN]) + (", ..." if len(names) > _SHOWN else "")
    modules = sorted({n.rpartition(".")[0] for n in names} - {""})
    hint = f" (a module name such as {modules[0]!r} selects all its parameters)" if modules else ""
    return f"the model's trainable parameters are {shown}{hint}"


def group_by_module(names: Iterable[str]) -> dict[str, list[str]]:
    """Group parameter names by owning module (``"fc1.weight"`` -> ``"fc1"``; the root module is ``""``)."""
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(n.rpartition(".")[0], []).append(n)
    return groups


# --- model and data checks ---------------------------------------------------------------------------------


def check_deterministic(model: nn.Module, what: str = "this probe", *, per_example: bool = False) -> None:
    """Refuse a model whose output is random: dropout (p > 0) in training mode makes each call differ.

    With ``per_example=True`` (per-example quantities such as the empirical NTK), also refuse BatchNorm in
    training mode, which couples the examples of a batch (and updates the running statistics). Never switches
    the model's mode silently.
    """
    for name, mod in model.named_modules():
        if not mod.training:
            continue
        where = f"module {name!r} ({type(mod).__name__})" if name else f"the model ({type(mod).__name__})"
        if isinstance(mod, _DropoutNd) and mod.p > 0:
            raise UserError(
                f"{what} needs a deterministic model, but {where} is dropout in training mode, so its output is "
                "random; call model.eval() first (or set the dropout probability to 0)."
            )
        if per_example and isinstance(mod, _BatchNorm):
            raise UserError(
                f"{what} needs a deterministic per-example model, but {where} is BatchNorm in training mode, "
                "which couples the examples of a batch; call model.eval() first."
            )


def as_batches(batches: Any) -> list[tuple[Tensor, Any, int]]:
    """Normalize ``batches`` to a list of ``(inputs, targets, n)`` with ``n = len(inputs)``.

    ``batches`` is one ``(inputs, targets)`` pair (tuple or list) with a tensor of inputs, or an iterable of
    such pairs; every batch needs at least one example along dim 0.
    """
    if isinstance(batches, tuple | list) and len(batches) == 2 and isinstance(batches[0], Tensor):
        batches = [batches]
    try:
        items = list(batches)
    except TypeError:
        raise UserError(_BATCH_ERROR + f", got {type(batches).__name__}.") from None
    if not items:
        raise UserError("batches is empty; give at least one (inputs, targets) tuple.")
    out = []
    for item in items:
        if not (isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], Tensor)):
            raise UserError(_BATCH_ERROR + f"; one element is a {type(item).__name__}.")
        x, y = item
        if x.ndim == 0 or x.shape[0] == 0:
            raise UserError(
                f"every batch needs at least one example along dim 0; got inputs of shape {tuple(x.shape)}."
            )
        out.append((x, y, int(x.shape[0])))
    return out


def scalar_loss(loss_fn: Callable, outputs: Any, targets: Any, what: str = "loss_fn") -> Tensor:
    """Call ``loss_fn`` and check that it returned a scalar tensor (the mean over the batch)."""
    loss = loss_fn(outputs, targets)
    if not isinstance(loss, Tensor) or loss.ndim != 0:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise UserError(f"{what} must return a scalar tensor (the mean over the batch), got {shape}.")
    return loss


# --- the functional view -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamSpace:
    """The flat-vector view of a set of parameters: a dict of tensors <-> one 1-D tensor, ``names`` order."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @functools.cached_property  # the space is frozen; the products of iterative solvers split by it every step
    def numels(self) -> tuple[int, ...]:
        return tuple(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

    @functools.cached_property
    def dim(self) -> int:
        return sum(self.numels)

    def flatten(self, tensors: Mapping[str, Tensor]) -> Tensor:
        """Concatenate ``tensors[name]`` for every name, flattened, into one 1-D tensor."""
        missing = [n for n in self.names if n not in tensors]
        if missing:
            raise UserError(f"the parameter dict lacks {missing}; it needs exactly {list(self.names)}.")
        for n, s in zip(self.names, self.shapes, strict=True):
            if tuple(tensors[n].shape) != s:
                raise UserError(f"tensor {n!r} has shape {tuple(tensors[n].shape)}, expected {s}.")
        return torch.cat([tensors[n].reshape(-1) for n in self.names])

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        """Split a 1-D tensor of length ``dim`` back into parameter-shaped views."""
        if flat.ndim != 1 or flat.shape[0] != self.dim:
            raise UserError(f"expected a flat vector of length {self.dim}, got shape {tuple(flat.shape)}.")
        parts = torch.split(flat, list(self.numels))
        return {n: p.view(s) for n, p, s in zip(self.names, parts, self.shapes, strict=True)}


class FunctionalModel:
    """A snapshot of ``model`` as a pure function of its selected parameters (and of its float buffers).

    ``names`` are the selected parameters (e.g. from ``select_param_names``); ``theta`` holds copies of them,
    ``frozen`` the other parameters. Parameters and buffers are cloned, so neither training nor BatchNorm's
    running-stat updates touch the user's module. Float buffers of modules in training mode (``buffers``) are
    passed as explicit inputs to every ``torch.func`` transform because train-mode BatchNorm updates them in
    place, which torch.func forbids for captured tensors; those of modules in eval mode stay constants
    (``static``: eval-mode ``batch_norm`` refuses forward gradients on its running statistics, even zero ones);
    BatchNorm's ``num_batches_tracked`` is replaced by None (it only feeds the running averages, never the
    output, unless momentum is None).

    ``forward(theta, buffers, x)`` is the model with explicit parameters and buffers (the curvature products
    and landscape slices); ``batch_outputs(p, x)`` and ``example_output(p, x)`` are the model with any tensors
    ``p`` substituted into the snapshot and the outputs flattened per example (the per-example Jacobians of the
    empirical NTK, under ``vmap``).
    """

    def __init__(self, model: nn.Module, names: list[str]):
        params = dict(model.named_parameters())
        self.model = model
        self.names = names
        self.theta = {n: params[n].detach().clone() for n in names}
        self.frozen = {n: p.detach() for n, p in params.items() if n not in self.theta}
        dtypes = {t.dtype for t in self.theta.values()}
        if len(dtypes) > 1:
            raise UserError(f"the selected parameters mix dtypes {sorted(map(str, dtypes))}; select one dtype.")
        self.dtype = dtypes.pop()
        self.device = next(iter(self.theta.values())).device
        self.space = ParamSpace(tuple(names), tuple(tuple(t.shape) for t in self.theta.values()))
        counters = {
            f"{m}.num_batches_tracked" if m else "num_batches_tracked"
            for m, mod in model.named_modules()
            if isinstance(mod, _BatchNorm) and mod.momentum is not None
        }
        training = {m: mod.training for m, mod in model.named_modules()}
        self.buffers: dict[str, Tensor] = {}
        self.static: dict[str, Tensor | None] = {}
        for n, b in model.named_buffers():
            if n in counters:
                self.static[n] = None
            elif b.is_floating_point() and training.get(n.rpartition(".")[0], True):
                self.buffers[n] = b.detach().clone()
            else:
                self.static[n] = b.detach().clone()
        self.zero_buffers = {n: torch.zeros_like(b) for n, b in self.buffers.items()}

    def forward(self, theta: Mapping[str, Tensor], buffers: Mapping[str, Tensor], x: Tensor) -> Any:
        """The model on ``x`` with the selected parameters ``theta`` and the train-mode float ``buffers``."""
        return functional_call(self.model, {**self.frozen, **self.static, **buffers, **theta}, (x,))

    def batch_outputs(self, p: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """The model on the batch ``x`` as an (N, K) tensor, K = outputs per example flattened.

        ``p`` maps names to tensors used in place of the snapshot's (selected or not, parameters or not: a
        ``"layer.bias"`` of a bias-free Linear is added); every other tensor keeps its snapshot value.
        """
        out = functional_call(self.model, {**self.frozen, **self.static, **self.buffers, **self.theta, **p}, (x,))
        if not isinstance(out, Tensor) or out.ndim == 0 or out.shape[0] != x.shape[0]:
            raise UserError("the model must return one tensor whose first dimension is the batch size.")
        return out.reshape(x.shape[0], -1)

    def example_output(self, p: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """``batch_outputs`` for one example ``x`` without its batch dimension: a (K,) tensor (for vmap)."""
        return self.batch_outputs(p, x.unsqueeze(0))[0]


def flat_gradient(fm: FunctionalModel, loss_fn: Callable, x: Tensor, y: Any) -> Tensor:
    """The gradient of ``loss_fn`` on one batch at the snapshot's parameters, as a flat float64 vector."""

    def loss(theta: dict[str, Tensor]) -> Tensor:
        return scalar_loss(loss_fn, fm.forward(theta, fm.buffers, x), y)

    g = grad(loss)(fm.theta)
    return torch.cat([g[n].reshape(-1) for n in fm.names]).double()
