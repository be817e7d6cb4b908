"""Sample-wise double descent end to end: the smoke preset through the CLI, more data hurting at n = N and the
declared ridge control removing it, a grid beyond the training set (a user error), and the quick preset with its
control (slow)."""

import json

import pytest

from phenomena.catalog import get_entry

ENTRY = get_entry("sample-wise-double-descent")


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def _failed(res: dict) -> list[str]:
    return [c["name"] for c in res["verdict"]["checks"] if not c["passed"]]


def test_smoke_through_the_cli_runs_and_writes_a_figure(cli, home):
    code, out, err = cli("run", "sample-wise-double-descent", "--preset", "smoke", "--json")
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


# 2000 train / 3000 test examples, N = 100; measured at seed 0: more data hurts by 6.1 pp, and by 2.0 pp with the
# declared ridge control (1e-3)
MEDIUM = {
    "data.num_samples": 5000,
    "data.train_split": 0.4,
    "sample.features": 100,
    "sample.points": 13,
    "sample.draws": 2,
}


def test_more_data_hurts_at_n_equals_n_and_the_declared_ridge_control_removes_it(cli_json):
    res = cli_json("run", "sample-wise-double-descent", "-p", "smoke", *_sets(MEDIUM))
    assert res["verdict"]["passed"], res["verdict"]
    assert res["summary"]["peak_samples"] == 100 and res["summary"]["peak_excess_left_pp"] >= 3
    (control,) = ENTRY.controls
    assert control.overrides == {"sample.ridge": 1e-3}
    ridge = cli_json("run", "sample-wise-double-descent", "-p", "smoke", *_sets(MEDIUM | dict(control.overrides)))
    assert not ridge["verdict"]["passed"]
    failed = _failed(ridge)
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed
    assert ridge["summary"]["peak_excess_left_pp"] < res["summary"]["peak_excess_left_pp"] / 2


def test_a_grid_beyond_the_training_set_is_a_user_error(cli):
    code, _, err = cli("run", "sample-wise-double-descent", "-p", "smoke", "-s", "sample.high=10")
    assert code == 2 and "exceeds the 300 training examples" in err


@pytest.mark.slow
def test_quick_preset_shows_more_data_hurting_and_the_ridge_control_does_not(cli_json):
    res = cli_json("run", "sample-wise-double-descent")
    assert res["verdict"]["passed"], json.dumps({"summary": res["summary"], "verdict": res["verdict"]}, indent=1)
    (control,) = ENTRY.controls
    ridge = cli_json("run", "sample-wise-double-descent", *_sets(control.overrides))
    failed = _failed(ridge)
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed
