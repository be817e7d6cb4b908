"""Baselines for in-context regression (Garg, Tsipras, Liang & Valiant 2022): estimators that see the same
examples a transformer sees in a prompt, and the optimal error they are compared to.

Every predictor takes prompts ``x`` (B, n, d) and ``y`` (B, n) and returns (B, n): entry i predicts y_i from the
examples 0 … i−1 alone (entry 0 has none and predicts 0, the prior mean), the read-out a causal decoder makes.
"""

from __future__ import annotations

import torch

from phenomena.errors import UserError


def _check(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.dim() != 3 or y.shape != x.shape[:2]:
        raise UserError(f"prompts must be x (B, n, d) and y (B, n); got {tuple(x.shape)} and {tuple(y.shape)}")


def _linear_predictions(x: torch.Tensor, y: torch.Tensor, solve) -> torch.Tensor:
    """x_iᵀ ŵ_i with ŵ_i = solve(x[:, :i], y[:, :i]) for each i ≥ 1; 0 at i = 0."""
    _check(x, y)
    out = torch.zeros_like(y)
    for i in range(1, x.shape[1]):
        w = solve(x[:, :i], y[:, :i])  # (B, d)
        out[:, i] = (x[:, i] * w).sum(-1)
    return out


def least_squares_predictions(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Predictions of minimum-norm least squares fitted to the examples before each position (ŵ = X⁺y).

    With noiseless labels and k < d examples this is the posterior mean under w ~ N(0, I): the optimal predictor.

    Args:
        x: prompts' inputs (B, n, d).
        y: their labels (B, n).

    Returns:
        (B, n); entry i uses examples 0 … i−1.

    Example: with y = x @ w and d = 2, ``least_squares_predictions(x, y)[:, 2:]`` equals ``y[:, 2:]``.
    """

    def solve(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        return (torch.linalg.pinv(xs.double()) @ ys.double()[..., None])[..., 0].to(x.dtype)

    return _linear_predictions(x, y, solve)


def ridge_predictions(x: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """Predictions of ridge regression ŵ = (XᵀX + αI)⁻¹Xᵀy on the examples before each position. With labels
    y = xᵀw + N(0, σ²) and w ~ N(0, I), α = σ² is the posterior mean: the optimal predictor.

    Args:
        x: prompts' inputs (B, n, d).
        y: their labels (B, n).
        alpha: the ℓ2 penalty (> 0).

    Returns:
        (B, n); entry i uses examples 0 … i−1.

    Example: ``ridge_predictions(x, y, 1e-9)`` is ``least_squares_predictions(x, y)`` to numerical precision.
    """
    if not alpha > 0:
        raise UserError(f"ridge alpha must be positive, got {alpha}")

    def solve(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        xs, ys = xs.double(), ys.double()
        gram = xs.transpose(1, 2) @ xs + alpha * torch.eye(xs.shape[-1], dtype=xs.dtype)
        return torch.linalg.solve(gram, (xs.transpose(1, 2) @ ys[..., None]))[..., 0].to(x.dtype)

    return _linear_predictions(x, y, solve)


def averaging_predictions(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Predictions of the averaging estimator ŵ = (1/k) Σ y_j x_j over the k examples before each position (an
    unbiased estimate of w when x ~ N(0, I), with no matrix inverse).

    Args:
        x: prompts' inputs (B, n, d).
        y: their labels (B, n).

    Returns:
        (B, n); entry i uses examples 0 … i−1.

    Example: with one example (x_0, y_0), entry 1 is y_0 x_0ᵀx_1.
    """
    return _linear_predictions(x, y, lambda xs, ys: (xs * ys[..., None]).mean(1))


def nearest_neighbor_predictions(x: torch.Tensor, y: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Predictions of k-nearest-neighbour regression: the mean label of the ``k`` examples (among those before
    each position) nearest in Euclidean distance; all of them when fewer than ``k`` are there.

    Args:
        x: prompts' inputs (B, n, d).
        y: their labels (B, n).
        k: neighbours averaged.

    Returns:
        (B, n); entry i uses examples 0 … i−1.

    Example: with examples at x = 0 (y = 1) and x = 10 (y = 5), 1-NN predicts 1 at x = 1.
    """
    _check(x, y)
    if k < 1:
        raise UserError(f"k must be at least 1, got {k}")
    out = torch.zeros_like(y)
    for i in range(1, x.shape[1]):
        dist = (x[:, :i] - x[:, i : i + 1]).pow(2).sum(-1)  # (B, i)
        idx = dist.topk(min(k, i), dim=1, largest=False).indices
        out[:, i] = y[:, :i].gather(1, idx).mean(1)
    return out


def normalized_squared_error(pred: torch.Tensor, y: torch.Tensor, d: int) -> torch.Tensor:
    """Squared error averaged over prompts and divided by d (Garg et al.'s normalization: predicting 0 costs
    E[(xᵀw)²] / d = 1), per position.

    Args:
        pred: predictions (B, n).
        y: labels (B, n).
        d: input dimension.

    Returns:
        (n,): entry k is the error with k in-context examples.

    Example: ``normalized_squared_error(torch.zeros(1, 2), torch.tensor([[2.0, 0.0]]), 4)`` is ``[1, 0]``.
    """
    return (pred - y).pow(2).mean(0) / d


def optimal_noiseless_error(d: int, k: int) -> float:
    """The normalized error of the best predictor of y = xᵀw from k noiseless examples, x, w ~ N(0, I_d):
    max(d − k, 0) / d. The k examples reveal w's projection on their span; the posterior mean predicts the
    component of x in it exactly and leaves E‖P⊥x‖² … = d − k of the unit-variance components unexplained.

    Args:
        d: input dimension.
        k: in-context examples.

    Returns:
        the error, in [0, 1].

    Example: ``optimal_noiseless_error(5, 2)`` is 0.6; ``optimal_noiseless_error(5, 7)`` is 0.
    """
    if d < 1 or k < 0:
        raise UserError(f"need d >= 1 and k >= 0, got d={d}, k={k}")
    return max(d - k, 0) / d
