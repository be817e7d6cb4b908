"""Oracle tests for pruning: masks (counts, save/load, staying zero in training), magnitude pruning against a
sort of the magnitudes, IMP's rewinding and controls against explicitly rebuilt weights, SNIP against finite
differences of the connection mask, SynFlow against the closed-form path products of a bias-free ReLU net."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from phenomena.data.dataset import Dataset
from phenomena.errors import UserError
from phenomena.models import MLP
from phenomena.training import fit, train_ensemble
from phenomena.training.pruning import (
    Mask,
    imp,
    magnitude_prune,
    random_mask,
    snip,
    snip_scores,
    synflow,
    synflow_scores,
)

DT = torch.float64


def net(seed=0, width=6, depth=2, bias=True, dtype=DT):
    return MLP(5, 3, width=width, depth=depth, bias=bias, seed=seed).to(dtype)


def toy_data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g, dtype=DT)
    y = torch.randint(0, 3, (n,), generator=g)
    return Dataset(x, y, x, y, {"num_classes": 3, "name": "toy"})


WEIGHTS = ["layers.0.weight", "layers.2.weight", "layers.4.weight"]


def test_mask_counts_save_load_apply(tmp_path):
    model = net()
    mask = Mask.ones(model)
    assert list(mask) == WEIGHTS  # biases are never prunable by default
    assert mask.sparsity() == 0.0
    mask["layers.0.weight"][0, :] = False  # 5 of 30 pruned
    assert mask.counts()["layers.0.weight"] == (25, 30)
    assert mask.layer_sparsity()["layers.0.weight"] == pytest.approx(5 / 30)
    assert mask.sparsity() == pytest.approx(5 / (30 + 36 + 18))
    loaded = Mask.load(mask.save(tmp_path / "m.safetensors"))
    assert loaded.keys() == mask.keys() and all(torch.equal(loaded[n], mask[n]) for n in mask)
    mask.apply(model)
    assert torch.all(model.layers[0].weight[0] == 0) and torch.all(model.layers[0].weight[1:] != 0)
    with pytest.raises(UserError, match="shape"):
        Mask({"layers.0.weight": torch.ones(2, 2)}).apply(model)
    with pytest.raises(UserError, match="not a parameter"):
        Mask({"nope": torch.ones(2)}).apply(model)
    with pytest.raises(UserError, match="does not exist"):
        Mask.load(tmp_path / "missing.safetensors")


def _smallest(w, alive, k):
    """Oracle: flat indices of the k smallest |w| among alive entries (numpy stable sort)."""
    a, m = w.detach().abs().flatten().numpy(), alive.flatten().numpy()
    idx = np.flatnonzero(m)
    return set(idx[np.argsort(a[idx], kind="stable")[:k]].tolist())


def test_layerwise_magnitude_pruning_matches_sort_and_rate_of_remaining():
    model = net()
    mask = Mask.ones(model)
    for _ in range(3):
        new = magnitude_prune(model, 0.2, mask=mask)  # Frankle & Carbin: output layer at half the rate
        for n, layer_rate in zip(WEIGHTS, (0.2, 0.2, 0.1), strict=True):
            w, kept = dict(model.named_parameters())[n], int(mask[n].sum())
            k = math.ceil(layer_rate * kept)
            assert int(new[n].sum()) == kept - k
            removed = set(torch.nonzero((mask[n] & ~new[n]).flatten()).flatten().tolist())
            assert removed == _smallest(w, mask[n], k)
            assert not torch.any(new[n] & ~mask[n])  # pruned weights stay pruned
        mask = new


def test_global_magnitude_pruning_one_threshold_output_excluded():
    model = net(width=8)
    mask = magnitude_prune(model, 0.5, scope="global", output_factor=0.0)  # open_lth's LeNet convention
    assert bool(mask["layers.4.weight"].all())
    pool = WEIGHTS[:2]
    params = dict(model.named_parameters())
    kept = torch.cat([params[n].abs()[mask[n]] for n in pool])
    pruned = torch.cat([params[n].abs()[~mask[n]] for n in pool])
    assert len(pruned) == math.ceil(0.5 * (40 + 64))
    assert kept.min() >= pruned.max()
    # layer sparsities differ: a global threshold is not a per-layer rate
    assert mask.layer_sparsity()["layers.0.weight"] != mask.layer_sparsity()["layers.2.weight"]
    explicit = magnitude_prune(model, 0.5, rates={"layers.0.weight": 0.0})
    assert bool(explicit["layers.0.weight"].all())
    for bad in (dict(rate=1.0), dict(rate=0.2, scope="local"), dict(rate=0.2, rates={"x": 0.1})):
        with pytest.raises(UserError):
            magnitude_prune(model, **bad)


@pytest.mark.parametrize("how", ["callback", "hooks"])
def test_pruned_weights_stay_zero_in_training(how):
    model, data = net(), toy_data()
    mask = magnitude_prune(model, 0.5)
    mask.apply(model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.1)
    if how == "hooks":
        handles = mask.register_hooks(model)
        fit(model, data, F.cross_entropy, opt, steps=20)
        for h in handles:
            h.remove()
    else:
        fit(model, data, F.cross_entropy, opt, steps=20, callbacks=[mask.callback()])
    for n, p in model.named_parameters():
        if n in mask:
            assert torch.all(p[~mask[n]] == 0)
            assert torch.all(p[mask[n]] != before[n][mask[n]])


def test_random_mask_keeps_per_layer_counts():
    mask = magnitude_prune(net(), 0.6)
    r1 = random_mask(mask, torch.Generator().manual_seed(1))
    r2 = random_mask(mask, torch.Generator().manual_seed(1))
    assert r1.counts() == mask.counts()
    assert all(torch.equal(r1[n], r2[n]) for n in mask)
    assert any(not torch.equal(r1[n], mask[n]) for n in mask)


def _train_fn(data, steps=15, log=None):
    def train(model, rnd):
        if log is not None:
            log.append((rnd.kind, rnd.round, {n: p.detach().clone() for n, p in model.named_parameters()}))
        opt = torch.optim.SGD(model.parameters(), lr=0.2)
        fit(model, data, F.cross_entropy, opt, steps - rnd.start_step, callbacks=rnd.callbacks)
        return {"loss": F.cross_entropy(model(data.x_train), data.y_train).item()}

    return train


@pytest.mark.parametrize("rewind", ["init", 4])
def test_imp_rewinds_and_controls(rewind):
    data, log = toy_data(), []
    controls = ["reinit", "random_mask"]
    res = imp(net, _train_fn(data, log=log), rounds=2, rate=0.2, rewind=rewind, controls=controls)
    assert res.rewind_step == (0 if rewind == "init" else 4)
    # the rewind point: θ_0, or θ_4 of a separately re-run dense training
    start = net()
    if rewind != "init":
        fit(start, data, F.cross_entropy, torch.optim.SGD(start.parameters(), lr=0.2), 4)
    theta = dict(start.named_parameters())
    fresh = dict(net(seed=1).named_parameters())
    for kind, r, init in log[1:]:
        mask = res.masks[r]
        ref = fresh if kind == "reinit" else theta
        if kind == "random_mask":
            mask = random_mask(res.masks[r], torch.Generator().manual_seed(1 + 7919 * r))
            assert mask.counts() == res.masks[r].counts()
        for n, p in init.items():
            expected = ref[n] * mask[n] if n in mask else ref[n]
            torch.testing.assert_close(p, expected.detach(), rtol=0, atol=1e-12)
    # sparsity follows the per-round rule exactly: hidden layers 20%, output layer 10% of what remains
    kept = {n: m.numel() for n, m in res.masks[0].items()}
    for r in (1, 2):
        for n, rate in zip(WEIGHTS, (0.2, 0.2, 0.1), strict=True):
            kept[n] -= math.ceil(rate * kept[n])
        assert {n: c[0] for n, c in res.masks[r].counts().items()} == kept
    table = res.table()
    assert [row["round"] for row in table] == [0, 1, 2] and "reinit_loss" in table[1]
    with pytest.raises(UserError, match="never reached"):
        imp(net, _train_fn(data), rounds=1, rewind=100)
    with pytest.raises(UserError, match="control"):
        imp(net, _train_fn(data), rounds=1, controls=["shuffle"])


def test_snip_is_connection_sensitivity():
    model, data = net(), toy_data()
    batches = [(data.x_train[:15], data.y_train[:15]), (data.x_train[15:], data.y_train[15:])]
    scores = snip_scores(model, F.cross_entropy, batches)
    params = dict(model.named_parameters())

    def loss(n, idx, c):
        state = {k: v.detach().clone() for k, v in params.items()}
        state[n].view(-1)[idx] *= c
        out = torch.func.functional_call(model, state, (data.x_train,))
        return F.cross_entropy(out, data.y_train).item()

    eps = 1e-5
    for n in WEIGHTS:
        for idx in range(0, params[n].numel(), 5):
            # ∂L/∂c at c = 1 for the connection's mask c, by central differences on the full data
            fd = (loss(n, idx, 1 + eps) - loss(n, idx, 1 - eps)) / (2 * eps)
            assert scores[n].view(-1)[idx].item() == pytest.approx(abs(fd), abs=1e-8)
    mask = snip(model, F.cross_entropy, batches, sparsity=0.75)
    flat = torch.cat([scores[n].flatten() for n in WEIGHTS])
    keep = torch.cat([mask[n].flatten() for n in WEIGHTS])
    assert int(keep.sum()) == flat.numel() - math.floor(0.75 * flat.numel())
    assert flat[keep].min() >= flat[~keep].max()


def _path_scores(ws, masks):
    """Closed form for a bias-free ReLU MLP on x = 1 with |W|: R = 1ᵀ|W_L|...|W_1|1 is linear in each layer,
    so the saliency of W_l[i, j] is |W_l[i, j]| (1ᵀ|W_L|...|W_{l+1}|)_i (|W_{l-1}|...|W_1| 1)_j."""
    a = [np.abs(w) * m for w, m in zip(ws, masks, strict=True)]
    out = []
    for l_ in range(len(a)):
        right = np.ones(a[0].shape[1])
        for w in a[:l_]:
            right = w @ right
        left = np.ones(a[-1].shape[0])
        for w in reversed(a[l_ + 1 :]):
            left = left @ w
        out.append(a[l_] * np.outer(left, right))
    return out, float(np.ones(a[-1].shape[0]) @ a[-1] @ a[-2] @ a[-3] @ np.ones(a[0].shape[1]))


def test_synflow_scores_match_path_products_and_conserve_flow():
    model = net(bias=False, width=7)
    ws = [dict(model.named_parameters())[n].detach().numpy() for n in WEIGHTS]
    mask = magnitude_prune(model, 0.3)
    masks = [mask[n].numpy() for n in WEIGHTS]
    scores = synflow_scores(model, (5,), mask)
    expected, total = _path_scores(ws, masks)
    for n, e in zip(WEIGHTS, expected, strict=True):
        np.testing.assert_allclose(scores[n].numpy(), e, rtol=1e-12, atol=1e-14)
        # Tanaka et al.'s conservation: each layer's saliencies sum to R
        assert scores[n].sum().item() == pytest.approx(total, rel=1e-12)


def test_synflow_iterations_follow_the_exponential_schedule():
    model = net(bias=False, width=7)
    ws = [dict(model.named_parameters())[n].detach().numpy() for n in WEIGHTS]
    sparsity, iterations = 0.9, 5
    masks = [np.ones_like(w, dtype=bool) for w in ws]
    total = sum(w.size for w in ws)
    for i in range(1, iterations + 1):
        s, _ = _path_scores(ws, masks)
        flat = np.concatenate([x.ravel() for x in s])
        pruned = math.floor((1 - (1 - sparsity) ** (i / iterations)) * total + 1e-9)
        keep = np.ones(total, dtype=bool)
        keep[np.argsort(flat, kind="stable")[:pruned]] = False
        sizes = np.cumsum([w.size for w in ws])[:-1]
        masks = [k.reshape(w.shape) for k, w in zip(np.split(keep, sizes), ws, strict=True)]
    got = synflow(model, (5,), sparsity, iterations=iterations)
    for n, m in zip(WEIGHTS, masks, strict=True):
        np.testing.assert_array_equal(got[n].numpy(), m)
    assert got.sparsity() == pytest.approx(math.floor(0.9 * total) / total)
    assert all(s < 1 for s in got.layer_sparsity().values())  # no layer collapse
    with pytest.raises(UserError):
        synflow(model, (5,), 1.5)


def test_synflow_runs_on_a_cnn_with_batchnorm():
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16, 3))
    mask = synflow(cnn, (1, 6, 6), 0.8, iterations=10)
    assert list(mask) == ["0.weight", "4.weight"]
    assert mask.sparsity() == pytest.approx(math.floor(0.8 * (36 + 192)) / (36 + 192))
    assert cnn.training  # the user's model is untouched (SynFlow works on an eval-mode copy)


def test_imp_trains_a_round_at_once_as_it_trains_each_arm():
    """``train_round`` with one masked ensemble per round gives the masks and metrics of ``train_fn`` arm by arm
    (float64: equal up to summation order)."""
    data, steps = toy_data(), 12

    def train_fn(model, rnd):
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        fit(
            model,
            data,
            F.cross_entropy,
            opt,
            steps,
            8,
            generator=torch.Generator().manual_seed(9),
            callbacks=rnd.callbacks,
        )
        return {"loss": F.cross_entropy(model(data.x_train), data.y_train).item()}

    def train_round(arms):
        models = [m for m, _ in arms]
        train_ensemble(
            lambda i: models[i],
            range(len(arms)),
            data,
            optimizer="adam",
            lr=0.05,
            steps=steps,
            batch_size=8,
            order_seeds=[9] * len(arms),
            masks=[r.mask for _, r in arms],
            log_every=steps,
        )
        return [{"loss": F.cross_entropy(m(data.x_train), data.y_train).item()} for m in models]

    kw = dict(rounds=3, rate=0.3, controls=["reinit", "random_mask"])
    one, at_once = imp(net, train_fn, **kw), imp(net, train_fn, train_round=train_round, **kw)
    for a, b in zip(one.masks, at_once.masks, strict=True):
        assert all(torch.equal(a[n], b[n]) for n in a)
    for a, b in zip(one.table(), at_once.table(), strict=True):
        assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], abs=1e-10) for k in a)
    with pytest.raises(UserError, match="returned 1 results for 3"):
        imp(net, train_fn, train_round=lambda arms: [{}], **kw)
