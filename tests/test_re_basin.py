"""Re-basin end to end: smoke through the CLI, the identity-permutation control fails, quick passes (slow)."""

import json

import pytest

from phenomena.catalog.re_basin import ENTRY


def test_smoke_through_the_cli_passes_and_writes_a_figure(cli):
    code, out, err = cli("run", "re-basin", "--preset", "smoke", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["verdict"]["passed"], res["verdict"]
    s = res["summary"]
    # matching can only help here: the matched path ends at the same two losses, and weight matching found a
    # permutation that lowers the barrier well below the naive one at both widths
    for w in (8, 64):
        assert s[f"matched_barrier.w{w}"] < s[f"naive_barrier.w{w}"]
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def test_without_alignment_the_verdict_fails(cli_json):
    (control,) = ENTRY.controls  # the declared control: the identity permutation
    assert control.overrides == {"match.method": "identity"}
    res = cli_json("run", "re-basin", "--preset", "smoke", *_sets(control.overrides))
    assert not res["verdict"]["passed"]
    failed = {c["name"] for c in res["verdict"]["checks"] if not c["passed"]}
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed
    s = res["summary"]
    assert s["ratio_widest"] == pytest.approx(1.0) and s["ratio_narrowest"] == pytest.approx(1.0)


@pytest.mark.slow
def test_quick_preset_passes(cli_json):
    res = cli_json("run", "re-basin")
    assert res["verdict"]["passed"], res["verdict"]
