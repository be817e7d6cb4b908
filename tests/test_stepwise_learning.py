"""Stepwise learning: the closed-form mode dynamics of a two-layer linear network against a numerical solution of
its ODE and against gradient descent on the full matrices (aligned and random small init), the task's
construction, the smoke pipeline, the large-init control failing the plateau and order checks, and quick on a
held-out seed (slow)."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from phenomena.analysis.deep_linear import (
    aligned_init,
    effective_initial_strength,
    half_learning_time,
    mode_strength,
    mode_strengths,
)
from phenomena.catalog.stepwise_learning import ENTRY, Config, crossing, make_task
from phenomena.errors import UserError
from phenomena.result import Verdict
from phenomena.runner.verify import control_failed


def _orthonormal(rng, n, k):
    q, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return q


def _gd(w1, w2, sigma, lr, steps):
    """Plain GD on ½‖Σ_yx − W₂W₁‖²_F (the whitened-input loss up to a constant), gradients written out by hand;
    returns the maps W₂W₁ after each step (0 included)."""
    maps = [w2 @ w1]
    for _ in range(steps):
        err = sigma - w2 @ w1
        w1, w2 = w1 + lr * w2.T @ err, w2 + lr * err @ w1.T
        maps.append(w2 @ w1)
    return np.array(maps)


@pytest.mark.parametrize(("s", "a0"), [(3.0, 1e-4), (0.5, 1e-3), (1.0, 0.3), (1.0, 2.5)])
def test_the_closed_form_solves_the_logistic_ode(s, a0):
    tau = 7.0
    t = np.linspace(0, 40 * tau / (2 * s), 200)
    ode = solve_ivp(lambda _, a: 2 * a * (s - a) / tau, (0, t[-1]), [a0], t_eval=t, rtol=1e-11, atol=1e-14)
    assert np.allclose(mode_strength(t, s, a0, tau), ode.y[0], rtol=1e-7, atol=1e-12 * s)


def test_half_learning_time_is_where_the_ode_solution_crosses_half_s():
    s, a0, tau = 2.0, 1e-5, 50.0
    event = lambda _, a: a[0] - s / 2  # noqa: E731
    ode = solve_ivp(lambda _, a: 2 * a * (s - a) / tau, (0, 1e4), [a0], events=event, rtol=1e-12, atol=1e-16)
    assert half_learning_time(s, a0, tau) == pytest.approx(ode.t_events[0][0], rel=1e-8)
    assert half_learning_time(s, a0, tau) == pytest.approx(
        brentq(lambda t: mode_strength(t, s, a0, tau) - s / 2, 0, 1e4)
    )
    with pytest.raises(UserError):
        half_learning_time(s, 1.5 * s, tau)


def test_gradient_descent_from_an_aligned_init_follows_the_closed_form_with_tau_one_over_lr():
    rng = np.random.default_rng(0)
    s = np.array([2.0, 1.0, 0.5])
    u, v = _orthonormal(rng, 6, 3), _orthonormal(rng, 5, 3)
    w1, w2 = aligned_init(u, v, 1e-4, 8, rng)
    lr, steps = 0.001, 16_000  # ηs ≤ 0.002: the discrete steps follow the flow to ~0.1%
    maps = _gd(w1, w2, (u * s) @ v.T, lr, steps)
    a = np.einsum("toi,ok,ik->tk", maps, u, v)
    t = np.arange(steps + 1)
    for i, si in enumerate(s):
        theory = mode_strength(t, si, 1e-4, tau=1 / lr)
        assert np.abs(a[:, i] - theory).max() < 0.01 * si
        measured = crossing(t, a[:, i] / si, 0.5)
        assert measured == pytest.approx(half_learning_time(si, 1e-4, tau=1 / lr), rel=3e-3)
    # the modes stay decoupled: the map is U diag(a) Vᵀ throughout
    assert np.abs(maps[-1] - (u * a[-1]) @ v.T).max() < 1e-10


def test_a_small_random_init_follows_the_closed_form_with_the_effective_initial_strength():
    rng = np.random.default_rng(1)
    s = np.array([2.0, 0.8])
    u, v = _orthonormal(rng, 6, 2), _orthonormal(rng, 6, 2)
    hidden, std = 256, 1e-3 / 16
    w1, w2 = std * rng.standard_normal((hidden, 6)), std * rng.standard_normal((6, hidden))
    a0 = effective_initial_strength(w1, w2, u, v)
    lr, steps = 0.002, 12_000
    maps = _gd(w1, w2, (u * s) @ v.T, lr, steps)
    a = np.einsum("toi,ok,ik->tk", maps, u, v)
    t = np.arange(steps + 1)
    for i, si in enumerate(s):
        half = half_learning_time(si, a0[i], tau=1 / lr)
        assert crossing(t, a[:, i] / si, 0.5) == pytest.approx(half, rel=0.01)
        assert np.abs(a[:, i] - mode_strength(t, si, a0[i], tau=1 / lr)).max() < 0.03 * si
        # the raw initial projection u_iᵀW₂W₁v_i is not the right a₀: it is far smaller (and of either sign)
        assert abs(a[0, i]) < 0.5 * a0[i]


def test_effective_initial_strength_of_an_aligned_balanced_init_is_its_a0():
    rng = np.random.default_rng(2)
    u, v = _orthonormal(rng, 5, 3), _orthonormal(rng, 4, 3)
    w1, w2 = aligned_init(u, v, [1e-2, 2e-3, 3e-4], 6, rng)
    assert np.allclose(effective_initial_strength(w1, w2, u, v), [1e-2, 2e-3, 3e-4])
    assert np.allclose(w2 @ w1, (u * [1e-2, 2e-3, 3e-4]) @ v.T)
    assert np.allclose(w1 @ w1.T, w2.T @ w2)  # balanced


def test_mode_strengths_are_the_projections_u_i_w_v_i():
    rng = np.random.default_rng(3)
    u, v, w = _orthonormal(rng, 5, 3), _orthonormal(rng, 4, 3), rng.standard_normal((5, 4))
    assert np.allclose(mode_strengths(w, u, v), [u[:, i] @ w @ v[:, i] for i in range(3)])
    assert np.allclose(mode_strengths((u * [3.0, 2.0, 1.0]) @ v.T, u, v), [3.0, 2.0, 1.0])


def test_the_task_has_whitened_inputs_and_the_chosen_singular_values():
    cfg = Config()
    x, y, u, s, v = make_task(cfg, seed=5)
    assert np.allclose(x.T @ x / len(x), np.eye(cfg.data.n_in))
    assert np.allclose(s, cfg.data.singular_values)
    assert np.allclose(y.T @ x / len(x), (u * s) @ v.T)


def test_crossing_interpolates_and_says_when_it_cannot():
    steps = np.array([0, 10, 20])
    assert crossing(steps, np.array([0.0, 0.4, 0.8]), 0.6) == pytest.approx(15)
    assert crossing(steps, np.array([0.7, 0.8, 0.9]), 0.5) == 0
    assert math.isnan(crossing(steps, np.array([0.0, 0.1, 0.2]), 0.5))
    assert math.isnan(crossing(steps, np.array([0.0, math.nan, 0.9]), 0.5))


def test_smoke_through_the_cli_learns_the_modes_in_steps(cli_json):
    res = cli_json("run", "stepwise-learning", "-p", "smoke")
    s = res["summary"]
    assert res["verdict"]["passed"], res["verdict"]
    assert s["t_half_1"] < s["t_half_2"] < s["t_half_3"]
    for i in (1, 2, 3):
        assert s[f"t_half_{i}"] == pytest.approx(s[f"t_half_theory_{i}"], rel=0.03)
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_large_init_fails_the_plateau_and_order_checks(cli_json):
    (control,) = ENTRY.controls
    (key, value), *_ = control.overrides.items()
    res = cli_json("run", "stepwise-learning", "-p", "smoke", "-s", f"{key}={value}")
    judged = Verdict.from_dict(res["verdict"])
    assert control_failed(control, judged) == (True, ())  # as `phenomena verify` judges it
    named = [c for c in judged.checks if c.name.startswith(control.must_fail)]
    assert len(named) == 2 and all(math.isfinite(c.value) for c in named)  # failing on measured values, not nan
    assert res["summary"]["plateau_ratio"] < 0.5  # the rises overlap: no plateaus


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "stepwise-learning", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
