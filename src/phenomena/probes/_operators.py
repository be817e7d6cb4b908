"""Matrix-free curvature operators of a model's loss: Hessian and generalized Gauss-Newton products.

Shared by the Hessian and landscape probes: how data are given (one batch or a list of batches), which
parameters are selected, the flat-vector view of a parameter dict, and the products themselves, built with
``torch.func`` on a functional view of the model so the user's module is never mutated.

Conventions (the probe-wide ones): ``loss_fn(outputs, targets)`` is a mean over its batch; a dataset given as
several batches has the example-weighted mean loss, so every product below is the example-weighted mean of
the per-batch products.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp

from phenomena.errors import UserError

ParamFilter = None | str | Iterable[str] | Callable[[str], bool]

_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
# Hessian products reuse a retained double-backward graph per batch when the data are one batch or at most
# this many examples in all; the graphs of all batches stay alive together (roughly 2-3x the activation
# memory of one forward pass over the whole data set), so larger multi-batch data sets fall back to
# forward-over-reverse, which recomputes one batch's forward per product and holds one batch at a time.
CACHE_MAX_EXAMPLES = 4096
_BATCH_ERROR = "batches must be an (inputs, targets) tuple with a tensor of inputs, or a list of such tuples"


def as_batches(batches: Any) -> list[tuple[Tensor, Any, int]]:
    """Normalize ``batches`` to a list of ``(inputs, targets, n)`` with ``n = len(inputs)``."""
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


def select_param_names(model: nn.Module, params: ParamFilter = None) -> list[str]:
    """Names of the trainable parameters chosen by ``params``, in ``model.named_parameters()`` order.

    ``params`` is None (all parameters with ``requires_grad``), a module name such as ``"fc1"`` (the
    parameters under it, or a single parameter of that name), an iterable of parameter names, or a
    predicate on names.
    """
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if not names:
        raise UserError("the model has no parameters with requires_grad=True.")
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    if params is None:
        chosen = names
    elif isinstance(params, str):
        chosen = [n for n in names if n == params or n.startswith(params + ".")]
        if not chosen:
            raise UserError(
                f"params={params!r} names no parameter or module of the model; parameters are {shown}."
            )
    elif callable(params):
        chosen = [n for n in names if params(n)]
    else:
        wanted = list(params)
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise UserError(
                f"unknown parameter name(s) {unknown}; the model's trainable parameters are {shown}."
            )
        chosen = [n for n in names if n in set(wanted)]
    if not chosen:
        raise UserError(f"params selects no parameter; the model's trainable parameters are {shown}.")
    return chosen


def group_by_module(names: Iterable[str]) -> dict[str, list[str]]:
    """Group parameter names by owning module (``"fc1.weight"`` -> ``"fc1"``; the root module is ``""``)."""
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(n.rpartition(".")[0], []).append(n)
    return groups


def check_deterministic(model: nn.Module) -> None:
    """Refuse a model whose loss is random: dropout in training mode makes each product a different matrix."""
    for name, mod in model.named_modules():
        if isinstance(mod, _DROPOUTS) and mod.training and mod.p > 0:
            raise UserError(
                f"module {name or type(mod).__name__!r} is dropout in training mode, so the loss is random; "
                "call model.eval() first (or set the dropout probability to 0)."
            )


def scalar_loss(loss_fn: Callable, outputs: Any, targets: Any, what: str = "loss_fn") -> Tensor:
    """Call ``loss_fn`` and check that it returned a scalar tensor (the mean over the batch)."""
    loss = loss_fn(outputs, targets)
    if not isinstance(loss, Tensor) or loss.ndim != 0:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise UserError(f"{what} must return a scalar tensor (the mean over the batch), got {shape}.")
    return loss


@dataclass(frozen=True)
class ParamSpace:
    """The flat-vector view of a set of parameters: a dict of tensors <-> one 1-D tensor, ``names`` order."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @property
    def numels(self) -> tuple[int, ...]:
        return tuple(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

    @property
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

    Parameters and buffers are cloned, so neither training nor BatchNorm's running-stat updates touch the
    user's module. Float buffers of modules in training mode are passed as explicit inputs to every
    ``torch.func`` transform because train-mode BatchNorm updates them in place, which torch.func forbids for
    captured tensors; those of modules in eval mode stay constants (eval-mode ``batch_norm`` refuses forward
    gradients on its running statistics, even zero ones); BatchNorm's
    ``num_batches_tracked`` is replaced by None (it only feeds the running averages, never the output,
    unless momentum is None).
    """

    def __init__(self, model: nn.Module, names: list[str]):
        params = dict(model.named_parameters())
        self.model = model
        self.names = names
        self.theta = {n: params[n].detach().clone() for n in names}
        self.frozen = {n: p.detach() for n, p in params.items() if n not in self.theta}
        dtypes = {t.dtype for t in self.theta.values()}
        if len(dtypes) > 1:
            raise UserError(
                f"the selected parameters mix dtypes {sorted(map(str, dtypes))}; select one dtype."
            )
        self.dtype = dtypes.pop()
        self.device = next(iter(self.theta.values())).device
        self.space = ParamSpace(tuple(names), tuple(tuple(t.shape) for t in self.theta.values()))
        counters = {
            f"{m}.num_batches_tracked" if m else "num_batches_tracked"
            for m, mod in model.named_modules()
            if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.momentum is not None
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
        return functional_call(self.model, {**self.frozen, **self.static, **buffers, **theta}, (x,))

    def hvp(self, loss_fn: Callable, x: Tensor, y: Any, v: dict[str, Tensor]) -> dict[str, Tensor]:
        """H v for one batch, forward-over-reverse: the JVP of the gradient map."""
        yp, yt = _target_primal(y)

        def loss(theta, buffers, *target):
            return scalar_loss(loss_fn, self.forward(theta, buffers, x), target[0] if target else y)

        return jvp(grad(loss), (self.theta, self.buffers, *yp), (v, self.zero_buffers, *yt))[1]

    def gradient_graph(self, loss_fn: Callable, x: Tensor, y: Any) -> _GradientGraph:
        """The gradient of one batch's loss at ``theta``, built with ``create_graph=True`` for reuse.

        Runs on fresh leaf copies of ``theta`` and of the buffers (train-mode BatchNorm updates its running
        statistics in place, and those copies absorb it); plain reverse mode needs no target tangent, so the
        MSE ZeroTensor issue of ``_target_primal`` does not arise here.
        """
        theta = {n: t.detach().clone().requires_grad_(True) for n, t in self.theta.items()}
        buffers = {n: b.clone() for n, b in self.buffers.items()}
        with torch.enable_grad():
            loss = scalar_loss(loss_fn, self.forward(theta, buffers, x), y)
            leaves = list(theta.values())
            grads = torch.autograd.grad(loss, leaves, create_graph=True, allow_unused=True)
        # A gradient that is constant in theta (an unused or purely linear parameter) has no graph: its
        # Hessian rows are zero, so it is left out of the double backward.
        live = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
        return _GradientGraph(leaves, [grads[i] for i in live], live)

    def ggn_vp(self, loss_fn: Callable, x: Tensor, y: Any, v: dict[str, Tensor]) -> dict[str, Tensor]:
        """G v = J^T H_out J v for one batch: a JVP of the network, an HVP of the loss in output space, and
        J^T w as the gradient of <net, w> (``torch.func.vjp`` would make train-mode BatchNorm's running
        statistics differentiable inputs, which batch_norm refuses)."""
        yp, yt = _target_primal(y)

        def net(theta, buffers):
            return self.forward(theta, buffers, x)

        def loss(out, *target):
            return scalar_loss(loss_fn, out, target[0] if target else y)

        out, jv = jvp(net, (self.theta, self.buffers), (v, self.zero_buffers))
        _, h_jv = jvp(grad(loss), (out, *yp), (jv, *yt))
        return grad(lambda theta, buffers: torch.sum(net(theta, buffers) * h_jv))(self.theta, self.buffers)


class _GradientGraph:
    """One batch's gradient ``g(theta)`` with its autograd graph kept, so ``H v`` is one backward of
    ``<g, v>`` (reverse-over-reverse, PyHessian's scheme) instead of a new forward and JVP per product."""

    def __init__(self, leaves: list[Tensor], grads: list[Tensor], live: list[int]):
        self.leaves, self.grads, self.live = leaves, grads, live

    def hvp(self, v: list[Tensor]) -> list[Tensor]:
        """``H v`` for a list of tensors in ``leaves`` order; the graph is retained for the next product."""
        if not self.grads:
            return [torch.zeros_like(t) for t in self.leaves]
        with torch.enable_grad():
            hv = torch.autograd.grad(
                self.grads, self.leaves, grad_outputs=[v[i] for i in self.live],
                retain_graph=True, allow_unused=True,
            )
        return [torch.zeros_like(t) if h is None else h.detach() for t, h in zip(self.leaves, hv, strict=True)]


def _target_primal(y: Any) -> tuple[tuple, tuple]:
    """A floating-point target as an extra primal with a materialized zero tangent (else nothing).

    Without it, forward-over-reverse through ``F.mse_loss(reduction="mean")`` fails with "ZeroTensors are
    immutable" (pytorch/pytorch#123996: the target's implicit zero tangent is mutated in place).
    """
    if isinstance(y, Tensor) and y.is_floating_point():
        return (y,), (torch.zeros_like(y),)
    return (), ()


class CurvatureOperator(LinearOperator):
    """The dataset Hessian (or GGN) of the loss as a symmetric SciPy ``LinearOperator`` on float64 vectors.

    ``op @ x`` takes and returns float64 NumPy vectors (the model may be float32; products run in the model's
    dtype and device). ``op.apply(v)`` does the same on flat torch tensors, ``op.space`` converts between
    parameter dicts and flat vectors, and ``op.n_products`` counts the products made so far. ``cache_graph``
    (Hessian only) keeps each batch's double-backward graph for reuse: None chooses it for a single batch or
    at most ``CACHE_MAX_EXAMPLES`` examples, True/False force it (see ``hessian_operator``).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable,
        batches: Any,
        params: ParamFilter = None,
        kind: str = "hessian",
        cache_graph: bool | None = None,
    ):
        if kind not in ("hessian", "ggn"):
            raise UserError(f"unknown curvature {kind!r}; choose 'hessian' or 'ggn'.")
        if cache_graph not in (None, True, False):
            raise UserError(f"cache_graph must be None (automatic), True or False, got {cache_graph!r}.")
        check_deterministic(model)
        self.kind = kind
        self.loss_fn = loss_fn
        self.batches = as_batches(batches)
        self.n_examples = sum(n for _, _, n in self.batches)
        self.fmodel = FunctionalModel(model, select_param_names(model, params))
        self.space = self.fmodel.space
        self.n_products = 0
        if cache_graph is None:
            cache_graph = len(self.batches) == 1 or self.n_examples <= CACHE_MAX_EXAMPLES
        # Only Hessian products reuse a graph; GGN products keep their JVP-based form.
        self.cache_graph = bool(cache_graph) and kind == "hessian"
        self._graphs: list[_GradientGraph] | None = None
        super().__init__(dtype=np.float64, shape=(self.space.dim, self.space.dim))

    def apply(self, v: Tensor) -> Tensor:
        """The product with a flat torch vector; returns a flat tensor in the model's dtype and device."""
        v = v.to(dtype=self.fmodel.dtype, device=self.fmodel.device)
        vd = self.space.unflatten(v)
        total = torch.zeros_like(v)
        if self.cache_graph:
            if self._graphs is None:  # built lazily: an operator that is never applied costs nothing
                self._graphs = [self.fmodel.gradient_graph(self.loss_fn, x, y) for x, y, _ in self.batches]
            vs = [vd[name] for name in self.space.names]
            for graph, (_, _, n) in zip(self._graphs, self.batches, strict=True):
                total += (n / self.n_examples) * torch.cat([h.reshape(-1) for h in graph.hvp(vs)])
        else:
            product = self.fmodel.hvp if self.kind == "hessian" else self.fmodel.ggn_vp
            for x, y, n in self.batches:
                total += (n / self.n_examples) * self.space.flatten(product(self.loss_fn, x, y, vd))
        self.n_products += 1
        return total

    def apply_params(self, v: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The product with a parameter-shaped dict; returns a dict of the same shapes."""
        return self.space.unflatten(self.apply(self.space.flatten(v)))

    def to_dense(self) -> Tensor:
        """The full matrix, float64, from one product per parameter (only for small parameter counts)."""
        eye = torch.eye(self.space.dim, dtype=torch.float64)
        cols = [self.apply(e).to(torch.float64).cpu() for e in eye]
        return torch.stack(cols, dim=1)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1))
        return self.apply(v).detach().to(device="cpu", dtype=torch.float64).numpy()

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._matvec(x)

    def _adjoint(self) -> CurvatureOperator:
        return self


def hessian_operator(
    model: nn.Module, loss_fn: Callable, batches: Any, params: ParamFilter = None
) -> CurvatureOperator:
    """The Hessian of the dataset loss with respect to the selected parameters, matrix-free.

    Products are the example-weighted mean over ``batches``. When the data are a single batch or at most
    ``CACHE_MAX_EXAMPLES`` examples, each batch's gradient graph is built once (``create_graph=True``, on the
    operator's parameter copies) and every product is one backward pass through it (reverse-over-reverse, as
    in PyHessian); larger multi-batch data sets use forward-over-reverse (``torch.func.jvp`` of
    ``torch.func.grad`` through ``functional_call``), which holds one batch's graph at a time. The operator
    snapshots the parameters when it is built.

    Args:
        model: any ``nn.Module`` mapping inputs to outputs; evaluated in its current train/eval mode.
        loss_fn: ``loss_fn(outputs, targets) -> scalar``, a mean over the batch.
        batches: an ``(inputs, targets)`` tuple or a list of them.
        params: None, a module name, an iterable of parameter names, or a predicate on names.

    Returns:
        A ``CurvatureOperator`` (a SciPy ``LinearOperator`` on float64 vectors).

    Example:
        >>> H = hessian_operator(model, F.cross_entropy, (x, y))
        >>> scipy.sparse.linalg.eigsh(H, k=3, which="LA")
    """
    return CurvatureOperator(model, loss_fn, batches, params, kind="hessian")


def ggn_operator(
    model: nn.Module, loss_fn: Callable, batches: Any, params: ParamFilter = None
) -> CurvatureOperator:
    """The generalized Gauss-Newton matrix ``G = J^T H_out J`` (Schraudolph 2002), matrix-free.

    ``J`` is the Jacobian of the model outputs with respect to the selected parameters and ``H_out`` the
    Hessian of ``loss_fn`` with respect to the outputs, both from ``torch.func``; any loss works, and ``G`` is
    positive semi-definite whenever the loss is convex in the outputs (MSE, cross-entropy). Under MSE with
    ``loss = mean_i ||f(x_i) - y_i||^2 / 2``, ``G = J^T J / N`` shares its nonzero eigenvalues with the
    empirical NTK divided by N. Arguments as in ``hessian_operator``.

    Example:
        >>> G = ggn_operator(model, F.cross_entropy, [(x1, y1), (x2, y2)])
        >>> G @ np.ones(G.shape[0])
    """
    return CurvatureOperator(model, loss_fn, batches, params, kind="ggn")


def hessian_vector_product(
    model: nn.Module,
    loss_fn: Callable,
    batches: Any,
    vector: Mapping[str, Tensor],
    params: ParamFilter = None,
) -> dict[str, Tensor]:
    """``H v`` for a parameter-shaped ``vector`` (a dict name -> tensor over the selected parameters).

    Example:
        >>> v = {n: torch.randn_like(p) for n, p in model.named_parameters()}
        >>> hv = hessian_vector_product(model, F.cross_entropy, (x, y), v)
    """
    return hessian_operator(model, loss_fn, batches, params).apply_params(vector)
