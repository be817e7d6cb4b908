"""Oracle tests for the binning and KDE information-plane estimators."""

import itertools
import math
from collections import Counter

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from phenomena.errors import UserError
from phenomena.probes.information import bin_codes, binned_information, kde_information


def entropy_of(symbols):
    counts = np.array(list(Counter(symbols).values()), dtype=np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def mi_bruteforce(rows, labels):
    """I(T;Y) = H(T) + H(Y) − H(T,Y) from Python tuples."""
    t = [tuple(r) for r in rows]
    return entropy_of(t) + entropy_of(list(labels)) - entropy_of(list(zip(t, labels, strict=True)))


def fixed_bins_numpy(a, num_bins, lo, hi):
    return np.clip(np.floor((a - lo) / ((hi - lo) / num_bins)), 0, num_bins - 1).astype(int)


def test_twelve_bit_patterns_carry_twelve_bits():
    x = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=12)), dtype=torch.float64)
    y = ((x > 0).sum(1) >= 6).long()
    out = binned_information(x, y, num_bins=30, bin_range=(-1, 1))
    assert out["num_codes"] == 4096
    assert out["i_xt"] == pytest.approx(12.0, abs=1e-12)
    assert out["h_y"] == pytest.approx(entropy_of(y.tolist()), abs=1e-12)
    assert out["i_ty"] == pytest.approx(out["h_y"], abs=1e-12)  # T = X determines Y


def test_deterministic_function_with_uniform_codes():
    # 3 units on a 4-level grid: 64 codes, each used by 5 inputs → I(X;T) = H(T) = log2(64) = 6 bits.
    grid = torch.tensor(list(itertools.product(range(4), repeat=3)), dtype=torch.float64).repeat(5, 1)
    y = torch.arange(len(grid)) % 3
    out = binned_information(grid, y, num_bins=4, bin_range=(-0.5, 3.5))
    assert out["i_xt"] == pytest.approx(6.0, abs=1e-12)
    assert out["i_ty"] == pytest.approx(mi_bruteforce(grid.numpy(), y.numpy()), abs=1e-12)


@pytest.mark.parametrize("d,bin_range", [(3, None), (4, (-1.0, 1.0)), (20, (-1.0, 1.0))])
def test_fixed_binning_matches_bruteforce_counts(d, bin_range):
    # d=20 with 30 bins does not fit one int64 code, exercising the unique-rows path.
    gen = torch.Generator().manual_seed(0)
    a = torch.tanh(1.5 * torch.randn(300, d, generator=gen, dtype=torch.float64))
    a[:100] = a[100:200]  # repeated activation vectors
    y = torch.randint(0, 3, (300,), generator=gen)
    out = binned_information(a, y, num_bins=30, bin_range=bin_range)
    lo, hi = (a.min().item(), a.max().item()) if bin_range is None else bin_range
    codes = fixed_bins_numpy(a.numpy(), 30, lo, hi)
    assert out["i_xt"] == pytest.approx(entropy_of([tuple(r) for r in codes]), abs=1e-12)
    assert out["i_ty"] == pytest.approx(mi_bruteforce(codes, y.numpy()), abs=1e-12)
    assert 0 <= out["i_ty"] <= min(out["h_y"], out["h_t"]) + 1e-12
    assert out["h_t"] <= math.log2(300) + 1e-12


def test_adaptive_binning_equal_mass_and_bruteforce():
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(600, 2, generator=gen, dtype=torch.float64) ** 3  # heavy tails
    ids = bin_codes(a[:, :1], num_bins=6, strategy="adaptive")
    assert torch.bincount(ids).tolist() == [100] * 6
    assert binned_information(a[:, 0], torch.zeros(600), num_bins=6, strategy="adaptive")["i_xt"] == pytest.approx(
        math.log2(6), abs=1e-12
    )
    # Oracle: per-unit rank-based bins (distinct values, N divisible by num_bins): bin = rank // (N / bins).
    ranks = np.argsort(np.argsort(a.numpy(), axis=0), axis=0)
    y = (a[:, 0] > 0).long()
    out = binned_information(a, y, num_bins=6, strategy="adaptive")
    assert out["i_xt"] == pytest.approx(entropy_of([tuple(r) for r in ranks // 100]), abs=1e-12)
    assert out["i_ty"] == pytest.approx(mi_bruteforce(ranks // 100, y.numpy()), abs=1e-12)


def test_shwartz_ziv_digitize_convention_is_29_intervals():
    gen = torch.Generator().manual_seed(2)
    a = torch.tanh(torch.randn(500, 3, generator=gen, dtype=torch.float64))
    digitized = np.digitize(a.numpy(), np.linspace(-1, 1, 30))  # ravidziv/IDNNs
    ours = bin_codes(a, num_bins=29, bin_range=(-1, 1))
    ref = torch.tensor(np.unique(digitized, axis=0, return_inverse=True)[1].ravel())
    # Same partition of the examples: the map between the two id sets is a bijection.
    assert len(set(zip(ours.tolist(), ref.tolist(), strict=True))) == len(set(ours.tolist())) == len(set(ref.tolist()))


def test_data_processing_inequality_along_deterministic_chain():
    gen = torch.Generator().manual_seed(3)
    t1 = torch.randint(0, 8, (400, 3), generator=gen).double()  # integer levels, one bin each: lossless
    y = (t1.sum(1) + torch.randint(0, 3, (400,), generator=gen) > 11).long()
    t2 = torch.div(t1, 2, rounding_mode="floor")  # a function of t1
    t3 = t2[:, :2].sum(1, keepdim=True)  # a function of t2
    i1 = binned_information(t1, y, num_bins=8, bin_range=(-0.5, 7.5))
    i2 = binned_information(t2, y, num_bins=4, bin_range=(-0.5, 3.5))
    i3 = binned_information(t3, y, num_bins=7, bin_range=(-0.5, 6.5))
    assert i1["i_xt"] > i2["i_xt"] > i3["i_xt"] > 0
    assert i1["i_ty"] >= i2["i_ty"] >= i3["i_ty"]
    assert i1["i_ty"] > i3["i_ty"] + 0.05
    for i, t in ((i1, t1), (i2, t2), (i3, t3)):
        assert i["i_ty"] == pytest.approx(mi_bruteforce(t.numpy(), y.numpy()), abs=1e-12)


def saxe_kde(x, labels, var, lower=False):
    """A line-by-line NumPy port of Saxe et al.'s kde.py + ComputeMI notebook (nats → bits)."""

    def entropy_kl(v, variance):
        n, dims = v.shape
        d2 = np.sum(v**2, 1)[:, None] + np.sum(v**2, 1)[None, :] - 2 * v @ v.T
        normconst = dims / 2.0 * np.log(2 * np.pi * variance)
        lprobs = logsumexp(-d2 / (2 * variance), axis=1) - np.log(n) - normconst
        return dims / 2 + -np.mean(lprobs)

    def entropy(v):
        return entropy_kl(v, 4 * var) + np.log(0.25) * v.shape[1] / 2 if lower else entropy_kl(v, var)

    dims = x.shape[1]
    h = entropy(x)
    h_given_x = dims / 2.0 * (np.log(2 * np.pi * var) + 1)
    h_given_y = sum(np.mean(labels == k) * entropy(x[labels == k]) for k in np.unique(labels))
    return (h - h_given_x) / np.log(2), (h - h_given_y) / np.log(2)


@pytest.mark.parametrize("bound", ["upper", "lower"])
def test_kde_matches_saxe_reference(bound):
    gen = torch.Generator().manual_seed(4)
    t = torch.tanh(torch.randn(300, 3, generator=gen, dtype=torch.float64))
    y = torch.randint(0, 3, (300,), generator=gen)
    out = kde_information(t, y, noise_variance=0.01, bound=bound)
    want_xt, want_ty = saxe_kde(t.numpy(), y.numpy(), 0.01, lower=bound == "lower")
    assert out["i_xt"] == pytest.approx(want_xt, rel=1e-10)
    assert out["i_ty"] == pytest.approx(want_ty, rel=1e-10)


def test_kde_on_gaussian_channel_brackets_true_information():
    # T = s·Z (1-D, N points), noise variance σ² with SNR = s²/σ² = 15. The true I(X; T + noise) of this
    # Gaussian mixture is integrated numerically; for dense points it is close to the channel capacity
    # ½ log2(1 + SNR) = 2 bits. Kolchinsky & Tracey: lower ≤ true ≤ upper.
    n, snr = 2000, 15.0
    var = 1.0 / snr
    gen = torch.Generator().manual_seed(5)
    t = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    y = torch.zeros(n)
    upper = kde_information(t, y, var)["i_xt"]
    lower = kde_information(t, y, var, bound="lower")["i_xt"]

    mu = t[:, 0].numpy()
    grid = np.linspace(mu.min() - 10 * math.sqrt(var), mu.max() + 10 * math.sqrt(var), 4001)
    dens = np.zeros_like(grid)
    for chunk in np.array_split(mu, 20):
        dens += np.exp(-((grid[:, None] - chunk[None, :]) ** 2) / (2 * var)).sum(1)
    dens /= n * math.sqrt(2 * math.pi * var)
    integrand = -dens * np.log(np.where(dens > 0, dens, 1.0))
    h_mixture = float(np.sum((integrand[1:] + integrand[:-1]) / 2 * np.diff(grid)))
    true_bits = (h_mixture - 0.5 * math.log(2 * math.pi * math.e * var)) / math.log(2)
    assert true_bits == pytest.approx(0.5 * math.log2(1 + snr), abs=0.05)
    assert lower + 0.2 < true_bits < upper - 0.5

    # Dense-point limit, with the sample's own points: (1/N) Σ_j exp(−(μ_i−μ_j)²/(2κ)) → √(2πκ) p_κ(μ_i),
    # p_κ the N(0, 1 + κ) density, κ = σ² (upper) or 4σ² (lower). So each bound tends to
    # −mean_i log p_κ(μ_i) − ½ log(2πκ): the upper bound exceeds the capacity by SNR/(2(1+SNR)) nats
    # ≈ 0.68 bit. The kernel estimate of p_κ(μ_i) has relative std ≈ sqrt(1/(2√π N √κ p)) ≈ 0.04 per point;
    # averaged over points it leaves an error of a few 1e-3 bits, so 0.02 bits is a safe bound.
    def dense_limit(kappa):
        v = 1.0 + kappa
        logp = -0.5 * math.log(2 * math.pi * v) - mu**2 / (2 * v)
        return float(-(logp.mean() + 0.5 * math.log(2 * math.pi * kappa)) / math.log(2))

    assert upper == pytest.approx(dense_limit(var), abs=0.02)
    assert lower == pytest.approx(dense_limit(4 * var), abs=0.02)


def test_kde_limits_small_noise_and_separated_classes():
    gen = torch.Generator().manual_seed(6)
    y = torch.arange(400) % 4
    centres = 20.0 * torch.randn(4, 2, generator=gen, dtype=torch.float64)
    t = centres[y] + torch.randn(400, 2, generator=gen, dtype=torch.float64)
    out = kde_information(t, y, noise_variance=1e-10)
    assert out["i_xt"] == pytest.approx(math.log2(400), abs=1e-6)  # distinct points, vanishing noise
    assert out["i_ty"] == pytest.approx(2.0, abs=1e-6)  # separated classes: I(T;Y) = H(Y) = 2 bits
    noisy = kde_information(t, y, noise_variance=4.0)
    assert noisy["i_ty"] <= 2.0 + 1e-12
    assert noisy["i_xt"] < out["i_xt"] - 2


def test_bad_arguments_raise():
    a, y = torch.randn(10, 2), torch.zeros(10)
    with pytest.raises(UserError, match="unknown binning strategy"):
        binned_information(a, y, strategy="quantile")
    with pytest.raises(UserError, match="num_bins"):
        binned_information(a, y, num_bins=0)
    with pytest.raises(UserError, match="bin_range"):
        binned_information(a, y, bin_range=(1.0, -1.0))
    with pytest.raises(UserError, match="bin_range applies"):
        binned_information(a, y, strategy="adaptive", bin_range=(0.0, 1.0))
    with pytest.raises(UserError, match="labels must have shape"):
        binned_information(a, y[:9])
    with pytest.raises(UserError, match="unknown KDE bound"):
        kde_information(a, y, bound="middle")
    with pytest.raises(UserError, match="noise_variance"):
        kde_information(a, y, noise_variance=0.0)
    with pytest.raises(UserError, match="NaN"):
        kde_information(a * float("inf"), y)


@pytest.mark.parametrize("d", [1, 3, 7])
def test_bin_size_matches_bruteforce_floor_counts(d):
    # Saxe et al.'s bin_calc_information2: floor(a / 0.07) per unit, each row's tuple one symbol. The spread
    # (negative values, ReLU-like zeros, a wide range) exercises the shift to non-negative codes and both packings.
    g = torch.Generator().manual_seed(d)
    a = torch.randn(500, d, generator=g, dtype=torch.float64) * torch.linspace(0.05, 4.0, d, dtype=torch.float64)
    a[:100] = a[:100].clamp(min=0)
    y = torch.randint(0, 3, (500,), generator=g)
    rows = [tuple(math.floor(v / 0.07) for v in r) for r in a.tolist()]
    out = binned_information(a, y, bin_size=0.07)
    assert out["num_codes"] == len(set(rows))
    assert out["i_xt"] == pytest.approx(entropy_of(rows), abs=1e-12)
    assert out["i_ty"] == pytest.approx(max(mi_bruteforce(rows, y.tolist()), 0.0), abs=1e-12)
    ids = bin_codes(a, bin_size=0.07).tolist()
    assert all((ids[i] == ids[j]) == (rows[i] == rows[j]) for i in range(0, 500, 7) for j in range(500))


def test_bin_size_does_not_widen_with_the_range_unlike_bins_over_zero_to_max():
    # The ReLU artifact: scaling activations by 2 keeps [0, max]-binning codes identical but doubles the
    # number of occupied 0.07-wide bins, so only the fixed-size estimator sees the growth.
    a = torch.rand(2000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.zeros(2000)
    assert binned_information(2 * a, y, num_bins=30)["i_xt"] == binned_information(a, y, num_bins=30)["i_xt"]
    assert binned_information(2 * a, y, bin_size=0.07)["i_xt"] > binned_information(a, y, bin_size=0.07)["i_xt"] + 1


def test_bin_size_is_exclusive_with_num_bins_and_range():
    a, y = torch.randn(10, 2), torch.zeros(10)
    for kwargs in ({"num_bins": 30}, {"bin_range": (0.0, 1.0)}, {"strategy": "adaptive"}):
        with pytest.raises(UserError, match="bin_size replaces"):
            binned_information(a, y, bin_size=0.07, **kwargs)
    with pytest.raises(UserError, match="bin_size must be a positive"):
        binned_information(a, y, bin_size=0.0)
