"""Heavy-tailed spectra: the paired, segmented SGD arms against a plain ``torch.optim.SGD`` loop on the same
minibatches, the smoke pipeline, the tiny-lr control failing its checks on measured values, and quick on a held-out
seed (slow)."""

import math

import pytest
import torch

from phenomena.catalog.heavy_tailed_spectra import ENTRY, _hidden, train_arms
from phenomena.data.mnist1d import mnist1d
from phenomena.models.mlp import MLP


def test_segmented_arms_match_plain_sgd_on_the_same_minibatches():
    data = mnist1d(400, 0.5)
    base = MLP(40, 10, width=32, depth=2, seed=3)
    lrs, batch, steps, every, order_seed = [0.2, 0.05], 16, 25, 10, 7
    *_, (done, models, _) = list(train_arms(base, data, lrs, batch, steps, every, order_seed))
    assert done == steps
    for lr, trained in zip(lrs, models, strict=True):
        ref = MLP(40, 10, width=32, depth=2, seed=3)  # same init as ``base``, trained by hand
        opt = torch.optim.SGD(ref.parameters(), lr=lr)
        for k, start in enumerate(range(0, steps, every)):  # segment k: its own permutation stream
            g = torch.Generator().manual_seed(order_seed + k)
            perm, pos = torch.randperm(data.n_train, generator=g), 0
            for _ in range(min(every, steps - start)):
                if pos + batch > data.n_train:
                    perm, pos = torch.randperm(data.n_train, generator=g), 0
                idx = perm[pos : pos + batch]
                pos += batch
                opt.zero_grad()
                torch.nn.functional.cross_entropy(ref(data.x_train[idx]), data.y_train[idx]).backward()
                opt.step()
        assert torch.allclose(_hidden(trained).weight, _hidden(ref).weight, atol=1e-5)
        assert not torch.allclose(_hidden(trained).weight, _hidden(base).weight, atol=1e-3)  # it did train
    assert _hidden(base).weight.shape == (32, 32)


def test_smoke_through_the_cli_starts_random(cli_json):
    res = cli_json("run", "heavy-tailed-spectra", "-p", "smoke")
    s = res["summary"]
    assert s["init_spikes"] == 0 and s["init_mp_ks"] < 0.05  # a 256 × 256 Gaussian layer is Marchenko–Pastur
    assert math.isfinite(s["alpha_end_hot"]) and math.isfinite(s["alpha_end_cold"])
    assert s["train_acc_hot"] > s["train_acc_cold"]  # the larger lr has trained further in 300 steps
    assert len(res["verdict"]["checks"]) == 5
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("control", ENTRY.controls, ids=lambda c: c.name)
def test_each_control_fails_its_checks_on_measured_values(cli_json, control):
    # the declared control is cheap on quick itself (250 steps), so it runs as declared
    overrides = [a for k, v in control.overrides.items() for a in ("-s", f"{k}={v}")]
    res = cli_json("run", "heavy-tailed-spectra", *overrides)
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    for prefix in control.must_fail:
        (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
        assert isinstance(check["value"], float) and math.isfinite(check["value"]) and not check["passed"], check
    s = res["summary"]
    assert s["spikes_end_hot"] <= 2 and s["mp_ks_distance_end_hot"] < 0.02  # still Marchenko–Pastur


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "heavy-tailed-spectra", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
