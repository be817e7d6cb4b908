"""Loss-landscape probes: 1-D and 2-D slices around a model (Li et al. 2018, "Visualizing the Loss Landscape
of Neural Nets") and the straight line between two models (Goodfellow et al. 2015; the path used by linear
mode connectivity).

Random directions are Gaussian (as in Li et al.; loss-landscapes draws uniform ones, its issue #4) and,
by default, filter-normalized: each filter of a direction (a row of a Linear weight, an output channel of a
Conv weight: index 0 of any parameter with >= 2 dims) is rescaled to the norm of the same filter of the
weights, so the plot is insensitive to the scale invariance of ReLU-BN networks. One-dimensional parameters
(biases, BatchNorm affine parameters) get a zero direction by default (``ignore="biasbn"``, as Li et al.'s
code), rather than being normalized element-wise (loss-landscapes' issue #3). Models are evaluated through
``torch.func.functional_call`` on copies of their tensors: the user's model is never modified.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from phenomena.errors import UserError
from phenomena.probes.core import (
    FunctionalModel,
    ParamFilter,
    as_batches,
    check_deterministic,
    scalar_loss,
    select_param_names,
)

_NORMALIZATIONS = ("filter", "layer", None)
_IGNORES = ("biasbn", None)


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class LossSlice:
    """Loss (and metric) on a 1-D line or 2-D plane through a model's parameters.

    Attributes:
        alphas: coordinates along the first direction, shape (points,).
        betas: coordinates along the second direction, or None for a 1-D slice.
        loss: dataset loss, shape (points,) or (points, points) indexed ``[i_alpha, i_beta]``.
        metric: ``metric_fn`` on the same grid, or None.
        directions: the (normalized) directions used, as parameter-name -> tensor dicts.
    """

    alphas: np.ndarray
    betas: np.ndarray | None
    loss: np.ndarray
    metric: np.ndarray | None
    directions: tuple[dict[str, Tensor], ...]


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields explicitly
class Interpolation:
    """Loss (and metric) at ``(1 - alpha) * model_a + alpha * model_b`` for each alpha."""

    alphas: np.ndarray
    loss: np.ndarray
    metric: np.ndarray | None


def normalize_direction(
    direction: Mapping[str, Tensor],
    weights: Mapping[str, Tensor],
    normalization: str | None = "filter",
    ignore: str | None = "biasbn",
) -> dict[str, Tensor]:
    """Rescale a direction to the scale of the weights (Li et al. 2018, Sec. 4).

    "filter": for every parameter with >= 2 dims, each slice ``d[j]`` along dim 0 becomes
    ``d[j] * ||w[j]|| / ||d[j]||``; "layer": each whole tensor becomes ``d * ||w|| / ||d||``; None: unchanged.
    Parameters with <= 1 dim are zeroed when ``ignore="biasbn"``; with ``ignore=None`` they are normalized as
    one filter (the whole vector), never element-wise. A zero filter of the direction stays zero.

    Example:
        >>> d = normalize_direction({"fc.weight": torch.randn(4, 3)}, {"fc.weight": w}, "filter")
    """
    if normalization not in _NORMALIZATIONS:
        raise UserError(f"unknown normalization {normalization!r}; choose 'filter', 'layer' or None.")
    if ignore not in _IGNORES:
        raise UserError(f"unknown ignore {ignore!r}; choose 'biasbn' or None.")
    out = {}
    for name, d in direction.items():
        if name not in weights or weights[name].shape != d.shape:
            raise UserError(f"direction entry {name!r} does not match a parameter of the same shape.")
        w = weights[name].detach().to(d.dtype)
        if d.ndim <= 1 and ignore == "biasbn":
            out[name] = torch.zeros_like(d)
        elif normalization is None:
            out[name] = d.clone()
        elif normalization == "filter" and d.ndim >= 2:
            out[name] = d * _ratio(w.flatten(1).norm(dim=1), d.flatten(1).norm(dim=1)).view(-1, *[1] * (d.ndim - 1))
        else:
            out[name] = d * _ratio(w.norm(), d.norm())
    return out


def random_direction(
    model: nn.Module,
    normalization: str | None = "filter",
    ignore: str | None = "biasbn",
    *,
    params: ParamFilter = None,
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """A Gaussian direction over the selected parameters, normalized by ``normalize_direction``.

    Entries are drawn with ``torch.randn`` from ``generator`` (on its device), parameter by parameter in
    ``model.named_parameters()`` order, then moved to each parameter's dtype and device.

    Example:
        >>> d = random_direction(model, "filter", generator=torch.Generator().manual_seed(0))
    """
    weights = {n: p.detach() for n, p in model.named_parameters()}
    gen_device = generator.device if generator is not None else "cpu"
    raw = {
        n: torch.randn(weights[n].shape, generator=generator, device=gen_device).to(weights[n])
        for n in select_param_names(model, params)
    }
    return normalize_direction(raw, weights, normalization, ignore)


def loss_slice(
    model: nn.Module,
    loss_fn: Callable,
    batches: Any,
    directions: int | Sequence[Mapping[str, Tensor]] = 1,
    normalization: str | None = "filter",
    span: tuple[float, float] = (-1.0, 1.0),
    points: int = 21,
    *,
    metric_fn: Callable | None = None,
    ignore: str | None = "biasbn",
    params: ParamFilter = None,
    generator: torch.Generator | None = None,
) -> LossSlice:
    """The dataset loss on a line (1 direction) or plane (2 directions) through the model's parameters.

    Evaluates ``L(theta + a d1)`` or ``L(theta + a d1 + b d2)`` for a, b on ``linspace(*span, points)``, with
    the model in its current train/eval mode (call ``model.eval()`` for the usual picture with BatchNorm).
    The two random directions are not orthogonalized (in high dimension they nearly are, as in Li et al.).

    Args:
        model, loss_fn, batches: as everywhere in ``phenomena.probes``; the loss is the example-weighted mean.
        directions: 1 or 2 random Gaussian directions, or a sequence of one or two parameter dicts (e.g.
            Hessian eigenvectors from ``EigenResult.vector(i)``), normalized too unless
            ``normalization=None``.
        normalization: "filter" (default), "layer" or None; see ``normalize_direction``.
        span, points: the coordinate range and number of points per axis.
        metric_fn: optional ``metric_fn(outputs, targets) -> scalar`` mean over the batch (e.g. accuracy).
        ignore: "biasbn" (zero direction on parameters with <= 1 dim) or None.
        params: which parameters the random directions move (others stay fixed); a ``ParamFilter`` (see
            ``phenomena.probes.core``).
        generator: torch generator for the random directions.

    Returns:
        A ``LossSlice``.

    Example:
        >>> s = loss_slice(model, F.cross_entropy, (x, y), directions=2, points=25,
        ...                generator=torch.Generator().manual_seed(0))
        >>> plt.contour(s.alphas, s.betas, s.loss.T)
    """
    check_deterministic(model, "loss_slice")
    data = as_batches(batches)
    grid = _grid(span, points)
    weights = {n: p.detach() for n, p in model.named_parameters()}
    if isinstance(directions, int) and not isinstance(directions, bool):
        if directions not in (1, 2):
            raise UserError(f"directions must be 1 or 2 (or a list of one or two direction dicts), got {directions}.")
        dirs = [
            random_direction(model, normalization, ignore, params=params, generator=generator)
            for _ in range(directions)
        ]
    elif (
        isinstance(directions, Sequence)
        and len(directions) in (1, 2)
        and all(isinstance(d, Mapping) for d in directions)
    ):
        dirs = [normalize_direction(d, weights, normalization, ignore) for d in directions]
    else:
        raise UserError("directions must be 1, 2, or a list of one or two dicts parameter name -> tensor.")
    fmodel = FunctionalModel(model, list(dict.fromkeys(n for d in dirs for n in d)))
    theta0 = fmodel.theta
    dirs_moved = [{n: t.to(theta0[n]) for n, t in d.items()} for d in dirs]

    def at(*coords: float) -> dict[str, Tensor]:
        theta = {n: t.clone() for n, t in theta0.items()}
        for c, d in zip(coords, dirs_moved, strict=True):
            for n, t in d.items():
                theta[n] += c * t
        return theta

    if len(dirs) == 1:
        values = [_evaluate(fmodel, at(a), data, loss_fn, metric_fn) for a in grid]
        shape: tuple[int, ...] = (points,)
    else:
        values = [_evaluate(fmodel, at(a, b), data, loss_fn, metric_fn) for a in grid for b in grid]
        shape = (points, points)
    loss = np.asarray([v[0] for v in values]).reshape(shape)
    metric = np.asarray([v[1] for v in values]).reshape(shape) if metric_fn is not None else None
    return LossSlice(grid, grid.copy() if len(dirs) == 2 else None, loss, metric, tuple(dirs))


def interpolate(
    model_a: nn.Module,
    model_b: nn.Module,
    loss_fn: Callable,
    batches: Any,
    points: int = 21,
    *,
    span: tuple[float, float] = (0.0, 1.0),
    metric_fn: Callable | None = None,
) -> Interpolation:
    """Loss (and metric) along the straight line ``(1 - alpha) * theta_a + alpha * theta_b``.

    All parameters and floating-point buffers are interpolated (BatchNorm running statistics included, so
    in eval mode the interpolated network uses interpolated statistics; recomputing them, as REPAIR does, is
    a separate step). Integer buffers (``num_batches_tracked``) are taken from ``model_a``. The network is run
    as ``model_a``'s module in ``model_a``'s train/eval mode. ``span`` beyond [0, 1] extrapolates.

    Args:
        model_a, model_b: two models of the same architecture (same parameter and buffer names and shapes).
        loss_fn, batches, metric_fn: as in ``loss_slice``.
        points: number of alphas on ``linspace(*span, points)``.

    Returns:
        An ``Interpolation``; with the default span, ``loss[0]`` and ``loss[-1]`` are the models' own losses.

    Example:
        >>> path = interpolate(net_a, net_b, F.cross_entropy, (x, y), points=11)
        >>> barrier = path.loss.max() - (path.loss[0] + path.loss[-1]) / 2
    """
    check_deterministic(model_a, "interpolate")
    data = as_batches(batches)
    grid = _grid(span, points)
    sa = {**dict(model_a.named_parameters()), **dict(model_a.named_buffers())}
    sb = {**dict(model_b.named_parameters()), **dict(model_b.named_buffers())}
    if sa.keys() != sb.keys() or any(sa[n].shape != sb[n].shape for n in sa):
        diff = sorted(set(sa) ^ set(sb)) or [n for n in sa if sa[n].shape != sb[n].shape]
        raise UserError(f"model_a and model_b differ in architecture (names or shapes differ at {diff[:5]}).")
    a = {n: t.detach().clone() for n, t in sa.items()}
    b = {n: t.detach().to(a[n]) for n, t in sb.items()}
    values = []
    for alpha in grid:
        state = {n: (1 - alpha) * a[n] + alpha * b[n] if a[n].is_floating_point() else a[n].clone() for n in a}
        values.append(_evaluate_state(model_a, state, data, loss_fn, metric_fn))
    loss = np.asarray([v[0] for v in values])
    metric = np.asarray([v[1] for v in values]) if metric_fn is not None else None
    return Interpolation(grid, loss, metric)


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(den))


def _grid(span: tuple[float, float], points: int) -> np.ndarray:
    if not isinstance(points, int) or points < 2:
        raise UserError(f"points must be an integer >= 2, got {points!r}.")
    try:
        lo, hi = (float(s) for s in span)
    except (TypeError, ValueError):
        raise UserError(f"span must be two numbers (low, high), got {span!r}.") from None
    if not lo < hi:
        raise UserError(f"span must satisfy low < high, got {span!r}.")
    return np.linspace(lo, hi, points)


def _evaluate(
    fmodel: FunctionalModel,
    theta: dict[str, Tensor],
    data: list,
    loss_fn: Callable,
    metric_fn: Callable | None,
) -> tuple[float, float]:
    """Example-weighted dataset loss and metric at ``theta``; buffers are copies, so BN updates stay local."""
    buffers = {n: t.clone() for n, t in fmodel.buffers.items()}
    with torch.no_grad():
        outs = [(fmodel.forward(theta, buffers, x), y, n) for x, y, n in data]
    return _reduce(outs, loss_fn, metric_fn)


def _evaluate_state(
    model: nn.Module, state: dict[str, Tensor], data: list, loss_fn: Callable, metric_fn: Callable | None
) -> tuple[float, float]:
    with torch.no_grad():
        outs = [(torch.func.functional_call(model, state, (x,)), y, n) for x, y, n in data]
    return _reduce(outs, loss_fn, metric_fn)


def _reduce(outs: list, loss_fn: Callable, metric_fn: Callable | None) -> tuple[float, float]:
    total = sum(n for _, _, n in outs)
    loss = sum(n * float(scalar_loss(loss_fn, o, y)) for o, y, n in outs) / total
    metric = float("nan")
    if metric_fn is not None:
        metric = sum(n * float(scalar_loss(metric_fn, o, y, "metric_fn")) for o, y, n in outs) / total
    return loss, metric
