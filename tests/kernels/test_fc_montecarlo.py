"""kernels.fc against finite random networks: Monte Carlo NNGP and the empirical NTK of wide nets (torch.func)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import jacrev

from phenomena.kernels import fc

F64 = torch.float64
S3 = math.sqrt(3.0)
X = torch.tensor([[S3, 0.0, 0.0], [0.6 * S3, 0.8 * S3, 0.0], [-0.5, 1.0, 2.0]], dtype=F64)
ACTS = {"relu": torch.relu, "erf": torch.erf, "tanh": torch.tanh, "gelu": torch.nn.functional.gelu}
WS, BS = 1.5, 0.2


def sampled_output_covariance(x, depth, act, width, draws, g, literal=True):
    """Per-draw E[f(x) f(x') | hidden layers] of NTK-parameterized random nets, shape (draws, P, P).

    The readout weights are integrated out exactly (sigma_w^2 phi.phi'/width + sigma_b^2), which removes their
    noise without changing the mean. With ``literal=False`` each hidden layer after the first is drawn from its
    exact conditional law: given the previous layer's outputs a (width x P), the P pre-activations of each unit are
    iid N(0, sigma_w^2 a^T a / width + sigma_b^2), which is the law of W a sigma_w/sqrt(width) + sigma_b b with
    W, b ~ N(0, 1); it costs O(width P^2) instead of O(width^2 P).
    """
    d, p = x.shape[1], x.shape[0]
    w1 = torch.randn(draws, width, d, generator=g, dtype=F64)
    h = WS / math.sqrt(d) * w1 @ x.T + BS * torch.randn(draws, width, 1, generator=g, dtype=F64)
    for _ in range(depth - 1):
        a = act(h)
        if literal:
            w = torch.randn(draws, width, width, generator=g, dtype=F64)
            h = WS / math.sqrt(width) * w @ a + BS * torch.randn(draws, width, 1, generator=g, dtype=F64)
        else:
            chol = torch.linalg.cholesky(WS**2 * a.transpose(1, 2) @ a / width + BS**2)
            h = torch.randn(draws, width, p, generator=g, dtype=F64) @ chol.transpose(1, 2)
    a = act(h)
    return WS**2 * a.transpose(1, 2) @ a / width + BS**2


def assert_within_standard_errors(per_draw, want, width):
    mean = per_draw.mean(0)
    se = per_draw.std(0) / math.sqrt(per_draw.shape[0])
    # 5 standard errors, plus the O(1/width) finite-width bias of hidden layers beyond the first.
    tol = 5 * se + 2.0 / width * want.abs().max()
    assert bool(((mean - want).abs() <= tol).all()), f"MC {mean} vs analytic {want} (se {se})"


@pytest.mark.parametrize("name", ["relu", "erf", "tanh", "gelu"])
def test_nngp_matches_monte_carlo_over_literal_one_hidden_layer_nets(name):
    # With one hidden layer the output covariance of a finite net equals the NNGP exactly: no width bias.
    g = torch.Generator().manual_seed(10)
    per_draw = sampled_output_covariance(X, 1, ACTS[name], 2048, 200, g)
    nngp, _ = fc(X, depth=1, activation=name, weight_std=WS, bias_std=BS)
    assert_within_standard_errors(per_draw, nngp, math.inf)


def test_nngp_matches_monte_carlo_over_literal_two_hidden_layer_nets():
    g = torch.Generator().manual_seed(11)
    per_draw = sampled_output_covariance(X, 2, torch.tanh, 512, 24, g)
    nngp, _ = fc(X, depth=2, activation="tanh", weight_std=WS, bias_std=BS)
    assert_within_standard_errors(per_draw, nngp, 512)


@pytest.mark.parametrize("name", ["relu", "erf", "tanh"])
def test_nngp_matches_monte_carlo_over_deep_wide_nets(name):
    g = torch.Generator().manual_seed(12)
    per_draw = sampled_output_covariance(X, 3, ACTS[name], 2048, 300, g, literal=False)
    nngp, _ = fc(X, depth=3, activation=name, weight_std=WS, bias_std=BS)
    assert_within_standard_errors(per_draw, nngp, 2048)


def init_params(widths, g, parameterization):
    params = {}
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=False)):
        w_scale, b_scale = (1.0, 1.0) if parameterization == "ntk" else (WS / math.sqrt(n_in), BS)
        params[f"w{i}"] = w_scale * torch.randn(n_out, n_in, generator=g, dtype=F64)
        params[f"b{i}"] = b_scale * torch.randn(n_out, generator=g, dtype=F64)
    return params


def forward(params, x, act, parameterization):
    layers = len(params) // 2
    h = x
    for i in range(layers):
        w, b = params[f"w{i}"], params[f"b{i}"]
        h = WS / math.sqrt(w.shape[1]) * h @ w.T + BS * b if parameterization == "ntk" else h @ w.T + b
        if i < layers - 1:
            h = act(h)
    return h[:, 0]


def empirical_ntk(params, x, act, parameterization):
    """Theta(x, x') = sum over all parameters of df(x)/dp df(x')/dp, from explicit Jacobians."""
    jac = jacrev(forward)(params, x, act, parameterization)
    j = torch.cat([v.reshape(x.shape[0], -1) for v in jac.values()], dim=1)
    return j @ j.T


def mean_relative_error(name, depth, width, seeds, parameterization, g):
    _, ntk = fc(
        X,
        depth=depth,
        activation=name,
        weight_std=WS,
        bias_std=BS,
        parameterization=parameterization,
        widths=[width] * depth,
    )
    errs = []
    for _ in range(seeds):
        params = init_params([X.shape[1]] + [width] * depth + [1], g, parameterization)
        errs.append(float((empirical_ntk(params, X, ACTS[name], parameterization) - ntk).norm() / ntk.norm()))
    return sum(errs) / len(errs)


@pytest.mark.parametrize("name", ["relu", "erf"])
def test_empirical_ntk_error_falls_as_one_over_sqrt_width(name):
    # One hidden layer, widths 256..16384: fluctuations of the eNTK scale as width^(-1/2) (Jacot et al. 2018).
    g = torch.Generator().manual_seed(13)
    widths = [256, 1024, 4096, 16384]
    errs = [mean_relative_error(name, 1, w, 6, "ntk", g) for w in widths]
    lw, le = torch.log(torch.tensor(widths, dtype=F64)), torch.log(torch.tensor(errs, dtype=F64))
    slope = float(((lw - lw.mean()) * (le - le.mean())).sum() / ((lw - lw.mean()) ** 2).sum())
    assert -0.75 < slope < -0.3, (slope, errs)
    assert errs[-1] < 0.03, errs


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_empirical_ntk_of_two_hidden_layer_nets_approaches_analytic(name, parameterization):
    # The standard-parameterization NTK grows with width, so the analytic kernel takes the same finite widths.
    g = torch.Generator().manual_seed(14)
    narrow = mean_relative_error(name, 2, 64, 4, parameterization, g)
    wide = mean_relative_error(name, 2, 1024, 4, parameterization, g)
    assert wide < 0.5 * narrow and wide < 0.15, (narrow, wide)
