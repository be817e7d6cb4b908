"""Epoch-wise double descent end to end: the smoke preset through the CLI (it holds), each declared control (one
speed, no label noise) failing the checks it names, a run stopped before the second descent failing, config and
divergence errors naming the key, and the quick preset on a held-out seed with its controls (slow). The
closed-form GD trajectory is checked against iterated GD and train_ensemble in test_analysis_least_squares.py."""

import json

import pytest

from phenomena.catalog import get_entry

ENTRY = get_entry("epoch-wise-double-descent")


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def _failed(res: dict) -> list[str]:
    return [c["name"] for c in res["verdict"]["checks"] if not c["passed"]]


def test_smoke_through_the_cli_runs_and_writes_a_figure(cli, home):
    code, out, err = cli("run", "epoch-wise-double-descent", "--preset", "smoke", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["verdict"]["passed"], res["verdict"]  # smoke_holds: seed 0 rises by 0.32 (threshold 0.2)
    s = res["summary"]
    assert s["valley_step"] < s["peak_step"] <= 100_000
    assert s["fast_time"] == 20 and s["slow_time"] == pytest.approx(2000)
    assert s["valley_step"] <= s["fast_time"] < s["peak_step"] < s["slow_time"]  # the two time scales of the bump
    assert s["first_descent"] == pytest.approx(1 - s["valley_test_error"])  # the zero predictor's error is 1
    assert s["rise"] == pytest.approx(s["peak_test_error"] - s["valley_test_error"])
    assert s["second_descent"] == pytest.approx(s["peak_test_error"] - s["final_test_error"])
    assert s["control_final_test_error"] == pytest.approx(s["final_test_error"], rel=1e-3)  # both near the OLS fit
    names = [c["name"] for c in res["verdict"]["checks"]]
    assert len(names) == 4 and names[0].startswith("rise") and names[-1].startswith("one-speed control")
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("control", ENTRY.controls, ids=lambda c: c.name)
def test_each_declared_control_fails_the_checks_it_names(cli_json, control):
    # smoke seed 0: one speed gives a second descent of 0.00, no label noise a rise of 0.11 (< 0.2)
    base = cli_json("run", "epoch-wise-double-descent", "-p", "smoke")
    res = cli_json("run", "epoch-wise-double-descent", "-p", "smoke", *_sets(control.overrides))
    assert not res["verdict"]["passed"]
    failed = _failed(res)
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed
    named = [i for i, c in enumerate(base["verdict"]["checks"]) if c["name"].startswith(control.must_fail)]
    for i in named:  # the same checks hold without the control: it is the control that breaks them
        assert base["verdict"]["checks"][i]["passed"]
        assert res["verdict"]["checks"][i]["value"] < base["verdict"]["checks"][i]["value"] / 2


def test_stopping_before_the_slow_features_move_fails_the_second_descent(cli_json):
    res = cli_json("run", "epoch-wise-double-descent", "-p", "smoke", "-s", "epoch.steps=200")
    assert not res["verdict"]["passed"]
    assert any(name.startswith("second descent") for name in _failed(res))
    assert res["summary"]["second_descent"] < 0.1


def test_a_diverging_run_names_its_own_learning_rate(cli):
    code, out, err = cli("run", "epoch-wise-double-descent", "-p", "smoke", "-s", "epoch.lr=1")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "diverged" in err and "epoch.lr" in err


@pytest.mark.parametrize(
    "override, message",
    [
        ("epoch.slow=0", "epoch.slow_signal must be 0 when epoch.slow is 0"),
        ("epoch.kappa=0", "epoch.kappa must lie in (0, 1]; got 0"),
    ],
)
def test_impossible_settings_are_one_line_errors_naming_the_key(cli, override, message):
    code, out, err = cli("run", "epoch-wise-double-descent", "-p", "smoke", "-s", override)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


@pytest.mark.slow
def test_quick_preset_on_a_held_out_seed_passes_and_its_controls_fail(cli_json):
    assert 1 not in ENTRY.calibration.seeds
    res = cli_json("run", "epoch-wise-double-descent", "--seed", "1")
    assert res["verdict"]["passed"], json.dumps({"summary": res["summary"], "verdict": res["verdict"]}, indent=1)
    for control in ENTRY.controls:
        off = cli_json("run", "epoch-wise-double-descent", "--seed", "1", *_sets(control.overrides))
        failed = _failed(off)
        assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), (control.name, failed)
