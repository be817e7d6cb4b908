"""Random-features double descent end to end: the smoke preset through the CLI (fast, passes), a training set too
small for the requested n (a user error), and the quick preset (slow)."""

import json

import pytest

from phenomena.catalog import get_entry


def test_smoke_through_the_cli_peaks_at_n_equals_n_and_writes_a_figure(cli, home):
    code, out, err = cli("run", "random-features-double-descent", "--preset", "smoke", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["verdict"]["passed"], res["verdict"]
    s = res["summary"]
    assert s["peak_features"] == s["n_train"] == 200
    assert s["norm_at_threshold"] > 10 * s["norm_at_largest"]  # the min-norm solution blows up at N = n
    assert len(res["verdict"]["checks"]) == 4
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_config_holds_only_what_the_run_reads():
    cfg = get_entry("random-features-double-descent").resolve("quick")
    assert set(vars(cfg)) == {"data", "features", "seed"}
    assert set(vars(cfg.data)) == {"num_samples", "train_split", "noise", "noise_mode"}


def test_more_training_examples_than_generated_is_a_user_error(cli):
    code, out, err = cli("run", "random-features-double-descent", "-p", "smoke", "-s", "features.n_train=400")
    assert code == 2 and out == "" and "exceeds the 300 training examples" in err


@pytest.mark.slow
def test_quick_preset_shows_the_peak_at_n_equals_n(cli_json):
    res = cli_json("run", "random-features-double-descent")
    assert res["verdict"]["passed"], json.dumps({"summary": res["summary"], "verdict": res["verdict"]}, indent=1)
