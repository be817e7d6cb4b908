"""Flat minima: the smoke preset through the CLI, both declared controls fail their checks (a large batch only
2x the small one; a SAM radius 20x smaller), the trace z-score, and quick on a held-out seed (slow)."""

import math

import pytest

from phenomena.catalog.flat_minima import CONDITIONS, ENTRY, _max_or_nan, _z


def test_smoke_through_the_cli_measures_every_condition_and_draws(cli_json):
    res = cli_json("run", "flat-minima", "--preset", "smoke")
    s = res["summary"]
    checks = res["verdict"]["checks"]
    assert len(checks) == 5
    assert checks[0]["passed"]  # every condition reached the loss target: the comparison is at equal loss
    assert s["lambda_ratio_large_small"] > 1.5  # even at this size, the large batch ends sharper
    for cond in CONDITIONS:
        assert s[f"train_loss_{cond}"] <= 0.4 and s[f"lambda_max_{cond}"] > 0
        assert s[f"trace_stderr_{cond}"] > 0
        assert s[f"gen_gap_{cond}"] == pytest.approx(s[f"train_acc_{cond}"] - s[f"test_acc_{cond}"])
    assert s["batch_size_large"] == 200
    assert s["epochs_large"] == pytest.approx(s["steps_run_large"] * 200 / 800)
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def _control(name: str):
    return next(c for c in ENTRY.controls if c.name == name)


def _fails(res: dict, must_fail: tuple[str, ...]) -> None:
    checks = res["verdict"]["checks"]
    for prefix in must_fail:
        named = [c for c in checks if c["name"].startswith(prefix)]
        assert named and not any(c["passed"] for c in named), (prefix, checks)


def test_a_large_batch_only_twice_the_small_one_fails_the_batch_checks(cli_json):
    # the control sets quick's large batch to 2x its small batch (32); on smoke (small batch 16) 2x is 32
    control = _control("moderate batch ratio")
    assert control.overrides == {"train.large_batch": 64}
    assert ENTRY.presets["quick"].train.small_batch == 32
    assert ENTRY.presets["smoke"].train.small_batch == 16
    res = cli_json("run", "flat-minima", "-p", "smoke", "-s", "train.large_batch=32")
    _fails(res, control.must_fail)
    s = res["summary"]
    assert 1.0 < s["trace_ratio_large_small"] < 1.8  # still sharper, by much less than at 12.5x the batch


def test_a_small_sam_radius_fails_the_sam_checks(cli_json):
    control = _control("small SAM radius")
    assert control.overrides == {"train.rho": 0.005}
    res = cli_json("run", "flat-minima", "-p", "smoke", *_sets(control.overrides))
    _fails(res, control.must_fail)
    assert res["summary"]["lambda_ratio_sam_sgd"] > 0.8


def test_trace_z_score_combines_independent_standard_errors():
    s = {"trace_a": 130.0, "trace_stderr_a": 3.0, "trace_b": 100.0, "trace_stderr_b": 4.0}
    assert _z(s, "a", "b") == pytest.approx(30 / 5) and _z(s, "b", "a") == pytest.approx(-6)
    zero = {"trace_a": 1.0, "trace_stderr_a": 0.0, "trace_b": 1.0, "trace_stderr_b": 0.0}
    assert _z(zero, "a", "b") == 0.0
    assert _z({**zero, "trace_a": 2.0}, "a", "b") == math.inf
    assert math.isnan(_z({**s, "trace_stderr_b": math.nan}, "a", "b"))  # unmeasured, not an infinite z


def test_a_non_finite_final_loss_is_unmeasured_in_either_order():
    assert _max_or_nan([0.01, 0.04, 0.03]) == 0.04
    assert math.isnan(_max_or_nan([math.nan, 0.04])) and math.isnan(_max_or_nan([0.04, math.nan]))


@pytest.mark.slow
def test_quick_preset_large_batches_are_sharper_and_sam_flatter(cli_json):
    res = cli_json("run", "flat-minima", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
