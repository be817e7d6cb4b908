"""Interpolants of an underdetermined linear system Xβ = y picked out by a norm or a potential: the minimum-ℓ1
(basis pursuit), the minimum-ℓ2, and the minimizer of the diagonal-network potential Q_α that interpolates
between them (Woodworth et al. 2020, "Kernel and rich regimes in overparametrized models").

The potential. Gradient flow on ½·mean((Xβ − y)²) over β = u⊙u − v⊙v from u = v = α·1 keeps uᵢvᵢ = α² for ever
(d(uᵢvᵢ)/dt = 0), so uᵢ² + vᵢ² = √(βᵢ² + 4α⁴) and β̇ = −4 √(β² + 4α⁴) ⊙ ∇L: mirror descent whose potential ψ has
ψ'(βᵢ) = arcsinh(βᵢ / 2α²). Integrating, ψ(β) = Q_α(β) = α² Σᵢ q(βᵢ / α²) with

    q(z) = 2 − √(4 + z²) + z·arcsinh(z / 2),

and the limit of the flow (when it interpolates) is argmin Q_α(β) subject to Xβ = y: its KKT condition
arcsinh(β / 2α²) = Xᵀλ is exactly the form β = 2α² sinh(Xᵀλ) the flow keeps. For large α, q(z) ≈ z²/4 and
Q_α ≈ ‖β‖²/4α² (min-ℓ2, the kernel regime); for small α, Q_α ≈ ln(1/α²)·‖β‖₁ + O(‖β‖₁) (min-ℓ1, the rich
regime). A per-coordinate α (an array), from the initialization u = v = α⊙a, gives Q = Σᵢ αᵢ² q(βᵢ / αᵢ²) by the
same argument; every function here accepts one.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog, minimize

from phenomena.errors import UserError

# relative residual of the KKT condition accepted at the solution (calibration designs: at most 1.4e-5)
KKT_TOL = 1e-3


def _system(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise UserError(f"an interpolant needs x of shape (n, d) and y of shape (n,); got {x.shape} and {y.shape}")
    return x, y


def min_l1_interpolant(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The minimum-ℓ1 solution of Xβ = y (basis pursuit), as the linear program min 1ᵀ(p + q) subject to
    X(p − q) = y, p, q ≥ 0, solved by HiGHS (``scipy.optimize.linprog(method="highs")``).

    Args:
        x: the (n, d) design, n < d for an underdetermined system.
        y: the (n,) targets.

    Returns:
        β, shape (d,). Raises UserError when Xβ = y has no solution.

    Example:
        >>> min_l1_interpolant(np.array([[1.0, 2.0]]), np.array([2.0]))  # the cheaper coordinate carries it
        array([0., 1.])
    """
    x, y = _system(x, y)
    d = x.shape[1]
    done = linprog(np.ones(2 * d), A_eq=np.hstack([x, -x]), b_eq=y, bounds=(0, None), method="highs")
    if done.status != 0:
        raise UserError(f"min_l1_interpolant: the linear program failed ({done.message})")
    return done.x[:d] - done.x[d:]


def min_l2_interpolant(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The minimum-ℓ2 solution of Xβ = y (least squares with the SVD-based ``lstsq``: X⁺y), the limit of
    gradient descent on β itself from β = 0, and of the diagonal network at large initialization.

    Args:
        x: the (n, d) design.
        y: the (n,) targets.

    Returns:
        β = X⁺y, shape (d,).

    Example:
        >>> min_l2_interpolant(np.array([[1.0, 1.0]]), np.array([2.0]))
        array([1., 1.])
    """
    x, y = _system(x, y)
    return np.linalg.lstsq(x, y, rcond=None)[0]


def q_potential(beta: np.ndarray, alpha: float | np.ndarray) -> float:
    """The diagonal-network potential Q_α(β) = Σᵢ αᵢ² q(βᵢ / αᵢ²), q(z) = 2 − √(4 + z²) + z·arcsinh(z/2), whose
    gradient is arcsinh(β / 2α²). Computed as z·arcsinh(z/2) − z² / (2 + √(4 + z²)), which has no cancellation
    at small z (where q(z) ≈ z²/4).

    Args:
        beta: the (d,) coefficients.
        alpha: the initialization scale (u = v = α at t = 0): a scalar, or one per coordinate.

    Returns:
        Q_α(β), a float.

    Example:
        >>> round(q_potential(np.array([1e-3]), 1.0) * 4e6, 6)  # ≈ β²/4α² at large α
        1.0
    """
    a2 = np.asarray(alpha, dtype=float) ** 2
    z = np.asarray(beta, dtype=float) / a2
    return float(np.sum(a2 * (z * np.arcsinh(z / 2) - z * z / (2 + np.sqrt(4 + z * z)))))


def q_interpolant(
    x: np.ndarray, y: np.ndarray, alpha: float | np.ndarray, start: np.ndarray | None = None, tol: float = 1e-14
) -> np.ndarray:
    """argmin Q_α(β) subject to Xβ = y: the limit of gradient flow on the diagonal network β = u⊙u − v⊙v from
    u = v = α (Woodworth et al. 2020, Theorem 1), solved by SLSQP with the exact gradient arcsinh(β / 2α²) and the
    constraint's Jacobian X. The objective is divided by ln(1 + 1/α²) (mean over coordinates), so that it is
    O(‖β‖₁) at small α (Q_α ≈ ln(1/α²)‖β‖₁) and O(‖β‖²) at large α (Q_α ≈ ‖β‖²/4α²), where SLSQP's absolute
    ``ftol`` then means the same. The default start (the min-ℓ1 interpolant when α < 1, else min-ℓ2) is feasible.

    Args:
        x: the (n, d) design, of full row rank.
        y: the (n,) targets.
        alpha: the initialization scale: a scalar, or one per coordinate.
        start: a starting β (need not be feasible).
        tol: SLSQP's ``ftol``.

    Returns:
        β, shape (d,). Raises UserError when SLSQP fails or ends off the constraint set.

    Example:
        >>> x, y = np.array([[1.0, 2.0]]), np.array([2.0])
        >>> q_interpolant(x, y, 1e-4).round(3), q_interpolant(x, y, 1e2).round(3)  # min-ℓ1, then min-ℓ2
        (array([0., 1.]), array([0.4, 0.8]))
    """
    x, y = _system(x, y)
    a2 = np.broadcast_to(np.asarray(alpha, dtype=float) ** 2, (x.shape[1],))
    scale = float(np.mean(np.log1p(1 / a2)))
    if start is None:
        start = min_l1_interpolant(x, y) if np.max(a2) < 1 else min_l2_interpolant(x, y)

    def objective(beta: np.ndarray) -> tuple[float, np.ndarray]:
        return q_potential(beta, np.sqrt(a2)) / scale, np.arcsinh(beta / (2 * a2)) / scale

    done = minimize(
        objective,
        np.asarray(start, dtype=float),
        jac=True,
        method="SLSQP",
        constraints=[{"type": "eq", "fun": lambda b: x @ b - y, "jac": lambda b: x}],
        options={"ftol": tol, "maxiter": 2000},
    )
    beta = done.x
    if not np.isfinite(beta).all() or np.linalg.norm(x @ beta - y) > 1e-6 * max(np.linalg.norm(y), 1.0):
        raise UserError(f"q_interpolant: SLSQP did not reach the constraint set ({done.message})")
    # the start is feasible, so feasibility alone would pass a solver that stopped early: check optimality too
    # (KKT: ∇Q_α(β) = arcsinh(β / 2α²) lies in the row space of X)
    grad = np.arcsinh(beta / (2 * a2))
    multipliers = np.linalg.lstsq(x.T, grad, rcond=None)[0]
    if np.linalg.norm(x.T @ multipliers - grad) > KKT_TOL * max(np.linalg.norm(grad), 1e-300):
        raise UserError(f"q_interpolant: SLSQP stopped before the minimizer of Q_α ({done.message})")
    return beta
