"""Oracle tests for the gradient-subspace probe: a quadratic loss with a Hessian built from explicit eigenvectors
(the fraction is a closed form), a tiny network whose full Hessian is built by ``torch.func.hessian`` and
diagonalized by ``torch.linalg.eigh`` (a different path from the probe's Lanczos on Hessian-vector products),
and Monte Carlo over random subspaces (a fixed vector's share follows Beta(k/2, (P-k)/2), mean k/P)."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from phenomena.errors import UserError
from phenomena.probes.gradient_subspace import (
    gradient_subspace_overlap,
    random_subspace,
    subspace_fraction,
    subspace_overlap,
)
from phenomena.probes.hessian import hessian_eigenvalues

DT = torch.float64


class Quadratic(nn.Module):
    """L(θ) = ½ θᵀAθ − bᵀθ for every example, whatever the input: Hessian A, gradient Aθ − b."""

    def __init__(self, a, b, theta):
        super().__init__()
        self.register_buffer("a", a)
        self.register_buffer("b", b)
        self.theta = nn.Parameter(theta.clone())

    def forward(self, x):
        value = 0.5 * self.theta @ self.a @ self.theta - self.b @ self.theta
        return value.expand(x.shape[0])


def mean_loss(out, _):
    return out.mean()


def quadratic(p=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(p, p, generator=g, dtype=DT))
    lam = torch.linspace(10.0, 0.5, p, dtype=DT)  # distinct, descending: q[:, i] is the i-th top eigenvector
    a = q @ torch.diag(lam) @ q.T
    model = Quadratic(a, torch.randn(p, generator=g, dtype=DT), torch.randn(p, generator=g, dtype=DT))
    return model, q, (torch.zeros(4, 1, dtype=DT), torch.zeros(4, dtype=DT))


def tiny(seed=0):
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 3)).to(DT)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.8 * torch.randn(p.shape, generator=g, dtype=DT))
    x = torch.randn(40, 3, generator=g, dtype=DT)
    return net, (x, torch.randint(0, 3, (40,), generator=g))


def exact_top(net, data, k):
    """Top-k eigenvectors (rows) of the full Hessian from torch.func.hessian + eigh, and the autograd gradient."""
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for _, p in net.named_parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def loss(flat):
        parts = torch.split(flat, [math.prod(s) for s in shapes])
        state = {n: t.view(s) for n, t, s in zip(names, parts, shapes, strict=True)}
        return F.cross_entropy(functional_call(net, state, (data[0],)), data[1])

    h = torch.func.hessian(loss)(flat0)
    values, vectors = torch.linalg.eigh(h)
    g = torch.func.grad(loss)(flat0)
    return vectors[:, -k:].flip(1).T, values.flip(0)[:k], g


@pytest.mark.parametrize("k", [1, 3, 5])
def test_quadratic_fraction_equals_the_closed_form(k):
    model, q, data = quadratic()
    g = (model.a @ model.theta - model.b).detach()
    closed = float(((q[:, :k].T @ g) ** 2).sum() / (g @ g))
    res = gradient_subspace_overlap(model, mean_loss, data, k, tol=0, generator=torch.Generator().manual_seed(0))
    assert res.fraction == pytest.approx(closed, rel=1e-8)
    assert res.per_direction == pytest.approx(((q[:, :k].T @ g) ** 2 / (g @ g)).numpy(), rel=1e-7, abs=1e-14)
    assert res.eigen.values == pytest.approx(np.linspace(10.0, 0.5, 12)[:k], rel=1e-9)
    assert res.gradient == pytest.approx(g, rel=1e-12)
    assert (res.k, res.dim, res.baseline) == (k, 12, k / 12)
    assert subspace_overlap(res, q[:, :k].T) == pytest.approx(1.0, rel=1e-9)


def test_quadratic_gradient_along_eigenvectors_is_all_or_nothing():
    model, q, data = quadratic()
    inside = gradient_subspace_overlap(model, mean_loss, data, 2, gradient=q[:, 0] + 2 * q[:, 1], tol=0)
    outside = gradient_subspace_overlap(model, mean_loss, data, 2, eigen=inside.eigen, gradient=q[:, 5])
    assert inside.fraction == pytest.approx(1.0, rel=1e-9)
    assert inside.per_direction == pytest.approx([0.2, 0.8], rel=1e-8)
    assert outside.fraction == pytest.approx(0.0, abs=1e-12)


def test_tiny_network_agrees_with_the_explicit_hessian():
    net, data = tiny()
    k = 3
    top, values, g = exact_top(net, data, k)
    res = gradient_subspace_overlap(net, F.cross_entropy, data, k, tol=0, generator=torch.Generator().manual_seed(1))
    assert res.eigen.values == pytest.approx(values.numpy(), rel=1e-8)
    assert res.gradient == pytest.approx(g, rel=1e-10, abs=1e-14)
    closed = float(((top @ g) ** 2).sum() / (g @ g))
    assert res.fraction == pytest.approx(closed, rel=1e-7)
    assert subspace_overlap(res, top) == pytest.approx(1.0, rel=1e-9)
    # the same eigenpairs passed back, and a parameter-shaped gradient, give the same fraction without Lanczos
    shaped = res.eigen.space.unflatten(res.gradient)
    again = gradient_subspace_overlap(net, F.cross_entropy, data, k, eigen=res.eigen, gradient=shaped)
    assert again.fraction == pytest.approx(res.fraction, rel=1e-14)


def test_overlap_between_two_times_agrees_with_the_explicit_hessians():
    net, data = tiny(seed=2)
    later = copy.deepcopy(net)
    opt = torch.optim.SGD(later.parameters(), lr=0.5)
    for _ in range(20):
        opt.zero_grad()
        F.cross_entropy(later(data[0]), data[1]).backward()
        opt.step()
    k = 3
    top1, _, _ = exact_top(net, data, k)
    top2, _, _ = exact_top(later, data, k)
    expected = float((top1 @ top2.T).pow(2).sum()) / k
    gen = torch.Generator().manual_seed(3)
    r1 = gradient_subspace_overlap(net, F.cross_entropy, data, k, tol=0, generator=gen)
    r2 = gradient_subspace_overlap(later, F.cross_entropy, data, k, tol=0, generator=gen)
    assert subspace_overlap(r1, r2) == pytest.approx(expected, rel=1e-7)
    assert subspace_overlap(r1.eigen, r2.eigen) == pytest.approx(expected, rel=1e-7)
    assert 0.05 < expected < 0.999  # the subspace moved, so the comparison is not trivially 1


def test_hessian_batches_and_multi_batch_gradient():
    """The dataset gradient over several batches is the example-weighted mean (one batch of all = same)."""
    net, (x, y) = tiny(seed=4)
    eig = hessian_eigenvalues(net, F.cross_entropy, (x, y), k=2, tol=0)
    whole = gradient_subspace_overlap(net, F.cross_entropy, (x, y), 2, eigen=eig)
    split = gradient_subspace_overlap(net, F.cross_entropy, [(x[:7], y[:7]), (x[7:], y[7:])], 2, eigen=eig)
    assert split.gradient == pytest.approx(whole.gradient, rel=1e-12, abs=1e-15)
    assert split.fraction == pytest.approx(whole.fraction, rel=1e-10)


def test_overlap_self_orthogonal_and_basis_invariance():
    gen = torch.Generator().manual_seed(0)
    q = random_subspace(10, 10, gen)
    assert q @ q.T == pytest.approx(torch.eye(10, dtype=DT), abs=1e-12)
    a, b = q[:3], q[3:6]
    assert subspace_overlap(a, a) == pytest.approx(1.0, rel=1e-12)
    assert subspace_overlap(a, b) == pytest.approx(0.0, abs=1e-12)
    mix = torch.randn(3, 3, generator=gen, dtype=DT) @ a  # another basis of the same span
    assert subspace_overlap(mix, a) == pytest.approx(1.0, rel=1e-10)
    half = torch.cat([a[:2], b[:1]])  # shares two of three directions
    assert subspace_overlap(half, a) == pytest.approx(2 / 3, rel=1e-12)
    assert subspace_fraction(a[0] + b[0], a) == pytest.approx(0.5, rel=1e-12)
    assert math.isnan(subspace_fraction(torch.zeros(10), a))


def test_random_subspace_share_has_mean_k_over_p():
    """Monte Carlo: a fixed vector's share of a random k-subspace is Beta(k/2, (P−k)/2), mean k/P, variance
    2k(P−k)/(P²(P+2)); the mean overlap of two random k-subspaces is also k/P."""
    p, k, draws = 20, 3, 4000
    gen = torch.Generator().manual_seed(7)
    v = torch.randn(p, generator=gen, dtype=DT)
    fixed = random_subspace(p, k, gen)
    shares = np.array([subspace_fraction(v, random_subspace(p, k, gen)) for _ in range(draws)])
    overlaps = np.array([subspace_overlap(fixed, random_subspace(p, k, gen)) for _ in range(draws)])
    sd = math.sqrt(2 * k * (p - k) / (p**2 * (p + 2)))
    assert abs(shares.mean() - k / p) < 4 * sd / math.sqrt(draws)
    assert shares.std() == pytest.approx(sd, rel=0.08)
    assert abs(overlaps.mean() - k / p) < 4 * overlaps.std() / math.sqrt(draws)


def test_bad_input_is_a_user_error():
    model, q, data = quadratic()
    net, tdata = tiny()
    with pytest.raises(UserError, match="k must be a positive integer"):
        gradient_subspace_overlap(model, mean_loss, data, 0)
    with pytest.raises(UserError, match="gradient must have 12 entries"):
        gradient_subspace_overlap(model, mean_loss, data, 1, gradient=torch.ones(5))
    eig = hessian_eigenvalues(model, mean_loss, data, k=2)
    with pytest.raises(UserError, match="fewer than k=3"):
        gradient_subspace_overlap(model, mean_loss, data, 3, eigen=eig)
    with pytest.raises(UserError, match="which='smallest'"):
        gradient_subspace_overlap(
            model, mean_loss, data, 1, eigen=hessian_eigenvalues(model, mean_loss, data, k=1, which="smallest")
        )
    with pytest.raises(UserError, match="different parameters"):
        gradient_subspace_overlap(net, F.cross_entropy, tdata, 1, eigen=eig)
    with pytest.raises(UserError, match="same \\(k, P\\)"):
        subspace_overlap(q[:, :2].T, q[:, :3].T)
    with pytest.raises(UserError, match="linearly dependent"):
        subspace_overlap(torch.ones(2, 12), q[:, :2].T)
    with pytest.raises(UserError, match="must be an EigenResult"):
        subspace_overlap([[1.0]], [[1.0]])
    with pytest.raises(UserError, match="flat with 12 entries"):
        subspace_fraction(torch.ones(3), q[:, :2].T)
    with pytest.raises(UserError, match="exceeds"):
        random_subspace(3, 4)
    with pytest.raises(UserError, match="dropout"):
        gradient_subspace_overlap(nn.Sequential(net, nn.Dropout(0.3)), F.cross_entropy, tdata, 1)
