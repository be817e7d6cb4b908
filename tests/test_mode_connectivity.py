"""Mode connectivity end to end: smoke through the CLI, both declared controls fail their checks, the
monotonicity rule on a sequence that falls and rises back, and quick on a held-out seed (slow)."""

import json
import math

import pytest

from phenomena.catalog.mode_connectivity import ENTRY, MONOTONE_SLACK, largest_rise


def test_smoke_through_the_cli_runs_the_pipeline_and_writes_a_figure(cli):
    # smoke's verdict is not declared to hold (ENTRY.smoke_holds is False): the k = 150 barrier crosses its 2%
    # threshold on some seeds with AVX2 or scalar kernels, so only the pipeline and the ordering are asserted
    code, out, err = cli("run", "mode-connectivity", "--preset", "smoke", "--json")
    assert code == 0, err
    res = json.loads(out)
    s = res["summary"]
    assert s["error_barrier.k0"] > s["error_barrier.k150"]
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _sets(overrides: dict) -> list[str]:
    return [
        a for k, v in overrides.items() for a in ("-s", f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}")
    ]


def _control(name: str):
    return next(c for c in ENTRY.controls if c.name == name)


def _assert_fails_its_checks(res: dict, control) -> None:
    checks = res["verdict"]["checks"]
    for prefix in control.must_fail:
        named = [c for c in checks if c["name"].startswith(prefix)]
        assert named and not any(c["passed"] for c in named), (prefix, checks)


def test_a_network_stable_from_initialization_has_no_instability_to_lose(cli_json):
    # plain SGD at a small learning rate: children spawned at k = 0 already end linearly connected
    control = _control("stable from initialization")
    assert control.overrides == {"train.optimizer": "sgd", "train.lr": 0.05, "spawn.steps": (0,)}
    res = cli_json("run", "mode-connectivity", "--preset", "smoke", *_sets(control.overrides))
    _assert_fails_its_checks(res, control)
    s = res["summary"]
    assert s["barrier_first"] < 0.03
    # one spawn step: what compares two k is unmeasured (nan fails), never the first k judged against itself
    assert s["barrier_last"] == s["fraction"] == s["largest_rise"] == "nan"  # JSON spells a nan "nan"
    # the control spawns at k = 0 only: the children at k = 0, all its check reads, are those of the preset's
    # spawn steps, bit for bit
    sgd = {k: v for k, v in control.overrides.items() if k != "spawn.steps"}
    preset = cli_json("run", "mode-connectivity", "--preset", "smoke", *_sets(sgd))["summary"]
    assert ENTRY.presets["smoke"].spawn.steps != (0, 1)
    assert preset["error_barrier.k0"] == res["summary"]["error_barrier.k0"]
    assert preset["loss_barrier.k0"] == res["summary"]["loss_barrier.k0"]


def test_children_that_share_one_step_are_still_unstable(cli_json):
    # at quick, where the control was calibrated: at smoke (300 steps at twice the lr, 400 test examples) children
    # that share one step ended below the 2% tolerance on seeds 0, 4 and 5 with AVX2 kernels (4 and 5 with scalar
    # ones; measured when each child trained by fit), so a smoke-scale test passes or fails with the CPU. At quick
    # (three pairs per k, each pair one ensemble) it fails its checks on seeds 0-2 with AVX-512 kernels (barrier at
    # k = 1: 0.58-0.95x the one at k = 0, 5.3-8.2%) and with AVX2 kernels (0.66-0.86x, 5.3-7.9%).
    control = _control("one shared step")
    assert control.overrides == {"spawn.steps": (0, 1)}
    res = cli_json("run", "mode-connectivity", "--preset", "quick", *_sets(control.overrides))
    _assert_fails_its_checks(res, control)
    s = res["summary"]
    assert s["barrier_last"] >= 0.02 and s["fraction"] > 0.25


def test_each_barrier_is_the_mean_over_pairs_whose_first_pair_is_the_one_pair_run(cli_json):
    # pair 0 keeps its minibatch orders whatever the number of pairs, so a one-pair run's barrier is pair 0's;
    # the second pair's then follows from the two-pair mean, and the recorded maximum is the larger of the two
    one = cli_json("run", "mode-connectivity", "--preset", "smoke", "-s", "spawn.pairs=1")["summary"]
    two = cli_json("run", "mode-connectivity", "--preset", "smoke", "-s", "spawn.pairs=2")["summary"]
    for k in ENTRY.presets["smoke"].spawn.steps:
        first, mean = one[f"error_barrier.k{k}"], two[f"error_barrier.k{k}"]
        assert one[f"error_barrier_max.k{k}"] == first
        assert two[f"error_barrier_max.k{k}"] == pytest.approx(max(first, 2 * mean - first), abs=1e-12)
    assert two["barrier_first"] == two[f"error_barrier.k{ENTRY.presets['smoke'].spawn.steps[0]}"]
    assert two["loss_barrier.k0"] != one["loss_barrier.k0"]  # the second pair trained on orders of its own


def test_a_barrier_that_falls_and_rises_back_is_not_monotone():
    # the rule: no barrier exceeds the smallest one at an earlier k by more than the slack. Comparing with the
    # largest earlier barrier instead (the old code) let this sequence pass: 4.5% is below the 5% at k = 0.
    barriers = [0.05, 0.004, 0.045, 0.01]
    assert largest_rise(barriers) == pytest.approx(0.041)
    assert largest_rise(barriers) > MONOTONE_SLACK
    assert max(b - max(barriers[:i]) for i, b in enumerate(barriers) if i) <= MONOTONE_SLACK  # the old rule
    assert largest_rise([0.08, 0.02, 0.01, 0.015]) == pytest.approx(0.005)  # small noise after a fall passes
    assert largest_rise([0.02, 0.03]) == pytest.approx(0.01)
    assert math.isnan(largest_rise([0.05, math.nan, 0.01]))  # unmeasured, not dropped


def test_children_that_diverge_make_a_diverged_run(cli):
    # the parent takes one step at k = 1; the children spawned at k = 0 diverge in their ensemble, which freezes
    # them: the run must still end as diverged, as fit's divergence ends it
    code, _, err = cli(
        "run", "mode-connectivity", "--preset", "smoke", *_sets({"train.optimizer": "sgd", "train.lr": 1e4}),
        "-s", "spawn.steps=0,1",
    )  # fmt: skip
    assert code == 2 and "training diverged at step" in err and "recorded as a diverged run" in err


def test_a_spawn_step_past_the_end_is_refused(cli):
    code, _, err = cli("run", "mode-connectivity", "--preset", "smoke", "-s", "spawn.steps=0,300")
    assert code != 0 and "spawn.steps must lie below train.steps" in err


@pytest.mark.slow
def test_quick_preset_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "mode-connectivity", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
