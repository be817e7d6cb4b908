"""Learning curves of kernel regression on power-law problems: the exponent theory predicts and an exact risk.

For kernel regression with eigenvalues λ_k ∝ k^−a and target power v_k² ∝ k^−b in the kernel's eigenbasis, the
ridgeless test error falls as n^−(b−1) for 1 < b < 2a + 1 (Bordelon, Canatar & Pehlevan 2020; Spigler, Geiger &
Wyart 2020; Cui, Loureiro, Krzakala & Zdeborová 2021; Simon et al. 2023): the modes k ≲ n are learned (κ ∝ n^−a)
and the rest, Σ_{k>n} k^−b ∝ n^{1−b}, are missed; a fixed ridge δ makes κ ≈ δ/n and the exponent (b − 1)/a
(:func:`learning_curve_exponent`). :func:`power_law_problem` builds the truncated problem (its tail acts as a ridge
and as label noise, as in :mod:`phenomena.kernels.eigenlearning`), and :func:`kernel_regression_risk` measures the
test MSE of one draw of the training inputs in closed form over the test point and the label noise: the quantity
:func:`~phenomena.kernels.eigenlearning.eigenlearning_predict` predicts on average.
"""

from __future__ import annotations

import numpy as np

from phenomena.errors import UserError


def learning_curve_exponent(a: float, b: float, ridge: bool = False) -> float:
    """The exponent of kernel regression's learning curve, test MSE ∝ n^−γ, for eigenvalues λ_k ∝ k^−a and target
    power v_k² ∝ k^−b in the kernel's eigenbasis (a > 1, b > 1), noiseless labels.

    Ridgeless (Bordelon, Canatar & Pehlevan 2020; Spigler, Geiger & Wyart 2020; Cui et al. 2021): κ ∝ n^−a, the
    modes k ≲ n are learned and the rest missed, γ = b − 1, saturating at 2a when b > 2a + 1 (the learned modes'
    residual κ²Σ v_k²/λ_k² then dominates). With a fixed ridge δ > 0 (``ridge=True``) κ ≈ δ/n for large n, the
    learned modes are k ≲ n^{1/a}, and γ = min(b − 1, 2a)/a.

    Args:
        a: spectrum exponent, > 1.
        b: target exponent, > 1.
        ridge: whether a fixed positive ridge is used.

    Returns:
        γ.

    Example:
        >>> learning_curve_exponent(2.0, 2.5), learning_curve_exponent(2.0, 2.5, ridge=True)
        (1.5, 0.75)
    """
    if not (a > 1 and b > 1):
        raise UserError(f"learning_curve_exponent needs a > 1 and b > 1; got a={a}, b={b}")
    gamma = min(b - 1, 2 * a)
    return gamma / a if ridge else gamma


def power_law_problem(modes: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray, float, float]:
    """A power-law kernel problem truncated after ``modes`` modes: eigenvalues λ_k = k^−a, target coefficients
    v_k = k^−b/2 (power v_k² = k^−b), and the tail sums past the truncation, Σ_{k>M} k^−a (it acts as a ridge) and
    Σ_{k>M} k^−b (the target power the kept modes miss; it acts as label noise), both by ∫_{M+1/2}^∞ x^−p dx.

    Args:
        modes: kept modes M ≥ 1.
        a: spectrum exponent, > 1.
        b: target exponent, > 1.

    Returns:
        (λ (M,), v (M,), Σ_{k>M} k^−a, Σ_{k>M} k^−b).

    Example:
        >>> lam, v, tail, power = power_law_problem(3, 2.0, 3.0)
        >>> lam.tolist(), round(tail, 4), round(power, 4)  # ∫_{3.5}^∞ x^-2 dx, ∫_{3.5}^∞ x^-3 dx / 2
        ([1.0, 0.25, 0.1111111111111111], 0.2857, 0.0408)
    """
    if modes < 1 or not (a > 1 and b > 1):
        raise UserError(f"power_law_problem needs modes >= 1, a > 1 and b > 1; got {modes}, a={a}, b={b}")
    k = np.arange(1, modes + 1, dtype=np.float64)
    return k**-a, k ** (-b / 2), (modes + 0.5) ** (1 - a) / (a - 1), (modes + 0.5) ** (1 - b) / (b - 1)


def kernel_regression_risk(
    eigenvalues: np.ndarray,
    target: np.ndarray,
    n: int,
    rng: np.random.Generator,
    ridge: float = 0.0,
    noise: float = 0.0,
) -> float:
    """Test MSE of kernel (ridge) regression on n drawn Gaussian points, exact over the test point and label noise.

    Features z ~ N(0, diag λ), target f(z) = Σ_k v_k z_k/√λ_k (coefficients v in the orthonormal basis z_k/√λ_k),
    labels f + ε with Var ε = ``noise``; the fit f̂ = zᵀZᵀ(ZZᵀ + δI)⁻¹y has coefficients v̂ = Λ^{1/2}Zᵀ(ZZᵀ + δI)⁻¹y.
    Returns ‖v − v̂_clean‖² + noise·(1 + ‖(ZZᵀ + δI)⁻¹ZΛ^{1/2}‖²_F): the error against noisy test labels averaged
    over the test point and the training noise, for this draw of Z (the quantity eigenlearning predicts).

    Args:
        eigenvalues: λ (M,), positive.
        target: v (M,).
        n: training points.
        rng: draws Z.
        ridge: δ ≥ 0.
        noise: label-noise variance σ² ≥ 0.

    Returns:
        The test MSE.

    Example:
        >>> import numpy as np
        >>> lam = np.ones(3); v = np.array([1.0, 0.0, 0.0])
        >>> round(kernel_regression_risk(lam, v, 1, np.random.default_rng(0), ridge=1e9), 6)  # nothing learned
        1.0
    """
    z = rng.standard_normal((n, eigenvalues.size)) * np.sqrt(eigenvalues)
    zl = z * np.sqrt(eigenvalues)  # Z Λ^{1/2}
    y = z @ (target / np.sqrt(eigenvalues))
    inv = np.linalg.inv(z @ z.T + ridge * np.eye(n))
    v_hat = zl.T @ (inv @ y)
    # ‖(ZZᵀ + δI)⁻¹ Z Λ^{1/2}‖²_F = tr(G⁻¹ (ZΛZᵀ) G⁻¹)
    frob = float(np.sum((inv @ (zl @ zl.T)) * inv))
    return float(np.sum((target - v_hat) ** 2)) + noise * (1.0 + frob)
