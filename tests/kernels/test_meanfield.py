"""kernels.meanfield: fixed points, chi_1, depth scales and the edge of chaos, against scipy quadrature, finite
differences, closed forms for relu, and random deep tanh networks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from phenomena.errors import UserError
from phenomena.kernels import meanfield as mf
from phenomena.kernels.activations import resolve_activation
from phenomena.kernels.dual import dual, dual_diag

F64 = torch.float64


def gauss(f):
    """E[f(z)], z ~ N(0, 1), by adaptive scipy quadrature (independent of the package's rules)."""

    def dens(z):
        return f(z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    return integrate.quad(dens, -np.inf, 0, epsabs=1e-14)[0] + integrate.quad(dens, 0, np.inf, epsabs=1e-14)[0]


def scipy_q_star(wv, bv, phi, iters=400):
    q = 1.0
    for _ in range(iters):
        q = wv * gauss(lambda z, q=q: phi(math.sqrt(q) * z) ** 2) + bv
    return q


@pytest.mark.parametrize(
    "name, wv, bv", [("tanh", 1.5, 0.05), ("tanh", 2.5, 0.05), ("erf", 3.0, 0.1), ("sin", 2.0, 0.2)]
)
def test_q_star_is_a_fixed_point_of_the_q_map(name, wv, bv):
    q = mf.q_star(name, wv, bv)
    assert q > 0 and abs(mf.q_map(q, name, wv, bv) - q) < 1e-12 * max(1.0, q)


def test_q_map_and_chi1_match_scipy_quadrature():
    wv, bv = 1.8, 0.1
    want_q = wv * gauss(lambda z: math.tanh(math.sqrt(0.7) * z) ** 2) + bv
    assert abs(mf.q_map(0.7, "tanh", wv, bv) - want_q) < 1e-12
    want_chi = wv * gauss(lambda z: (1 - math.tanh(math.sqrt(0.7) * z) ** 2) ** 2)
    assert abs(mf.chi1("tanh", wv, bv, q=0.7) - want_chi) < 1e-12


def test_relu_closed_forms():
    # q = (s/2) q + b has q* = b / (1 - s/2); chi_1 = s/2 whatever q; xi_c = -1/ln(s/2) in the ordered phase.
    s, b = 1.2, 0.3
    assert abs(mf.q_star("relu", s, b) - b / (1 - s / 2)) < 1e-12
    assert abs(mf.chi1("relu", s, b) - s / 2) < 1e-15
    xi_q, xi_c = mf.depth_scales("relu", s, b)
    assert abs(xi_c + 1 / math.log(s / 2)) < 1e-9 and abs(xi_q + 1 / math.log(s / 2)) < 1e-9
    assert mf.edge_of_chaos("relu") == 2.0
    assert abs(mf.edge_of_chaos("leaky_relu") - 2 / (1 + 0.01**2)) < 1e-14
    with pytest.raises(UserError, match="diverges"):
        mf.q_star("relu", 2.2, 0.1)


@pytest.mark.parametrize("name, bv", [("tanh", 0.05), ("erf", 0.05), ("sin", 0.1)])
def test_chi1_is_one_at_the_edge_of_chaos(name, bv):
    wv = mf.edge_of_chaos(name, bv)
    assert abs(mf.chi1(name, wv, bv) - 1) < 1e-9
    # Independently: q* by iterating a scipy-quadrature q-map, then chi_1 by scipy quadrature.
    phi, dphi = {
        "tanh": (math.tanh, lambda x: 1 - math.tanh(x) ** 2),
        "erf": (math.erf, lambda x: 2 / math.sqrt(math.pi) * math.exp(-x * x)),
        "sin": (math.sin, math.cos),
    }[name]
    q = scipy_q_star(wv, bv, phi)
    assert abs(wv * gauss(lambda z: dphi(math.sqrt(q) * z) ** 2) - 1) < 1e-6


def test_tanh_edge_of_chaos_reference_values():
    # sigma_b^2 = 0: q* = 0 up to sigma_w^2 = 1 and chi_1 = sigma_w^2 tanh'(0)^2, so the edge is at 1;
    # sigma_b^2 = 0.05 gives ~1.76 (Schoenholz et al. 2017, Fig. 1).
    assert mf.q_star("tanh", 0.9) == 0.0 and abs(mf.chi1("tanh", 0.9) - 0.9) < 1e-13
    assert mf.q_star("tanh", 1.1) > 0 and mf.chi1("tanh", 1.1) > 1
    assert abs(mf.edge_of_chaos("tanh", 0.05) - 1.76) < 0.005


def test_c_star_phases_and_fixed_point():
    assert mf.c_star("tanh", 1.2, 0.05) == 1.0  # ordered
    c = mf.c_star("tanh", 2.5, 0.05)
    assert 0 < c < 1 and abs(mf.c_map(c, "tanh", 2.5, 0.05) - c) < 1e-11
    assert abs(mf.c_map(1.0, "tanh", 2.5, 0.05) - 1.0) < 1e-12
    assert mf.c_star("tanh", 2.5, 0.0) == 0.0  # odd activation, no bias: c* = 0 exactly
    assert mf.signal_propagation("tanh", 2.5, 0.05).phase == "chaotic"
    assert mf.signal_propagation("tanh", 1.2, 0.05).phase == "ordered"
    assert mf.signal_propagation("relu", 2.0).phase == "critical"


def test_depth_scales_are_log_slopes_by_finite_differences():
    wv, bv, h = 2.5, 0.05, 1e-5
    q = mf.q_star("tanh", wv, bv)
    c = mf.c_star("tanh", wv, bv)
    slope_q = (mf.q_map(q + h, "tanh", wv, bv) - mf.q_map(q - h, "tanh", wv, bv)) / (2 * h)
    slope_c = (mf.c_map(c + h, "tanh", wv, bv, q) - mf.c_map(c - h, "tanh", wv, bv, q)) / (2 * h)
    xi_q, xi_c = mf.depth_scales("tanh", wv, bv)
    assert abs(xi_q + 1 / math.log(slope_q)) < 1e-5 * xi_q
    assert abs(xi_c + 1 / math.log(slope_c)) < 1e-5 * xi_c
    # Ordered phase: c* = 1 and xi_c = -1/ln chi_1.
    xi_c_ordered = mf.depth_scales("tanh", 1.2, 0.05)[1]
    assert abs(xi_c_ordered + 1 / math.log(mf.chi1("tanh", 1.2, 0.05))) < 1e-12


def simulate_tanh_net(wv, bv, c0, width, depth, draws, g):
    """q^l, c^l of two inputs through random tanh nets, W ~ N(0, wv/width), b ~ N(0, bv); inputs at q^1 = q*."""
    q = mf.q_star("tanh", wv, bv)
    r2, cross = (q - bv) / wv, (c0 * q - bv) / wv  # |x|^2/d and x_a.x_b/d giving q^1 = q*, c^1 = c0
    cos = cross / r2
    x = torch.zeros(width, 2)
    x[0, 0], x[0, 1], x[1, 1] = math.sqrt(r2 * width), math.sqrt(r2 * width) * cos, math.sqrt(r2 * width * (1 - cos**2))
    sw, sb = math.sqrt(wv / width), math.sqrt(bv)
    # float32 sampling: 5x faster, and averages over 1000 units are far above float32 rounding.
    h = sw * torch.randn(draws, width, width, generator=g) @ x + sb * torch.randn(draws, width, 1, generator=g)
    qs, cs = [], []
    for layer in range(depth):
        qa, qb = (h * h).mean(1).unbind(-1)
        qs.append(torch.stack([qa, qb], -1))
        cs.append((h[..., 0] * h[..., 1]).mean(1) / (qa * qb).sqrt())
        if layer < depth - 1:
            h = sw * torch.randn(draws, width, width, generator=g) @ torch.tanh(h)
            h = h + sb * torch.randn(draws, width, 1, generator=g)
    return q, torch.stack(qs).double(), torch.stack(cs).double()  # (L, D, 2), (L, D)


@pytest.mark.parametrize("wv", [1.2, 2.5])  # ordered (chi_1 ~ 0.84) and chaotic (chi_1 ~ 1.13)
def test_random_deep_tanh_nets_follow_the_maps(wv):
    bv, c0, depth, draws = 0.05, 0.6, 20, 6
    g = torch.Generator().manual_seed(30)
    q, qs, cs = simulate_tanh_net(wv, bv, c0, 1000, depth, draws, g)
    theory = [c0]
    for _ in range(depth - 1):
        theory.append(mf.c_map(theory[-1], "tanh", wv, bv, q))
    theory = torch.tensor(theory, dtype=F64)
    # Trajectories: per layer, the mean over draws is within 4 standard errors of q* and of the iterated c-map.
    q_mean, q_se = qs.mean((1, 2)), qs.mean(2).std(1) / math.sqrt(draws)
    c_mean, c_se = cs.mean(1), cs.std(1) / math.sqrt(draws)
    assert bool(((q_mean - q).abs() <= 4 * q_se).all()) and float((q_mean / q - 1).abs().max()) < 0.05
    assert bool(((c_mean - theory).abs() <= 4 * c_se + 1e-4).all()), (c_mean, theory)
    # One step of the maps from the measured statistics: residuals average to zero (no accumulated noise).
    act = resolve_activation("tanh")
    qa, qb, c = qs[:-1, :, 0], qs[:-1, :, 1], cs[:-1]
    next_qa = wv * dual_diag(act, qa)[0] + bv
    next_qb = wv * dual_diag(act, qb)[0] + bv
    next_c = (wv * dual(act, qa, qb, c * (qa * qb).sqrt())[0] + bv) / (next_qa * next_qb).sqrt()
    rq = torch.cat([(qs[1:, :, 0] / next_qa - 1).reshape(-1), (qs[1:, :, 1] / next_qb - 1).reshape(-1)])
    rc = (cs[1:] - next_c).reshape(-1)
    for r in (rq, rc):
        assert abs(float(r.mean())) <= 4 * float(r.std()) / math.sqrt(len(r))
    assert float(rq.abs().mean()) < 0.05  # about sqrt(2/width) = 4.5% per single measurement


def test_bad_inputs_raise_user_errors():
    with pytest.raises(UserError, match="weight_var"):
        mf.q_star("tanh", -1.0)
    with pytest.raises(UserError, match="correlation"):
        mf.c_map(1.5, "tanh", 1.0, 0.1)
    with pytest.raises(UserError, match="unknown activation"):
        mf.chi1("nope", 1.0)
    with pytest.raises(UserError, match="q must be"):
        mf.q_map(-1.0, "tanh", 1.0)


def test_c_star_at_the_computed_edge_of_chaos_is_one():
    # rounding can leave chi_1 a hair above 1 at the root found by edge_of_chaos; c* must then be ~1, not an error
    for act in ("erf", "tanh"):
        sw = mf.edge_of_chaos(act, bias_var=0.05)
        assert 1.0 - mf.c_star(act, sw, 0.05) <= 1e-4
    assert mf.c_star("tanh", 2.5, 0.05) < 0.9  # deep in the chaotic phase the root is still found
