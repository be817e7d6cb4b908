"""Implicit sparsity: the interpolants against independent oracles (min-ℓ1 by enumerating supports, min-ℓ2 by the
normal equations, Q_α by quadrature, the Q_α interpolant by solving its dual for λ with a root finder, by a
tiny-step gradient flow on the diagonal network and by the primal problem solved by SLSQP), the smoke pipeline,
both controls failing their checks on measured values, and quick on a held-out seed (slow)."""

import itertools
import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import minimize, root

from phenomena.analysis.interpolants import min_l1_interpolant, min_l2_interpolant, q_interpolant, q_potential
from phenomena.catalog.implicit_sparsity import ENTRY
from phenomena.errors import UserError


def _tiny(seed: int, n: int = 3, d: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal(n)


@pytest.mark.parametrize("seed", range(5))
def test_min_l1_is_the_cheapest_basic_solution_found_by_enumerating_supports(seed):
    x, y = _tiny(seed)
    best = math.inf
    for support in itertools.combinations(range(x.shape[1]), x.shape[0]):  # an LP optimum sits on a vertex
        sub = x[:, support]
        if abs(np.linalg.det(sub)) > 1e-10:
            best = min(best, np.abs(np.linalg.solve(sub, y)).sum())
    beta = min_l1_interpolant(x, y)
    assert np.abs(beta).sum() == pytest.approx(best, rel=1e-9)
    assert np.allclose(x @ beta, y, atol=1e-9)
    assert (np.abs(beta) > 1e-9).sum() <= x.shape[0]


def test_min_l2_solves_the_normal_equations_of_the_row_space():
    x, y = _tiny(0, n=4, d=9)
    expected = x.T @ np.linalg.solve(x @ x.T, y)  # β = Xᵀ(XXᵀ)⁻¹y
    assert np.allclose(min_l2_interpolant(x, y), expected, atol=1e-12)


def test_interpolants_reject_mismatched_shapes():
    with pytest.raises(UserError, match="shape"):
        min_l1_interpolant(np.ones((2, 3)), np.ones(3))


@pytest.mark.parametrize("alpha", [1e-3, 0.3, 1.0, 20.0])
def test_q_potential_is_the_integral_of_arcsinh_over_two_alpha_squared(alpha):
    beta = np.array([-1.3, 0.02, 0.7, 4.0])
    a2 = alpha**2

    def integral(b: float) -> float:  # split where arcsinh(s/2α²) bends, so that quad sees both pieces
        bend = math.copysign(min(abs(b), 50 * a2), b)
        f = lambda s: math.asinh(s / (2 * a2))  # noqa: E731
        return quad(f, 0, bend, epsabs=1e-14, epsrel=1e-13)[0] + quad(f, bend, b, epsabs=1e-14, epsrel=1e-13)[0]

    by_quadrature = sum(integral(b) for b in beta)
    assert q_potential(beta, alpha) == pytest.approx(by_quadrature, rel=1e-8)


def test_q_potential_is_quadratic_at_large_alpha_and_l1_like_at_small_alpha():
    beta = np.array([1e-3, -2e-3])
    assert q_potential(beta, 1.0) == pytest.approx((beta @ beta) / 4, rel=1e-6)  # no cancellation at z ~ 1e-3
    assert q_potential(np.array([1e-9]), 1.0) == pytest.approx(1e-18 / 4, rel=1e-9)
    big = np.array([1.0, -2.0, 0.5])
    alpha = 1e-6
    ratio = q_potential(big, alpha) / (np.log(1 / alpha**2) * np.abs(big).sum())
    assert ratio == pytest.approx(1, abs=0.05)  # Q_α ≈ ln(1/α²)‖β‖₁ (+ O(‖β‖₁))


def _dual_root(x, y, a2, lam0):
    """The KKT form β = 2α² sinh(Xᵀλ): λ from a root finder on X·2α² sinh(Xᵀλ) = y."""
    done = root(
        lambda lam: x @ (2 * a2 * np.sinh(x.T @ lam)) - y,
        lam0,
        jac=lambda lam: (x * (2 * a2 * np.cosh(x.T @ lam))) @ x.T,
        method="hybr",
        options={"xtol": 1e-12},
    )
    residual = x @ (2 * a2 * np.sinh(x.T @ done.x)) - y
    assert np.linalg.norm(residual) < 1e-10 * np.linalg.norm(y), done.message
    return done.x


def _three_sparse(seed: int, n: int, d: int, spread: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Gaussian (n, d) design, targets of a ±1 truth on three coordinates, and per-coordinate init scales
    log-uniform over ``spread`` decades."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    truth = np.zeros(d)
    truth[rng.choice(d, 3, replace=False)] = [1.0, -1.0, 1.0]
    return x, x @ truth, 10 ** (spread * (rng.random(d) - 0.5))


@pytest.mark.parametrize("spread", [0.0, 1.0])
def test_q_interpolant_matches_the_dual_solved_by_a_root_finder(spread):
    x, y, scales = _three_sparse(4, 10, 25, spread)
    lam = np.zeros(len(y))
    for alpha in [10.0, 1.0, 0.3, 0.1, 0.03, 0.01]:  # continuation: each λ starts the next (smaller) α
        a2 = (alpha * scales) ** 2
        lam = _dual_root(x, y, a2, lam)
        oracle = 2 * a2 * np.sinh(x.T @ lam)
        beta = q_interpolant(x, y, alpha * scales)
        assert np.linalg.norm(beta - oracle) <= 1e-6 * np.linalg.norm(oracle), alpha


def _primal_slsqp(x, y, a2, start):
    """The primal problem as it reads, min Q_α(β) subject to Xβ = y, by SLSQP with the exact gradient."""
    scale = float(np.mean(np.log1p(1 / a2)))  # Q_α is O(ln(1/α²)‖β‖₁) at small α: keep ftol meaningful
    done = minimize(
        lambda b: (q_potential(b, np.sqrt(a2)) / scale, np.arcsinh(b / (2 * a2)) / scale),
        start,
        jac=True,
        method="SLSQP",
        constraints=[{"type": "eq", "fun": lambda b: x @ b - y, "jac": lambda b: x}],
        options={"ftol": 1e-14, "maxiter": 2000},
    )
    assert done.success, done.message
    return done.x


@pytest.mark.parametrize("spread", [0.0, 2.0])
def test_q_interpolant_matches_the_primal_solved_by_slsqp_from_a_cold_or_a_warm_start(spread):
    x, y, scales = _three_sparse(6, 15, 40, spread)
    previous = None
    for alpha in [1e-3, 1e-2, 0.1, 1.0, 10.0]:
        a2 = (alpha * scales) ** 2
        start = min_l1_interpolant(x, y) if alpha < 1 else min_l2_interpolant(x, y)
        oracle = _primal_slsqp(x, y, a2, start)
        cold = q_interpolant(x, y, alpha * scales)
        warm = q_interpolant(x, y, alpha * scales, start=previous)
        assert np.linalg.norm(x @ cold - y) <= 1e-12 * max(np.linalg.norm(y), 1.0)
        assert np.linalg.norm(cold - oracle) <= 1e-5 * np.linalg.norm(oracle), alpha
        assert np.linalg.norm(warm - cold) <= 1e-9 * np.linalg.norm(cold), alpha
        previous = cold


def test_q_interpolant_tends_to_min_l1_at_small_alpha_and_min_l2_at_large_alpha():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((12, 30))
    truth = np.zeros(30)
    truth[[0, 7]] = [1.0, -1.0]
    y = x @ truth
    l1, l2 = min_l1_interpolant(x, y), min_l2_interpolant(x, y)
    assert np.linalg.norm(l1 - truth) < 1e-9  # exact recovery here
    assert np.linalg.norm(q_interpolant(x, y, 1e-4) - l1) < 1e-2 * np.linalg.norm(l1)
    assert np.linalg.norm(q_interpolant(x, y, 1e2) - l2) < 1e-5 * np.linalg.norm(l2)


def test_q_interpolant_is_the_limit_of_tiny_step_gradient_descent_on_the_diagonal_network():
    x, y = _tiny(2, n=3, d=6)
    alpha, eta = 0.2, 2e-3
    u = np.full(6, alpha)
    v = u.copy()
    for _ in range(400_000):
        grad = x.T @ (x @ (u * u - v * v) - y) / len(y)
        u, v = u * (1 - 2 * eta * grad), v * (1 + 2 * eta * grad)
        if np.abs(x @ (u * u - v * v) - y).max() < 1e-11:
            break
    gd = u * u - v * v
    beta = q_interpolant(x, y, alpha)
    assert np.abs(x @ gd - y).max() < 1e-10
    assert np.linalg.norm(gd - beta) < 1e-3 * np.linalg.norm(beta)  # the step's O(η) bias (measured 1.6e-5)
    for other in (min_l1_interpolant(x, y), min_l2_interpolant(x, y)):  # α = 0.2 is between the regimes here
        assert np.linalg.norm(other - beta) > 0.03 * np.linalg.norm(beta)


def _checks(res: dict) -> dict:
    return {c["name"]: c for c in res["verdict"]["checks"]}


def test_smoke_through_the_cli_sweeps_from_sparse_to_min_l2(cli_json):
    res = cli_json("run", "implicit-sparsity", "-p", "smoke")
    s = res["summary"]
    assert s["truth_error_small_alpha"] < 0.02 and s["l2_distance_large_alpha"] < 1e-3
    assert s["l1_distance_large_alpha"] > 0.3 and s["theory_error_max"] < 0.02
    assert len(res["verdict"]["checks"]) == 5
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("control", ENTRY.controls, ids=lambda c: c.name)
def test_each_control_fails_its_checks_on_measured_values(cli_json, control):
    overrides = [f"{k}={v}" for k, v in control.overrides.items()]
    res = cli_json("run", "implicit-sparsity", "-p", "smoke", *[a for o in overrides for a in ("-s", o)])
    checks = _checks(res)
    for prefix in control.must_fail:
        (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
        assert isinstance(check["value"], float) and math.isfinite(check["value"]) and not check["passed"], check
    if control.overrides.get("model.init_spread"):
        # the kernel regime is still there, with the init's norm: min Σβᵢ²/aᵢ², not min-ℓ2
        assert res["summary"]["kernel_distance_large_alpha"] < 1e-2
        assert _checks(res)[next(n for n in checks if n.startswith("GD reaches the Q_α"))]["passed"]


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "implicit-sparsity", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
