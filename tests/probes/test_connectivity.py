"""Oracle tests for the interpolation barrier: both definitions on curves with known barriers, the path
against explicitly interpolated model copies, and BatchNorm statistics recomputed at each point against
batch moments computed by hand."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from phenomena.errors import UserError
from phenomena.probes.connectivity import barrier_heights, interpolation_barrier

DT = torch.float64


def err(outputs, targets):
    return (outputs.argmax(-1) != targets).double().mean()


def data(n=30, seed=0, d=4):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=DT), torch.randint(0, 3, (n,), generator=g)


def mlp(seed, bn=False):
    layers = [nn.Linear(4, 8)] + ([nn.BatchNorm1d(8)] if bn else []) + [nn.ReLU(), nn.Linear(8, 3)]
    model = nn.Sequential(*layers).to(DT)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=DT))
        if bn:
            model[1].running_mean.normal_(0, 1, generator=g)
            model[1].running_var.uniform_(0.5, 2, generator=g)
    return model


@pytest.mark.parametrize(
    "values, frankle, entezari",
    [
        ([0.0, 1.0, 2.0], 1.0, 0.0),  # on the chord: Frankle's counts the endpoint gap, Entezari's does not
        ([1.0, 3.0, 1.0], 2.0, 2.0),  # equal endpoints: the two agree
        ([0.0, 0.1, 1.0], 0.5, 0.0),  # convex path: Entezari's is 0
        ([2.0, 0.5, 1.0, 0.0], 1.0, 1 / 3),  # chord at t = 2/3 is 2/3: excess 1/3 there
    ],
)
def test_barrier_definitions_closed_form(values, frankle, entezari):
    b, be = barrier_heights(np.linspace(0, 1, len(values)), np.asarray(values))
    assert b == pytest.approx(frankle, abs=1e-12) and be == pytest.approx(entezari, abs=1e-12)


def test_path_matches_explicit_interpolated_models():
    a, b = mlp(0), mlp(1)
    x, y = data()
    res = interpolation_barrier(a, b, F.cross_entropy, [(x[:10], y[:10]), (x[10:], y[10:])], 5, metric_fn=err)
    assert not res.bn_reset
    for t, loss, metric in zip(res.alphas, res.loss, res.metric, strict=True):
        m = copy.deepcopy(a)
        m.load_state_dict({n: (1 - t) * a.state_dict()[n] + t * b.state_dict()[n] for n in a.state_dict()})
        assert loss == pytest.approx(F.cross_entropy(m(x), y).item(), rel=1e-12)
        assert metric == pytest.approx(err(m(x), y).item(), abs=1e-12)
    chord = (1 - res.alphas) * res.loss[0] + res.alphas * res.loss[-1]
    assert res.barrier == pytest.approx(res.loss.max() - (res.loss[0] + res.loss[-1]) / 2, rel=1e-12)
    assert res.barrier_entezari == pytest.approx((res.loss - chord).max(), rel=1e-12)
    assert res.barrier > 0.1  # two random nets: a real barrier, so the checks above are not about zeros
    same = interpolation_barrier(a, copy.deepcopy(a), F.cross_entropy, (x, y), 4)
    assert np.allclose(same.loss, same.loss[0], rtol=1e-12) and abs(same.barrier) < 1e-12


def test_batchnorm_statistics_recomputed_at_each_point():
    a, b = mlp(0, bn=True), mlp(1, bn=True)
    a_state = {n: t.clone() for n, t in a.state_dict().items()}
    x, y = data(40)
    xr, _ = data(24, seed=5)
    reset = [(xr[:8], None), (xr[8:], None)]  # two batches of different sizes: statistics are batch averages
    res = interpolation_barrier(a, b, F.cross_entropy, (x, y), 5, reset_bn=reset)
    assert res.bn_reset
    sa, sb = a.state_dict(), b.state_dict()
    for t, loss in zip(res.alphas, res.loss, strict=True):
        p = {n: (1 - t) * sa[n] + t * sb[n] for n in sa if not n.startswith("1.r") and "num" not in n}
        pre = [xb @ p["0.weight"].T + p["0.bias"] for xb in (xr[:8], xr[8:])]
        mean = sum(z.mean(0) for z in pre) / 2
        var = sum(z.var(0, unbiased=True) for z in pre) / 2
        z = x @ p["0.weight"].T + p["0.bias"]
        h = torch.relu((z - mean) / torch.sqrt(var + 1e-5) * p["1.weight"] + p["1.bias"])
        out = h @ p["3.weight"].T + p["3.bias"]
        assert loss == pytest.approx(F.cross_entropy(out, y).item(), rel=1e-10)
    # the user's models are untouched, including BatchNorm buffers and train mode
    assert a.training and all(torch.equal(a.state_dict()[n], a_state[n]) for n in a_state)
    # default: statistics from the evaluation batches themselves; False: interpolated statistics
    own = interpolation_barrier(a, b, F.cross_entropy, (x, y), 5)
    kept = interpolation_barrier(a.eval(), b, F.cross_entropy, (x, y), 5, reset_bn=False)
    assert own.bn_reset and not kept.bn_reset
    assert not np.allclose(own.loss[2], kept.loss[2])
    assert not np.allclose(own.loss[2], res.loss[2])


def test_bad_inputs():
    x, y = data()
    with pytest.raises(UserError, match="no BatchNorm"):
        interpolation_barrier(mlp(0), mlp(1), F.cross_entropy, (x, y), reset_bn=[(x, y)])
    with pytest.raises(UserError, match="architecture"):
        interpolation_barrier(mlp(0, bn=True), mlp(1), F.cross_entropy, (x, y))
    with pytest.raises(UserError, match="points"):
        interpolation_barrier(mlp(0), mlp(1), F.cross_entropy, (x, y), points=1)
