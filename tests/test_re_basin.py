"""Re-basin end to end: smoke through the CLI, both declared controls fail their checks (a random permutation
instead of the matching; one shared initialization), and quick on a held-out seed (slow)."""

import json

import pytest

from phenomena.catalog.re_basin import ENTRY


def test_smoke_through_the_cli_passes_and_writes_a_figure(cli):
    code, out, err = cli("run", "re-basin", "--preset", "smoke", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["verdict"]["passed"], res["verdict"]
    s = res["summary"]
    # weight matching found a permutation that lowers the barrier well below the naive one at both widths
    for w in (8, 64):
        assert s[f"matched_barrier.w{w}"] < 0.5 * s[f"naive_barrier.w{w}"]
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def _run_control(cli_json, name: str, overrides: dict) -> dict:
    control = next(c for c in ENTRY.controls if c.name == name)
    assert control.overrides == overrides
    res = cli_json("run", "re-basin", "--preset", "smoke", *_sets(control.overrides))
    checks = res["verdict"]["checks"]
    for prefix in control.must_fail:
        named = [c for c in checks if c["name"].startswith(prefix)]
        assert named and not any(c["passed"] for c in named), (prefix, checks)
    return res["summary"]


def test_a_random_permutation_leaves_the_barrier(cli_json):
    s = _run_control(cli_json, "random permutation", {"match.method": "random"})
    # the same two nets as the matched run: the naive path is unchanged, the permuted one is no better
    assert s["ratio_widest"] > 0.5


def test_nets_from_one_initialization_have_no_naive_barrier(cli_json):
    s = _run_control(cli_json, "shared initialization", {"train.shared_init": True})
    assert s["naive_barrier_widest"] < 0.3


@pytest.mark.slow
def test_quick_preset_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "re-basin", "--seed", "2")
    assert res["verdict"]["passed"], res["verdict"]
