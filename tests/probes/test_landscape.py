"""Oracle tests for loss slices and interpolation: filter normalization against its definition, slices
against losses of explicitly perturbed model copies, the slice's curvature against the exact Hessian, and
interpolation endpoints against the models' own losses."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from phenomena.errors import UserError
from phenomena.probes.landscape import interpolate, loss_slice, normalize_direction, random_direction

DT = torch.float64


def init_(model, seed, scale=0.8):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(12, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def mlp(seed=0, bn=False):
    layers = [nn.Linear(3, 4)] + ([nn.BatchNorm1d(4)] if bn else []) + [nn.Tanh(), nn.Linear(4, 2)]
    return init_(nn.Sequential(*layers).to(DT), seed)


def data(n=20, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=DT), torch.randint(0, 2, (n,), generator=g)


def dataset_loss(model, x, y):
    with torch.no_grad():
        return float(F.cross_entropy(model(x), y))


def accuracy(out, y):
    return (out.argmax(dim=1) == y).to(DT).mean()


@pytest.mark.parametrize("normalization", ["filter", "layer", None])
def test_random_direction_follows_the_definition(normalization):
    model = init_(ConvNet().to(DT), 0)
    weights = dict(model.named_parameters())
    d = random_direction(model, normalization, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # the documented draw: randn per parameter, named_parameters order
    raw = {n: torch.randn(p.shape, generator=g).to(DT) for n, p in weights.items()}
    for n, w in weights.items():
        if w.ndim == 1:  # biases and BN affine parameters are ignored
            assert torch.equal(d[n], torch.zeros_like(w))
        elif normalization is None:
            assert torch.equal(d[n], raw[n])
        elif normalization == "layer":
            assert torch.allclose(d[n], raw[n] * w.norm() / raw[n].norm(), rtol=1e-14)
        else:
            for j in range(w.shape[0]):  # each output filter: a row of fc.weight, an out-channel of conv.weight
                assert torch.allclose(d[n][j], raw[n][j] * w[j].norm() / raw[n][j].norm(), rtol=1e-14)
                assert float(d[n][j].norm()) == pytest.approx(float(w[j].norm()), rel=1e-12)


def test_one_dimensional_parameters_are_normalized_as_a_whole_when_not_ignored():
    w = {"bias": torch.tensor([3.0, -4.0], dtype=DT), "weight": torch.zeros(2, 2, dtype=DT)}
    raw = {"bias": torch.tensor([1.0, 1.0], dtype=DT), "weight": torch.ones(2, 2, dtype=DT)}
    d = normalize_direction(raw, w, "filter", ignore=None)
    assert torch.allclose(d["bias"], torch.full((2,), 5 / math.sqrt(2), dtype=DT))  # not element-wise
    assert torch.equal(d["weight"], torch.zeros(2, 2, dtype=DT))  # a zero filter of the weights gives zero


def test_slice_values_equal_losses_of_explicitly_perturbed_copies():
    model, (x, y) = mlp(), data()
    g = torch.Generator().manual_seed(0)
    d1 = {n: torch.randn(p.shape, generator=g, dtype=DT) for n, p in model.named_parameters()}
    d2 = {n: torch.randn(p.shape, generator=g, dtype=DT) for n, p in model.named_parameters()}
    s1 = loss_slice(model, F.cross_entropy, (x, y), [d1], normalization=None, ignore=None, points=5, metric_fn=accuracy)
    s2 = loss_slice(
        model, F.cross_entropy, (x, y), [d1, d2], normalization=None, ignore=None, points=3, span=(-0.5, 1.0)
    )
    assert s1.loss.shape == (5,) and s1.betas is None and s2.loss.shape == (3, 3)

    def moved(a, b=0.0):
        m = copy.deepcopy(model)
        with torch.no_grad():
            for n, p in m.named_parameters():
                p += a * d1[n] + b * d2[n]
        return m

    for i, a in enumerate(s1.alphas):
        assert s1.loss[i] == pytest.approx(dataset_loss(moved(a), x, y), abs=1e-13)
        assert s1.metric[i] == pytest.approx(float(accuracy(moved(a)(x), y)), abs=1e-13)
    for i, a in enumerate(s2.alphas):
        for j, b in enumerate(s2.betas):
            assert s2.loss[i, j] == pytest.approx(dataset_loss(moved(a, b), x, y), abs=1e-13)
    assert s1.loss[2] == pytest.approx(dataset_loss(model, x, y), abs=1e-14)  # the centre is the model itself


def test_slice_curvature_at_the_centre_is_the_hessian_quadratic_form():
    model, (x, y) = mlp(), data()
    s = loss_slice(
        model,
        F.cross_entropy,
        (x, y),
        normalization="filter",
        span=(-1e-3, 1e-3),
        points=3,
        generator=torch.Generator().manual_seed(0),
    )
    names = [n for n, _ in model.named_parameters()]
    d = torch.cat([s.directions[0][n].reshape(-1) for n in names])
    params = {n: p.detach() for n, p in model.named_parameters()}
    flat0 = torch.cat([params[n].reshape(-1) for n in names])

    def f(flat):
        parts = torch.split(flat, [params[n].numel() for n in names])
        st = {n: t.view(params[n].shape) for n, t in zip(names, parts, strict=True)}
        return F.cross_entropy(functional_call(model, st, (x,)), y)

    H = torch.autograd.functional.hessian(f, flat0)
    second = (s.loss[0] - 2 * s.loss[1] + s.loss[2]) / 1e-6  # central difference, error O(h^2) ~ 1e-6
    assert second == pytest.approx(float(d @ H @ d), rel=1e-4)


def test_filter_normalized_slice_is_invariant_to_rescaling_a_filter_feeding_batchnorm():
    # BN in training mode: scaling row j of the first Linear (and its bias) by c > 0 leaves the
    # network's function unchanged, and a filter-normalized direction scales with it (Li et al. 2018, Sec. 4).
    base = mlp(bn=True)
    base[1].eps = 1e-30  # so the normalization is exactly scale-free
    scaled = copy.deepcopy(base)
    with torch.no_grad():
        scaled[0].weight[1] *= 7.0
        scaled[0].bias[1] *= 7.0
    x, y = data()
    kw = dict(points=5, span=(-1.0, 1.0))
    a = loss_slice(base, F.cross_entropy, (x, y), generator=torch.Generator().manual_seed(0), **kw)
    b = loss_slice(scaled, F.cross_entropy, (x, y), generator=torch.Generator().manual_seed(0), **kw)
    assert np.allclose(a.loss, b.loss, rtol=1e-10)
    c = loss_slice(
        scaled,
        F.cross_entropy,
        (x, y),
        normalization="layer",
        generator=torch.Generator().manual_seed(0),
        **kw,
    )
    d = loss_slice(
        base, F.cross_entropy, (x, y), normalization="layer", generator=torch.Generator().manual_seed(0), **kw
    )
    assert not np.allclose(c.loss, d.loss, rtol=1e-3)  # layer normalization is not invariant


def test_interpolation_endpoints_and_midpoint_with_interpolated_buffers():
    a, b = mlp(0, bn=True), mlp(1, bn=True)
    x, y = data()
    for m, seed in ((a, 5), (b, 6)):  # distinct running statistics, then evaluation mode
        g = torch.Generator().manual_seed(seed)
        m[1].running_mean.copy_(torch.randn(4, generator=g, dtype=DT))
        m[1].running_var.copy_(torch.rand(4, generator=g, dtype=DT) + 0.5)
        m.eval()
    path = interpolate(a, b, F.cross_entropy, (x, y), points=5, metric_fn=accuracy)
    assert path.loss[0] == pytest.approx(dataset_loss(a, x, y), abs=1e-14)
    assert path.loss[-1] == pytest.approx(dataset_loss(b, x, y), abs=1e-14)
    assert path.metric[-1] == pytest.approx(float(accuracy(b(x), y)), abs=1e-14)
    mid = copy.deepcopy(a)
    sb = b.state_dict()
    with torch.no_grad():
        for n, t in mid.state_dict().items():
            if t.is_floating_point():
                t.copy_(0.5 * t + 0.5 * sb[n])
    assert path.loss[2] == pytest.approx(dataset_loss(mid, x, y), abs=1e-14)


def test_several_batches_equal_one_batch_and_models_are_untouched():
    a, b = mlp(0, bn=True), mlp(1, bn=True)  # training mode: BN would update running stats if run directly
    x, y = data(21)
    parts = [(x[:5], y[:5]), (x[5:], y[5:])]
    before = [copy.deepcopy(m.state_dict()) for m in (a, b)]
    a.eval()  # whole-dataset and batched losses agree only with fixed BN statistics
    kw = dict(directions=2, points=3, metric_fn=accuracy)
    s1 = loss_slice(a, F.cross_entropy, (x, y), generator=torch.Generator().manual_seed(0), **kw)
    s2 = loss_slice(a, F.cross_entropy, parts, generator=torch.Generator().manual_seed(0), **kw)
    assert np.allclose(s1.loss, s2.loss, rtol=0, atol=1e-14) and np.allclose(s1.metric, s2.metric, atol=1e-14)
    p1 = interpolate(a, b, F.cross_entropy, (x, y), points=3)
    p2 = interpolate(a, b, F.cross_entropy, parts, points=3)
    assert np.allclose(p1.loss, p2.loss, rtol=0, atol=1e-14)
    a.train()
    loss_slice(a, F.cross_entropy, (x, y), points=3, generator=torch.Generator().manual_seed(0))
    interpolate(a, b, F.cross_entropy, (x, y), points=3)
    for m, sd in zip((a, b), before, strict=True):
        assert all(torch.equal(sd[k], v) for k, v in m.state_dict().items())


def test_bad_inputs_raise_user_errors():
    model, (x, y) = mlp(), data()
    for kwargs in [
        dict(directions=3),
        dict(normalization="model"),
        dict(points=1),
        dict(span=(1, -1)),
        dict(ignore="bn"),
        dict(directions=[{"nope": torch.zeros(1)}]),
        dict(directions="two"),
    ]:
        with pytest.raises(UserError):
            loss_slice(model, F.cross_entropy, (x, y), **kwargs)
    other = init_(nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).to(DT), 0)
    with pytest.raises(UserError, match="architecture"):
        interpolate(model, other, F.cross_entropy, (x, y))
    with pytest.raises(UserError, match="dropout"):
        loss_slice(nn.Sequential(model, nn.Dropout(0.5)), F.cross_entropy, (x, y))
    with pytest.raises(UserError, match="metric_fn"):
        interpolate(model, model, F.cross_entropy, (x, y), metric_fn=lambda o, t: o.argmax(1) == t)
