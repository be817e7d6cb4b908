"""Scaling-law fits against independent oracles: the objective against a direct formula and finite differences;
parameters recovered from synthetic data of known laws; the L-BFGS-B grid fit against a brute-force profile over
the exponent (closed-form coefficients) and against scipy's trust-region ``least_squares`` with its own Huber loss
on the same objective; bootstrap coverage over seeded replicates; the compute-optimal allocation against a
numerical minimization; extrapolation bookkeeping; and Epoch AI's 240 Chinchilla points against Epoch's published
refit and Hoffmann et al.'s published parameters."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import check_grad, least_squares, minimize_scalar
from scipy.special import logsumexp

from phenomena.analysis.scaling import (
    ChinchillaFit,
    ScalingLawFit,
    bootstrap_fit,
    extrapolation_error,
    fit_chinchilla,
    fit_scaling_law,
    huber_objective,
)
from phenomena.errors import UserError

DATA = Path(__file__).parents[1].parent / "shared/data/chinchilla_svg_extracted.csv"

SMALL_1D = {"a": (0.0, 5.0), "e": (-1.0, 0.0), "alpha": (0.5,)}  # 4 starts: enough where the data are clean


def chinchilla_grid_points(true: ChinchillaFit, sizes: int = 6):
    n, d = np.meshgrid(np.geomspace(1e7, 1e10, sizes), np.geomspace(1e9, 1e12, sizes))
    n, d = n.ravel(), d.ravel()
    return n, d, true.predict(n, d)


def test_objective_matches_a_direct_formula_and_its_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    log_x = np.log(rng.uniform(1e6, 1e10, (30, 2)))
    log_loss = np.log(rng.uniform(1.8, 4.0, 30))
    theta = np.array([6.0, 7.0, 0.6, 0.35, 0.37])
    pred = logsumexp(
        [theta[0] - theta[3] * log_x[:, 0], theta[1] - theta[4] * log_x[:, 1], np.full(30, theta[2])], axis=0
    )
    for delta in (1e-3, 0.1, 10.0):  # mostly linear, mixed, all quadratic
        r = pred - log_loss
        direct = np.sum(np.where(np.abs(r) <= delta, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta)))
        assert huber_objective(theta, log_x, log_loss, delta)[0] == pytest.approx(direct, rel=1e-12)
        err = check_grad(
            lambda t, dl=delta: huber_objective(t, log_x, log_loss, dl)[0],
            lambda t, dl=delta: huber_objective(t, log_x, log_loss, dl)[1],
            theta,
        )
        assert err < 1e-6 * max(1.0, np.abs(huber_objective(theta, log_x, log_loss, delta)[1]).max())


def test_power_law_recovers_noiseless_parameters():
    n = np.geomspace(1e2, 1e6, 10)
    fit = fit_scaling_law(n, 0.3 + 12.0 * n**-0.45)
    assert (fit.l_inf, fit.A, fit.alpha) == pytest.approx((0.3, 12.0, 0.45), rel=1e-5)
    assert fit.loss < 1e-12 and fit.objective(n, fit.predict(n)) < 1e-20


def test_power_law_agrees_with_a_brute_force_profile_over_the_exponent():
    # For fixed α the law is linear in (L∞, A): solve it by least squares on a fine α grid and keep the best α.
    n = np.geomspace(1e2, 1e6, 10)
    loss = 0.3 + 12.0 * n**-0.45
    alphas = np.linspace(0.2, 0.8, 6001)
    residuals = []
    for alpha in alphas:
        design = np.stack([np.ones_like(n), n**-alpha], axis=1)
        coef, *_ = np.linalg.lstsq(design, loss, rcond=None)
        residuals.append(np.sum((design @ coef - loss) ** 2))
    best = alphas[int(np.argmin(residuals))]
    fit = fit_scaling_law(n, loss)
    assert fit.alpha == pytest.approx(best, abs=2e-4)  # the profile grid step is 1e-4


def test_power_law_matches_scipy_least_squares_with_huber_loss_on_noisy_data():
    # least_squares(loss="huber", f_scale=δ) minimizes Σ δ²·ρ(r²/δ²)/2, which is exactly Σ huber_δ(r):
    # a second algorithm (trust-region reflective) on the same objective.
    rng = np.random.default_rng(1)
    n = np.geomspace(1e2, 1e6, 25)
    loss = (0.3 + 12.0 * n**-0.45) * np.exp(rng.normal(0, 0.02, n.size))
    fit = fit_scaling_law(n, loss)

    def resid(t):
        return np.logaddexp(t[0] - t[2] * np.log(n), t[1]) - np.log(loss)

    oracle = least_squares(resid, [np.log(12.0), np.log(0.3), 0.45], loss="huber", f_scale=1e-3, xtol=1e-15)
    oracle_fit = ScalingLawFit(l_inf=np.exp(oracle.x[1]), A=np.exp(oracle.x[0]), alpha=oracle.x[2])
    assert oracle.cost == pytest.approx(oracle_fit.objective(n, loss), rel=1e-9)  # the same objective
    assert fit.loss <= oracle.cost * (1 + 1e-6)
    assert fit.alpha == pytest.approx(oracle_fit.alpha, abs=1e-3)
    assert fit.l_inf == pytest.approx(oracle_fit.l_inf, rel=1e-3)


def test_chinchilla_recovers_noiseless_parameters():
    true = ChinchillaFit(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
    n, d, loss = chinchilla_grid_points(true)
    fit = fit_chinchilla(n, d, loss)
    for key, value in true.params().items():
        assert fit.params()[key] == pytest.approx(value, rel=1e-4), key
    assert fit.objective(n, d, loss) == pytest.approx(fit.loss, rel=1e-9, abs=1e-18)


def test_chinchilla_matches_scipy_least_squares_with_huber_loss_on_noisy_data():
    true = ChinchillaFit(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
    n, d, clean = chinchilla_grid_points(true)
    loss = clean * np.exp(np.random.default_rng(2).normal(0, 0.01, n.size))
    fit = fit_chinchilla(n, d, loss)
    log_n, log_d, log_l = np.log(n), np.log(d), np.log(loss)

    def resid(t):
        return logsumexp([t[0] - t[3] * log_n, t[1] - t[4] * log_d, np.full(n.size, t[2])], axis=0) - log_l

    x0 = [np.log(true.A), np.log(true.B), np.log(true.E), true.alpha, true.beta]
    oracle = least_squares(resid, x0, loss="huber", f_scale=1e-3, xtol=1e-15, ftol=1e-15, gtol=1e-15)
    assert fit.loss <= oracle.cost * (1 + 1e-6)
    a, b, e, alpha, beta = oracle.x
    assert (fit.alpha, fit.beta, fit.E) == pytest.approx((alpha, beta, np.exp(e)), rel=5e-3)


@pytest.mark.parametrize("level", [0.9])
def test_bootstrap_intervals_cover_the_true_power_law_over_replicates(level):
    n = np.geomspace(1e2, 1e6, 16)
    true = ScalingLawFit(l_inf=0.3, A=12.0, alpha=0.45)
    covered = {"l_inf": 0, "A": 0, "alpha": 0}
    replicates = 10
    for rep in range(replicates):
        noise = np.exp(np.random.default_rng(100 + rep).normal(0, 0.02, n.size))
        boot = bootstrap_fit(n, true.predict(n) * noise, resamples=40, level=level, seed=rep, grid=SMALL_1D)
        for key, value in true.params().items():
            low, high = boot.intervals[key]
            assert low <= boot.fit.params()[key] <= high or key == "A"  # the point estimate sits inside (A skews)
            covered[key] += low <= value <= high
    # Nominal 9 of 10; the percentile bootstrap under-covers on 16 points (7-8 of 10 here), so the bar is loose: an
    # interval that does not track the sampling spread (e.g. refits stuck at their start: near-points) covers ~0.
    for key, hits in covered.items():
        assert hits >= 6, f"{key}: {hits}/{replicates} intervals cover the true value"


def test_bootstrap_intervals_of_the_chinchilla_law_cover_the_true_values():
    true = ChinchillaFit(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
    n, d, clean = chinchilla_grid_points(true, sizes=5)
    loss = clean * np.exp(np.random.default_rng(3).normal(0, 0.01, n.size))
    boot = bootstrap_fit(n, loss, d, resamples=40, level=0.95, seed=7)
    truth = {**true.params(), "a": true.allocation_exponents[0]}
    for key, value in truth.items():
        low, high = boot.intervals[key]
        assert low <= value <= high, f"{key}={value} outside ({low}, {high})"
        assert boot.intervals[key] == pytest.approx(tuple(np.quantile(boot.samples[key], [0.025, 0.975])))


def test_bootstrap_is_seeded_by_an_int_or_a_generator():
    n = np.geomspace(1e2, 1e6, 12)
    loss = (0.3 + 12.0 * n**-0.45) * np.exp(np.random.default_rng(4).normal(0, 0.02, n.size))
    boot = bootstrap_fit(n, loss, resamples=20, seed=7, grid=SMALL_1D)
    again = bootstrap_fit(n, loss, resamples=20, seed=np.random.default_rng(7), grid=SMALL_1D)
    assert again.intervals == boot.intervals  # an int seed and a Generator of that seed draw the same resamples
    other = bootstrap_fit(n, loss, resamples=20, seed=8, grid=SMALL_1D)
    assert other.intervals != boot.intervals


@pytest.mark.parametrize(
    "law",
    [
        ChinchillaFit(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),  # Hoffmann et al. 2022
        ChinchillaFit(E=1.82, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658),  # Besiroglu et al. 2024
        ChinchillaFit(E=0.0, A=3.0, B=0.2, alpha=0.8, beta=0.2),  # very unequal exponents
    ],
)
def test_compute_optimal_allocation_matches_numerical_minimization(law):
    for compute in (1e18, 1e21, 5.76e23, 1e26):
        n_opt, d_opt = law.compute_optimal(compute)
        assert 6 * n_opt * d_opt == pytest.approx(compute, rel=1e-12)
        res = minimize_scalar(
            lambda log_n, c=compute: float(law.predict(np.exp(log_n), c / (6 * np.exp(log_n)))),
            bounds=(np.log(1e-3), np.log(compute)),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert np.log(n_opt) == pytest.approx(res.x, abs=1e-4)
    a, b = law.allocation_exponents
    ratio = law.compute_optimal(1e24)[0] / law.compute_optimal(1e22)[0]
    assert ratio == pytest.approx(100**a, rel=1e-10) and a + b == pytest.approx(1)


def test_extrapolation_error_is_zero_on_an_exact_law_and_large_where_the_law_breaks():
    n = np.geomspace(1e2, 1e6, 13)
    exact = extrapolation_error(n, 0.3 + 12.0 * n**-0.45, cut=1e4, grid=SMALL_1D)
    assert np.array_equal(exact.n, n[n > 1e4]) and exact.max_abs_error < 1e-5
    # a law that saturates above 1e4 (variance-limited): the held-out error is what the small-size fit predicts
    loss = np.where(n <= 1e4, 0.3 + 12.0 * n**-0.45, 0.3 + 12.0 * 1e4**-0.45)
    broken = extrapolation_error(n, loss, cut=1e4, grid=SMALL_1D)
    by_hand = fit_scaling_law(n[n <= 1e4], loss[n <= 1e4], grid=SMALL_1D).predict(n[n > 1e4])
    assert broken.relative_errors == pytest.approx((by_hand - loss[n > 1e4]) / loss[n > 1e4], rel=1e-6)
    assert broken.max_abs_error > 0.05 and broken.mean_abs_error <= broken.max_abs_error
    true = ChinchillaFit(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
    n2, d2, loss2 = chinchilla_grid_points(true, sizes=5)
    ext2 = extrapolation_error(n2, loss2, d2, cut=1e9)
    assert np.array_equal(ext2.d, d2[n2 > 1e9]) and ext2.max_abs_error < 1e-4


def load_chinchilla() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epoch AI's 245 points (N, D = C / 6N, loss) with the 5 highest losses dropped, as Epoch's notebook does
    (``losses < sorted(losses)[-5]``): 240 points."""
    with DATA.open(newline="") as f:
        rows = list(csv.DictReader(f))
    n = np.array([float(r["Model Size"]) for r in rows])
    c = np.array([float(r["Training FLOP"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    keep = loss < np.sort(loss)[-5]
    return n[keep], c[keep] / (6 * n[keep]), loss[keep]


@pytest.mark.skipif(not DATA.exists(), reason=f"the Chinchilla points are not in {DATA.parent} (../shared/data)")
def test_chinchilla_points_reproduce_epochs_refit_and_beat_hoffmanns_parameters():
    n, d, loss = load_chinchilla()
    assert len(n) == 240
    fit = fit_chinchilla(n, d, loss)  # the 27-start default grid
    # Epoch AI, github.com/epoch-research/analyzing-chinchilla (commit 9225883), data_analysis.ipynb, cell
    # "Replicate exactly": the same objective (Huber δ=1e-3 on log L, summed) by L-BFGS-B from Hoffmann's
    # 4500-start grid on these 240 points prints best loss 0.0010182740346154362 and A=477.84171252965143,
    # B=2143.8637880335505, E=1.817235504463726, alpha=0.34731265761033453, beta=0.3671826173946711.
    epoch_loss = 0.0010182740346154362
    epoch = ChinchillaFit(E=1.817235504463726, A=477.84171252965143, B=2143.8637880335505, alpha=0.34731265761033453,
                          beta=0.3671826173946711)  # fmt: skip
    # Our minimum is at least as low as theirs (to optimizer tolerance), and the parameters agree to the
    # precision L-BFGS-B fixes them on this flat valley: α, β, E to 1e-4 relative; A, B (whose logs the
    # optimizer stops at to ~1e-4, and B's bootstrap interval spans 1042-5810) to 0.1%.
    assert fit.loss <= epoch_loss * (1 + 1e-7)
    assert fit.objective(n, d, loss) == pytest.approx(fit.loss, rel=1e-12)
    assert epoch.objective(n, d, loss) == pytest.approx(epoch_loss, rel=1e-6)  # same data, same objective
    for key in ("E", "alpha", "beta"):
        assert fit.params()[key] == pytest.approx(epoch.params()[key], rel=1e-4), key
    for key in ("A", "B"):
        assert fit.params()[key] == pytest.approx(epoch.params()[key], rel=1e-3), key
    # The paper's headline estimate (Besiroglu, Erdil, Barnett, You 2024; the same notebook, cell printing
    # "Parameter estimates and their standard errors": A=482.00572, B=2085.43420, E=1.81686, alpha=0.34781,
    # beta=0.36585) maximizes a Huber likelihood with a fitted scale, a slightly different objective: we agree
    # within a fraction of its bootstrap standard errors (A 124.5, B 1293, E 0.026, α 0.015, β 0.021).
    paper = {"A": (482.00572, 124.5), "B": (2085.43420, 1293.0), "E": (1.81686, 0.026), "alpha": (0.34781, 0.015),
             "beta": (0.36585, 0.021)}  # fmt: skip
    for key, (value, se) in paper.items():
        assert abs(fit.params()[key] - value) < 0.25 * se, key
    # Hoffmann et al. (2022)'s published parameters fit these points far worse under the same objective
    # (about 4x the summed Huber loss).
    hoffmann = ChinchillaFit(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    assert hoffmann.objective(n, d, loss) > 3 * fit.loss
    # Epoch's compute-optimal exponent a = β/(α+β) ≈ 0.51 (N and D scale about equally), not Hoffmann's 0.45.
    assert fit.allocation_exponents[0] == pytest.approx(0.514, abs=0.005)
    assert hoffmann.allocation_exponents[0] == pytest.approx(0.452, abs=0.001)


def _finite_fit_args():
    n = np.geomspace(1e2, 1e6, 6)
    return n, 0.3 + 12.0 * n**-0.45


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda n, l: fit_scaling_law(-n, l), "n must be finite and positive"),
        (lambda n, l: fit_scaling_law(n, np.where(n > 1e3, 0.0, l)), "loss must be finite and positive"),
        (lambda n, l: fit_scaling_law(n, np.append(l, 1.0)), "loss has 7 values but the sizes have 6"),
        (lambda n, l: fit_scaling_law(n[:3], l[:3]), "needs at least 4 points, got 3"),
        (lambda n, l: fit_chinchilla(n, n * 0 + np.nan, l), "d must be finite and positive"),
        (lambda n, l: fit_chinchilla(n, n[:5], l), "d has 5 values but the sizes have 6"),
        (lambda n, l: fit_chinchilla(n[:5], n[:5], l[:5]), "needs at least 6 points, got 5"),
        (lambda n, l: fit_scaling_law(n, l, grid={"a": (0,)}), "grid must have exactly the keys"),
        (lambda n, l: fit_scaling_law(n, l, grid={**SMALL_1D, "alpha": ()}), "grid['alpha'] must be a non-empty"),
        (lambda n, l: fit_scaling_law(n, l, delta=0), "delta must be a finite positive number"),
        (lambda n, l: bootstrap_fit(n, l, resamples=3), "resamples must be an integer of at least 10"),
        (lambda n, l: bootstrap_fit(n, l, level=1.5), "level must be in (0, 1)"),
        (lambda n, l: bootstrap_fit(n, l, seed="x"), "seed must be an int or a numpy.random.Generator"),
        (lambda n, l: extrapolation_error(n, l, cut=1e9), "no point lies above cut"),
        (lambda n, l: extrapolation_error(n, l, cut=1e3), "points lie at or below cut=1000; the 1-D fit needs 4"),
        (lambda n, l: ChinchillaFit(1.0, 1.0, 1.0, 0.3, 0.3).compute_optimal(-1.0), "compute must be finite"),
        (lambda n, l: ChinchillaFit(1.0, 1.0, 1.0, 0.0, 0.3).compute_optimal(1e20), "no compute-optimal allocation"),
        (lambda n, l: fit_scaling_law(n.reshape(2, 3), l), "n must be one-dimensional"),
    ],
)
def test_bad_input_raises_one_clear_user_error(call, message):
    n, loss = _finite_fit_args()
    with pytest.raises(UserError) as info:
        call(n, loss)
    assert message in str(info.value) and "\n" not in str(info.value)
