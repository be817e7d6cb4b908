"""Oracle tests for the neural-collapse metrics (Papyan, Han & Donoho 2020 conventions)."""

import math

import numpy as np
import pytest
import torch

from phenomena.errors import UserError
from phenomena.probes.collapse import CollapseAccumulator, neural_collapse, neural_collapse_from_batches


def numpy_reference(h, y, w, b, num_classes):
    """The module docstring's definitions, written out with loops in NumPy."""
    h, y = np.asarray(h, dtype=np.float64), np.asarray(y)
    n, d = h.shape
    c = num_classes
    mu = np.stack([h[y == k].mean(0) for k in range(c)])
    mu_g = mu.mean(0)  # mean of class means (Papyan's reference code)
    mt = mu - mu_g
    sw = np.zeros((d, d))
    for i in range(n):
        v = h[i] - mu[y[i]]
        sw += np.outer(v, v)
    sw /= n
    sb = sum(np.outer(m, m) for m in mt) / c
    evals, evecs = np.linalg.eigh(sb)
    top = np.argsort(evals)[::-1][: min(c - 1, d)]
    sb_pinv = evecs[:, top] @ np.diag(1.0 / evals[top]) @ evecs[:, top].T
    out = {"nc1": np.trace(sw @ sb_pinv) / c, "sw_trace": np.trace(sw), "sb_trace": np.trace(sb)}

    def norms_and_angles(rows, suffix):
        norms = np.linalg.norm(rows, axis=1)
        out["nc2_equinorm_" + suffix] = norms.std(ddof=1) / norms.mean()
        cos = [rows[i] @ rows[j] / (norms[i] * norms[j]) for i in range(c) for j in range(i + 1, c)]
        out["nc2_equiangular_" + suffix] = np.mean([abs(v + 1.0 / (c - 1)) for v in cos])
        out["nc2_angle_std_" + suffix] = np.std(cos)

    norms_and_angles(mt, "means")
    var = [np.mean([np.sum((h[i] - mu[k]) ** 2) for i in range(n) if y[i] == k]) for k in range(c)]
    out["cdnv"] = np.mean(
        [(var[i] + var[j]) / (2 * np.sum((mu[i] - mu[j]) ** 2)) for i in range(c) for j in range(i + 1, c)]
    )
    if w is not None:
        w, b = np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)
        norms_and_angles(w, "weights")
        out["nc3"] = np.sum((w / np.linalg.norm(w) - mt / np.linalg.norm(mt)) ** 2)
        mismatch = 0
        for i in range(n):
            clf = np.argmax(w @ h[i] + b)
            ncc = np.argmin([np.linalg.norm(h[i] - mu[k]) for k in range(c)])
            mismatch += clf != ncc
        out["nc4"] = mismatch / n
    return out


def clustered(counts, dim, gen, spread=0.5, offset=3.0):
    c = len(counts)
    means = torch.randn(c, dim, generator=gen, dtype=torch.float64) * 2 + offset
    y = torch.cat([torch.full((k,), i) for i, k in enumerate(counts)])
    y = y[torch.randperm(len(y), generator=gen)]
    h = means[y] + spread * torch.randn(len(y), dim, generator=gen, dtype=torch.float64)
    return h, y


def simplex_etf(c, dim, gen):
    """Rows: a centred simplex ETF of unit norm in R^dim, randomly rotated."""
    e = (torch.eye(c, dtype=torch.float64) - 1.0 / c) * math.sqrt(c / (c - 1))
    q, _ = torch.linalg.qr(torch.randn(dim, c, generator=gen, dtype=torch.float64))
    return e @ q.T


def assert_close_dict(got, want, rtol=1e-10, atol=1e-12):
    assert set(got) == set(want)
    for k in want:
        assert got[k] == pytest.approx(float(want[k]), rel=rtol, abs=atol), k


@pytest.mark.parametrize("counts", [(6, 6, 6, 6, 6), (2, 9, 4, 13, 3)])
def test_collapsed_simplex_etf_scores_zero(counts):
    gen = torch.Generator().manual_seed(0)
    c, dim = len(counts), 8
    m = 4.0 * simplex_etf(c, dim, gen)
    mu_g = torch.randn(dim, generator=gen, dtype=torch.float64) * 5
    y = torch.cat([torch.full((k,), i) for i, k in enumerate(counts)])
    h = mu_g + m[y]
    w = 2.5 * m
    b = -(w @ mu_g)
    out = neural_collapse(h, y, w, b)
    for key in [
        "nc1",
        "nc2_equinorm_means",
        "nc2_equiangular_means",
        "nc2_angle_std_means",
        "nc2_equinorm_weights",
        "nc2_equiangular_weights",
        "nc2_angle_std_weights",
        "nc3",
        "cdnv",
        "sw_trace",
    ]:
        assert abs(out[key]) <= 1e-10, (key, out[key])
    assert out["nc4"] == 0.0
    assert out["sb_trace"] == pytest.approx(16.0, rel=1e-12)  # unit-norm rows scaled by 4


def test_random_features_score_large():
    gen = torch.Generator().manual_seed(1)
    n, dim, c = 400, 10, 4
    h = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    y = torch.arange(n) % c
    w = torch.randn(c, dim, generator=gen, dtype=torch.float64)
    out = neural_collapse(h, y, w)
    # Class means are sample noise (‖μ_c − μ_G‖² ≈ d/100), so Σ_B is tiny against Σ_W ≈ I.
    assert out["nc1"] > 5
    assert out["cdnv"] > 5
    assert out["nc3"] > 0.5
    assert out["nc4"] > 0.3
    assert out["nc2_equiangular_weights"] > 0.1


def test_hand_computed_case():
    # Class means (0,0), (3,0), (0,3); each class has two points at μ_c ± (1,0) or ± (0,1).
    h = torch.tensor([[-1, 0], [1, 0], [3, 1], [3, -1], [-1, 3], [1, 3]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    out = neural_collapse(h, y, w)
    # μ_G = (1,1), M̃ = (-1,-1), (2,-1), (-1,2); Σ_B = [[2,-1],[-1,2]], Σ_W = diag(2/3, 1/3):
    # Tr(Σ_W Σ_B⁻¹) = (2/3)(2/3) + (1/3)(2/3) = 2/3, NC1 = 2/9.
    assert out["nc1"] == pytest.approx(2 / 9, rel=1e-12)
    assert out["sw_trace"] == pytest.approx(1.0, rel=1e-12)
    assert out["sb_trace"] == pytest.approx(4.0, rel=1e-12)
    # σ_c² = 1; ‖μ_i − μ_j‖² = 9, 9, 18: CDNV = (1/9 + 1/9 + 1/18)/3 = 5/54.
    assert out["cdnv"] == pytest.approx(5 / 54, rel=1e-12)
    norms = [math.sqrt(2), math.sqrt(5), math.sqrt(5)]
    mean = sum(norms) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in norms) / 2)
    assert out["nc2_equinorm_means"] == pytest.approx(std / mean, rel=1e-12)
    cos = [-1 / math.sqrt(10), -1 / math.sqrt(10), -0.8]
    assert out["nc2_equiangular_means"] == pytest.approx(sum(abs(v + 0.5) for v in cos) / 3, rel=1e-12)
    assert out["nc2_angle_std_means"] == pytest.approx(float(np.std(cos)), rel=1e-12)
    wn = [1.0, 1.0, math.sqrt(2)]
    wmean = sum(wn) / 3
    assert out["nc2_equinorm_weights"] == pytest.approx(
        math.sqrt(sum((v - wmean) ** 2 for v in wn) / 2) / wmean, rel=1e-12
    )
    wcos = [0.0, -1 / math.sqrt(2), -1 / math.sqrt(2)]
    assert out["nc2_equiangular_weights"] == pytest.approx(sum(abs(v + 0.5) for v in wcos) / 3, rel=1e-12)
    # ‖W‖_F = 2, ‖M̃‖_F = √12.
    mt = [(-1, -1), (2, -1), (-1, 2)]
    wl = [(1, 0), (0, 1), (-1, -1)]
    nc3 = sum(
        (a / 2 - m / math.sqrt(12)) ** 2 for wr, mr in zip(wl, mt, strict=True) for a, m in zip(wr, mr, strict=True)
    )
    assert out["nc3"] == pytest.approx(nc3, rel=1e-12)
    # Classifier predictions 2,0,0,0,1,1 against nearest centres 0,0,1,1,2,2: 5 of 6 differ.
    assert out["nc4"] == pytest.approx(5 / 6)


@pytest.mark.parametrize("counts,dim", [((3, 10, 25, 7), 6), ((5, 2, 8, 4, 6), 2)])
def test_matches_numpy_definition_on_imbalanced_classes(counts, dim):
    # dim=2 < C-1=4 exercises the rank-min(C-1, d) pseudo-inverse.
    gen = torch.Generator().manual_seed(2)
    h, y = clustered(counts, dim, gen)
    c = len(counts)
    w = torch.randn(c, dim, generator=gen, dtype=torch.float64)
    b = torch.randn(c, generator=gen, dtype=torch.float64)
    assert_close_dict(neural_collapse(h, y, w, b), numpy_reference(h.numpy(), y.numpy(), w, b, c))
    want = {k: v for k, v in numpy_reference(h.numpy(), y.numpy(), None, None, c).items()}
    assert_close_dict(neural_collapse(h.float(), y), want, rtol=1e-5, atol=1e-7)  # float32 input accepted


def test_streaming_equals_in_memory():
    gen = torch.Generator().manual_seed(3)
    h, y = clustered((40, 13, 27, 9), 7, gen, offset=50.0)
    w = torch.randn(4, 7, generator=gen, dtype=torch.float64)
    b = torch.randn(4, generator=gen, dtype=torch.float64)
    full = neural_collapse(h, y, w, b)
    sizes = [1, 5, 17, 3, 30, 2, 11, 20]  # small batches miss classes; the first holds one example
    batches = list(zip(torch.split(h, sizes), torch.split(y, sizes), strict=True))
    acc = CollapseAccumulator()
    for hb, yb in batches:
        acc.update(hb, yb)
    for hb, _ in batches:
        acc.update_agreement(hb, w, b)
    streamed = acc.compute(w, b)
    assert_close_dict(streamed, full, rtol=1e-11, atol=1e-13)
    assert streamed["nc4"] == full["nc4"]
    assert_close_dict(neural_collapse_from_batches(batches, w, b), full, rtol=1e-11, atol=1e-13)
    assert_close_dict(neural_collapse_from_batches(lambda: iter(batches), w, b), full, rtol=1e-11, atol=1e-13)
    no_w = neural_collapse_from_batches(iter(batches))  # one pass suffices without a classifier
    assert "nc4" not in no_w and no_w["nc1"] == pytest.approx(full["nc1"], rel=1e-11)


def test_streaming_is_stable_under_large_offsets():
    # Offset 1e4, within-class spread 1e-3: raw second moments Σ h hᵀ − n μ μᵀ would lose ~14 of 16 digits
    # (relative error ~ eps·(1e4/1e-3)² ≈ 1e-2); the pairwise merge loses only ~eps·1e7 ≈ 1e-9.
    gen = torch.Generator().manual_seed(4)
    hc, y = clustered((30, 30, 30), 5, gen, spread=1e-3, offset=0.0)
    h = hc + 1e4
    acc = CollapseAccumulator()
    for hb, yb in zip(torch.split(h, 7), torch.split(y, 7), strict=True):
        acc.update(hb, yb)
    want = numpy_reference((h - 1e4).numpy(), y.numpy(), None, None, 3)  # h − 1e4 is exact (Sterbenz)
    assert_close_dict(acc.compute(), want, rtol=1e-6, atol=0)


def test_undefined_metrics_are_nan_with_warning():
    h = torch.ones(6, 3, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    with pytest.warns(RuntimeWarning, match="nc1"):
        out = neural_collapse(h, y)
    assert math.isnan(out["nc1"]) and math.isnan(out["cdnv"])


def test_bad_inputs_raise_user_error():
    h = torch.randn(6, 3)
    y = torch.tensor([0, 0, 1, 1, 3, 3])
    with pytest.raises(UserError, match=r"classes \[2\]"):
        neural_collapse(h, y)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    with pytest.raises(UserError, match="classifier_weight has shape"):
        neural_collapse(h, y, torch.randn(3, 4))
    with pytest.raises(UserError, match="labels must have shape"):
        neural_collapse(h, y[:5])
    with pytest.raises(UserError, match="integer"):
        neural_collapse(h, y.double() + 0.5)
    with pytest.raises(UserError, match=r"shape \(N, d\)"):
        neural_collapse(torch.randn(6), y)
    with pytest.raises(UserError, match="NaN"):
        neural_collapse(h.clone().index_fill_(0, torch.tensor([3]), float("inf")), y)
    with pytest.raises(UserError, match="NaN"):
        neural_collapse(h, y, torch.full((3, 3), float("nan")))
    with pytest.raises(UserError, match="out of range"):
        neural_collapse(h, y, num_classes=2)
    with pytest.raises(UserError, match="one-shot"):
        neural_collapse_from_batches(iter([(h, y)]), torch.randn(3, 3))
    acc = CollapseAccumulator()
    acc.update(h, y)
    acc.update_agreement(h, torch.randn(3, 3))
    with pytest.raises(UserError, match="pass 1"):
        acc.update(h, y)
    acc.update_agreement(h[:2], torch.randn(3, 3))
    with pytest.raises(UserError, match="same data"):
        acc.compute(torch.randn(3, 3))


def test_in_memory_row_chunking(monkeypatch):
    from phenomena.probes import collapse

    gen = torch.Generator().manual_seed(5)
    h, y = clustered((9, 14, 6), 4, gen)
    w = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    want = numpy_reference(h.numpy(), y.numpy(), w, np.zeros(3), 3)
    monkeypatch.setattr(collapse, "_CHUNK", 5)  # 29 rows in 6 chunks
    assert_close_dict(neural_collapse(h, y, w), want)
