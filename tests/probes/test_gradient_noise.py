"""Oracle tests for the gradient noise scale: least squares, where the per-example gradients are known in closed
form. On a finite data set g_i = 2 r_i x_i (squared error, r_i the residual) gives G and tr(Σ) by hand; for a
Gaussian population x ~ N(0, I_d), y = w*·x + σε at w = w* + δ, Isserlis' theorem gives G = 2δ and
Σ = 4[(|δ|² + σ²) I + δδᵀ], so B_simple = (d(|δ|² + σ²) + |δ|²) / |δ|²."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from phenomena.errors import UserError
from phenomena.probes.gradient_noise import (
    NoiseScaleAccumulator,
    gradient_noise_scale,
    gradient_noise_scale_exact,
)

DT = torch.float64


def linear(d, seed=0, bias=True):
    g = torch.Generator().manual_seed(seed)
    net = nn.Linear(d, 1, bias=bias).to(DT)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=DT))
    return net


def dataset(n, d, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=DT)
    return x, (x @ torch.randn(d, 1, generator=g, dtype=DT) + 0.5 * torch.randn(n, 1, generator=g, dtype=DT))


def by_hand(net, x, y, bias=True):
    """G and tr(Σ) (divisor N) from the per-example gradients of (w·x + b − y)², written out in NumPy."""
    w = net.weight.detach().numpy().ravel()
    b = float(net.bias.detach()) if bias else 0.0
    xs, ys = x.numpy(), y.numpy().ravel()
    r = xs @ w + b - ys
    feats = np.hstack([xs, np.ones((len(xs), 1))]) if bias else xs
    g = 2 * r[:, None] * feats
    mean = g.mean(0)
    return float(mean @ mean), float(((g - mean) ** 2).sum(1).mean())


def population(d, delta2, sigma2):
    """|G|², tr(Σ) and B_simple of the Gaussian least-squares population (module docstring)."""
    g2, trace = 4 * delta2, 4 * (d * (delta2 + sigma2) + delta2)
    return g2, trace, trace / g2


@pytest.mark.parametrize("bias", [True, False])
def test_exact_variant_matches_hand_computed_per_example_gradients(bias):
    x, y = dataset(60, 4)
    net = linear(4, bias=bias)
    g2, trace = by_hand(net, x, y, bias)
    batches = [(x[:25], y[:25]), (x[25:], y[25:])]  # pooled over batches exactly
    ns = gradient_noise_scale_exact(net, F.mse_loss, batches)
    assert ns.n == 60
    assert ns.grad_sq == pytest.approx(g2, rel=1e-12)
    assert ns.trace_sigma == pytest.approx(trace, rel=1e-12)
    assert ns.b_simple == pytest.approx(trace / g2, rel=1e-12)


def test_exact_variant_params_filter_drops_the_bias_gradient():
    x, y = dataset(40, 3)
    net = linear(3)
    w = net.weight.detach().numpy().ravel()
    r = x.numpy() @ w + float(net.bias.detach()) - y.numpy().ravel()
    g = 2 * r[:, None] * x.numpy()
    ns = gradient_noise_scale_exact(net, F.mse_loss, (x, y), params="weight")
    assert ns.trace_sigma == pytest.approx(float(((g - g.mean(0)) ** 2).sum(1).mean()), rel=1e-12)


def test_exact_variant_on_a_large_gaussian_sample_approaches_the_population_closed_form():
    d, n, sigma = 5, 100_000, 0.7
    g = torch.Generator().manual_seed(3)
    w_star = torch.randn(d, 1, generator=g, dtype=DT)
    x = torch.randn(n, d, generator=g, dtype=DT)
    y = x @ w_star + sigma * torch.randn(n, 1, generator=g, dtype=DT)
    net = linear(d, seed=4, bias=False)
    delta2 = float(((net.weight.detach().T - w_star) ** 2).sum())
    g2, trace, b = population(d, delta2, sigma**2)
    ns = gradient_noise_scale_exact(
        net, F.mse_loss, [(x[i : i + 25_000], y[i : i + 25_000]) for i in range(0, n, 25_000)]
    )
    assert ns.grad_sq == pytest.approx(g2, rel=0.03)
    assert ns.trace_sigma == pytest.approx(trace, rel=0.03)
    assert ns.b_simple == pytest.approx(b, rel=0.05)


def test_accumulator_converges_to_the_population_noise_scale():
    """Fresh Gaussian batches every step (the estimators' own setting): the ratio of the averaged estimators
    matches the closed form within 4 of its standard errors, while single-step |G|² estimates go negative."""
    d, sigma2, bs, bb, steps = 6, 0.25, 4, 32, 20_000
    rng = np.random.default_rng(0)
    delta = rng.normal(size=d) * 0.4
    g2, trace, b = population(d, float(delta @ delta), sigma2)
    x = rng.normal(size=(steps, bb, d))
    r = x @ delta - math.sqrt(sigma2) * rng.normal(size=(steps, bb))
    grads = 2 * r[..., None] * x  # (steps, bb, d) per-example gradients
    g_small, g_big = grads[:, :bs].mean(1), grads.mean(1)
    sq_small, sq_big = (g_small**2).sum(1), (g_big**2).sum(1)
    acc = NoiseScaleAccumulator(bs, bb)
    for s, l in zip(sq_small, sq_big, strict=True):
        acc.update(float(s), float(l))
    ns = acc.result()
    assert ns.n == steps == len(acc)
    assert abs(ns.grad_sq - g2) < 4 * ns.grad_sq_stderr
    assert abs(ns.trace_sigma - trace) < 4 * ns.trace_sigma_stderr
    assert abs(ns.b_simple - b) < 4 * ns.b_simple_stderr
    assert ns.b_simple_stderr < 0.05 * b  # the test has power: 4 SE is a 20 % window at most
    assert ((bb * sq_big - bs * sq_small) / (bb - bs) < 0).mean() > 0.05  # why the averages are taken first


def test_accumulator_standard_error_matches_the_spread_over_replicas():
    """The delta-method stderr of B_simple equals the standard deviation of B_simple over independent runs."""
    d, bs, bb, steps, reps = 4, 2, 16, 300, 300
    rng = np.random.default_rng(1)
    delta = np.full(d, 0.5)
    x = rng.normal(size=(reps, steps, bb, d))
    grads = 2 * ((x @ delta) - 0.5 * rng.normal(size=(reps, steps, bb)))[..., None] * x
    sq_small, sq_big = (grads[:, :, :bs].mean(2) ** 2).sum(-1), (grads.mean(2) ** 2).sum(-1)
    results = []
    for s_run, b_run in zip(sq_small, sq_big, strict=True):
        acc = NoiseScaleAccumulator(bs, bb)
        for s, l in zip(s_run, b_run, strict=True):
            acc.update(s, l)
        results.append(acc.result())
    spread = np.std([r.b_simple for r in results], ddof=1)
    stderr = np.median([r.b_simple_stderr for r in results])
    assert stderr == pytest.approx(spread, rel=0.2)
    assert np.std([r.grad_sq for r in results], ddof=1) == pytest.approx(
        np.median([r.grad_sq_stderr for r in results]), rel=0.2
    )


def test_accumulator_from_gradients_equals_from_norms():
    gen = torch.Generator().manual_seed(0)
    a = [torch.randn(3, 2, generator=gen), None, torch.randn(4, generator=gen)]
    b = [torch.randn(3, 2, generator=gen), None, torch.randn(4, generator=gen)]
    one, two = NoiseScaleAccumulator(2, 8), NoiseScaleAccumulator(2, 8)
    one.update_gradients(a, b)
    two.update(
        sum(float((t.double() ** 2).sum()) for t in a if t is not None),
        torch.cat([b[0].ravel(), b[2]]).double().pow(2).sum(),
    )
    r1, r2 = one.result(), two.result()
    assert (r1.grad_sq, r1.trace_sigma, r1.b_simple) == (r2.grad_sq, r2.trace_sigma, r2.b_simple)
    one.reset()
    assert len(one) == 0


def test_accumulator_hand_computed_two_steps():
    acc = NoiseScaleAccumulator(b_small=8, b_big=64)
    acc.update(2.5, 1.1)
    acc.update(2.1, 0.9)
    g2 = ((64 * 1.1 - 8 * 2.5) / 56 + (64 * 0.9 - 8 * 2.1) / 56) / 2
    s = ((2.5 - 1.1) / (1 / 8 - 1 / 64) + (2.1 - 0.9) / (1 / 8 - 1 / 64)) / 2
    ns = acc.result()
    assert (ns.grad_sq, ns.trace_sigma) == pytest.approx((g2, s), rel=1e-14)
    assert ns.b_simple == pytest.approx(s / g2, rel=1e-14)
    single = NoiseScaleAccumulator(1, 2)
    single.update(1.0, 2.0)  # |G|² estimate 3, tr(Σ) estimate −2: one step, no stderr
    assert math.isnan(single.result().grad_sq_stderr)
    noisy = NoiseScaleAccumulator(1, 2)
    noisy.update(4.0, 1.0)  # |G|² estimate −2: the ratio is unmeasured, not negative
    assert math.isnan(noisy.result().b_simple)


@pytest.mark.parametrize("replacement", [True, False])
def test_two_batch_probe_is_unbiased_for_the_exact_noise_scale(replacement):
    """Sampling with replacement makes both estimators exactly unbiased for the divisor-N covariance; without
    replacement (N large against b_big) the bias -tr(Σ)/(N-1) of |G|² is far below the tolerance."""
    x, y = dataset(2000 if not replacement else 300, 3)
    net = linear(3, seed=2)
    before = [p.detach().clone() for p in net.parameters()]
    exact = gradient_noise_scale_exact(net, F.mse_loss, (x, y))
    ns = gradient_noise_scale(
        net,
        F.mse_loss,
        (x, y),
        b_small=2,
        b_big=16,
        n_steps=1000,
        replacement=replacement,
        generator=torch.Generator().manual_seed(5),
    )
    assert ns.n == 1000
    assert abs(ns.grad_sq - exact.grad_sq) < 4 * ns.grad_sq_stderr
    assert abs(ns.trace_sigma - exact.trace_sigma) < 4 * ns.trace_sigma_stderr
    assert abs(ns.b_simple - exact.b_simple) < 4 * ns.b_simple_stderr
    assert ns.b_simple_stderr < 0.15 * exact.b_simple
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters(), strict=True))


def test_bad_input_is_a_user_error():
    x, y = dataset(10, 2)
    net = linear(2)
    with pytest.raises(UserError, match="smaller than b_big"):
        NoiseScaleAccumulator(8, 8)
    with pytest.raises(UserError, match="b_small must be a positive integer"):
        NoiseScaleAccumulator(0, 8)
    with pytest.raises(UserError, match="non-negative"):
        NoiseScaleAccumulator(1, 2).update(-1.0, 1.0)
    with pytest.raises(UserError, match="no steps"):
        NoiseScaleAccumulator(1, 2).result()
    with pytest.raises(UserError, match="iterable of tensors"):
        NoiseScaleAccumulator(1, 2).update_gradients(3, [torch.ones(2)])
    with pytest.raises(UserError, match="n_steps"):
        gradient_noise_scale(net, F.mse_loss, (x, y), 1, 4, n_steps=0)
    with pytest.raises(UserError, match="data must be one"):
        gradient_noise_scale(net, F.mse_loss, [(x, y)], 1, 4)
    with pytest.raises(UserError, match="same number"):
        gradient_noise_scale(net, F.mse_loss, (x, y[:5]), 1, 4)
    with pytest.raises(UserError, match="cannot exceed"):
        gradient_noise_scale(net, F.mse_loss, (x, y), 1, 40, replacement=False)
    with pytest.raises(UserError, match="dropout"):
        gradient_noise_scale_exact(nn.Sequential(net, nn.Dropout(0.5)), F.mse_loss, (x, y))
    with pytest.raises(UserError, match="BatchNorm"):
        gradient_noise_scale(nn.Sequential(net, nn.BatchNorm1d(1).to(DT)), F.mse_loss, (x, y), 1, 4)
