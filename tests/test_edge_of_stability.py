"""Edge of stability: the smoke preset through the CLI, a step size that never reaches 2/eta (the declared
control fails its checks), the statistics on a synthetic trajectory with known answers, an unmeasured sharpness,
the loss convention, and quick on a held-out seed (slow)."""

import math

import numpy as np
import pytest
import torch

from phenomena.catalog.edge_of_stability import ENTRY, analyze, half_squared_error
from phenomena.probes.hessian import hessian_eigenvalues


def checks_of(res: dict) -> dict[str, dict]:
    """Checks keyed by their name without the variable part (t* = ...)."""
    return {c["name"].split(" (max")[0].split(" (t*")[0].split(" (whole")[0]: c for c in res["verdict"]["checks"]}


def test_smoke_through_the_cli_reaches_the_edge_and_draws(cli_json):
    res = cli_json("run", "edge-of-stability", "--preset", "smoke")
    checks = checks_of(res)
    assert len(checks) == 13  # six per step size and the cross-step-size one
    s = res["summary"]
    for i, lr in ((1, 0.2), (2, 0.3)):
        at = f"η={lr:.4g} (2/η={2 / lr:.3g})"
        assert checks[f"{at}: λmax reaches 0.9·2/η"]["passed"]
        assert checks[f"{at}: largest one-step relative rise of the loss after t*"]["passed"]
        assert s[f"loss_max_rise_{i}"] >= 0.01  # at the edge, some step raises the loss by 1% or more
        assert s[f"loss_increases_before_{i}"] == 0  # below 2/eta, GD decreases the loss monotonically
        assert s[f"loss_max_rise_before_{i}"] < 0 and s[f"sharpness_unmeasured_{i}"] == 0
        assert s[f"t_cross_{i}"] > 0 and s[f"steps_run_{i}"] == 400
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def test_a_step_size_whose_threshold_is_never_reached_fails_the_plateau_checks(cli_json):
    # the declared control: 2/eta = 200 and 100 against an initial sharpness of ~3.5, no edge within the budget
    (control,) = ENTRY.controls
    assert control.overrides == {"train.lrs": (0.01, 0.02)}
    res = cli_json("run", "edge-of-stability", "-p", "smoke", *_sets(control.overrides))
    assert not res["verdict"]["passed"]
    s = res["summary"]
    for i in (1, 2):
        assert s[f"max_ratio_{i}"] < 0.1 and s[f"t_cross_{i}"] == "nan"  # never reached: unmeasured
    checks = res["verdict"]["checks"]
    failed = {c["name"] for c in checks if not c["passed"]}
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed
    short = {name.split(": ", 1)[-1].split(" (")[0] for name in failed}
    assert {
        "λmax reaches 0.9·2/η",
        "|median λmax·η/2 after t* − 1|",
        "share of measurements after t* with λmax·η/2 in [0.85, 1.15]",
        "largest one-step relative rise of the loss after t*",
    } <= short
    for i in (1, 2):  # measured, not merely unmeasured: small-step GD lowers the loss at every step
        assert s[f"loss_max_rise_{i}"] < 0
    assert any(c["name"].startswith("plateaus follow") and not c["passed"] for c in checks)


def test_analyze_on_a_synthetic_trajectory_with_known_statistics():
    lr = 0.1  # 2/eta = 20
    steps = list(range(0, 200, 10))  # 20 measurements
    sharp = [8.0, 7.0, 7.0, 9.0, 12.0, 15.0, 19.0] + [21.0, 20.0, 25.0] * 4 + [20.0]
    loss = [1.0 - 0.003 * t for t in range(200)]
    for t in (70, 100, 150):  # three rises after t* = 60 (the first measurement >= 18)
        loss[t] = loss[t - 1] + 0.01
    out = analyze(steps, sharp, loss, lr)
    assert out["t_cross"] == 60 and out["sharpening"] == pytest.approx(19 / 7)
    post = [19 / 20] + [21 / 20, 1.0, 25 / 20] * 4 + [1.0]
    assert out["plateau_ratio"] == pytest.approx(float(np.median(post)))
    assert out["edge_share"] == pytest.approx(sum(0.85 <= r <= 1.15 for r in post) / 20)  # 10 of 20
    assert out["loss_increases_after"] == 3 and out["loss_increases_before"] == 0
    assert out["loss_max_rise"] == pytest.approx(max((loss[t] - loss[t - 1]) / loss[t - 1] for t in (70, 100, 150)))
    assert out["loss_max_rise_before"] == pytest.approx(-0.003 / loss[0])  # the first step falls the most
    assert out["loss_final"] == pytest.approx(np.mean(loss[-10:]))
    assert out["loss_ratio"] == pytest.approx(out["loss_final"] / loss[60])
    never = analyze(steps, [5.0] * 20, loss, lr)
    assert math.isnan(never["t_cross"]) and math.isnan(never["plateau_ratio"]) and never["edge_share"] == 0
    assert never["loss_max_rise"] == out["loss_max_rise"]  # no t*: the whole run
    # a single-ulp uptick is a rise, but far below the 1% the check asks for
    flat = [1.0 - 0.003 * t for t in range(200)]
    flat[100] = flat[99] * (1 + 1e-15)
    assert 0 < analyze(steps, sharp, flat, lr)["loss_max_rise"] < 1e-12


@pytest.mark.parametrize("where", [0, 3, 6, 12])
def test_an_unmeasured_sharpness_makes_every_sharpness_statistic_unmeasured(where):
    # an unconverged Lanczos logs nan; max/min/median over a list with a nan depend on its position
    lr, steps = 0.1, list(range(0, 200, 10))
    sharp = [8.0, 7.0, 7.0, 9.0, 12.0, 15.0, 19.0] + [21.0, 20.0, 25.0] * 4 + [20.0]
    sharp[where] = math.nan
    loss = [1.0 - 0.003 * t for t in range(200)]
    out = analyze(steps, sharp, loss, lr)
    assert out["sharpness_unmeasured"] == 1
    for key in ("max_ratio", "t_cross", "sharpening", "plateau_ratio", "edge_share", "loss_ratio", "loss_max_rise"):
        assert math.isnan(out[key]), key
    assert out["loss_final"] == pytest.approx(np.mean(loss[-10:]))  # the loss itself was measured


def test_a_run_with_an_unmeasured_sharpness_fails_those_checks():
    from phenomena.catalog.edge_of_stability import PRESETS, verdict
    from phenomena.result import Result

    cfg = PRESETS["smoke"]
    lr_stats = [analyze(list(range(0, 200, 10)), [5.0] * 19 + [math.nan], [1.0] * 200, lr) for lr in cfg.train.lrs]
    summary = {f"{k}_{i}": v for i, st in enumerate(lr_stats, 1) for k, v in st.items()}
    summary["plateau_spread"] = math.nan
    checks = verdict(Result("edge-of-stability", cfg, summary=summary)).checks
    assert not any(c.passed for c in checks)


def test_the_loss_is_locuslabs_half_squared_norm_and_sharpness_scales_with_it():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (50,), generator=g)
    out = torch.randn(50, 3, generator=g, dtype=torch.float64)
    onehot = torch.eye(3, dtype=torch.float64)[y]
    by_hand = sum(0.5 * ((o - t) ** 2).sum().item() for o, t in zip(out, onehot, strict=True)) / 50
    assert half_squared_error(out, y).item() == pytest.approx(by_hand, rel=1e-12)
    # linear f(x) = W x: the Hessian is (X^T X / n) kron I_3, so lambda_max = top eigenvalue of X^T X / n
    model = torch.nn.Linear(6, 3, bias=False).double()
    res = hessian_eigenvalues(model, half_squared_error, (x, y), k=1, tol=1e-10)
    assert res.values[0] == pytest.approx(np.linalg.eigvalsh((x.T @ x / 50).numpy())[-1], rel=1e-8)


@pytest.mark.slow
def test_quick_preset_shows_the_edge_of_stability_on_a_held_out_seed(cli_json):
    res = cli_json("run", "edge-of-stability", "--seed", "2")
    assert res["verdict"]["passed"], res["verdict"]
