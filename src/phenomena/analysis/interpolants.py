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
from scipy.optimize import linprog

from phenomena.errors import UserError

NEWTON_STEPS = 200  # the dual's Newton iterations at most (the catalog's designs take ~5-40 from a warm start)


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
    x: np.ndarray, y: np.ndarray, alpha: float | np.ndarray, start: np.ndarray | None = None, tol: float = 1e-12
) -> np.ndarray:
    """argmin Q_α(β) subject to Xβ = y: the limit of gradient flow on the diagonal network β = u⊙u − v⊙v from
    u = v = α (Woodworth et al. 2020, Theorem 1), solved in its dual by Newton's method.

    The KKT condition ∇Q_α(β) = arcsinh(β / 2α²) = Xᵀλ gives β(λ) = 2α² sinh(Xᵀλ), and λ maximizes the concave
    dual D(λ) = λᵀy − Σᵢ 2αᵢ²(cosh((Xᵀλ)ᵢ) − 1), whose gradient is the residual y − Xβ(λ) and whose Hessian is
    −X diag(2α² cosh(Xᵀλ)) Xᵀ: n unknowns instead of d, and Newton steps with a backtracking line search on D
    converge from any start, also at small α where β(λ) is nearly the sparse min-ℓ1 solution.

    Args:
        x: the (n, d) design, of full row rank.
        y: the (n,) targets.
        alpha: the initialization scale: a scalar, or one per coordinate.
        start: a β to start from (its multipliers, the least-squares λ of arcsinh(β / 2α²) = Xᵀλ, start Newton);
            none starts at λ = 0.
        tol: Newton stops when ‖Xβ − y‖ ≤ tol · max(‖y‖, 1).

    Returns:
        β, shape (d,). Raises UserError when Newton does not reach the constraint set.

    Example:
        >>> x, y = np.array([[1.0, 2.0]]), np.array([2.0])
        >>> q_interpolant(x, y, 1e-4).round(3), q_interpolant(x, y, 1e2).round(3)  # min-ℓ1, then min-ℓ2
        (array([0., 1.]), array([0.4, 0.8]))
    """
    x, y = _system(x, y)
    two_a2 = 2 * np.broadcast_to(np.asarray(alpha, dtype=float) ** 2, (x.shape[1],))
    lam = np.zeros(x.shape[0])
    if start is not None:
        lam = np.linalg.lstsq(x.T, np.arcsinh(np.asarray(start, dtype=float) / two_a2), rcond=None)[0]
    goal = tol * max(float(np.linalg.norm(y)), 1.0)

    def dual(lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, float]:
        """D(λ), Xᵀλ, β(λ), the residual y − Xβ (D's gradient) and its norm; a trial step too long for sinh gives
        non-finite values, which the line search refuses."""
        s = x.T @ lam
        with np.errstate(over="ignore", invalid="ignore"):
            # cosh(s) - 1 as 2 sinh²(s/2): at large α, s is ~1e-5 and the difference would keep five digits
            value, beta = float(lam @ y - two_a2 @ (2 * np.sinh(s / 2) ** 2)), two_a2 * np.sinh(s)
            residual = y - x @ beta
            return value, s, beta, residual, float(np.linalg.norm(residual))

    value, s, beta, residual, size = dual(lam)
    for _ in range(NEWTON_STEPS):
        if size <= goal:
            return beta
        hessian = (x * (two_a2 * np.cosh(s))) @ x.T
        step = np.linalg.lstsq(hessian, residual, rcond=None)[0]  # lstsq: the Hessian's condition can be 1e12
        slope, t = float(residual @ step), 1.0
        while True:
            # Armijo: the first step length that raises D enough, or (near the solution, where D's change is
            # below its rounding) that shrinks the residual, the gradient Newton zeroes
            trial = dual(lam + t * step)
            rises = trial[0] >= value + 1e-4 * t * slope
            if np.isfinite(trial[0]) and np.isfinite(trial[4]) and (rises or trial[4] <= (1 - 1e-4 * t) * size):
                break
            t /= 2
            if t < 1e-12:
                raise UserError("q_interpolant: the Newton step found no ascent of the dual (a rank-deficient X?)")
        lam = lam + t * step
        value, s, beta, residual, size = trial
    raise UserError(f"q_interpolant: Newton did not reach the constraint set in {NEWTON_STEPS} steps")
