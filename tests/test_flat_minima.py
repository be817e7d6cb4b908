"""Flat minima: the smoke preset through the CLI, identical conditions (the verdict must fail, with ratios of
exactly 1), the trace z-score, and the quick preset (slow)."""

import math

import pytest

from phenomena.catalog.flat_minima import CONDITIONS, ENTRY, _z


def test_smoke_through_the_cli_measures_every_condition_and_draws(cli_json):
    res = cli_json("run", "flat-minima", "--preset", "smoke")
    s = res["summary"]
    checks = res["verdict"]["checks"]
    assert len(checks) == 5
    assert checks[0]["passed"]  # every condition reached the loss target: the comparison is at equal loss
    assert checks[1]["passed"]  # even at this size, the large batch ends sharper
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


def test_identical_conditions_fail_the_verdict_with_ratios_of_exactly_one(cli_json):
    # the declared control: same batch for "large" and rho = 0 for SAM, all three runs are the same computation
    (control,) = ENTRY.controls
    assert control.overrides == {"train.large_batch": 16, "train.rho": 0, "train.loss_target": 1.0}
    res = cli_json("run", "flat-minima", "-p", "smoke", *_sets(control.overrides))
    s = res["summary"]
    assert s["lambda_ratio_large_small"] == 1.0 and s["lambda_ratio_sam_sgd"] == 1.0
    assert s["trace_z_large_small"] == 0.0 and s["trace_z_sam_sgd"] == 0.0
    checks = res["verdict"]["checks"]
    assert [c["passed"] for c in checks] == [True, False, False, False, False]
    failed = {c["name"] for c in checks if not c["passed"]}
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed


def test_trace_z_score_combines_independent_standard_errors():
    s = {"trace_a": 130.0, "trace_stderr_a": 3.0, "trace_b": 100.0, "trace_stderr_b": 4.0}
    assert _z(s, "a", "b") == pytest.approx(30 / 5) and _z(s, "b", "a") == pytest.approx(-6)
    zero = {"trace_a": 1.0, "trace_stderr_a": 0.0, "trace_b": 1.0, "trace_stderr_b": 0.0}
    assert _z(zero, "a", "b") == 0.0
    assert _z({**zero, "trace_a": 2.0}, "a", "b") == math.inf


@pytest.mark.slow
def test_quick_preset_large_batches_are_sharper_and_sam_flatter(cli_json):
    res = cli_json("run", "flat-minima")
    assert res["verdict"]["passed"], res["verdict"]
