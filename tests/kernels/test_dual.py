"""Dual kernels: closed forms, the Hermite series, the 2-D polar rule and the 1-D rule checked against each other
and against an independent high-order Gauss-Hermite product rule (numpy, Cholesky coordinates)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from phenomena.errors import UserError
from phenomena.kernels.activations import resolve_activation
from phenomena.kernels.dual import dual
from phenomena.kernels.quadrature import expect_1d, polar_expect

F64 = torch.float64

# (k11, k22, k12): positive, negative, near-one and exactly-one correlations, unequal variances.
PAIRS = [(1.0, 1.0, 0.6), (2.0, 0.5, -0.9), (1.0, 1.0, 1.0), (1.5, 0.7, 0.3), (0.8, 0.8, 0.7999)]

NUMPY_FNS = {
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sin": (np.sin, np.cos),
    "softplus": (lambda x: np.logaddexp(0, x), lambda x: 1 / (1 + np.exp(-x))),
    "erf": (
        lambda x: np.vectorize(math.erf)(x),
        lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x),
    ),
}


def gauss_hermite_2d(f, df, k11, k22, k12, n=160):
    """E[f(u) f(v)], E[f'(u) f'(v)] by a product Gauss-Hermite rule: u = s1 z1, v = s2 (rho z1 + sqrt(1-rho^2) z2)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / math.sqrt(2 * math.pi)
    s1, s2 = math.sqrt(k11), math.sqrt(k22)
    rho = k12 / (s1 * s2)
    u = s1 * z[:, None] + 0 * z[None, :]
    v = s2 * (rho * z[:, None] + math.sqrt(max(0.0, 1 - rho * rho)) * z[None, :])
    ww = w[:, None] * w[None, :]
    return float((ww * f(u) * f(v)).sum()), float((ww * df(u) * df(v)).sum())


def tensors(pairs):
    a, b, c = zip(*pairs, strict=True)
    return (torch.tensor(v, dtype=F64) for v in (a, b, c))


@pytest.mark.parametrize("name", ["relu", "abs", "leaky_relu", "erf", "identity"])
def test_closed_forms_match_polar_quadrature(name):
    # The polar rule is exact for positively homogeneous activations; for erf it converges spectrally.
    act = resolve_activation(name, 0.2 if name == "leaky_relu" else None)
    k11, k22, k12 = tensors(PAIRS)
    closed = act.dual(k11, k22, k12)
    quad = polar_expect(act, k11, k22, k12)
    for c, q in zip(closed, quad, strict=True):
        torch.testing.assert_close(q, c, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["relu", "abs", "erf"])
def test_closed_forms_match_series_of_a_callable(name):
    # A plain callable has no closed form, so `dual` goes through the Hermite series (with its fallback).
    fn = {"relu": torch.relu, "abs": torch.abs, "erf": torch.erf}[name]
    k11, k22, k12 = tensors(PAIRS)
    closed = resolve_activation(name).dual(k11, k22, k12)
    numeric = dual(fn, k11, k22, k12)
    for c, q in zip(closed, numeric, strict=True):
        torch.testing.assert_close(q, c, rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", ["tanh", "sin", "softplus", "erf"])
def test_numerical_duals_match_independent_gauss_hermite(name):
    f, df = NUMPY_FNS[name]
    act = resolve_activation(torch.erf if name == "erf" else name)
    pairs = [p for p in PAIRS if p[2] < math.sqrt(p[0] * p[1])]  # GH in Cholesky form needs rho < 1
    k11, k22, k12 = tensors(pairs)
    want = torch.tensor([gauss_hermite_2d(f, df, *p) for p in pairs], dtype=F64)
    for method in ("auto", "series", "quadrature"):
        sig, dot = dual(act, k11, k22, k12, method=method)
        torch.testing.assert_close(sig, want[:, 0], rtol=0, atol=1e-8, msg=f"{method} sigma")
        torch.testing.assert_close(dot, want[:, 1], rtol=0, atol=1e-8, msg=f"{method} sigma_dot")


def test_series_is_accurate_far_beyond_its_bound_check_on_random_pairs():
    # Random PSD pairs at moderate variance: the series alone must agree with the 2-D rule.
    g = torch.Generator().manual_seed(0)
    k11 = 0.2 + 2 * torch.rand(40, generator=g, dtype=F64)
    k22 = 0.2 + 2 * torch.rand(40, generator=g, dtype=F64)
    rho = 2 * torch.rand(40, generator=g, dtype=F64) - 1
    k12 = 0.95 * rho * (k11 * k22).sqrt()
    for name in ("tanh", "gelu", "silu"):
        a = dual(name, k11, k22, k12, method="series")
        b = dual(name, k11, k22, k12, method="quadrature")
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=1e-9)


def test_price_theorem_links_the_two_duals():
    # d/dk12 E[phi(u) phi(v)] = E[phi'(u) phi'(v)] (Price 1958): a check of the derivative dual by autograd.
    k12 = torch.tensor([0.3, -0.5], dtype=F64, requires_grad=True)
    one = torch.ones(2, dtype=F64)
    for name in ("relu", "erf", "leaky_relu"):
        act = resolve_activation(name, 0.1 if name == "leaky_relu" else None)
        sig, dot = act.dual(one, one, k12)
        (grad,) = torch.autograd.grad(sig.sum(), k12)
        torch.testing.assert_close(grad, dot.detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "gelu", "silu", "softplus", "elu", "selu", "sin", "cos"])
def test_named_derivatives_match_autograd(name):
    act = resolve_activation(name)
    x = torch.linspace(-4, 4, 101, dtype=F64)
    x = x[x != 0]
    _, d = act.value_and_derivative(x)
    _, d_auto = resolve_activation(act.fn).value_and_derivative(x)
    torch.testing.assert_close(d, d_auto, rtol=1e-12, atol=1e-12)


def test_one_dimensional_rule_matches_scipy_quad():
    from scipy import integrate

    v = torch.tensor([0.3, 1.0, 4.0], dtype=F64)

    def elu(x):
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))

    for name, f in (("tanh", np.tanh), ("abs", np.abs), ("elu", elu)):
        got = expect_1d(resolve_activation(name), v)[0]
        for vi, gi in zip(v.tolist(), got.tolist(), strict=True):

            def dens(z, vi=vi, f=f):
                return f(math.sqrt(vi) * z) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

            ref = integrate.quad(dens, -np.inf, 0, epsabs=1e-14)[0] + integrate.quad(dens, 0, np.inf, epsabs=1e-14)[0]
            assert abs(gi - ref) < 1e-11


def test_relu_diagonal_is_half_the_variance():
    e, d = expect_1d(resolve_activation(torch.relu), torch.tensor([0.0, 0.5, 3.0], dtype=F64))
    torch.testing.assert_close(e, torch.tensor([0.0, 0.25, 1.5], dtype=F64), rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(d[1:], torch.full((2,), 0.5, dtype=F64), rtol=0, atol=1e-14)


def test_bad_inputs_raise_user_errors():
    one = torch.ones(1, dtype=F64)
    with pytest.raises(UserError, match="unknown activation"):
        dual("swishy", one, one, one)
    with pytest.raises(UserError, match="unknown method"):
        dual("relu", one, one, one, method="exact")
    with pytest.raises(UserError, match="no closed-form"):
        dual("tanh", one, one, one, method="closed")
    with pytest.raises(UserError, match="negative_slope"):
        dual("relu", one, one, one, negative_slope=0.1)
    with pytest.raises(UserError, match="elementwise"):
        dual(lambda x: x.sum(-1), one, one, 0.5 * one)
