"""The hard-margin SVM direction without a bias: the limit direction of gradient descent on the logistic loss over
separable data (Soudry et al. 2018).

ŵ = argmin ‖w‖² subject to yᵢ wᵀxᵢ ≥ 1. Its dual is a quadratic program with only bound constraints (no bias, so
no equality constraint): max Σα − ½ αᵀQα, α ≥ 0, Q = (y yᵀ) ⊙ (X Xᵀ), and ŵ = Σ αᵢ yᵢ xᵢ; scipy's L-BFGS-B solves
it to machine precision. (scikit-learn's ``LinearSVC`` defaults — squared hinge, a penalized intercept, finite C —
are not this solution.)
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from phenomena.errors import UserError


def hard_margin_svm(x: np.ndarray, y: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """The hard-margin direction ŵ (not normalized: its margins min yᵢ ŵᵀxᵢ are 1) for inputs ``x`` (n, d) and
    labels ``y`` in {−1, +1}; raises UserError when the data are not linearly separable through the origin (the
    dual is then unbounded)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 2 or y.shape != (len(x),) or not np.all(np.isin(y, (-1.0, 1.0))):
        raise UserError("hard_margin_svm needs x of shape (n, d) and labels y in {-1, +1} of shape (n,)")
    z = y[:, None] * x
    q = z @ z.T

    def objective(alpha: np.ndarray) -> tuple[float, np.ndarray]:
        qa = q @ alpha
        return 0.5 * alpha @ qa - alpha.sum(), qa - 1.0

    done = minimize(
        objective,
        np.zeros(len(x)),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * len(x),
        options={"ftol": tol, "gtol": tol, "maxiter": 100_000},
    )
    w = z.T @ done.x
    margins = z @ w
    if not np.isfinite(w).all() or margins.min() < 1 - 1e-4:
        raise UserError("the data are not linearly separable through the origin: no hard-margin direction")
    # at the optimum the duality gap closes: ‖ŵ‖² = Σα (feasible margins alone would pass a solver stopped early)
    if abs(done.x.sum() - w @ w) > 1e-4 * done.x.sum():
        raise UserError(f"hard_margin_svm: L-BFGS-B stopped before the optimum ({done.message})")
    return w


def angle(a: np.ndarray, b: np.ndarray) -> float:
    """The angle between two vectors, in radians (arccos of the clipped cosine; 0 for parallel vectors)."""
    cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.arccos(np.clip(cos, -1.0, 1.0)))
