"""kernels.predict against kernel regression by linear solves, explicit Euler integration of the ODE, and the
matrix exponential."""

from __future__ import annotations

import pytest
import torch

from phenomena.errors import UserError
from phenomena.kernels import fc
from phenomena.kernels.predict import gradient_descent_mse, gradient_descent_mse_ensemble, max_learning_rate

F64 = torch.float64


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(20)
    x = torch.randn(9, 4, generator=g, dtype=F64)
    y = torch.randn(6, 2, generator=g, dtype=F64)
    kw = dict(depth=2, activation="erf", weight_std=1.3, bias_std=0.1)
    train, cross, test = fc(x[:6], **kw), fc(x[6:], x[:6], **kw), fc(x[6:], **kw)
    return train, cross, test, y


def euler(ntk, ntk_te, y, f0, ft0, tau, steps):
    """Explicit Euler on df/dtau = -(1/n) Theta (f_train - y), the same drift for the test outputs."""
    n, h = y.numel(), tau / steps
    f, ft = f0.clone(), ft0.clone()
    for _ in range(steps):
        resid = f - y
        f, ft = f - h / n * ntk @ resid, ft - h / n * ntk_te @ resid
    return f, ft


def test_infinite_time_is_kernel_regression(data):
    (_, ntk), (_, ntk_te), _, y = data
    train, test = gradient_descent_mse(ntk, y, None, ntk_te)
    torch.testing.assert_close(test, ntk_te @ torch.linalg.solve(ntk, y), rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(train, y, rtol=1e-8, atol=1e-10)
    # Kernel ridge regression with a regularizer relative to the mean diagonal (neural-tangents' default).
    reg = 0.1 * float(ntk.diagonal().mean())
    ridge = torch.linalg.solve(ntk + reg * torch.eye(6, dtype=F64), y)
    train, test = gradient_descent_mse(ntk, y, float("inf"), ntk_te, diag_reg=0.1)
    torch.testing.assert_close(test, ntk_te @ ridge, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(train, ntk @ ridge, rtol=1e-10, atol=1e-12)


def test_time_zero_is_the_initial_output(data):
    (_, ntk), (_, ntk_te), _, y = data
    train, test = gradient_descent_mse(ntk, y, 0.0, ntk_te)
    assert torch.equal(train, torch.zeros_like(y)) and torch.equal(test, torch.zeros(3, 2, dtype=F64))
    f0 = torch.ones(6, 2, dtype=F64)
    train, _ = gradient_descent_mse(ntk, y, 0.0, fx_train_0=f0)
    torch.testing.assert_close(train, f0, rtol=0, atol=1e-15)


def test_finite_time_matches_explicit_euler_with_first_order_convergence(data):
    (_, ntk), (_, ntk_te), _, y = data
    g = torch.Generator().manual_seed(21)
    f0, ft0 = torch.randn(6, 2, generator=g, dtype=F64), torch.randn(3, 2, generator=g, dtype=F64)
    t, lr = 30.0, 0.5
    train, test = gradient_descent_mse(ntk, y, t, ntk_te, lr=lr, fx_train_0=f0, fx_test_0=ft0)
    coarse = euler(ntk, ntk_te, y, f0, ft0, t * lr, 2000)
    fine = euler(ntk, ntk_te, y, f0, ft0, t * lr, 4000)
    err_coarse = max(float((a - b).abs().max()) for a, b in zip((train, test), coarse, strict=True))
    err_fine = max(float((a - b).abs().max()) for a, b in zip((train, test), fine, strict=True))
    # Euler's global error is O(h): halving the step halves the gap to the exact solution.
    assert err_fine < 1e-3 and 0.4 < err_fine / err_coarse < 0.6, (err_coarse, err_fine)


def test_many_times_at_once_equal_one_at_a_time(data):
    (_, ntk), (_, ntk_te), _, y = data
    ts = torch.tensor([[0.0, 1.0], [10.0, float("inf")]], dtype=F64)
    train, test = gradient_descent_mse(ntk, y[:, 0], ts, ntk_te)
    assert train.shape == (2, 2, 6) and test.shape == (2, 2, 3)
    for i in range(2):
        for j in range(2):
            a, b = gradient_descent_mse(ntk, y[:, 0], float(ts[i, j]), ntk_te)
            torch.testing.assert_close(train[i, j], a, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(test[i, j], b, rtol=1e-12, atol=1e-12)


def test_singular_kernel_limit_is_the_pseudo_inverse():
    # Two identical training inputs: Theta is singular; the t -> inf limit is the minimum-norm interpolant.
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=F64)
    _, ntk = fc(x)
    y = torch.tensor([1.0, 1.0, -1.0], dtype=F64)
    _, test = gradient_descent_mse(ntk, y, None, ntk)
    torch.testing.assert_close(test, ntk @ torch.linalg.pinv(ntk) @ y, rtol=1e-8, atol=1e-8)


def expm_gain(k, tau, n):
    return torch.linalg.solve(k, torch.eye(k.shape[0], dtype=F64) - torch.linalg.matrix_exp(-tau / n * k))


def test_ntk_ensemble_mean_and_covariance_match_matrix_exponential(data):
    (nngp, ntk), (nngp_te, ntk_te), (nngp_tt, _), y = data
    tau = 7.0
    mean, cov = gradient_descent_mse_ensemble((nngp, ntk), y, (nngp_te, ntk_te), nngp_tt, t=tau)
    a = ntk_te @ expm_gain(ntk, tau, y.numel())  # f_test = f_test0 + A (y - f_train0)
    torch.testing.assert_close(mean, a @ y, rtol=1e-8, atol=1e-10)
    want = nngp_tt + a @ nngp @ a.T - a @ nngp_te.T - nngp_te @ a.T
    torch.testing.assert_close(cov, want, rtol=1e-8, atol=1e-10)
    _, var = gradient_descent_mse_ensemble((nngp, ntk), y, (nngp_te, ntk_te), nngp_tt.diagonal(), t=tau)
    torch.testing.assert_close(var, want.diagonal(), rtol=1e-10, atol=1e-12)


def test_ntk_ensemble_covariance_matches_monte_carlo_over_initializations(data):
    # Draw f0 from the NNGP prior on train and test jointly and train each draw with the closed form.
    (nngp, ntk), (nngp_te, ntk_te), (nngp_tt, _), y = data
    joint = torch.cat([torch.cat([nngp, nngp_te.T], 1), torch.cat([nngp_te, nngp_tt], 1)], 0)
    g = torch.Generator().manual_seed(22)
    draws = torch.randn(4000, 9, generator=g, dtype=F64) @ torch.linalg.cholesky(joint).T
    # All draws at once as 4000 output columns: n = y.numel() grows 4000-fold, so t does too (tau / n is fixed).
    targets = y[:, :1].expand(6, 4000)
    _, outs = gradient_descent_mse(
        ntk, targets, 5.0 * 4000, ntk_te, fx_train_0=draws[:, :6].T, fx_test_0=draws[:, 6:].T
    )
    outs = outs.T
    mean, cov = gradient_descent_mse_ensemble((nngp, ntk), y[:, :1], (nngp_te, ntk_te), nngp_tt, t=5.0)
    se = outs.std(0) / 4000**0.5
    assert bool(((outs.mean(0) - mean[:, 0]).abs() < 5 * se).all())
    emp = torch.cov(outs.T)
    # The sample covariance's standard error is about sqrt(2/n) times the scale of the entries.
    assert float((emp - cov).abs().max()) < 5 * (2 / 4000) ** 0.5 * float(cov.diagonal().max())


def test_nngp_ensemble_is_the_gp_posterior_at_infinite_time(data):
    (nngp, _), (nngp_te, _), (nngp_tt, _), y = data
    noise = 0.05
    mean, cov = gradient_descent_mse_ensemble(
        nngp, y, nngp_te, nngp_tt, diag_reg=noise, diag_reg_absolute_scale=True, get="nngp"
    )
    kinv = torch.linalg.inv(nngp + noise * torch.eye(6, dtype=F64))
    torch.testing.assert_close(mean, nngp_te @ kinv @ y, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(cov, nngp_tt - nngp_te @ kinv @ nngp_te.T, rtol=1e-10, atol=1e-12)
    # At t = 0 the ensemble is the prior.
    mean0, cov0 = gradient_descent_mse_ensemble(nngp, y, nngp_te, nngp_tt, t=0.0, get="nngp")
    assert torch.equal(mean0, torch.zeros_like(mean0))
    torch.testing.assert_close(cov0, nngp_tt, rtol=0, atol=1e-14)


def test_max_learning_rate_separates_convergent_from_divergent_gd(data):
    (_, ntk), _, _, y = data
    lr = max_learning_rate(ntk, y.numel())
    n = y.numel()
    for factor, converges in ((0.95, True), (1.05, False)):
        f = torch.zeros_like(y)
        for _ in range(3000):  # discrete GD on the linearized model: f <- f - lr/n Theta (f - y)
            f = f - factor * lr / n * ntk @ (f - y)
        assert bool((f - y).abs().max() < 1e-3) == converges


def test_bad_inputs_raise_user_errors(data):
    (nngp, ntk), (nngp_te, ntk_te), _, y = data
    with pytest.raises(UserError, match="y_train"):
        gradient_descent_mse(ntk, y[:5])
    with pytest.raises(UserError, match="square"):
        gradient_descent_mse(ntk[:5], y)
    with pytest.raises(UserError, match="times >= 0"):
        gradient_descent_mse(ntk, y, -1.0)
    with pytest.raises(UserError, match="lr"):
        gradient_descent_mse(ntk, y, 1.0, lr=0.0)
    with pytest.raises(UserError, match="diag_reg"):
        gradient_descent_mse(ntk, y, diag_reg=-1.0)
    with pytest.raises(UserError, match="ntk_test_train"):
        gradient_descent_mse(ntk, y, 1.0, ntk_te[:, :4])
    with pytest.raises(UserError, match="get"):
        gradient_descent_mse_ensemble((nngp, ntk), y, (nngp_te, ntk_te), get="both")
    with pytest.raises(UserError, match="pair"):
        gradient_descent_mse_ensemble(ntk, y, ntk_te)
