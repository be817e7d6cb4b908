"""The vectorized ensemble trainer against its oracle: M solo runs of the plain trainer.

Each member must follow the trajectory of ``fit`` with its own ``torch.optim`` optimizer, seed and minibatch
generator. In float64 both compute the same operations up to summation order, so after 20 steps the parameters
agree to ~1e-15; the tolerance 1e-10 leaves room for that rounding only.
"""

from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch
from torch import nn

from phenomena.data import Dataset
from phenomena.data.noise import with_label_noise
from phenomena.errors import UserError
from phenomena.models import MLP
from phenomena.training import Mask, evaluate, fit, loss_function, magnitude_prune, warmup
from phenomena.training.ensemble import EnsembleResult, train_ensemble
from phenomena.training.functional_optim import FunctionalOptimizer

TOL = 1e-10
SEEDS = [3, 5, 7]


def _data(n=48, classes=3, seed=0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + 16, 5, generator=g, dtype=torch.float64)
    y = (x[:, :classes] + 0.3 * torch.randn(n + 16, classes, generator=g, dtype=torch.float64)).argmax(1)
    return Dataset(x[:n], y[:n], x[n:], y[n:], {"num_classes": classes})


def _mlp(seed: int, **kw) -> nn.Module:
    return MLP(5, 3, width=8, depth=2, seed=seed, **kw).double()


def _solo(
    build,
    seed,
    data,
    optimizer,
    lr,
    wd,
    mom=0.0,
    betas=(0.9, 0.999),
    steps=20,
    batch_size=None,
    warm=0,
    loss="ce",
):
    """The oracle: one plain ``fit`` run with a ``torch.optim`` optimizer and its own generator."""
    model = build(seed)
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=mom, weight_decay=wd)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=wd)
    fit(
        model,
        data,
        loss_function(loss),
        opt,
        steps,
        batch_size,
        generator=torch.Generator().manual_seed(seed),
        scheduler=warmup(opt, warm),
    )
    return model


def _max_diff(a: nn.Module, b: nn.Module) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize("method", ["bmm", "vmap"])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_sgd_momentum_members_match_solo_runs(method, batch_size):
    lrs, wds, moms = [0.1, 0.05, 0.2], [0.0, 1e-2, 3e-3], [0.9, 0.5, 0.0]
    data = _data()
    res = train_ensemble(
        _mlp,
        SEEDS,
        data,
        optimizer="sgd",
        lr=lrs,
        weight_decay=wds,
        momentum=moms,
        steps=20,
        batch_size=batch_size,
        log_every=10,
        method=method,
    )
    assert res.method == method and res.diverged == [False] * 3 and res.steps == [0, 10, 20]
    for i, s in enumerate(SEEDS):
        solo = _solo(_mlp, s, data, "sgd", lrs[i], wds[i], moms[i], batch_size=batch_size)
        assert _max_diff(res.models[i], solo) < TOL
        # the last logged metrics are those of the solo model, evaluated the plain way
        loss_fn = loss_function("ce")
        assert res.curves["test_loss"][i, -1].item() == pytest.approx(
            evaluate(solo, data.x_test, data.y_test, loss_fn)[0], abs=TOL
        )
        assert res.curves["train_acc"][i, -1].item() == evaluate(solo, data.x_train, data.y_train, loss_fn)[1]
    assert _max_diff(res.models[0], res.models[1]) > 0.1  # the seeds do differ


@pytest.mark.parametrize("method", ["bmm", "vmap"])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_adamw_members_match_solo_runs(method, batch_size):
    lrs, wds, betas = [1e-2, 3e-3, 2e-2], [0.0, 0.1, 1.0], ([0.9, 0.8, 0.95], 0.99)
    data = _data()
    res = train_ensemble(
        _mlp,
        SEEDS,
        data,
        optimizer="adamw",
        lr=lrs,
        weight_decay=wds,
        betas=betas,
        steps=20,
        batch_size=batch_size,
        method=method,
    )
    for i, s in enumerate(SEEDS):
        solo = _solo(_mlp, s, data, "adamw", lrs[i], wds[i], betas=(betas[0][i], 0.99), batch_size=batch_size)
        assert _max_diff(res.models[i], solo) < TOL


def test_warmup_and_per_member_label_noise_match_solo_runs():
    clean = _data(classes=3)
    datas = [with_label_noise(clean, 0.3, seed=s) for s in SEEDS]
    assert not torch.equal(datas[0].y_train, datas[1].y_train)
    res = train_ensemble(
        _mlp, SEEDS, datas, optimizer="sgd", lr=0.1, momentum=0.9, steps=20, batch_size=16, warmup_steps=7
    )
    for i, s in enumerate(SEEDS):
        solo = _solo(_mlp, s, datas[i], "sgd", 0.1, 0.0, 0.9, batch_size=16, warm=7)
        assert _max_diff(res.models[i], solo) < TOL


def test_one_diverging_member_leaves_the_others_as_alone():
    data = _data()
    lrs = [0.1, 1e30, 0.05]  # the middle member overflows within a few steps, the others do not
    for method in ("bmm", "vmap", "loop"):
        res = train_ensemble(_mlp, SEEDS, data, loss="mse", lr=lrs, momentum=0.9, steps=20, log_every=1, method=method)
        assert res.diverged == [False, True, False], method
        at = res.diverged_at[1]
        assert 1 <= at < 20
        for i in (0, 2):
            assert _max_diff(res.models[i], _solo(_mlp, SEEDS[i], data, "sgd", lrs[i], 0.0, 0.9, loss="mse")) < TOL
        # frozen at the parameters that produced the first non-finite loss: the solo run after at - 1 steps
        frozen = _solo(_mlp, SEEDS[1], data, "sgd", lrs[1], 0.0, 0.9, steps=at - 1, loss="mse")
        assert _max_diff(res.models[1], frozen) < TOL * max(1.0, max(p.abs().max().item() for p in frozen.parameters()))
        assert math.isnan(res.curves["test_loss"][1, at]) and not math.isnan(res.curves["test_loss"][1, at - 1])
        assert torch.isfinite(res.curves["test_loss"][[0, 2]]).all()
        assert len(res.history(1).curves["test_loss"][0]) == at and len(res.history(0).curves["test_loss"][0]) == 21


def test_loop_fallback_gives_the_vectorized_result():
    data = _data()
    kw = dict(optimizer="adamw", lr=[1e-2, 2e-2, 5e-3], weight_decay=0.1, steps=15, batch_size=16, log_every=5)
    loop, vec = (train_ensemble(_mlp, SEEDS, data, method=m, **kw) for m in ("loop", "auto"))
    assert loop.method == "loop" and vec.method == "bmm"
    for a, b in zip(loop.models, vec.models, strict=True):
        assert _max_diff(a, b) < TOL
    for name in loop.curves:
        assert torch.allclose(loop.curves[name], vec.curves[name], atol=TOL, rtol=0), name


class _Residual(nn.Module):
    """Not a plain MLP: auto must choose vmap."""

    def __init__(self, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.a, self.b = nn.Linear(5, 5).double(), nn.Linear(5, 3).double()
        for p in self.parameters():
            nn.init.normal_(p, 0.0, 0.5, generator=g)

    def forward(self, x):
        return self.b(x + torch.tanh(self.a(x)))


def test_auto_uses_vmap_for_other_modules_and_bmm_for_ntk_mlps():
    data = _data()
    res = train_ensemble(_Residual, SEEDS, data, lr=0.1, momentum=0.9, steps=20, batch_size=16)
    assert res.method == "vmap"
    for i, s in enumerate(SEEDS):
        assert _max_diff(res.models[i], _solo(_Residual, s, data, "sgd", 0.1, 0.0, 0.9, batch_size=16)) < TOL

    def ntk(seed):
        return _mlp(seed, parameterization="ntk", activation="tanh", bias_std=0.1)

    res = train_ensemble(ntk, SEEDS, data, lr=0.5, steps=20)
    assert res.method == "bmm"
    for i, s in enumerate(SEEDS):
        assert _max_diff(res.models[i], _solo(ntk, s, data, "sgd", 0.5, 0.0)) < TOL


def _bn_net(seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()
    for p in net.parameters():
        nn.init.normal_(p, 0.0, 0.5, generator=g)
    return net


def test_batchnorm_falls_back_to_the_loop_with_one_warning():
    data = _data()
    with pytest.warns(UserWarning, match="BatchNorm1d"):
        res = train_ensemble(_bn_net, SEEDS, data, lr=0.1, steps=10, batch_size=16)
    assert res.method == "loop"
    for i, s in enumerate(SEEDS):
        solo = _solo(_bn_net, s, data, "sgd", 0.1, 0.0, steps=10, batch_size=16)
        assert _max_diff(res.models[i], solo) < TOL
        assert torch.equal(res.models[i][1].running_mean, solo[1].running_mean)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once already
        train_ensemble(_bn_net, SEEDS[:1], data, lr=0.1, steps=1)

    def dropout_net(seed):
        return nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.2), nn.Linear(8, 3)).double()

    with pytest.warns(UserWarning, match="Dropout"):
        assert train_ensemble(dropout_net, SEEDS, data, steps=1).method == "loop"


def test_regression_targets_with_mse_and_a_progress_bar():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    y = torch.sin(x[:, :2])
    data = Dataset(x[:32], y[:32], x[32:], y[32:], {"num_classes": None})

    class Bar:
        n, post = 0, None

        def update(self, k):
            self.n += k

        def set_postfix(self, post, refresh=True):
            self.post = post

    def build(seed):
        return MLP(5, 2, width=8, depth=1, seed=seed).double()

    for method in ("vmap", "loop"):
        bar = Bar()
        res = train_ensemble(
            build,
            SEEDS,
            data,
            loss="mse",
            lr=0.1,
            steps=12,
            batch_size=8,
            log_every=5,
            method=method,
            progress=bar,
        )
        assert bar.n == 3 * 12 and res.steps == [0, 5, 10, 12]
        assert torch.isnan(res.curves["test_acc"]).all()
        for i, s in enumerate(SEEDS):
            solo = build(s)
            fit(
                solo,
                data,
                loss_function("mse"),
                torch.optim.SGD(solo.parameters(), lr=0.1),
                12,
                8,
                generator=torch.Generator().manual_seed(s),
            )
            assert _max_diff(res.models[i], solo) < TOL
    assert isinstance(res, EnsembleResult)


def test_functional_optimizer_matches_torch_optim_per_member():
    g = torch.Generator().manual_seed(0)
    cases = [
        ("sgd", torch.optim.SGD, dict(lr=[0.1, 0.3], weight_decay=[0.0, 0.2], momentum=[0.9, 0.0])),
        (
            "adam",
            torch.optim.Adam,
            dict(lr=[1e-2, 1e-3], weight_decay=[0.1, 0.0], betas=([0.9, 0.5], [0.99, 0.9])),
        ),
        (
            "adamw",
            torch.optim.AdamW,
            dict(lr=[1e-2, 1e-1], weight_decay=[0.1, 2.0], betas=(0.8, [0.99, 0.9])),
        ),
        # members sharing every hyper-parameter take the scalar foreach path
        ("sgd", torch.optim.SGD, dict(lr=0.1, weight_decay=0.2, momentum=0.9)),
        ("adam", torch.optim.Adam, dict(lr=1e-2, weight_decay=0.1, betas=(0.9, 0.99))),
        ("adamw", torch.optim.AdamW, dict(lr=1e-2, weight_decay=2.0, betas=(0.8, 0.9))),
    ]
    for name, cls, hp in cases:
        w = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
        stacked = w.clone()
        opt = FunctionalOptimizer(name, [stacked], **hp)
        assert opt.uniform == all(not isinstance(v, list) for v in [*hp.values(), *hp.get("betas", ())])
        solos = [w[i].clone().requires_grad_() for i in range(2)]

        def pick(v, i):
            return v[i] if isinstance(v, list) else v

        torch_opts = []
        for i, p in enumerate(solos):
            kw = {k: pick(v, i) for k, v in hp.items() if k != "betas"}
            if "betas" in hp:
                kw["betas"] = tuple(pick(b, i) for b in hp["betas"])
            torch_opts.append(cls([p], **kw))
        for t in range(1, 11):
            grad = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
            scale = min(t / 4, 1.0)
            opt.step([grad.clone()], lr_scale=scale)
            for i, (p, o) in enumerate(zip(solos, torch_opts, strict=True)):
                p.grad = grad[i].clone()
                o.param_groups[0]["lr"] = pick(hp["lr"], i) * scale
                o.step()
        assert torch.allclose(stacked, torch.stack([p.detach() for p in solos]), atol=1e-13, rtol=0), name


def test_bad_inputs_raise_user_errors():
    data = _data()
    with pytest.raises(UserError, match="ensemble method"):
        train_ensemble(_mlp, SEEDS, data, method="pmap")
    with pytest.raises(UserError, match="optimizer"):
        train_ensemble(_mlp, SEEDS, data, optimizer="lion")
    with pytest.raises(UserError, match="one value per member"):
        train_ensemble(_mlp, SEEDS, data, lr=[0.1, 0.2])
    with pytest.raises(UserError, match="learning rate"):
        train_ensemble(_mlp, SEEDS, data, lr=[0.1, -0.2, 0.1])
    with pytest.raises(UserError, match="momentum"):
        train_ensemble(_mlp, SEEDS, data, momentum=1.5)
    with pytest.raises(UserError, match="share shapes"):
        train_ensemble(_mlp, SEEDS, [data, data, data.subset(n_train=10)])
    with pytest.raises(UserError, match="same parameter"):
        train_ensemble(lambda s: MLP(5, 3, width=8 + s, seed=s).double(), [0, 1], data)
    with pytest.raises(UserError, match="at least one seed"):
        train_ensemble(_mlp, [], data)


def test_bmm_on_a_sequential_that_starts_with_an_activation_leaves_the_data_alone():
    data = _data()
    x = data.x_train.clone()

    def build(seed):
        g = torch.Generator().manual_seed(seed)
        net = nn.Sequential(nn.ReLU(), nn.Linear(5, 8), nn.Tanh(), nn.ReLU(), nn.Linear(8, 3)).double()
        for p in net.parameters():
            nn.init.normal_(p, 0.0, 0.5, generator=g)
        return net

    res = train_ensemble(build, SEEDS, data, lr=0.1, steps=10)
    assert res.method == "bmm" and torch.equal(data.x_train, x)
    for i, s in enumerate(SEEDS):
        assert _max_diff(res.models[i], _solo(build, s, data, "sgd", 0.1, 0.0, steps=10)) < TOL


def test_stop_train_loss_freezes_each_member_at_its_first_logged_step_below_the_target():
    data = _data()
    lrs, target = [0.5, 0.2, 0.01], 0.35  # the fast member stops early, the slow one never reaches the target
    for method in ("bmm", "vmap", "loop"):
        res = train_ensemble(
            _mlp, SEEDS, data, lr=lrs, momentum=0.9, steps=60, log_every=5, method=method, stop_train_loss=target
        )
        assert res.stopped_at[2] is None and res.stopped_at[0] is not None, (method, res.stopped_at)
        for i in range(3):
            at = res.stopped_at[i]
            # the oracle: solo runs, checked at every logged step for the first one at or below the target
            first = next(
                (
                    s
                    for s in res.steps
                    if evaluate(
                        _solo(_mlp, SEEDS[i], data, "sgd", lrs[i], 0.0, 0.9, steps=s),
                        data.x_train,
                        data.y_train,
                        loss_function("ce"),
                    )[0]
                    <= target
                ),
                None,
            )
            assert at == first, (method, i, at, first)
            solo = _solo(_mlp, SEEDS[i], data, "sgd", lrs[i], 0.0, 0.9, steps=60 if at is None else at)
            assert _max_diff(res.models[i], solo) < TOL, (method, i)
            j = res.steps.index(at) if at is not None else len(res.steps) - 1
            assert torch.isfinite(res.curves["train_loss"][i, : j + 1]).all()
            assert torch.isnan(res.curves["train_loss"][i, j + 1 :]).all()
        assert len(res.history(0).curves["train_loss"][0]) == res.steps.index(res.stopped_at[0]) + 1
    with pytest.raises(UserError, match="stop_train_loss"):
        train_ensemble(_mlp, SEEDS, data, steps=2, stop_train_loss=-1.0)


@pytest.mark.parametrize("method", ["bmm", "vmap", "loop"])
def test_evaluating_only_the_training_split_changes_nothing_else(method):
    # the oracle is the default run: the same members, training curves and stops, and test curves left NaN
    data, lrs = _data(), [0.5, 0.2, 0.01]
    kw = dict(lr=lrs, momentum=0.9, steps=40, log_every=5, method=method, stop_train_loss=0.35)
    both = train_ensemble(_mlp, SEEDS, data, **kw)
    train = train_ensemble(_mlp, SEEDS, data, evaluate=("train",), **kw)
    assert train.stopped_at == both.stopped_at and train.stopped_at[0] is not None
    for name in ("batch_loss", "train_loss", "train_acc"):
        assert torch.equal(train.curves[name].nan_to_num(-1), both.curves[name].nan_to_num(-1)), name
    assert torch.isnan(train.curves["test_loss"]).all() and torch.isnan(train.curves["test_acc"]).all()
    assert torch.isfinite(both.curves["test_loss"][:, 0]).all()
    for a, b in zip(train.models, both.models, strict=True):
        assert _max_diff(a, b) == 0
    none = train_ensemble(_mlp, SEEDS, data, lr=0.1, steps=4, log_every=2, method=method, evaluate=())
    assert torch.isnan(none.curves["train_loss"]).all() and torch.isfinite(none.curves["batch_loss"]).all()
    # per-member data sets (label-noise draws), whose test sets are then not stacked at all
    datas = [with_label_noise(data, 0.3, seed=s) for s in SEEDS]
    kw = dict(lr=0.1, steps=12, batch_size=16, log_every=4, method=method)
    both, train = (train_ensemble(_mlp, SEEDS, datas, evaluate=e, **kw) for e in (("train", "test"), ("train",)))
    assert torch.equal(train.curves["train_loss"], both.curves["train_loss"])
    assert torch.isnan(train.curves["test_acc"]).all() and torch.isfinite(both.curves["test_acc"]).all()
    for a, b in zip(train.models, both.models, strict=True):
        assert _max_diff(a, b) == 0


def test_evaluate_names_known_splits():
    data = _data()
    for bad in (("valid",), ("train", "train")):
        with pytest.raises(UserError, match="evaluate must list distinct splits"):
            train_ensemble(_mlp, SEEDS, data, steps=2, evaluate=bad)
    with pytest.raises(UserError, match='evaluate must include "train"'):
        train_ensemble(_mlp, SEEDS, data, steps=2, evaluate=("test",), stop_train_loss=0.1)


@pytest.mark.parametrize("method", ["bmm", "vmap", "loop"])
def test_masked_members_match_solo_runs_with_the_mask_callback(method):
    """Pruned entries stay zero and every member follows ``fit`` with ``Mask.callback()`` (a ticket's retraining);
    a member without a mask trains densely."""
    data = _data()
    masks = [magnitude_prune(_mlp(s), 0.5 + 0.1 * i) for i, s in enumerate(SEEDS[:2])] + [None]
    res = train_ensemble(
        _mlp, SEEDS, data, optimizer="adam", lr=1e-2, steps=20, batch_size=16, masks=masks, method=method
    )
    assert res.method == method
    for i, s in enumerate(SEEDS):
        solo = _mlp(s)
        callbacks = []
        if masks[i] is not None:
            masks[i].apply(solo)
            callbacks = [masks[i].callback()]
        opt = torch.optim.Adam(solo.parameters(), lr=1e-2)
        fit(
            solo,
            data,
            loss_function("ce"),
            opt,
            20,
            16,
            generator=torch.Generator().manual_seed(s),
            callbacks=callbacks,
        )
        assert _max_diff(res.models[i], solo) < TOL
        named = dict(res.models[i].named_parameters())
        for name, keep in (masks[i] or Mask()).items():
            assert bool((named[name][~keep] == 0).all()) and bool((named[name][keep] != 0).all())
    assert all(bool((p != 0).all()) for p in res.models[2].parameters())  # unmasked: dense


def test_masks_are_checked_against_the_members():
    data = _data()
    with pytest.raises(UserError, match="one entry"):
        train_ensemble(_mlp, SEEDS, data, steps=1, masks=[None])
    with pytest.raises(UserError, match="not a parameter"):
        train_ensemble(_mlp, SEEDS, data, steps=1, masks=[{"nope": torch.ones(2, dtype=torch.bool)}, None, None])
    name, p = next(iter(_mlp(0).named_parameters()))
    with pytest.raises(UserError, match="has shape"):
        train_ensemble(_mlp, SEEDS, data, steps=1, masks=[{name: torch.ones(p.shape[0], dtype=torch.bool)}, None, None])


def _parent(optimizer: str, steps: int = 7):
    """A model trained ``steps`` steps by a solo torch optimizer: its weights and the optimizer's state_dict()."""
    model, data = _mlp(0), _data()
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(model, data, loss_function("ce"), opt, steps, 16, generator=torch.Generator().manual_seed(1))
    return model.state_dict(), opt.state_dict()


@pytest.mark.parametrize("method", ["bmm", "vmap", "loop"])
@pytest.mark.parametrize(
    ("optimizer", "lrs"), [("adam", 1e-2), ("adam", [1e-2, 3e-3, 2e-2]), ("sgd", [0.05, 0.1, 0.02])]
)
def test_members_resumed_from_a_solo_optimizer_match_solo_runs_that_load_it(method, optimizer, lrs):
    # children of one parent's state (weights and moments), each on its own minibatch order, as mode-connectivity
    weights, state = _parent(optimizer)
    data, orders = _data(), [11, 12, 13]

    def child(_seed: int) -> nn.Module:
        model = _mlp(0)
        model.load_state_dict(weights)
        return model

    res = train_ensemble(
        child,
        range(3),
        data,
        optimizer=optimizer,
        lr=lrs,
        momentum=0.9 if optimizer == "sgd" else 0.0,
        steps=20,
        batch_size=16,
        order_seeds=orders,
        method=method,
        resume=[state] * 3,
    )
    assert res.method == method
    for i, order in enumerate(orders):
        solo, lr = child(0), lrs if isinstance(lrs, float) else lrs[i]
        if optimizer == "sgd":
            opt = torch.optim.SGD(solo.parameters(), lr=lr, momentum=0.9)
        else:
            opt = torch.optim.Adam(solo.parameters(), lr=lr)
        moments = copy.deepcopy(state["state"])  # load_state_dict keeps these tensors, and training changes them
        opt.load_state_dict({"state": moments, "param_groups": opt.state_dict()["param_groups"]})
        fit(solo, data, loss_function("ce"), opt, 20, 16, generator=torch.Generator().manual_seed(order))
        assert _max_diff(res.models[i], solo) < TOL
    fresh = train_ensemble(child, range(3), data, optimizer=optimizer, lr=lrs, steps=20, batch_size=16, method=method)
    assert _max_diff(res.models[0], fresh.models[0]) > 1e-3  # the moments and step count did change the updates
    assert all(torch.equal(a, b) for a, b in zip(_flat_state(state), _flat_state(_parent(optimizer)[1]), strict=True))


def _flat_state(state_dict: dict) -> list[torch.Tensor]:
    return [torch.as_tensor(v) for st in state_dict["state"].values() for v in st.values() if v is not None]


def test_resuming_from_an_optimizer_that_has_not_stepped_is_a_fresh_start():
    model, data = _mlp(0), _data()
    state = torch.optim.Adam(model.parameters(), lr=1e-2).state_dict()
    kw = dict(optimizer="adam", lr=1e-2, steps=10, batch_size=16)
    a = train_ensemble(_mlp, SEEDS, data, resume=[state] * 3, **kw)
    b = train_ensemble(_mlp, SEEDS, data, **kw)
    assert all(_max_diff(x, y) == 0.0 for x, y in zip(a.models, b.models, strict=True))


def test_resume_states_are_checked():
    data = _data()
    _, adam5 = _parent("adam", 5)
    _, adam7 = _parent("adam", 7)
    _, sgd = _parent("sgd")
    kw = dict(optimizer="adam", lr=1e-2, steps=2)
    with pytest.raises(UserError, match="one optimizer state per member"):
        train_ensemble(_mlp, SEEDS, data, resume=[adam5] * 2, **kw)
    with pytest.raises(UserError, match="same step"):
        train_ensemble(_mlp, SEEDS, data, resume=[adam5, adam7, adam7], **kw)
    with pytest.raises(UserError, match="no exp_avg"):
        train_ensemble(_mlp, SEEDS, data, resume=[sgd] * 3, **kw)
    with pytest.raises(UserError, match="has shape"):
        train_ensemble(lambda s: MLP(5, 3, width=6, depth=2, seed=s).double(), SEEDS, data, resume=[adam5] * 3, **kw)
    with pytest.raises(UserError, match="not a torch.optim state_dict"):
        train_ensemble(_mlp, SEEDS, data, resume=[{}] * 3, **kw)
