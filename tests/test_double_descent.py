"""Double descent end to end: the smoke preset through the CLI, random features (fast, passes), a budget too
short to interpolate (fails), the min-norm solver against the pseudo-inverse, and the quick preset (slow)."""

import json

import numpy as np
import pytest
import torch

from phenomena.catalog.double_descent import bump, feature_counts, min_norm_fit


def test_smoke_through_the_cli_runs_the_model_wise_path_and_writes_a_figure(cli, home):
    code, out, err = cli("run", "double-descent", "--preset", "smoke", "--json")
    assert code == 0, err
    res = json.loads(out)
    s = res["summary"]
    assert s["steps_per_width"] == 30 * 3  # 30 epochs of 300 examples in batches of 100
    assert s["peak_width"] in (16,)  # the only interior width of (4, 16, 64)
    assert 0 <= s["largest_width_test_error"] <= 1 and 0 <= s["min_train_error"] <= 1
    assert "control_peak_excess_pp" in s  # the no-noise control ran in the same ensemble
    names = [c["name"] for c in res["verdict"]["checks"]]
    assert len(names) == 5 and names[-1].startswith("no-noise bump")
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_random_features_peak_at_n_equals_n_passes(cli_json):
    res = cli_json("run", "double-descent", "-p", "smoke", "-s", "mode=random-features")
    assert res["verdict"]["passed"], res["verdict"]
    s = res["summary"]
    assert s["peak_features"] == s["n_train"] == 200
    assert s["norm_at_threshold"] > 10 * s["norm_at_largest"]  # the min-norm solution blows up at N = n


def test_a_budget_too_short_to_interpolate_fails(cli_json):
    res = cli_json("run", "double-descent", "-p", "smoke", "-s", "train.epochs=1", "-s", "data.control=false")
    assert not res["verdict"]["passed"]
    first = res["verdict"]["checks"][0]
    assert first["name"].startswith("training error < 1%") and not first["passed"]
    assert res["summary"]["min_train_error"] > 0.3 and res["summary"]["h_star"] is None  # nan -> null


def test_min_norm_fit_matches_the_pseudo_inverse():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(30, 3, generator=g, dtype=torch.float64)
    tall = torch.randn(30, 12, generator=g, dtype=torch.float64)
    wide = torch.randn(30, 50, generator=g, dtype=torch.float64)
    low_rank = torch.randn(30, 5, generator=g, dtype=torch.float64) @ torch.randn(5, 40, generator=g,
                                                                                   dtype=torch.float64)
    for phi in (tall, wide, low_rank):
        beta = min_norm_fit(phi, y)
        assert torch.allclose(beta, torch.linalg.pinv(phi, rtol=1e-10) @ y, atol=1e-8, rtol=1e-8)
    # wide: the fit interpolates, and any other interpolant (beta + a null-space vector) has a larger norm
    beta = min_norm_fit(wide, y)
    assert torch.allclose(wide @ beta, y, atol=1e-10)
    null = torch.linalg.svd(wide).Vh[30:].T @ torch.randn(20, 3, generator=g, dtype=torch.float64)
    assert torch.allclose(wide @ (beta + null), y, atol=1e-10) and (beta + null).norm() > beta.norm()


def test_bump_finds_the_most_prominent_interior_peak():
    k, left, right = bump([0.9, 0.5, 0.3, 0.45, 0.2])  # underfitting at the left edge is not a bump
    assert k == 3 and left == pytest.approx(0.15) and right == pytest.approx(0.25)
    k, left, right = bump([0.5, 0.4, 0.3, 0.2])  # monotone: every candidate has a negative excess
    assert min(left, right) < 0
    e = np.random.default_rng(0).random(12)  # brute force over all interior k
    best = max(range(1, 11), key=lambda i: min(e[i] - e[:i].min(), e[i] - e[-1]))
    assert bump(e)[0] == best


def test_feature_counts_hold_n_and_span_the_range():
    counts = feature_counts(1000, 0.1, 10, 21)
    assert counts[0] == 100 and counts[-1] == 10_000 and 1000 in counts
    assert counts == sorted(set(counts))


@pytest.mark.slow
def test_quick_preset_shows_the_peak_at_the_threshold(cli_json):
    res = cli_json("run", "double-descent")
    assert res["verdict"]["passed"], json.dumps({"summary": res["summary"], "verdict": res["verdict"]}, indent=1)
