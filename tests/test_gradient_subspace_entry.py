"""Gradient subspace entry: the measurement it makes (top-k share and eigen-gap from Lanczos) against a dense exact
Hessian, the late-phase statistics, the smoke pipeline, the random-subspace control failing its checks on measured
values, and (slow) quick on a held-out seed."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from phenomena.catalog.gradient_subspace import ENTRY, Config, Probe, _summarize, subspace_dim
from phenomena.config import apply_overrides
from phenomena.models.mlp import MLP
from phenomena.probes.gradient_subspace import gradient_subspace_overlap, subspace_overlap
from phenomena.probes.hessian import hessian_eigenvalues
from phenomena.result import Result


def _dense_hessian_and_gradient(model, x, y):
    """The exact Hessian and gradient of the mean cross-entropy by double autograd over the flat parameters."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()

    def loss(flat):
        params, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            params[n] = flat[i : i + s.numel()].reshape(s)
            i += s.numel()
        return F.cross_entropy(functional_call(model.double(), params, (x.double(),)), y)

    h = torch.autograd.functional.hessian(loss, flat0)
    g = torch.autograd.functional.jacobian(loss, flat0)
    model.float()
    return h, g


def test_the_entrys_top_k_share_and_eigen_gap_match_a_dense_hessian():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, 5, generator=gen), torch.randint(0, 3, (60,), generator=gen)
    model = MLP(5, 3, width=6, depth=1, seed=1)
    k = 3
    eigen = hessian_eigenvalues(model, F.cross_entropy, (x, y), k=2 * k, tol=0, generator=gen)  # as run() does
    res = gradient_subspace_overlap(model, F.cross_entropy, (x, y), k=k, eigen=eigen)
    h, g = _dense_hessian_and_gradient(model, x, y)
    values, vectors = torch.linalg.eigh(h)
    values, vectors = values.flip(0), vectors.flip(1)
    top = vectors[:, :k]
    assert np.allclose(eigen.values, values[: 2 * k].numpy(), rtol=1e-6, atol=1e-9)
    assert res.fraction == pytest.approx(float((top.T @ g).pow(2).sum() / (g @ g)), rel=1e-6)
    assert subspace_overlap(res.basis, top.T) == pytest.approx(1, abs=1e-8)
    assert eigen.values[k - 1] / eigen.values[k] == pytest.approx(float(values[k - 1] / values[k]), rel=1e-6)


def test_late_phase_statistics_exclude_the_initial_phase_and_propagate_nan():
    steps = np.array([0, 10, 20, 30, 40])
    fractions = np.array([0.01, 0.02, 0.5, 0.7, 0.9])
    spectra = np.array([[4.0, 2.0, 1.0, 0.9]] * 5)
    edges = spectra[:, 1] / spectra[:, 2]
    e = torch.eye(4, dtype=torch.float64)
    bases = [e[:2], e[:2], e[[0, 2]], e[:2], e[:2]]
    s = _summarize(steps, fractions, edges, bases, spectra, k=2, total=40, settle=0.5)
    assert s["fraction_late"] == pytest.approx(0.7) and s["fraction_late_min"] == pytest.approx(0.5)
    assert s["settle_step"] == 20 and s["overlap_settle_end"] == pytest.approx(0.5)  # one of two directions shared
    assert s["edge_ratio"] == pytest.approx(2.0) and s["bulk_ratio"] == pytest.approx(1 / 0.9)
    fractions[-1] = math.nan
    assert math.isnan(_summarize(steps, fractions, edges, bases, spectra, k=2, total=40, settle=0.5)["fraction_late"])


def test_k_defaults_to_the_number_of_classes():
    assert subspace_dim(Config()) == 10 and subspace_dim(Config(probe=Probe(k=4))) == 4


def _judged(fraction: float, overlap: float, subspace: str = "hessian") -> list[bool]:
    s = {f"subspace.{subspace}.fraction_late": fraction, f"subspace.{subspace}.overlap_settle_end": overlap}
    cfg = apply_overrides(Config(), {"probe.subspace": subspace})
    return [c.passed for c in ENTRY.verdict(Result("gradient-subspace", cfg, summary=s)).checks]


def test_unmeasured_values_fail_the_verdict():
    assert _judged(math.nan, math.inf) == [False, False]
    assert _judged(0.6, 0.8) == [True, True]


def test_the_verdict_reads_the_configured_subspace():
    # both subspaces are in every summary; the config says which one is judged
    assert _judged(0.6, 0.8, "random") == [True, True]
    s = {"subspace.hessian.fraction_late": 0.6, "subspace.hessian.overlap_settle_end": 0.8}
    s |= {"subspace.random.fraction_late": 0.001, "subspace.random.overlap_settle_end": 0.001}
    cfg = apply_overrides(Config(), {"probe.subspace": "random"})
    assert not any(c.passed for c in ENTRY.verdict(Result("gradient-subspace", cfg, summary=s)).checks)


def test_smoke_through_the_cli_measures_the_subspace(cli_json):
    res = cli_json("run", "gradient-subspace", "-p", "smoke")
    s = res["summary"]
    assert s["k"] == 10 and s["dim"] == 7434 and s["baseline"] == pytest.approx(10 / 7434)
    assert s["fraction_late"] > 50 * s["baseline"]  # far above a random subspace's share
    assert 0 < s["overlap_settle_end"] <= 1 and s["edge_ratio"] > 1 and s["bulk_ratio"] > 1
    assert len(res["verdict"]["checks"]) == 2
    with open(res["artifacts"]["figure"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_random_subspace_holds_about_k_over_p_and_fails_its_checks(cli_json):
    control = next(c for c in ENTRY.controls if c.name == "random subspace")
    res = cli_json("run", "gradient-subspace", "-p", "smoke", *[f"-s{k}={v}" for k, v in control.overrides.items()])
    checks = {c["name"]: c for c in res["verdict"]["checks"]}
    for prefix in control.must_fail:
        (check,) = [c for name, c in checks.items() if name.startswith(prefix)]
        assert isinstance(check["value"], float) and not check["passed"], check  # measured, and failing
    s = res["summary"]
    assert s["fraction_late"] < 10 * s["baseline"] and s["overlap_settle_end"] < 10 * s["baseline"]


@pytest.mark.slow
def test_quick_passes_on_a_held_out_seed(cli_json):
    res = cli_json("run", "gradient-subspace", "--seed", "1")
    assert res["verdict"]["passed"], res["verdict"]
