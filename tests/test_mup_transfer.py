"""μP transfer: the parabola optimum against closed forms and a scalar minimizer, the μP construction against
Adam with per-layer learning rates, the smoke pipeline, the SP control failing its checks on measured values,
and quick on a held-out seed (slow)."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar

from phenomena.analysis.lr_transfer import optimal_log_lr, optimum_drift, optimum_spread
from phenomena.catalog.mup_transfer import ENTRY, PRESETS, arm_stats, build_model
from phenomena.models.layers import ScaledLinear


def test_a_parabola_is_recovered_exactly_on_an_uneven_grid():
    x = np.array([-7.0, -6.2, -5.0, -4.5, -3.1, -2.0])
    for vertex in (-5.3, -4.2, -4.9):
        y = 0.7 * (x - vertex) ** 2 + 0.3
        assert optimal_log_lr(x, y) == pytest.approx(vertex, abs=1e-9)
        assert optimal_log_lr(x, y, window=2) == pytest.approx(vertex, abs=1e-9)


def test_a_smooth_asymmetric_curve_matches_a_scalar_minimizer_to_grid_accuracy():
    def loss(x):  # e^(x-a) - (x-a): steep on the right, like a loss at learning rates past the optimum
        return math.exp(x - 1.7) - (x - 1.7) + 0.1 * math.sin(3 * x)

    exact = minimize_scalar(loss, bounds=(-2, 5), method="bounded", options={"xatol": 1e-10}).x
    for h in (0.5, 0.25, 0.125):
        x = np.arange(-2, 5 + 1e-9, h)
        est = optimal_log_lr(x, [loss(v) for v in x])
        assert abs(est - exact) < 2 * h**2 + 1e-6  # the 3-point vertex errs by O(h²)


def test_a_diverged_run_counts_as_the_worst_point_and_an_edge_optimum_is_unmeasured():
    x = np.arange(5.0)
    # nan right of the grid minimum: it is the worst point, not dropped (which would leave the minimum at the
    # edge); its stand-in value is no measurement, so no parabola goes through it: the grid minimum is returned
    assert optimal_log_lr(x, [3.0, 2.0, 1.0, math.nan, math.nan]) == 2.0
    assert optimal_log_lr(x, [3.0, 2.0, 1.0, math.nan, math.nan], window=2) == 2.0
    assert math.isnan(optimal_log_lr(x, [1.0, 2.0, 3.0, 4.0, 5.0]))  # minimum at the left edge
    # a diverged last point is the worst, so the finite minimum before it is interior, and unrefined
    assert optimal_log_lr(x, [5.0, 4.0, 3.0, 2.0, math.inf]) == 3.0
    # a diverged point outside the window leaves the refinement alone
    assert optimal_log_lr(x, [5.0, 2.0, 1.5, 2.0, math.inf]) == pytest.approx(2.0)
    assert math.isnan(optimal_log_lr(x, [5.0, 4.0, 3.0, 2.0, 1.0]))  # at the right edge
    assert math.isnan(optimal_log_lr(x, [math.nan] * 5))


def test_spread_and_drift_of_optima():
    assert optimum_spread([-5.0, -4.25, -4.5]) == pytest.approx(0.75)
    assert optimum_drift([16, 32, 64, 128], [-4.0, -4.5, -5.0, -5.5]) == pytest.approx(-0.5)
    assert math.isnan(optimum_spread([-5.0, math.nan])) and math.isnan(optimum_drift([16, 32], [-5.0, math.nan]))


def test_arm_stats_read_the_fixed_lr_loss_at_the_narrowest_optimum():
    x = [-3.0, -2.0, -1.0, 0.0]
    losses = np.array([[3.0, 2.0, 2.5, 4.0], [2.5, 1.5, 2.0, 3.0], [2.0, 1.0, 1.8, 2.2]])
    s = arm_stats([16, 64, 256], x, losses, transfer_from=16)
    assert s["fixed_log2_lr"] == -2.0 and s["max_rise_fixed_lr"] == pytest.approx(-0.5)
    losses[2, 1] = math.nan  # a diverged widest run: the fixed-lr comparison is unmeasured
    assert math.isnan(arm_stats([16, 64, 256], x, losses, transfer_from=16)["max_rise_fixed_lr"])


def _adam_steps(model, params_groups, x, y, eps, steps=5):
    opt = torch.optim.Adam(params_groups, eps=eps)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return [layer.weight.detach() * layer.weight_mult for layer in model.layers if isinstance(layer, ScaledLinear)]


def test_mup_under_one_adam_lr_is_adam_with_tp5_per_layer_learning_rates():
    """The oracle: SP's init, readout scaled by 1/r, and torch's Adam with param groups (input and biases lr η,
    hidden and readout η/r, TP5 Table 3 / the mup package's MuAdam) must give the same effective weights as the
    entry's μP model trained with one global lr (exactly as ε → 0: ε acts on raw gradients r times smaller)."""
    cfg = PRESETS["smoke"]
    base, width, lr = cfg.model.widths[0], 4 * cfg.model.widths[0], 1e-2
    r = width / base
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 40, generator=g), torch.randint(0, 10, (64,), generator=g)
    mup = build_model(width, cfg, "mup", seed=3)
    got = _adam_steps(mup, [{"params": list(mup.parameters()), "lr": lr}], x, y, cfg.train.eps)
    ref = build_model(width, cfg, "sp", seed=3)
    linears = [layer for layer in ref.layers if isinstance(layer, ScaledLinear)]
    with torch.no_grad():
        linears[-1].weight.div_(r)  # the readout's effective init W₀ / r, trained directly
    scaled = [layer.weight for layer in linears[1:]]
    rest = [p for p in ref.parameters() if all(p is not q for q in scaled)]
    want = _adam_steps(ref, [{"params": rest, "lr": lr}, {"params": scaled, "lr": lr / r}], x, y, cfg.train.eps)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # at the base width the two arms are one network
    sp0, mup0 = build_model(base, cfg, "sp", seed=1), build_model(base, cfg, "mup", seed=1)
    torch.testing.assert_close(sp0(x), mup0(x))


def test_smoke_through_the_cli_measures_both_arms(cli_json):
    res = cli_json("run", "mup-transfer", "-p", "smoke")
    s = res["summary"]
    widths = PRESETS["smoke"].model.widths
    for arm in ("sp", "mup"):
        assert all(f"{arm}/log2_lr_opt_w{w}" in s for w in widths)
    assert s["sp/log2_lr_opt_w8"] == s["mup/log2_lr_opt_w8"] or math.isnan(s["sp/log2_lr_opt_w8"])  # same net
    assert len(res["verdict"]["checks"]) == 4
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_sp_in_the_mup_arm_makes_the_arms_identical_and_fails_its_checks(cli_json):
    """The declared control on a cheap setting that still reaches quick's widest width (512, where SP at the narrow
    optimum is past its stable lr): widths 16/128/512, batch 64, 150 steps; its checks fail on measured values."""
    (control,) = ENTRY.controls
    cheap = ["-s", "model.widths=(16,128,512)", "-s", "train.batch_size=64", "-s", "train.steps=150"]
    sets = [a for key, value in control.overrides.items() for a in ("-s", f"{key}={value}")]
    res = cli_json("run", "mup-transfer", "-p", "smoke", *cheap, *sets)
    s = res["summary"]
    assert all(s[f"sp/log2_lr_opt_w{w}"] == s[f"mup/log2_lr_opt_w{w}"] for w in (16, 128, 512))  # one network
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    for prefix in control.must_fail:
        (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
        assert isinstance(check["value"], float) and math.isfinite(check["value"]) and not check["passed"], check


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "mup-transfer", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
