"""Linear mode connectivity: loss and error along the straight line between two models, and their barriers.

Two definitions of the barrier of a curve ``L(t)``, ``t`` in [0, 1] (both reported):

- Frankle, Dziugaite, Roy & Carbin 2020 ("Linear Mode Connectivity and the Lottery Ticket Hypothesis"):
  ``max_t L(t) - (L(0) + L(1)) / 2``, on test error in the paper; also git-re-basin's barrier-vs-epoch plot.
- Entezari, Sedghi, Saukh & Neyshabur 2022 ("The Role of Permutation Invariance in Linear Mode Connectivity"):
  ``max_t [L(t) - ((1 - t) L(0) + t L(1))]``, the largest excess over the chord. The two agree when
  ``L(0) = L(1)``; they differ when the endpoints do, and Entezari's is 0 for any convex path.

Both are maxima over the sampled ``t`` only, so a finer grid can only raise them. With BatchNorm, the
interpolated network's running statistics are recomputed on data at every point (Frankle et al. and REPAIR,
Jordan et al. 2023, do so: interpolated statistics are not the statistics of the interpolated network).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from phenomena.errors import UserError
from phenomena.probes.core import as_batches, check_deterministic
from phenomena.probes.landscape import _grid, _reduce, interpolate

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class Barrier:
    """Loss (and metric) along ``(1 - t) θ_a + t θ_b`` and the barriers of both curves.

    Attributes:
        alphas: the points t, shape (points,).
        loss, metric: values at each t (metric None without ``metric_fn``).
        barrier: Frankle et al.'s ``max_t L(t) - (L(0) + L(1)) / 2`` of the loss.
        barrier_entezari: Entezari et al.'s ``max_t [L(t) - ((1 - t) L(0) + t L(1))]`` of the loss.
        metric_barrier, metric_barrier_entezari: the same for the metric (nan without ``metric_fn``).
        bn_reset: whether BatchNorm statistics were recomputed at each point.
    """

    alphas: np.ndarray
    loss: np.ndarray
    metric: np.ndarray | None
    barrier: float
    barrier_entezari: float
    metric_barrier: float
    metric_barrier_entezari: float
    bn_reset: bool


def barrier_heights(alphas: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """(Frankle et al.'s, Entezari et al.'s) barrier of ``values`` sampled at ``alphas`` (the first and last
    are the endpoints t = 0 and t = 1).

    Example:
        >>> barrier_heights(np.linspace(0, 1, 3), np.array([0.0, 1.0, 2.0]))   # (0.0, 0.0): on the chord
    """
    t = (alphas - alphas[0]) / (alphas[-1] - alphas[0])
    chord = (1 - t) * values[0] + t * values[-1]
    return float(values.max() - (values[0] + values[-1]) / 2), float((values - chord).max())


def interpolation_barrier(
    model_a: nn.Module,
    model_b: nn.Module,
    loss_fn: Callable,
    batches: Any,
    points: int = 11,
    metric_fn: Callable | None = None,
    reset_bn: Any = None,
) -> Barrier:
    """Loss (and error) on the linear path from ``model_a`` to ``model_b``, with both barrier definitions.

    Args:
        model_a, model_b: two models of one architecture (same parameter and buffer names and shapes).
        loss_fn, batches: as everywhere in ``phenomena.probes``; the loss is the example-weighted mean.
        points: number of t on ``linspace(0, 1, points)``.
        metric_fn: optional ``metric_fn(outputs, targets) -> scalar`` mean over the batch, e.g. the error
            ``lambda o, y: (o.argmax(-1) != y).double().mean()`` (Frankle et al.'s barrier is on error).
        reset_bn: only for models with BatchNorm. None (default): recompute the running statistics at each
            point on the inputs of ``batches``; or batches (``(inputs, targets)`` or a list of them) to use
            for it, e.g. training data when ``batches`` is test data; False: keep the interpolated
            statistics. Statistics are cumulative averages over the batches (``momentum=None``), and the
            network is then evaluated in eval mode. Without BatchNorm, the path is ``probes.interpolate``'s
            (``model_a``'s train/eval mode) and ``reset_bn`` must be None or False.

    Returns:
        A :class:`Barrier`.

    Example:
        >>> err = lambda o, y: (o.argmax(-1) != y).double().mean()
        >>> b = interpolation_barrier(net_a, net_b, F.cross_entropy, (x, y), points=25, metric_fn=err)
        >>> b.barrier, b.metric_barrier
    """
    has_bn = any(isinstance(m, _BATCHNORMS) for m in model_a.modules())
    if not has_bn or reset_bn is False:
        if reset_bn not in (None, False):
            raise UserError("reset_bn was given but the model has no BatchNorm layer; leave it None.")
        path = interpolate(model_a, model_b, loss_fn, batches, points, metric_fn=metric_fn)
        return _barrier(path.alphas, path.loss, path.metric, False)
    check_deterministic(model_a, "interpolation_barrier")
    data = as_batches(batches)
    reset_data = data if reset_bn is None else as_batches(reset_bn)
    grid = _grid((0.0, 1.0), points)
    sa, sb = model_a.state_dict(), model_b.state_dict()
    if sa.keys() != sb.keys() or any(sa[n].shape != sb[n].shape for n in sa):
        raise UserError("model_a and model_b differ in architecture (state dict names or shapes differ).")
    net = copy.deepcopy(model_a)
    values = []
    for alpha in grid:
        net.load_state_dict({n: _lerp(sa[n], sb[n], alpha) for n in sa})
        reset_batchnorm(net, [x for x, _, _ in reset_data])
        with torch.no_grad():
            outs = [(net(x), y, n) for x, y, n in data]
        values.append(_reduce(outs, loss_fn, metric_fn))
    loss = np.asarray([v[0] for v in values])
    metric = np.asarray([v[1] for v in values]) if metric_fn is not None else None
    return _barrier(grid, loss, metric, True)


@torch.no_grad()
def reset_batchnorm(model: nn.Module, inputs: list[torch.Tensor]) -> nn.Module:
    """Recompute every BatchNorm's running statistics of ``model`` in place as the average over ``inputs``
    (batch means and unbiased batch variances, averaged with ``momentum=None``); leaves the model in eval
    mode.

    Example:
        >>> reset_batchnorm(merged_model, [x[i:i + 500] for i in range(0, len(x), 500)])
    """
    bns = [m for m in model.modules() if isinstance(m, _BATCHNORMS)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.eval()  # only the BatchNorm layers in train mode: dropout stays off
    for m in bns:
        m.train()
    try:
        for x in inputs:
            model(x)
    finally:
        for m, mom in zip(bns, saved, strict=True):
            m.momentum = mom
        model.eval()
    return model


def _lerp(a: torch.Tensor, b: torch.Tensor, alpha: float) -> torch.Tensor:
    # integer buffers (num_batches_tracked) are model_a's, as in probes.interpolate
    return (1 - alpha) * a + alpha * b.to(a) if a.is_floating_point() else a


def _barrier(alphas: np.ndarray, loss: np.ndarray, metric: np.ndarray | None, bn_reset: bool) -> Barrier:
    b, be = barrier_heights(alphas, loss)
    mb, mbe = barrier_heights(alphas, metric) if metric is not None else (float("nan"), float("nan"))
    return Barrier(alphas, loss, metric, b, be, mb, mbe, bn_reset)
