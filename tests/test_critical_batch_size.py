"""Critical batch size: the smoke pipeline, both controls failing their checks on measured values, and quick on a
held-out seed (slow). The S(B) fit's oracle tests are in tests/test_analysis_critical_batch.py."""

import math

import pytest

from phenomena.catalog.critical_batch_size import ENTRY


def test_smoke_through_the_cli_measures_the_curve(cli_json):
    res = cli_json("run", "critical-batch-size", "-p", "smoke")
    s = res["summary"]
    assert s["small_slope"] < -0.5  # halving the batch costs steps at small batch
    assert math.isfinite(s["b_crit"]) and math.isfinite(s["b_simple_target"])
    assert len(res["verdict"]["checks"]) == 7
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_both_controls_fail_their_checks_on_measured_values(cli_json):
    overrides = [arg for c in ENTRY.controls for key, value in c.overrides.items() for arg in ("-s", f"{key}={value}")]
    res = cli_json("run", "critical-batch-size", "-p", "smoke", *overrides)
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    for control in ENTRY.controls:
        for prefix in control.must_fail:
            (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
            assert isinstance(check["value"], float) and math.isfinite(check["value"]) and not check["passed"], check
    assert res["summary"]["noise_loss_drop"] == pytest.approx(0, abs=1e-6)  # the noise run did not train


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "critical-batch-size", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
