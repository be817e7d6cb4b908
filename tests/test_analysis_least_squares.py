"""Closed-form least squares against independent oracles: the min-norm fit against the pseudo-inverse, ridge
against the normal equations (its Cholesky path against its SVD path), the closed-form GD trajectory against
iterated GD and against train_ensemble, the size grid and the random ReLU features."""

import math

import pytest
import torch
from torch import nn

from phenomena.analysis import (
    feature_counts,
    gd_least_squares,
    min_norm_fit,
    relu_feature_weights,
    relu_features,
    ridge_fit,
    ridge_fit_svd,
)
from phenomena.analysis.least_squares import GRAM_ERROR
from phenomena.data.dataset import Dataset
from phenomena.training.ensemble import train_ensemble


def test_min_norm_fit_matches_the_pseudo_inverse():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(30, 3, generator=g, dtype=torch.float64)
    tall = torch.randn(30, 12, generator=g, dtype=torch.float64)
    wide = torch.randn(30, 50, generator=g, dtype=torch.float64)
    low_rank = torch.randn(30, 5, generator=g, dtype=torch.float64) @ torch.randn(
        5, 40, generator=g, dtype=torch.float64
    )
    for phi in (tall, wide, low_rank):
        beta = min_norm_fit(phi, y)
        assert torch.allclose(beta, torch.linalg.pinv(phi, rtol=1e-10) @ y, atol=1e-8, rtol=1e-8)
    # wide: the fit interpolates, and any other interpolant (beta + a null-space vector) has a larger norm
    beta = min_norm_fit(wide, y)
    assert torch.allclose(wide @ beta, y, atol=1e-10)
    null = torch.linalg.svd(wide).Vh[30:].T @ torch.randn(20, 3, generator=g, dtype=torch.float64)
    assert torch.allclose(wide @ (beta + null), y, atol=1e-10) and (beta + null).norm() > beta.norm()


def test_ridge_fit_matches_the_normal_equations_and_tends_to_min_norm():
    g = torch.Generator().manual_seed(2)
    for n, p in ((30, 12), (12, 30)):
        phi = torch.randn(n, p, generator=g, dtype=torch.float64)
        y = torch.randn(n, 3, generator=g, dtype=torch.float64)
        for lam in (1e-2, 1.0, 10.0):
            normal = torch.linalg.solve(phi.T @ phi + lam * torch.eye(p, dtype=torch.float64), phi.T @ y)
            assert torch.allclose(ridge_fit(phi, y, lam), normal, atol=1e-10, rtol=1e-9)
        assert torch.allclose(ridge_fit(phi, y, 1e-10), min_norm_fit(phi, y), atol=1e-6)
        assert torch.equal(ridge_fit(phi, y, 0.0), min_norm_fit(phi, y))


@pytest.mark.parametrize(("n", "p"), [(300, 40), (40, 300), (120, 120)])
def test_ridge_fit_from_the_gram_matrix_matches_the_svd_where_the_penalty_bounds_its_conditioning(n, p):
    g = torch.Generator().manual_seed(3)
    phi = torch.randn(n, p, generator=g, dtype=torch.float64) * torch.logspace(0, -6, p, dtype=torch.float64)
    y = torch.randn(n, 4, generator=g, dtype=torch.float64)
    frob = float(phi.square().sum())
    eps = torch.finfo(torch.float64).eps
    for lam in (1e-2, 1.0, 10.0):  # κ·eps = (‖Φ‖² + λ)/λ·eps <= GRAM_ERROR: the Cholesky path, within κ·eps
        bound = (frob + lam) / lam * eps
        assert bound <= GRAM_ERROR
        gram, svd = ridge_fit(phi, y, lam), ridge_fit_svd(phi, y, lam)
        assert not torch.equal(gram, svd)  # two computations
        assert (gram - svd).norm() <= bound * svd.norm()
    # a penalty too small to bound the conditioning (here κ ~ 1e17): the SVD, bit for bit
    assert (frob + 1e-15) / 1e-15 * eps > GRAM_ERROR
    assert torch.equal(ridge_fit(phi, y, 1e-15), ridge_fit_svd(phi, y, 1e-15))
    assert torch.equal(ridge_fit(phi.float(), y.float(), 1.0), ridge_fit_svd(phi.float(), y.float(), 1.0))
    batched = torch.stack([phi, 2 * phi])  # leading axes: one penalty check, on the largest ‖Φ‖, over the batch
    bound = (4 * frob + 1.0) / 1.0 * eps
    gram, svd = ridge_fit(batched, y, 1.0)[1], ridge_fit_svd(2 * phi, y, 1.0)
    assert (gram - svd).norm() <= bound * svd.norm()


def test_gd_least_squares_matches_iterated_gradient_descent():
    g = torch.Generator().manual_seed(0)
    for n, d in ((40, 12), (12, 30)):  # under- and over-parameterized (the latter has null directions)
        x = torch.randn(3, n, d, generator=g, dtype=torch.float64) * torch.linspace(0.05, 1.0, d, dtype=torch.float64)
        y = torch.randn(3, n, generator=g, dtype=torch.float64)
        lr, steps = 0.3, [0, 1, 2, 7, 60, 400]
        closed = gd_least_squares(x, y, lr, steps)
        w, it = torch.zeros(3, d, dtype=torch.float64), []
        for t in range(max(steps) + 1):
            if t in steps:
                it.append(w.clone())
            w = w - lr * (x.mT @ (x @ w.unsqueeze(-1) - y.unsqueeze(-1))).squeeze(-1) / n
        assert torch.allclose(closed, torch.stack(it, 1), atol=1e-10, rtol=1e-9)
    lam_max = torch.linalg.eigvalsh(x[0].T @ x[0] / x.shape[1]).max().item()  # above 2 / λ_max GD diverges
    blown = gd_least_squares(x[:1], y[:1], 2.2 / lam_max, [2000])
    assert not torch.isfinite(blown).all() or blown.abs().max() > 1e20


def test_gd_least_squares_matches_train_ensemble():
    """The trainer's full-batch GD on a bias-free linear model, started at zero: its MSE is mean((x·w − y)²), twice
    the closed form's loss, so the trainer's step size is half of ours."""
    g = torch.Generator().manual_seed(1)
    n, d, lr, steps = 50, 8, 0.2, 150
    x = torch.randn(2, n, d, generator=g, dtype=torch.float64) * torch.tensor([1.0] * 4 + [0.1] * 4).double()
    y = torch.randn(2, n, generator=g, dtype=torch.float64)
    sets = [Dataset(x[m].float(), y[m, :, None].float(), x[m, :5].float(), y[m, :5, None].float()) for m in range(2)]

    def zero_linear(seed):
        net = nn.Sequential(nn.Linear(d, 1, bias=False))
        nn.init.zeros_(net[0].weight)
        return net

    res = train_ensemble(
        zero_linear, [0, 1], sets, loss="mse", optimizer="sgd", lr=lr / 2, steps=steps, batch_size=None, log_every=steps
    )
    closed = gd_least_squares(x, y, lr, [steps])[:, 0]
    trained = torch.stack([m[0].weight.detach().double().squeeze(0) for m in res.models])
    assert torch.allclose(trained, closed, atol=1e-4, rtol=1e-4)


def test_feature_counts_hold_n_and_span_the_range():
    counts = feature_counts(1000, 0.1, 10, 21)
    assert counts[0] == 100 and counts[-1] == 10_000 and 1000 in counts
    assert counts == sorted(set(counts))
    assert feature_counts(3, 0.1, 2, 5)[0] == 1  # never below one


def test_relu_features_keep_the_kernel_of_order_one():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 40, generator=g, dtype=torch.float64)
    w = relu_feature_weights(40, 20_000, g)
    assert w.shape == (40, 20_000) and w.dtype == torch.float64
    assert abs(w.pow(2).mean().item() * 40 - 1) < 0.02  # N(0, 1/dim)
    phi = relu_features(x, w)
    assert torch.allclose(phi, torch.relu(x @ w) / math.sqrt(20_000), rtol=1e-12, atol=0)
    # E[relu(u)²] = Var(u) / 2 with u = x·w ~ N(0, ‖x‖²/40): the diagonal of ΦΦᵀ tends to ‖x‖² / 80
    diag = (phi @ phi.T).diagonal()
    assert torch.allclose(diag, x.pow(2).sum(1) / 80, rtol=0.05)
