"""Oracle tests of phenomena.probes.measures: closed forms on linear models, brute force on tiny nets."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import norm
from torch import nn

from phenomena.errors import UserError
from phenomena.probes.measures import (
    frobenius_product,
    generalization_measures,
    gsnr,
    inconsistency,
    jacobian_norm,
    margin_quantile,
    margins,
    pac_bayes_sigma,
    path_norm,
    spectral_product,
    weight_matrices,
)


def _mlp(seed: int, sizes=(3, 4, 2), bias: bool = True) -> nn.Sequential:
    torch.manual_seed(seed)
    layers = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b, bias=bias), nn.ReLU()]
    return nn.Sequential(*layers[:-1]).double()


def _linear(weight: np.ndarray) -> nn.Linear:
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(weight))
    return lin


def test_norms_of_a_linear_model_equal_numpy():
    w = np.random.default_rng(0).normal(size=(5, 7))
    lin = _linear(w)
    assert spectral_product(lin) == pytest.approx(np.linalg.norm(w, 2), rel=1e-12)
    assert frobenius_product(lin) == pytest.approx(np.linalg.norm(w, "fro"), rel=1e-12)
    net = _mlp(1, (3, 6, 4, 2))
    ws = [m.weight.detach().numpy() for m in net if isinstance(m, nn.Linear)]
    assert spectral_product(net) == pytest.approx(np.prod([np.linalg.norm(a, 2) for a in ws]), rel=1e-12)
    conv = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(12, 2))
    shapes = [(n, tuple(m.shape)) for n, m in weight_matrices(conv)]
    assert shapes == [("0", (3, 18)), ("2", (2, 12))]


def test_path_norm_equals_brute_force_path_enumeration():
    """ReLU net with biases: the squared network on all-ones has non-negative pre-activations, so the sum is
    over every input->output path (and every bias->output path) of the product of squared weights."""
    net = _mlp(2, (3, 4, 2))
    w1, b1 = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    w2, b2 = net[2].weight.detach().numpy(), net[2].bias.detach().numpy()
    total = 0.0
    for i, j, k in itertools.product(range(3), range(4), range(2)):
        total += w1[j, i] ** 2 * w2[k, j] ** 2
    for j, k in itertools.product(range(4), range(2)):
        total += b1[j] ** 2 * w2[k, j] ** 2
    total += (b2**2).sum()
    assert path_norm(net, (3,)) == pytest.approx(math.sqrt(total), rel=1e-12)
    lin = _mlp(3, (2, 3, 2), bias=False)[::2]  # a 2-layer linear net: the closed form sum (W2 o W1)^2 over paths
    a, b = lin[0].weight.detach().numpy(), lin[1].weight.detach().numpy()
    closed = sum((b[k, j] * a[j, i]) ** 2 for i in range(2) for j in range(3) for k in range(2))
    assert path_norm(lin, (2,)) ** 2 == pytest.approx(closed, rel=1e-12)


def test_margins_and_their_quantile_by_hand():
    net = _linear(np.eye(3))  # logits = inputs
    x = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 2.5], [1.0, 1.0, 4.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0])
    expected = [2.0, -0.5, 3.0, -1.0]
    assert margins(net, (x, y)).tolist() == expected
    assert margin_quantile(net, [(x[:2], y[:2]), (x[2:], y[2:])]) == -1.0  # k = max(1, 0) -> the smallest
    assert margin_quantile(net, (x, y), q=0.5) == -0.5  # k = 2
    assert margin_quantile(net, (x, y), q=1.0) == 3.0


def _binary_problem(m: int = 200, d: int = 5):
    rng = np.random.default_rng(4)
    w = rng.normal(size=(2, d))
    x = rng.normal(size=(m, d))
    y = (x @ w.T).argmax(1)
    return _linear(w), torch.as_tensor(x), torch.as_tensor(y), w, x, y


def _exact_drop(sigma: float, w, x, y, eps: float | None) -> float:
    """Accuracy drop of a 2-class linear classifier under independent Gaussian weight noise, in closed form:
    the noisy margin is N(mu, sum_j x_j^2 (s_yj^2 + s_oj^2)), s the noise standard deviations."""
    mu = np.abs(x @ (w[0] - w[1]))
    s2 = np.full_like(w, sigma**2) if eps is None else sigma**2 * w**2 + eps**2
    sd = np.sqrt((x**2) @ (s2[0] + s2[1]))
    return 1.0 - norm.cdf(mu / sd).mean()


@pytest.mark.parametrize("eps", [None, 0.05])
def test_pac_bayes_sigma_matches_the_closed_form_on_a_brute_force_grid(eps):
    net, xt, yt, w, x, y = _binary_problem()
    grid = np.linspace(1e-3, 2.0, 4001)
    drops = np.array([_exact_drop(s, w, x, y, eps) for s in grid])
    exact = grid[drops <= 0.1].max()  # the largest sigma whose accuracy drop is at most 0.1
    got = pac_bayes_sigma(
        net,
        (xt, yt),
        magnitude_eps=eps,
        n_samples=128,
        search_depth=20,
        tolerance=1e-4,
        generator=torch.Generator().manual_seed(0),
    )
    assert got == pytest.approx(exact, rel=0.1)  # over seeds 0..9: within 8%, drops within 0.0071
    assert abs(_exact_drop(got, w, x, y, eps) - 0.1) < 0.01
    again = pac_bayes_sigma(net, (xt, yt), magnitude_eps=eps, n_samples=128, search_depth=20, tolerance=1e-4,
                            generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert again == got


def test_gsnr_matches_a_loop_over_examples():
    net = _mlp(5, (3, 5, 3))
    x = torch.randn(9, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 1])
    grads = []
    for i in range(9):
        loss = F.cross_entropy(net(x[i : i + 1]), y[i : i + 1])
        grads.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(net.parameters()))]).numpy())
    g = np.array(grads)
    var = g.var(0, ddof=1)
    keep = var > 0
    expected = (g.mean(0)[keep] ** 2 / var[keep]).mean()
    batches = [(x[:2], y[:2]), (x[2:7], y[2:7]), (x[7:], y[7:])]  # pooled over unequal batches
    assert gsnr(net, F.cross_entropy, batches) == pytest.approx(expected, rel=1e-9)
    only = g[:, :15]  # the first layer's weight: params="0.weight"
    v = only.var(0, ddof=1)
    assert gsnr(net, F.cross_entropy, (x, y), params="0.weight") == pytest.approx(
        (only.mean(0)[v > 0] ** 2 / v[v > 0]).mean(), rel=1e-9
    )


@pytest.mark.parametrize("softmax", [False, True])
def test_jacobian_norm_matches_autograd_jacobian(softmax):
    net = _mlp(6, (4, 6, 3))
    x = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))

    def f(v):
        out = net(v.unsqueeze(0))[0]
        return out.softmax(-1) if softmax else out

    expected = np.mean([torch.autograd.functional.jacobian(f, x[i]).norm().item() for i in range(5)])
    got = jacobian_norm(net, [(x[:2], torch.zeros(2)), (x[2:], torch.zeros(3))], softmax=softmax)
    assert got == pytest.approx(expected, rel=1e-10)


def test_inconsistency_counts_disagreements():
    a, b = _linear(np.eye(2)), _linear(np.array([[0.0, 1.0], [1.0, 0.0]]))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.5, 1.0], [1.0, 1.5]], dtype=torch.float64)
    assert inconsistency(a, b, (x, torch.zeros(4))) == 1.0
    c = _linear(np.array([[1.0, 0.0], [0.0, 2.0]]))  # differs from a only where 2 x1 > x0 > x1: the third row
    assert inconsistency(a, c, (x, torch.zeros(4))) == 0.25
    assert inconsistency(a, a, (x, torch.zeros(4))) == 0.0


def test_the_suite_is_normalized_as_dziugaite_and_leaves_the_model_alone():
    net, xt, yt, w, x, y = _binary_problem(m=100, d=4)
    init = _linear(np.random.default_rng(9).normal(size=(2, 4)))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    res = generalization_measures(net, init, (xt, yt), other_model=init, generator=torch.Generator().manual_seed(0))
    again = generalization_measures(net, init, (xt, yt), other_model=init, generator=torch.Generator().manual_seed(0))
    assert res == again
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items()) and net.training
    m, w0 = 100, init.weight.detach().numpy()
    spec, fro = np.linalg.norm(w, 2) ** 2, np.linalg.norm(w, "fro") ** 2
    gamma = np.sort(np.abs(x @ (w[0] - w[1])))[9]  # all correct: the 10th smallest margin
    assert res["params"] == pytest.approx(math.sqrt(8 / m))
    assert res["inverse_margin"] == pytest.approx(math.sqrt(1 / gamma**2 / m))
    assert res["log_prod_of_spec_over_margin"] == pytest.approx(
        0.5 * (math.log(spec) - 2 * math.log(gamma) - math.log(m))
    )
    assert res["log_sum_of_fro"] == pytest.approx(0.5 * (math.log(fro) - math.log(m)))  # d = 1
    assert res["fro_dist"] == pytest.approx(np.linalg.norm(w - w0) / math.sqrt(m))
    assert res["dist_spec_init"] == pytest.approx(np.linalg.norm(w - w0, 2) / math.sqrt(m))
    assert res["path_norm"] == pytest.approx(math.sqrt((w**2).sum() / m))  # a linear net: sum of squared weights
    assert res["inconsistency"] == pytest.approx(np.mean((x @ w.T).argmax(1) != (x @ w0.T).argmax(1)))
    held = torch.as_tensor(np.random.default_rng(3).normal(size=(50, 4)))
    on_held = generalization_measures(
        net,
        init,
        (xt, yt),
        other_model=init,
        unlabeled=held,
        curvature=False,
        generator=torch.Generator().manual_seed(0),
    )
    h = held.numpy()
    assert on_held["inconsistency"] == pytest.approx(np.mean((h @ w.T).argmax(1) != (h @ w0.T).argmax(1)))
    assert on_held["inconsistency"] != res["inconsistency"]
    sigma = 1 / (res["pacbayes_flatness"] ** 2 * m) ** 0.5
    pb = ((w - w0) ** 2).sum() / (4 * sigma**2) + math.log(m / sigma) + 10
    assert res["pacbayes_init"] == pytest.approx(math.sqrt(pb / m))
    # the magnitude-aware bounds, Jiang et al. eqs. (56)-(57) written out in numpy (eps = 1e-3, the default)
    mag_sigma, eps, dw = 1 / (res["pacbayes_mag_flatness"] ** 2 * m) ** 0.5, 1e-3, (w - w0).ravel()
    for name, ref in (("pacbayes_mag_init", w - w0), ("pacbayes_mag_orig", w)):
        ratio = (eps**2 + (mag_sigma**2 + 1) * (ref**2).sum() / w.size) / (eps**2 + mag_sigma**2 * dw**2)
        bound = 0.25 * np.log(ratio).sum() + math.log(m / mag_sigma) + 10
        assert res[name] == pytest.approx(math.sqrt(bound / m)), name
    assert mag_sigma != pytest.approx(sigma, rel=0.05)  # the two searches differ: the noise models do
    # the Hessian of the mean cross-entropy of a linear model, exactly
    hess = torch.autograd.functional.hessian(
        lambda v: F.cross_entropy(xt @ v.reshape(2, 4).T, yt), net.weight.detach().reshape(-1)
    )
    # hessian_eigenvalues at its default tol (residual <= 1e-2 |lambda|): eigenvalue error about residual^2 / gap
    assert res["lambda_max"] == pytest.approx(torch.linalg.eigvalsh(hess)[-1].item(), rel=1e-3)
    assert res["train_accuracy"] == 1.0
    at_init = generalization_measures(init, init, (xt, yt), curvature=False, generator=torch.Generator().manual_seed(0))
    assert at_init["fro_dist"] == 0.0 and at_init["log_spec_init_main"] == -math.inf


def test_user_errors():
    net = _mlp(0)
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 1, 0, 1])
    with pytest.raises(UserError, match="integer class labels"):
        margins(net, (x, y.double()))
    with pytest.raises(UserError, match="class labels in"):
        margins(net, (x, y + 5))
    with pytest.raises(UserError, match="quantile"):
        margin_quantile(net, (x, y), q=0)
    with pytest.raises(UserError, match="no nn.Linear"):
        weight_matrices(nn.ReLU())
    with pytest.raises(UserError, match="same weight layers"):
        generalization_measures(net, _mlp(0, (3, 5, 2)), (x, y))
    with pytest.raises(UserError, match="BatchNorm"):
        path_norm(nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)), (3,))
    with pytest.raises(UserError, match="dropout"):
        pac_bayes_sigma(nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5)), (x.float(), y))
    with pytest.raises(UserError, match="deviation"):
        pac_bayes_sigma(net, (x, y), deviation=0)
    with pytest.raises(UserError, match="at least 2 examples"):
        gsnr(net, F.cross_entropy, (x[:1], y[:1]))
