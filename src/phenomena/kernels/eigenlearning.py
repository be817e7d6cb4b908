"""Eigenlearning: test and train MSE of kernel ridge regression predicted from the kernel's spectrum alone.

Kernel ridge regression (KRR) with kernel K(x, x') = sum_i lambda_i phi_i(x) phi_i(x') (phi_i orthonormal under
the data distribution) fits n samples with labels y = f(x) + noise, f = sum_i v_i phi_i and noise variance
sigma^2, as f_hat(x) = K(x, X) (K(X, X) + delta I)^{-1} y: ``ridge`` is delta in the kernel's own units, not
divided by n, and delta = 0 is the minimum-norm interpolant. The eigenlearning framework (Simon, Dickens, Karkada
& DeWeese 2021/2023, "The eigenlearning framework: a conservation law perspective on kernel ridge regression and
wide neural networks"; the same estimates as Bordelon et al. 2020, Canatar et al. 2021, Jacot et al. 2020)
predicts its average errors from one scalar, the effective regularization kappa >= 0:

    sum_i lambda_i / (lambda_i + kappa) + delta / kappa = n               (the eigenlearning equation)
    L_i = lambda_i / (lambda_i + kappa)                                    (learnability of mode i; sum <= n)
    E0  = n / (n - sum_i L_i^2)                                            (the noise-fitting factor, >= 1)
    test MSE  = E0 (sum_i (1 - L_i)^2 v_i^2 + sigma^2)                     (against noisy test labels)
    train MSE = (delta / (n kappa))^2 * test MSE                           (against the noisy train labels)

The test MSE includes the irreducible sigma^2 (the paper's E(f) = ||f - f_hat||^2 + sigma^2); subtract it for the
error against the clean target. The estimates are exact as n and the number of modes grow (Gaussian-like
eigenfunctions); at n = 100 they are typically within a percent or two of the average over draws of the data.

Overfitting regimes (Mallinar, Simon, Abedsoltan, Pandit, Belkin & Nakkiran 2022, "Benign, tempered, or
catastrophic"): with delta = 0 and pure-noise labels the test MSE is E0 sigma^2, so the limit of E0 as n grows
classifies the spectrum: 1 is benign (e.g. lambda_k = 1 / (k ln^2 k), slowly, like 1 + c / ln n), a finite value
above 1 is tempered (lambda_k = k^-alpha gives E0 -> alpha) and infinity is catastrophic (lambda_k = e^{-k/tau}
gives E0 ~ n / tau). :func:`noise_fitting_factor_curve` evaluates E0(n) for a spectrum family.

Modes far below kappa act as a ridge equal to the sum of their eigenvalues (each contributes lambda_k / kappa to
the equation and nothing else that matters): to stand in for the infinite tail of a spectrum truncated after M
modes, add sum_{k > M} lambda_k to ``ridge``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from scipy.optimize import brentq

from phenomena.errors import UserError

Spectrum = np.ndarray | Iterable[float] | Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class EigenlearningPrediction:
    """What the eigenlearning framework predicts for KRR on n samples (see the module docstring for formulas).

    Attributes:
        kappa: the effective regularization, the root of the eigenlearning equation.
        learnabilities: L_i = lambda_i / (lambda_i + kappa), in the order of the eigenvalues given.
        noise_fitting_factor: E0 = n / (n - sum L_i^2), the factor by which fitting amplifies the test MSE.
        test_mse: E0 (sum (1 - L_i)^2 v_i^2 + sigma^2), the expected MSE on fresh noisy samples.
        train_mse: (delta / (n kappa))^2 test_mse; 0 for the ridgeless interpolant.
    """

    kappa: float
    learnabilities: np.ndarray
    noise_fitting_factor: float
    test_mse: float
    train_mse: float


def effective_regularization(eigenvalues: np.ndarray | Iterable[float], n: int, ridge: float = 0.0) -> float:
    """The effective regularization kappa: the root of sum_i lambda_i / (lambda_i + kappa) + delta / kappa = n.

    The left side falls strictly from its kappa -> 0 limit (infinite with a ridge, the number of positive
    eigenvalues without) to 0, so the root is unique where it exists; it is bracketed from the equation's bounds
    and found by ``scipy.optimize.brentq`` in log kappa (to about 1e-13 relative), so spectra spanning hundreds of
    orders of magnitude (exponential decay) are solved as well as flat ones. Simon et al. 2023, eq. (5).

    Args:
        eigenvalues: the kernel's eigenvalues lambda_i >= 0 (1-D, any order, zeros allowed).
        n: the number of training samples, an integer >= 1.
        ridge: delta >= 0, the ridge of K(X, X) + delta I in the kernel's units; 0 for the min-norm interpolant,
            which needs more than n positive eigenvalues (with n or fewer modes KRR cannot interpolate
            generically, and kappa would be 0).

    Returns:
        kappa > 0.

    Example:
        >>> round(effective_regularization([1.0, 1.0], n=1), 12)  # 2 / (1 + kappa) = 1
        1.0
        >>> round(effective_regularization([1.0, 1.0], n=1, ridge=1.0), 12)  # kappa^2 - 2 kappa - 1 = 0
        2.414213562373
    """
    lam = _eigenvalues(eigenvalues)
    n = _samples(n)
    delta = _nonnegative(ridge, "ridge")
    return _solve_kappa(lam[lam > 0], n, delta)


def eigenlearning_predict(
    eigenvalues: np.ndarray | Iterable[float],
    n: int,
    target: np.ndarray | Iterable[float] | None = None,
    *,
    noise_variance: float = 0.0,
    ridge: float = 0.0,
) -> EigenlearningPrediction:
    """Predicted learnabilities, noise-fitting factor E0, test and train MSE of KRR (Simon et al. 2023).

    E0 is evaluated as n / (sum_i L_i (1 - L_i) + delta / kappa), which equals n / (n - sum L_i^2) at the root
    of the eigenlearning equation but has no cancellation when sum L_i^2 is close to n (exponential spectra).

    Args:
        eigenvalues: the kernel's eigenvalues lambda_i >= 0 (1-D, any order).
        n: the number of training samples, an integer >= 1.
        target: the target's coefficients v_i in the kernel's orthonormal eigenbasis, one per eigenvalue and in
            the same order; ``None`` for a zero target (pure-noise labels).
        noise_variance: sigma^2 >= 0, the variance of the label noise (on train and test labels alike).
        ridge: delta >= 0, as in :func:`effective_regularization`.

    Returns:
        An :class:`EigenlearningPrediction`.

    Example:
        >>> p = eigenlearning_predict([1.0, 1.0], n=1, target=[1.0, 0.0], noise_variance=0.25)
        >>> [round(float(x), 12) for x in (p.kappa, *p.learnabilities, p.noise_fitting_factor, p.test_mse, p.train_mse)]
        [1.0, 0.5, 0.5, 2.0, 1.0, 0.0]
    """
    lam = _eigenvalues(eigenvalues)
    n = _samples(n)
    delta = _nonnegative(ridge, "ridge")
    sigma2 = _nonnegative(noise_variance, "noise_variance")
    v = np.zeros_like(lam) if target is None else _target(target, lam.size)
    kappa, learn, miss, e0 = _solve(lam, n, delta)
    test = e0 * (float(np.sum(miss**2 * v**2)) + sigma2)
    train = (delta / (n * kappa)) ** 2 * test
    return EigenlearningPrediction(kappa, learn, e0, test, train)


def noise_fitting_factor_curve(
    spectrum: Spectrum, ns: Iterable[int], *, ridge: float = 0.0, modes: int | None = None
) -> np.ndarray:
    """E0(n) for each n in ``ns``: how fitting noise costs as data grows, the regime test of Mallinar et al. 2022.

    With pure-noise labels the ridgeless test MSE is E0 sigma^2, so the curve's limit classifies the spectrum:
    E0 -> 1 benign, -> a finite value above 1 tempered (k^-alpha: alpha), growing without bound catastrophic
    (e^{-k/tau}: about n / tau). A finite spectrum is eventually catastrophic as n approaches its length, so keep
    ``modes`` far above max(ns) (the default is 1000 max(ns); 8 bytes a mode), or add the truncated tail's
    eigenvalue sum to ``ridge`` (see the module docstring).

    Args:
        spectrum: the eigenvalues (1-D array), or a function mapping the 1-based mode indices
            ``np.arange(1, modes + 1)`` (int64) to lambda_k, e.g. ``lambda k: k ** -2.0``.
        ns: sample sizes, integers >= 1.
        ridge: delta >= 0 for every n, as in :func:`effective_regularization`.
        modes: how many modes a function ``spectrum`` is evaluated on; must be left out for an array.

    Returns:
        E0 for each n, float64 of shape (len(ns),).

    Example:
        >>> curve = noise_fitting_factor_curve(lambda k: k**-2.0, [10, 100, 1000], modes=10**5)
        >>> bool(abs(curve[-1] - 2.0) < 0.02)  # tempered: E0 -> alpha = 2
        True
    """
    sizes = [_samples(n) for n in ns]
    if not sizes:
        raise UserError("ns must hold at least one sample size.")
    if callable(spectrum):
        count = 1000 * max(sizes) if modes is None else modes
        if not isinstance(count, Integral) or isinstance(count, bool) or count < 1:
            raise UserError(f"modes must be an integer >= 1, got {modes!r}.")
        values = np.asarray(spectrum(np.arange(1, int(count) + 1, dtype=np.int64)), dtype=np.float64)
        if values.shape != (count,):
            raise UserError(
                f"spectrum must return one eigenvalue per mode index, shape ({count},), got {values.shape}."
            )
    elif modes is not None:
        raise UserError("modes applies only to a function spectrum; an array of eigenvalues is used whole.")
    else:
        values = spectrum
    lam = _eigenvalues(values)
    positive = lam[lam > 0]
    delta = _nonnegative(ridge, "ridge")
    return np.array([_solve(positive, n, delta)[3] for n in sizes], dtype=np.float64)


def _solve(lam: np.ndarray, n: int, delta: float) -> tuple[float, np.ndarray, np.ndarray, float]:
    """kappa, L_i, 1 - L_i (without cancellation) and E0 = n / (sum L_i (1 - L_i) + delta / kappa)."""
    kappa = _solve_kappa(lam[lam > 0], n, delta)
    learn = lam / (lam + kappa)
    miss = kappa / (lam + kappa)
    return kappa, learn, miss, n / (float(np.sum(learn * miss)) + delta / kappa)


def _solve_kappa(lam: np.ndarray, n: int, delta: float) -> float:
    """The root kappa of sum lam / (lam + kappa) + delta / kappa = n for positive ``lam``, in log kappa."""
    if delta == 0 and lam.size <= n:
        raise UserError(
            f"with ridge 0 the eigenlearning equation needs more than n = {n} positive eigenvalues, got "
            f"{lam.size}: no interpolating kappa > 0 exists (use a ridge > 0 or a longer spectrum)."
        )
    log_delta = math.log(delta) if delta > 0 else -math.inf
    # f(kappa) >= delta / kappa - n > 0 for kappa = delta / (2n); without a ridge the n + 1 largest eigenvalues
    # each have L >= (2n + 2) / (2n + 3) at kappa = lambda_(n+1) / (2n + 2), so the sum exceeds n.
    lows = [log_delta - math.log(2 * n)] if delta > 0 else []
    if lam.size > n:
        lows.append(math.log(np.partition(lam, lam.size - n - 1)[lam.size - n - 1]) - math.log(2 * n + 2))
    # f(kappa) < (sum lam + delta) / kappa - n = -n / 2 at kappa = 2 (sum lam + delta) / n.
    high = math.log(2.0) + math.log(float(np.sum(lam)) + delta) - math.log(n)

    def excess(log_kappa: float) -> float:
        ridge_term = math.exp(log_delta - log_kappa) if delta > 0 else 0.0
        return float(np.sum(lam / (lam + math.exp(log_kappa)))) + ridge_term - n

    return math.exp(brentq(excess, max(lows), high, xtol=1e-14, rtol=1e-15, maxiter=500))


def _eigenvalues(eigenvalues: np.ndarray | Iterable[float]) -> np.ndarray:
    try:
        lam = np.asarray(eigenvalues, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError("eigenvalues must be a 1-D array of numbers.") from None
    if lam.ndim != 1 or lam.size == 0:
        raise UserError(f"eigenvalues must be a non-empty 1-D array, got shape {lam.shape}.")
    if not np.all(np.isfinite(lam)) or np.any(lam < 0):
        raise UserError("eigenvalues must be finite and >= 0 (a kernel is positive semi-definite).")
    return lam


def _target(target: np.ndarray | Iterable[float], size: int) -> np.ndarray:
    try:
        v = np.asarray(target, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError("target must be a 1-D array of eigencoefficients.") from None
    if v.shape != (size,):
        raise UserError(f"target must have one coefficient per eigenvalue, shape ({size},), got {v.shape}.")
    if not np.all(np.isfinite(v)):
        raise UserError("target must hold finite eigencoefficients.")
    return v


def _samples(n: int) -> int:
    if not isinstance(n, Integral) or isinstance(n, bool) or n < 1:
        raise UserError(f"n (the number of training samples) must be an integer >= 1, got {n!r}.")
    return int(n)


def _nonnegative(value: float, name: str) -> float:
    if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise UserError(f"{name} must be a finite number >= 0, got {value!r}.")
    return float(value)
