"""Matrix-free curvature operators of a model's loss: Hessian and generalized Gauss-Newton products.

Used by the Hessian probes; the data, parameter-selection and functional-model conventions come from
``phenomena.probes.core``. Products are built with ``torch.func`` (or a retained double-backward graph) on a
``FunctionalModel`` snapshot, so the user's module is never mutated.

Conventions (the probe-wide ones): ``loss_fn(outputs, targets)`` is a mean over its batch; a dataset given as
several batches has the example-weighted mean loss, so every product below is the example-weighted mean of
the per-batch products.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import Tensor, nn
from torch.func import grad, jvp

from phenomena.errors import UserError
from phenomena.probes.core import (
    FunctionalModel,
    ParamFilter,
    as_batches,
    check_deterministic,
    scalar_loss,
    select_param_names,
)

# Hessian products reuse a retained double-backward graph per batch when the data are one batch or at most
# this many examples in all; the graphs of all batches stay alive together (roughly 2-3x the activation
# memory of one forward pass over the whole data set), so larger multi-batch data sets fall back to
# forward-over-reverse, which recomputes one batch's forward per product and holds one batch at a time.
CACHE_MAX_EXAMPLES = 4096


def _hvp(fmodel: FunctionalModel, loss_fn: Callable, x: Tensor, y: Any, v: dict[str, Tensor]) -> dict[str, Tensor]:
    """H v for one batch, forward-over-reverse: the JVP of the gradient map."""
    yp, yt = _target_primal(y)

    def loss(theta, buffers, *target):
        return scalar_loss(loss_fn, fmodel.forward(theta, buffers, x), target[0] if target else y)

    return jvp(grad(loss), (fmodel.theta, fmodel.buffers, *yp), (v, fmodel.zero_buffers, *yt))[1]


def _batch_loss(theta: dict[str, Tensor], fmodel: FunctionalModel, loss_fn: Callable, x: Tensor, y: Any) -> Tensor:
    """One batch's loss at ``theta``, on copies of the buffers (train-mode BatchNorm updates them in place)."""
    buffers = {n: b.clone() for n, b in fmodel.buffers.items()}
    return scalar_loss(loss_fn, fmodel.forward(theta, buffers, x), y)


def _gradient_graph(fmodel: FunctionalModel, loss_fn: Callable, x: Tensor, y: Any) -> _GradientGraph:
    """The gradient of one batch's loss at ``theta``, built with ``create_graph=True`` for reuse.

    Runs on fresh leaf copies of ``theta`` and of the buffers (train-mode BatchNorm updates its running
    statistics in place, and those copies absorb it); plain reverse mode needs no target tangent, so the
    MSE ZeroTensor issue of ``_target_primal`` does not arise here.
    """
    theta = {n: t.detach().clone().requires_grad_(True) for n, t in fmodel.theta.items()}
    buffers = {n: b.clone() for n, b in fmodel.buffers.items()}
    with torch.enable_grad():
        loss = scalar_loss(loss_fn, fmodel.forward(theta, buffers, x), y)
        leaves = list(theta.values())
        grads = torch.autograd.grad(loss, leaves, create_graph=True, allow_unused=True)
        # A gradient that is constant in theta (an unused or purely linear parameter) has no graph: its
        # Hessian rows are zero, so it is left out of the double backward.
        live = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
        # one flat output: a product is then one backward from one vector, with no per-leaf split and checks
        flat = torch.cat([grads[i].reshape(-1) for i in live]) if live else None
    values = [torch.zeros_like(t) if g is None else g.detach() for t, g in zip(leaves, grads, strict=True)]
    return _GradientGraph(leaves, flat, live, values)


def _ggn_vp(fmodel: FunctionalModel, loss_fn: Callable, x: Tensor, y: Any, v: dict[str, Tensor]) -> dict[str, Tensor]:
    """G v = J^T H_out J v for one batch: a JVP of the network, an HVP of the loss in output space, and
    J^T w as the gradient of <net, w> (``torch.func.vjp`` would make train-mode BatchNorm's running
    statistics differentiable inputs, which batch_norm refuses)."""
    yp, yt = _target_primal(y)

    def net(theta, buffers):
        return fmodel.forward(theta, buffers, x)

    def loss(out, *target):
        return scalar_loss(loss_fn, out, target[0] if target else y)

    out, jv = jvp(net, (fmodel.theta, fmodel.buffers), (v, fmodel.zero_buffers))
    _, h_jv = jvp(grad(loss), (out, *yp), (jv, *yt))
    return grad(lambda theta, buffers: torch.sum(net(theta, buffers) * h_jv))(fmodel.theta, fmodel.buffers)


class _GradientGraph:
    """One batch's gradient ``g(theta)`` with its autograd graph kept, so ``H v`` is one backward of
    ``<g, v>`` (reverse-over-reverse, PyHessian's scheme) instead of a new forward and JVP per product."""

    def __init__(self, leaves: list[Tensor], flat: Tensor | None, live: list[int], values: list[Tensor]):
        # flat: the gradients of the leaves in ``live`` (those with a graph), concatenated, with their graph
        self.leaves, self.flat, self.live = leaves, flat, live
        self.values = values  # the gradient itself, detached, per leaf
        # where the live leaves sit in a flat vector over all of them (None: all are live, v is taken whole)
        self._live_index = None
        if len(live) < len(leaves):
            starts = [0, *itertools.accumulate(t.numel() for t in leaves)]
            self._live_index = torch.cat([torch.arange(starts[i], starts[i + 1]) for i in live])

    def hvp(self, v: Tensor) -> Tensor:
        """``H v`` for a flat vector over ``leaves`` (their order), flat; the graph is retained for the next
        product."""
        if self.flat is None:
            return torch.zeros_like(v)
        with torch.enable_grad():
            hv = torch.autograd.grad(
                self.flat,
                self.leaves,
                grad_outputs=v if self._live_index is None else v[self._live_index],
                retain_graph=True,
                allow_unused=True,
            )
        parts = [torch.zeros_like(t) if h is None else h for t, h in zip(self.leaves, hv, strict=True)]
        return torch.cat([p.reshape(-1) for p in parts])


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
        check_deterministic(model, "the curvature operator")
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
        if self.cache_graph:  # the graphs' leaves are in the space's order
            products = (graph.hvp(v) for graph in self._cached_graphs())
        else:
            vd = self.space.unflatten(v)
            product = _hvp if self.kind == "hessian" else _ggn_vp
            products = (self.space.flatten(product(self.fmodel, self.loss_fn, x, y, vd)) for x, y, _ in self.batches)
        self.n_products += 1
        if len(self.batches) == 1:  # one batch is the whole mean: no weighting (a tiny model's product is overhead)
            return next(products)
        total = torch.zeros_like(v)
        for part, (_, _, n) in zip(products, self.batches, strict=True):  # one batch's product held at a time
            total += (n / self.n_examples) * part
        return total

    def _cached_graphs(self) -> list[_GradientGraph]:
        if self._graphs is None:  # built lazily: an operator that is never applied costs nothing
            self._graphs = [_gradient_graph(self.fmodel, self.loss_fn, x, y) for x, y, _ in self.batches]
        return self._graphs

    def gradient(self) -> Tensor:
        """The flat gradient of the loss (the example-weighted mean over batches) at the operator's parameters,
        in the model's dtype and device. Free when the Hessian's gradient graphs are cached (they hold it), else
        one backward pass per batch; it is not counted in ``n_products``."""
        if self.cache_graph:
            parts = [torch.cat([g.reshape(-1) for g in graph.values]) for graph in self._cached_graphs()]
        else:
            parts = [
                self.space.flatten(grad(_batch_loss)(self.fmodel.theta, self.fmodel, self.loss_fn, x, y))
                for x, y, _ in self.batches
            ]
        if len(parts) == 1:
            return parts[0]
        return sum((n / self.n_examples) * part for part, (_, _, n) in zip(parts, self.batches, strict=True))

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
        params: which parameters (a ``ParamFilter``: None for all, a parameter or module name, a module, a
            predicate on names, or an iterable of names and modules; see ``phenomena.probes.core``).

    Returns:
        A ``CurvatureOperator`` (a SciPy ``LinearOperator`` on float64 vectors).

    Example:
        >>> H = hessian_operator(model, F.cross_entropy, (x, y))
        >>> scipy.sparse.linalg.eigsh(H, k=3, which="LA")
    """
    return CurvatureOperator(model, loss_fn, batches, params, kind="hessian")


def ggn_operator(model: nn.Module, loss_fn: Callable, batches: Any, params: ParamFilter = None) -> CurvatureOperator:
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
