"""Oracle tests for probes.weight_spectra: Pareto samples with known α and xmin, ``powerlaw.Fit`` on the same
data, the Marchenko–Pastur law (numerical integration, Gaussian matrices, the BBP spike location), torch.linalg."""

import math
import warnings

import numpy as np
import powerlaw
import pytest
import torch
from scipy import integrate, stats
from torch import nn

from phenomena.errors import UserError
from phenomena.probes.weight_spectra import (
    fit_power_law,
    marchenko_pastur_cdf,
    marchenko_pastur_density,
    weight_spectra,
    weight_spectrum,
)


def pareto(rng, n, alpha, xmin):
    """Inverse-CDF samples of p(x) = (α − 1)/xmin · (x/xmin)^(−α), x ≥ xmin."""
    return xmin * (1 - rng.random(n)) ** (-1 / (alpha - 1))


def powerlaw_fit(x, **kw):
    """``powerlaw.Fit`` with α unrestricted above 1: powerlaw 2.0's default range α ∈ (0, 3) clips every
    candidate's α at 3 and marks it invalid, which no CSN fit of a random-like ESD (α ≈ 4-10) survives."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return powerlaw.Fit(x, verbose=False, parameter_ranges={"alpha": [1, None]}, **kw)


# --- the power-law fit -----------------------------------------------------------------------------------------


def test_fixed_xmin_is_the_closed_form_mle_and_recovers_alpha():
    rng = np.random.default_rng(0)
    x = pareto(rng, 20000, alpha=2.5, xmin=1.0)
    fit = fit_power_law(x, xmin=1.0)
    closed = 1 + len(x) / np.sum(np.log(x / 1.0))
    assert fit.alpha == pytest.approx(closed, rel=1e-12)
    assert fit.n_tail == len(x) and fit.xmin == 1.0
    assert fit.sigma == pytest.approx((closed - 1) / math.sqrt(len(x)), rel=1e-12)
    assert abs(fit.alpha - 2.5) < 3 * fit.sigma  # σ ≈ 0.011
    # KS distance against scipy's one-sample KS test of the fitted Pareto law
    ref = stats.kstest(x, stats.pareto(b=fit.alpha - 1, scale=1.0).cdf).statistic
    assert fit.ks_distance == pytest.approx(ref, abs=1.0 / len(x))


def test_ks_chosen_xmin_finds_the_start_of_the_tail():
    rng = np.random.default_rng(1)
    body = rng.uniform(0.1, 2.0, 2000)  # not a power law below the true xmin = 2
    x = np.concatenate([body, pareto(rng, 3000, alpha=2.5, xmin=2.0)])
    fit = fit_power_law(x)
    assert fit.xmin == pytest.approx(2.0, rel=0.15)
    assert fit.alpha == pytest.approx(2.5, abs=0.1)
    assert 2400 < fit.n_tail < 3100
    naive = fit_power_law(x, xmin=float(x.min()))  # fitting from the smallest sample is badly biased
    assert abs(naive.alpha - 2.5) > 0.5


@pytest.mark.parametrize("case", ["pareto", "ties", "esd", "range"])
def test_matches_powerlaw_package(case):
    rng = np.random.default_rng(2)
    kw, mine = {}, {}
    if case == "pareto":
        x = pareto(rng, 800, alpha=3.0, xmin=0.5)
    elif case == "ties":
        x = np.round(pareto(rng, 600, alpha=2.2, xmin=1.0), 1)  # repeated values
    elif case == "esd":
        w = rng.standard_t(3, size=(600, 300))
        x = np.linalg.eigvalsh(w.T @ w / 600)
    else:
        x = pareto(rng, 800, alpha=2.0, xmin=1.0)
        kw, mine = {"xmin": (1.5, 4.0)}, {"xmin_range": (1.5, 4.0)}
    ref = powerlaw_fit(x, **kw)
    fit = fit_power_law(x, **mine)
    assert fit.alpha == pytest.approx(ref.alpha, rel=1e-9)
    assert fit.xmin == ref.xmin
    assert fit.ks_distance == pytest.approx(ref.D, rel=1e-9)
    assert fit.n_tail == ref.n_tail
    assert fit.sigma == pytest.approx(ref.sigma, rel=1e-9)
    if case == "range":
        assert 1.5 <= fit.xmin <= 4.0


def test_too_few_distinct_samples_give_nan():
    fit = fit_power_law(np.array([1.0, 1.0, 2.0]))
    assert math.isnan(fit.alpha) and fit.n_tail == 0


# --- Marchenko-Pastur -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("q,sigma2", [(1.0, 1.0), (2.0, 0.3), (4.0, 1.0), (10.0, 2.5)])
def test_mp_cdf_is_the_integral_of_the_density(q, sigma2):
    lo, hi = sigma2 * (1 - q**-0.5) ** 2, sigma2 * (1 + q**-0.5) ** 2
    rho = lambda t: float(marchenko_pastur_density(t, q, sigma2))  # noqa: E731
    total, _ = integrate.quad(rho, lo, hi, limit=200)
    assert total == pytest.approx(1.0, abs=1e-6)
    for x in np.linspace(lo, hi, 7)[1:-1]:
        part, _ = integrate.quad(rho, lo, x, limit=200)
        assert float(marchenko_pastur_cdf(x, q, sigma2)) == pytest.approx(part, abs=1e-6)
    assert marchenko_pastur_cdf(np.array([lo - 1e-3, hi + 1.0]), q, sigma2).tolist() == [0.0, 1.0]


def test_gaussian_matrix_matches_marchenko_pastur():
    rng = np.random.default_rng(3)
    n, m, sigma = 1600, 400, 0.5  # Q = 4: bulk edge (1 + 1/2)² σ² = 0.5625
    s = weight_spectrum(rng.standard_normal((n, m)) * sigma)
    edge = (1 + math.sqrt(m / n)) ** 2 * sigma**2
    assert s.q == 4.0 and s.shape == (n, m)
    assert s.mp_sigma2 == pytest.approx(sigma**2, rel=0.01)
    assert s.mp_bulk_max == pytest.approx(edge, rel=0.01)
    assert s.eigenvalues[-1] == pytest.approx(edge, rel=0.03)
    assert s.n_spikes == 0 and s.mp_ks_distance < 0.03
    # the KS distance is scipy's, against MP with the fitted variance
    ref = stats.kstest(s.eigenvalues, lambda x: marchenko_pastur_cdf(x, s.q, s.mp_sigma2)).statistic
    assert s.mp_ks_distance == pytest.approx(ref, rel=1e-9)
    # the eigenvalues are those of WᵀW / N
    w = torch.from_numpy(rng.standard_normal((30, 70)))  # wide: transposed to 70 × 30
    s = weight_spectrum(w)
    assert s.shape == (70, 30)
    ref = torch.linalg.eigvalsh(w @ w.T / 70).numpy()
    np.testing.assert_allclose(s.eigenvalues, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("ell", [2.0, 1.0])
def test_rank_one_spike_above_bbp_threshold_is_found_where_predicted(ell):
    """W = σ(G + √(ℓN) u vᵀ): for ℓ > √γ (γ = M/N) the top eigenvalue of WᵀW/N leaves the bulk at
    σ²(1 + ℓ)(1 + γ/ℓ) (Baik, Ben Arous & Péché 2005; Benaych-Georges & Nadakuditi 2012, θ² = ℓ)."""
    rng = np.random.default_rng(4)
    n, m, sigma = 1600, 400, 0.5
    gamma = m / n
    u, v = rng.standard_normal(n), rng.standard_normal(m)
    w = sigma * (
        rng.standard_normal((n, m)) + math.sqrt(ell * n) * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    )
    s = weight_spectrum(w)
    assert s.n_spikes == 1
    assert s.eigenvalues[-1] == pytest.approx(sigma**2 * (1 + ell) * (1 + gamma / ell), rel=0.04)
    assert s.eigenvalues[-2] < s.mp_bulk_max * 1.03
    assert s.mp_sigma2 == pytest.approx(sigma**2, rel=0.01)


def test_spike_below_bbp_threshold_stays_in_the_bulk():
    rng = np.random.default_rng(5)
    n, m = 1600, 400  # √γ = 0.5 > ℓ = 0.2
    u, v = rng.standard_normal(n), rng.standard_normal(m)
    w = rng.standard_normal((n, m)) + math.sqrt(0.2 * n) * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    assert weight_spectrum(w).n_spikes == 0


def test_heavy_tailed_entries_give_the_predicted_small_alpha():
    """Entries with a Pareto tail P(|w| > x) ~ x^−μ, μ < 2: the ESD's tail has α = 1 + μ/2 (Martin & Mahoney
    2021, Table 3, "very heavy-tailed"), read as over-trained; the Gaussian matrix of the same shape is not."""
    rng = np.random.default_rng(6)
    w = rng.pareto(1.0, (800, 200)) * rng.choice([-1.0, 1.0], (800, 200))
    s = weight_spectrum(w)
    assert s.alpha == pytest.approx(1.5, abs=0.15)
    assert s.quality == "over-trained" and s.n_spikes > 10 and s.mp_ks_distance > 0.3
    g = weight_spectrum(rng.standard_normal((800, 200)))
    assert g.alpha > 3 and g.quality != "over-trained"


# --- norms and the model walker ------------------------------------------------------------------------------------


def test_norms_match_torch_linalg():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(50, 20, generator=g) @ torch.diag(torch.linspace(0.1, 3.0, 20))
    s = weight_spectrum(w)
    two = torch.linalg.matrix_norm(w.double(), ord=2).item()
    assert s.spectral_norm == pytest.approx(two, rel=1e-10)
    assert s.stable_rank == pytest.approx((torch.linalg.matrix_norm(w.double()).item() / two) ** 2, rel=1e-10)
    assert s.log_spectral_norm == pytest.approx(math.log10(two**2), rel=1e-10)
    assert s.alpha_weighted == pytest.approx(s.alpha * math.log10(two**2), rel=1e-10)
    # a convolution: its (out, in) slices are pooled
    k = torch.randn(32, 8, 3, 3, generator=g)
    s = weight_spectrum(k)
    slices = [k[:, :, i, j].double() for i in range(3) for j in range(3)]
    assert s.n_matrices == 9 and s.shape == (32, 8)
    ref = np.sort(np.concatenate([torch.linalg.eigvalsh(t.T @ t / 32).numpy() for t in slices]))
    np.testing.assert_allclose(s.eigenvalues, ref, rtol=1e-10, atol=1e-12)
    assert s.spectral_norm == pytest.approx(max(torch.linalg.matrix_norm(t, ord=2).item() for t in slices), rel=1e-10)


class Block(nn.Module):
    def __init__(self, shared):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(12, 24), nn.Tanh())
        self.shared = shared
        self.norm = nn.LayerNorm(24)

    def forward(self, x):
        return self.shared(self.norm(self.inner(x)))


def test_model_walker_visits_every_weight_layer_once_and_leaves_the_model_alone():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        shared = nn.Linear(24, 24)
        net = nn.Sequential(Block(shared), Block(shared), nn.Conv1d(1, 4, 3), nn.Linear(24, 5, bias=False))
    before = {n: p.detach().clone() for n, p in net.state_dict().items()}
    out = weight_spectra(net)
    assert list(out) == ["0.inner.0", "0.shared", "1.inner.0", "2", "3"]
    assert out["0.shared"].shape == (24, 24) and out["3"].shape == (24, 5)
    assert out["2"].n_matrices == 3 and out["2"].shape == (4, 1)
    for name, mod in [("0.inner.0", net[0].inner[0]), ("3", net[3])]:
        assert out[name].spectral_norm == pytest.approx(torch.linalg.matrix_norm(mod.weight.double(), 2).item())
    assert all(torch.equal(before[n], p) for n, p in net.state_dict().items())
    # too few eigenvalues: the power-law fit is NaN, the rest is measured
    small = out["3"]
    assert len(small.eigenvalues) == 5 and math.isnan(small.alpha) and small.n_tail == 0
    assert small.quality == "unmeasured" and small.spectral_norm > 0
    assert math.isfinite(weight_spectrum(net[3].weight, min_evals=4).alpha)


# --- bad input ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: weight_spectra(nn.Sequential(nn.ReLU(), nn.LayerNorm(3))),
        lambda: weight_spectra(torch.ones(3, 3)),
        lambda: weight_spectrum(torch.ones(5)),
        lambda: weight_spectrum(torch.zeros(4, 3)),
        lambda: weight_spectrum(torch.tensor([[1.0, math.nan], [0.0, 1.0]])),
        lambda: weight_spectrum(torch.ones(4, 3), min_evals=1),
        lambda: fit_power_law(np.array([1.0, -2.0, 3.0])),
        lambda: fit_power_law(np.ones((2, 2))),
        lambda: fit_power_law(np.array([1.0, 2.0]), xmin=0.0),
        lambda: fit_power_law(np.array([1.0, 2.0]), xmin_range=(3.0, 1.0)),
        lambda: marchenko_pastur_cdf(1.0, q=0.5),
        lambda: marchenko_pastur_density(1.0, q=2.0, sigma2=0.0),
    ],
)
def test_bad_input_raises_user_error(call):
    with pytest.raises(UserError):
        call()
