"""Double descent end to end: the smoke preset through the CLI, random features (fast, passes), a budget too
short to interpolate (fails), the min-norm solver against the pseudo-inverse, and the quick preset (slow).
Epoch-wise: smoke through the CLI, three settings without the phenomenon (one feature speed, too few steps, no
label noise) that fail, the closed-form GD trajectory against iterated GD and against train_ensemble.
Sample-wise: smoke through the CLI, more data hurting at n = N and ridge removing it, the ridge solver against
the normal equations, and both quick presets (slow)."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from phenomena.catalog._double_descent_variants import gd_least_squares, log_steps, ridge_fit
from phenomena.catalog.double_descent import bump, feature_counts, min_norm_fit
from phenomena.data.dataset import Dataset
from phenomena.training.ensemble import train_ensemble


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
    low_rank = torch.randn(30, 5, generator=g, dtype=torch.float64) @ torch.randn(
        5, 40, generator=g, dtype=torch.float64
    )
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


# --- epoch-wise ---


def test_epoch_smoke_through_the_cli_runs_the_epoch_path_and_writes_a_figure(cli, home):
    code, out, err = cli("run", "double-descent", "--preset", "smoke", "-s", "mode=epoch", "--json")
    assert code == 0, err
    res = json.loads(out)
    s = res["summary"]
    assert (
        s["valley_step"] < s["peak_step"] <= 100_000 and s["fast_time"] == 20 and s["slow_time"] == pytest.approx(2000)
    )
    assert s["first_descent"] == pytest.approx(1 - s["valley_test_error"])  # the zero predictor's error is 1
    assert s["rise"] == pytest.approx(s["peak_test_error"] - s["valley_test_error"])
    assert s["second_descent"] == pytest.approx(s["peak_test_error"] - s["final_test_error"])
    assert s["control_final_test_error"] == pytest.approx(s["final_test_error"])  # both reach the same OLS fit
    names = [c["name"] for c in res["verdict"]["checks"]]
    assert len(names) == 5 and names[0].startswith("first descent") and names[-1].startswith("one-speed control")
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "override, failing",
    [
        ("epoch.kappa=1", "second descent"),  # one feature speed: a single U (smoke seeds 0-2: second descent 0.00)
        ("epoch.steps=200", "second descent"),  # stopped before the slow features move (measured −0.01 to −0.03)
        ("epoch.noise=0", "rise"),  # no label noise: rises of 0.04-0.09 at smoke seeds 0-2
    ],
)
def test_epoch_settings_without_the_phenomenon_fail(cli_json, override, failing):
    res = cli_json("run", "double-descent", "-p", "smoke", "-s", "mode=epoch", "-s", override)
    assert not res["verdict"]["passed"]
    failed = [c["name"] for c in res["verdict"]["checks"] if not c["passed"]]
    assert any(name.startswith(failing) for name in failed), failed


def test_gd_least_squares_matches_iterated_gradient_descent():
    g = torch.Generator().manual_seed(0)
    for n, d in ((40, 12), (12, 30)):  # under- and over-parameterized (the latter has null directions)
        x = torch.randn(3, n, d, generator=g, dtype=torch.float64) * torch.linspace(0.05, 1.0, d, dtype=torch.float64)
        y = torch.randn(3, n, generator=g, dtype=torch.float64)
        lr, steps = 0.3, [0, 1, 2, 7, 60, 400]
        closed = gd_least_squares(x, y, lr, steps)
        w, it = torch.zeros(3, d, dtype=torch.float64), []
        for t in range(max(steps) + 1):
            if t in steps:
                it.append(w.clone())
            w = w - lr * (x.mT @ (x @ w.unsqueeze(-1) - y.unsqueeze(-1))).squeeze(-1) / n
        assert torch.allclose(closed, torch.stack(it, 1), atol=1e-10, rtol=1e-9)
    lam_max = torch.linalg.eigvalsh(x[0].T @ x[0] / x.shape[1]).max().item()  # above 2 / λ_max GD diverges
    blown = gd_least_squares(x[:1], y[:1], 2.2 / lam_max, [2000])
    assert not torch.isfinite(blown).all() or blown.abs().max() > 1e20


def test_gd_least_squares_matches_train_ensemble():
    """The trainer's full-batch GD on a bias-free linear model, started at zero: its MSE is mean((x·w − y)²), twice
    the closed form's loss, so the trainer's step size is half of ours."""
    g = torch.Generator().manual_seed(1)
    n, d, lr, steps = 50, 8, 0.2, 150
    x = torch.randn(2, n, d, generator=g, dtype=torch.float64) * torch.tensor([1.0] * 4 + [0.1] * 4).double()
    y = torch.randn(2, n, generator=g, dtype=torch.float64)
    sets = [Dataset(x[m].float(), y[m, :, None].float(), x[m, :5].float(), y[m, :5, None].float()) for m in range(2)]

    def zero_linear(seed):
        net = nn.Sequential(nn.Linear(d, 1, bias=False))
        nn.init.zeros_(net[0].weight)
        return net

    res = train_ensemble(zero_linear, [0, 1], sets, loss="mse", optimizer="sgd", lr=lr / 2, steps=steps,
                         batch_size=None, log_every=steps)  # fmt: skip
    closed = gd_least_squares(x, y, lr, [steps])[:, 0]
    trained = torch.stack([m[0].weight.detach().double().squeeze(0) for m in res.models])
    assert torch.allclose(trained, closed, atol=1e-4, rtol=1e-4)


def test_log_steps_start_at_zero_and_end_at_the_last_step():
    steps = log_steps(100_000, 60)
    assert steps[:3] == [0, 1, 2] and steps[-1] == 100_000 and steps == sorted(set(steps)) and len(steps) <= 61


# --- sample-wise ---


def test_sample_smoke_through_the_cli_runs_the_sample_path_and_writes_a_figure(cli, home):
    code, out, err = cli("run", "double-descent", "--preset", "smoke", "-s", "mode=sample", "--json")
    assert code == 0, err
    res = json.loads(out)
    s = res["summary"]
    assert s["features"] == 50 and s["norm_peak_samples"] == 50  # the min-norm fit is least stable at n = N
    assert s["peak_samples"] == 50  # measured at smoke seeds 0-4
    assert s["largest_n_fit"] >= 50  # every n <= N is interpolated
    names = [c["name"] for c in res["verdict"]["checks"]]
    assert len(names) == 4 and names[1].startswith("more data hurts")
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


# 2000 train / 3000 test examples, N = 100: more data hurts by 5.0-5.9 pp at seeds 0-4; ridge 0.01: 0.6-1.4 pp
MEDIUM = ("-s", "data.num_samples=5000", "-s", "data.train_split=0.4", "-s", "sample.features=100", "-s",
          "sample.points=13", "-s", "sample.draws=2")  # fmt: skip


def test_more_data_hurts_at_n_equals_n_and_ridge_removes_it(cli_json):
    res = cli_json("run", "double-descent", "-p", "smoke", "-s", "mode=sample", *MEDIUM)
    assert res["verdict"]["passed"], res["verdict"]
    assert res["summary"]["peak_samples"] == 100 and res["summary"]["peak_excess_left_pp"] >= 3
    ridge = cli_json("run", "double-descent", "-p", "smoke", "-s", "mode=sample", *MEDIUM, "-s", "sample.ridge=0.01")
    assert not ridge["verdict"]["passed"]
    hurts = next(c for c in ridge["verdict"]["checks"] if c["name"].startswith("more data hurts"))
    assert not hurts["passed"] and ridge["summary"]["peak_excess_left_pp"] < 2


def test_a_sample_grid_beyond_the_training_set_is_a_user_error(cli):
    code, _, err = cli("run", "double-descent", "-p", "smoke", "-s", "mode=sample", "-s", "sample.high=10")
    assert code == 2 and "exceeds the 300 training examples" in err


def test_ridge_fit_matches_the_normal_equations_and_tends_to_min_norm():
    g = torch.Generator().manual_seed(2)
    for n, p in ((30, 12), (12, 30)):
        phi = torch.randn(n, p, generator=g, dtype=torch.float64)
        y = torch.randn(n, 3, generator=g, dtype=torch.float64)
        for lam in (1e-2, 1.0, 10.0):
            normal = torch.linalg.solve(phi.T @ phi + lam * torch.eye(p, dtype=torch.float64), phi.T @ y)
            assert torch.allclose(ridge_fit(phi, y, lam), normal, atol=1e-10, rtol=1e-9)
        assert torch.allclose(ridge_fit(phi, y, 1e-10), min_norm_fit(phi, y), atol=1e-6)
        assert torch.equal(ridge_fit(phi, y, 0.0), min_norm_fit(phi, y))


# --- quick presets ---


@pytest.mark.slow
def test_quick_preset_shows_the_peak_at_the_threshold(cli_json):
    res = cli_json("run", "double-descent")
    assert res["verdict"]["passed"], json.dumps({"summary": res["summary"], "verdict": res["verdict"]}, indent=1)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["epoch", "sample"])
def test_quick_preset_shows_epoch_and_sample_wise_double_descent(cli_json, mode):
    res = cli_json("run", "double-descent", "-s", f"mode={mode}")
    assert res["verdict"]["passed"], json.dumps({"summary": res["summary"], "verdict": res["verdict"]}, indent=1)


def test_a_diverging_epoch_mode_names_its_own_learning_rate(cli):
    code, out, err = cli("run", "double-descent", "-p", "smoke", "-s", "mode=epoch", "-s", "epoch.lr=1")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "diverged" in err and "epoch.lr" in err


def test_two_workers_give_the_one_process_result(cli_json):
    # the widths' ensembles run in two spawned one-thread processes; the tests' process runs one thread too
    one = cli_json("run", "double-descent", "-p", "smoke", "-s", "train.epochs=3")
    two = cli_json("run", "double-descent", "-p", "smoke", "-s", "train.epochs=3", "--workers", "2", "--force")
    assert one["run_id"] == two["run_id"]  # the worker count is not part of the config
    drop = {"train_seconds", "wall_seconds"}
    assert {k: v for k, v in two["summary"].items() if k not in drop} == {
        k: v for k, v in one["summary"].items() if k not in drop}  # fmt: skip


def test_workers_must_be_positive(cli):
    code, out, err = cli("run", "double-descent", "-p", "smoke", "--workers", "0")
    assert code == 2 and out == "" and err.count("\n") == 1 and "workers" in err
