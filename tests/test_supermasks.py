"""Supermasks: edge-popup's top-k mask against a sort, its straight-through gradient against a hand computation,
frozen weights and exact densities under training, vectorized members equal to lone ones; the smoke pipeline,
the random-mask control at chance, and quick on a held-out seed (slow)."""

import numpy as np
import pytest
import torch

from phenomena.catalog.supermasks import ENTRY
from phenomena.data import digits
from phenomena.training.edge_popup import (
    EdgePopupLinear,
    EdgePopupMLP,
    kept_counts,
    supermask,
    top_k_mask,
    train_edge_popup,
)


def test_top_k_mask_keeps_exactly_the_largest_scores_as_a_full_sort_does():
    scores = torch.randn(3, 7, 11, generator=torch.Generator().manual_seed(0))
    ks = torch.tensor([0.05, 0.5, 0.93])
    mask = top_k_mask(scores, ks)
    for i, (member, k) in enumerate(zip(scores, ks.tolist(), strict=True)):
        count = round(k * member.numel())
        order = np.argsort(-member.numpy().ravel(), kind="stable")  # numpy's sort, not torch's selection
        expected = np.zeros(member.numel())
        expected[order[:count]] = 1
        assert np.array_equal(mask[i].numpy().ravel(), expected)


def test_ties_keep_exactly_the_count_earliest_first():
    mask = top_k_mask(torch.ones(10), 0.3)
    assert mask.tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert kept_counts(10, torch.tensor([0.01, 1.0])).tolist() == [1, 10]  # at least one weight, at most all


def test_straight_through_score_gradient_matches_a_hand_computation():
    g = torch.Generator().manual_seed(1)
    layer = EdgePopupLinear(5, 4, ks=(0.3, 0.75), scale_fan=True, generator=g)
    x, c = torch.randn(6, 5, generator=g), torch.randn(2, 6, 4, generator=g)
    (layer(x) * c).sum().backward()
    w, s = layer.weight.numpy().astype(np.float64), layer.scores.detach().numpy().astype(np.float64)
    xn, cn = x.numpy().astype(np.float64), c.numpy().astype(np.float64)
    for m, k in enumerate((0.3, 0.75)):
        keep = np.zeros(20)
        keep[np.argsort(-np.abs(s[m]).ravel(), kind="stable")[: round(k * 20)]] = 1
        keep = keep.reshape(4, 5)
        scale = 1 / np.sqrt(k)
        out = np.zeros((6, 4))  # the forward pass by loops
        for n in range(6):
            for o in range(4):
                out[n, o] = sum(xn[n, i] * w[o, i] * keep[o, i] * scale for i in range(5))
        assert np.allclose(layer(x)[m].detach().numpy(), out, atol=1e-5)
        # ∂L/∂W_eff[o, i] = Σ_n c[n, o] x[n, i]; straight through the top-k: ∂L/∂s = sign(s) ∂L/∂W_eff · w · scale
        grad_weff = np.einsum("no,ni->oi", cn[m], xn)
        expected = np.sign(s[m]) * grad_weff * w * scale
        assert np.allclose(layer.scores.grad[m].numpy(), expected, atol=1e-5)
    assert layer.weight.grad is None and not layer.weight.requires_grad


def test_supermask_value_is_the_hard_mask():
    s = torch.randn(50, generator=torch.Generator().manual_seed(2), requires_grad=True)
    assert torch.equal(supermask(s, 0.2).detach(), top_k_mask(s.detach().abs(), 0.2))


def test_training_changes_the_scores_never_the_weights_and_keeps_each_layers_density():
    data = digits()
    net = EdgePopupMLP((64, 32, 32, 10), ks=(0.05, 0.5, 0.9), seed=3)
    weights = [layer.weight.clone() for layer in net.layers]
    scores = [layer.scores.detach().clone() for layer in net.layers]
    history = train_edge_popup(net, data, steps=30, log_every=10, generator=torch.Generator().manual_seed(0))
    for layer, w0, s0 in zip(net.layers, weights, scores, strict=True):
        assert torch.equal(layer.weight, w0)
        assert not torch.equal(layer.scores.detach(), s0)
        kept = layer.mask().flatten(1).sum(1)
        assert kept.tolist() == [round(k * w0.numel()) for k in (0.05, 0.5, 0.9)]
    assert history.steps == [0, 10, 20, 30] and history.test_acc.shape == (4, 3)
    assert [p for p, _ in net.named_parameters()] == [f"layers.{i}.scores" for i in range(3)]


def test_members_train_as_if_alone():
    data = digits().subset(300, 100)
    together = EdgePopupMLP((64, 16, 10), ks=(0.1, 0.5), seed=4)
    alone = EdgePopupMLP((64, 16, 10), ks=(0.5,), seed=4)
    kwargs = dict(steps=15, log_every=5, batch_size=64)
    h2 = train_edge_popup(together, data, generator=torch.Generator().manual_seed(1), **kwargs)
    h1 = train_edge_popup(alone, data, generator=torch.Generator().manual_seed(1), **kwargs)
    assert torch.allclose(h2.loss[:, 1], h1.loss[:, 0], atol=1e-4)
    assert torch.allclose(together.layers[0].scores[1], alone.layers[0].scores[0], atol=1e-5)


def test_untrained_scores_are_random_masks_of_each_density():
    net = EdgePopupMLP((64, 32, 10), ks=(0.2, 0.6), seed=5)
    before = [layer.mask().clone() for layer in net.layers]
    train_edge_popup(net, digits(), steps=5, log_every=5, train_scores=False)
    assert all(torch.equal(layer.mask(), m) for layer, m in zip(net.layers, before, strict=True))


def test_smoke_through_the_cli_finds_a_subnetwork_far_above_its_random_mask(cli_json):
    res = cli_json("run", "supermasks", "-p", "smoke")
    s = res["summary"]
    assert s["best_acc"] > 0.5 and s["best_random_mask_acc"] < 0.35 and len(res["verdict"]["checks"]) == 4
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_random_mask_control_stays_near_chance_and_fails_the_chance_check(cli_json):
    (control,) = ENTRY.controls
    res = cli_json("run", "supermasks", "-p", "smoke", "-s", "mask.random=true")
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    for prefix in control.must_fail:
        (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
        assert isinstance(check["value"], float) and not check["passed"], check  # measured, and failing
    assert res["summary"]["best_acc"] == pytest.approx(res["summary"]["best_random_mask_acc"])


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "supermasks", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
