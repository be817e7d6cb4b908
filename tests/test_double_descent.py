"""Model-wise double descent end to end: the smoke preset through the CLI, a budget too short to interpolate
(fails), keys a run does not read staying out of its run id, config errors naming the key, two workers giving the
one-process result, and the quick preset with its declared no-label-noise control (slow)."""

import json

import pytest

from phenomena.catalog import get_entry

ENTRY = get_entry("double-descent")


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


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


def test_a_budget_too_short_to_interpolate_fails(cli_json):
    res = cli_json("run", "double-descent", "-p", "smoke", "-s", "train.epochs=1", "-s", "data.control=false")
    assert not res["verdict"]["passed"]
    first = res["verdict"]["checks"][0]
    assert first["name"].startswith("training error < 1%") and not first["passed"]
    assert res["summary"]["min_train_error"] > 0.3
    assert res["summary"]["h_star"] in (None, "nan")  # never interpolated: nan, which JSON cannot hold


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
def test_quick_preset_shows_the_peak_at_the_threshold_and_the_no_noise_control_does_not(cli_json):
    res = cli_json("run", "double-descent")
    assert res["verdict"]["passed"], json.dumps({"summary": res["summary"], "verdict": res["verdict"]}, indent=1)
    (control,) = ENTRY.controls  # the declared control: no label noise
    assert control.overrides == {"data.noise": 0.0}
    clean = cli_json("run", "double-descent", *_sets(control.overrides))
    failed = [c["name"] for c in clean["verdict"]["checks"] if not c["passed"]]
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed
    assert "control_peak_excess_pp" not in clean["summary"]  # nothing to compare against: no in-run control
