"""Mode connectivity end to end: smoke through the CLI, a k range where instability does not fall fails, quick
passes (slow)."""

import json

import pytest

from phenomena.catalog.mode_connectivity import ENTRY


def test_smoke_through_the_cli_passes_and_writes_a_figure(cli):
    code, out, err = cli("run", "mode-connectivity", "--preset", "smoke", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["verdict"]["passed"], res["verdict"]
    s = res["summary"]
    assert s["error_barrier.k0"] > s["error_barrier.k150"]
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def test_a_network_stable_from_initialization_fails(cli_json):
    # the declared control, plain SGD at a small learning rate: children spawned at k = 0 already end linearly
    # connected (as Frankle et al.'s LeNet), so there is no instability to lose and the barrier does not fall
    (control,) = ENTRY.controls
    assert control.overrides == {"train.optimizer": "sgd", "train.lr": 0.05}
    res = cli_json("run", "mode-connectivity", "--preset", "smoke", *_sets(control.overrides))
    assert not res["verdict"]["passed"]
    failed = {c["name"] for c in res["verdict"]["checks"] if not c["passed"]}
    assert all(any(name.startswith(p) for name in failed) for p in control.must_fail), failed
    s = res["summary"]
    assert s["barrier_first"] < 0.03 and s["fraction"] > 0.25


def test_a_spawn_step_past_the_end_is_refused(cli):
    code, _, err = cli("run", "mode-connectivity", "--preset", "smoke", "-s", "spawn.steps=0,300")
    assert code != 0 and "spawn.steps must lie below train.steps" in err


@pytest.mark.slow
def test_quick_preset_passes(cli_json):
    res = cli_json("run", "mode-connectivity")
    assert res["verdict"]["passed"], res["verdict"]
