"""Infinite width: the smoke preset through the CLI, the wrong kernel (the declared control fails its checks), the
precondition that the nets learn, non-finite gaps, the time and learning-rate convention at width 131072, and the
quick preset (slow)."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from phenomena.catalog.infinite_width import (
    ENTRY,
    MAX_WIDEST_GAP,
    Model,
    _slope,
    _worst,
    build_model,
    kernel_prediction,
    relative_gap,
    train_gd,
    verdict,
)
from phenomena.result import Result


def test_smoke_through_the_cli_passes_and_draws(cli):
    code, out, err = cli("run", "infinite-width", "--preset", "smoke", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["verdict"]["passed"], res["verdict"]
    s = res["summary"]
    assert s["gap/32"] > s["gap/256"] > s["gap/2048"]
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _sets(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("-s", f"{k}={v}")]


def test_the_nngp_is_the_wrong_kernel_for_nets_with_every_layer_trained(cli_json):
    control = next(c for c in ENTRY.controls if c.name == "nngp")  # the declared control
    assert control.overrides == {"theory": "nngp"}
    res = cli_json("run", "infinite-width", "-p", "smoke", *_sets(control.overrides))
    assert not res["verdict"]["passed"]
    for prefix in control.must_fail:
        matching = [c["passed"] for c in res["verdict"]["checks"] if c["name"].startswith(prefix)]
        assert matching and not any(matching), prefix
    s = res["summary"]
    # readout-only dynamics miss what the hidden layer's training does, whatever the width: the gap levels off
    # (seed 0, NTK: 0.10 -> 0.036 from width 256 to 2048; NNGP: 0.158 -> 0.137)
    assert s["widest_gap"] > 2 * MAX_WIDEST_GAP and s["gap/2048"] > 0.75 * s["gap/256"]
    assert s["tail_slope"] > -0.25  # NTK: -0.52 to -0.46 on seeds 0-4; NNGP: -0.12 to -0.07


def test_a_run_whose_nets_barely_learn_fails_the_precondition(cli_json):
    res = cli_json("run", "infinite-width", "-p", "smoke", "-s", "train.lr=0.01")
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    learned = checks["the networks learned: train loss, end / init (worst net)"]
    assert not learned["passed"] and learned["value"] > 0.8


def test_a_non_finite_gap_is_unmeasured():
    assert math.isnan(_slope([1.0, 2.0, 3.0], [0.5, math.nan, 0.1]))  # no point is dropped from the fit
    assert math.isnan(_slope([1.0, 2.0, 3.0], [0.5, math.inf, 0.1]))
    assert math.isnan(_worst([0.1, math.nan, 0.2])) and math.isnan(_worst([math.nan, 0.1]))  # order-free
    assert _worst([0.1, 0.3, 0.2]) == 0.3
    summary = {"slope_ntk": math.nan, "widest_gap_ntk": math.nan, "widest": 4096.0, "net_loss_ratio": 0.1}
    summary["loss_ratio_ntk"] = 0.1  # the verdict reads the named keys of the theory its config chooses
    checks = verdict(Result(ENTRY.name, ENTRY.resolve("quick"), summary=summary)).checks
    assert [c.passed for c in checks] == [False, False, True]


def _wide_comparison(lr_factor: float) -> float:
    g = torch.Generator().manual_seed(3)
    x_train, x_test = (
        torch.randn(16, 5, generator=g, dtype=torch.float64),
        torch.randn(8, 5, generator=g, dtype=torch.float64),
    )
    y = F.one_hot(torch.arange(16) % 3, 3).double()
    model = Model(depth=1, activation="erf", weight_std=1.0, bias_std=0.05)
    net = build_model(model, 131072, 5, 3, seed=1, dtype=torch.float64)
    with torch.no_grad():
        f0_train, f0_test = net(x_train), net(x_test)
    lr, steps = 0.05, 4
    train_gd(net, x_train, y, lr, steps, log_every=steps)
    with torch.no_grad():
        f_test = net(x_test)
    predict = kernel_prediction(model, "ntk", x_train, y, x_test)
    _, p_test = predict(f0_train, f0_test, lr * lr_factor, steps)
    return relative_gap(f_test, p_test, f0_test)


def test_time_convention_matches_the_trainer_at_huge_width():
    # At width 131072 and 4 small steps the net is its linearization with the limit kernel: the prediction
    # must match to well under 1% (0.35% measured; 2.5% at width 2048). The same prediction with half (or
    # double) the time scale does not, which pins down the factor 2 between mean squared error and
    # neural-tangents' 1/2-mean loss.
    assert _wide_comparison(1.0) < 0.01
    assert _wide_comparison(0.5) > 0.3
    assert _wide_comparison(2.0) > 0.3


@pytest.mark.slow
def test_quick_preset_passes(cli_json):
    res = cli_json("run", "infinite-width")  # seed 0, held out (calibration: 100-109)
    assert res["verdict"]["passed"], res["verdict"]
