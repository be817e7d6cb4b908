"""Tempered overfitting: the closed-form noise risk of min-norm least squares against a Monte Carlo fit by
pseudo-inverse, the spectra's tail sums against direct summation, the smoke pipeline, the ridge control failing
the tempered checks and the early-stopped control failing the interpolation check on measured values, and quick
on a held-out seed (slow)."""

import math

import numpy as np
import pytest

from phenomena.catalog.tempered_overfitting import ENTRY, spectrum
from phenomena.kernels.eigenlearning import noise_fitting_factor_curve
from phenomena.kernels.learning_curves import kernel_regression_risk


def min_norm_noise_risk(lam, n, ridge, rng):
    """Test MSE / σ² on pure-noise labels: the shared exact risk with a zero target and unit noise variance."""
    return kernel_regression_risk(lam, np.zeros(lam.size), n, rng, ridge=ridge, noise=1.0)


def test_closed_form_noise_risk_matches_a_monte_carlo_min_norm_fit():
    lam = np.arange(1, 61, dtype=float) ** -1.5
    n = 15
    closed = min_norm_noise_risk(lam, n, 0.0, np.random.default_rng(7))
    # the same training inputs (same generator state), then explicit noisy labels, the pseudo-inverse (min-norm)
    # solution and fresh noisy test points
    rng = np.random.default_rng(7)
    z = rng.standard_normal((n, lam.size)) * np.sqrt(lam)
    mc = np.random.default_rng(1)
    y = mc.standard_normal((n, 4000))  # 4000 pure-noise label vectors, σ = 1
    w = np.linalg.pinv(z) @ y  # min-norm interpolants, one per column
    assert np.allclose(z @ w, y, atol=1e-8)  # they interpolate
    zt = mc.standard_normal((4000, lam.size)) * np.sqrt(lam)
    yt = mc.standard_normal((4000, 4000))
    risk = float(np.mean((zt @ w - yt) ** 2))
    assert risk == pytest.approx(closed, rel=0.03)


def test_ridge_noise_risk_matches_a_monte_carlo_ridge_fit():
    lam = np.arange(1, 41, dtype=float) ** -2.0
    n, ridge = 12, 0.05
    closed = min_norm_noise_risk(lam, n, ridge, np.random.default_rng(3))
    z = np.random.default_rng(3).standard_normal((n, lam.size)) * np.sqrt(lam)
    mc = np.random.default_rng(2)
    y = mc.standard_normal((n, 4000))
    w = np.linalg.solve(z.T @ z + ridge * np.eye(lam.size), z.T @ y)  # primal ridge, not the kernel form
    zt = mc.standard_normal((4000, lam.size)) * np.sqrt(lam)
    risk = float(np.mean((zt @ w - mc.standard_normal((4000, 4000))) ** 2))
    assert risk == pytest.approx(closed, rel=0.03)


@pytest.mark.parametrize("name", ["power", "benign", "exponential"])
def test_tail_sums_match_direct_summation(name):
    modes = 1000
    head, tail = spectrum(name, modes, alpha=2.0, tau=20.0)
    far, _ = spectrum(name, 2_000_000, alpha=2.0, tau=20.0)
    direct = float(far[modes:].sum())
    if name == "benign":  # the remaining sum past 2e6 modes, 1/ln(2e6) ≈ 0.069, by the integral
        direct += 1 / math.log(2_000_001.5)
    assert head.size == modes and np.allclose(head, far[:modes])
    assert tail == pytest.approx(direct, rel=1e-3)


def test_measured_noise_factor_follows_eigenlearning_in_each_regime():
    rng = np.random.default_rng(0)
    for name, low, high in (("power", 1.7, 2.3), ("benign", 1.1, 1.5), ("exponential", 3.5, 6.5)):
        lam, tail = spectrum(name, 2000)
        measured = np.mean([min_norm_noise_risk(lam, 100, tail, rng) for _ in range(3)])
        (theory,) = noise_fitting_factor_curve(lam, [100], ridge=tail)
        assert low < theory < high and measured == pytest.approx(theory, rel=0.08)


def test_smoke_through_the_cli_runs_both_legs(cli_json):
    res = cli_json("run", "tempered-overfitting", "-p", "smoke")
    s = res["summary"]
    assert s["theory_error"] < 0.2 and 1.5 < s["power_largest_n"] < 2.5 and s["exponential_growth"] > 0.3
    assert s["max_train_error"] <= 0.05 and s["noisiest_test_error"] < 0.9 and s["neural_slope"] > 0
    assert len(res["verdict"]["checks"]) == 7
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_ridge_control_fails_the_tempered_checks_on_measured_values(cli_json):
    control = next(c for c in ENTRY.controls if c.name == "ridge")
    assert control.overrides["neural.enabled"] is False  # the control trains no net (and a key is set once)
    overrides = [f"{k}={v}" for k, v in control.overrides.items()]
    res = cli_json("run", "tempered-overfitting", "-p", "smoke", *sum((["-s", o] for o in overrides), []))
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    for prefix in control.must_fail:
        (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
        assert isinstance(check["value"], float) and math.isfinite(check["value"]) and not check["passed"], check
    assert res["summary"]["power_largest_n"] < 1.4  # near-benign: the noise cost falls toward 1


def test_early_stopped_control_fails_the_interpolation_check_on_measured_values(cli_json):
    control = next(c for c in ENTRY.controls if c.name == "early-stopped")
    args = sum((["-s", f"{k}={str(v).lower()}"] for k, v in control.overrides.items()), [])
    res = cli_json("run", "tempered-overfitting", "-p", "smoke", *args)
    s = res["summary"]
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    for prefix in control.must_fail:
        (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
        assert isinstance(check["value"], float) and math.isfinite(check["value"]) and not check["passed"], check
    # the nets were read before the end of training, and the two training runs followed one trajectory
    assert s["mean_stop_step"] < 300 and s["replay_mismatch"] == 0.0
    assert s["max_train_error"] >= 0.15  # far from fitting 30% flipped labels


def test_a_disabled_neural_leg_fails_as_unmeasured(cli_json):
    res = cli_json("run", "tempered-overfitting", "-p", "smoke", "-s", "neural.enabled=false")
    checks = [c for c in res["verdict"]["checks"] if c["name"].startswith("neural")]
    assert len(checks) == 2 and not any(c["passed"] for c in checks)


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "tempered-overfitting", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
