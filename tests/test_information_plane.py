"""Information plane end to end: smoke through the CLI (its compressions read off the stored curves), the
[0, max]-binning artifact failing the ReLU check, saturation as the source of the tanh compression (a
synthetic layer; the pre-activation control on quick, slow), the compression statistic by hand, and quick on a
held-out seed (slow)."""

import math

import numpy as np
import pytest
import torch

from phenomena.catalog.information_plane import (
    ENTRY,
    MAX_RELU_FALL,
    MIN_COMPRESSION,
    Estimate,
    SeedStack,
    binned,
    build_network,
    compression,
    hidden_activations,
    log_epochs,
    train_stack,
)


def _control(name: str):
    ctrl = next(c for c in ENTRY.controls if c.name == name)
    return ctrl, [arg for k, v in ctrl.overrides.items() for arg in ("-s", f"{k}={v}")]


def _must_fail_failed(ctrl, res) -> bool:
    failed = [c["name"] for c in res["verdict"]["checks"] if not c["passed"]]
    return all(any(name.startswith(prefix) for name in failed) for prefix in ctrl.must_fail)


def test_smoke_through_the_cli_is_the_fitting_phase_only(cli_json, home):
    from phenomena.api import load

    res = cli_json("run", "information-plane", "--preset", "smoke")
    s, checks = res["summary"], res["verdict"]["checks"]
    assert len(checks) == 3
    stored = load(res["run_id"], store=home)
    for activation in ("tanh", "relu"):
        # one seed: the compression is peak - final of the stored I(X;T) curves of the last two layers, averaged
        curves = [np.array(stored.curve(f"ixt_{activation}_l{layer}")[1]) for layer in (4, 5)]
        assert s[f"compression_{activation}"] == pytest.approx(np.mean([c.max() - c[-1] for c in curves]), abs=1e-12)
        assert s[f"final_ixt_{activation}"] == pytest.approx(np.mean([c[-1] for c in curves]), abs=1e-12)
        assert np.isfinite(s[f"kde_compression_{activation}"])
    # 20 epochs are the fitting phase: I(X;T) of the deep tanh layers has not started to fall, so the claim's
    # check fails for lack of training rather than passing by accident.
    assert s["compression_tanh"] < MIN_COMPRESSION and not res["verdict"]["passed"] and not checks[0]["passed"]
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_relu_binned_over_zero_to_max_shows_the_artifact_and_fails(cli_json):
    # Saxe et al.'s point about the estimator: bins over [0, max] widen as the largest ReLU activation grows, so
    # I(X;T) "falls" already in 20 epochs; the same activations in 0.07-wide bins do not fall. The verdict's
    # ReLU check, judged with the range binning (the declared control), must fail.
    ctrl, overrides = _control("ReLU binned over [0, max]")
    res = cli_json("run", "information-plane", "--preset", "smoke", *overrides)
    s, checks = res["summary"], res["verdict"]["checks"]
    assert s["compression_relu"] >= MAX_RELU_FALL and not checks[1]["passed"]
    assert _must_fail_failed(ctrl, res), checks
    assert s["compression_relu_size"] < MAX_RELU_FALL


def test_saturation_is_what_the_tanh_binning_compresses():
    # One layer whose pre-activations grow as c * z (weights growing in training): the tanh activations in 30
    # bins on [-1, 1] lose distinctions as more of them saturate into the end bins, so I(X;T) rises and then
    # falls; the pre-activations in bins of the same width only gain distinctions.
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4096, 3, generator=g, dtype=torch.float64)
    y = (z.sum(1) > 0).long()
    est = Estimate()
    act, pre = [], []
    for c in (0.05, 0.3, 1.0, 3.0, 10.0, 30.0):
        h = c * z
        act.append(binned(torch.tanh(h), h, y, "tanh", est, "activations")["i_xt"])
        pre.append(binned(torch.tanh(h), h, y, "tanh", est, "preactivations")["i_xt"])
    assert max(act) - act[-1] > 3 and np.argmax(act) not in (0, len(act) - 1)
    assert all(b >= a for a, b in zip(pre, pre[1:], strict=False)) and pre[-1] > 11
    # near 0 tanh is the identity: the two binnings agree while nothing saturates
    assert act[0] == pytest.approx(pre[0], abs=0.05)
    nan = binned(torch.full((4, 2), math.nan), torch.zeros(4, 2), y[:4], "tanh", est, "activations")
    assert math.isnan(nan["i_xt"]) and math.isnan(nan["i_ty"])  # a diverged net is unmeasured, not binned


def test_compression_is_peak_minus_final_averaged_over_the_deep_layers():
    ixt = np.zeros((2, 4, 3))
    ixt[0, :, 1] = [1.0, 5.0, 4.0, 3.0]  # falls 2 after its peak
    ixt[0, :, 2] = [1.0, 2.0, 3.0, 3.0]  # still rising: 0
    ixt[1, :, 0] = [9.0, 0.0, 0.0, 0.0]  # shallow layer, not counted
    ixt[1, :, 2] = [2.0, 6.0, 1.0, 1.5]  # falls 4.5
    assert compression(ixt, deep=2) == pytest.approx([1.0, 2.25])


def test_network_is_the_shwartz_ziv_architecture_with_truncated_normal_weights():
    net = build_network((10, 7, 5, 4, 3), "tanh", seed=0)
    acts = hidden_activations(net, torch.zeros(3, 12))
    assert [a.shape[1] for a in acts] == [10, 7, 5, 4, 3] and net(torch.zeros(3, 12)).shape == (3, 2)
    big = build_network((1000,), "relu", seed=1)[0]
    w = big.weight.detach()
    assert big.bias.abs().max() == 0 and w.abs().max() <= 2 / 12**0.5 + 1e-7
    # truncated at 2 sd the variance is 0.774 of 1/12; 12000 draws: relative standard error ~0.011
    assert w.var().item() == pytest.approx(0.774 / 12, rel=0.04)
    assert not torch.equal(build_network((4,), "tanh", 0)[0].weight, build_network((4,), "tanh", 1)[0].weight)


def test_log_epochs_start_at_zero_and_end_at_the_last_epoch():
    e = log_epochs(2000, 60)
    assert e[0] == 0 and e[1] == 1 and e[-1] == 2000 and e == sorted(set(e))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_stacked_seeds_train_exactly_like_separate_networks(activation):
    # Oracle: each member of the stack against its own nn.Sequential from build_network, trained by its own
    # torch.optim.Adam on the same minibatches (the same permutation generators), in float64.
    widths, seeds, batch = (5, 4, 3), [3, 7], 8
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2, (20, 12), generator=g).double()
    y = torch.randint(0, 2, (20,), generator=g)
    stack = SeedStack(widths, activation, seeds, dtype=torch.float64)
    seen = []

    def record(epoch):
        with torch.no_grad():
            seen.append(stack.forward(x.expand(len(seeds), -1, -1))[1][-1].clone())

    train_stack(stack, x, y, 3, batch, 1e-2, [torch.Generator().manual_seed(10 + s) for s in seeds], record)
    assert len(seen) == 4
    for k, s in enumerate(seeds):
        net = build_network(widths, activation, s).double()
        assert torch.allclose(hidden_activations(net, x)[-1], seen[0][k], atol=1e-12)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        gen = torch.Generator().manual_seed(10 + s)
        for _ in range(3):
            order = torch.randperm(20, generator=gen)
            for lo in range(0, 20, batch):  # 8, 8, 4: the last batch is smaller, as in Keras
                idx = order[lo : lo + batch]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
                opt.step()
        assert torch.allclose(hidden_activations(net, x)[-1], seen[-1][k], atol=1e-10)
        assert not torch.allclose(seen[-1][k], seen[0][k], atol=1e-3)  # it did train


@pytest.mark.slow
def test_binning_the_tanh_pre_activations_removes_the_compression(cli_json):
    # The same networks, trained the same way: binned before tanh (no saturation), the deep layers do not
    # compress, while their activations (recorded in the same run as data) do.
    ctrl, overrides = _control("tanh pre-activations (no saturation)")
    res = cli_json("run", "information-plane", *overrides)
    s = res["summary"]
    assert _must_fail_failed(ctrl, res), res["verdict"]["checks"]
    assert s["compression_tanh"] < MIN_COMPRESSION <= s["compression_tanh_activations"]


@pytest.mark.slow
def test_quick_preset_passes_on_a_held_out_seed(cli_json):
    assert 1 not in ENTRY.calibration.seeds
    res = cli_json("run", "information-plane", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
