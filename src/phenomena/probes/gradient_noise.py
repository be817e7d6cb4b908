"""The gradient noise scale B_simple = tr(Σ) / |G|² of McCandlish, Kaplan, Amodei et al. 2018 ("An empirical
model of large-batch training", arXiv:1812.06162): the batch size at which the noise of a mini-batch gradient
is as large as the gradient itself, and their predictor of the critical batch size.

G is the gradient of the data set's (mean) loss and Σ the covariance of the per-example gradients, so a batch
of B examples drawn independently has E|G_B|² = |G|² + tr(Σ)/B. Two batch sizes B_small < B_big give the
unbiased estimators of their Appendix A.1:

    |G|²  ≈ (B_big |G_big|² − B_small |G_small|²) / (B_big − B_small),
    tr(Σ) ≈ (|G_small|² − |G_big|²) / (1/B_small − 1/B_big),

and, since each one-step estimate is noisy (the |G|² one is often negative), both are averaged over many steps
SEPARATELY and the ratio is taken of the averages (the paper uses moving averages of each).

- ``gradient_noise_scale``: for a model and a data set, draws steps of nested batches (the small batch is the
  first B_small examples of the big one, as in data-parallel training where the small batch is one worker's)
  and returns a ``NoiseScale``.
- ``NoiseScaleAccumulator``: the same running averages inside any training loop; feed it |G_small|² and
  |G_big|² (or the two gradients) each step.
- ``gradient_noise_scale_exact``: the exact tr(Σ)/|G|² of a (small) data set from per-example gradients
  (``torch.func`` ``vmap(grad)``), Σ the per-example covariance with divisor N, which is what the two-batch
  estimator estimates when batches are drawn with replacement.

Conventions are those of ``phenomena.probes.core`` (mean losses, ``params`` filters, the user's model is never
modified: gradients are taken on a ``FunctionalModel`` snapshot).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import grad, vmap

from phenomena.errors import UserError
from phenomena.probes.core import (
    FunctionalModel,
    ParamFilter,
    as_batches,
    check_deterministic,
    flat_gradient,
    scalar_loss,
    select_param_names,
)


@dataclass(frozen=True)
class NoiseScale:
    """A gradient noise scale and its two parts.

    Attributes:
        b_simple: tr(Σ) / |G|², the ratio of the two averages; NaN when the |G|² estimate is not positive
            (the noise swamps the gradient: take more steps or a larger B_big).
        grad_sq: the estimate of |G|², the squared norm of the full-data gradient.
        trace_sigma: the estimate of tr(Σ), the trace of the per-example gradient covariance.
        n: the number of two-batch estimates averaged (for ``gradient_noise_scale_exact``, the number of
            examples).
        grad_sq_stderr, trace_sigma_stderr: standard errors of the two averages over steps (NaN for fewer than
            two steps, 0 for the exact variant).
        b_simple_stderr: delta-method standard error of the ratio, using the covariance of the two per-step
            estimates (they share the same gradients, so they are correlated).
    """

    b_simple: float
    grad_sq: float
    trace_sigma: float
    n: int
    grad_sq_stderr: float = 0.0
    trace_sigma_stderr: float = 0.0
    b_simple_stderr: float = 0.0


def _batch_size(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{what} must be a positive integer, got {value!r}.")
    return value


def _squared(value: Any, what: str) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise UserError(f"{what} must be a number (a squared norm), got a tensor of shape {tuple(value.shape)}.")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise UserError(f"{what} must be a finite non-negative number (a squared gradient norm), got {value!r}.")
    return float(value)


def _squared_norm(grads: Any, what: str) -> float:
    """Squared Euclidean norm of a tensor or an iterable of tensors (None entries, unused parameters, skipped)."""
    parts = [grads] if isinstance(grads, Tensor) else None
    if parts is None:
        try:
            parts = [g for g in grads if g is not None]
        except TypeError:
            raise UserError(f"{what} must be a tensor or an iterable of tensors, got {type(grads).__name__}.") from None
    if not parts or not all(isinstance(g, Tensor) for g in parts):
        raise UserError(f"{what} must be a tensor or a non-empty iterable of tensors (e.g. p.grad of each parameter).")
    return float(sum(g.detach().double().pow(2).sum() for g in parts))


class NoiseScaleAccumulator:
    """Running averages of McCandlish et al.'s two unbiased estimators, for use inside any training loop.

    Each step gives the squared norms of a gradient on B_small examples and of one on B_big examples (mean
    losses); the step's estimates of |G|² and tr(Σ) (Appendix A.1 of arXiv:1812.06162, see the module
    docstring) are averaged separately over steps and ``result()`` returns their ratio. The two batches may be
    nested (a worker's batch and the all-reduced batch) or independent; each estimator is unbiased either way
    as long as the examples of a batch are drawn independently of each other.

    Args:
        b_small, b_big: the two batch sizes, 1 <= b_small < b_big.

    Example:
        >>> acc = NoiseScaleAccumulator(b_small=8, b_big=64)
        >>> acc.update(sq_small=2.5, sq_big=1.1)
        >>> acc.update(sq_small=2.1, sq_big=0.9)
        >>> round(acc.result().b_simple, 3)          # tr(Σ) / |G|² from the two averages
        14.596
        >>> # in a training loop: acc.update_gradients([p.grad for p in worker_params], [p.grad for p in params])
    """

    def __init__(self, b_small: int, b_big: int):
        self.b_small = _batch_size(b_small, "b_small")
        self.b_big = _batch_size(b_big, "b_big")
        if not self.b_small < self.b_big:
            raise UserError(f"b_small must be smaller than b_big, got b_small={b_small} and b_big={b_big}.")
        self.reset()

    def reset(self) -> None:
        """Forget every step (e.g. at a new phase of training)."""
        self.n = 0
        self._mean = [0.0, 0.0]  # running means of the |G|² and tr(Σ) estimates (Welford)
        self._co = [0.0, 0.0, 0.0]  # co-moments: Σ d_g², Σ d_s², Σ d_g d_s

    def __len__(self) -> int:
        return self.n

    def update(self, sq_small: float | Tensor, sq_big: float | Tensor) -> None:
        """Add one step from |G_small|² and |G_big|², the squared norms of the two mean-loss gradients."""
        small, big = _squared(sq_small, "sq_small"), _squared(sq_big, "sq_big")
        bs, bb = self.b_small, self.b_big
        est = ((bb * big - bs * small) / (bb - bs), (small - big) / (1 / bs - 1 / bb))
        self.n += 1
        delta = [e - m for e, m in zip(est, self._mean, strict=True)]
        self._mean = [m + d / self.n for m, d in zip(self._mean, delta, strict=True)]
        after = [e - m for e, m in zip(est, self._mean, strict=True)]
        self._co[0] += delta[0] * after[0]
        self._co[1] += delta[1] * after[1]
        self._co[2] += delta[0] * after[1]

    def update_gradients(self, small: Tensor | Iterable[Tensor | None], big: Tensor | Iterable[Tensor | None]) -> None:
        """Add one step from the two gradients themselves (a flat tensor or an iterable of per-parameter ones)."""
        self.update(_squared_norm(small, "small"), _squared_norm(big, "big"))

    def result(self) -> NoiseScale:
        """B_simple = mean tr(Σ) estimate / mean |G|² estimate, with the two means and standard errors."""
        if self.n == 0:
            raise UserError("the accumulator has no steps yet; call update() at least once.")
        g2, s = self._mean
        if self.n > 1:
            var_g, var_s, cov = (c / (self.n - 1) / self.n for c in self._co)  # variances of the means
        else:
            var_g = var_s = cov = math.nan
        ratio = s / g2 if g2 > 0 else math.nan
        var_ratio = (var_s - 2 * ratio * cov + ratio**2 * var_g) / g2**2 if g2 > 0 else math.nan
        return NoiseScale(ratio, g2, s, self.n, math.sqrt(var_g), math.sqrt(var_s), math.sqrt(max(var_ratio, 0.0)))


def gradient_noise_scale(
    model: nn.Module,
    loss_fn: Callable,
    data: tuple[Tensor, Tensor],
    b_small: int,
    b_big: int,
    n_steps: int = 100,
    *,
    params: ParamFilter = None,
    replacement: bool = True,
    generator: torch.Generator | None = None,
) -> NoiseScale:
    """The gradient noise scale B_simple = tr(Σ)/|G|² of a model on a data set, from two batch sizes.

    McCandlish et al. 2018, Appendix A.1: at each of ``n_steps`` steps, ``b_big`` example indices are drawn,
    the gradient of the mean loss is taken on the first ``b_small`` of them (G_small) and on all of them
    (G_big, assembled from the small part and the rest, so a step costs one pass over b_big examples); the two
    unbiased estimators of |G|² and tr(Σ) are averaged separately over the steps (``NoiseScaleAccumulator``)
    before their ratio is taken. The model is not trained: every step is at the same parameters, so the
    averages converge to the noise scale at this point of training.

    Args:
        model: the network (no dropout in training mode; BatchNorm in eval mode, since it couples examples).
        loss_fn: ``loss_fn(outputs, targets)``, the mean over the batch.
        data: the data set as one ``(inputs, targets)`` pair of tensors with N examples along dim 0.
        b_small, b_big: the two batch sizes, 1 <= b_small < b_big.
        n_steps: how many pairs of batches to average over.
        params: which parameters (a ``ParamFilter``); default all trainable ones.
        replacement: draw each batch's examples with replacement (default), which makes both estimators exactly
            unbiased for Σ with divisor N (``gradient_noise_scale_exact``); without replacement (b_big <= N)
            the finite-population correction biases |G|² by -tr(Σ)/(N-1), negligible when N is large.
        generator: torch generator for the batch indices.

    Returns:
        A ``NoiseScale`` (b_simple, grad_sq, trace_sigma, n = n_steps, standard errors over steps).

    Example:
        >>> net = nn.Linear(5, 1)
        >>> x, y = torch.randn(1000, 5), torch.randn(1000, 1)
        >>> ns = gradient_noise_scale(net, F.mse_loss, (x, y), b_small=4, b_big=64, n_steps=200,
        ...                           generator=torch.Generator().manual_seed(0))
        >>> ns.b_simple, ns.b_simple_stderr
    """
    check_deterministic(model, "gradient_noise_scale", per_example=True)
    acc = NoiseScaleAccumulator(b_small, b_big)
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise UserError(f"n_steps must be a positive integer, got {n_steps!r}.")
    if not (isinstance(data, tuple | list) and len(data) == 2 and all(isinstance(t, Tensor) for t in data)):
        raise UserError("data must be one (inputs, targets) pair of tensors holding the whole data set.")
    x, y = data
    n = int(x.shape[0]) if x.ndim > 0 else 0
    if n == 0 or y.ndim == 0 or y.shape[0] != n:
        raise UserError(
            f"inputs and targets need the same number N >= 1 of examples along dim 0; got "
            f"shapes {tuple(x.shape)} and {tuple(y.shape)}."
        )
    if not replacement and b_big > n:
        raise UserError(f"without replacement b_big={b_big} cannot exceed the {n} examples of the data set.")
    fm = FunctionalModel(model, select_param_names(model, params))
    for _ in range(n_steps):
        if replacement:
            idx = torch.randint(n, (b_big,), generator=generator)
        else:
            idx = torch.randperm(n, generator=generator)[:b_big]
        small, rest = idx[:b_small].to(x.device), idx[b_small:].to(x.device)
        g_small = flat_gradient(fm, loss_fn, x[small], y[small.to(y.device)])
        g_rest = flat_gradient(fm, loss_fn, x[rest], y[rest.to(y.device)])
        g_big = (b_small * g_small + (b_big - b_small) * g_rest) / b_big
        acc.update(float(g_small @ g_small), float(g_big @ g_big))
    return acc.result()


def gradient_noise_scale_exact(
    model: nn.Module, loss_fn: Callable, batches: Any, *, params: ParamFilter = None
) -> NoiseScale:
    """The exact noise scale tr(Σ)/|G|² of a data set from its per-example gradients (small models).

    G = mean_i g_i and tr(Σ) = mean_i |g_i − G|² over the N examples (divisor N: the covariance of one example
    drawn uniformly from the data set, the quantity the two-batch estimator targets when sampling with
    replacement). Per-example gradients by ``torch.func`` (``vmap(grad)``), pooled over batches exactly (Chan
    et al.'s parallel update), in float64. Memory is one batch's (n, P) gradient matrix.

    Args:
        model: the network (no dropout in training mode, BatchNorm in eval mode).
        loss_fn: ``loss_fn(outputs, targets)``, the mean over the batch; it is called on one example at a time.
        batches: ``(inputs, targets)`` or a list of them (the data set).
        params: which parameters (a ``ParamFilter``); default all trainable ones.

    Returns:
        A ``NoiseScale`` with n = N examples and zero standard errors; b_simple is NaN when G = 0.

    Example:
        >>> net = nn.Linear(5, 1)
        >>> gradient_noise_scale_exact(net, F.mse_loss, (torch.randn(200, 5), torch.randn(200, 1))).b_simple
    """
    check_deterministic(model, "gradient_noise_scale_exact", per_example=True)
    fm = FunctionalModel(model, select_param_names(model, params))

    def one(theta: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        return scalar_loss(loss_fn, fm.forward(theta, fm.buffers, x.unsqueeze(0)), y.unsqueeze(0))

    per_example = vmap(grad(one), in_dims=(None, 0, 0))
    count, mean, m2 = 0, torch.zeros(fm.space.dim, dtype=torch.float64, device=fm.device), 0.0
    for x, y, n in as_batches(batches):
        if not isinstance(y, Tensor) or y.ndim == 0 or y.shape[0] != n:
            raise UserError("targets must be a tensor with one entry per example along dim 0.")
        g = per_example(fm.theta, x.to(fm.device), y.to(fm.device))
        flat = torch.cat([g[k].reshape(n, -1) for k in fm.names], dim=1).double()
        b_mean = flat.mean(0)
        b_m2 = float(((flat - b_mean) ** 2).sum())
        total = count + n
        delta = b_mean - mean
        m2 += b_m2 + float(delta @ delta) * count * n / total
        mean, count = mean + delta * n / total, total
    g2, trace = float(mean @ mean), m2 / count
    return NoiseScale(trace / g2 if g2 > 0 else math.nan, g2, trace, count)
