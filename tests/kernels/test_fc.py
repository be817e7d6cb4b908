"""kernels.fc: golden values, exact identities, and consistency of batching, symmetry and diagonal paths."""

from __future__ import annotations

import math

import pytest
import torch

from phenomena.errors import UserError
from phenomena.kernels import fc

F64 = torch.float64
S3 = math.sqrt(3.0)
# anchors-tools.md section 4.4: Sigma0_11 = Sigma0_22 = 1, Sigma0_12 = 0.6 (d0 = 3).
X_GOLD = torch.tensor([[S3, 0.0, 0.0], [0.6 * S3, 0.8 * S3, 0.0]], dtype=F64)


@pytest.mark.parametrize(
    "act, depth, wv, bstd, nngp12, ntk12, nngp11",
    [
        ("relu", 1, 2.0, 0.0, 1.355095, 2.200894, 2.000000),
        ("relu", 3, 2.0, 0.0, 1.550625, 3.904573, 2.000000),
        ("relu", 2, 1.0, 0.1, 0.200572, 0.411361, 0.267500),
        ("erf", 1, 1.0, 0.0, 0.261980, 0.539823, 0.464559),
        ("erf", 2, 2.25, 0.1, 0.594775, 1.886196, 1.191917),
    ],
)
def test_golden_values(act, depth, wv, bstd, nngp12, ntk12, nngp11):
    nngp, ntk = fc(X_GOLD, depth=depth, activation=act, weight_std=math.sqrt(wv), bias_std=bstd)
    assert abs(float(nngp[0, 1]) - nngp12) < 1e-6
    assert abs(float(ntk[0, 1]) - ntk12) < 1e-6
    assert abs(float(nngp[0, 0]) - nngp11) < 1e-6


def test_relu_worked_example_by_hand():
    # anchors-tools.md section 4.4, ReLU L = 1, written out step by step.
    theta = math.acos(0.6)
    sigma = (math.sin(theta) + (math.pi - theta) * 0.6) / math.pi  # E[relu relu] at K = 2 * Sigma0
    k2 = 2 * sigma
    ntk = k2 + 2 * (1.2 * (math.pi - theta) / (2 * math.pi))
    nngp, theta_ = fc(X_GOLD, depth=1, weight_std=math.sqrt(2))
    assert abs(float(nngp[0, 1]) - k2) < 1e-13 and abs(float(theta_[0, 1]) - ntk) < 1e-13


@pytest.mark.parametrize("depth", [0, 1, 3, 6])
def test_relu_critical_ntk_diagonal_is_2_L_plus_1(depth):
    # sigma_w^2 = 2, no bias, |x|^2 = d0 (Sigma0_ii = 1): K^l_ii = 2 at every layer, and each layer adds
    # K + 2 * (1/2) * Theta_prev, so Theta^{L+1}_ii = 2 (L + 1).
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 7, generator=g, dtype=F64)
    x = x / x.norm(dim=1, keepdim=True) * math.sqrt(7)
    nngp, ntk = fc(x, depth=depth, weight_std=math.sqrt(2), bias_std=None)
    torch.testing.assert_close(nngp.diagonal(), torch.full((5,), 2.0, dtype=F64), rtol=1e-14, atol=0)
    torch.testing.assert_close(ntk.diagonal(), torch.full((5,), 2.0 * (depth + 1), dtype=F64), rtol=1e-14, atol=0)


def test_depth_zero_is_the_linear_model():
    g = torch.Generator().manual_seed(2)
    x1, x2 = torch.randn(4, 5, generator=g, dtype=F64), torch.randn(3, 5, generator=g, dtype=F64)
    nngp, ntk = fc(x1, x2, depth=0, weight_std=1.3, bias_std=0.2)
    want = 1.69 * x1 @ x2.T / 5 + 0.04
    torch.testing.assert_close(nngp, want, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(ntk, want, rtol=1e-14, atol=1e-14)


def test_identity_activation_is_a_deep_linear_network():
    # phi = id: K^{l+1} = s K^l + b, Theta^{l+1} = K^{l+1} + s Theta^l (s = sigma_w^2, b = sigma_b^2).
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 6, generator=g, dtype=F64)
    s, b = 1.2, 0.3
    k = s * x @ x.T / 6 + b
    theta = k.clone()
    for _ in range(3):
        k = s * k + b
        theta = k + s * theta
    nngp, ntk = fc(x, depth=3, activation="identity", weight_std=math.sqrt(s), bias_std=math.sqrt(b))
    torch.testing.assert_close(nngp, k, rtol=1e-13, atol=0)
    torch.testing.assert_close(ntk, theta, rtol=1e-13, atol=0)


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
def test_blocks_symmetry_and_diagonal_agree(act):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(23, 4, generator=g, dtype=F64)
    kw = dict(depth=2, activation=act, weight_std=1.4, bias_std=0.1)
    full = fc(x, **kw)
    small = fc(x, batch_size=5, **kw)
    cross = fc(x, x, batch_size=7, **kw)
    diag = fc(x, diagonal=True, **kw)
    # Closed forms are blockwise-exact; the series picks its degree per block, within its 1e-10 tolerance.
    atol = 1e-13 if act != "tanh" else 1e-9
    for a, b, c, d in zip(full, small, cross, diag, strict=True):
        assert torch.equal(a, a.T)  # the x2=None path mirrors exactly
        torch.testing.assert_close(b, a, rtol=0, atol=atol)
        torch.testing.assert_close(c, a, rtol=0, atol=1e-9)
        torch.testing.assert_close(d, a.diagonal(), rtol=0, atol=0)


def test_callable_activation_matches_named_one():
    g = torch.Generator().manual_seed(5)
    x1, x2 = torch.randn(6, 3, generator=g, dtype=F64), torch.randn(5, 3, generator=g, dtype=F64)
    kw = dict(depth=2, weight_std=1.2, bias_std=0.3)
    for name, fn in (("relu", torch.relu), ("erf", torch.erf), ("tanh", lambda v: torch.tanh(v))):
        for a, b in zip(fc(x1, x2, activation=name, **kw), fc(x1, x2, activation=fn, **kw), strict=True):
            torch.testing.assert_close(b, a, rtol=0, atol=1e-9)


def test_standard_parameterization_nngp_equals_ntk_parameterization():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(5, 4, generator=g, dtype=F64)
    kw = dict(depth=2, activation="erf", weight_std=1.5, bias_std=0.2)
    nngp_n, ntk_n = fc(x, **kw)
    nngp_s, ntk_s = fc(x, parameterization="standard", widths=[64, 32], **kw)
    torch.testing.assert_close(nngp_s, nngp_n, rtol=1e-14, atol=0)
    # The standard NTK at depth 0 is x.x' + 1 (one bias): check the recursion's first layer exactly.
    _, ntk0 = fc(x, depth=0, parameterization="standard", widths=[], weight_std=1.5, bias_std=0.2)
    torch.testing.assert_close(ntk0, x @ x.T + 1, rtol=1e-14, atol=1e-14)
    assert float(ntk_s.diagonal().min()) > 10 * float(ntk_n.diagonal().max())  # grows with the widths


def test_float32_input_and_dtype_argument():
    x = X_GOLD.to(torch.float32)
    nngp, _ = fc(x, weight_std=math.sqrt(2))
    assert nngp.dtype == F64 and abs(float(nngp[0, 1]) - 1.355095) < 1e-6
    nngp32, _ = fc(x, weight_std=math.sqrt(2), dtype=torch.float32)
    assert nngp32.dtype == torch.float32 and abs(float(nngp32[0, 1]) - 1.355095) < 1e-5


def test_images_are_flattened():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 2, 4, 4, generator=g, dtype=F64)
    for a, b in zip(fc(x, depth=2), fc(x.reshape(3, -1), depth=2), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(depth=-1), "depth"),
        (dict(depth=1.5), "depth"),
        (dict(activation="swishy"), "unknown activation"),
        (dict(parameterization="mup"), "parameterization"),
        (dict(parameterization="standard"), "widths"),
        (dict(parameterization="standard", widths=[3, 4]), "widths"),
        (dict(weight_std=-1.0), "weight_std"),
        (dict(bias_std=float("nan")), "bias_std"),
        (dict(negative_slope=0.1), "negative_slope"),
        (dict(dtype=torch.int64), "dtype"),
    ],
)
def test_bad_arguments_raise_user_errors(kwargs, match):
    with pytest.raises(UserError, match=match):
        fc(X_GOLD, **kwargs)


def test_bad_inputs_raise_user_errors():
    with pytest.raises(UserError, match="shape"):
        fc(torch.ones(3, dtype=F64))
    with pytest.raises(UserError, match="same number of features"):
        fc(X_GOLD, torch.ones(2, 4, dtype=F64))
    with pytest.raises(UserError, match="x2=None"):
        fc(X_GOLD, X_GOLD, diagonal=True)
    with pytest.raises(UserError, match="NaN"):
        fc(torch.tensor([[1.0, float("nan")]]))


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
def test_zero_input_gives_finite_kernels(act):
    # A zero input has zero pre-activation variance without bias: rho is 0/0 there, filled as neural-tangents does.
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0], [-1.0, 0.5]], dtype=F64)
    for param in ("ntk", "standard"):
        nngp, ntk = fc(x, depth=2, activation=act, bias_std=0.0, parameterization=param, widths=[4, 4])
        assert bool(torch.isfinite(nngp).all() and torch.isfinite(ntk).all())
        assert float(nngp[0].abs().max()) == 0.0  # phi(0) = 0 for all three: the zero input stays at zero
