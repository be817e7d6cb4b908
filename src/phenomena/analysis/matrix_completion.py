"""Nuclear-norm matrix completion: the proximal operator of the nuclear norm (singular-value soft-thresholding)
and the minimum-nuclear-norm matrix that agrees exactly with the observed entries.

The min-nuclear-norm completion, argmin ‖X‖_* subject to X_ij = M_ij on the observed set Ω, is the convex
baseline of low-rank matrix completion (Candès & Recht 2009) and, conjecturally, the limit of gradient descent on
a depth-2 factorization from a vanishing initialization (Gunasekar et al. 2017). It is solved here without a
modelling language by ADMM (Douglas-Rachford splitting) on the exact-constraint problem

    min ‖X‖_* + ι{Z : Z_Ω = M_Ω}   subject to X = Z,

whose steps are a singular-value soft-threshold (the prox of the nuclear norm) and a projection onto the
affine set of matrices that match the observations. At a fixed point the scaled dual variable is a matrix Y
supported on Ω with Y ∈ ∂‖X‖_* (spectral norm ≤ 1 and ⟨Y, X⟩ = ‖X‖_*): a dual certificate that proves X optimal,
since every feasible X' has ‖X'‖_* ≥ ⟨Y, X'⟩ = ⟨Y, X⟩ = ‖X‖_*. The solver returns it so that optimality can
be checked rather than trusted.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from phenomena.errors import UserError


def singular_value_threshold(y: np.ndarray, tau: float) -> np.ndarray:
    """The proximal operator of τ‖·‖_*: argmin_X ½‖X − Y‖²_F + τ‖X‖_* = U diag(max(σ − τ, 0)) Vᵀ for the SVD
    Y = U diag(σ) Vᵀ (Cai, Candès & Shen 2010, Theorem 2.1).

    Args:
        y: a real (n1, n2) matrix.
        tau: the threshold τ ≥ 0.

    Returns:
        The soft-thresholded matrix, (n1, n2), float64.

    Example:
        >>> singular_value_threshold(np.diag([3.0, 1.0]), 2.0)   # diag(1, 0)
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 2:
        raise UserError(f"singular_value_threshold needs a matrix, got shape {y.shape}")
    if not tau >= 0:
        raise UserError(f"the threshold must be non-negative, got {tau}")
    u, s, vt = np.linalg.svd(y, full_matrices=False)
    shrunk = np.maximum(s - tau, 0.0)
    keep = shrunk > 0
    return (u[:, keep] * shrunk[keep]) @ vt[keep]


class NuclearNormCompletion(NamedTuple):
    """The result of :func:`min_nuclear_norm_completion`.

    Attributes:
        x: the completed matrix (its observed entries equal the observations exactly).
        certificate: the dual matrix Y, zero off the observed set; optimality means ‖Y‖₂ ≤ 1 and ⟨Y, x⟩ = ‖x‖_*.
        iterations: ADMM iterations run.
        residual: the larger of the relative primal and dual residuals at the end.
        converged: whether ``residual`` reached the tolerance within the iteration budget.
    """

    x: np.ndarray
    certificate: np.ndarray
    iterations: int
    residual: float
    converged: bool


def min_nuclear_norm_completion(
    observed: np.ndarray, mask: np.ndarray, tol: float = 1e-7, max_iter: int = 20_000, tau: float | None = None
) -> NuclearNormCompletion:
    """The matrix of least nuclear norm whose entries on ``mask`` equal ``observed``'s, by ADMM.

    Iterates X ← SVT_τ(Z − U), Z ← (X + U off Ω, M on Ω), U ← U + X − Z (scaled ADMM with penalty ρ = 1/τ) from
    Z = M_Ω, U = 0. It stops when both the primal residual ‖X − Z‖_F and the dual residual ‖Z_k − Z_{k−1}‖_F are
    below ``tol`` · ‖M_Ω‖_F (Boyd et al. 2011, §3.3); the returned ``x`` is Z (exactly feasible). The certificate
    is −U/τ restricted to Ω (U vanishes off Ω at the fixed point). ADMM converges for any τ > 0; the default,
    the root-mean-square observed value, makes the iteration count independent of the data's scale.

    Args:
        observed: (n1, n2) matrix; only its entries on ``mask`` are read.
        mask: (n1, n2) boolean (or 0/1) matrix of observed entries.
        tol: relative tolerance on the primal and dual residuals.
        max_iter: iteration budget.
        tau: the soft-threshold per step (1/ρ); default rms of the observed values.

    Returns:
        A :class:`NuclearNormCompletion` (check ``converged``).

    Example:
        >>> m = np.outer([1.0, 2.0, 3.0], [1.0, 1.0, 2.0])
        >>> mask = np.ones((3, 3), bool); mask[2, 2] = False
        >>> min_nuclear_norm_completion(m, mask).x[2, 2]   # ≈ 6: the rank-one completion
    """
    m = np.asarray(observed, dtype=float)
    omega = np.asarray(mask).astype(bool)
    if m.ndim != 2 or omega.shape != m.shape:
        raise UserError(f"observed and mask must be matrices of one shape, got {m.shape} and {omega.shape}")
    if not omega.any():
        raise UserError("no entry is observed: the min-nuclear-norm completion is the zero matrix")
    b = np.where(omega, m, 0.0)
    if not np.isfinite(b).all():
        raise UserError("the observed entries contain NaN or infinite values")
    scale = float(np.linalg.norm(b))
    if scale == 0:
        return NuclearNormCompletion(np.zeros_like(b), np.zeros_like(b), 0, 0.0, True)
    if tau is None:
        tau = scale / np.sqrt(omega.sum())
    if not tau > 0:
        raise UserError(f"tau must be positive, got {tau}")
    z, u = b.copy(), np.zeros_like(b)
    residual, it = np.inf, 0
    while it < max_iter and not residual <= tol:
        it += 1
        x = singular_value_threshold(z - u, tau)
        z_new = np.where(omega, b, x + u)
        u += x - z_new
        residual = max(float(np.linalg.norm(x - z_new)), float(np.linalg.norm(z_new - z))) / scale
        z = z_new
    certificate = np.where(omega, -u / tau, 0.0)
    return NuclearNormCompletion(z, certificate, it, residual, residual <= tol)


def masked_relative_error(x: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    """The relative Frobenius error on the entries in ``where``: ‖(x − truth)[where]‖_F / ‖truth[where]‖_F (the
    test error of a completion on its unobserved entries).

    Example:
        >>> masked_relative_error(np.zeros((2, 2)), np.ones((2, 2)), np.eye(2, dtype=bool))
        1.0
    """
    x, truth, where = np.asarray(x), np.asarray(truth), np.asarray(where, dtype=bool)
    if x.shape != truth.shape or where.shape != truth.shape or not where.any():
        raise UserError("masked_relative_error needs x, truth and a non-empty mask of one shape")
    return float(np.linalg.norm((x - truth)[where]) / np.linalg.norm(truth[where]))
