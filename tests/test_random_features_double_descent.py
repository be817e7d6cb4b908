"""Random-features double descent end to end: the smoke preset through the CLI (fast, passes), the declared ridge
control removing the peak, a failed fit (non-finite coefficients) leaving the checks unmeasured, a training set
too small for the requested n (a user error), and the quick preset on a held-out seed with its control (slow)."""

import json
import math

import pytest
import torch

from phenomena.analysis import feature_counts
from phenomena.catalog import get_entry

ENTRY = get_entry("random-features-double-descent")


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def _failed(res: dict) -> list[str]:
    return [c["name"] for c in res["verdict"]["checks"] if not c["passed"]]


def test_smoke_through_the_cli_peaks_at_n_equals_n_and_writes_a_figure(cli, home):
    code, out, err = cli("run", "random-features-double-descent", "--preset", "smoke", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["verdict"]["passed"], res["verdict"]
    s = res["summary"]
    assert s["peak_features"] == s["n_train"] == 200 and s["peak_fold"] == 1.0
    assert s["norm_at_threshold"] > 10 * s["norm_at_largest"]  # the min-norm solution blows up at N = n
    assert s["peak_excess_left_pp"] > 3 and s["peak_excess_right_pp"] > 3
    assert len(res["verdict"]["checks"]) == 4
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_declared_ridge_control_removes_the_peak(cli_json):
    (control,) = ENTRY.controls
    assert set(control.overrides) == {"features.ridge"} and control.overrides["features.ridge"] > 0
    base = cli_json("run", "random-features-double-descent", "-p", "smoke")
    ridge = cli_json("run", "random-features-double-descent", "-p", "smoke", *_sets(control.overrides))
    failed = _failed(ridge)
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed
    # smoke seed 0: the error no longer rises over the smaller N (0.0 pp against 9.4 without ridge), and the
    # bounded coefficients are no longer largest at N = n
    assert ridge["summary"]["peak_excess_left_pp"] < base["summary"]["peak_excess_left_pp"] / 3
    assert ridge["summary"]["norm_at_threshold"] < base["summary"]["norm_at_threshold"] / 10


def test_a_failed_fit_leaves_the_checks_unmeasured(cli_json, monkeypatch):
    import phenomena.catalog.random_features_double_descent as rf

    bad = feature_counts(200, 0.1, 10, 5)[1]  # smoke's n = 200 on 5 sizes: 20, 63, 200, 632, 2000
    real = rf.ridge_fit

    def fails_at_one_size(phi, targets, ridge):  # the fit at N = 63 returns nan coefficients
        beta = real(phi, targets, ridge)
        return torch.full_like(beta, math.nan) if phi.shape[1] == bad else beta

    monkeypatch.setattr(rf, "ridge_fit", fails_at_one_size)
    res = cli_json("run", "random-features-double-descent", "-p", "smoke", "-s", "features.points=5")
    s = res["summary"]
    for key in ("peak_features", "peak_fold", "peak_excess_left_pp", "norm_peak_features", "norm_peak_fold"):
        assert s[key] == "nan", key  # not the peak of the other four sizes
    assert all(c["value"] == "nan" and not c["passed"] for c in res["verdict"]["checks"]), res["verdict"]


def test_the_config_holds_only_what_the_run_reads():
    cfg = ENTRY.resolve("quick")
    assert set(vars(cfg)) == {"data", "features", "seed"}
    assert set(vars(cfg.data)) == {"num_samples", "train_split", "noise", "noise_mode"}


def test_more_training_examples_than_generated_is_a_user_error(cli):
    code, out, err = cli("run", "random-features-double-descent", "-p", "smoke", "-s", "features.n_train=400")
    assert code == 2 and out == "" and "exceeds the 300 training examples" in err


@pytest.mark.slow
def test_quick_preset_on_a_held_out_seed_peaks_at_n_and_the_ridge_control_does_not(cli_json):
    assert 2 not in ENTRY.calibration.seeds
    res = cli_json("run", "random-features-double-descent", "--seed", "2")
    assert res["verdict"]["passed"], json.dumps({"summary": res["summary"], "verdict": res["verdict"]}, indent=1)
    (control,) = ENTRY.controls
    ridge = cli_json("run", "random-features-double-descent", "--seed", "2", *_sets(control.overrides))
    failed = _failed(ridge)
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed
