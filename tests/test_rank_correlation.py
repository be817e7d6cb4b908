"""Rank statistics of generalization measures against hand-counted pairs and brute-force loops: Kendall's τ (both
variants, with ties), Jiang's granulated Ψ on small grids, Dziugaite's sign-error and its Hoeffding weight; a
measure equal to the gap scores perfectly, the negated gap perfectly wrong, a shuffled one near zero."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from phenomena.analysis.rank_correlation import (
    granulated_kendall,
    hoeffding_weight,
    kendall_tau,
    resampled_tau,
    sign_error,
)
from phenomena.errors import UserError


def brute_tau(m, g, variant):
    """Kendall's τ from the pair counts of a double loop: C, D, and the pairs tied in m and in g."""
    c = d = tm = tg = 0
    n = len(m)
    for i in range(n):
        for j in range(i + 1, n):
            s = np.sign(m[i] - m[j]) * np.sign(g[i] - g[j])
            c, d = c + (s > 0), d + (s < 0)
            tm, tg = tm + (m[i] == m[j]), tg + (g[i] == g[j])
    pairs = n * (n - 1) // 2
    if variant == "a":
        return (c - d) / pairs
    return (c - d) / math.sqrt((pairs - tm) * (pairs - tg)) if tm < pairs and tg < pairs else math.nan


def test_tau_of_five_points_counted_by_hand():
    # pairs (i<j): only (0,1) and (2,3) are ordered against the gap: C = 8, D = 2 over 10 pairs
    m, g = [1.0, 2.0, 3.0, 4.0, 5.0], [0.2, 0.1, 0.4, 0.3, 0.5]
    assert kendall_tau(m, g) == pytest.approx(0.6)
    assert kendall_tau(m, g, variant="a") == pytest.approx(0.6)  # no ties: τ-a = τ-b


def test_tau_with_ties_counted_by_hand():
    # pairs: (0,1) tied in m, (1,2) tied in g, the other 4 concordant: N = 6, C = 4, D = 0, T_m = T_g = 1
    m, g = [1.0, 1.0, 2.0, 3.0], [0.1, 0.2, 0.2, 0.3]
    assert kendall_tau(m, g) == pytest.approx(4 / math.sqrt(5 * 5))
    assert kendall_tau(m, g, variant="a") == pytest.approx(4 / 6)


@pytest.mark.parametrize("variant", ["a", "b"])
def test_tau_matches_a_brute_force_pair_loop_with_ties(variant):
    rng = np.random.default_rng(0)
    for n in (2, 3, 7, 25):
        for _ in range(5):
            m, g = rng.integers(0, 4, n).astype(float), rng.integers(0, 3, n).astype(float)  # many ties
            expected = brute_tau(m, g, variant)
            got = kendall_tau(m, g, variant=variant)
            assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)


def test_tau_of_the_gap_itself_its_negation_and_a_constant():
    g = np.random.default_rng(1).random(12)
    assert kendall_tau(g, g) == pytest.approx(1.0) and kendall_tau(-g, g) == pytest.approx(-1.0)
    assert kendall_tau(np.exp(3 * g), g) == pytest.approx(1.0)  # only the order matters
    assert math.isnan(kendall_tau(np.ones(12), g))  # τ-b undefined
    assert kendall_tau(np.ones(12), g, variant="a") == 0.0  # Jiang's τ: every pair counts 0


def test_tau_of_shuffled_measures_is_small():
    rng = np.random.default_rng(2)
    g = rng.random(20)
    taus = np.array([kendall_tau(rng.permutation(g), g) for _ in range(300)])
    null_sd = math.sqrt(2 * (2 * 20 + 5) / (9 * 20 * 19))  # Kendall's null standard deviation, ≈ 0.16
    assert abs(taus.mean()) < 4 * null_sd / math.sqrt(300)
    assert taus.std() == pytest.approx(null_sd, rel=0.2)


def test_tau_is_nan_with_a_non_finite_value_and_rejects_bad_input():
    for bad in (math.nan, math.inf):
        assert math.isnan(kendall_tau([1.0, 2.0, bad], [0.1, 0.2, 0.3]))
        assert math.isnan(kendall_tau([1.0, 2.0, 3.0], [0.1, bad, 0.3], variant="a"))
    with pytest.raises(UserError, match="same length"):
        kendall_tau([1.0, 2.0, 3.0], [0.1, 0.2])
    with pytest.raises(UserError, match="at least 2"):
        kendall_tau([1.0], [0.1])
    with pytest.raises(UserError, match="variant"):
        kendall_tau([1.0, 2.0], [0.1, 0.2], variant="c")


GRID = {"depth": [1, 1, 1, 2, 2, 2], "lr": [0.1, 0.2, 0.3, 0.1, 0.2, 0.3]}
GAP = [0.1, 0.2, 0.3, 0.4, 0.6, 0.5]
MEASURE = [1.0, 2.0, 3.0, 5.0, 4.0, 6.0]


def test_granulated_kendall_on_a_2x3_grid_by_hand():
    # lr axis: depth 1 is concordant (τ = 1); depth 2 has m = 5, 4, 6 against g = .4, .6, .5: pairs (a,b) D, (a,c)
    # C, (b,c) D, τ = -1/3; ψ_lr = 1/3. depth axis: each lr's two models are concordant, ψ_depth = 1. Ψ = 2/3.
    r = granulated_kendall(GRID, MEASURE, GAP)
    assert r.axes == pytest.approx({"depth": 1.0, "lr": 1 / 3})
    assert r.psi == pytest.approx(2 / 3)
    assert r.groups == {"depth": 3, "lr": 2}
    rows = [dict(zip(GRID, v, strict=True)) for v in zip(*GRID.values(), strict=True)]  # one mapping per model
    assert granulated_kendall(rows, MEASURE, GAP) == r


def test_granulated_kendall_of_the_gap_and_its_negation():
    g = np.asarray(GAP)
    assert granulated_kendall(GRID, g, g).psi == pytest.approx(1.0)
    assert granulated_kendall(GRID, -g, g).psi == pytest.approx(-1.0)


def test_granulated_kendall_matches_a_loop_over_the_grid():
    rng = np.random.default_rng(3)
    values = {"width": [8, 16, 32], "depth": [1, 2, 3], "wd": [0.0, 1e-4]}
    models = list(itertools.product(*values.values()))
    hp = {k: [mdl[i] for mdl in models] for i, k in enumerate(values)}
    m, g = rng.random(len(models)), rng.random(len(models))
    r = granulated_kendall(hp, m, g)
    psis = {}
    for i, name in enumerate(values):
        others = [v for j, v in enumerate(values.values()) if j != i]
        taus = []
        for fixed in itertools.product(*others):  # Jiang's sum over Θ_1 × … × Θ_{i-1} × Θ_{i+1} × … × Θ_n
            idx = [k for k, mdl in enumerate(models) if mdl[:i] + mdl[i + 1 :] == fixed]
            taus.append(brute_tau(m[idx], g[idx], "b"))
        psis[name] = sum(taus) / len(taus)  # (1 / m_i) Σ τ
    assert r.axes == pytest.approx(psis)
    assert r.psi == pytest.approx(sum(psis.values()) / 3)


def test_granulated_kendall_skips_undefined_groups_and_axes():
    params = [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]  # a parameter count: constant along lr
    r = granulated_kendall(GRID, params, GAP)
    assert math.isnan(r.axes["lr"]) and r.groups["lr"] == 0  # τ-b undefined in both lr groups: skipped
    assert r.axes["depth"] == pytest.approx(1.0) and r.psi == pytest.approx(1.0)
    a = granulated_kendall(GRID, params, GAP, variant="a")  # Jiang's τ scores the constant groups 0
    assert a.axes == pytest.approx({"depth": 1.0, "lr": 0.0}) and a.psi == pytest.approx(0.5)
    with_fixed = granulated_kendall({**GRID, "dataset": ["c10"] * 6}, MEASURE, GAP)  # an axis that never varies
    assert math.isnan(with_fixed.axes["dataset"]) and with_fixed.psi == pytest.approx(2 / 3)
    lone = granulated_kendall({"a": [1, 2], "b": [1, 2]}, [1.0, 2.0], [0.1, 0.2])  # no group of 2 models
    assert math.isnan(lone.psi) and lone.groups == {"a": 0, "b": 0}


def test_granulated_kendall_is_nan_with_a_non_finite_value_and_rejects_bad_tables():
    assert math.isnan(granulated_kendall(GRID, MEASURE[:5] + [math.nan], GAP).psi)
    with pytest.raises(UserError, match="one value per model"):
        granulated_kendall({"depth": [1, 2]}, MEASURE, GAP)
    with pytest.raises(UserError, match="one value per model"):
        granulated_kendall({"depth": 3}, MEASURE, GAP)
    with pytest.raises(UserError, match="same hyper-parameters"):
        granulated_kendall([{"a": 1}, {"b": 2}], [1.0, 2.0], [0.1, 0.2])
    with pytest.raises(UserError, match="hashable"):
        granulated_kendall({"a": [[1], [2]]}, [1.0, 2.0], [0.1, 0.2])


def test_hoeffding_weight_against_the_bound_by_hand():
    n = 10_000
    for d in (0.012, 0.02, 0.05, 0.1):
        # P(|ĝ − g| ≥ ε) ≤ 2 exp(−2nε²), ε = |Δ|/2, for each of the two gaps
        assert hoeffding_weight(d, n) == pytest.approx((1 - 2 * math.exp(-2 * n * (d / 2) ** 2)) ** 2)
    assert hoeffding_weight(0.02, n) == pytest.approx((1 - 2 * math.exp(-2)) ** 2)
    assert hoeffding_weight(0.02, n) == pytest.approx(0.531921, abs=1e-6)
    assert hoeffding_weight(-0.02, n) == hoeffding_weight(0.02, n)
    assert hoeffding_weight(0.01, n) == 0.0  # 2·exp(−0.5) > 1: the test set cannot order them
    assert hoeffding_weight(0.0, n) == 0.0
    with pytest.raises(UserError, match="test examples"):
        hoeffding_weight(0.1, 0)


def test_sign_error_of_one_environment_with_seeds_by_hand():
    # two widths, two seeds each; pairs (first width, second width) with Δg, Δm and sign-error:
    # (0,2) −.10, −1: 0   (0,3) −.03, −3: 0   (1,2) −.08, +1: 1   (1,3) −.01, −1: 0 (weight 0: too close)
    hp = {"width": [1, 1, 2, 2]}
    gap, measure = [0.10, 0.12, 0.20, 0.13], [1.0, 3.0, 2.0, 4.0]
    n = 10_000
    w = [max((1 - 2 * math.exp(-n * d * d / 2)) ** 2 - 0.5, 0) for d in (0.10, 0.03, 0.08, 0.01)]
    assert w[3] == 0 and w[0] == pytest.approx(0.5) and w[1] == pytest.approx(0.456058, abs=1e-6)
    r = sign_error(hp, measure, gap, n_test=n)
    assert r.losses == pytest.approx([w[2] / sum(w)]) and r.losses[0] == pytest.approx(0.34339, abs=1e-5)
    assert r.mean == r.max == r.losses[0]
    assert r.axes == ("width",) and r.settings == (((1,), (2,)),) and r.weights == pytest.approx([sum(w)])
    assert r.ess == pytest.approx([sum(w) ** 2 / sum(x * x for x in w)])  # ≈ 2.99
    assert math.isnan(sign_error(hp, measure, gap, n_test=n, min_ess=3).mean)  # ESS below 3: dropped
    unfiltered = sign_error(hp, measure, gap, n_test=None)  # every pair weight 1: 1 error in 4
    assert unfiltered.mean == pytest.approx(0.25) and unfiltered.ess == pytest.approx([4.0])


def test_sign_error_of_the_gap_and_its_negation():
    hp = {"width": [1, 2, 4, 1, 2, 4], "lr": [0.1, 0.1, 0.1, 0.2, 0.2, 0.2]}
    g = np.array([0.05, 0.15, 0.30, 0.10, 0.20, 0.45])
    for n_test in (None, 10_000):
        assert sign_error(hp, g, g, n_test).max == 0.0
        neg = sign_error(hp, -g, g, n_test)
        assert neg.mean == neg.max == 1.0 and len(neg.losses) == 2 * 3 + 3  # 3 pairs per lr, 1 per width


def test_sign_error_worst_environment_and_cdf():
    hp = {"width": [1, 2, 4]}
    g = [0.1, 0.2, 0.3]
    r = sign_error(hp, [1.0, 3.0, 2.0], g, n_test=10_000)  # environments (1,2) ok, (1,4) ok, (2,4) reversed
    assert r.max == 1.0 and r.mean == pytest.approx(1 / 3)
    assert r.cdf(0.0) == pytest.approx(2 / 3) and r.cdf(1.0) == 1.0 and r.cdf(0.0, axis="width") == r.cdf(0.0)
    assert math.isnan(r.cdf(0.5, axis="depth")) and r.percentile(100) == 1.0
    tie = sign_error(hp, [1.0, 1.0, 2.0], g, n_test=None)  # a tie in the measure costs 1/2
    assert sorted(tie.losses) == [0.0, 0.0, 0.5]


def test_sign_error_matches_the_authors_loop_over_ordered_pairs():
    """Their create_environments: every ordered pair of models whose settings differ in exactly one value, weight
    (w − 1/2)₊, summed per ordered pair of settings; environments kept by ESS; mean, max and CDF over them."""
    rng = np.random.default_rng(4)
    values = {"width": [8, 16], "depth": [1, 2, 3], "lr": [0.1, 0.3]}
    settings = list(itertools.product(*values.values()))
    models = [s for s in settings for _ in range(3)]  # three seeds
    hp = {k: [mdl[i] for mdl in models] for i, k in enumerate(values)}
    gap = rng.random(len(models)) * 0.1
    measure = gap + rng.normal(0, 0.03, len(models))
    n, min_ess = 2_000, 1.5
    loss, wsum, w2sum = {}, {}, {}
    for a, b in itertools.product(range(len(models)), repeat=2):
        if sum(x != y for x, y in zip(models[a], models[b], strict=True)) != 1:
            continue
        key = (models[a], models[b])
        d = abs(gap[a] - gap[b])
        w = max(0.0, 1 - 2 * math.exp(-2 * n * (d / 2) ** 2)) ** 2
        w = w - 0.5 if w > 0.5 else 0.0
        err = (1 - np.sign(measure[a] - measure[b]) * np.sign(gap[a] - gap[b])) / 2
        loss[key] = loss.get(key, 0.0) + err * w
        wsum[key], w2sum[key] = wsum.get(key, 0.0) + w, w2sum.get(key, 0.0) + w * w
    kept = [loss[k] / wsum[k] for k in loss if wsum[k] > 0 and wsum[k] ** 2 / w2sum[k] >= min_ess]
    r = sign_error(hp, measure, gap, n_test=n, min_ess=min_ess)
    assert len(kept) == 2 * len(r.losses) > 10  # they count each environment in both orders
    assert r.mean == pytest.approx(np.mean(kept)) and r.max == pytest.approx(max(kept))
    for x in (0.1, 0.25, 0.5):
        assert r.cdf(x) == pytest.approx(np.mean(np.asarray(kept) <= x))


def test_sign_error_is_nan_with_a_non_finite_value_and_rejects_bad_settings():
    hp = {"width": [1, 2, 4]}
    r = sign_error(hp, [1.0, math.inf, 2.0], [0.1, 0.2, 0.3], n_test=100)
    assert math.isnan(r.mean) and math.isnan(r.max) and len(r.losses) == 0
    with pytest.raises(UserError, match="min_weight"):
        sign_error(hp, [1.0, 2.0, 3.0], [0.1, 0.2, 0.3], n_test=100, min_weight=1.0)
    with pytest.raises(UserError, match="test examples"):
        sign_error(hp, [1.0, 2.0, 3.0], [0.1, 0.2, 0.3], n_test=2.5)
    with pytest.raises(UserError, match="min_ess"):
        sign_error(hp, [1.0, 2.0, 3.0], [0.1, 0.2, 0.3], n_test=None, min_ess=-1)


def test_resampled_tau_matches_scipy_and_a_pair_count_on_permutations_and_bootstraps():
    rng = np.random.default_rng(0)
    x = rng.normal(size=12)
    y = x + rng.normal(size=12)
    x[3] = x[5]  # a tie in the measure
    perms = np.array([rng.permutation(12) for _ in range(5)])
    boots = rng.integers(0, 12, (5, 12))
    for row, tau in zip(perms, resampled_tau(x, y, perms, both=False), strict=True):
        assert tau == pytest.approx(stats.kendalltau(x, y[row]).statistic, abs=1e-12)
        assert tau == pytest.approx(brute_tau(x, y[row], "b"), abs=1e-12)
    for row, tau in zip(boots, resampled_tau(x, y, boots, both=True), strict=True):
        assert tau == pytest.approx(stats.kendalltau(x[row], y[row]).statistic, abs=1e-12)
        assert tau == pytest.approx(brute_tau(x[row], y[row], "b"), abs=1e-12)


def test_resampled_tau_is_nan_when_a_resample_is_constant():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0])
    out = resampled_tau(x, y, np.array([[0, 0, 0], [0, 1, 2]]), both=True)
    assert math.isnan(out[0]) and out[1] == pytest.approx(1 / 3)


def test_resampled_tau_refuses_bad_input():
    x = np.arange(4.0)
    for index in (np.zeros((2, 3), dtype=int), np.full((1, 4), 4), np.zeros((1, 4))):
        with pytest.raises(UserError, match="resampled_tau"):
            resampled_tau(x, x, index, both=True)
    with pytest.raises(UserError, match="resampled_tau"):
        resampled_tau(x, x[:3], np.zeros((1, 4), dtype=int), both=False)
