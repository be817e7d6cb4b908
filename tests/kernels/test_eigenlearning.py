"""Eigenlearning predictions (kernels.eigenlearning) against independent oracles: hand-solved equations, the flat
spectrum's explicit kappa, the exact finite-n risk of isotropic min-norm regression (Wishart moments), the
large-ridge limit, Monte Carlo over ridge / min-norm least squares on Gaussian features, and the asymptotic E0
of the three overfitting regimes (Beta integrals, logistic step, slow 1 + c / ln n)."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from scipy.special import zeta

from phenomena.errors import UserError
from phenomena.kernels import eigenlearning as el
from phenomena.kernels.eigenlearning import effective_regularization, eigenlearning_predict, noise_fitting_factor_curve


def test_docstring_examples_run():
    failures, tried = doctest.testmod(el, optionflags=doctest.ELLIPSIS)
    assert tried >= 5 and failures == 0


def test_hand_solved_two_mode_cases():
    # lambda = (1, 1), n = 1: 2 / (1 + kappa) = 1 -> kappa = 1, L = 1/2, E0 = 1 / (1 - 1/2) = 2.
    p = eigenlearning_predict([1.0, 1.0], 1, [1.0, 0.0], noise_variance=0.25)
    assert p.kappa == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(p.learnabilities, [0.5, 0.5], rtol=1e-12)
    assert p.noise_fitting_factor == pytest.approx(2.0, rel=1e-12)
    assert p.test_mse == pytest.approx(2.0 * (0.25 * 1.0 + 0.25), rel=1e-12)
    assert p.train_mse == 0.0
    # With ridge 1: 2 / (1 + kappa) + 1 / kappa = 1 -> kappa^2 - 2 kappa - 1 = 0 -> kappa = 1 + sqrt(2).
    k = 1 + math.sqrt(2)
    p = eigenlearning_predict([1.0, 1.0], 1, [1.0, 0.0], noise_variance=0.25, ridge=1.0)
    assert p.kappa == pytest.approx(k, rel=1e-12)
    e0 = 1 / (1 - 2 / (1 + k) ** 2)
    assert p.noise_fitting_factor == pytest.approx(e0, rel=1e-12)
    assert p.test_mse == pytest.approx(e0 * ((k / (1 + k)) ** 2 + 0.25), rel=1e-12)
    assert p.train_mse == pytest.approx(p.test_mse / k**2, rel=1e-12)


@pytest.mark.parametrize(("m", "n", "lam", "ridge"), [(300, 100, 1.0, 0.0), (50, 49, 0.3, 0.0), (40, 100, 2.0, 0.5)])
def test_flat_spectrum_explicit_kappa(m, n, lam, ridge):
    # M lambda / (lambda + kappa) + delta / kappa = n  <=> n kappa^2 - ((M - n) lambda + delta) kappa - delta lambda = 0
    b = (m - n) * lam + ridge
    kappa = (b + math.sqrt(b * b + 4 * n * ridge * lam)) / (2 * n)
    p = eigenlearning_predict(np.full(m, lam), n, ridge=ridge)
    assert p.kappa == pytest.approx(kappa, rel=1e-11)
    learn = lam / (lam + kappa)
    assert p.noise_fitting_factor == pytest.approx(n / (n - m * learn**2), rel=1e-9)


def test_flat_spectrum_matches_exact_isotropic_min_norm_risk():
    # Min-norm least squares on x ~ N(0, I_M), n < M - 1 samples: the fit is the projection of v onto a uniformly
    # random n-dimensional row space, so the bias is exactly (1 - n/M) |v|^2, and the noise term is
    # sigma^2 E tr((X X^T)^-1) = sigma^2 n / (M - n - 1) (inverse-Wishart mean). Eigenlearning gets the bias exactly
    # and the noise term up to O(1/M): E0 = M / (M - n).
    m, n, sigma2 = 2000, 100, 0.7
    v = np.random.default_rng(0).standard_normal(m) / math.sqrt(m)
    p = eigenlearning_predict(np.ones(m), n, v, noise_variance=0.0)
    assert p.test_mse == pytest.approx((1 - n / m) * float(v @ v), rel=1e-10)
    p = eigenlearning_predict(np.ones(m), n, noise_variance=sigma2)
    assert p.test_mse == pytest.approx(sigma2 * (1 + n / (m - n - 1)), rel=1e-4)


def test_large_ridge_predicts_the_zero_function():
    lam = np.arange(1, 501.0) ** -1.5
    v = np.zeros(500)
    v[[0, 3, 10]] = [1.0, -0.5, 0.25]
    p = eigenlearning_predict(lam, 50, v, noise_variance=0.3, ridge=1e9)
    null = float(v @ v) + 0.3  # f_hat -> 0: test = train = E[y^2]
    assert p.kappa == pytest.approx((lam.sum() + 1e9) / 50, rel=1e-6)
    assert p.test_mse == pytest.approx(null, rel=1e-6)
    assert p.train_mse == pytest.approx(null, rel=1e-6)
    assert p.learnabilities.max() < 1e-6


def _monte_carlo(lam, n, v, sigma2, ridge, draws, seed):
    """Mean test and train MSE of KRR with the linear kernel on Gaussian features x = sqrt(lam) * z, z ~ N(0, I):
    its eigenfunctions are phi_i = z_i, so y = z @ v + noise. Ridgeless: numpy's min-norm lstsq; else the kernel
    ridge solution beta = X^T (X X^T + ridge I)^-1 y. Test MSE is exact over x: |sqrt(lam) beta - v|^2 + sigma^2."""
    rng = np.random.default_rng(seed)
    scale = np.sqrt(lam)
    test, train = [], []
    for _ in range(draws):
        z = rng.standard_normal((n, lam.size))
        x = z * scale
        y = z @ v + math.sqrt(sigma2) * rng.standard_normal(n)
        if ridge == 0:
            beta = np.linalg.lstsq(x, y, rcond=None)[0]
        else:
            beta = x.T @ np.linalg.solve(x @ x.T + ridge * np.eye(n), y)
        test.append(float(np.sum((scale * beta - v) ** 2)) + sigma2)
        train.append(float(np.mean((x @ beta - y) ** 2)))
    return np.mean(test), np.mean(train)


# n = 100 samples, M = 2000 modes of lambda_k = k^-1.5 (a tempered power law: E0 -> 1.5 as n grows). The theory is
# exact as n, M -> infinity; at n = 100 its finite-n bias measured here is <= 0.5% for the test MSE and up to 2% for
# the train MSE at large ridge, and 150 draws give a standard error of about 0.5%: rtol 3% (test) and 5% (train).
# Dropping E0, or L_i for L_i^2 in it, moves the prediction by 15-60% in these cases.
@pytest.mark.parametrize(
    ("ridge", "sigma2", "signal"),
    [(0.0, 0.5, True), (0.0, 1.0, False), (1e-2, 0.5, True), (0.3, 0.5, True), (3.0, 0.1, True)],
)
def test_monte_carlo_gaussian_features(ridge, sigma2, signal):
    n, m = 100, 2000
    lam = np.arange(1, m + 1.0) ** -1.5
    v = np.zeros(m)
    if signal:
        v[[0, 4, 19, 79, 299]] = [1.0, 0.7, 0.5, 0.5, 0.3]
    p = eigenlearning_predict(lam, n, v, noise_variance=sigma2, ridge=ridge)
    test, train = _monte_carlo(lam, n, v, sigma2, ridge, draws=150, seed=int(ridge * 1000) + int(signal))
    assert test == pytest.approx(p.test_mse, rel=0.03)
    if ridge == 0:
        assert train < 1e-18 and p.train_mse == 0.0
    else:
        assert train == pytest.approx(p.train_mse, rel=0.05)
    if not signal:  # pure-noise labels, min-norm: the measured test MSE / sigma^2 is E0 (tempered: well above 1)
        assert test / sigma2 == pytest.approx(p.noise_fitting_factor, rel=0.03)
        assert p.noise_fitting_factor > 1.5


@pytest.mark.parametrize("alpha", [1.5, 2.0, 4.0])
def test_power_law_is_tempered(alpha):
    # lambda_k = k^-alpha, ridgeless: in the continuum limit L(k) = 1 / (1 + (k / (a n))^alpha) with
    # a * I1 = 1 and sum L^2 / n -> a * I2, where I_p = int_0^inf du / (1 + u^alpha)^p = B(1/alpha, p - 1/alpha)
    # / alpha, so I2 / I1 = 1 - 1/alpha and E0 -> 1 / (1 - (1 - 1/alpha)) = alpha: finite and > 1.
    curve = noise_fitting_factor_curve(lambda k: k ** (-alpha), [100, 300, 1000], modes=10**6)
    assert curve[-1] == pytest.approx(alpha, rel=0.015)
    assert np.all(np.abs(curve / alpha - 1) < 0.05)  # flat: not growing, not falling to 1


def test_exponential_is_catastrophic():
    # lambda_k = e^{-k/tau}: L(k) is a logistic step of width tau around k ~ n, so sum L (1 - L) -> tau and
    # E0 = n / sum L (1 - L) ~ n / tau grows without bound.
    tau = 10.0
    ns = [100, 300, 1000, 3000]
    curve = noise_fitting_factor_curve(lambda k: np.exp(-k / tau), ns, modes=6000)
    np.testing.assert_allclose(curve, np.array(ns) / tau, rtol=0.01)


def test_log_corrected_is_benign():
    # lambda_k = 1 / ((k+1) ln^2 (k+1)): E0 -> 1, slowly (about 1 + 1.2 / ln n here). The tail past M modes is
    # stood in for by a ridge of its sum, int_{M + 1/2}^inf dx / ((x+1) ln^2 (x+1)) = 1 / ln(M + 3/2).
    m = 10**5
    ns = [10, 100, 1000, 10000]
    curve = noise_fitting_factor_curve(
        lambda k: 1 / ((k + 1) * np.log(k + 1) ** 2), ns, modes=m, ridge=1 / math.log(m + 1.5)
    )
    excess = curve - 1
    assert np.all(excess > 0)
    assert np.all(excess[1:] < 0.8 * excess[:-1])  # each decade of n cuts E0 - 1 by at least 20%
    assert curve[-1] < 1.15
    # The slow law: (E0 - 1) ln n stays of order one while E0 - 1 falls by 3x (a power law would keep E0 - 1 fixed).
    assert np.all(np.abs(excess * np.log(ns) - 1.1) < 0.35)


def test_tail_of_small_modes_acts_as_ridge():
    # Modes far below kappa contribute lambda_k / kappa to the equation, like a ridge of their sum: a spectrum cut
    # after 10^4 modes plus ridge zeta(2, 10^4 + 1) = sum_{k > 10^4} k^-2 matches the 10^6-mode spectrum.
    long = np.arange(1, 10**6 + 1.0) ** -2.0
    short = long[: 10**4]
    full = eigenlearning_predict(long, 100)
    cut = eigenlearning_predict(short, 100, ridge=float(zeta(2.0, 10**4 + 1)))
    assert cut.kappa == pytest.approx(full.kappa, rel=1e-4)
    assert cut.noise_fitting_factor == pytest.approx(full.noise_fitting_factor, rel=1e-4)
    bare = eigenlearning_predict(short, 100)
    assert abs(bare.kappa / full.kappa - 1) > 10 * abs(cut.kappa / full.kappa - 1)


def test_conservation_and_order_invariance():
    rng = np.random.default_rng(3)
    lam = rng.exponential(size=400) ** 3
    v = rng.standard_normal(400)
    p = eigenlearning_predict(lam, 60, v, noise_variance=0.2, ridge=0.05)
    assert p.learnabilities.sum() + 0.05 / p.kappa == pytest.approx(60, rel=1e-12)  # sum L + delta / kappa = n
    perm = rng.permutation(400)
    q = eigenlearning_predict(lam[perm], 60, v[perm], noise_variance=0.2, ridge=0.05)
    assert q.test_mse == pytest.approx(p.test_mse, rel=1e-12)
    np.testing.assert_allclose(q.learnabilities, p.learnabilities[perm], rtol=1e-12)
    # E0 is also n / (n - sum L^2) directly
    assert p.noise_fitting_factor == pytest.approx(60 / (60 - np.sum(p.learnabilities**2)), rel=1e-10)


def test_extreme_spectra_solve():
    lam = np.exp(-np.arange(1, 701.0))  # 300 orders of magnitude; kappa ~ e^-600
    kappa = effective_regularization(lam, 600)
    assert math.log(kappa) == pytest.approx(-600.5, abs=1.0)
    assert np.sum(lam / (lam + kappa)) == pytest.approx(600, rel=1e-12)
    assert effective_regularization([1.0], 5, ridge=1e-300) == pytest.approx(1e-300 / 4, rel=1e-9)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: effective_regularization(np.ones(10), 10), "more than n = 10 positive eigenvalues, got 10"),
        (lambda: effective_regularization(np.r_[np.ones(5), np.zeros(20)], 5), "more than n = 5"),
        (lambda: effective_regularization([1.0, -0.1, 0.2], 1), "finite and >= 0"),
        (lambda: effective_regularization([1.0, np.nan], 1), "finite and >= 0"),
        (lambda: effective_regularization([], 1), "non-empty 1-D"),
        (lambda: effective_regularization(np.ones((2, 2)), 1), "non-empty 1-D"),
        (lambda: effective_regularization([1.0, 1.0], 0), "integer >= 1"),
        (lambda: effective_regularization([1.0, 1.0], 1.5), "integer >= 1"),
        (lambda: effective_regularization([1.0, 1.0], 1, ridge=-1.0), "ridge must be"),
        (lambda: eigenlearning_predict([1.0, 1.0], 1, [1.0]), "one coefficient per eigenvalue"),
        (lambda: eigenlearning_predict([1.0, 1.0], 1, noise_variance=-1), "noise_variance must be"),
        (lambda: noise_fitting_factor_curve(lambda k: np.ones(3), [1], modes=10), "one eigenvalue per mode"),
        (lambda: noise_fitting_factor_curve(np.ones(10), [1], modes=10), "modes applies only"),
        (lambda: noise_fitting_factor_curve(np.ones(10), []), "at least one"),
        (lambda: noise_fitting_factor_curve(lambda k: 1.0 / k, [5], modes=0), "modes must be"),
    ],
)
def test_user_errors(call, match):
    with pytest.raises(UserError, match=match):
        call()


def test_ridge_rescues_short_spectrum():
    p = eigenlearning_predict(np.ones(10), 10, noise_variance=1.0, ridge=1e-3)
    assert math.isfinite(p.noise_fitting_factor) and p.noise_fitting_factor > 10
