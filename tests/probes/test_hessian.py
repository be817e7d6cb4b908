"""Oracle tests for the curvature probes: everything is compared with the exact Hessian of a tiny float64
network from ``torch.autograd.functional.hessian`` (reverse-over-reverse, a different path from the probes'
forward-over-reverse), with explicit Jacobians for the Gauss-Newton matrix, and with Monte Carlo over seeds
for the stochastic estimators."""

import copy
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from phenomena.errors import UserError
from phenomena.probes import estimators as est
from phenomena.probes.hessian import hessian_density, hessian_eigenvalues, hessian_trace
from phenomena.probes.operators import CurvatureOperator, ggn_operator, hessian_operator, hessian_vector_product

DT = torch.float64


def init_(model, seed, scale=0.8):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def tiny(seed=0):
    return init_(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(DT), seed)


def data(n=20, d=3, classes=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=DT), torch.randint(0, classes, (n,), generator=g)


def flat_fn(model, names, fn):
    """fn(outputs) as a function of the flat vector of the named parameters (other tensors fixed)."""
    state = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    shapes = [state[n].shape for n in names]
    flat0 = torch.cat([state[n].reshape(-1) for n in names])

    def f(flat):  # fresh buffers per call: train-mode BatchNorm updates them in place
        parts = torch.split(flat, [math.prod(s) for s in shapes])
        fresh = {n: b.clone() for n, b in buffers.items()}
        return fn({**state, **fresh, **{n: p.view(s) for n, p, s in zip(names, parts, shapes, strict=True)}})

    return f, flat0


def exact_hessian(model, loss_fn, x, y, names=None):
    names = names or [n for n, _ in model.named_parameters()]
    f, flat0 = flat_fn(model, names, lambda st: loss_fn(functional_call(model, st, (x,)), y))
    return torch.autograd.functional.hessian(f, flat0)


def test_hvp_equals_exact_hessian_times_vector():
    model, (x, y) = tiny(), data()
    H = exact_hessian(model, F.cross_entropy, x, y)
    op = hessian_operator(model, F.cross_entropy, (x, y))
    v = torch.randn(H.shape[0], generator=torch.Generator().manual_seed(2), dtype=DT)
    assert torch.allclose(op.apply(v), H @ v, rtol=0, atol=1e-12)
    assert np.allclose(op @ v.numpy(), (H @ v).numpy(), rtol=0, atol=1e-12)
    vd = op.space.unflatten(v)
    hv = hessian_vector_product(model, F.cross_entropy, (x, y), vd)
    assert torch.allclose(op.space.flatten(hv), H @ v, rtol=0, atol=1e-12)
    assert hv["0.weight"].shape == (4, 3)


def test_several_batches_give_the_same_operator_as_one_concatenated_batch():
    model, (x, y) = tiny(), data()
    parts = [(x[:7], y[:7]), (x[7:9], y[7:9]), (x[9:], y[9:])]
    vs = torch.randn(26, 3, generator=torch.Generator().manual_seed(0), dtype=DT)
    for make in (hessian_operator, ggn_operator):
        one, many = make(model, F.cross_entropy, (x, y)), make(model, F.cross_entropy, parts)
        assert np.allclose(one @ vs.numpy(), many @ vs.numpy(), rtol=0, atol=1e-13)
    t1 = hessian_trace(model, F.cross_entropy, (x, y), n_probes=12, generator=torch.Generator().manual_seed(0))
    t2 = hessian_trace(model, F.cross_entropy, parts, n_probes=12, generator=torch.Generator().manual_seed(0))
    assert t1.estimate == pytest.approx(t2.estimate, abs=1e-12)
    e1 = hessian_eigenvalues(model, F.cross_entropy, (x, y), k=2, generator=torch.Generator().manual_seed(0))
    e2 = hessian_eigenvalues(model, F.cross_entropy, parts, k=2, generator=torch.Generator().manual_seed(0))
    assert np.allclose(e1.values, e2.values, rtol=1e-9)


def test_parameter_selection_gives_the_diagonal_block():
    model, (x, y) = tiny(), data()
    names = [n for n, _ in model.named_parameters()]
    H = exact_hessian(model, F.cross_entropy, x, y)
    sizes = [p.numel() for p in model.parameters()]
    offsets = np.cumsum([0] + sizes)
    block = {n: slice(int(offsets[i]), int(offsets[i + 1])) for i, n in enumerate(names)}
    for selection, chosen in [
        ("2", ["2.weight", "2.bias"]),
        (["0.weight"], ["0.weight"]),
        (lambda n: n.endswith("bias"), ["0.bias", "2.bias"]),
    ]:
        idx = np.concatenate([np.arange(block[n].start, block[n].stop) for n in chosen])
        sub = hessian_operator(model, F.cross_entropy, (x, y), params=selection)
        assert list(sub.space.names) == chosen
        assert torch.allclose(sub.to_dense(), H[np.ix_(idx, idx)], rtol=0, atol=1e-13)


@pytest.mark.parametrize("which", ["largest", "smallest", "both"])
def test_eigenvalues_match_the_exact_spectrum(which):
    model, (x, y) = tiny(), data()
    H = exact_hessian(model, F.cross_entropy, x, y)
    exact, evecs = torch.linalg.eigh(H)
    res = hessian_eigenvalues(
        model,
        F.cross_entropy,
        (x, y),
        k=3,
        which=which,
        tol=1e-12,
        generator=torch.Generator().manual_seed(0),
    )
    idx = {"largest": [-1, -2, -3], "smallest": [0, 1, 2], "both": [-1, -2, -3, 2, 1, 0]}[which]
    assert exact[0] < -1e-3 < 1e-3 < exact[-1]  # an indefinite Hessian, so "smallest" means most negative
    assert res.converged and res.which == which
    assert np.allclose(res.values, exact[idx].numpy(), rtol=1e-6, atol=0)
    assert np.all(res.residuals < 1e-8)
    assert torch.allclose(res.vectors.norm(dim=1), torch.ones(len(idx), dtype=DT))
    overlaps = (res.vectors @ evecs[:, idx]).diagonal().abs()
    assert torch.allclose(overlaps, torch.ones(len(idx), dtype=DT), atol=1e-8)  # eigenvalues are simple here
    assert res.vector(0)["2.weight"].shape == (2, 4)


def test_dense_fallback_and_k_limits():
    model, (x, y) = tiny(), data()
    exact = torch.linalg.eigvalsh(exact_hessian(model, F.cross_entropy, x, y)).numpy()
    res = hessian_eigenvalues(model, F.cross_entropy, (x, y), k=25)  # k = P - 1: ARPACK cannot, eigh does
    assert np.allclose(res.values, exact[::-1][:25], atol=1e-12) and res.n_hvps == 26 + 25
    with pytest.raises(UserError, match="only 26"):
        hessian_eigenvalues(model, F.cross_entropy, (x, y), k=14, which="both")


def test_layerwise_spectra_are_the_blocks_spectra():
    model, (x, y) = tiny(), data()
    H = exact_hessian(model, F.cross_entropy, x, y)
    res = hessian_eigenvalues(
        model,
        F.cross_entropy,
        (x, y),
        k=3,
        layerwise=True,
        tol=1e-12,
        generator=torch.Generator().manual_seed(0),
    )
    assert list(res) == ["0", "2"]
    for module, lo, hi in [("0", 0, 16), ("2", 16, 26)]:
        exact = torch.linalg.eigvalsh(H[lo:hi, lo:hi]).numpy()[::-1][:3]
        assert np.allclose(res[module].values, exact, rtol=1e-6)
        assert res[module].space.names == (f"{module}.weight", f"{module}.bias")


def test_warm_start_needs_fewer_products_after_a_training_step():
    g = torch.Generator().manual_seed(3)
    model = init_(
        nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)).to(DT),
        4,
        scale=0.5,
    )
    x, y = torch.randn(48, 6, generator=g, dtype=DT), torch.randint(0, 3, (48,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)

    def gd(steps):
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

    gd(30)
    tight = dict(k=1, tol=1e-6)
    before = hessian_eigenvalues(model, F.cross_entropy, (x, y), **tight, generator=torch.Generator().manual_seed(5))
    gd(1)
    cold = hessian_eigenvalues(model, F.cross_entropy, (x, y), **tight, generator=torch.Generator().manual_seed(6))
    warm = hessian_eigenvalues(model, F.cross_entropy, (x, y), **tight, warm_start=before)
    assert cold.converged and warm.converged
    assert warm.values[0] == pytest.approx(cold.values[0], rel=1e-6)
    assert warm.values[0] != pytest.approx(before.values[0], rel=1e-4)  # the step did move the sharpness
    # both stop at the first product where the pair has converged (7 against 10 products here)
    assert warm.n_hvps < cold.n_hvps, (warm.n_hvps, cold.n_hvps)


def test_a_tiny_budget_reports_non_convergence():
    model, (x, y) = tiny(), data()
    with pytest.warns(RuntimeWarning, match="did not converge"):
        res = hessian_eigenvalues(
            model,
            F.cross_entropy,
            (x, y),
            k=5,
            tol=0,
            ncv=6,
            max_hvps=3,
            generator=torch.Generator().manual_seed(0),
        )
    assert not res.converged and len(res.values) < 5


def jacobian_and_output_hessian(model, loss_fn, x, y):
    names = [n for n, _ in model.named_parameters()]
    f, flat0 = flat_fn(model, names, lambda st: functional_call(model, st, (x,)))
    J = torch.autograd.functional.jacobian(f, flat0).reshape(-1, flat0.numel())  # (N*O, P)
    out = model(x).detach()
    H_out = torch.autograd.functional.hessian(lambda o: loss_fn(o, y), out).reshape(out.numel(), out.numel())
    return J, H_out


def half_sse(out, target):
    return 0.5 * ((out - target) ** 2).sum(dim=1).mean()


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_ggn_equals_jt_hout_j_from_explicit_jacobians(loss):
    model, (x, labels) = tiny(), data()
    y, loss_fn = (labels, F.cross_entropy) if loss == "cross_entropy" else (torch.sin(x[:, :2]), F.mse_loss)
    J, H_out = jacobian_and_output_hessian(model, loss_fn, x, y)
    G = ggn_operator(model, loss_fn, (x, y)).to_dense()
    assert torch.allclose(G, J.T @ H_out @ J, rtol=0, atol=1e-13)
    assert torch.linalg.eigvalsh(G).min() > -1e-12  # PSD: both losses are convex in the outputs


def test_ggn_nonzero_spectrum_is_the_entk_over_n_under_mse():
    model, (x, _) = tiny(), data(n=8)
    y = torch.cos(x[:, :2])
    J, _ = jacobian_and_output_hessian(model, half_sse, x, y)
    ntk = J @ J.T  # the empirical NTK, (N*O) x (N*O) = 16 x 16, rank <= 16 < P = 26
    top = torch.linalg.eigvalsh(ntk).numpy()[::-1][:4] / len(x)
    res = hessian_eigenvalues(
        model, half_sse, (x, y), k=4, curvature="ggn", tol=1e-12, generator=torch.Generator().manual_seed(0)
    )
    assert np.allclose(res.values, top, rtol=1e-6)


def test_hessian_and_ggn_agree_for_a_linear_model_under_mse():
    model = init_(nn.Linear(3, 2).to(DT), 0)
    x, _ = data()
    y = x[:, :2] ** 2
    H = hessian_operator(model, F.mse_loss, (x, y)).to_dense()
    assert torch.allclose(H, ggn_operator(model, F.mse_loss, (x, y)).to_dense(), atol=1e-13)
    assert torch.allclose(H, exact_hessian(model, F.mse_loss, x, y), atol=1e-13)


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
def test_trace_is_within_three_stderr_of_the_exact_trace(method):
    model, (x, y) = tiny(), data()
    exact = float(torch.trace(exact_hessian(model, F.cross_entropy, x, y)))
    tr, se = hessian_trace(
        model, F.cross_entropy, (x, y), method=method, n_probes=30, generator=torch.Generator().manual_seed(7)
    )
    assert se > 0 and abs(tr - exact) < 3 * se


def test_hutchpp_is_exact_when_the_sketch_spans_all_parameters():
    model, (x, y) = tiny(), data()
    H = exact_hessian(model, F.cross_entropy, x, y)
    exact = float(torch.trace(H[16:, 16:]))  # the last layer's block: 10 parameters, sketched by 10 probes
    tr, se = hessian_trace(
        model, F.cross_entropy, (x, y), n_probes=30, params="2", generator=torch.Generator().manual_seed(0)
    )
    assert tr == pytest.approx(exact, abs=1e-12) and se == 0.0


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
def test_trace_stderr_is_honest_over_many_seeds(method):
    # The exact Hessian of the tiny net, seen through products, estimated with 500 independent seeds.
    model, (x, y) = tiny(), data()
    H = exact_hessian(model, F.cross_entropy, x, y)
    exact = float(torch.trace(H))
    fn = est.hutchinson if method == "hutchinson" else est.hutchpp
    g = torch.Generator().manual_seed(11)
    runs = np.asarray([fn(lambda v: H @ v, 26, 12, g, DT, "cpu") for _ in range(500)])
    err, var_hat = runs[:, 0] - exact, runs[:, 1] ** 2
    # Unbiased estimate and stderr^2 unbiased for the estimator's variance. With 500 seeds the empirical
    # variance has a relative sd of ~7% and mean stderr^2 ~3%, so +-25%/-33% is about 4 sd; an estimator
    # whose stderr used the wrong probe count (e.g. all 12 for Hutch++'s 4 deflated probes) would fail.
    assert abs(err.mean()) < 4 * err.std() / math.sqrt(len(err))
    assert 0.75 < err.var() / var_hat.mean() < 1.33
    if method == "hutchinson":  # the closed form for Rademacher probes: 2(||H||_F^2 - sum_i H_ii^2) / m
        closed = 2 * float((H**2).sum() - (H.diagonal() ** 2).sum()) / 12
        assert 0.9 < var_hat.mean() / closed < 1.1


def test_lanczos_quadrature_reproduces_the_moments_of_its_start_vector():
    model, (x, y) = tiny(), data()
    H = exact_hessian(model, F.cross_entropy, x, y)
    v = torch.randn(26, generator=torch.Generator().manual_seed(0), dtype=DT)
    v = v / v.norm()
    for steps in (3, 6):
        nodes, weights = est.gauss_quadrature(*est.lanczos(lambda u: H @ u, v, steps))
        assert weights.sum() == pytest.approx(1, abs=1e-12) and np.all(weights > 0)
        for p in range(2 * steps):  # Gauss quadrature is exact for degree < 2m
            exact = float(v @ torch.linalg.matrix_power(H, p) @ v)
            assert np.sum(weights * nodes**p) == pytest.approx(exact, rel=1e-9, abs=1e-14)
    nodes, weights = est.gauss_quadrature(*est.lanczos(lambda u: H @ u, v, 26))
    exact = torch.linalg.eigvalsh(H).numpy()
    assert all(np.min(np.abs(exact - t)) < 1e-9 for t in nodes[weights > 1e-12])  # full run: exact eigenvalues


def test_density_moments_estimate_the_normalized_traces():
    model, (x, y) = tiny(), data()
    H = exact_hessian(model, F.cross_entropy, x, y)
    dens = hessian_density(
        model,
        F.cross_entropy,
        (x, y),
        n_probes=40,
        lanczos_steps=3,
        generator=torch.Generator().manual_seed(1),
    )
    assert dens.n_hvps == 120 and dens.dim == 26
    for p, exact in [(1, torch.trace(H) / 26), (2, torch.trace(H @ H) / 26)]:
        mean, se = dens.moment(p)
        assert abs(mean - float(exact)) < 3 * se
    assert all(w.sum() == pytest.approx(1, abs=1e-12) for w in dens.weights)
    assert np.trapezoid(dens.density, dens.grid) == pytest.approx(1, abs=1e-3)
    lo, hi = dens.band
    assert np.all(lo <= dens.density) and np.all(dens.density <= hi)


def test_batchnorm_in_training_mode_is_supported_and_the_model_is_untouched():
    model = init_(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2)).to(DT), 0)
    x, y = data()
    before = copy.deepcopy(model.state_dict())
    H = exact_hessian(copy.deepcopy(model), F.cross_entropy, x, y)  # train mode: batch statistics
    assert torch.allclose(hessian_operator(model, F.cross_entropy, (x, y)).to_dense(), H, atol=1e-12)
    J, H_out = jacobian_and_output_hessian(copy.deepcopy(model), F.cross_entropy, x, y)
    assert torch.allclose(ggn_operator(model, F.cross_entropy, (x, y)).to_dense(), J.T @ H_out @ J, atol=1e-12)
    hessian_eigenvalues(model, F.cross_entropy, (x, y), k=2, curvature="ggn")
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_bad_inputs_raise_user_errors():
    model, (x, y) = tiny(), data()
    cases = [
        dict(which="top"),
        dict(k=0),
        dict(params=["nope.weight"]),
        dict(params="fc9"),
        dict(curvature="fisher"),
        dict(ncv=2, k=3),
        dict(max_hvps=0),
    ]
    for kwargs in cases:
        with pytest.raises(UserError):
            hessian_eigenvalues(model, F.cross_entropy, (x, y), **kwargs)
    for bad in [x, [], [(x, y), "batch"], (y.double(),)]:
        with pytest.raises(UserError, match="batch"):
            hessian_eigenvalues(model, F.cross_entropy, bad)
    with pytest.raises(UserError, match="scalar"):
        hessian_trace(model, lambda o, t: F.cross_entropy(o, t, reduction="none"), (x, y))
    with pytest.raises(UserError, match="method"):
        hessian_trace(model, F.cross_entropy, (x, y), method="xtrace")
    with pytest.raises(UserError, match="n_probes"):
        hessian_trace(model, F.cross_entropy, (x, y), n_probes=3)
    with pytest.raises(UserError, match="dropout"):
        hessian_trace(nn.Sequential(model, nn.Dropout(0.1)), F.cross_entropy, (x, y))
    sub = hessian_eigenvalues(model, F.cross_entropy, (x, y), k=1, params="2")
    with pytest.raises(UserError, match="different parameters"):
        hessian_eigenvalues(model, F.cross_entropy, (x, y), k=1, warm_start=sub)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        hessian_eigenvalues(model, F.cross_entropy, (x, y), k=1, params="2", warm_start=sub)


def bn_net(seed=0):
    return init_(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2)).to(DT), seed)


@pytest.mark.parametrize("cache_graph", [True, False])
@pytest.mark.parametrize("make, mode", [(tiny, "train"), (bn_net, "eval"), (bn_net, "train")])
def test_both_product_paths_equal_the_exact_hessian(cache_graph, make, mode):
    """The cached double-backward path and forward-over-reverse agree with autograd's Hessian, BatchNorm
    included in both modes (eval-mode BatchNorm used to crash forward-over-reverse), over two batches."""
    model, (x, y) = make(), data()
    model.train(mode == "train")
    parts = [(x[:12], y[:12]), (x[12:], y[12:])]
    if mode == "train":  # train-mode BN normalizes per batch: the exact Hessian is the batch-weighted mean
        H = sum(len(xb) * exact_hessian(model, F.cross_entropy, xb, yb) for xb, yb in parts) / len(x)
    else:
        H = exact_hessian(model, F.cross_entropy, x, y)
    before = copy.deepcopy(model.state_dict())
    op = CurvatureOperator(model, F.cross_entropy, parts, cache_graph=cache_graph)
    for seed in (3, 4):  # a second product reuses the cached graph
        v = torch.randn(H.shape[0], generator=torch.Generator().manual_seed(seed), dtype=DT)
        assert torch.allclose(op.apply(v), H @ v, rtol=0, atol=1e-10)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the model is untouched


def exact_gradient(model, loss_fn, x, y):
    names = [n for n, _ in model.named_parameters()]
    f, flat0 = flat_fn(model, names, lambda st: loss_fn(functional_call(model, st, (x,)), y))
    return torch.autograd.functional.jacobian(f, flat0)


@pytest.mark.parametrize("cache_graph", [True, False])
@pytest.mark.parametrize("make, mode", [(tiny, "train"), (bn_net, "train")])
def test_operator_gradient_is_the_loss_gradient(cache_graph, make, mode):
    """``CurvatureOperator.gradient`` (the default Lanczos start's ingredient) against autograd's gradient of the
    flat loss, on both product paths and over two batches (example-weighted), without touching the model."""
    model, (x, y) = make(), data()
    parts = [(x[:12], y[:12]), (x[12:], y[12:])]
    exact = sum(len(xb) * exact_gradient(model, F.cross_entropy, xb, yb) for xb, yb in parts) / len(x)
    before = copy.deepcopy(model.state_dict())
    op = CurvatureOperator(model, F.cross_entropy, parts, cache_graph=cache_graph)
    assert torch.allclose(op.gradient(), exact, rtol=0, atol=1e-13)
    assert op.n_products == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_default_start_is_the_gradient_plus_noise_for_the_top_pairs_only():
    """The default start vector is the unit gradient plus a Gaussian of norm 0.3 from ``generator`` (for
    which="largest"), a plain Gaussian with start="random" and for the other ends: each call equals the same
    solve from that explicit v0, product for product, and all of them find the exact top pairs."""
    from phenomena.probes.hessian import GRADIENT_START_NOISE

    model, (x, y) = tiny(), data()
    exact = torch.linalg.eigvalsh(exact_hessian(model, F.cross_entropy, x, y))
    g = exact_gradient(model, F.cross_entropy, x, y)
    noise = torch.randn(g.numel(), generator=torch.Generator().manual_seed(5), dtype=DT)
    starts = {
        ("largest", "gradient"): g / g.norm() + GRADIENT_START_NOISE * noise / noise.norm(),
        ("largest", "random"): noise,
        ("smallest", "gradient"): noise,
        ("both", "gradient"): noise,
    }
    for (which, start), v0 in starts.items():
        kw = dict(k=2, which=which, tol=1e-10)
        res = hessian_eigenvalues(
            model, F.cross_entropy, (x, y), generator=torch.Generator().manual_seed(5), start=start, **kw
        )
        ref = hessian_eigenvalues(model, F.cross_entropy, (x, y), v0=v0, **kw)
        assert np.allclose(res.values, ref.values, rtol=1e-12, atol=0) and res.n_hvps == ref.n_hvps
        idx = {"largest": [-1, -2], "smallest": [0, 1], "both": [-1, -2, 1, 0]}[which]
        assert np.allclose(res.values, exact[idx].numpy(), rtol=1e-8, atol=0)
    with pytest.raises(UserError, match="start"):
        hessian_eigenvalues(model, F.cross_entropy, (x, y), start="gradients")


def test_a_zero_gradient_falls_back_to_a_gaussian_start():
    """At an exact minimum (a linear model at zero weights with zero targets: the gradient is exactly zero) the
    unit gradient does not exist: the start is the Gaussian alone, and the top eigenvalues are still exact."""
    x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0), dtype=DT)
    y = torch.zeros(30, 1, dtype=DT)
    model = nn.Linear(4, 1, bias=False).to(DT)
    nn.init.zeros_(model.weight)
    op = hessian_operator(model, F.mse_loss, (x, y))
    assert float(op.gradient().norm()) == 0.0
    exact = torch.linalg.eigvalsh(2 * x.T @ x / len(x))  # mse_loss is the mean of squares over 30 outputs
    noise = torch.randn(4, generator=torch.Generator().manual_seed(1), dtype=DT)
    kw = dict(k=2, tol=1e-12)
    res = hessian_eigenvalues(model, F.mse_loss, (x, y), generator=torch.Generator().manual_seed(1), **kw)
    ref = hessian_eigenvalues(model, F.mse_loss, (x, y), v0=noise, **kw)
    assert np.array_equal(res.values, ref.values)
    assert np.allclose(res.values, exact[[-1, -2]].numpy(), rtol=1e-10, atol=0)


class _WithDeadWeights(nn.Module):
    """tiny()'s network, an unused parameter (no gradient at all) and a gain the loss is linear in (its
    gradient is constant in the parameters: no graph)."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(3, 4).to(DT)
        self.unused = nn.Parameter(torch.ones(5, dtype=DT))
        self.gain = nn.Parameter(torch.ones(1, dtype=DT))
        self.last = nn.Linear(4, 2).to(DT)

    def forward(self, x):
        return self.last(torch.tanh(self.first(x))), self.gain[0] * x.sum()


def test_parameters_without_a_gradient_graph_have_zero_hessian_rows_on_the_cached_path():
    model = init_(_WithDeadWeights(), 0)
    x, y = data()

    def loss(out, target):
        logits, linear = out
        return F.cross_entropy(logits, target) + linear / len(target)

    exact = exact_hessian(model, loss, x, y)
    op = CurvatureOperator(model, loss, (x, y), cache_graph=True)
    dense = op.to_dense()
    assert torch.allclose(dense, exact, rtol=0, atol=1e-12)
    (graph,) = op._cached_graphs()
    assert len(graph.live) == len(graph.leaves) - 2  # the two dead ones are left out of the double backward
    dead = [i for i, n in enumerate(op.space.names) if n in ("unused", "gain")]
    assert dead == [0, 1] and dense[-1].abs().sum() > 0  # the live ones sit after them in the flat vector
    starts = np.cumsum([0, *op.space.numels])
    for i in dead:
        assert dense[starts[i] : starts[i + 1]].abs().max() == 0
    assert torch.allclose(CurvatureOperator(model, loss, (x, y), cache_graph=False).to_dense(), exact, atol=1e-12)


def test_a_non_finite_product_is_a_clear_error_not_an_eigenvalue():
    """A model whose loss is not finite (a NaN weight) has no Hessian: Lanczos stops at its first product, and the
    dense solve of a tiny model before its eigensolver, with an error that says so (instead of nan eigenvalues or
    SciPy's complaint about its input)."""
    model = tiny()
    with torch.no_grad():
        model[0].weight[0, 0] = math.nan
    x, y = data()
    n = sum(p.numel() for p in model.parameters())
    for k in (1, 3, n - 1):  # k = P - 1 takes the dense path
        with pytest.raises(UserError, match="not finite"):
            hessian_eigenvalues(model, F.cross_entropy, (x, y), k=k, generator=torch.Generator().manual_seed(0))


def test_the_tridiagonal_solver_is_scipys():
    """Lanczos' Ritz pairs come from LAPACK's dstevd called directly: the same bits as
    ``scipy.linalg.eigh_tridiagonal`` (which calls it after checking its input), at every size Lanczos meets."""
    from scipy.linalg import eigh_tridiagonal

    from phenomena.probes.hessian import _eigh_tridiagonal

    rng = np.random.default_rng(0)
    for m in range(1, 25):
        d, e = rng.standard_normal(m), rng.random(m - 1)
        values, vectors = _eigh_tridiagonal(d, e)
        ref_values, ref_vectors = eigh_tridiagonal(d, e)
        assert np.array_equal(values, ref_values) and np.array_equal(vectors, ref_vectors)
