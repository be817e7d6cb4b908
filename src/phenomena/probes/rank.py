"""Dimensionality of representations: effective rank (Roy & Vetterli 2007) and participation ratio."""

from __future__ import annotations

import torch

from phenomena.errors import UserError

_DTYPE = torch.float64


def _matrix(features, min_rows: int) -> torch.Tensor:
    if not isinstance(features, torch.Tensor) or features.ndim < 2:
        raise UserError("features must be a torch.Tensor of shape (N, d) (or (N, ...), flattened per row).")
    x = features.detach().reshape(features.shape[0], -1).to(_DTYPE)
    if x.shape[0] < min_rows or x.shape[1] == 0:
        raise UserError(f"features need at least {min_rows} rows and one column, got shape {tuple(x.shape)}.")
    if not torch.isfinite(x).all():
        raise UserError("features contain NaN or infinite values.")
    return x


def _centred(x: torch.Tensor) -> torch.Tensor:
    """Column-centred copy, exactly zero when the rows are equal up to the rounding error of centring."""
    xc = x - x.mean(0, keepdim=True)
    if (xc * xc).sum() <= (16 * x.shape[0] * torch.finfo(_DTYPE).eps) ** 2 * (x * x).sum():
        return torch.zeros_like(x)
    return xc


def effective_rank(features: torch.Tensor, center: bool = False) -> float:
    """Effective rank exp(H(p)) of a matrix, p_k = σ_k / Σ_j σ_j its normalized singular values.

    Roy & Vetterli 2007 ("The effective rank: a measure of effective dimensionality"), entropy in nats with
    0·log 0 = 0. It lies in [1, min(N, d)]: 1 for a rank-one matrix, min(N, d) when all singular values are
    equal. Following Roy & Vetterli the matrix is used as given; ``center=True`` subtracts the column means
    first (the effective rank of the centred data cloud, as used for representation collapse).

    Args:
        features: (N, d) matrix (or (N, ...), flattened per row).
        center: subtract the mean row first.

    Returns:
        The effective rank as a float.

    Raises:
        UserError: for a matrix that is zero (after centring), where the entropy is undefined.

    Example:
        >>> effective_rank(torch.eye(5))   # 5.0
    """
    x = _matrix(features, 2 if center else 1)
    if center:
        x = _centred(x)
    s = torch.linalg.svdvals(x)
    total = s.sum()
    if not total > 0:
        raise UserError(
            "features are all zero" + (" after centring" if center else "") + ", so the effective rank is undefined."
        )
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def participation_ratio(features: torch.Tensor) -> float:
    """Participation ratio (Σλ)² / Σλ² of the eigenvalues λ of the feature covariance matrix.

    Gao et al. 2017 / Recanatesi et al. 2019 convention: a dimensionality in [1, rank] that is 1 when the
    variance lies along one direction and d when it is isotropic. The covariance of the centred features is
    used; its normalization (1/N or 1/(N−1)) cancels. Computed from traces, Σλ = ‖X̃‖²_F and
    Σλ² = ‖X̃ᵀX̃‖²_F (or ‖X̃X̃ᵀ‖²_F, whichever is smaller), without an eigendecomposition.

    Args:
        features: (N, d) features (or (N, ...), flattened per example), N ≥ 2.

    Returns:
        The participation ratio as a float.

    Raises:
        UserError: for features with zero variance (all rows equal).

    Example:
        >>> participation_ratio(torch.randn(10000, 8))   # ≈ 8
    """
    xc = _centred(_matrix(features, 2))
    trace = (xc * xc).sum()
    if not trace > 0:
        raise UserError("features have zero variance (all rows equal); the participation ratio is undefined.")
    gram = xc.T @ xc if xc.shape[1] <= xc.shape[0] else xc @ xc.T
    return float(trace**2 / (gram * gram).sum())
