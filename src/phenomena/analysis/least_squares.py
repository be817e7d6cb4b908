"""Closed-form least squares (min-norm, ridge, the gradient-descent path) on random ReLU features: pure numerics
on tensors with no model and no infinite-width kernel, so they live in analysis/ rather than kernels/."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def feature_counts(n: int, low: float, high: float, points: int) -> list[int]:
    """A geometric grid of ``points`` sizes from ``low * n`` to ``high * n``, with ``n`` itself added (the
    threshold is always on the grid); distinct, increasing, at least 1.

    Example: ``feature_counts(100, 0.1, 10, 3)`` is ``[10, 100, 1000]``.
    """
    grid = np.geomspace(low * n, high * n, points).round().astype(int)
    return sorted({max(int(v), 1) for v in grid} | {n})


def relu_feature_weights(dim: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """Input weights of ``count`` random ReLU features of ``dim``-dimensional inputs: (dim, count), i.i.d.
    N(0, 1/dim), float64, drawn from ``generator`` (one ``randn`` call)."""
    return torch.randn(dim, count, generator=generator, dtype=torch.float64) / math.sqrt(dim)


def relu_features(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Φ = relu(x W) / √N for the N columns of ``weights``: the kernel ΦΦᵀ stays O(1) as N grows.

    Example: ``relu_features(torch.tensor([[1.0, -1.0]]), torch.eye(2))`` is ``[[0.7071, 0]]``.
    """
    return torch.relu(x @ weights) * (1 / math.sqrt(weights.shape[1]))


def min_norm_fit(features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The minimum-norm least-squares coefficients β = Φ⁺ Y (``lstsq`` with the SVD-based ``gelsd`` driver,
    which returns the min-norm solution whether Φ is tall, wide or rank deficient), as in Belkin et al. 2019.

    Example: ``min_norm_fit(torch.eye(2, 3, dtype=torch.float64), torch.ones(2, 1))`` is ``[[1], [1], [0]]``.
    """
    return torch.linalg.lstsq(features, targets, driver="gelsd").solution


# the Gram path's bound on its relative error, κ·eps with κ = (‖Φ‖_F² + ridge) / ridge >= cond(Gram + ridge·I)
GRAM_ERROR = 1e-10


def ridge_fit(features: torch.Tensor, targets: torch.Tensor, ridge: float) -> torch.Tensor:
    """Ridge coefficients ``argmin ‖Φβ − Y‖² + ridge·‖β‖²`` = (ΦᵀΦ + ridge·I)⁻¹ΦᵀY, any shape of Φ; ``ridge=0``
    is the minimum-norm least-squares fit (:func:`min_norm_fit`).

    Where the penalty bounds the condition number well enough, from the smaller Gram matrix by Cholesky: wide Φ
    (p >= n) as β = Φᵀ(ΦΦᵀ + ridge·I)⁻¹Y, tall Φ from the normal equations; one min(n, p)²·max(n, p) product and a
    min(n, p)³/3 factorization, several times faster than an SVD of Φ. The Gram matrix plus the penalty has
    condition number at most κ = (‖Φ‖_F² + ridge) / ridge, so its relative error is about κ·eps; where that exceeds
    ``GRAM_ERROR`` (a tiny penalty, or float32), β comes from the thin SVD Φ = U diag(s) Vᵀ as
    V diag(s / (s² + ridge)) UᵀY instead, which does not square the condition number (:func:`ridge_fit_svd`).

    Example: ``ridge_fit(torch.eye(2, dtype=torch.float64), torch.ones(2, 1), 1.0)`` is ``[[0.5], [0.5]]``.
    """
    if ridge == 0:
        return min_norm_fit(features, targets)
    kappa = (features.square().sum((-2, -1)).max().item() + ridge) / ridge
    if kappa * torch.finfo(features.dtype).eps > GRAM_ERROR:
        return ridge_fit_svd(features, targets, ridge)
    n, p = features.shape[-2:]
    wide = p >= n
    gram = features @ features.mT if wide else features.mT @ features
    gram.diagonal(dim1=-2, dim2=-1).add_(ridge)
    factor = torch.linalg.cholesky(gram)
    if wide:
        return features.mT @ torch.cholesky_solve(targets, factor)
    return torch.cholesky_solve(features.mT @ targets, factor)


def ridge_fit_svd(features: torch.Tensor, targets: torch.Tensor, ridge: float) -> torch.Tensor:
    """:func:`ridge_fit` from the thin SVD Φ = U diag(s) Vᵀ: β = V diag(s / (s² + ridge)) UᵀY, without the normal
    equations' squared condition number, at the cost of one SVD of Φ."""
    u, s, vh = torch.linalg.svd(features, full_matrices=False)
    return vh.mT @ ((s / (s * s + ridge)).unsqueeze(-1) * (u.mT @ targets))


def gd_least_squares(x: torch.Tensor, y: torch.Tensor, lr: float, steps: Sequence[int]) -> torch.Tensor:
    """The weights of full-batch gradient descent on ``mean((x @ w - y)²) / 2`` from ``w = 0``, at ``steps``.

    Exact, in closed form: with ``H = xᵀx / n = V diag(λ) Vᵀ`` and ``b = xᵀy / n``, step t has
    ``w_t = V diag((1 − (1 − lr·λ)^t) / λ) Vᵀ b``; directions with λ = 0 get no gradient and stay 0. Batched
    over leading axes: ``x`` (..., n, d), ``y`` (..., n) give (..., len(steps), d). It diverges (inf or nan)
    where ``lr·λ_max > 2``, as GD does. Tests check it against iterated GD and against
    :func:`~phenomena.training.train_ensemble`.

    Example: for ``x = [[1, 0], [0, 2]]`` (n = 2), ``y = [1, 2]``: λ = (0.5, 2), b = (0.5, 2), and with lr 0.5
    step 1 is ``lr·b = [0.25, 1]``, step 2 ``[0.4375, 1]`` (the λ = 2 direction is solved in one step).
    """
    n = x.shape[-2]
    lam, vecs = torch.linalg.eigh(x.mT @ x / n)
    coef = (vecs.mT @ (x.mT @ y.unsqueeze(-1) / n)).squeeze(-1)  # b in the eigenbasis, (..., d)
    t = torch.as_tensor(list(steps), dtype=x.dtype).unsqueeze(-1)  # (T, 1)
    z = (lr * lam).unsqueeze(-2)  # (..., 1, d)
    # 1 − (1 − z)^t without cancellation for small z (slow directions have z ~ 1e-4): −expm1(t·log1p(−z))
    decayed = torch.where(z < 1, -torch.expm1(t * torch.log1p(-z.clamp(max=1 - 1e-12))), 1 - (1 - z) ** t)
    null = lam.abs() <= 1e-12 * lam.abs().amax(-1, keepdim=True)
    gain = torch.where(null.unsqueeze(-2), 0.0, decayed / torch.where(null, 1.0, lam).unsqueeze(-2))
    return (gain * coef.unsqueeze(-2)) @ vecs.mT
