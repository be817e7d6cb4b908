"""Epoch-wise double descent end to end: the smoke preset through the CLI, the declared one-speed control and two
other settings without the phenomenon (too few steps, no label noise) that fail, config and divergence errors
naming the key, and the quick preset with its control (slow). The closed-form GD trajectory is checked against
iterated GD and train_ensemble in test_analysis_least_squares.py."""

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
    s = res["summary"]
    assert s["valley_step"] < s["peak_step"] <= 100_000
    assert s["fast_time"] == 20 and s["slow_time"] == pytest.approx(2000)
    assert s["first_descent"] == pytest.approx(1 - s["valley_test_error"])  # the zero predictor's error is 1
    assert s["rise"] == pytest.approx(s["peak_test_error"] - s["valley_test_error"])
    assert s["second_descent"] == pytest.approx(s["peak_test_error"] - s["final_test_error"])
    assert s["control_final_test_error"] == pytest.approx(s["final_test_error"])  # both reach the same OLS fit
    names = [c["name"] for c in res["verdict"]["checks"]]
    assert len(names) == 5 and names[0].startswith("first descent") and names[-1].startswith("one-speed control")
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_declared_one_speed_control_fails_its_checks(cli_json):
    (control,) = ENTRY.controls
    assert control.overrides == {"epoch.kappa": 1.0}
    res = cli_json("run", "epoch-wise-double-descent", "-p", "smoke", *_sets(control.overrides))
    assert not res["verdict"]["passed"]  # smoke seeds 0-2: second descent 0.00
    failed = _failed(res)
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed


@pytest.mark.parametrize(
    "override, failing",
    [
        ("epoch.steps=200", "second descent"),  # stopped before the slow features move (measured −0.01 to −0.03)
        ("epoch.noise=0", "rise"),  # no label noise: rises of 0.04-0.09 at smoke seeds 0-2
    ],
)
def test_settings_without_the_phenomenon_fail(cli_json, override, failing):
    res = cli_json("run", "epoch-wise-double-descent", "-p", "smoke", "-s", override)
    assert not res["verdict"]["passed"]
    failed = _failed(res)
    assert any(name.startswith(failing) for name in failed), failed


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
def test_quick_preset_shows_epoch_wise_double_descent_and_the_control_does_not(cli_json):
    res = cli_json("run", "epoch-wise-double-descent")
    assert res["verdict"]["passed"], json.dumps({"summary": res["summary"], "verdict": res["verdict"]}, indent=1)
    (control,) = ENTRY.controls
    one_speed = cli_json("run", "epoch-wise-double-descent", *_sets(control.overrides))
    failed = _failed(one_speed)
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed
