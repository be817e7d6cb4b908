"""Oracle tests for CKA: explicit HSIC matrices, brute-force U-statistics, invariances, population values."""

import itertools
import math

import numpy as np
import pytest
import torch

from phenomena.errors import UserError
from phenomena.probes.similarity import MinibatchCKA, cka, cka_matrix


def randn(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def linear_gram(x):
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return x @ x.T


def rbf_gram(x, threshold=1.0):
    """Kornblith et al.'s gram_rbf, in NumPy."""
    k = linear_gram(x)
    sq = np.diag(k)
    d2 = -2 * k + sq[:, None] + sq[None, :]
    return np.exp(-d2 / (2 * threshold**2 * np.median(d2)))


def biased_cka_explicit(k, lm):
    n = len(k)
    h = np.eye(n) - np.ones((n, n)) / n
    hsic = lambda a, b: np.trace(a @ h @ b @ h)  # noqa: E731
    return hsic(k, lm) / math.sqrt(hsic(k, k) * hsic(lm, lm))


def unbiased_hsic_bruteforce(k, lm):
    """Song et al.'s U-statistic: E[k_ij l_ij] + E[k_ij l_qr] − 2 E[k_ij l_iq] over distinct indices."""
    n = len(k)
    a = np.mean([k[i, j] * lm[i, j] for i, j in itertools.permutations(range(n), 2)])
    b = np.mean([k[i, j] * lm[q, r] for i, j, q, r in itertools.permutations(range(n), 4)])
    c = np.mean([k[i, j] * lm[i, q] for i, j, q in itertools.permutations(range(n), 3)])
    return a + b - 2 * c


def unbiased_cka_bruteforce(k, lm):
    return unbiased_hsic_bruteforce(k, lm) / math.sqrt(
        unbiased_hsic_bruteforce(k, k) * unbiased_hsic_bruteforce(lm, lm)
    )


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_self_similarity_is_one(kernel, estimator):
    x = randn(torch.Generator().manual_seed(0), 30, 6)
    assert cka(x, x, kernel, estimator) == pytest.approx(1.0, abs=1e-12)
    assert cka(x, x.float(), kernel, estimator) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("p,q", [(3, 4), (40, 25)])  # feature-space and Gram-space code paths
def test_biased_linear_matches_trace_formula(p, q):
    gen = torch.Generator().manual_seed(1)
    x = randn(gen, 20, p) + 3.0
    y = x[:, :1] ** 2 + randn(gen, 20, q)
    want = biased_cka_explicit(linear_gram(x), linear_gram(y))
    assert cka(x, y) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("sigma", [None, 0.5])
def test_biased_rbf_matches_trace_formula(sigma):
    gen = torch.Generator().manual_seed(2)
    x = randn(gen, 25, 3)
    y = torch.tanh(x @ randn(gen, 3, 5)) + 0.3 * randn(gen, 25, 5)
    t = 1.0 if sigma is None else sigma
    want = biased_cka_explicit(rbf_gram(x, t), rbf_gram(y, t))
    assert cka(x, y, kernel="rbf", sigma=sigma) == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("p,q", [(2, 3), (12, 9)])  # n = 7: feature path for small p, Gram path for large
def test_unbiased_linear_matches_bruteforce_u_statistic(p, q):
    gen = torch.Generator().manual_seed(3)
    x = randn(gen, 7, p) + 2.0  # uncentred: the U-statistic is translation invariant
    y = x.sum(1, keepdim=True) * randn(gen, 1, q) + randn(gen, 7, q)
    want = unbiased_cka_bruteforce(linear_gram(x), linear_gram(y))
    assert cka(x, y, estimator="unbiased") == pytest.approx(want, rel=1e-10)


def test_unbiased_rbf_matches_bruteforce_u_statistic():
    gen = torch.Generator().manual_seed(4)
    x = randn(gen, 8, 3)
    y = x**2 + 0.5 * randn(gen, 8, 3)
    want = unbiased_cka_bruteforce(rbf_gram(x), rbf_gram(y))
    assert cka(x, y, kernel="rbf", estimator="unbiased") == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_invariances(kernel, estimator):
    gen = torch.Generator().manual_seed(5)
    x = randn(gen, 60, 5)
    y = torch.relu(x @ randn(gen, 5, 8)) + 0.5 * randn(gen, 60, 8)
    base = cka(x, y, kernel, estimator)
    q, _ = torch.linalg.qr(randn(gen, 5, 5))
    assert cka(3.7 * x @ q + 11.0, y, kernel, estimator) == pytest.approx(base, rel=1e-10)
    assert cka(x, 0.01 * y, kernel, estimator) == pytest.approx(base, rel=1e-10)
    assert cka(y, x, kernel, estimator) == pytest.approx(base, rel=1e-10)
    if kernel == "linear":
        # An invertible but anisotropic map changes CKA (Kornblith et al. 2019, §3): y2 depends on x's first
        # coordinate only, and the map shrinks that coordinate against the others.
        y2 = x[:, :1] * randn(gen, 1, 3) + 0.3 * randn(gen, 60, 3)
        a = torch.diag(torch.tensor([0.1, 10.0, 10.0, 1.0, 1.0], dtype=torch.float64)) @ q
        assert cka(x, y2, kernel, estimator) - cka(x @ a, y2, kernel, estimator) > 0.2
    # Duplicated columns (rank-deficient features) do not change linear or RBF CKA.
    assert cka(torch.cat([x, x], 1) / math.sqrt(2), y, kernel, estimator) == pytest.approx(base, rel=1e-10)


def test_biased_cka_in_unit_interval_and_unbiased_near_zero_for_independent_inputs():
    gen = torch.Generator().manual_seed(6)
    x, y = randn(gen, 2000, 4), randn(gen, 2000, 4)
    biased, unbiased = cka(x, y), cka(x, y, estimator="unbiased")
    # Biased linear CKA of independent inputs is ≈ p q/(n ‖...‖) > 0 (positive bias); the unbiased one is ≈ 0.
    assert 0 < biased < 1
    assert abs(unbiased) < biased / 3


def test_zero_variance_raises():
    x = randn(torch.Generator().manual_seed(7), 10, 3)
    for bad in (torch.zeros(10, 3), torch.full((10, 3), 0.1)):
        for kernel in ("linear", "rbf"):
            with pytest.raises(UserError, match="zero variance"):
                cka(bad, x, kernel=kernel)
            with pytest.raises(UserError, match="zero variance"):
                cka(x, bad, kernel=kernel, estimator="unbiased")


def test_bad_arguments_raise():
    x = torch.randn(10, 3)
    with pytest.raises(UserError, match="unknown CKA kernel"):
        cka(x, x, kernel="cosine")
    with pytest.raises(UserError, match="unknown CKA estimator"):
        cka(x, x, estimator="debiased")
    with pytest.raises(UserError, match="same examples"):
        cka(x, x[:9])
    with pytest.raises(UserError, match="at least 4"):
        cka(x[:3], x[:3], estimator="unbiased")
    with pytest.raises(UserError, match="sigma"):
        cka(x, x, kernel="rbf", sigma=-1.0)
    with pytest.raises(UserError, match="NaN"):
        cka(x, x * float("nan"))
    with pytest.raises(UserError, match="at least 4"):
        MinibatchCKA().update(x[:3], x[:3])
    with pytest.raises(UserError, match="at least one update"):
        MinibatchCKA().compute()


def test_minibatch_single_batch_equals_unbiased_cka():
    gen = torch.Generator().manual_seed(8)
    x = randn(gen, 16, 5)
    y = torch.tanh(x @ randn(gen, 5, 7))
    mb = MinibatchCKA()
    mb.update(x, y)
    assert mb.compute() == pytest.approx(cka(x, y, estimator="unbiased"), rel=1e-12)
    multi = MinibatchCKA()
    multi.update([x, y], [y, x, x])
    got = multi.compute()
    assert got.shape == (2, 3)
    assert got[0, 2] == pytest.approx(1.0, abs=1e-12)
    assert got[1, 0] == pytest.approx(1.0, abs=1e-12)
    assert got[0, 0] == pytest.approx(cka(x, y, estimator="unbiased"), rel=1e-12)


def song_unbiased_hsic(x, y):
    """Song et al. 2012's closed formula with K̃, L̃ the Gram matrices with zeroed diagonals."""
    n = len(x)
    k, lm = linear_gram(x), linear_gram(y)
    np.fill_diagonal(k, 0)
    np.fill_diagonal(lm, 0)
    one = np.ones(n)
    return (
        np.trace(k @ lm) + (one @ k @ one) * (one @ lm @ one) / ((n - 1) * (n - 2)) - 2 / (n - 2) * one @ k @ lm @ one
    ) / (n * (n - 3))


def test_minibatch_cka_converges_to_population_and_full_unbiased_value():
    gen = torch.Generator().manual_seed(9)
    p, q, batch, num_batches = 4, 3, 32, 150
    scales = torch.tensor([2.0, 1.0, 0.5, 0.25], dtype=torch.float64)
    b = randn(gen, p, q)
    tau = 1.5
    # Population linear CKA = ‖Σ_xy‖²_F / (‖Σ_xx‖_F ‖Σ_yy‖_F) for x ~ N(0, diag s²), y = x B + τ ε.
    sxx = torch.diag(scales**2)
    sxy = sxx @ b
    syy = b.T @ sxx @ b + tau**2 * torch.eye(q, dtype=torch.float64)
    population = float(sxy.square().sum() / (sxx.norm() * syy.norm()))

    mb = MinibatchCKA()
    xs, ys, triples = [], [], []
    for _ in range(num_batches):
        x = randn(gen, batch, p) * scales
        y = x @ b + tau * randn(gen, batch, q)
        mb.update(x, y)
        xs.append(x)
        ys.append(y)
        xn, yn = x.numpy(), y.numpy()
        triples.append([song_unbiased_hsic(xn, yn), song_unbiased_hsic(xn, xn), song_unbiased_hsic(yn, yn)])
    t = np.array(triples)
    m = t.mean(0)
    estimate = mb.compute()
    assert estimate == pytest.approx(m[0] / math.sqrt(m[1] * m[2]), rel=1e-10)
    # Delta-method standard error of the ratio of means over independent batches.
    grad = np.array(
        [
            1 / math.sqrt(m[1] * m[2]),
            -m[0] / (2 * m[1] * math.sqrt(m[1] * m[2])),
            -m[0] / (2 * m[2] * math.sqrt(m[1] * m[2])),
        ]
    )
    se = math.sqrt(grad @ np.cov(t.T) @ grad / num_batches)
    assert 0 < se < 0.05
    assert abs(estimate - population) < 4 * se
    full = cka(torch.cat(xs), torch.cat(ys), estimator="unbiased")
    assert abs(estimate - full) < 4 * se  # the full-data estimator has the smaller error of the two


def test_minibatch_constant_representation_gives_nan_with_warning():
    x = randn(torch.Generator().manual_seed(10), 8, 3)
    mb = MinibatchCKA()
    mb.update([x, torch.ones(8, 2)], [x])
    with pytest.warns(RuntimeWarning, match="undefined"):
        out = mb.compute()
    assert out[0, 0] == pytest.approx(1.0) and math.isnan(out[1, 0])


class Twice(torch.nn.Module):
    """A module whose activation is called twice per forward (like torchvision's BasicBlock.relu)."""

    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 6)
        self.act = torch.nn.Tanh()
        self.fc2 = torch.nn.Linear(6, 3)

    def forward(self, x):
        return self.act(self.fc2(self.act(self.fc1(x))))


def test_cka_matrix_matches_manual_features_and_removes_hooks():
    gen = torch.Generator().manual_seed(11)
    torch_gen_state = torch.random.get_rng_state()
    net_a = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
    net_b = Twice().double()
    torch.random.set_rng_state(torch_gen_state)
    batches = [(randn(gen, 12, 4), torch.zeros(12)) for _ in range(3)]
    res = cka_matrix(net_a, net_b, batches)
    assert res.layers_a == ["0", "1", "2"]
    assert res.layers_b == ["fc1", "fc2"]  # 'act' fires twice per forward and is skipped by default
    manual = MinibatchCKA()
    for x, _ in batches:
        h0 = net_a[0](x)
        h1 = net_a[1](h0)
        g1 = net_b.fc1(x)
        manual.update([h0, h1, net_a[2](h1)], [g1, net_b.fc2(net_b.act(g1))])
    assert torch.allclose(res.values, manual.compute().detach(), rtol=1e-12, atol=1e-14)
    for net in (net_a, net_b):
        assert all(not m._forward_hooks for m in net.modules())

    same = cka_matrix(net_a, net_a, [x for x, _ in batches], layers_a=["2", ""], layers_b=["0", "2"])
    assert same.values[0, 1] == pytest.approx(1.0, abs=1e-12)  # '' is the output, equal to layer '2'
    assert same.values[1, 1] == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(UserError, match="unknown layer names"):
        cka_matrix(net_a, net_b, batches[0][0], layers_a=["fc9"])
    with pytest.raises(UserError, match="exactly once"):
        cka_matrix(net_a, net_b, batches[0][0], layers_b=["act"])
