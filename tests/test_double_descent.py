"""Model-wise double descent end to end: the smoke preset through the CLI (its summary agrees with its own curves),
a budget too short to interpolate (fails), the no-noise control always in the verdict (no noise: the run is its
own control and the verdict fails; control off: unmeasured), a diverged width leaving the checks unmeasured, the
notebook's published values judged on runs of the paper preset, keys a run does not read staying out of its run
id, config errors naming the key, two workers giving the one-process result, the notebook's initialization, and
the quick preset on a held-out seed with its declared no-label-noise control (slow)."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from phenomena.api import load
from phenomena.catalog import get_entry
from phenomena.catalog.double_descent import FIT_ERROR, MAX_PEAK_FOLD, build_mlp
from phenomena.result import Result

ENTRY = get_entry("double-descent")


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def _value(x) -> float:
    return math.nan if x in (None, "nan") else float(x)


def test_smoke_through_the_cli_agrees_with_its_own_curves_and_writes_a_figure(cli, home):
    code, out, err = cli("run", "double-descent", "--preset", "smoke", "--json")
    assert code == 0, err
    res = json.loads(out)
    s = res["summary"]
    assert s["steps_per_width"] == 30 * 3  # 30 epochs of 300 examples in batches of 100
    stored = load(res["run_id"], store=home)
    widths, test = stored.curve("test_error")
    _, train = stored.curve("train_error")
    assert widths == [4, 16, 64]
    # the bump is width 16's excess over width 4 and over width 64, in points, from the stored mean curve
    assert s["peak_excess_left_pp"] == pytest.approx(100 * (test[1] - test[0]))
    assert s["peak_excess_right_pp"] == pytest.approx(100 * (test[1] - test[2]))
    assert s["min_train_error"] == pytest.approx(min(train))
    assert math.isnan(_value(s["h_star"])) == (min(train) >= FIT_ERROR)
    # the no-noise control ran in the same ensemble: its curve, and the ratio of the bumps
    _, clean = stored.curve("control_test_error")
    clean_bump = max(min(clean[1] - clean[0], clean[1] - clean[2]), 0.0)
    assert s["control_peak_excess_pp"] == pytest.approx(100 * clean_bump)
    ratio = _value(s["control_bump_ratio"])
    if s["peak_excess_pp"] > 0:
        assert ratio == pytest.approx(s["control_peak_excess_pp"] / s["peak_excess_pp"])
    else:
        assert math.isnan(ratio)
    names = [c["name"] for c in res["verdict"]["checks"]]
    assert len(names) == 5 and names[-1].startswith("no-noise bump")
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_budget_too_short_to_interpolate_fails(cli_json):
    res = cli_json("run", "double-descent", "-p", "smoke", "-s", "train.epochs=1", "-s", "data.control=false")
    assert not res["verdict"]["passed"]
    first = res["verdict"]["checks"][0]
    assert first["name"].startswith("training error < 1%") and not first["passed"]
    assert res["summary"]["min_train_error"] > 0.3
    assert res["summary"]["h_star"] in (None, "nan")  # never interpolated: nan, which JSON cannot hold


def test_without_label_noise_the_run_is_its_own_control_and_the_verdict_fails(cli_json):
    res = cli_json("run", "double-descent", "-p", "smoke", "-s", "data.noise=0")
    assert not res["verdict"]["passed"]
    s = res["summary"]
    control = res["verdict"]["checks"][-1]
    assert control["name"].startswith("no-noise bump / noisy bump (no noise: the control is the run itself)")
    assert not control["passed"]
    # its own bump over its own bump: exactly 1 when it has one, unmeasured when it has none
    expected = 1.0 if s["peak_excess_pp"] > 0 else math.nan
    assert _value(control["value"]) == pytest.approx(expected, nan_ok=True)
    assert s["control_peak_width"] == s["peak_width"] and _value(s["control_h_star"]) == pytest.approx(
        _value(s["h_star"]), nan_ok=True
    )


def test_with_the_control_switched_off_its_check_is_unmeasured(cli_json):
    res = cli_json("run", "double-descent", "-p", "smoke", "-s", "data.control=false")
    control = res["verdict"]["checks"][-1]
    assert control["name"].startswith("no-noise bump") and control["value"] == "nan" and not control["passed"]
    assert "control_test_error" not in res["summary"] and res["summary"]["control_peak_excess_pp"] == "nan"


def test_a_diverged_width_leaves_the_checks_unmeasured(cli_json):
    # lr 50 blows up the widest net (64) while the narrow ones stay finite: the width is not dropped
    res = cli_json("run", "double-descent", "-p", "smoke", "-s", "train.lr=50")
    s = res["summary"]
    assert s["diverged_widths"] >= 1
    for key in ("h_star", "peak_width", "peak_fold", "peak_excess_left_pp", "peak_excess_right_pp", "min_train_error"):
        assert s[key] == "nan", key
    for check in res["verdict"]["checks"][:4]:
        assert check["value"] == "nan" and not check["passed"], check


def _result_at(preset: str, **summary) -> Result:
    keys = ["h_star", "peak_width", "peak_to_threshold", "peak_fold", "peak_test_error", "peak_excess_left_pp"]
    keys += ["peak_excess_right_pp", "peak_excess_pp", "largest_width_test_error", "min_train_error"]
    base = dict.fromkeys([*keys, "control_bump_ratio"], 0.0)
    return Result("double-descent", ENTRY.resolve(preset, seed=7), summary=base | summary)


def test_the_notebooks_values_are_judged_on_runs_of_the_paper_preset_only():
    assert {r.metric for r in ENTRY.references} == {"peak_test_error", "h_star", "peak_to_threshold"}
    like_the_notebook = _result_at("paper", peak_test_error=0.55, h_star=61.0, peak_to_threshold=47 / 61)
    rows = [c for c in ENTRY.judge(like_the_notebook).checks if c.name.startswith("reference")]
    assert len(rows) == 3 and all(c.passed for c in rows), rows
    off = _result_at("paper", peak_test_error=0.60, h_star=104.0, peak_to_threshold=47 / 104)
    rows = [c for c in ENTRY.judge(off).checks if c.name.startswith("reference")]
    assert len(rows) == 3 and not any(c.passed for c in rows), rows
    assert not [c for c in ENTRY.judge(_result_at("quick")).checks if c.name.startswith("reference")]


def test_the_notebooks_initialization_is_pytorchs_default():
    model = build_mlp(64, 2, 10, "torch", seed=3)
    for layer in [m for m in model.layers if hasattr(m, "weight")]:
        bound = 1 / math.sqrt(layer.weight.shape[1])
        for p in (layer.weight, layer.bias):
            assert p.abs().max() <= bound and p.abs().max() > 0.9 * bound  # U(±1/√fan_in), not N(0, 1/fan_in)
    ref = torch.nn.Linear(40, 64)  # uniform on ±1/√fan_in has variance 1/(3 fan_in)
    assert model.layers[0].weight.var().item() == pytest.approx(ref.weight.var().item(), rel=0.1)
    again = build_mlp(64, 2, 10, "torch", seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))
    normal = build_mlp(64, 2, 10, "normal", seed=3)
    assert normal.layers[0].weight.var().item() == pytest.approx(1 / 40, rel=0.1)


def test_the_config_holds_only_the_model_wise_sections():
    cfg = ENTRY.resolve("quick")
    assert not {"mode", "features", "epoch", "sample"} & set(vars(cfg))


def test_without_label_noise_the_noise_keys_do_not_enter_the_run_id():
    clean = ENTRY.resolve("smoke", {"data.noise": 0})
    same = ENTRY.resolve("smoke", {"data.noise": 0, "data.noise_mode": "other", "data.control": False})
    assert ENTRY.run_id(same, "v") == ENTRY.run_id(clean, "v")
    noisy = ENTRY.resolve("smoke")
    assert ENTRY.run_id(ENTRY.resolve("smoke", {"data.noise_mode": "other"}), "v") != ENTRY.run_id(noisy, "v")


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.widths=16,4,64", "model.widths must be strictly increasing; got (16, 4, 64)"),
        ("model.widths=4,16", "model.widths needs at least 3 widths"),
        ("model.widths=0,4,16", "model.widths must be a positive integer; got (0, 4, 16)"),
        ("data.n_train=0", "data.n_train must be a positive integer; got 0"),
        ("train.momentum=1", "train.momentum must lie in [0, 1); got 1"),
    ],
)
def test_impossible_settings_are_one_line_errors_naming_the_key(cli, override, message):
    code, out, err = cli("run", "double-descent", "-p", "smoke", "-s", override)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


def test_two_workers_give_the_one_process_result(cli_json):
    # the widths' ensembles run in two spawned one-thread processes; the tests' process runs one thread too
    one = cli_json("run", "double-descent", "-p", "smoke", "-s", "train.epochs=3")
    two = cli_json("run", "double-descent", "-p", "smoke", "-s", "train.epochs=3", "--workers", "2", "--force")
    assert one["run_id"] == two["run_id"]  # the worker count is not part of the config

    def measured(res):
        return {k: v for k, v in res["summary"].items() if k != "wall_seconds"}

    assert measured(two) == measured(one)


def test_workers_must_be_positive(cli):
    code, out, err = cli("run", "double-descent", "-p", "smoke", "--workers", "0")
    assert code == 2 and out == "" and err.count("\n") == 1 and "workers" in err


@pytest.mark.slow
def test_quick_preset_on_a_held_out_seed_peaks_near_the_threshold_and_the_no_noise_control_fails(cli_json):
    assert 0 not in ENTRY.calibration.seeds
    res = cli_json("run", "double-descent", "--seed", "0")
    assert res["verdict"]["passed"], json.dumps({"summary": res["summary"], "verdict": res["verdict"]}, indent=1)
    s = res["summary"]
    assert s["peak_width"] < s["h_star"] * MAX_PEAK_FOLD and s["h_star"] < s["peak_width"] * MAX_PEAK_FOLD
    (control,) = ENTRY.controls  # the declared control: no label noise
    assert control.overrides == {"data.noise": 0.0}
    clean = cli_json("run", "double-descent", "--seed", "0", *_sets(control.overrides))
    assert not clean["verdict"]["passed"]
    failed = [c["name"] for c in clean["verdict"]["checks"] if not c["passed"]]
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed
    assert clean["verdict"]["checks"][-1]["name"].startswith("no-noise bump")  # still in the verdict, failing
    assert not clean["verdict"]["checks"][-1]["passed"]


def test_the_width_grid_of_quick_is_the_notebooks():
    widths = ENTRY.presets["quick"].model.widths
    notebook = np.unique(np.geomspace(2, 300, 20, dtype=int)).tolist()
    assert list(widths) == [w for w in notebook if 12 <= w <= 177]
    # the grid ends one notebook step past the largest interpolation threshold the calibration seeds reached
    largest_h_star = max(ENTRY.calibration.observed["h_star"])
    assert widths[-2] == largest_h_star and widths[-1] > largest_h_star
    assert dataclasses.replace(ENTRY.presets["paper"], seed=0).model.widths == tuple(notebook)
