"""Closed-form tests for effective rank and participation ratio."""

import math

import numpy as np
import pytest
import torch

from phenomena.errors import UserError
from phenomena.probes.rank import effective_rank, participation_ratio


def orthonormal(gen, n, r, centred=False):
    a = torch.randn(n, r, generator=gen, dtype=torch.float64)
    if centred:
        a = a - a.mean(0)  # columns orthogonal to the all-ones vector, so the data mean is exactly known
    q, _ = torch.linalg.qr(a)
    return q


def closed_form_erank(s):
    s = np.asarray(s, dtype=np.float64)
    p = s / s.sum()
    return math.exp(-np.sum(p * np.log(p)))


@pytest.mark.parametrize("n,d", [(40, 6), (5, 30)])
def test_effective_rank_closed_form_from_singular_values(n, d):
    gen = torch.Generator().manual_seed(0)
    s = torch.tensor([5.0, 3.0, 1.0, 0.5], dtype=torch.float64)
    x = orthonormal(gen, n, 4) @ torch.diag(s) @ orthonormal(gen, d, 4).T
    assert effective_rank(x) == pytest.approx(closed_form_erank(s), rel=1e-12)
    assert effective_rank(7.0 * x) == pytest.approx(closed_form_erank(s), rel=1e-12)


def test_effective_rank_extremes():
    assert effective_rank(torch.eye(6)) == pytest.approx(6.0, rel=1e-14)
    u = torch.arange(1.0, 8.0)[:, None]
    assert effective_rank(u @ torch.ones(1, 5)) == pytest.approx(1.0, abs=1e-10)


def test_effective_rank_centring():
    gen = torch.Generator().manual_seed(1)
    s = torch.tensor([4.0, 2.0, 2.0], dtype=torch.float64)
    cloud = orthonormal(gen, 50, 3, centred=True) @ torch.diag(s) @ orthonormal(gen, 10, 3).T
    x = cloud + 3.0 * torch.randn(10, generator=gen, dtype=torch.float64)
    assert effective_rank(x, center=True) == pytest.approx(closed_form_erank(s), rel=1e-10)
    assert effective_rank(x) < effective_rank(x, center=True)  # the mean adds a dominant direction


@pytest.mark.parametrize("n,d,r", [(60, 5, 5), (6, 20, 5)])
def test_participation_ratio_closed_form_on_diagonal_covariance(n, d, r):
    gen = torch.Generator().manual_seed(2)
    s = torch.linspace(1.0, 3.0, r, dtype=torch.float64)
    # Orthonormal centred columns: the covariance of Q diag(s) is diag(s²)/(N−1) exactly; rotating by Vᵀ keeps
    # its eigenvalues. PR = (Σ s²)² / Σ s⁴.
    x = orthonormal(gen, n, r, centred=True) @ torch.diag(s) @ orthonormal(gen, d, r).T + 2.0
    want = float(s.pow(2).sum() ** 2 / s.pow(4).sum())
    assert participation_ratio(x) == pytest.approx(want, rel=1e-12)


def test_participation_ratio_matches_eigendecomposition_and_bounds():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(200, 7, generator=gen, dtype=torch.float64) @ torch.randn(7, 7, generator=gen, dtype=torch.float64)
    lam = np.linalg.eigvalsh(np.cov(x.numpy().T))
    assert participation_ratio(x) == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-12)
    line = torch.arange(10.0)[:, None] * torch.tensor([[1.0, -2.0, 0.5]])
    assert participation_ratio(line) == pytest.approx(1.0, rel=1e-12)


def test_degenerate_inputs_raise():
    with pytest.raises(UserError, match="all zero"):
        effective_rank(torch.zeros(4, 3))
    with pytest.raises(UserError, match="after centring"):
        effective_rank(torch.full((4, 3), 0.1), center=True)
    with pytest.raises(UserError, match="zero variance"):
        participation_ratio(torch.full((4, 3), 0.1))
    with pytest.raises(UserError, match="shape"):
        participation_ratio(torch.ones(5))
    with pytest.raises(UserError, match="at least 2 rows"):
        participation_ratio(torch.ones(1, 3))
