import copy
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from phenomena.data import Dataset
from phenomena.errors import DivergedError, UserError
from phenomena.models import MLP
from phenomena.training import (
    SGD,
    Adam,
    AdamW,
    LogMetrics,
    StopWhen,
    accuracy,
    evaluate,
    fit,
    loss_function,
    make_optimizer,
    predictions,
    warmup,
)


def _data(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] > 0).long()
    return Dataset(x, y, x[:16], y[:16], {"num_classes": 2})


def test_full_batch_fit_equals_a_hand_written_loop():
    data = _data()
    a, b = MLP(5, 2, width=8, depth=1, seed=1), MLP(5, 2, width=8, depth=1, seed=1)
    loss = loss_function("ce")
    fit(a, data, loss, make_optimizer("sgd", a.parameters(), 0.1, momentum=0.9), steps=20)
    opt = torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9)
    for _ in range(20):
        opt.zero_grad()
        loss(b(data.x_train), data.y_train).backward()
        opt.step()
    assert all(torch.allclose(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_minibatches_follow_the_generator():
    data = _data()

    def train(seed):
        m = MLP(5, 2, width=8, depth=1, seed=1)
        fit(
            m,
            data,
            loss_function("ce"),
            make_optimizer("sgd", m.parameters(), 0.1),
            steps=10,
            batch_size=16,
            generator=torch.Generator().manual_seed(seed),
        )
        return m.readout.weight

    assert torch.equal(train(3), train(3)) and not torch.equal(train(3), train(4))


def test_logging_schedule_stop_and_divergence():
    data = _data()
    m = MLP(5, 2, width=8, depth=1, seed=1)
    loss = loss_function("ce")
    log = LogMetrics(5, lambda model: {"acc": evaluate(model, data.x_test, data.y_test, loss)[1]})
    history, state = fit(m, data, loss, make_optimizer("adam", m.parameters(), 0.05), steps=12, callbacks=[log])
    assert history.curves["acc"][0] == [0, 5, 10, 12]
    stop = StopWhen(lambda h: len(h.curves["acc"][0]) >= 2, "two logs")
    log2 = LogMetrics(3, lambda model: {"acc": 0.0})
    _, state = fit(m, data, loss, make_optimizer("adam", m.parameters(), 0.05), 50, callbacks=[log2, stop])
    assert state.step == 3 and state.stop_reason == "two logs"
    huge = make_optimizer("sgd", m.parameters(), 1e30)
    with pytest.raises(DivergedError):
        fit(m, data, loss_function("mse"), huge, steps=5, callbacks=[LogMetrics(1, lambda model: {})])


def test_mse_on_integer_labels_uses_one_hot_targets():
    out = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    assert loss_function("mse")(out, torch.tensor([0, 1])).item() == pytest.approx(0.25)


def _train_copy(net, opt_of, steps=200):
    x, y = torch.randn(256, 12, generator=torch.Generator().manual_seed(0)), torch.arange(256) % 2
    model = copy.deepcopy(net)
    opt = opt_of(model.parameters())
    for i in range(steps):
        rows = torch.randint(0, 256, (32,), generator=torch.Generator().manual_seed(i))
        opt.zero_grad()
        F.cross_entropy(model(x[rows]), y[rows]).backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _net() -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(12, 10), nn.Tanh(), nn.Linear(10, 7), nn.Tanh(), nn.Linear(7, 2))


_NET = _net()


def test_foreach_sgd_is_bitwise_the_single_tensor_one():
    # make_optimizer builds SGD with foreach=True (one kernel per step for all parameters, instead of one per tensor,
    # which dominates the step of a small network on CPU, where torch defaults to the single-tensor path); that is
    # only a speed-up if the trajectories are identical, bit for bit
    kwargs = dict(lr=0.1, momentum=0.9, weight_decay=1e-3)
    ours = make_optimizer("sgd", _NET.parameters(), **kwargs)
    assert ours.param_groups[0]["foreach"] is True
    single = _train_copy(_NET, lambda ps: torch.optim.SGD(ps, foreach=False, **kwargs))
    assert torch.equal(_train_copy(_NET, lambda ps: make_optimizer("sgd", ps, **kwargs)), single)


@pytest.mark.parametrize(
    "name, torch_class, kwargs",
    [
        ("adam", torch.optim.Adam, dict(lr=4e-4, weight_decay=1e-3)),
        ("adamw", torch.optim.AdamW, dict(lr=1e-3, weight_decay=0.1)),
    ],
)
def test_fused_adam_is_the_single_tensor_rule_to_rounding(name, torch_class, kwargs):
    # make_optimizer builds Adam and AdamW with torch's fused kernel (one pass over each parameter instead of six
    # or seven): the same rule as torch's single-tensor default, which rounds differently in the last bits, so 200
    # steps agree to float32 rounding (the other rule, coupled vs decoupled decay, lies over 100x further off)
    ours = make_optimizer(name, _NET.parameters(), **kwargs)
    assert ours.param_groups[0]["fused"] is True
    fused = _train_copy(_NET, lambda ps: make_optimizer(name, ps, **kwargs))
    single = _train_copy(_NET, lambda ps: torch_class(ps, foreach=False, **kwargs))
    other = torch.optim.AdamW if torch_class is torch.optim.Adam else torch.optim.Adam
    wrong = _train_copy(_NET, lambda ps: other(ps, foreach=False, **kwargs))
    assert not torch.equal(fused, single)  # fused is in use: it rounds differently
    rounding = (fused - single).abs().max()
    assert rounding < 1e-4 and (wrong - single).abs().max() > 100 * rounding


@pytest.mark.parametrize(
    "ours, theirs, kwargs",
    [
        (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-3)),
        (Adam, torch.optim.Adam, dict(lr=4e-3, weight_decay=1e-3, betas=(0.9, 0.98))),
        (AdamW, torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.5, betas=(0.9, 0.98))),
    ],
)
@pytest.mark.parametrize("foreach", [False, True])
def test_eager_optimizers_update_bitwise_as_torch_optim(ours, theirs, kwargs, foreach):
    # with a warm-up schedule, zero_grad between steps, and the state moved through state_dict/load_state_dict
    # into a fresh optimizer half-way, as a checkpoint would
    net = nn.Sequential(nn.Linear(12, 10), nn.Tanh(), nn.Linear(10, 7), nn.Tanh(), nn.Linear(7, 2))
    x, y = torch.randn(256, 12, generator=torch.Generator().manual_seed(0)), torch.arange(256) % 2
    finals = []
    for cls in (theirs, ours):
        model = copy.deepcopy(net)
        opt = cls(model.parameters(), foreach=foreach, **kwargs)
        assert isinstance(opt, theirs)
        schedule = warmup(opt, 20)
        for i in range(120):
            if i == 60:
                state = opt.state_dict()
                opt = cls(model.parameters(), foreach=foreach, **kwargs)
                opt.load_state_dict(state)
            rows = torch.randint(0, 256, (32,), generator=torch.Generator().manual_seed(i))
            opt.zero_grad()
            F.cross_entropy(model(x[rows]), y[rows]).backward()
            opt.step()
            if i < 60:
                schedule.step()
        finals.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(finals[0], finals[1])
    assert not torch.equal(finals[0], torch.cat([p.detach().flatten() for p in net.parameters()]))


def test_eager_optimizers_do_not_import_dynamo_and_refuse_to_be_differentiable():
    # nor does SAM around one; the probe sees the import: stepping torch.optim's own class after ours makes it
    probe = (
        "import sys, torch\n"
        "from phenomena.training import SAM, fit, make_optimizer, warmup, loss_function\n"
        "from phenomena.data import Dataset\n"
        "from phenomena.models import MLP\n"
        "x = torch.randn(64, 5); y = (x[:, 0] > 0).long()\n"
        "data = Dataset(x, y, x[:16], y[:16], {'num_classes': 2})\n"
        "for name in ('sgd', 'adam', 'adamw', 'sam'):\n"
        "    m = MLP(5, 2, width=8, depth=1, seed=0)\n"
        "    opt = make_optimizer(name.replace('sam', 'sgd'), m.parameters(), 0.1)\n"
        "    opt = SAM(opt, 0.05) if name == 'sam' else opt\n"
        "    fit(m, data, loss_function('ce'), opt, steps=3, batch_size=16, scheduler=warmup(opt, 2))\n"
        "    opt.load_state_dict(opt.state_dict())\n"
        "assert 'torch._dynamo' not in sys.modules\n"
        "m = MLP(5, 2, width=8, depth=1, seed=0)\n"
        "fit(m, data, loss_function('ce'), torch.optim.SGD(m.parameters(), lr=0.1), steps=1, batch_size=16)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    with pytest.raises(UserError, match="not differentiable"):
        AdamW(nn.Linear(2, 2).parameters(), differentiable=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_predictions_are_argmax_with_ties_nans_and_strided_layouts(dtype):
    g = torch.Generator().manual_seed(0)
    values = torch.randint(0, 3, (6, 10, 500), generator=g).to(dtype)  # many tied maxima
    values[0, 3, 5] = values[1, :, 7] = math.nan
    values[2, :4, 9] = math.inf
    values[3, 4, 11] = -math.inf
    values[4] = torch.randn(10, 500, generator=g, dtype=dtype)
    for x in (values, values.transpose(1, 2), values.permute(2, 0, 1)):
        for dim in (0, 1, -1):
            assert torch.equal(predictions(x, dim), x.argmax(dim))
    logits = values.transpose(1, 2)
    assert torch.equal(predictions(logits), logits.argmax(-1))
    labels = logits[..., 0].long().clamp(0, 9)
    assert accuracy(logits, labels) == (logits.argmax(-1) == labels).float().mean().item()
